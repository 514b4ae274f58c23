/**
 * GPU runner for the tensor core's kernels: matmul TFLOP/s (4096^3 plain / B^T / A^T, 1000^3, 8192^3),
 * elementwise add GB/s on 64M floats, and the host cost of a dispatch (batched in one encoder vs one submit
 * each). Prints a table and writes JSON naming the adapter.
 *
 *   deno run -A bench/gpu_core.ts bench/results/gpu_core.json            # full sizes (a real GPU)
 *   deno run -A bench/gpu_core.ts /tmp/gpu_core.json --small             # tiny sizes (lavapipe, CI)
 *   options: --reps R (launches chained per sample), --samples S, --skip-8192
 *   deno run -A bench/gpu_core.ts out.json --sweep-matmul [--variants 2x4x8,2x2x8s8] [--sweep-sizes 1000]
 *
 * `--sweep-matmul` runs only the matmul tile sweep: every variant of the `tile128` kernel
 * (tile shape and workgroup swizzle, set through `matmulTuning`; the current default first) at 4096^3, 4096^3
 * B^T, 1000^3 and 8192^3 (256 / 100 / 320 with --small), one checked row per variant named "matmul_sweep"
 * with its `config`. `--variants` replaces the built-in list (`RMxRNxBK`, then optionally `sSWIZZLE` and
 * `kSPLITS`: the reduction split that many ways, partial products summed by a second pass, as the planner does
 * for `tile64`); `--sweep-sizes` replaces the sizes (square, plain only).
 *
 * Timing (`bench/timing.ts`): a warm-up, then R doubles (from --reps) until R launches take ~20 ms; each of
 * S samples times R and 2R launches chained, one `synchronize()` each, and takes the difference over R (the
 * ~11 ms queue wait cancels); the median of the S samples is reported.
 * Every matmul case is also checked: sampled outputs against float64 dot products on the CPU, so a
 * fast-but-wrong kernel fails the run (exit status 1) instead of posting a number.
 *
 * @module
 */
import { parseArgs } from "node:util";
import {
  bufferPool,
  dispatch,
  flush,
  full,
  gpu,
  kernel,
  matmul,
  type MatmulPath,
  readBuffer,
  type Tensor,
  tensor,
} from "../tensor/mod.ts";
import { matmulTuning, planMatmul, type TileConfig } from "../tensor/ops/matmul_kernels.ts";
import { tileSharedBytes } from "../tensor/ops/matmul_tile.ts";
import { launchTimes } from "./timing.ts";

const { values, positionals } = parseArgs({
  args: Deno.args,
  allowPositionals: true,
  options: {
    small: { type: "boolean", default: false },
    reps: { type: "string" },
    samples: { type: "string" },
    "skip-8192": { type: "boolean", default: false },
    "sweep-matmul": { type: "boolean", default: false },
    variants: { type: "string" },
    "sweep-sizes": { type: "string" },
  },
});
const small = values.small;
const outPath = positionals[0] ?? "bench/results/gpu_core.json";
const reps = Number(values.reps ?? (small ? 2 : 10));
const samples = Number(values.samples ?? (small ? 3 : 7));
/** fp32 peak of an H200 (SXM), for the "fraction of peak" column. */
const H200_FP32_TFLOPS = 67;

interface Row {
  name: string;
  shape: string;
  median_ms: number;
  samples_ms: number[];
  tflops?: number;
  gbps?: number;
  us_per_dispatch?: number;
  fraction_of_h200_peak?: number;
  path?: string;
  check?: { entries: number; max_abs_err: number; max_allowed: number; ok: boolean };
  /** The tile128 variant of a sweep row. */
  config?: {
    rm: number;
    rn: number;
    bk: number;
    swizzle: number;
    splitK?: number;
    tile: string;
    shared_bytes: number;
  };
  /** Why a sweep variant did not run (e.g. its shared tiles exceed the device's limit). */
  skipped?: string;
}
const rows: Row[] = [];

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const h = s.length >> 1;
  return s.length % 2 ? s[h] : (s[h - 1] + s[h]) / 2;
}

/**
 * Per-launch time in ms, one value per sample (`bench/timing.ts`: r and 2r launches, one wait each, so Deno's
 * ~11 ms queue wait cancels); `r` starts at the given count and doubles until `r` launches take ~20 ms.
 */
function time(launch: () => void, r = reps, s = samples): Promise<number[]> {
  return launchTimes(launch, { reps: 0, start: r, samples: s, targetMs: 20 });
}

function random(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2147483648 - 1;
  }
  return out;
}

interface MatmulCase {
  name: string;
  M: number;
  N: number;
  K: number;
  transA?: boolean;
  transB?: boolean;
  path?: MatmulPath;
  /** Forced reduction split (default: the planner's). */
  splitK?: number;
}

/** One element of a tensor, read through a 16-byte window inside it (readBuffer copies >= 16 bytes). */
async function readFloat(t: Tensor, i: number): Promise<number> {
  const start = Math.max(0, Math.min(i - 3, t.size - 4));
  const bytes = await readBuffer(t.buffer, start * 4, 16);
  return new Float32Array(bytes.buffer, bytes.byteOffset, 4)[i - start];
}

/** Compares sampled entries of C with float64 dot products of the host operands. */
async function checkMatmul(
  c: Tensor,
  a: Float32Array,
  b: Float32Array,
  cs: MatmulCase,
): Promise<Row["check"]> {
  const { M, N, K } = cs;
  const picks: [number, number][] = [[0, 0], [M - 1, N - 1], [0, N - 1], [M - 1, 0], [M >> 1, N >> 1]];
  let seed = 12345;
  const rnd = (n: number) => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) % n;
  while (picks.length < 24) picks.push([rnd(M), rnd(N)]);
  let maxErr = 0, maxAllowed = 0, ok = true;
  for (const [m, n] of picks) {
    const got = await readFloat(c, m * N + n);
    let dot = 0, mag = 0;
    for (let k = 0; k < K; k++) {
      const av = a[cs.transA ? k * M + m : m * K + k];
      const bv = b[cs.transB ? n * K + k : k * N + n];
      dot += av * bv;
      mag += Math.abs(av * bv);
    }
    // f32 accumulation error grows with sum |a_k b_k|; a wrong tile or index is off by O(|C|) >> this.
    const allowed = 1e-5 * mag + 1e-5;
    const err = Math.abs(got - dot);
    if (!(err <= allowed)) ok = false;
    maxErr = Math.max(maxErr, Number.isNaN(err) ? Infinity : err);
    maxAllowed = Math.max(maxAllowed, allowed);
  }
  return { entries: picks.length, max_abs_err: maxErr, max_allowed: maxAllowed, ok };
}

/** Host and device operands of a case (random, seeds 1 and 2). */
interface Operands {
  ha: Float32Array;
  hb: Float32Array;
  a: Tensor;
  b: Tensor;
}

/** Makes a case's operands (the caller disposes `a` and `b`). */
function makeOperands(cs: MatmulCase): Operands {
  const { M, N, K } = cs;
  const ha = random(M * K, 1), hb = random(K * N, 2);
  return { ha, hb, a: tensor(ha, cs.transA ? [K, M] : [M, K]), b: tensor(hb, cs.transB ? [N, K] : [K, N]) };
}

async function benchMatmul(cs: MatmulCase): Promise<void> {
  const ops = makeOperands(cs);
  await measureMatmul(cs, ops);
  ops.a.dispose();
  ops.b.dispose();
}

/** Times and checks one case on given operands and records its row (with `extra` fields merged in). */
async function measureMatmul(cs: MatmulCase, ops: Operands, extra: Partial<Row> = {}): Promise<void> {
  const { M, N, K } = cs;
  const { ha, hb, a, b } = ops;
  const opts = { transA: cs.transA, transB: cs.transB, path: cs.path, splitK: cs.splitK };
  const plan = planMatmul(
    { M, N, K, transA: !!cs.transA, transB: !!cs.transB, aBatch: [], bBatch: [], outBatch: [], bias: false },
    { path: cs.path, splitK: cs.splitK },
  );
  const flop = 2 * M * N * K;
  const r = flop > 2e11 ? Math.max(2, Math.ceil(reps / 2)) : reps;
  const ms = await time(() => matmul(a, b, opts).dispose(), r);
  const c = matmul(a, b, opts);
  const check = await checkMatmul(c, ha, hb, cs);
  const med = median(ms);
  const tflops = flop / (med * 1e-3) / 1e12;
  rows.push({
    name: cs.name,
    shape: `${M}x${N}x${K}`,
    median_ms: med,
    samples_ms: ms,
    tflops,
    fraction_of_h200_peak: tflops / H200_FP32_TFLOPS,
    path: `${plan.path}${plan.splitK > 1 ? ` split${plan.splitK}` : ""}`,
    check,
    ...extra,
  });
  c.dispose();
}

async function benchAdd(n: number): Promise<void> {
  const a = full([n], 1), b = full([n], 2);
  const ms = await time(() => a.add(b).dispose());
  const y = a.add(b);
  const ok = (await readFloat(y, 0)) === 3 && (await readFloat(y, n - 1)) === 3;
  const med = median(ms);
  rows.push({
    name: "add f32",
    shape: `${n}`,
    median_ms: med,
    samples_ms: ms,
    gbps: (12 * n) / (med * 1e-3) / 1e9,
    check: { entries: 2, max_abs_err: ok ? 0 : Infinity, max_allowed: 0, ok },
  });
  for (const t of [a, b, y]) t.dispose();
}

async function benchDispatch(count: number): Promise<void> {
  const tiny = kernel({
    name: "bench_tiny",
    storage: ["read_write"],
    wgsl: `@group(0) @binding(0) var<storage, read_write> y: array<f32>;
@compute @workgroup_size(1) fn main() { y[0] = y[0] + 1.0; }`,
  });
  const buf = bufferPool.acquire(16);
  const one = () => dispatch({ kernel: tiny, buffers: [buf], workgroups: [1] });
  const cases: [string, () => void, number][] = [
    ["dispatch, one encoder", one, count],
    ["dispatch, one submit each", () => (one(), flush()), Math.max(10, count >> 3)],
  ];
  const x = tensor([1, 2, 3, 4], [4]);
  cases.push(["tiny tensor op x.add(1)", () => x.add(1).dispose(), count]);
  for (const [name, fn, n] of cases) {
    // One sample = n launches then one wait; the per-dispatch cost is the sample's mean.
    const ms = await time(fn, n, Math.min(samples, 5));
    const med = median(ms);
    rows.push({
      name,
      shape: `${n}`,
      median_ms: med * n,
      samples_ms: ms.map((v) => v * n),
      us_per_dispatch: med * 1e3,
    });
  }
  bufferPool.release(buf);
  x.dispose();
}

/** A tile128 variant of the sweep: tile shape, workgroup swizzle and (optionally) a forced K split. */
interface Variant {
  tile: TileConfig;
  swizzle: number;
  splitK?: number;
}

function variantLabel(v: { rm: number; rn: number; bk: number; swizzle: number; splitK?: number }): string {
  return `${64 * v.rm}x${64 * v.rn} bk${v.bk}${v.swizzle > 1 ? ` sw${v.swizzle}` : ""}${
    v.splitK && v.splitK > 1 ? ` k${v.splitK}` : ""
  }`;
}

/** The sweep's variants: the current default first, then other tile shapes, then grouped orders. */
function sweepVariants(): Variant[] {
  const list: Variant[] = [{ tile: { ...matmulTuning.tile128 }, swizzle: matmulTuning.swizzle }];
  const shapes: [number, number, number][] = [[2, 2, 8], [2, 2, 16], [2, 4, 8], [4, 2, 8], [2, 4, 16], [
    4,
    2,
    16,
  ]];
  for (const [rm, rn, bk] of shapes) list.push({ tile: { rm, rn, bk }, swizzle: 0 });
  for (const [rm, rn, bk] of [[2, 2, 8], [2, 2, 16], [2, 4, 8], [4, 2, 8]]) {
    list.push({ tile: { rm, rn, bk }, swizzle: 8 });
  }
  list.push({ tile: { rm: 2, rn: 4, bk: 8 }, swizzle: 4 }, { tile: { rm: 1, rn: 2, bk: 16 }, swizzle: 0 });
  // Drop repeats of the default.
  const key = (v: Variant) => `${v.tile.rm}x${v.tile.rn}x${v.tile.bk}s${Math.max(1, v.swizzle)}`;
  return list.filter((v, i) => list.findIndex((w) => key(w) === key(v)) === i);
}

/** `--variants 2x4x8,2x2x8s8,1x2x16k2`: RMxRNxBK with an optional sSWIZZLE and kSPLITS. */
function parseVariants(text: string): Variant[] {
  return text.split(",").map((part) => {
    const m = /^(\d+)x(\d+)x(\d+)(?:s(\d+))?(?:k(\d+))?$/.exec(part.trim());
    if (!m) throw new Error(`gpu_core: bad --variants entry "${part}" (want RMxRNxBK[sSWIZZLE][kSPLITS])`);
    const v: Variant = { tile: { rm: +m[1], rn: +m[2], bk: +m[3] }, swizzle: Number(m[4] ?? 0) };
    if (m[5]) v.splitK = Number(m[5]);
    return v;
  });
}

/** Runs one case under every variant on the same operands, restoring `matmulTuning` after each. */
async function sweepMatmul(cs: MatmulCase, variants: Variant[]): Promise<void> {
  const ops = makeOperands(cs);
  const limit = gpu().device.limits.maxComputeWorkgroupStorageSize;
  for (const v of variants) {
    const shared = tileSharedBytes(v.tile);
    const config = {
      ...v.tile,
      swizzle: v.swizzle,
      ...(v.splitK ? { splitK: v.splitK } : {}),
      tile: `${64 * v.tile.rm}x${64 * v.tile.rn}`,
      shared_bytes: shared,
    };
    // A variant that could not run: a row without timings, saying why.
    const notRun = (skipped: string, check?: Row["check"]) =>
      rows.push({
        name: cs.name,
        shape: `${cs.M}x${cs.N}x${cs.K}`,
        median_ms: NaN,
        samples_ms: [],
        config,
        ...(check ? { check } : {}),
        skipped,
      });
    if (shared > limit) {
      notRun(`${shared} B > ${limit} B shared`);
      continue;
    }
    const saved = { tile128: matmulTuning.tile128, swizzle: matmulTuning.swizzle };
    matmulTuning.tile128 = { ...v.tile };
    matmulTuning.swizzle = v.swizzle;
    try {
      await measureMatmul({ ...cs, splitK: v.splitK }, ops, { config });
    } catch (err) {
      console.error(`gpu_core: ${cs.name} ${variantLabel(config)} threw: ${err}`);
      notRun(String(err), { entries: 0, max_abs_err: Infinity, max_allowed: 0, ok: false });
    } finally {
      Object.assign(matmulTuning, saved);
    }
  }
  ops.a.dispose();
  ops.b.dispose();
}

const { adapter } = gpu();
console.log(`adapter: ${adapter.name}${adapter.isCpu ? " (CPU)" : ""}, reps ${reps}, samples ${samples}`);
const big = small ? 256 : 4096, mid = small ? 100 : 1000, huge = small ? 320 : 8192;
// In --small mode the "big" cases force the 128-tile kernel so the same code as on the GPU is exercised.
const bigPath: MatmulPath | undefined = small ? "tile128" : undefined;
const cases: MatmulCase[] = [
  { name: "matmul", M: big, N: big, K: big, path: bigPath },
  { name: "matmul B^T", M: big, N: big, K: big, transB: true, path: bigPath },
  { name: "matmul A^T", M: big, N: big, K: big, transA: true, path: bigPath },
  { name: "matmul [tile64]", M: big, N: big, K: big, path: "tile64" },
  { name: "matmul", M: mid, N: mid, K: mid },
  { name: "matmul [tile128]", M: mid, N: mid, K: mid, path: "tile128" },
];
if (!values["skip-8192"]) cases.push({ name: "matmul", M: huge, N: huge, K: huge, path: bigPath });
const sweep = values["sweep-matmul"];
if (sweep) {
  const variants = values.variants ? parseVariants(values.variants) : sweepVariants();
  const given = values["sweep-sizes"]?.split(",").map(Number);
  if (given?.some((n) => !(Number.isInteger(n) && n >= 1))) {
    throw new Error(`gpu_core: bad --sweep-sizes "${values["sweep-sizes"]}" (want sizes like 1000,2048)`);
  }
  const sizes = given ?? [big, big, mid, ...(values["skip-8192"] ? [] : [huge])];
  const sweepCases: MatmulCase[] = sizes.map((n, i) => ({
    name: !given && i === 1 ? "matmul_sweep B^T" : "matmul_sweep",
    M: n,
    N: n,
    K: n,
    transB: !given && i === 1,
    path: "tile128",
  }));
  for (const cs of sweepCases) await sweepMatmul(cs, variants);
} else {
  for (const cs of cases) await benchMatmul(cs);
  await benchAdd(small ? 1 << 20 : 64 << 20);
  await benchDispatch(small ? 500 : 8000);
}

const fmt = (v: number | undefined, d: number) => (v === undefined ? "" : v.toFixed(d));
console.log(
  `${"case".padEnd(26)} ${"shape".padEnd(16)} ${"ms".padStart(10)} ${"TFLOP/s".padStart(8)} ${
    "GB/s".padStart(8)
  } ` +
    `${"us/disp".padStart(8)} ${"path".padEnd(10)} check`,
);
for (const r of rows) {
  const check = r.check
    ? (r.check.ok ? `ok (${r.check.entries})` : `FAILED err ${r.check.max_abs_err}`)
    : (r.skipped ? `skipped: ${r.skipped}` : "");
  const name = r.config ? `${r.name} ${variantLabel(r.config)}` : r.name;
  console.log(
    `${name.padEnd(26)} ${r.shape.padEnd(16)} ${fmt(r.median_ms, 3).padStart(10)} ${
      fmt(r.tflops, 3).padStart(8)
    } ` +
      `${fmt(r.gbps, 1).padStart(8)} ${fmt(r.us_per_dispatch, 2).padStart(8)} ${
        (r.path ?? "").padEnd(10)
      } ${check}`,
  );
}
if (sweep) {
  // The fastest correct variant of each case.
  for (const shape of new Set(rows.map((r) => `${r.name}|${r.shape}`))) {
    const ok = rows.filter((r) => `${r.name}|${r.shape}` === shape && r.check?.ok && r.tflops !== undefined);
    const best = ok.sort((x, y) => y.tflops! - x.tflops!)[0];
    if (best?.config) {
      console.log(
        `best ${shape.replace("|", " ")}: ${variantLabel(best.config)} ${best.tflops!.toFixed(2)} TFLOP/s`,
      );
    }
  }
}
const failed = rows.filter((r) => r.check && !r.check.ok);
const report = {
  adapter: adapter.name,
  is_cpu: adapter.isCpu,
  deno: Deno.version.deno,
  date: new Date().toISOString(),
  small,
  sweep_matmul: sweep,
  reps,
  samples,
  method:
    "median over samples of (time of 2R launches + wait - time of R launches + wait) / R, R calibrated to ~20 ms",
  all_checks_ok: failed.length === 0,
  results: rows,
};
const dir = outPath.includes("/") ? outPath.slice(0, outPath.lastIndexOf("/")) : ".";
await Deno.mkdir(dir, { recursive: true });
await Deno.writeTextFile(outPath, JSON.stringify(report, null, 2) + "\n");
console.log(`wrote ${outPath}`);
if (failed.length) {
  console.error(
    `gpu_core: ${failed.length} correctness check(s) FAILED: ${
      failed.map((r) => `${r.name} ${r.shape}${r.config ? ` ${variantLabel(r.config)}` : ""}`).join(", ")
    }`,
  );
  Deno.exit(1);
}
