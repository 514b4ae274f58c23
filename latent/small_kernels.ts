/**
 * The small kernels around the latent flows: anchor statistics (`|a_j|^2`, `log w_j`), zero fills, the
 * backward sweep's per-step adjoint combination, column-sum folding, the final gradient assembly, the
 * alignment maximum and the nearest-anchor search. Each is a few lines of WGSL; shapes are baked, per-step
 * scalars travel in the params block.
 *
 * @module
 */
import { bindings, dispatch, IS_NAN_WGSL, type Kernel, kernel, linearGrid, type Tensor } from "@lzn/tensor";

const cache = new Map<string, Kernel>();

function k(name: string, storage: ("read" | "read_write")[], wgsl: string, uniform?: number): Kernel {
  const key = `${name}|${wgsl}`;
  let hit = cache.get(key);
  if (!hit) cache.set(key, hit = kernel({ name, wgsl, storage, uniform }));
  return hit;
}

const IDX = "let i = gid.x + gid.y * nwg.x * 256u;";
const MAIN =
  "@compute @workgroup_size(256)\nfn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u)";

/**
 * A params block of f32 (`f`) and u32 (`u`) fields, in order.
 *
 * @example
 * ```ts
 * const p = params([["f", 0.5], ["u", 3]]); // 16 bytes: f32 0.5, u32 3, padding
 * ```
 */
export function params(fields: ([kind: "f" | "u", value: number])[]): Uint8Array {
  const bytes = Math.max(16, Math.ceil((fields.length * 4) / 16) * 16);
  const dv = new DataView(new ArrayBuffer(bytes));
  fields.forEach(([kind, v], i) =>
    kind === "f" ? dv.setFloat32(i * 4, v, true) : dv.setUint32(i * 4, v >>> 0, true)
  );
  return new Uint8Array(dv.buffer);
}

/**
 * `SQ[j] = |A_j|^2` (computed once per anchor set) and, for weights, `LW[j] = log w_j` (`-inf` where
 * `w_j = 0`, so those anchors get probability exactly 0 and nothing else changes).
 *
 * @example
 * ```ts
 * import { tensor, Tensor } from "@lzn/tensor";
 * const sq = Tensor.empty([2]);
 * anchorNorms(tensor([1, 2, 3, 4], [2, 2]), sq); // [5, 25]
 * ```
 */
export function anchorNorms(anchors: Tensor, out: Tensor): void {
  const [n, q] = anchors.shape;
  const wgsl = `${bindings([["A", "read", "f32"], ["SQ", "read_write", "f32"]])}
${MAIN} {
  ${IDX}
  if (i >= ${n}u) { return; }
  var s = 0.0;
  for (var c = 0u; c < ${q}u; c++) { let v = A[i * ${q}u + c]; s = fma(v, v, s); }
  SQ[i] = s;
}`;
  dispatch({
    kernel: k("latent_sqnorm", ["read", "read_write"], wgsl),
    buffers: [anchors.buffer, out.buffer],
    workgroups: linearGrid(n, 256).workgroups,
  });
}

/**
 * `LW[j] = log w_j`, or `-inf` where `w_j <= 0`.
 *
 * @example
 * ```ts
 * import { tensor, Tensor } from "@lzn/tensor";
 * const lw = Tensor.empty([2]);
 * logWeights(tensor([1, 0], [2]), lw); // [0, -inf]
 * ```
 */
export function logWeights(weights: Tensor, out: Tensor): void {
  const n = weights.size;
  const wgsl = `${bindings([["W", "read", "f32"], ["LW", "read_write", "f32"]])}
${MAIN} {
  ${IDX}
  if (i >= ${n}u) { return; }
  let w = W[i];
  LW[i] = select(bitcast<f32>(0xff800000u), log(w), w > 0.0);
}`;
  dispatch({
    kernel: k("latent_logw", ["read", "read_write"], wgsl),
    buffers: [weights.buffer, out.buffer],
    workgroups: linearGrid(n, 256).workgroups,
  });
}

/**
 * Fills the first `n` elements of a tensor's buffer with zeros.
 *
 * @example
 * ```ts
 * import { Tensor } from "@lzn/tensor";
 * const t = Tensor.empty([8]);
 * zeroFill(t);
 * ```
 */
export function zeroFill(t: Tensor, n = t.size): void {
  const wgsl = `${bindings([["Y", "read_write", "f32"]])}
${MAIN} {
  ${IDX}
  if (i < ${n}u) { Y[i] = 0.0; }
}`;
  dispatch({
    kernel: k("latent_zero", ["read_write"], wgsl),
    buffers: [t.buffer],
    workgroups: linearGrid(n, 256).workgroups,
  });
}

/**
 * `GD = c0 GX[s0] + c1 GX[s1] + c2 GX[s2]`: the gradient reaching the step's evaluation `D_k` through every
 * update that uses it. Params: `c0, c1, c2: f32; s0, s1, s2: u32`.
 *
 * @example
 * ```ts
 * const k = adjointKernel(64 * 16); // dispatch over linearGrid(b * q, 256)
 * ```
 */
export function adjointKernel(bq: number): Kernel {
  const wgsl = `${bindings([["GX", "read", "f32"], ["GD", "read_write", "f32"]])}
struct Params { c0: f32, c1: f32, c2: f32, s0: u32, s1: u32, s2: u32, p0: u32, p1: u32 }
@group(0) @binding(2) var<uniform> u: Params;
${MAIN} {
  ${IDX}
  if (i >= ${bq}u) { return; }
  GD[i] = u.c0 * GX[u.s0 + i] + u.c1 * GX[u.s1 + i] + u.c2 * GX[u.s2 + i];
}`;
  return k("latent_adjoint", ["read", "read_write"], wgsl, 32);
}

/**
 * Softmax VJP of one row per workgroup, in place on `PD = [logits S; dP]` (`[2, rows, n]`): from the stored
 * logits, `pi = softmax(S)`, `D = sum_j pi_j dP_j` and `dS = pi (dP - D)`; writes `pi` over `S` and `dS`
 * over `dP`. Everything is derived from the same stored numbers, so a one-hot row gives `D = dP_j*` and
 * `dS = 0` exactly (no dependence on how another kernel rounded the logits), which is what keeps
 * `alpha = (1-t)/t^2` from amplifying rounding noise at small t.
 *
 * @example
 * ```ts
 * const k = softmaxVjpKernel(256, 1000); // dispatch rowGrid(256)
 * ```
 */
export function softmaxVjpKernel(rows: number, n: number): Kernel {
  const wgsl = `${bindings([["PD", "read_write", "f32"]])}
var<workgroup> rm: array<f32, 256>;
var<workgroup> rl: array<f32, 256>;
var<workgroup> rd: array<f32, 256>;
@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= ${rows}u) { return; }
  let sb = row * ${n}u;
  let gb = ${rows * n}u + row * ${n}u;
  var m = -3.0e38;
  var l = 0.0;
  var d = 0.0;
  for (var j = lid; j < ${n}u; j += 256u) {
    let s = PD[sb + j];
    let g = PD[gb + j];
    if (s > m) {
      let r = exp(m - s);
      l = l * r + 1.0;
      d = d * r + g;
      m = s;
    } else {
      let e = exp(s - m);
      l += e;
      d = fma(e, g, d);
    }
  }
  rm[lid] = m;
  rl[lid] = l;
  rd[lid] = d;
  workgroupBarrier();
  for (var w = 128u; w > 0u; w = w / 2u) {
    if (lid < w) {
      let m2 = rm[lid + w];
      let mx = max(rm[lid], m2);
      let e1 = exp(rm[lid] - mx);
      let e2 = exp(m2 - mx);
      rl[lid] = rl[lid] * e1 + rl[lid + w] * e2;
      rd[lid] = rd[lid] * e1 + rd[lid + w] * e2;
      rm[lid] = mx;
    }
    workgroupBarrier();
  }
  let mx = rm[0];
  let inv = 1.0 / rl[0];
  let dd = rd[0] * inv;
  for (var j = lid; j < ${n}u; j += 256u) {
    let pi = exp(PD[sb + j] - mx) * inv;
    PD[sb + j] = pi;
    PD[gb + j] = pi * (PD[gb + j] - dd);
  }
}`;
  return k("latent_softmax_vjp", ["read_write"], wgsl);
}

/**
 * Rows per workgroup column of {@link colPartialKernel}.
 *
 * @example
 * ```ts
 * const rowBlocks = Math.ceil(2000 / COL_BLOCK); // 8
 * ```
 */
export const COL_BLOCK = 256;

/**
 * `CSP[rb, j] = sum of dS[i, j]` over row block `rb` (256 rows); dS is the second half of `PD`.
 *
 * @example
 * ```ts
 * const k = colPartialKernel(2000, 2000); // grid [ceil(n / 256), ceil(rows / COL_BLOCK)]
 * ```
 */
export function colPartialKernel(rows: number, n: number): Kernel {
  const wgsl = `${bindings([["PD", "read", "f32"], ["CSP", "read_write", "f32"]])}
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(workgroup_id) wid: vec3u) {
  let j = gid.x;
  if (j >= ${n}u) { return; }
  let r0 = wid.y * ${COL_BLOCK}u;
  let r1 = min(r0 + ${COL_BLOCK}u, ${rows}u);
  var s = 0.0;
  for (var i = r0; i < r1; i++) { s += PD[${rows * n}u + i * ${n}u + j]; }
  CSP[wid.y * ${n}u + j] = s;
}`;
  return k("latent_col_partial", ["read", "read_write"], wgsl);
}

/**
 * Workgroups for one-workgroup-per-item kernels: folded into 2-D past 65535.
 *
 * @example
 * ```ts
 * rowGrid(100000); // [65535, 2]
 * ```
 */
export function rowGrid(items: number): [number, number] {
  const x = Math.min(items, 65535);
  return [x, Math.ceil(items / x)];
}

/**
 * Folds the per-row-block column sums of `dS`: `CS[j] += cScale * sum`, `GLW[j] += sum`.
 * Params: `cScale: f32`.
 *
 * @example
 * ```ts
 * const k = colSumKernel(2000, 8); // 8 row blocks of partial sums per column
 * ```
 */
export function colSumKernel(n: number, tiles: number): Kernel {
  const wgsl = `${
    bindings([["CSP", "read", "f32"], ["CS", "read_write", "f32"], ["GLW", "read_write", "f32"]])
  }
struct Params { cScale: f32, p0: f32, p1: f32, p2: f32 }
@group(0) @binding(3) var<uniform> u: Params;
${MAIN} {
  ${IDX}
  if (i >= ${n}u) { return; }
  var s = 0.0;
  for (var t = 0u; t < ${tiles}u; t++) { s += CSP[t * ${n}u + i]; }
  CS[i] = fma(u.cScale, s, CS[i]);
  GLW[i] += s;
}`;
  return k("latent_colsum", ["read", "read_write", "read_write"], wgsl, 16);
}

/**
 * `G[j, :] = GA[j, :] + CS[j] A[j, :]`: the anchor gradient's `-c alpha a_j sum_i dS_ij` terms, all steps at once.
 *
 * @example
 * ```ts
 * const k = anchorGradKernel(2000, 200); // one thread per element of [N, q]
 * ```
 */
export function anchorGradKernel(n: number, q: number): Kernel {
  const wgsl = `${
    bindings([["GA", "read", "f32"], ["CS", "read", "f32"], ["A", "read", "f32"], ["G", "read_write", "f32"]])
  }
${MAIN} {
  ${IDX}
  if (i >= ${n * q}u) { return; }
  G[i] = fma(CS[i / ${q}u], A[i], GA[i]);
}`;
  return k("latent_anchor_grad", ["read", "read", "read", "read_write"], wgsl);
}

/**
 * `GW[j] = GLW[j] / w_j` (0 where `w_j = 0`: such an anchor has no probability to move).
 *
 * @example
 * ```ts
 * const k = weightGradKernel(10);
 * ```
 */
export function weightGradKernel(n: number): Kernel {
  const wgsl = `${bindings([["GLW", "read", "f32"], ["W", "read", "f32"], ["GW", "read_write", "f32"]])}
${MAIN} {
  ${IDX}
  if (i >= ${n}u) { return; }
  let w = W[i];
  GW[i] = select(0.0, GLW[i] / w, w > 0.0);
}`;
  return k("latent_weight_grad", ["read", "read", "read_write"], wgsl);
}

/**
 * Alignment maximum: `P_k[i] = exp(SP[k, i] - LSE[k, i])` for the kept steps `k = cut..K-1`;
 * `M[i] = max_k P_k[i]`, `KSTAR[i]` = the first step attaining it.
 *
 * @example
 * ```ts
 * const k = alignMaxKernel(2000, 100, 20); // K = 100 steps, the first 20 dropped
 * ```
 */
export function alignMaxKernel(b: number, steps: number, cut: number): Kernel {
  const wgsl = `${
    bindings([["SP", "read", "f32"], ["LSE", "read", "f32"], ["M", "read_write", "f32"], [
      "KSTAR",
      "read_write",
      "i32",
    ]])
  }
${IS_NAN_WGSL}
${MAIN} {
  ${IDX}
  if (i >= ${b}u) { return; }
  var best = -1.0;
  var arg = ${cut};
  for (var k = ${cut}u; k < ${steps}u; k++) {
    let p = exp(SP[k * ${b}u + i] - LSE[k * ${b}u + i]);
    // A NaN probability makes m NaN (and stays): a diverged row must not read as m = -1.
    if (p > best || is_nan(p)) { best = p; arg = i32(k); }
  }
  M[i] = best;
  KSTAR[i] = arg;
}`;
  return k("latent_align_max", ["read", "read", "read_write", "read_write"], wgsl);
}

/**
 * Nearest anchor in squared L2 (direct differences, exact in float32 up to rounding; first index wins ties):
 * one workgroup of 256 threads per 16 rows, 16 threads per row scanning strided anchors, then a tree argmin.
 *
 * @example
 * ```ts
 * const k = nearestKernel(2000, 10, 200); // dispatch rowGrid(ceil(b / 16))
 * ```
 */
export function nearestKernel(b: number, n: number, q: number): Kernel {
  const wgsl = `${bindings([["X", "read", "f32"], ["A", "read", "f32"], ["IDX", "read_write", "i32"]])}
var<workgroup> bd: array<f32, 256>;
var<workgroup> bi: array<u32, 256>;
@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let rl = lid / 16u;
  let lane = lid % 16u;
  let row = (wid.x + wid.y * nwg.x) * 16u + rl;
  var best = 3.0e38;
  var arg = 0u;
  if (row < ${b}u) {
    for (var j = lane; j < ${n}u; j += 16u) {
      var d = 0.0;
      for (var c = 0u; c < ${q}u; c++) { let e = X[row * ${q}u + c] - A[j * ${q}u + c]; d = fma(e, e, d); }
      if (d < best) { best = d; arg = j; }
    }
  }
  bd[lid] = best;
  bi[lid] = arg;
  workgroupBarrier();
  for (var w = 8u; w > 0u; w = w / 2u) {
    if (lane < w) {
      let o = lid + w;
      if (bd[o] < bd[lid] || (bd[o] == bd[lid] && bi[o] < bi[lid])) { bd[lid] = bd[o]; bi[lid] = bi[o]; }
    }
    workgroupBarrier();
  }
  if (lane == 0u && row < ${b}u) { IDX[row] = i32(bi[lid]); }
}`;
  return k("latent_nearest", ["read", "read", "read_write"], wgsl);
}
