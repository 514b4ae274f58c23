/**
 * Decoding (spec §1.6): the reverse Euler flow (Gaussian end t = 1 -> anchor end) carries each latent to
 * (near) an anchor; the item is the nearest anchor in squared L2 (the release's label decoder, §11.2).
 *
 * @module
 */
import { bindings, dispatch, isGradEnabled, kernel, linearGrid, noGrad, Tensor } from "@lzn/tensor";
import { disposeRecord, flow, flowForward } from "./flow.ts";
import { eulerReverse } from "./schedule.ts";
import { anchorNorms, nearestKernel, params, rowGrid } from "./small_kernels.ts";

/**
 * Options of {@link decodeLatents}.
 *
 * @example
 * ```ts
 * import { tensor } from "@lzn/tensor";
 * import { decodeLatents, type DecodeOptions } from "@lzn/latent";
 * const anchors = tensor([-1, 1], [2, 1]);
 * const opts: DecodeOptions = { steps: 50, weights: tensor([0.9, 0.1], [2]) };
 * const { nearest } = await decodeLatents(anchors, tensor([0.4], [1, 1]), opts);
 * ```
 */
export interface DecodeOptions {
  /** Reverse Euler steps (default 100, the release's label decoder; spec §2). */
  steps?: number;
  /** Anchor weights `[N]` (class frequencies; default uniform). */
  weights?: Tensor;
}

/**
 * Options of {@link decodeLatentsTensors}.
 *
 * @example
 * ```ts
 * import { tensor } from "@lzn/tensor";
 * import { decodeLatentsTensors, type DecodeTensorsOptions } from "@lzn/latent";
 * const opts: DecodeTensorsOptions = { steps: 10, assignments: true };
 * const { assignments } = decodeLatentsTensors(tensor([-1, 1], [2, 1]), tensor([0.2], [1, 1]), opts);
 * console.log(assignments?.shape); // [10, 1, 2]
 * ```
 */
export interface DecodeTensorsOptions extends DecodeOptions {
  /** Also return the soft assignments `[K, b, N]` recorded at the start of every step (small N only). */
  assignments?: boolean;
}

/**
 * In-graph decoding result.
 *
 * @example
 * ```ts
 * import { tensor } from "@lzn/tensor";
 * import { type DecodedTensors, decodeLatentsTensors } from "@lzn/latent";
 * const anchors = tensor([-1, 1], [2, 1], { requiresGrad: true });
 * const out: DecodedTensors = decodeLatentsTensors(anchors, tensor([0.3, -0.6], [2, 1]));
 * out.endpoints.sum().backward(); // anchors.grad
 * console.log(await out.nearest.toTypedArray()); // Int32Array [1, 0]
 * ```
 */
export interface DecodedTensors {
  /** Flow endpoints `[b, q]` (differentiable w.r.t. anchors, latents and weights). */
  endpoints: Tensor;
  /** Nearest anchor per row, i32 `[b]`. */
  nearest: Tensor;
  /** Normalised soft assignments `P_k[i, j]`, `[K, b, N]` (when asked for). */
  assignments?: Tensor;
}

function checkDecode(anchors: Tensor, latents: Tensor): void {
  if (anchors.ndim !== 2 || latents.ndim !== 2 || anchors.shape[1] !== latents.shape[1]) {
    throw new Error(
      `lzn: decode needs anchors [N, q] and latents [b, q], got [${anchors.shape}] and [${latents.shape}]`,
    );
  }
  if (anchors.shape[0] === 0 || anchors.shape[1] === 0) {
    throw new Error(`lzn: decode needs at least one anchor of q >= 1, got [${anchors.shape}]`);
  }
  for (const [what, t] of [["anchors", anchors], ["latents", latents]] as const) {
    if (t.dtype !== "f32") throw new Error(`lzn: decode needs f32 ${what}, got ${t.dtype}`);
  }
}

/**
 * Nearest anchor (squared L2, first index on ties) of each row of `points`, as an i32 tensor. No readback.
 * A row with a NaN has no nearest anchor and gets index 0: check the points first where they may diverge.
 *
 * @example
 * ```ts
 * import { tensor } from "@lzn/tensor";
 * import { nearestAnchor } from "@lzn/latent";
 * const idx = nearestAnchor(tensor([0.9, -2], [2, 1]), tensor([-1, 1], [2, 1])); // [1, 0]
 * ```
 */
export function nearestAnchor(points: Tensor, anchors: Tensor): Tensor {
  checkDecode(anchors, points);
  const [b, q] = points.shape, n = anchors.shape[0];
  const out = Tensor.empty([b], "i32");
  dispatch({
    kernel: nearestKernel(b, n, q),
    buffers: [points.buffer, anchors.buffer, out.buffer],
    workgroups: rowGrid(Math.ceil(b / 16)),
  });
  return out;
}

/**
 * Decoding as tensors, for use inside a graph: endpoints of the reverse flow, nearest anchors and,
 * optionally, the soft assignments of every step.
 *
 * @example
 * ```ts
 * import { tensor } from "@lzn/tensor";
 * import { decodeLatentsTensors } from "@lzn/latent";
 * const A = tensor([-1, 1], [2, 1]);
 * const { endpoints, nearest } = decodeLatentsTensors(A, tensor([0.3, -0.2], [2, 1]), { steps: 20 });
 * ```
 */
export function decodeLatentsTensors(
  anchors: Tensor,
  latents: Tensor,
  opts: DecodeTensorsOptions = {},
): DecodedTensors {
  checkDecode(anchors, latents);
  const schedule = eulerReverse(opts.steps ?? 100);
  const inp = { anchors, x0: latents, schedule, weights: opts.weights };
  if (!opts.assignments) {
    const endpoints = flow(inp);
    return { endpoints, nearest: nearestAnchor(endpoints, anchors) };
  }
  // Assignments come from the stored trajectory: run the forward with every slot kept.
  const diff = isGradEnabled() && [anchors, latents, opts.weights].some((t) => t?.requiresGrad);
  const endpoints = diff ? flow(inp) : undefined;
  const { xK, rec } = flowForward(inp, true);
  const assignments = softAssignments(anchors, rec.xs, rec.lse, rec.lw, schedule.steps, latents.shape[0]);
  const end = endpoints ?? xK;
  if (endpoints) xK.dispose();
  disposeRecord(rec);
  return { endpoints: end, nearest: nearestAnchor(end, anchors), assignments };
}

function softAssignments(
  anchors: Tensor,
  xs: Tensor[],
  lse: Tensor,
  lw: Tensor | undefined,
  steps: { alpha: number; beta: number }[],
  b: number,
): Tensor {
  const [n, q] = anchors.shape, K = steps.length;
  const sq = Tensor.empty([n]);
  anchorNorms(anchors, sq);
  const out = Tensor.empty([K, b, n]);
  const decls: [string, "read" | "read_write", string][] = [
    ["XS", "read", "f32"],
    ["A", "read", "f32"],
    ["SQ", "read", "f32"],
    ["LSE", "read", "f32"],
    ...(lw ? [["LW", "read", "f32"] as [string, "read", string]] : []),
    ["P", "read_write", "f32"],
  ];
  // Same fma chain and logit expression as the velocity kernel, so exp(S - lse) matches the probabilities
  // the flow used. One dispatch per step (each state is its own tensor).
  const wgsl = `${bindings(decls)}
struct Params { alpha: f32, beta: f32, step: u32, p0: u32 }
@group(0) @binding(${decls.length}) var<uniform> u: Params;
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let e = gid.x + gid.y * nwg.x * 256u;
  if (e >= ${b * n}u) { return; }
  let j = e % ${n}u;
  let i = e / ${n}u;
  var s = 0.0;
  for (var c = 0u; c < ${q}u; c++) { s = fma(XS[i * ${q}u + c], A[j * ${q}u + c], s); }
  let logit = fma(u.alpha, s, u.beta * SQ[j])${lw ? " + LW[j]" : ""};
  P[u.step * ${b * n}u + e] = exp(logit - LSE[u.step * ${b}u + i]);
}`;
  const k = kernel({ name: "latent_assignments", wgsl, storage: decls.map((d) => d[1]), uniform: 16 });
  steps.forEach((s, step) =>
    dispatch({
      kernel: k,
      buffers: [xs[step], anchors, sq, lse, ...(lw ? [lw] : []), out].map((t) => t.buffer),
      params: params([["f", s.alpha], ["f", s.beta], ["u", step]]),
      workgroups: linearGrid(b * n, 256).workgroups,
    })
  );
  sq.dispose();
  return out;
}

/**
 * Decodes latents: reverse Euler flow over the anchors (optionally weighted), then the nearest anchor of
 * each endpoint. One readback (the indices). This is inference: it records no autograd graph even when the
 * anchors are trainable parameters, so the returned endpoints are detached (use {@link decodeLatentsTensors}
 * inside a differentiable graph).
 *
 * @example
 * ```ts
 * import { tensor } from "@lzn/tensor";
 * import { decodeLatents } from "@lzn/latent";
 * const labelAnchors = tensor([-1, 1], [2, 1]);
 * const { endpoints, nearest } = await decodeLatents(labelAnchors, tensor([0.4, -1.3], [2, 1]));
 * console.log(nearest); // Int32Array [1, 0]
 * endpoints.dispose();
 * ```
 */
export async function decodeLatents(
  anchors: Tensor,
  latents: Tensor,
  opts: DecodeOptions = {},
): Promise<{ endpoints: Tensor; nearest: Int32Array }> {
  // Without noGrad a trainable anchor set would make every evaluation batch keep a backward graph (and
  // its trajectory buffers) alive until the endpoints are disposed.
  const { endpoints, nearest } = noGrad(() => decodeLatentsTensors(anchors, latents, opts));
  const idx = (await nearest.toTypedArray()) as Int32Array;
  nearest.dispose();
  return { endpoints, nearest: Int32Array.from(idx) };
}
