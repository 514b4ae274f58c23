/**
 * WGSL generators for the f32 matmul `C[b] = op(A)[b] @ op(B)[b]` and the choice between them.
 *
 * Three kernels, every shape constant (M, N, K, batch strides, transposes) baked into the source:
 * - `tile128`: the path for large problems (the 4096^3 target): a 128x256 output tile per workgroup of 256
 *   threads, 8x16 outputs per thread held in 32 named vec4 accumulators, BK = 8, workgroups walked in groups
 *   of 8 tile-rows for L2 reuse. Tile shape and order are tunable through `matmulTuning`
 *   (`bench/gpu_core.ts --sweep-matmul` sweeps them; the default is the sweep's best on the H200 that fits
 *   in 32 KiB of workgroup memory, so every adapter runs the same kernel).
 * - `tile64`: a 64x64 tile, 4x4 outputs per thread (4 vec4 accumulators), BK = 16, so that mid-size problems
 *   (1000^3, layer matmuls) still launch enough workgroups to fill the GPU. With split-K it also serves
 *   small outputs with a long reduction (weight gradients): each split writes a partial product and the
 *   caller sums them.
 * - `simple`: one thread per output and a loop over k, for tiny problems where set-up costs dominate.
 *
 * Why the code looks the way it does: on Deno's wgpu -> SPIR-V -> NVIDIA Vulkan a private array indexed by a
 * loop variable lands in local memory (about 10x slower), so the accumulators are separate variables and the
 * generator unrolls every loop over them and over the k-tile. Operands are staged through shared memory in
 * k-major layout so a thread reads four consecutive rows (or columns) as one vec4; global loads are vec4
 * whenever the operand's contiguous dimension is a multiple of 4, scalar otherwise. The shared tiles are
 * double-buffered with a register prefetch of the next k-tile, so each k-step needs one barrier.
 * The tile kernels' generator is in `matmul_tile.ts`.
 *
 * @module
 */
import { bindings, type Kernel, kernel } from "../kernel.ts";
import { linearGrid, linearIndex } from "./grid.ts";
import { batchOffsets, prod, type TileConfig, tileKernel } from "./matmul_tile.ts";

export type { TileConfig } from "./matmul_tile.ts";

/**
 * Which kernel computes a matmul.
 *
 * @example
 * ```ts
 * import { matmul, type MatmulPath, tensor } from "@lzn/tensor";
 * const a = tensor(new Float32Array(64 * 64).fill(1), [64, 64]);
 * const paths: MatmulPath[] = ["simple", "tile64", "tile128"];
 * const results = paths.map((path) => matmul(a, a, { path })); // same values, different kernels
 * ```
 */
export type MatmulPath = "simple" | "tile64" | "tile128";

/** Everything a matmul kernel bakes in: the problem after batch broadcasting. */
export interface MatmulShape {
  /** Rows of op(A) and C. */
  M: number;
  /** Columns of op(B) and C. */
  N: number;
  /** The reduced dimension. */
  K: number;
  /** A is stored [K, M] and read transposed. */
  transA: boolean;
  /** B is stored [N, K] and read transposed. */
  transB: boolean;
  /** Leading (batch) dims of A, B and of the (broadcast) output. */
  aBatch: readonly number[];
  bBatch: readonly number[];
  outBatch: readonly number[];
  /** A bias of length N is added to every output row. */
  bias: boolean;
}

/** The chosen kernel and K split. */
export interface MatmulPlan {
  /** Kernel family. */
  path: MatmulPath;
  /** Number of K chunks (1 = no split; only with a tile path). */
  splitK: number;
}

/** A ready launch: the kernel, its grid, and the split-K partial buffer size (0 without split). */
export interface MatmulLaunch {
  /** The compiled kernel (bindings: A, B, [bias], C or partials). */
  kernel: Kernel;
  /** Workgroup counts. */
  workgroups: [number, number];
  /** Splits written to the partial buffer (laid out [splits, ...batch, M, N]); 1 = C written directly. */
  splits: number;
}

const TILE64: TileConfig = { rm: 1, rn: 1, bk: 16 };

/**
 * Knobs of the large-problem (`tile128`) kernel, read each time a launch is generated (the launch cache is
 * keyed by them), so a benchmark or test can set them, run, and restore them. `tile128` is the tile shape
 * (default 128 x 256, 8 x 16 outputs per thread, BK 8; the path keeps its name whatever the shape), and the
 * planner's "one wave of big tiles" rule counts tiles of this shape. `swizzle` > 1 orders the workgroups in
 * groups of that many tile-rows for L2 reuse; 0 or 1 is plain row-major order.
 *
 * @example
 * ```ts
 * import { matmul, tensor } from "@lzn/tensor";
 * const saved = { tile128: matmulTuning.tile128, swizzle: matmulTuning.swizzle };
 * matmulTuning.tile128 = { rm: 2, rn: 2, bk: 16 }; // 128 x 128 tiles, 8 x 8 outputs per thread
 * matmulTuning.swizzle = 0; // row-major workgroup order
 * const a = tensor(new Float32Array(300 * 300).fill(1), [300, 300]);
 * const c = matmul(a, a, { path: "tile128" });
 * Object.assign(matmulTuning, saved);
 * ```
 */
export const matmulTuning: { tile128: TileConfig; swizzle: number } = {
  // The sweep of 2026-11-30 (bench/results/2026-11-30-h200-session17): 39.1 TFLOP/s at 4096^3 (37.8 with B
  // transposed) against 35.2 (31.6) for the earlier 128 x 128, BK 8, row-major default.
  tile128: { rm: 2, rn: 4, bk: 8 },
  swizzle: 8,
};

/** The tile shape a tile path launches with now. */
function tileOf(path: "tile64" | "tile128"): TileConfig {
  return path === "tile64" ? TILE64 : matmulTuning.tile128;
}

const SIMPLE_WG = 64;

/**
 * Picks the kernel for a problem: tiny problems (<= 64^3 multiply-adds) -> `simple`; at least one wave of
 * big tiles on a large GPU (>= 128 tiles of the shape in {@link matmulTuning}) -> `tile128`; otherwise
 * `tile64`, split along K when the output alone cannot fill the GPU (< 64 tiles and K >= 512).
 * `forced` overrides the path and/or the split (tests and benchmarks).
 *
 * @example
 * ```ts
 * const s = { M: 4096, N: 4096, K: 4096, transA: false, transB: false, aBatch: [], bBatch: [], outBatch: [],
 *   bias: false };
 * console.log(planMatmul(s)); // { path: "tile128", splitK: 1 }
 * ```
 */
export function planMatmul(s: MatmulShape, forced: { path?: MatmulPath; splitK?: number } = {}): MatmulPlan {
  const batch = prod(s.outBatch);
  const { M, N, K } = s;
  let path = forced.path;
  if (!path) {
    const big = matmulTuning.tile128;
    const bigTiles = batch * Math.ceil(M / (64 * big.rm)) * Math.ceil(N / (64 * big.rn));
    if (K === 0 || batch * M * N * K <= 64 * 64 * 64) path = "simple";
    else if (bigTiles >= 128) path = "tile128";
    else path = "tile64";
  }
  if (K === 0) return { path: "simple", splitK: 1 };
  if (path === "simple") return { path, splitK: 1 };
  let splitK = Math.max(1, Math.floor(forced.splitK ?? 1));
  if (forced.splitK === undefined && forced.path === undefined && path === "tile64") {
    const tiles64 = batch * Math.ceil(M / 64) * Math.ceil(N / 64);
    // A few workgroups with a long K loop leave most of the GPU idle; split K so ~256 workgroups run.
    if (tiles64 < 64 && K >= 512) {
      splitK = Math.max(2, Math.min(Math.round(256 / tiles64), Math.floor(K / 256)));
    }
  }
  const bk = tileOf(path).bk;
  const chunk = Math.ceil(Math.ceil(K / splitK) / bk) * bk;
  return { path, splitK: Math.ceil(K / chunk) };
}

const cache = new Map<string, MatmulLaunch>();

/**
 * The launch (kernel + grid) for a problem and plan, generated once per distinct shape and cached.
 *
 * @example
 * ```ts
 * const s = { M: 100, N: 100, K: 100, transA: false, transB: true, aBatch: [], bBatch: [], outBatch: [],
 *   bias: false };
 * const launch = matmulLaunch(s, planMatmul(s));
 * console.log(launch.kernel.spec.name, launch.workgroups);
 * ```
 */
export function matmulLaunch(s: MatmulShape, plan: MatmulPlan): MatmulLaunch {
  const cfg = plan.path === "simple" ? undefined : tileOf(plan.path);
  const swizzle = plan.path === "tile128" ? matmulTuning.swizzle : 0;
  const key = [
    plan.path,
    cfg ? `${cfg.rm}x${cfg.rn}x${cfg.bk}s${swizzle}` : "",
    plan.splitK,
    s.M,
    s.N,
    s.K,
    +s.transA,
    +s.transB,
    +s.bias,
    s.aBatch.join("x"),
    s.bBatch.join("x"),
    s.outBatch.join("x"),
  ].join("|");
  let hit = cache.get(key);
  if (!hit) {
    hit = cfg ? tileKernel(s, cfg, plan.path, plan.splitK, swizzle) : simpleKernel(s);
    cache.set(key, hit);
  }
  return hit;
}

function simpleKernel(s: MatmulShape): MatmulLaunch {
  const { M, N, K } = s;
  const total = prod(s.outBatch) * M * N;
  const grid = linearGrid(total, SIMPLE_WG);
  const { aOff, bOff } = batchOffsets(s);
  const decl: [string, "read" | "read_write", string][] = [["A", "read", "f32"], ["B", "read", "f32"]];
  if (s.bias) decl.push(["Bias", "read", "f32"]);
  decl.push(["C", "read_write", "f32"]);
  // op(A)[m, k] and op(B)[k, n] walked along k: start index and stride.
  const aStart = s.transA ? "m" : `m * ${K}u`, aStep = s.transA ? M : 1;
  const bStart = s.transB ? `n * ${K}u` : "n", bStep = s.transB ? 1 : N;
  const wgsl = `${bindings(decl)}
@compute @workgroup_size(${SIMPLE_WG})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = ${linearIndex(SIMPLE_WG)};
  if (i >= ${total}u) { return; }
  let n = i % ${N}u;
  let r = i / ${N}u;
  let m = r % ${M}u;
  let b = r / ${M}u;
  var ia = ${aOff} + ${aStart};
  var ib = ${bOff} + ${bStart};
  var acc = 0.0;
  for (var k = 0u; k < ${K}u; k++) {
    acc = fma(A[ia], B[ib], acc);
    ia += ${aStep}u;
    ib += ${bStep}u;
  }
  C[i] = acc${s.bias ? " + Bias[n]" : ""};
}`;
  const k = kernel({ name: "matmul_simple", wgsl, storage: decl.map((d) => d[1]) });
  return { kernel: k, workgroups: grid.workgroups, splits: 1 };
}
