/**
 * The GPU tunings (conv2d's deep k slabs and split-K over up to 1024 workgroups; reductions and group norm's
 * weight and bias gradients split over up to 1024 workgroups) are chosen only on GPU adapters, which CI does
 * not have; this reruns the conv2d, reduction and group-norm suites with `LZN_TUNING=gpu` so that those
 * kernels are checked against float64 here too.
 */
import { strict as assert } from "node:assert";

Deno.test("conv2d, reduction and group-norm suites under the GPU tunings (LZN_TUNING=gpu) pass on this adapter", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "test",
      "--allow-read",
      "--allow-env",
      "tests/conv_test.ts",
      "tests/reduce_test.ts",
      "tests/norm_test.ts",
    ],
    env: { LZN_TUNING: "gpu" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  // deno-lint-ignore no-control-regex -- strips deno test's ANSI colour codes
  const text = new TextDecoder().decode(out.stdout).replace(/\x1b\[[0-9;]*m/g, "");
  const err = new TextDecoder().decode(out.stderr);
  assert.ok(
    out.success,
    `conv/reduce/norm suites failed under LZN_TUNING=gpu:\n${text.slice(-3000)}\n${err.slice(-2000)}`,
  );
  assert.match(text, /conv tuning: gpu/, "the child must have run the GPU tunings");
  assert.match(text, /groupNorm weight and bias gradients at \[128,32,28,28\] G=8 match float64 \.\.\. ok/);
  const summary = /ok \| (\d+) passed \| 0 failed/.exec(text);
  assert.ok(
    summary && Number(summary[1]) >= 10,
    `expected the whole conv, reduce and norm suites to pass: ${text.slice(-500)}`,
  );
});

Deno.test("latent suites under the GPU tunings (LZN_TUNING=gpu) pass on this adapter", async () => {
  // The latent kernels' GPU plans (deeper q-chunks, unrolled loops, 256-workgroup splits, a row per workgroup
  // in the fused alignment) differ from lavapipe's.
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "test",
      "--allow-read",
      "--allow-env",
      "tests/latent_velocity_test.ts",
      "tests/latent_flow_test.ts",
      "tests/latent_alignment_test.ts",
      "tests/latent_alignment_fused_test.ts",
    ],
    env: { LZN_TUNING: "gpu" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  // deno-lint-ignore no-control-regex -- strips deno test's ANSI colour codes
  const text = new TextDecoder().decode(out.stdout).replace(/\x1b\[[0-9;]*m/g, "");
  const err = new TextDecoder().decode(out.stderr);
  assert.ok(
    out.success,
    `latent suites failed under LZN_TUNING=gpu:\n${text.slice(-3000)}\n${err.slice(-2000)}`,
  );
  assert.match(text, /latent tuning: gpu/, "the child must have run the GPU tunings");
  const summary = /ok \| (\d+) passed \| 0 failed/.exec(text);
  assert.ok(
    summary && Number(summary[1]) >= 30,
    `expected the whole latent suites to pass: ${text.slice(-500)}`,
  );
});
