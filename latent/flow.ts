/**
 * The latent-flow engine: runs a {@link FlowSchedule} over an anchor set with the fused velocity kernel
 * (two dispatches per step: the online-softmax pass and the split merge + state update), and wraps it as one
 * autograd op whose backward ({@link flowBackward}) needs only what the forward stored: the trajectory
 * `x_k` and the row log-sum-exps (plus, for the streaming backward on smaller problems, the evaluations
 * `D_k`) — O(K b q) memory, never `b x N x q`.
 *
 * @module
 */
import { dispatch, isGradEnabled, linearGrid, record, Tensor } from "@lzn/tensor";
import type { FlowSchedule } from "./schedule.ts";
import { anchorNorms, logWeights, params } from "./small_kernels.ts";
import { BR, planVelocity, updateKernel, velocityKernel } from "./velocity_kernel.ts";
import { backwardKeepsEvaluations, flowBackward } from "./flow_backward.ts";

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

/** What the forward keeps for the backward. */
export interface FlowRecord {
  /** States `x_0 .. x_{K-1}` `[b, q]` (when saved; `x_0` shares the input's storage). */
  xs: Tensor[];
  /** Evaluations `D_k` `[b, q]` (kept only when the streaming backward asks for them). */
  ds?: Tensor[];
  /** Row log-sum-exp of the logits per step, `[K * b]`. */
  lse: Tensor;
  /** Logit of the paired anchor per step, `[K * b]` (pairs only). */
  sp?: Tensor;
  /** `|a_j|^2`. */
  sq: Tensor;
  /** `log w_j` (weights only). */
  lw?: Tensor;
  /** Whether every state was kept. */
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
 * Validates a flow's shapes and types (f32 anchors `[N, q]`, points `[b, q]` and weights `[N]`, i32 pairs
 * `[b]`; N, b, q >= 1) and returns `b, q, n`. Shared with the fused alignment path, which never calls {@link flowForward}.
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
  if (n === 0 || b === 0 || q === 0) {
    throw new Error(
      `lzn: latent flow needs at least one anchor, one point and q >= 1, got anchors [${anchors.shape}] and ` +
        `points [${x0.shape}]`,
    );
  }
  for (const [what, t] of [["anchors", anchors], ["points", x0], ["weights", weights]] as const) {
    if (t && t.dtype !== "f32") throw new Error(`lzn: latent flow needs f32 ${what}, got ${t.dtype}`);
  }
  if (weights && weights.size !== n) {
    throw new Error(`lzn: weights must have ${n} elements, got [${weights.shape}]`);
  }
  if (pairs && (pairs.size !== b || pairs.dtype !== "i32")) {
    throw new Error(`lzn: pairs must be i32 [${b}], got ${pairs.dtype} [${pairs.shape}]`);
  }
  return { b, q, n };
}

/**
 * Runs the flow forward. With `save`, keeps every state for {@link flowBackward} (and, with `keepD`, every
 * evaluation). Returns the final state `[b, q]` and the record (the caller disposes it).
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
export function flowForward(inp: FlowInputs, save: boolean, keepD = false): { xK: Tensor; rec: FlowRecord } {
  const { b, q, n } = checkInputs(inp);
  const steps = inp.schedule.steps, K = steps.length;
  const sq = Tensor.empty([n]);
  anchorNorms(inp.anchors, sq);
  let lw: Tensor | undefined;
  if (inp.weights) logWeights(inp.weights, lw = Tensor.empty([n]));
  const shape = { b, n, q, weighted: !!lw, paired: !!inp.pairs };
  const plan = planVelocity(shape);
  const vk = velocityKernel(shape, plan);
  const maxHistory = Math.max(...steps.map((s) => s.history));
  // States as separate tensors: a 20-step trajectory in one buffer would round up to the next size class
  // (1.5 x 2^k), which at n = 32768, q = 256 costs 128 MiB more than 20 buffers of 32 MiB.
  const xK = Tensor.empty([b, q]);
  const xs: Tensor[] = [inp.x0.detach()];
  const ring = save ? [] : [Tensor.empty([b, q]), ...(K > 2 ? [Tensor.empty([b, q])] : [])];
  const state = (k: number): Tensor => {
    if (k === 0) return xs[0];
    if (k === K) return xK;
    if (!save) return ring[k % ring.length];
    while (xs.length <= k) xs.push(Tensor.empty([b, q]));
    return xs[k];
  };
  const dCount = keepD ? K : maxHistory + 1;
  const ds = Array.from({ length: dCount }, () => Tensor.empty([b, q]));
  const dSlot = (k: number) => ds[((k % dCount) + dCount) % dCount];
  const lse = Tensor.empty([K * b]);
  const sp = inp.pairs ? Tensor.empty([K * b]) : undefined;
  const op = Tensor.empty([plan.splits * b * q]);
  const ml = Tensor.empty([plan.splits * b * 2]);
  const grid: [number, number] = [Math.ceil(b / BR), plan.splits];
  const uGrid = linearGrid(b * q, 256).workgroups;
  for (let k = 0; k < K; k++) {
    const s = steps[k];
    const xk = state(k);
    dispatch({
      kernel: vk,
      buffers: [
        xk,
        inp.anchors,
        sq,
        ...(lw ? [lw] : []),
        ...(inp.pairs ? [inp.pairs] : []),
        op,
        ml,
        ...(sp ? [sp] : []),
      ].map((t) => t.buffer),
      params: params([["f", s.alpha], ["f", s.beta], ["u", k * b]]),
      workgroups: grid,
    });
    const c0 = s.a + s.b[0] + s.b[1] + s.b[2];
    const history = [dSlot(k - 1), dSlot(k - 2)].slice(0, s.history);
    dispatch({
      kernel: updateKernel(b, q, plan.splits, s.history),
      buffers: [op, ml, xk, state(k + 1), dSlot(k), ...history, lse].map((t) => t.buffer),
      params: params([["f", s.a], ["f", c0], ["f", s.b[1]], ["f", s.b[2]], ["u", k * b]]),
      workgroups: uGrid,
    });
    flowStats.evaluations++;
  }
  for (const t of [op, ml, ...ring]) t.dispose();
  if (!save) {
    xs[0].dispose();
    xs.length = 0;
  }
  if (!keepD) { for (const t of ds) t.dispose(); }
  return { xK, rec: { xs, ds: keepD ? ds : undefined, lse, sp, sq, lw, saved: save } };
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
  for (const t of recordTensors(rec)) t.dispose();
}

/**
 * Every tensor a record holds (what an autograd node must keep).
 *
 * @example
 * ```ts
 * // record("latentFlow", out, inputs, vjp, recordTensors(rec));
 * ```
 */
export function recordTensors(rec: FlowRecord): Tensor[] {
  return [
    ...rec.xs,
    ...(rec.ds ?? []),
    rec.lse,
    rec.sq,
    ...(rec.sp ? [rec.sp] : []),
    ...(rec.lw ? [rec.lw] : []),
  ];
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
  const { xK, rec } = flowForward(inp, needGrad, needGrad && backwardKeepsEvaluations(inp));
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
