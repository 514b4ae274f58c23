/**
 * GPU runner for conv2d (implicit GEMM): forward and forward+backward (dx and dw) TFLOP/s at the sizes the
 * PyTorch peer (`bench/peers/torch_core.py`) runs, NCHW f32, 3x3 pad 1, plus a 1x1 case. Prints a table and
 * writes JSON naming the adapter.
 *
 *   deno run -A bench/gpu_conv.ts bench/results/gpu_conv.json          # full sizes (a real GPU)
 *   deno run -A bench/gpu_conv.ts /tmp/gpu_conv.json --small           # tiny sizes (lavapipe, CI)
 *   deno run -A bench/gpu_conv.ts out.json --decoder                     # the RF decoder's shapes, b256
 *   options: --reps R (launches per sample; default calibrated), --target-ms T, --samples S, --only NAME
 *   LZN_CONV_TILE=BMxBNxBKxTMxTN forces one GEMM tile on every convolution (tensor/ops/conv_gemm.ts), so
 *   one runner call can time the decoder's shapes under several tiles (`bench/run_gpu.sh OUT conv-tiles`).
 *
 * Timing (`bench/timing.ts`, shared with `winograd.ts`): each sample times R and 2R launches, one wait each,
 * and takes the difference over R, so Deno's ~11 ms completion wait cancels; a warm-up sample, then the
 * median of S. Without --reps, R doubles until R launches take ~--target-ms (default 250). FLOP: forward 2·N·Cout·Ho·Wo·Cin·kh·kw; forward+backward 3x that
 * (dx and dw are each one GEMM of the forward's size). Each case's forward output is checked at sampled
 * entries against float64 sums on the CPU, so a fast-but-wrong kernel fails the run (exit status 1).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { conv2d, gpu, readBuffer, synchronize, type Tensor, tensor } from "../tensor/mod.ts";
import { launchTimes } from "./timing.ts";

/** One benchmarked convolution. */
export interface ConvCase {
  name: string;
  N: number;
  CI: number;
  CO: number;
  H: number;
  W: number;
  k: number;
  pad: number;
  stride?: number;
}

/** One result row of {@link benchConv}. */
export interface ConvRow {
  name: string;
  mode: "fwd" | "fwd+bwd";
  shape: string;
  median_ms: number;
  samples_ms: number[];
  tflops: number;
  fraction_of_h200_peak: number;
  check?: { entries: number; max_abs_err: number; max_allowed: number; ok: boolean };
}

/** fp32 peak of an H200 (SXM), for the "fraction of peak" column. */
const H200_FP32_TFLOPS = 67;

/**
 * The RF decoder's convolution shapes (tasks/recipes/fashion-joint-q128.json: channels [32, 64, 64], 2 res
 * blocks) at its training batch of 256, each once: its twelve 3x3 shapes and seven 1x1 ones (the skips of
 * blocks whose width changes, and the attention block's projections at 7x7). Session 20's run
 * (bench/results/2026-12-07-h100-session20/) had the first 13 of this list; the last six 1x1 shapes came after.
 *
 * @example
 * ```ts ignore
 * import { decoderCases } from "./gpu_conv.ts";
 * for (const c of decoderCases()) console.log(c.name); // dec_c1to32_28_k3 ... dec_c64to64_7_k1
 * ```
 */
export function decoderCases(N = 256): ConvCase[] {
  const k3 = (CI: number, CO: number, H: number) => ({ N, CI, CO, H, W: H, k: 3, pad: 1 });
  const k1 = (CI: number, CO: number, H: number) => ({ N, CI, CO, H, W: H, k: 1, pad: 0 });
  const named = (c: Omit<ConvCase, "name">) => ({ name: `dec_c${c.CI}to${c.CO}_${c.H}_k${c.k}`, ...c });
  return [
    k3(1, 32, 28),
    k3(32, 32, 28),
    k3(64, 32, 28),
    k3(96, 32, 28),
    k1(96, 32, 28),
    k3(64, 64, 28),
    k3(32, 1, 28),
    k3(32, 64, 14),
    k3(64, 64, 14),
    k3(128, 64, 14),
    k3(96, 64, 14),
    k3(64, 64, 7),
    k3(128, 64, 7),
    k1(64, 32, 28),
    k1(32, 64, 14),
    k1(96, 64, 14),
    k1(128, 64, 14),
    k1(128, 64, 7),
    k1(64, 64, 7),
  ].map(named);
}

/** The peer's sizes (full) and a lavapipe-sized stand-in (small). */
export function convCases(small: boolean): ConvCase[] {
  if (small) {
    return [
      { name: "conv_b4_c16_8x8_k3", N: 4, CI: 16, CO: 16, H: 8, W: 8, k: 3, pad: 1 },
      { name: "conv_b4_c16_8x8_k1", N: 4, CI: 16, CO: 16, H: 8, W: 8, k: 1, pad: 0 },
    ];
  }
  return [
    { name: "conv_b256_c64_28x28_k3", N: 256, CI: 64, CO: 64, H: 28, W: 28, k: 3, pad: 1 },
    { name: "conv_b256_c64_32x32_k3", N: 256, CI: 64, CO: 64, H: 32, W: 32, k: 3, pad: 1 },
    { name: "conv_b128_c128_32x32_k3", N: 128, CI: 128, CO: 128, H: 32, W: 32, k: 3, pad: 1 },
    { name: "conv_b256_c256_14x14_k3", N: 256, CI: 256, CO: 256, H: 14, W: 14, k: 3, pad: 1 },
    { name: "conv_b256_c64_28x28_k1", N: 256, CI: 64, CO: 64, H: 28, W: 28, k: 1, pad: 0 },
  ];
}

/**
 * The median of a list of numbers.
 *
 * @example
 * ```ts ignore
 * import { median } from "./gpu_conv.ts";
 * median([3, 1, 2]); // 2
 * ```
 */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const h = s.length >> 1;
  return s.length % 2 ? s[h] : (s[h - 1] + s[h]) / 2;
}

/** How long `synchronize()` takes with nothing queued (Deno polls for completion, ~10 ms on the H200). */
async function syncLatency(): Promise<number> {
  const xs: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    await synchronize();
    xs.push(performance.now() - t0);
  }
  return median(xs);
}

/**
 * `n` deterministic floats in [-scale, scale) from a 32-bit LCG (the benchmarks' inputs).
 *
 * @example
 * ```ts ignore
 * import { random } from "./gpu_conv.ts";
 * const x = random(4, 1, 0.5); // four floats in [-0.5, 0.5)
 * ```
 */
export function random(n: number, seed: number, scale = 1): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = (s / 2147483648 - 1) * scale;
  }
  return out;
}

async function checkForward(
  y: Tensor,
  x: Float32Array,
  w: Float32Array,
  c: ConvCase,
): Promise<ConvRow["check"]> {
  const st = c.stride ?? 1;
  const [, , HO, WO] = y.shape;
  let seed = 4242, maxErr = 0, maxAllowed = 0, ok = true;
  const rnd = (n: number) => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) % n;
  for (let e = 0; e < 24; e++) {
    const idx = e === 0 ? 0 : e === 1 ? y.size - 1 : rnd(y.size);
    const ow = idx % WO, oh = Math.floor(idx / WO) % HO, co = Math.floor(idx / (HO * WO)) % c.CO;
    const n = Math.floor(idx / (HO * WO * c.CO));
    let dot = 0, mag = 0;
    for (let ci = 0; ci < c.CI; ci++) {
      for (let r = 0; r < c.k; r++) {
        for (let s = 0; s < c.k; s++) {
          const ih = oh * st - c.pad + r, iw = ow * st - c.pad + s;
          if (ih < 0 || ih >= c.H || iw < 0 || iw >= c.W) continue;
          const p = x[((n * c.CI + ci) * c.H + ih) * c.W + iw] * w[((co * c.CI + ci) * c.k + r) * c.k + s];
          dot += p;
          mag += Math.abs(p);
        }
      }
    }
    const start = Math.max(0, Math.min(idx - 3, y.size - 4));
    const bytes = await readBuffer(y.buffer, start * 4, 16);
    const got = new Float32Array(bytes.buffer, bytes.byteOffset, 4)[idx - start];
    const allowed = 1e-5 * mag + 1e-5, err = Math.abs(got - dot);
    if (!(err <= allowed)) ok = false;
    maxErr = Math.max(maxErr, Number.isNaN(err) ? Infinity : err);
    maxAllowed = Math.max(maxAllowed, allowed);
  }
  return { entries: 24, max_abs_err: maxErr, max_allowed: maxAllowed, ok };
}

/**
 * Times conv2d forward and forward+backward for each case (warm-up, R chained launches per sample, median).
 *
 * @example
 * ```ts
 * const rows = await benchConv(convCases(true), { reps: 1, samples: 3 });
 * console.log(rows.map((r) => `${r.name} ${r.mode} ${r.tflops.toFixed(3)} TFLOP/s`).join("\n"));
 * ```
 */
export async function benchConv(
  cases: ConvCase[],
  opts: { reps: number; samples: number; targetMs?: number; backward?: boolean },
): Promise<ConvRow[]> {
  const rows: ConvRow[] = [];
  for (const c of cases) {
    const st = c.stride ?? 1;
    const hx = random(c.N * c.CI * c.H * c.W, 1);
    // Kaiming-like scale keeps activations O(1) so the check's tolerance is meaningful.
    const hw = random(c.CO * c.CI * c.k * c.k, 2).map((v) => v / Math.sqrt(c.CI * c.k * c.k));
    const x = tensor(hx, [c.N, c.CI, c.H, c.W]), w = tensor(hw, [c.CO, c.CI, c.k, c.k]);
    const conv = { stride: st, padding: c.pad };
    const HO = Math.floor((c.H + 2 * c.pad - c.k) / st) + 1,
      WO = Math.floor((c.W + 2 * c.pad - c.k) / st) + 1;
    const flop = 2 * c.N * c.CO * HO * WO * c.CI * c.k * c.k;
    const shape = `${c.N}x${c.CI}->${c.CO} ${c.H}x${c.W} k${c.k}`;
    const y = conv2d(x, w, undefined, conv);
    const check = await checkForward(y, hx, hw, c);
    y.dispose();
    const push = (mode: ConvRow["mode"], ms: number[], f: number, chk?: ConvRow["check"]) => {
      const med = median(ms), tflops = f / (med * 1e-3) / 1e12;
      rows.push({
        name: c.name,
        mode,
        shape,
        median_ms: med,
        samples_ms: ms,
        tflops,
        fraction_of_h200_peak: tflops / H200_FP32_TFLOPS,
        check: chk,
      });
    };
    const timing = { reps: opts.reps, samples: opts.samples, targetMs: opts.targetMs };
    push(
      "fwd",
      await launchTimes(() => conv2d(x, w, undefined, conv).dispose(), timing),
      flop,
      check,
    );
    if (opts.backward !== false) {
      const xg = x.detach().requireGrad(), wg = w.detach().requireGrad();
      const seed = tensor(random(c.N * c.CO * HO * WO, 3), [c.N, c.CO, HO, WO]);
      const step = () => {
        const out = conv2d(xg, wg, undefined, conv);
        out.backward(seed);
        out.dispose();
        xg.grad?.dispose();
        wg.grad?.dispose();
        xg.grad = wg.grad = undefined;
      };
      push("fwd+bwd", await launchTimes(step, timing), 3 * flop);
      for (const t of [xg, wg, seed]) t.dispose();
    }
    x.dispose();
    w.dispose();
  }
  return rows;
}

if (import.meta.main) {
  const { values, positionals } = parseArgs({
    args: Deno.args,
    allowPositionals: true,
    options: {
      small: { type: "boolean", default: false },
      decoder: { type: "boolean", default: false },
      reps: { type: "string" },
      samples: { type: "string" },
      only: { type: "string" },
      "target-ms": { type: "string" },
    },
  });
  const small = values.small;
  const outPath = positionals[0] ?? "bench/results/gpu_conv.json";
  const cases = (values.decoder ? decoderCases(small ? 2 : 256) : convCases(small))
    .filter((c) => !values.only || c.name.includes(values.only));
  const rows = await benchConv(cases, {
    reps: Number(values.reps ?? (small ? 2 : 0)),
    samples: Number(values.samples ?? (small ? 3 : 7)),
    targetMs: Number(values["target-ms"] ?? 250),
  });
  const adapter = gpu().adapter;
  const latency = await syncLatency();
  const tile = Deno.env.get("LZN_CONV_TILE");
  console.log(
    `conv2d on ${adapter.name} (empty synchronize() ${latency.toFixed(2)} ms; tile ${tile ?? "default"})`,
  );
  console.log(
    `${"case".padEnd(26)} ${"mode".padEnd(8)} ${"shape".padEnd(28)} ${"ms".padStart(9)} ${
      "TFLOP/s".padStart(8)
    }  check`,
  );
  for (const r of rows) {
    const chk = r.check ? (r.check.ok ? "ok" : `FAIL (err ${r.check.max_abs_err.toExponential(2)})`) : "";
    console.log(
      `${r.name.padEnd(26)} ${r.mode.padEnd(8)} ${r.shape.padEnd(28)} ${r.median_ms.toFixed(3).padStart(9)} ${
        (r.tflops < 0.1 ? r.tflops.toPrecision(2) : r.tflops.toFixed(2)).padStart(8)
      }  ${chk}`,
    );
  }
  await Deno.writeTextFile(
    outPath,
    JSON.stringify(
      {
        adapter: adapter.name,
        date: new Date().toISOString(),
        small,
        tile: tile ?? "default",
        sync_latency_ms: latency,
        rows,
      },
      null,
      2,
    ) + "\n",
  );
  if (rows.some((r) => r.check && !r.check.ok)) Deno.exit(1);
}
