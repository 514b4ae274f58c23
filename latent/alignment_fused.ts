/**
 * The alignment maxima for small anchor sets (labels: N = 10 classes) in three dispatches instead of ~920.
 *
 * The general path ({@link flowForward} + {@link flowBackward}) spends two dispatches per forward step and
 * three per backward step; at N = 10 each does almost no work, so the dispatch count is the whole cost. Here
 * each latent row is carried through all K reverse Euler steps (spec §1.6) by T threads spread across q
 * (thread t holds columns `t + T m` in named registers; {@link fusedLayout}: under the GPU tuning a
 * workgroup of 64 threads per row, 32 for q <= 32, so that 2000 rows fill the GPU and each thread's state
 * stays in registers; under the CPU tuning fewer threads per row and several rows per workgroup):
 *
 * - forward (one dispatch): per step, each thread's partial squared distances `|x - c a_j|^2` over its
 *   columns (direct differences, spec §1.4: exact at any t, so safe down to t = 1e-4, where the expanded
 *   form would reach 1e8) go to workgroup memory; the row's threads sum them into the logits
 *   `l_j = -|x - c a_j|^2 / (2 t^2) + log w_j` and their shifted exponentials; every thread then forms the
 *   softmax `pi`, the paired probability (max and first arg-max over the kept steps), `D = sum_j pi_j a_j` on its columns
 *   and `x <- a_k (x - D) + D` (the general update kernel's form, with `a_k + b_k = 1`). With grad it stores
 *   the trajectory `x_k` (K b q floats).
 * - backward (one dispatch): per row, from its arg-max step down to 0, the VJP of spec §1.4 with the softmax
 *   recomputed from the stored `x_k` by the same arithmetic (the logit and `dP = <gD, a_j>` partials
 *   reduced together); each row writes its own anchor-gradient partial `[N, q]` (and `sum_k dS` for the
 *   weights), so no atomics are needed.
 * - reduction (one dispatch): sums the per-row partials into `gA` (and `gw = glogw / w`).
 *
 * The anchor gradient is accumulated in the combined form `pi_j gD + alpha dS_j (x - c a_j)` rather than the
 * general path's split `alpha dS_j x` + `-c alpha dS_j a_j` (equal in exact arithmetic); the combined form
 * subtracts nearby numbers first.
 *
 * Limits ({@link fusedAlignmentFits}): N <= 32 and q <= 256 (at most four columns per thread in the GPU
 * layout, 32 in the CPU one, and the `2 N x T` partials per row in workgroup memory), and the trajectory `[K, b, q]` and the partials `[b, N, q]` must
 * each fit one storage binding.
 *
 * @module
 */
import { dispatch, gpu, linearGrid, Tensor, tensor } from "@lzn/tensor";
import { backwardKernel, forwardKernel, fusedLayout, reduceKernel } from "./alignment_fused_kernels.ts";

import { eulerReverse } from "./schedule.ts";
import { rowGrid } from "./small_kernels.ts";

/** Largest anchor set the fused path takes (the `2 N x T` partial sums in workgroup memory). */
const MAX_N = 32;
/** Largest latent width the fused path takes (at most four columns per thread in the GPU layout). */
const MAX_Q = 256;

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
  const L = fusedLayout(q, gpu().adapter.tuning);
  const st = stepConstants(K);
  const m = Tensor.empty([b]);
  const kstar = Tensor.empty([b], "i32");
  const xs = opts.save ? Tensor.empty([K * b * q]) : undefined;
  dispatch({
    kernel: forwardKernel(b, n, q, K, opts.cut, weighted, opts.save, L),
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
    workgroups: rowGrid(Math.ceil(b / L.R)),
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
  const L = fusedLayout(q, gpu().adapter.tuning);
  const gx0 = Tensor.empty([b, q]);
  const gap = Tensor.empty([b * n * q]);
  const glwp = weighted ? Tensor.empty([b * n]) : undefined;
  dispatch({
    kernel: backwardKernel(b, n, q, weighted, L),
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
    workgroups: rowGrid(Math.ceil(b / L.R)),
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
