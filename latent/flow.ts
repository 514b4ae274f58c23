/**
 * The latent-flow engine: runs a {@link FlowSchedule} over an anchor set with the fused velocity kernel
 * (two dispatches per step: the online-softmax pass and the split merge + state update), and wraps it as one
 * autograd op whose backward ({@link flowBackward}) needs only what the forward stored:
 * the trajectory `x_k`, the evaluations `D_k` and the row log-sum-exps — O(K b q) memory, never `b x N x q`.
 *
 * @module
 */
import { copyBuffer, dispatch, isGradEnabled, linearGrid, record, Tensor } from "@lzn/tensor";
import type { FlowSchedule } from "./schedule.ts";
import { anchorNorms, logWeights, params } from "./small_kernels.ts";
import { BR, planVelocity, updateKernel, velocityKernel } from "./velocity_kernel.ts";
import { flowBackward } from "./flow_backward.ts";

/**
 * What a flow runs on.
 *
 * @example
 * ```ts
 * import { tensor } from "@lzn/tensor";
 * import { eulerReverse, flow, type FlowInputs } from "@lzn/latent";
 * const inputs: FlowInputs = {
 *   anchors: tensor([-1, 1], [2, 1]),
 *   x0: tensor([0.2, -0.4], [2, 1]),
 *   schedule: eulerReverse(20),
 *   weights: tensor([1, 1], [2]),
 * };
 * const endpoints = flow(inputs); // [2, 1], near the anchors
 * ```
 */
export interface FlowInputs {
  /** Anchor set `[N, q]`. */
  anchors: Tensor;
  /** Initial points `[b, q]`. */
  x0: Tensor;
  /** The solver's steps. */
  schedule: FlowSchedule;
  /** Optional anchor weights `[N]` (enter the logits as `log w`). */
  weights?: Tensor;
  /** Optional paired anchor per row (i32 `[b]`): its logit is captured at every step (alignment). */
  pairs?: Tensor;
}

/** What the forward keeps for the backward (all flat f32 tensors). */
export interface FlowRecord {
  /** States: slot k at element offset `k b q` (all K+1 slots when saved, else a ring of 2). */
  xs: Tensor;
  /** Evaluations `D_k` (all K when saved, else a ring of 3). */
  ds: Tensor;
  /** Row log-sum-exp of the logits per step, `[K * b]`. */
  lse: Tensor;
  /** Logit of the paired anchor per step, `[K * b]` (pairs only). */
  sp?: Tensor;
  /** `|a_j|^2`. */
  sq: Tensor;
  /** `log w_j` (weights only). */
  lw?: Tensor;
  /** Whether every slot was kept. */
  saved: boolean;
}

/**
 * Counters for tests: velocity evaluations (NFE) since the last reset.
 *
 * @example
 * ```ts
 * import { flowStats } from "@lzn/latent";
 * const before = flowStats.evaluations;
 * // ... run a flow of K steps ...
 * console.log(flowStats.evaluations - before); // K
 * ```
 */
export const flowStats = { evaluations: 0 };

/**
 * Validates a flow's shapes (anchors `[N, q]`, points `[b, q]`, weights `[N]`, i32 pairs `[b]`) and returns
 * `b, q, n`. Shared with the fused alignment path, which never calls {@link flowForward}.
 *
 * @example
 * ```ts
 * import { tensor } from "@lzn/tensor";
 * import { eulerReverse } from "@lzn/latent";
 * const { b, q, n } = checkInputs({ anchors: tensor([-1, 1], [2, 1]), x0: tensor([0], [1, 1]), schedule: eulerReverse(4) });
 * ```
 */
export function checkInputs(inp: FlowInputs): { b: number; q: number; n: number } {
  const { anchors, x0, weights, pairs } = inp;
  if (anchors.ndim !== 2 || x0.ndim !== 2 || anchors.shape[1] !== x0.shape[1]) {
    throw new Error(
      `lzn: latent flow needs anchors [N, q] and points [b, q], got [${anchors.shape}] and [${x0.shape}]`,
    );
  }
  const [n, q] = anchors.shape, b = x0.shape[0];
  if (weights && weights.size !== n) {
    throw new Error(`lzn: weights must have ${n} elements, got [${weights.shape}]`);
  }
  if (pairs && (pairs.size !== b || pairs.dtype !== "i32")) {
    throw new Error(`lzn: pairs must be i32 [${b}], got ${pairs.dtype} [${pairs.shape}]`);
  }
  return { b, q, n };
}

/**
 * Runs the flow forward. With `save`, keeps every state and evaluation for {@link flowBackward}.
 * Returns the final state `[b, q]` and the record (the caller disposes it).
 *
 * @example
 * ```ts
 * import { tensor } from "@lzn/tensor";
 * import { eulerReverse } from "@lzn/latent";
 * const A = tensor([-1, 1], [2, 1]);
 * const { xK, rec } = flowForward({ anchors: A, x0: tensor([0.3], [1, 1]), schedule: eulerReverse(20) }, false);
 * disposeRecord(rec);
 * ```
 */
export function flowForward(inp: FlowInputs, save: boolean): { xK: Tensor; rec: FlowRecord } {
  const { b, q, n } = checkInputs(inp);
  const steps = inp.schedule.steps, K = steps.length, bq = b * q;
  const sq = Tensor.empty([n]);
  anchorNorms(inp.anchors, sq);
  let lw: Tensor | undefined;
  if (inp.weights) logWeights(inp.weights, lw = Tensor.empty([n]));
  const shape = { b, n, q, weighted: !!lw, paired: !!inp.pairs };
  const plan = planVelocity(shape);
  const vk = velocityKernel(shape, plan);
  const maxHistory = Math.max(...steps.map((s) => s.history));
  const xs = Tensor.empty([(save ? K + 1 : 2) * bq]);
  const ds = Tensor.empty([(save ? K : maxHistory + 1) * bq]);
  const lse = Tensor.empty([K * b]);
  const sp = inp.pairs ? Tensor.empty([K * b]) : undefined;
  const op = Tensor.empty([plan.splits * bq]);
  const ml = Tensor.empty([plan.splits * b * 2]);
  const xSlot = (k: number) => (save ? k : k % 2) * bq;
  const dSlot = (k: number) => (save ? k : k % (maxHistory + 1)) * bq;
  copyBuffer(inp.x0.buffer, 0, xs.buffer, 0, bq * 4);
  const vBuffers = [
    xs,
    inp.anchors,
    sq,
    ...(lw ? [lw] : []),
    ...(inp.pairs ? [inp.pairs] : []),
    op,
    ml,
    ...(sp ? [sp] : []),
  ]
    .map((t) => t.buffer);
  const uGrid = linearGrid(bq, 256).workgroups;
  for (let k = 0; k < K; k++) {
    const s = steps[k];
    dispatch({
      kernel: vk,
      buffers: vBuffers,
      params: params([["f", s.alpha], ["f", s.beta], ["u", xSlot(k)], ["u", k * b]]),
      workgroups: [Math.ceil(b / BR), plan.splits],
    });
    const c0 = s.a + s.b[0] + s.b[1] + s.b[2];
    dispatch({
      kernel: updateKernel(b, q, plan.splits, s.history),
      buffers: [op.buffer, ml.buffer, xs.buffer, ds.buffer, lse.buffer],
      params: params([
        ["f", s.a],
        ["f", c0],
        ["f", s.b[1]],
        ["f", s.b[2]],
        ["u", xSlot(k)],
        ["u", xSlot(k + 1)],
        ["u", dSlot(k)],
        ["u", dSlot(Math.max(k - 1, 0))],
        ["u", dSlot(Math.max(k - 2, 0))],
        ["u", k * b],
        ["u", 0],
        ["u", 0],
      ]),
      workgroups: uGrid,
    });
    flowStats.evaluations++;
  }
  op.dispose();
  ml.dispose();
  const xK = Tensor.empty([b, q]);
  copyBuffer(xs.buffer, xSlot(K) * 4, xK.buffer, 0, bq * 4);
  return { xK, rec: { xs, ds, lse, sp, sq, lw, saved: save } };
}

/**
 * Releases a record's tensors.
 *
 * @example
 * ```ts
 * // const { xK, rec } = flowForward(inputs, false);
 * // disposeRecord(rec);
 * ```
 */
export function disposeRecord(rec: FlowRecord): void {
  for (const t of [rec.xs, rec.ds, rec.lse, rec.sp, rec.sq, rec.lw]) t?.dispose();
}

function recordTensors(rec: FlowRecord): Tensor[] {
  return [rec.xs, rec.ds, rec.lse, rec.sq, ...(rec.sp ? [rec.sp] : []), ...(rec.lw ? [rec.lw] : [])];
}

/**
 * The flow as one differentiable op: `x_K` w.r.t. the anchors, the initial points and the weights. The
 * backward recomputes the softmax of every step from the stored trajectory (spec §1.4, §3.1).
 *
 * @example
 * ```ts
 * import { tensor } from "@lzn/tensor";
 * import { eulerForward, flow } from "@lzn/latent";
 * const A = tensor([0, 0, 1, 1], [2, 2], { requiresGrad: true });
 * const z = flow({ anchors: A, x0: A, schedule: eulerForward(20, 1e-4) });
 * z.sum().backward(); // A.grad: both paths (anchor set and starting points)
 * ```
 */
export function flow(inp: FlowInputs): Tensor {
  const diff = [inp.anchors, inp.x0, ...(inp.weights ? [inp.weights] : [])];
  const needGrad = isGradEnabled() && diff.some((t) => t.requiresGrad);
  const { xK, rec } = flowForward(inp, needGrad);
  if (!needGrad) {
    disposeRecord(rec);
    return xK;
  }
  const saved = [...recordTensors(rec), ...(inp.pairs ? [inp.pairs] : [])];
  record("latentFlow", xK, diff, (g) => {
    const r = flowBackward(inp, rec, g);
    return inp.weights ? [r.gA, r.gx0, r.gw!] : [r.gA, r.gx0];
  }, saved);
  disposeRecord(rec); // the node holds its own references now
  return xK;
}
