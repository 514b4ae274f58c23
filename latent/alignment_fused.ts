/**
 * The alignment maxima for small anchor sets (labels: N = 10 classes) in three dispatches instead of ~920.
 *
 * The general path ({@link flowForward} + {@link flowBackward}) spends two dispatches per forward step and
 * seven per backward step; at N = 10 each does almost no work, so on a per-dispatch-bound device (lavapipe:
 * ~0.7 ms each) the dispatch count is the whole cost. Here one invocation owns one latent row and carries it
 * through all K reverse Euler steps (spec §1.6) on its own:
 *
 * - forward (one dispatch): per step, the logits `l_j = -|x - c a_j|^2 / (2 t^2) + log w_j` by direct
 *   differences (spec §1.4: exact at any t, so safe down to t = 1e-4, where the expanded form would reach
 *   1e8), their max-shifted softmax `pi`, the paired probability (max and first arg-max over the kept
 *   steps), then `D = sum_j pi_j a_j` and `x <- a_k (x - D) + D` (the general update kernel's form, with
 *   `a_k + b_k = 1`). With grad it stores the trajectory `x_k` (K b q floats).
 * - backward (one dispatch): per row, from its arg-max step down to 0, the VJP of spec §1.4 with the softmax
 *   recomputed from the stored `x_k` by the same arithmetic; each row writes its own anchor-gradient partial
 *   `[N, q]` (and `sum_k dS` for the weights), so no atomics are needed.
 * - reduction (one dispatch): sums the per-row partials into `gA` (and `gw = glogw / w`).
 *
 * The anchor gradient is accumulated in the combined form `pi_j gD + alpha dS_j (x - c a_j)` rather than the
 * general path's split `alpha dS_j x` + `-c alpha dS_j a_j` (equal in exact arithmetic); the combined form
 * subtracts nearby numbers first.
 *
 * Limits ({@link fusedAlignmentFits}): N <= 32 and q <= 256, so that the per-invocation state — `x` and `gx`
 * (q floats each, loop-indexed so they live in private/local memory) plus three N-float arrays (log weights,
 * probabilities, softmax adjoint) — stays within ~2.4 KiB; and the trajectory `[K, b, q]` and the partials
 * `[b, N, q]` must each fit one storage binding.
 *
 * @module
 */
import { bindings, dispatch, gpu, type Kernel, kernel, linearGrid, Tensor, tensor } from "@lzn/tensor";
import { eulerReverse } from "./schedule.ts";

/** Largest anchor set the fused path takes (private arrays of N floats per invocation). */
const MAX_N = 32;
/** Largest latent width the fused path takes (private arrays of q floats per invocation). */
const MAX_Q = 256;
/** Rows per workgroup: one invocation per row. */
const WG = 64;

const cache = new Map<string, Kernel>();

function cached(name: string, storage: ("read" | "read_write")[], wgsl: string): Kernel {
  const key = `${name}|${wgsl}`;
  let hit = cache.get(key);
  if (!hit) cache.set(key, hit = kernel({ name, wgsl, storage }));
  return hit;
}

/**
 * Whether the fused alignment kernels can take a problem of `n` anchors, `b` rows, width `q` and `steps`
 * reverse Euler steps (see the module notes for why the limits are what they are).
 *
 * @example
 * ```ts
 * fusedAlignmentFits(10, 256, 32, 100); // true: 10 label anchors
 * fusedAlignmentFits(2000, 256, 32, 100); // false: the general path
 * ```
 */
export function fusedAlignmentFits(n: number, b: number, q: number, steps: number): boolean {
  if (n > MAX_N || q > MAX_Q) return false;
  const limit = gpu().device.limits.maxStorageBufferBindingSize;
  return steps * b * q * 4 <= limit && b * n * q * 4 <= limit;
}

/** Per-step constants, 8 f32 per step: `c = 1 - t, 1 / (2 t^2), alpha = c / t^2, a, b0` (float64 on the host). */
function stepConstants(steps: number): Tensor {
  const st = new Float32Array(steps * 8);
  eulerReverse(steps).steps.forEach((s, k) => {
    st.set([1 - s.t, 1 / (2 * s.t * s.t), s.alpha, s.a, s.b[0]], k * 8);
  });
  return tensor(st, [steps * 8]);
}

/** WGSL shared by the forward and the backward: the per-step softmax of one row (same arithmetic in both). */
function commonWgsl(n: number, q: number, weighted: boolean): string {
  // log w_j, -inf where w_j <= 0 (as logWeights() in small_kernels.ts: such anchors get probability 0).
  const lwInit = weighted
    ? "let w = W[j]; (*lw)[j] = select(bitcast<f32>(0xff800000u), log(w), w > 0.0);"
    : "(*lw)[j] = 0.0;";
  return `
// e[j] <- softmax_j(-|x - c a_j|^2 s2 + lw_j), max-shifted (s2 = 1 / (2 t^2)).
fn probs(x: ptr<function, array<f32, ${q}>>, c: f32, s2: f32, lw: ptr<function, array<f32, ${n}>>,
         e: ptr<function, array<f32, ${n}>>) {
  var mx = -3.0e38;
  for (var j = 0u; j < ${n}u; j++) {
    var d = 0.0;
    for (var cc = 0u; cc < ${q}u; cc++) { let v = fma(-c, A[j * ${q}u + cc], (*x)[cc]); d = fma(v, v, d); }
    let l = fma(-s2, d, (*lw)[j]);
    (*e)[j] = l;
    mx = max(mx, l);
  }
  var s = 0.0;
  for (var j = 0u; j < ${n}u; j++) { let v = exp((*e)[j] - mx); (*e)[j] = v; s += v; }
  let inv = 1.0 / s;
  for (var j = 0u; j < ${n}u; j++) { (*e)[j] *= inv; }
}
fn logWeights(lw: ptr<function, array<f32, ${n}>>) {
  for (var j = 0u; j < ${n}u; j++) {
    ${lwInit}
  }
}`;
}

function forwardKernel(
  b: number,
  n: number,
  q: number,
  steps: number,
  cut: number,
  weighted: boolean,
  save: boolean,
): Kernel {
  const decls: [string, "read" | "read_write", string][] = [
    ["X0", "read", "f32"],
    ["A", "read", "f32"],
    ...(weighted ? [["W", "read", "f32"] as [string, "read", string]] : []),
    ["PAIR", "read", "i32"],
    ["ST", "read", "f32"],
    ["M", "read_write", "f32"],
    ["KSTAR", "read_write", "i32"],
    ...(save ? [["XS", "read_write", "f32"] as [string, "read_write", string]] : []),
  ];
  const wgsl = `${bindings(decls)}
${commonWgsl(n, q, weighted)}
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * ${WG}u;
  if (i >= ${b}u) { return; }
  var lw: array<f32, ${n}>;
  logWeights(&lw);
  var x: array<f32, ${q}>;
  for (var cc = 0u; cc < ${q}u; cc++) { x[cc] = X0[i * ${q}u + cc]; }
  let pr = PAIR[i];
  var e: array<f32, ${n}>;
  var best = -1.0;
  var arg = ${cut};
  for (var k = 0u; k < ${steps}u; k++) {
    let c = ST[k * 8u];
    let a = ST[k * 8u + 3u];
    ${save ? `for (var cc = 0u; cc < ${q}u; cc++) { XS[(k * ${b}u + i) * ${q}u + cc] = x[cc]; }` : ""}
    probs(&x, c, ST[k * 8u + 1u], &lw, &e);
    // The first step attaining the maximum wins, as in alignMaxKernel.
    if (k >= ${cut}u && pr >= 0 && pr < ${n}) {
      let p = e[pr];
      if (p > best) { best = p; arg = i32(k); }
    }
    for (var cc = 0u; cc < ${q}u; cc++) {
      var d = 0.0;
      for (var j = 0u; j < ${n}u; j++) { d = fma(e[j], A[j * ${q}u + cc], d); }
      x[cc] = fma(a, x[cc] - d, d);
    }
  }
  M[i] = best;
  KSTAR[i] = arg;
}`;
  return cached("latent_align_fused_fwd", decls.map((d) => d[1]), wgsl);
}

function backwardKernel(b: number, n: number, q: number, weighted: boolean): Kernel {
  const decls: [string, "read" | "read_write", string][] = [
    ["XS", "read", "f32"],
    ["A", "read", "f32"],
    ...(weighted ? [["W", "read", "f32"] as [string, "read", string]] : []),
    ["PAIR", "read", "i32"],
    ["ST", "read", "f32"],
    ["KSTAR", "read", "i32"],
    ["GM", "read", "f32"],
    ["GX0", "read_write", "f32"],
    ["GAP", "read_write", "f32"],
    ...(weighted ? [["GLWP", "read_write", "f32"] as [string, "read_write", string]] : []),
  ];
  const wgsl = `${bindings(decls)}
${commonWgsl(n, q, weighted)}
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * ${WG}u;
  if (i >= ${b}u) { return; }
  var lw: array<f32, ${n}>;
  logWeights(&lw);
  let pr = PAIR[i];
  let ks = KSTAR[i];
  let g = GM[i];
  // gx = dL/dx_{k+1}; zero above the arg-max step (nothing after it reaches the loss).
  var gx: array<f32, ${q}>;
  var x: array<f32, ${q}>;
  var e: array<f32, ${n}>;
  var ds: array<f32, ${n}>;
  for (var k = ks; k >= 0; k--) {
    let ku = u32(k);
    let c = ST[ku * 8u];
    let alpha = ST[ku * 8u + 2u];
    let a = ST[ku * 8u + 3u];
    let b0 = ST[ku * 8u + 4u];
    let xo = (ku * ${b}u + i) * ${q}u;
    for (var cc = 0u; cc < ${q}u; cc++) { x[cc] = XS[xo + cc]; }
    probs(&x, c, ST[ku * 8u + 1u], &lw, &e);
    // dP_j = <gD, a_j> (+ g on the paired entry at the arg-max step), gD = b0 gx_{k+1};
    // dS = pi (dP - sum_j pi_j dP_j): from the same pi, so a one-hot row gives dS = 0 exactly.
    var dbar = 0.0;
    for (var j = 0u; j < ${n}u; j++) {
      var dp = 0.0;
      for (var cc = 0u; cc < ${q}u; cc++) { dp = fma(gx[cc], A[j * ${q}u + cc], dp); }
      dp *= b0;
      if (k == ks && i32(j) == pr) { dp += g; }
      ds[j] = dp;
      dbar = fma(e[j], dp, dbar);
    }
    for (var j = 0u; j < ${n}u; j++) { ds[j] = e[j] * (ds[j] - dbar); }
    // This row's anchor partial: ga_j += pi_j gD + alpha dS_j (x - c a_j); then
    // gx_k = a gx_{k+1} + alpha sum_j dS_j a_j. The first visited step (k = ks) overwrites, so the
    // partials need no zero fill.
    let first = k == ks;
    for (var cc = 0u; cc < ${q}u; cc++) {
      let xc = x[cc];
      let gd = b0 * gx[cc];
      var acc = 0.0;
      for (var j = 0u; j < ${n}u; j++) {
        let av = A[j * ${q}u + cc];
        acc = fma(ds[j], av, acc);
        let v = fma(e[j], gd, alpha * ds[j] * fma(-c, av, xc));
        let o = (i * ${n}u + j) * ${q}u + cc;
        if (first) { GAP[o] = v; } else { GAP[o] += v; }
      }
      gx[cc] = fma(alpha, acc, a * gx[cc]);
    }
    ${
    weighted
      ? `for (var j = 0u; j < ${n}u; j++) {
      let o = i * ${n}u + j;
      if (first) { GLWP[o] = ds[j]; } else { GLWP[o] += ds[j]; }
    }`
      : ""
  }
  }
  for (var cc = 0u; cc < ${q}u; cc++) { GX0[i * ${q}u + cc] = gx[cc]; }
}`;
  return cached("latent_align_fused_bwd", decls.map((d) => d[1]), wgsl);
}

function reduceKernel(b: number, n: number, q: number, weighted: boolean): Kernel {
  const nq = n * q;
  const decls: [string, "read" | "read_write", string][] = [
    ["GAP", "read", "f32"],
    ["GA", "read_write", "f32"],
    ...(weighted
      ? [["GLWP", "read", "f32"], ["W", "read", "f32"], ["GW", "read_write", "f32"]] as [
        string,
        "read" | "read_write",
        string,
      ][]
      : []),
  ];
  const wgsl = `${bindings(decls)}
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let t = gid.x + gid.y * nwg.x * 256u;
  if (t < ${nq}u) {
    var s = 0.0;
    for (var i = 0u; i < ${b}u; i++) { s += GAP[i * ${nq}u + t]; }
    GA[t] = s;
  }
  ${
    weighted
      ? `else if (t < ${nq + n}u) {
    let j = t - ${nq}u;
    var s = 0.0;
    for (var i = 0u; i < ${b}u; i++) { s += GLWP[i * ${n}u + j]; }
    // d/dw of log w: 1 / w (0 where w = 0, as weightGradKernel).
    let w = W[j];
    GW[j] = select(0.0, s / w, w > 0.0);
  }`
      : ""
  }
}`;
  return cached("latent_align_fused_reduce", decls.map((d) => d[1]), wgsl);
}

/** What {@link fusedAlignmentForward} keeps for {@link fusedAlignmentBackward}. */
export interface FusedAlignmentRecord {
  /** Trajectory `x_k`, `[K, b, q]` flat (only when saved). */
  xs?: Tensor;
  /** Per-step constants (see `stepConstants`). */
  st: Tensor;
  /** i32 `[b]`: the arg-max step per row. */
  kstar: Tensor;
}

/**
 * Fused forward: `m [b]` (the maxima over the kept steps) and the record. The caller disposes the record's
 * tensors (or hands them to an autograd node).
 *
 * @example
 * ```ts
 * import { tensor } from "@lzn/tensor";
 * const A = tensor([-1, 1], [2, 1]), z = tensor([0.5], [1, 1]);
 * const pairs = tensor([1], [1], { dtype: "i32" });
 * const { m, rec } = fusedAlignmentForward(A, z, pairs, { steps: 20, cut: 4, save: false });
 * rec.st.dispose();
 * rec.kstar.dispose();
 * ```
 */
export function fusedAlignmentForward(
  anchors: Tensor,
  latents: Tensor,
  pairs: Tensor,
  opts: { steps: number; cut: number; weights?: Tensor; save: boolean },
): { m: Tensor; rec: FusedAlignmentRecord } {
  const [n, q] = anchors.shape, b = latents.shape[0], K = opts.steps;
  const weighted = !!opts.weights;
  const st = stepConstants(K);
  const m = Tensor.empty([b]);
  const kstar = Tensor.empty([b], "i32");
  const xs = opts.save ? Tensor.empty([K * b * q]) : undefined;
  dispatch({
    kernel: forwardKernel(b, n, q, K, opts.cut, weighted, opts.save),
    buffers: [
      latents,
      anchors,
      ...(opts.weights ? [opts.weights] : []),
      pairs,
      st,
      m,
      kstar,
      ...(xs ? [xs] : []),
    ].map((t) => t.buffer),
    workgroups: linearGrid(b, WG).workgroups,
  });
  return { m, rec: { xs, st, kstar } };
}

/**
 * Fused backward: given the upstream gradient `gm [b]` of the maxima, the gradients w.r.t. the anchors
 * `[N, q]`, the latents `[b, q]` and (when weighted) the weights `[N]`.
 *
 * @example
 * ```ts
 * // inside the alignment op's VJP:
 * // const { gA, gx0, gw } = fusedAlignmentBackward(anchors, pairs, rec, gm, weights);
 * ```
 */
export function fusedAlignmentBackward(
  anchors: Tensor,
  pairs: Tensor,
  rec: FusedAlignmentRecord,
  gm: Tensor,
  weights?: Tensor,
): { gA: Tensor; gx0: Tensor; gw?: Tensor } {
  if (!rec.xs) throw new Error("lzn: fused alignment backward needs a forward run with save = true");
  const [n, q] = anchors.shape, b = rec.kstar.size;
  const weighted = !!weights;
  const gx0 = Tensor.empty([b, q]);
  const gap = Tensor.empty([b * n * q]);
  const glwp = weighted ? Tensor.empty([b * n]) : undefined;
  dispatch({
    kernel: backwardKernel(b, n, q, weighted),
    buffers: [
      rec.xs,
      anchors,
      ...(weights ? [weights] : []),
      pairs,
      rec.st,
      rec.kstar,
      gm,
      gx0,
      gap,
      ...(glwp ? [glwp] : []),
    ].map((t) => t.buffer),
    workgroups: linearGrid(b, WG).workgroups,
  });
  const gA = Tensor.empty([n, q]);
  const gw = weighted ? Tensor.empty([n]) : undefined;
  dispatch({
    kernel: reduceKernel(b, n, q, weighted),
    buffers: [gap, gA, ...(weighted ? [glwp!, weights!, gw!] : [])].map((t) => t.buffer),
    workgroups: linearGrid(n * q + (weighted ? n : 0), 256).workgroups,
  });
  gap.dispose();
  glwp?.dispose();
  return { gA, gx0, gw };
}
