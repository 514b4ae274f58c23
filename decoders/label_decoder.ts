/**
 * The label decoder of case study 3 (spec §1.6, §7.1): the reverse Euler flow over the label anchors
 * (K = 100, optionally class-weighted) from a latent to near an anchor, then the nearest anchor in squared
 * L2 (the release's rule; the paper's inner-product argmax differs, spec §11.2).
 *
 * @module
 */
import { z } from "zod";
import { parseConfig, type Tensor } from "@lzn/tensor";
import { decodeLatents } from "@lzn/latent";
import type { Decoder, DecoderOptions } from "./types.ts";

/**
 * The label decoder's config, defaults filled in.
 *
 * @example
 * ```ts
 * import { LabelDecoder, LabelDecoderConfig } from "@lzn/decoders";
 * import { tensor } from "@lzn/tensor";
 * const cfg: LabelDecoderConfig = LabelDecoderConfig.parse({ steps: 50 });
 * const decoder = new LabelDecoder({ anchorSet: tensor([-1, 1], [2, 1]) }, cfg);
 * ```
 */
export interface LabelDecoderConfig {
  /** Euler steps of the reverse label flow (default 100, as the release). */
  steps: number;
}

/**
 * The label decoder's config schema (zod).
 *
 * @example
 * ```ts
 * import { LabelDecoderConfig } from "@lzn/decoders";
 * console.log(LabelDecoderConfig.parse({}).steps); // 100
 * ```
 */
export const LabelDecoderConfig: z.ZodType<LabelDecoderConfig, Partial<LabelDecoderConfig>> = z.object({
  steps: z.number().int().min(1).max(10000).default(100),
}).strict();

/**
 * Anything holding a label-anchor matrix `[C, q]` (the label encoder does).
 *
 * @example
 * ```ts
 * import { type LabelAnchors, LabelDecoder } from "@lzn/decoders";
 * import { LabelEncoder } from "@lzn/encoders";
 * import { tensor } from "@lzn/tensor";
 * const fixed: LabelAnchors = { anchorSet: tensor([-1, -1, 1, 1], [2, 2]) };
 * const learned: LabelAnchors = new LabelEncoder({ classes: 10, latentDim: 2 }); // decodes over its live A^L
 * const decoders = [new LabelDecoder(fixed), new LabelDecoder(learned)];
 * ```
 */
export interface LabelAnchors {
  /** The anchor matrix `[C, q]`; read at every decode, so in-place updates (training, EMA swaps) apply. */
  readonly anchorSet: Tensor;
}

/**
 * Decodes latents to class labels.
 *
 * @example
 * ```ts
 * import { LabelDecoder } from "@lzn/decoders";
 * import { tensor } from "@lzn/tensor";
 * const anchorSet = tensor([-3, 0, 3, 0, 0, 3], [3, 2]); // three label anchors in 2-D
 * const decoder = new LabelDecoder({ anchorSet });
 * const z = tensor([-2.5, 0.4, 0.1, 2.2], [2, 2]);
 * console.log(await decoder.decode(z)); // Int32Array [0, 2]
 * ```
 */
export class LabelDecoder implements Decoder<Int32Array> {
  /** The validated config. */
  readonly config: LabelDecoderConfig;

  /** Decodes over `anchors.anchorSet`; throws a readable error for a bad config. */
  constructor(readonly anchors: LabelAnchors, config: Partial<LabelDecoderConfig> = {}) {
    this.config = parseConfig(LabelDecoderConfig, config, "label decoder config");
  }

  /** Latent dimension q. */
  get latentDim(): number {
    return this.anchors.anchorSet.shape[1];
  }

  /** Number of classes C. */
  get classes(): number {
    return this.anchors.anchorSet.shape[0];
  }

  /** Class of each latent row: nearest label anchor after the reverse flow. */
  async decode(latents: Tensor, opts: DecoderOptions = {}): Promise<Int32Array> {
    if (latents.ndim !== 2 || latents.shape[1] !== this.latentDim) {
      throw new Error(
        `label decoder: latents must be [n, ${this.latentDim}], got [${latents.shape.join(", ")}]`,
      );
    }
    if (opts.weights && (opts.weights.ndim !== 1 || opts.weights.shape[0] !== this.classes)) {
      throw new Error(
        `label decoder: weights must be [${this.classes}], got [${opts.weights.shape.join(", ")}]`,
      );
    }
    const { endpoints, nearest } = await decodeLatents(this.anchors.anchorSet, latents, {
      steps: this.config.steps,
      weights: opts.weights,
    });
    endpoints.dispose();
    return nearest;
  }
}
