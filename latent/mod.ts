/**
 * `@lzn/latent` — the two atomic operations of Latent Zoning Networks on the tensor core: latent computation
 * (anchors -> latents by the flow-matching flow; Euler or DPM-Solver++) and latent alignment (soft
 * assignment along the reverse flow), plus decoding to the nearest anchor. Time convention of the release:
 * t = 0 is the anchor end, t = 1 the Gaussian end. All flows run on one fused online-softmax kernel and
 * back-propagate through a hand-written sweep that stores only the trajectory.
 *
 * @example
 * ```ts
 * import { tensor } from "@lzn/tensor";
 * import { alignmentLoss, computeLatents, decodeLatents } from "@lzn/latent";
 * const imageAnchors = tensor([0, 0, 2, 0, 0, 2, 2, 2], [4, 2], { requiresGrad: true });
 * const labelAnchors = tensor([-1, -1, 1, 1], [2, 2], { requiresGrad: true });
 * const z = computeLatents(imageAnchors, { seed: 0 });
 * const loss = alignmentLoss(labelAnchors, z, new Int32Array([0, 1, 0, 1]));
 * loss.backward();
 * const { nearest } = await decodeLatents(labelAnchors, z);
 * ```
 *
 * @module
 */
export { computeLatents, type ComputeLatentsOptions, forwardSchedule } from "./compute_latents.ts";
export {
  type DecodedTensors,
  decodeLatents,
  decodeLatentsTensors,
  type DecodeOptions,
  type DecodeTensorsOptions,
  nearestAnchor,
} from "./decode.ts";
export {
  alignmentLoss,
  alignmentMaxima,
  type AlignmentOptions,
  alignmentProbabilities,
} from "./alignment.ts";
export { posteriorMean, velocity, type VelocityOptions } from "./velocity.ts";
export { flow, type FlowInputs, flowStats } from "./flow.ts";
export {
  dpmForward,
  dpmOrders,
  eulerForward,
  eulerReverse,
  type FlowSchedule,
  type FlowStep,
} from "./schedule.ts";
export { latentsWithBank } from "./bank.ts";
