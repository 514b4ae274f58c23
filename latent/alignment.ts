/**
 * Latent alignment `Align(X, Y)` (spec §4): carry Y's latents through the reverse Euler flow of X's anchors,
 * read the normalised soft assignment of each latent's paired X anchor at the start of every step,
 * drop the first `floor(K * cutoff)` steps and keep the maximum. The loss is `-mean m` (or `-mean log m`).
 *
 * The maxima are one custom op: its forward stores the trajectory, the per-step log-sum-exps and the paired
 * logits (O(K b q + K b)); its backward injects each row's gradient at that row's own arg-max step and runs
 * the flow's reverse sweep, so it flows into the X anchors, Y's latents and the weights without per-step
 * `b x N x q` (or `b x N`) storage. Small anchor sets (labels; see {@link fusedAlignmentFits}) take the
 * fused path of `alignment_fused.ts` instead: one dispatch forward and two backward rather than 2 K and 3 K,
 * since at N = 10 every general-path dispatch is almost pure overhead.
 *
 * @module
 */
import { dispatch, isGradEnabled, linearGrid, record, Tensor, tensor } from "@lzn/tensor";
import { checkInputs, disposeRecord, flowForward, type FlowInputs, recordTensors } from "./flow.ts";
import { fusedAlignmentBackward, fusedAlignmentFits, fusedAlignmentForward } from "./alignment_fused.ts";
import { backwardKeepsEvaluations, flowBackward } from "./flow_backward.ts";
import { eulerReverse } from "./schedule.ts";
import { alignMaxKernel } from "./small_kernels.ts";

/**
 * Options of {@link alignmentLoss}.
 *
 * @example
 * ```ts
 * import { tensor } from "@lzn/tensor";
 * import { alignmentLoss, type AlignmentOptions, computeLatents } from "@lzn/latent";
 * const labelAnchors = tensor([-1, -1, 1, 1], [2, 2], { requiresGrad: true });
 * const z = computeLatents(tensor([0, 0, 2, 2], [2, 2]), { seed: 0 });
 * const opts: AlignmentOptions = { steps: 100, cutoff: 0.2, log: true, weights: tensor([0.3, 0.7], [2]) };
 * const loss = alignmentLoss(labelAnchors, z, new Int32Array([0, 1]), opts);
 * ```
 */
export interface AlignmentOptions {
  /** Reverse Euler steps K (default 100). */
  steps?: number;
  /** Fraction of leading steps (from the Gaussian end) dropped before the maximum (default 0.2). */
  cutoff?: number;
  /** Use `-mean log m` (case study 2) instead of `-mean m` (case study 3). Default false. */
  log?: boolean;
  /** Anchor weights `[N]` (class frequencies; scale-free). They change the trajectory and the probabilities. */
  weights?: Tensor;
}

/**
 * Path selection of {@link alignmentMaxima} (tests and benchmarks): `fused` = true forces the fused
 * small-N kernels (an error where they do not fit), false forces the general flow engine, undefined
 * (the default) picks the fused path whenever {@link fusedAlignmentFits}.
 *
 * @example
 * ```ts
 * alignmentTuning.fused = false; // compare against the general path
 * alignmentTuning.fused = undefined;
 * ```
 */
export const alignmentTuning: { fused?: boolean } = {};

function useFused(n: number, b: number, q: number, steps: number): boolean {
  const fits = fusedAlignmentFits(n, b, q, steps);
  if (alignmentTuning.fused === true && !fits) {
    throw new Error(`lzn: the fused alignment path does not fit N = ${n}, b = ${b}, q = ${q}, K = ${steps}`);
  }
  return alignmentTuning.fused ?? fits;
}

function checkSteps(K: number): void {
  if (!(Number.isInteger(K) && K >= 1)) {
    throw new Error(`lzn: alignment steps must be an integer >= 1, got ${K}`);
  }
}

function pairsTensor(pairs: Int32Array | Tensor, b: number, n: number): { t: Tensor; own: boolean } {
  if (pairs instanceof Tensor) {
    if (pairs.dtype !== "i32" || pairs.size !== b) {
      throw new Error(
        `lzn: pairs must be an i32 tensor of ${b} elements, got ${pairs.dtype} [${pairs.shape}]`,
      );
    }
    return { t: pairs, own: false };
  }
  if (pairs.length !== b) throw new Error(`lzn: pairs must have ${b} entries, got ${pairs.length}`);
  // Host pairs are checked for free (a tensor's would need a readback): an off-by-one label must not train.
  const bad = pairs.findIndex((p) => !(p >= 0 && p < n));
  if (bad >= 0) throw new Error(`lzn: pair ${bad} is ${pairs[bad]}, outside the ${n} anchors [0, ${n})`);
  return { t: tensor(pairs, [b], { dtype: "i32" }), own: true };
}

function inputs(
  anchorsX: Tensor,
  latentsY: Tensor,
  pairs: Tensor,
  steps: number,
  weights?: Tensor,
): FlowInputs {
  return { anchors: anchorsX, x0: latentsY, schedule: eulerReverse(steps), weights, pairs };
}

/**
 * The paired soft assignments of every step, `P [K, b]` with `P[k, i] = P_k[i, pairs_i]` (no gradient;
 * `P[0]` is the normalised weight of the paired anchor).
 *
 * @example
 * ```ts
 * import { tensor } from "@lzn/tensor";
 * import { alignmentProbabilities } from "@lzn/latent";
 * const P = alignmentProbabilities(tensor([-1, 1], [2, 1]), tensor([0.5], [1, 1]), new Int32Array([1]), { steps: 10 });
 * ```
 */
export function alignmentProbabilities(
  anchorsX: Tensor,
  latentsY: Tensor,
  pairs: Int32Array | Tensor,
  opts: { steps?: number; weights?: Tensor } = {},
): Tensor {
  const b = latentsY.shape[0], K = opts.steps ?? 100;
  checkSteps(K);
  const p = pairsTensor(pairs, b, anchorsX.shape[0]);
  const { xK, rec } = flowForward(inputs(anchorsX, latentsY, p.t, K, opts.weights), false);
  const diff = rec.sp!.sub(rec.lse);
  const out = diff.exp().reshape([K, b]);
  for (const t of [xK, diff]) t.dispose();
  disposeRecord(rec);
  if (p.own) p.t.dispose();
  return out;
}

/**
 * Per-row maxima `m_i = max_{k >= cut} P_k[i, pairs_i]`, differentiable w.r.t. the X anchors, Y's latents
 * and the weights (the gradient flows through each row's arg-max step only, as with `torch.max`).
 *
 * @example
 * ```ts
 * import { tensor } from "@lzn/tensor";
 * import { alignmentMaxima } from "@lzn/latent";
 * const m = alignmentMaxima(tensor([-1, 1], [2, 1]), tensor([0.5], [1, 1]), new Int32Array([1]), { steps: 20 });
 * ```
 */
export function alignmentMaxima(
  anchorsX: Tensor,
  latentsY: Tensor,
  pairs: Int32Array | Tensor,
  opts: { steps?: number; cutoff?: number; weights?: Tensor } = {},
): Tensor {
  const b = latentsY.shape[0], K = opts.steps ?? 100, cutoff = opts.cutoff ?? 0.2;
  checkSteps(K);
  if (!(cutoff >= 0 && cutoff < 1)) throw new Error(`lzn: alignment cutoff must be in [0, 1), got ${cutoff}`);
  const cut = Math.floor(K * cutoff);
  if (cut >= K) throw new Error(`lzn: cutoff ${cutoff} leaves no step of ${K}`);
  const p = pairsTensor(pairs, b, anchorsX.shape[0]);
  const inp = inputs(anchorsX, latentsY, p.t, K, opts.weights);
  const diff = [anchorsX, latentsY, ...(opts.weights ? [opts.weights] : [])];
  const needGrad = isGradEnabled() && diff.some((t) => t.requiresGrad);
  const { n, q } = checkInputs(inp);
  if (useFused(n, b, q, K)) {
    const { m, rec } = fusedAlignmentForward(anchorsX, latentsY, p.t, {
      steps: K,
      cut,
      weights: opts.weights,
      save: needGrad,
    });
    if (needGrad) {
      record("alignmentMax", m, diff, (g) => {
        const r = fusedAlignmentBackward(anchorsX, p.t, rec, g, opts.weights);
        return opts.weights ? [r.gA, r.gx0, r.gw!] : [r.gA, r.gx0];
      }, [rec.xs!, rec.st, rec.kstar, p.t]);
    }
    for (const t of [rec.xs, rec.st, rec.kstar]) t?.dispose(); // the node holds its own references
    if (p.own) p.t.dispose();
    return m;
  }
  const { xK, rec } = flowForward(inp, needGrad, needGrad && backwardKeepsEvaluations(inp));
  xK.dispose();
  const m = Tensor.empty([b]);
  const kstar = Tensor.empty([b], "i32");
  dispatch({
    kernel: alignMaxKernel(b, K, cut),
    buffers: [rec.sp!.buffer, rec.lse.buffer, m.buffer, kstar.buffer],
    workgroups: linearGrid(b, 256).workgroups,
  });
  if (needGrad) {
    const saved = [...recordTensors(rec), kstar, p.t];
    record("alignmentMax", m, diff, (g) => {
      const r = flowBackward(inp, rec, null, { kstar, gm: g });
      return opts.weights ? [r.gA, r.gx0, r.gw!] : [r.gA, r.gx0];
    }, saved);
  }
  disposeRecord(rec);
  kstar.dispose();
  if (p.own) p.t.dispose();
  return m;
}

/**
 * The alignment loss `Align(X, Y)` (spec §4): scalar, `-mean_i m_i` or, with `log`, `-mean_i log m_i`.
 * Differentiable w.r.t. `anchorsX`, `latentsY` (and, through them, whatever produced them, e.g.
 * {@link computeLatents}) and `weights`.
 *
 * @example
 * ```ts
 * import { tensor } from "@lzn/tensor";
 * import { alignmentLoss } from "@lzn/latent";
 * const labelAnchors = tensor([-1, 1], [2, 1], { requiresGrad: true });
 * const z = tensor([0.5, -0.4], [2, 1], { requiresGrad: true });
 * const loss = alignmentLoss(labelAnchors, z, new Int32Array([1, 0]), { steps: 100, cutoff: 0.2 });
 * loss.backward(); // gradients on both
 * ```
 */
export function alignmentLoss(
  anchorsX: Tensor,
  latentsY: Tensor,
  pairs: Int32Array | Tensor,
  opts: AlignmentOptions = {},
): Tensor {
  const m = alignmentMaxima(anchorsX, latentsY, pairs, opts);
  if (!opts.log) {
    const mean = m.mean();
    const loss = mean.neg();
    m.dispose();
    mean.dispose();
    return loss;
  }
  const lg = m.log(), mean = lg.mean(), loss = mean.neg();
  for (const t of [m, lg, mean]) t.dispose();
  return loss;
}
