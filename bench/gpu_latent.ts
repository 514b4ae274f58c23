/**
 * GPU benchmark of the LZN latent operations (design §8): Euler `computeLatents` forward and forward+backward
 * at (n, q, r) = (2000, 200, 20), (8192, 256, 20), (32768, 256, 20); DPM-Solver++ at (2000, 200, 20); the
 * alignment loss in the label case (N = 10 anchors, b = 2000, q = 200, K = 100, class weights) and the pair
 * case (b = N = 2000, K = 20, log). Reports median ms after warm-up, TFLOP/s (4 b N q per velocity
 * evaluation; forward+backward counted as 3x the forward flops, the peers' convention), the operation's peak
 * pooled memory (inputs excluded) and its number of dispatches, and writes JSON with the adapter's name.
 *
 *     deno run -A bench/gpu_latent.ts out.json [--small] [--sweep] [--sweep-bwd] [--only=substring]
 *
 * `--small` uses tiny sizes (lavapipe); `--sweep` also times forward kernel tunings (q-chunk, anchor chunk,
 * rolled loops, splits), `--sweep-bwd` backward tunings (the streaming kernels' chunks and splits, recomputed
 * evaluations, and the GEMM form with its tiles).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { bufferPool, gpu, randn, recorderStats, synchronize, type Tensor, tensor } from "../tensor/mod.ts";
import { alignmentLoss, computeLatents } from "../latent/mod.ts";
import { backwardTuning } from "../latent/flow_backward.ts";
import { streamTuning } from "../latent/stream_backward.ts";
import { velocityTuning } from "../latent/velocity_kernel.ts";

const { values, positionals } = parseArgs({
  args: Deno.args,
  allowPositionals: true,
  options: {
    small: { type: "boolean" },
    sweep: { type: "boolean" },
    "sweep-bwd": { type: "boolean" },
    only: { type: "string" },
  },
});
const outPath = positionals[0] ?? "bench/results/gpu_latent.json";
const small = !!values.small;

interface Case {
  name: string;
  kind: "euler" | "dpm" | "align";
  /** Rows (points / latents). */
  b: number;
  /** Anchors. */
  n: number;
  q: number;
  steps: number;
  weights?: boolean;
  log?: boolean;
}

const cases: Case[] = small
  ? [
    { name: "euler n=256 q=32 r=5", kind: "euler", b: 256, n: 256, q: 32, steps: 5 },
    { name: "dpm n=128 q=16 r=5", kind: "dpm", b: 128, n: 128, q: 16, steps: 5 },
    {
      name: "align label N=10 b=256 q=32 K=20",
      kind: "align",
      b: 256,
      n: 10,
      q: 32,
      steps: 20,
      weights: true,
    },
    { name: "align pair b=N=128 q=16 K=5", kind: "align", b: 128, n: 128, q: 16, steps: 5, log: true },
  ]
  : [
    { name: "euler n=2000 q=200 r=20", kind: "euler", b: 2000, n: 2000, q: 200, steps: 20 },
    { name: "euler n=8192 q=256 r=20", kind: "euler", b: 8192, n: 8192, q: 256, steps: 20 },
    { name: "euler n=32768 q=256 r=20", kind: "euler", b: 32768, n: 32768, q: 256, steps: 20 },
    { name: "dpm n=2000 q=200 r=20", kind: "dpm", b: 2000, n: 2000, q: 200, steps: 20 },
    {
      name: "align label N=10 b=2000 q=200 K=100",
      kind: "align",
      b: 2000,
      n: 10,
      q: 200,
      steps: 100,
      weights: true,
    },
    { name: "align pair b=N=2000 q=200 K=20", kind: "align", b: 2000, n: 2000, q: 200, steps: 20, log: true },
  ];

interface Result {
  name: string;
  mode: "fwd" | "fwd+bwd";
  /** Median per call, each call followed by a wait for the queue (includes Deno's completion latency). */
  ms: number;
  msAll: number[];
  /** Per call when `pipelined` calls are recorded back to back and waited for once (GPU throughput). */
  msPipelined?: number;
  tflops: number;
  peakMiB: number;
  dispatches: number;
  tuning?: Record<string, unknown>;
}

/** Builds the inputs of a case and returns a closure that runs it once (returning what to dispose). */
function setup(c: Case, grad: boolean): { run: () => Tensor[]; inputs: Tensor[] } {
  if (c.kind !== "align") {
    const anchors = randn([c.n, c.q], { seed: 1 });
    const noise = randn([c.n, c.q], { seed: 2 });
    const seed = grad ? randn([c.n, c.q], { seed: 3 }) : undefined;
    if (grad) {
      anchors.requireGrad();
      noise.requireGrad();
    }
    const solver = c.kind === "euler" ? "euler" : "dpm++3m";
    return {
      inputs: [anchors, noise, ...(seed ? [seed] : [])],
      run: () => {
        const z = computeLatents(anchors, { noise, steps: c.steps, solver });
        if (!grad) return [z];
        z.backward(seed);
        const out = [z, anchors.grad!, noise.grad!];
        anchors.grad = undefined;
        noise.grad = undefined;
        return out;
      },
    };
  }
  const anchorsX = randn([c.n, c.q], { seed: 4 });
  const latents = randn([c.b, c.q], { seed: 5 });
  const pairs = Int32Array.from({ length: c.b }, (_, i) => c.n === c.b ? i : (i * 7919) % c.n);
  const counts = new Float32Array(c.n);
  for (const p of pairs) counts[p]++;
  const weights = c.weights ? tensor(counts.map((v) => v / c.b), [c.n]) : undefined;
  const pairT = tensor(pairs, [c.b], { dtype: "i32" });
  if (grad) {
    anchorsX.requireGrad();
    latents.requireGrad();
  }
  return {
    inputs: [anchorsX, latents, pairT, ...(weights ? [weights] : [])],
    run: () => {
      const loss = alignmentLoss(anchorsX, latents, pairT, { steps: c.steps, weights, log: c.log });
      if (!grad) return [loss];
      loss.backward();
      const out = [loss, anchorsX.grad!, latents.grad!];
      anchorsX.grad = undefined;
      latents.grad = undefined;
      return out;
    },
  };
}

function flops(c: Case): number {
  return 4 * c.b * c.n * c.q * c.steps;
}

async function measure(c: Case, grad: boolean, budgetMs: number): Promise<Result> {
  const { run, inputs } = setup(c, grad);
  await synchronize();
  for (let i = 0; i < 2; i++) {
    for (const t of run()) t.dispose();
    await synchronize();
  }
  const base = bufferPool.liveBytes;
  bufferPool.resetPeak();
  const d0 = recorderStats.dispatches;
  const times: number[] = [];
  const t0 = performance.now();
  while (times.length < 3 || (times.length < 15 && performance.now() - t0 < budgetMs)) {
    const s = performance.now();
    const out = run();
    await synchronize();
    times.push(performance.now() - s);
    for (const t of out) t.dispose();
  }
  const dispatches = Math.round((recorderStats.dispatches - d0) / times.length);
  const peak = bufferPool.peakBytes - base;
  // Back-to-back calls, one wait: amortises the host's completion latency (~10 ms per wait on Deno).
  const reps = Math.max(2, Math.min(20, Math.ceil(300 / median(times))));
  const p0 = performance.now();
  const outs: Tensor[] = [];
  for (let i = 0; i < reps; i++) outs.push(...run());
  await synchronize();
  const msPipelined = (performance.now() - p0) / reps;
  for (const t of outs) t.dispose();
  for (const t of inputs) t.dispose();
  const ms = median(times);
  const f = flops(c) * (grad ? 3 : 1);
  return {
    name: c.name,
    mode: grad ? "fwd+bwd" : "fwd",
    ms: round(ms),
    msAll: times.map(round),
    msPipelined: round(msPipelined),
    tflops: round(f / (ms * 1e-3) / 1e12),
    peakMiB: round(peak / 2 ** 20),
    dispatches,
  };
}

function median(v: number[]): number {
  const s = [...v].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

function round(v: number): number {
  return Math.round(v * 1000) / 1000;
}

const { adapter, device } = gpu();
const report = {
  adapter: adapter.name,
  small,
  limits: {
    maxComputeWorkgroupStorageSize: device.limits.maxComputeWorkgroupStorageSize,
    maxStorageBufferBindingSize: device.limits.maxStorageBufferBindingSize,
    maxBufferSize: device.limits.maxBufferSize,
  },
  conventions: {
    flops: "4 b N q per velocity evaluation (b rows, N anchors); fwd+bwd counted as 3x the forward flops",
    time:
      "median wall-clock ms per call after 2 warm-up calls, each call followed by queue.onSubmittedWorkDone",
    msPipelined: "wall-clock ms per call over N calls recorded back to back with one wait at the end",
    peak: "bufferPool.peakBytes during the timed calls minus the live bytes before them (inputs excluded)",
    dispatches: "compute dispatches recorded per call",
  },
  results: [] as Result[],
  sweep: [] as Result[],
};

async function save(): Promise<void> {
  await Deno.writeTextFile(outPath, JSON.stringify(report, null, 2) + "\n");
}

console.log(`# gpu_latent on ${adapter.name}${small ? " (--small)" : ""}`);
for (const c of cases) {
  if (values.only && !c.name.includes(values.only)) continue;
  for (const grad of [false, true]) {
    try {
      const r = await measure(c, grad, small ? 2000 : 3000);
      report.results.push(r);
      console.log(
        `${c.name.padEnd(40)} ${r.mode.padEnd(8)} ${r.ms.toFixed(2).padStart(10)} ms (pipelined ${
          r.msPipelined!.toFixed(2)
        })  ${r.tflops.toFixed(2).padStart(7)} TFLOP/s  peak ${
          r.peakMiB.toFixed(1).padStart(8)
        } MiB  ${r.dispatches} dispatches`,
      );
    } catch (e) {
      console.log(`${c.name} ${grad ? "fwd+bwd" : "fwd"}: ERROR ${e instanceof Error ? e.message : e}`);
    }
    await save();
  }
}

/** Sets `obj`'s keys to exactly `values` (a sweep's configuration on top of the defaults). */
function reset<T extends object>(obj: T, values: Partial<T>): void {
  for (const key of Object.keys(obj) as (keyof T)[]) delete obj[key];
  Object.assign(obj, values);
}

if (values.sweep) {
  const sizes: Case[] = small ? [cases[0]] : [cases[1], cases[0]];
  const vConfigs: Partial<typeof velocityTuning>[] = [
    {},
    { bk: 16, jc: 8 },
    { bk: 16, jc: 16 },
    { bk: 32, jc: 16 },
    { bk: 8, jc: 8 },
    { bk: 8, jc: 16 },
    { unroll: false },
    { targetGroups: 132 },
    { targetGroups: 528 },
  ];
  for (const c of sizes) {
    for (const v of vConfigs) {
      reset(velocityTuning, v);
      const r = await measure(c, false, 1500);
      r.tuning = { ...v };
      report.sweep.push(r);
      console.log(
        `sweep fwd ${c.name} ${JSON.stringify(v)}: ${r.ms.toFixed(2)} ms (pipelined ${
          r.msPipelined!.toFixed(2)
        }) ${r.tflops.toFixed(2)} TFLOP/s`,
      );
      await save();
    }
  }
  reset(velocityTuning, {});
}
if (values["sweep-bwd"]) {
  const sizes: Case[] = small ? [cases[0]] : [cases[1], cases[0]];
  const base = { ...backwardTuning };
  const bConfigs: [Partial<typeof backwardTuning>, Partial<typeof streamTuning>][] = [
    [{}, {}],
    [{}, { bk: 8 }],
    [{}, { jc: 4 }],
    [{}, { targetGroups: 128 }],
    [{}, { prepRows: 1 }],
    [{}, { prepRows: 2 }],
    [{}, { prepRows: 4 }],
    [{}, { prepRows: 8 }],
    [{}, { prepRows: 32 }],
    [{}, { unroll: false }],
    [{ keepEvaluationsBytes: 0 }, {}],
    [{ path: "gemm" }, {}],
    [{ path: "gemm", m1: [8, 4] }, {}],
    [{ path: "gemm", m2: [8, 8], m3: [8, 8] }, {}],
  ];
  for (const c of sizes) {
    for (const [bc, sc] of bConfigs) {
      reset(backwardTuning, { ...base, ...bc });
      reset(streamTuning, sc);
      const r = await measure(c, true, 2000);
      r.tuning = { ...bc, ...sc };
      report.sweep.push(r);
      console.log(
        `sweep fwd+bwd ${c.name} ${JSON.stringify(r.tuning)}: ${r.ms.toFixed(2)} ms (pipelined ${
          r.msPipelined!.toFixed(2)
        }) ${r.tflops.toFixed(2)} TFLOP/s, peak ${r.peakMiB.toFixed(0)} MiB`,
      );
      await save();
    }
  }
  reset(backwardTuning, base);
  reset(streamTuning, {});
}
await save();
console.log(`wrote ${outPath}`);
