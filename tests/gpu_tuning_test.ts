/**
 * The GPU tunings (conv2d's deep k slabs and split-K over up to 1024 workgroups; reductions and group norm's
 * weight and bias gradients split over up to 1024 workgroups; the latent kernels' deeper q-chunks, unrolled
 * loops, 256-workgroup splits and a row per workgroup in the fused alignment) are chosen only on GPU adapters,
 * which CI does not have; this reruns those suites with `LZN_TUNING=gpu` so that the kernels are checked
 * against float64 here too.
 */
import { strict as assert } from "node:assert";

/**
 * Runs test files in a child with `LZN_TUNING=gpu` (and `env` on top); asserts it passed at least `least`
 * tests; its output.
 */
async function underGpuTuning(
  what: string,
  files: string[],
  least: number,
  env: Record<string, string> = {},
): Promise<string> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["test", "--allow-read", "--allow-env", ...files],
    env: { LZN_TUNING: "gpu", ...env },
    stdout: "piped",
    stderr: "piped",
  }).output();
  // deno-lint-ignore no-control-regex -- strips deno test's ANSI colour codes
  const text = new TextDecoder().decode(out.stdout).replace(/\x1b\[[0-9;]*m/g, "");
  const err = new TextDecoder().decode(out.stderr);
  assert.ok(
    out.success,
    `${what} suites failed under ${JSON.stringify({ LZN_TUNING: "gpu", ...env })}:\n${text.slice(-3000)}\n${
      err.slice(-2000)
    }`,
  );
  const summary = /ok \| (\d+) passed \| 0 failed/.exec(text);
  assert.ok(
    summary && Number(summary[1]) >= least,
    `expected the whole ${what} suites to pass: ${text.slice(-500)}`,
  );
  return text;
}

Deno.test("conv2d, reduction and group-norm suites under the GPU tunings (LZN_TUNING=gpu) pass on this adapter", async () => {
  const text = await underGpuTuning(
    "conv, reduce and norm",
    ["tests/conv_test.ts", "tests/reduce_test.ts", "tests/norm_test.ts"],
    10,
  );
  assert.match(text, /conv tuning: gpu/, "the child must have run the GPU tunings");
  assert.match(text, /groupNorm weight and bias gradients at \[128,32,28,28\] G=8 match float64 \.\.\. ok/);
});

Deno.test("latent suites under the GPU tunings (LZN_TUNING=gpu) pass on this adapter", async () => {
  const text = await underGpuTuning("latent", [
    "tests/latent_velocity_test.ts",
    "tests/latent_flow_test.ts",
    "tests/latent_alignment_test.ts",
    "tests/latent_alignment_fused_test.ts",
  ], 30);
  assert.match(text, /latent tuning: gpu/, "the child must have run the GPU tunings");
});

Deno.test("conv2d suite under a tile forced by LZN_CONV_TILE (bench/gpu_conv.ts's tile experiments) passes", async () => {
  // Twice the default's outputs per thread along c, half its threads; the CPU tuning's slab depth (8), so
  // lavapipe's compiles stay short (the GPU tunings' depth 16 took five minutes over three tiles).
  const text = await underGpuTuning("conv", ["tests/conv_test.ts"], 10, {
    LZN_TUNING: "cpu",
    LZN_CONV_TILE: "128x32x8x8x8",
  });
  const forced = JSON.stringify({ BM: 128, BN: 32, BK: 8, TM: 8, TN: 8 });
  assert.ok(
    text.includes(`conv tile for 32 columns: ${forced}`),
    "the child's GEMMs must have taken the forced tile",
  );
});
