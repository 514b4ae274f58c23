/**
 * The label decoder of case study 3 (spec §1.6, §7.1): the reverse Euler flow over the label anchors
 * (K = 100, optionally class-weighted) from a latent to near an anchor, then the nearest anchor in squared
 * L2 (the release's rule; the paper's inner-product argmax differs, spec §11.2).
 *
 * @module
 */
import { z } from "zod";
import type { Tensor } from "@lzn/tensor";
import { decodeLatents } from "@lzn/latent";
import type { DecodeOptions, Decoder } from "./types.ts";

/**
 * The label decoder's config (zod).
 *
 * @example
 * ```ts
 * import { LabelDecoderConfig } from "@lzn/decoders";
 * console.log(LabelDecoderConfig.parse({}).steps); // 100
 * ```
 */
export const LabelDecoderConfig = z.object({
  /** Euler steps of the reverse label flow (the release: 100). */
  steps: z.number().int().min(1).max(10000).default(100),
}).strict();

/** The label decoder config after defaults are filled in. */
export type LabelDecoderConfig = z.output<typeof LabelDecoderConfig>;

/** Anything holding a label-anchor matrix `[C, q]` (the label encoder does). */
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
 * import { LabelEncoder } from "@lzn/encoders";
 * const labels = new LabelEncoder({ classes: 10, latentDim: 16 });
 * const decoder = new LabelDecoder(labels);
 * const z = labels.latents(Int32Array.from([0, 1, 2]), { seed: 1 });
 * console.log(await decoder.decode(z)); // Int32Array [0, 1, 2] (zones map back to their class)
 * ```
 */
export class LabelDecoder implements Decoder<Int32Array> {
  /** The validated config. */
  readonly config: LabelDecoderConfig;

  /** Decodes over `anchors.anchorSet`; throws a readable error for a bad config. */
  constructor(readonly anchors: LabelAnchors, config: z.input<typeof LabelDecoderConfig> = {}) {
    const parsed = LabelDecoderConfig.safeParse(config);
    if (!parsed.success) throw new Error(`invalid label decoder config:\n${z.prettifyError(parsed.error)}`);
    this.config = parsed.data;
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
  async decode(latents: Tensor, opts: DecodeOptions = {}): Promise<Int32Array> {
    if (latents.ndim !== 2 || latents.shape[1] !== this.latentDim) {
      throw new Error(`label decoder: latents must be [n, ${this.latentDim}], got [${latents.shape.join(", ")}]`);
    }
    if (opts.weights && (opts.weights.ndim !== 1 || opts.weights.shape[0] !== this.classes)) {
      throw new Error(`label decoder: weights must be [${this.classes}], got [${opts.weights.shape.join(", ")}]`);
    }
    const { endpoints, nearest } = await decodeLatents(this.anchors.anchorSet, latents, {
      steps: this.config.steps,
      weights: opts.weights,
    });
    endpoints.dispose();
    return nearest;
  }
}
