/**
 * The streaming reverse-mode sweep of a latent flow (FlashAttention-2's backward adapted to the flow): per
 * step k = K-1 .. 0, three dispatches — {@link prepKernel} (gx fold, `gD_k`, `D_i`), {@link rowKernel}
 * (`gx_k`, parallel over row blocks) and {@link anchorKernel} (anchor gradient partials, parallel over
 * anchor blocks) — each recomputing the softmax per tile from the stored state and log-sum-exp, so that
 * nothing of size `b x N` is ever stored (the recursion itself is described in `flow_backward.ts`).
 *
 * `D_i = <gD_i, Abar_i>` needs the step's evaluation `Abar = D_k`: kept from the forward when the `K b q`
 * floats fit `backwardTuning.keepEvaluationsBytes`, else recomputed here by one forward-kernel dispatch per
 * step (4 b N q flops). At n = 32768, q = 256, K = 20 that keeps the peak to the trajectory (640 MiB) plus
 * a few `[b, q]` buffers.
 *
 * @module
 */
import { copyBuffer, dispatch, gpu, linearGrid, Tensor } from "@lzn/tensor";
import type { FlowInputs, FlowRecord } from "./flow.ts";
import { params, zeroFill } from "./small_kernels.ts";
import {
  anchorKernel,
  rowKernel,
  type StreamPlan,
  type StreamShape,
  streamSharedWords,
} from "./stream_kernels.ts";
import { finishKernel, PREP_ROWS, prepKernel } from "./stream_prep.ts";
import { BR, planVelocity, velocityKernel } from "./velocity_kernel.ts";
import { type KernelTuning, paddedQ, splitCount } from "./tiles.ts";

/** Alignment injection: rows whose maximum sits at step `kstar[i]` receive `gm[i]` on their paired probability. */
export interface Injection {
  /** i32 `[b]`: the arg-max step per row. */
  kstar: Tensor;
  /** f32 `[b]`: upstream gradient of the row's maximum probability. */
  gm: Tensor;
}

/** Gradients of a flow's inputs. */
export interface FlowGrads {
  /** w.r.t. the anchor set `[N, q]`. */
  gA: Tensor;
  /** w.r.t. the initial points `[b, q]`. */
  gx0: Tensor;
  /** w.r.t. the weights `[N]` (when weighted). */
  gw?: Tensor;
}

/**
 * Overrides of the streaming kernels' plan (benchmarks, tests): chunk sizes, splits, target workgroups
 * (default 256 under the GPU tuning, 4 under the CPU tuning).
 *
 * @example
 * ```ts
 * streamTuning.splits = 3; // force three splits on both kernels
 * delete streamTuning.splits;
 * ```
 */
export const streamTuning: StreamTuning = {};

/**
 * The streaming kernels' overrides: the tiled kernels' {@link KernelTuning} plus the rows per workgroup of the
 * per-row preparation (default `PREP_ROWS`).
 *
 * @example
 * ```ts
 * const t: StreamTuning = { splits: 2, prepRows: 4 };
 * ```
 */
export interface StreamTuning extends KernelTuning {
  prepRows?: number;
}

const CANDIDATES: Record<"cpu" | "gpu", [number, number][]> = {
  gpu: [[16, 8], [16, 4], [8, 4]],
  cpu: [[16, 4], [8, 4]],
};

/**
 * The plans of the two kernels for a problem: `[rows kernel, anchors kernel]`.
 *
 * @example
 * ```ts
 * const [bx, ba] = planStream(2000, 2000, 200); // splits 8 and 8 under the GPU tuning
 * ```
 */
export function planStream(b: number, n: number, q: number): [StreamPlan, StreamPlan] {
  const { device, adapter } = gpu();
  const limit = device.limits.maxComputeWorkgroupStorageSize, qp = paddedQ(q);
  const fits = (c: [number, number]) => 16 * streamSharedWords({ bk: c[0], jc: c[1] }, qp) <= limit;
  const t = streamTuning;
  let [bk, jc] = CANDIDATES[adapter.tuning].find(fits) ?? [4, 4];
  if ((t.bk || t.jc) && fits([t.bk ?? bk, t.jc ?? jc])) [bk, jc] = [t.bk ?? bk, t.jc ?? jc];
  const target = t.targetGroups ?? (adapter.tuning === "cpu" ? 4 : 256);
  const rowBlocks = Math.ceil(b / 64), anchorBlocks = Math.ceil(n / 64);
  const unroll = t.unroll ?? adapter.tuning === "gpu";
  return [
    { bk, jc, unroll, splits: splitCount(rowBlocks, anchorBlocks, target, t.splits) },
    { bk, jc, unroll, splits: splitCount(anchorBlocks, rowBlocks, target, t.splits) },
  ];
}

/**
 * Back-propagates through a recorded flow with the streaming kernels. `gxK` is the gradient of the final
 * state (null = 0); `inj` adds the alignment loss's gradient on the paired probabilities.
 *
 * @example
 * ```ts
 * // the VJP of flow() and of the alignment maxima, through flowBackward():
 * // const { gA, gx0 } = streamBackward(inputs, record, upstream);
 * ```
 */
export function streamBackward(
  inp: FlowInputs,
  rec: FlowRecord,
  gxK: Tensor | null,
  inj?: Injection,
): FlowGrads {
  const [n, q] = inp.anchors.shape, b = inp.x0.shape[0];
  const steps = inp.schedule.steps, K = steps.length;
  const weighted = !!rec.lw, injected = !!inj;
  const shape: StreamShape = { b, n, q, weighted, injected };
  const [bxPlan, baPlan] = planStream(b, n, q);
  const maxHistory = Math.max(...steps.map((s) => s.history));
  const R = Math.max(2, maxHistory + 1);
  const ring = Array.from({ length: R }, () => Tensor.empty([b, q]));
  const slot = (k: number) => ring[k % R];
  if (gxK) copyBuffer(gxK.buffer, 0, slot(K).buffer, 0, b * q * 4);
  else zeroFill(slot(K));
  const gd = Tensor.empty([b, q]);
  const di = Tensor.empty([b]);
  const bxp = bxPlan.splits > 1 ? Tensor.empty([bxPlan.splits * b * q]) : undefined;
  const ga = Tensor.empty([baPlan.splits * n * q]);
  const cs = Tensor.empty([baPlan.splits * n]);
  const glw = weighted ? Tensor.empty([baPlan.splits * n]) : undefined;
  // Recomputation of Abar when the forward did not keep it (no pairs: only Abar and the merge are needed).
  const fShape = { b, n, q, weighted, paired: false };
  const fPlan = rec.ds ? undefined : planVelocity(fShape);
  const op = fPlan ? Tensor.empty([fPlan.splits * b * q]) : undefined;
  const ml = fPlan ? Tensor.empty([fPlan.splits * b * 2]) : undefined;

  const inputs = (k: number) =>
    [
      rec.xs[k],
      gd,
      inp.anchors,
      rec.sq,
      ...(rec.lw ? [rec.lw] : []),
      rec.lse,
      di,
      ...(inj ? [inp.pairs!, inj.kstar, inj.gm] : []),
    ].map((t) => t.buffer);
  const bx = rowKernel(shape, bxPlan), ba = anchorKernel(shape, baPlan);
  const prepRows = streamTuning.prepRows ?? PREP_ROWS;
  const prepGrid = linearGrid(Math.ceil(b / prepRows) * 64, 64).workgroups;
  for (let k = K - 1; k >= 0; k--) {
    const s = steps[k];
    const coef = [0, 1, 2].map((m) => (k + m < K && steps[k + m].history >= m ? steps[k + m].b[m] : 0));
    if (fPlan) {
      dispatch({
        kernel: velocityKernel(fShape, fPlan),
        buffers: [rec.xs[k], inp.anchors, rec.sq, ...(rec.lw ? [rec.lw] : []), op!, ml!].map((t) => t.buffer),
        params: params([["f", s.alpha], ["f", s.beta], ["u", 0]]),
        workgroups: [Math.ceil(b / BR), fPlan.splits],
      });
    }
    const merge = !!bxp && k + 1 < K;
    const variant = {
      merge,
      grad: true,
      c1: coef[1] !== 0,
      c2: coef[2] !== 0,
      source: rec.ds ? "stored" as const : "recomputed" as const,
      fwdSplits: fPlan?.splits ?? 1,
      bxSplits: bxPlan.splits,
      injected,
    };
    dispatch({
      kernel: prepKernel(b, q, variant, prepRows),
      buffers: [
        slot(k + 1),
        ...(merge || variant.c1 ? [slot(k + 2)] : []),
        ...(variant.c2 ? [slot(k + 3)] : []),
        ...(merge ? [bxp!] : []),
        gd,
        ...(rec.ds ? [rec.ds[k]] : [op!, ml!]),
        di,
        ...(inj ? [rec.sp!, rec.lse, inj.kstar, inj.gm] : []),
      ].map((t) => t.buffer),
      params: params([
        ["f", merge ? steps[k + 1].a : 0],
        ["f", coef[0]],
        ["f", coef[1]],
        ["f", coef[2]],
        ["u", k],
        ["u", k * b],
      ]),
      workgroups: prepGrid,
    });
    dispatch({
      kernel: bx,
      buffers: [...inputs(k), slot(k + 1).buffer, (bxp ?? slot(k)).buffer],
      params: params([["f", s.alpha], ["f", s.beta], ["f", s.a], ["f", 0], ["u", k * b], ["u", k]]),
      workgroups: [Math.ceil(b / 64), bxPlan.splits],
    });
    dispatch({
      kernel: ba,
      buffers: [...inputs(k), ga.buffer, cs.buffer, ...(glw ? [glw.buffer] : [])],
      params: params([
        ["f", s.alpha],
        ["f", s.beta],
        ["f", -(1 - s.t) * s.alpha],
        ["f", 0],
        ["u", k * b],
        ["u", k],
        ["u", k === K - 1 ? 1 : 0],
      ]),
      workgroups: [Math.ceil(n / 64), baPlan.splits],
    });
  }
  if (bxp) {
    // gx_0 = a_0 gx_1 + the last row kernel's partials.
    dispatch({
      kernel: prepKernel(b, q, {
        merge: true,
        grad: false,
        c1: false,
        c2: false,
        source: "stored",
        fwdSplits: 1,
        bxSplits: bxPlan.splits,
        injected: false,
      }, prepRows),
      buffers: [slot(0), slot(1), bxp].map((t) => t.buffer),
      params: params([["f", steps[0].a], ["f", 0], ["f", 0], ["f", 0], ["u", 0], ["u", 0]]),
      workgroups: prepGrid,
    });
  }
  const gw = inp.weights ? Tensor.empty([n]) : undefined;
  dispatch({
    kernel: finishKernel(n, q, baPlan.splits, !!gw),
    buffers: [ga, cs, inp.anchors, ...(gw ? [glw!, inp.weights!, gw] : [])].map((t) => t.buffer),
    workgroups: linearGrid(n * q + (gw ? n : 0), 256).workgroups,
  });
  let gA: Tensor;
  if (baPlan.splits === 1) gA = ga.reshape([n, q]);
  else copyBuffer(ga.buffer, 0, (gA = Tensor.empty([n, q])).buffer, 0, n * q * 4);
  const gx0 = slot(0);
  for (const t of [...ring.filter((r) => r !== gx0), gd, di, bxp, ga, cs, glw, op, ml]) t?.dispose();
  return { gA, gx0, gw };
}
