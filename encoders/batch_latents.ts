/**
 * The latent computation of encoders whose anchor set is their batch (images): spec §1.5 / §1.7 over the
 * batch's anchors, or, for inference, over an anchor bank plus each row's own anchor.
 *
 * @module
 */
import type { Tensor } from "@lzn/tensor";
import { computeLatents, latentsWithBank } from "@lzn/latent";
import type { BatchLatentOptions } from "./types.ts";

/**
 * Latents `[n, q]` of anchors `[n, q]` by an encoder's flow (`solver`, `steps`); with `opts.bank`, each row
 * over the bank plus itself (no gradient), else over the rows themselves (differentiable).
 *
 * @example
 * ```ts
 * import { tensor } from "@lzn/tensor";
 * import { batchLatents } from "@lzn/encoders";
 * const a = tensor([0, 0, 3, 3], [2, 2]);
 * const z = batchLatents(a, { solver: "dpm++3m", steps: 20 }, { tau: 1, seed: 3 });
 * ```
 */
export function batchLatents(
  anchors: Tensor,
  flow: { solver: "dpm++3m" | "euler"; steps: number },
  opts: BatchLatentOptions = {},
): Tensor {
  const flowOpts = { solver: flow.solver, steps: flow.steps, tau: opts.tau ?? 1, seed: opts.seed ?? 0 };
  return opts.bank ? latentsWithBank(anchors, opts.bank, flowOpts) : computeLatents(anchors, flowOpts);
}
