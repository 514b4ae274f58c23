/**
 * Where the GPU time of the latent operations goes, kernel by kernel (issue 10: the measured limit behind each
 * missed speed target): one warm-up, then one run of each case under `profileKernels` (every dispatch timed
 * by timestamp queries in a pass of its own, so the sum is a little above the pipelined time).
 *
 *     deno run -A bench/latent_profile.ts out.json [--small]
 *
 * Cases: Euler `computeLatents` forward+backward at (n, q, r) = (2000, 200, 20) and (8192, 256, 20), and the
 * pair-case alignment loss forward+backward (b = N = 2000, q = 200, K = 20, log), the sizes of
 * `bench/gpu_latent.ts`. Prints each case's kernels, slowest first, and writes them as JSON.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { gpu, profileKernels, randn, scope, synchronize, type Tensor, tensor } from "../tensor/mod.ts";
import { alignmentLoss, computeLatents } from "../latent/mod.ts";

const { values, positionals } = parseArgs({
  args: Deno.args,
  allowPositionals: true,
  options: { small: { type: "boolean" } },
});
const outPath = positionals[0] ?? "bench/results/latent_profile.json";
const small = !!values.small;

interface Case {
  name: string;
  kind: "euler" | "pair";
  n: number;
  q: number;
  steps: number;
}
const cases: Case[] = small
  ? [
    { name: "euler n=256 q=32 r=5", kind: "euler", n: 256, q: 32, steps: 5 },
    { name: "align pair b=N=128 q=16 K=5", kind: "pair", n: 128, q: 16, steps: 5 },
  ]
  : [
    { name: "euler n=2000 q=200 r=20", kind: "euler", n: 2000, q: 200, steps: 20 },
    { name: "euler n=8192 q=256 r=20", kind: "euler", n: 8192, q: 256, steps: 20 },
    { name: "align pair b=N=2000 q=200 K=20", kind: "pair", n: 2000, q: 200, steps: 20 },
  ];

/** One forward+backward of a case; returns the inputs' gradients' owners to free. */
function once(c: Case, a: Tensor, b: Tensor, pairs: Tensor): void {
  scope(() => {
    if (c.kind === "euler") {
      const z = computeLatents(a, { noise: b, steps: c.steps, solver: "euler" });
      z.backward(b);
    } else {
      alignmentLoss(a, b, pairs, { steps: c.steps, log: true }).backward();
    }
  });
  a.grad?.dispose();
  b.grad?.dispose();
  a.grad = undefined;
  b.grad = undefined;
}

const report: Record<string, unknown>[] = [];
for (const c of cases) {
  const a = randn([c.n, c.q], { seed: 1 }).requireGrad();
  const b = randn([c.n, c.q], { seed: 2 }).requireGrad();
  const pairs = tensor(Int32Array.from({ length: c.n }, (_, i) => i), [c.n], { dtype: "i32" });
  once(c, a, b, pairs); // warm-up: compiles every pipeline
  await synchronize();
  const p = await profileKernels(() => once(c, a, b, pairs));
  const kernels = p.kernels.map((k) => ({ ...k, ms: +k.ms.toFixed(3) }));
  console.log(`${c.name}: ${p.dispatches} dispatches, ${p.totalMs.toFixed(2)} ms summed`);
  for (const k of kernels.slice(0, 12)) {
    console.log(
      `  ${k.ms.toFixed(3).padStart(9)} ms  x${String(k.calls).padEnd(4)} ${k.name} [${k.workgroups}]`,
    );
  }
  report.push({ case: c.name, dispatches: p.dispatches, totalMs: +p.totalMs.toFixed(3), kernels });
  for (const t of [a, b, pairs]) t.dispose();
}
await Deno.writeTextFile(
  outPath,
  JSON.stringify({ adapter: gpu().adapter.name, cases: report }, null, 1) + "\n",
);
console.log(`wrote ${outPath}`);
