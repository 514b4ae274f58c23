/**
 * What every decoder is: latents in, data out. The typed graph in `@lzn/tasks` only relies on this
 * interface.
 *
 * @module
 */
import type { Tensor } from "@lzn/tensor";

/**
 * Options of {@link Decoder.decode}.
 *
 * @example
 * ```ts
 * import { type DecoderOptions, LabelDecoder } from "@lzn/decoders";
 * import { tensor } from "@lzn/tensor";
 * const decoder = new LabelDecoder({ anchorSet: tensor([-1, 1], [2, 1]) });
 * const opts: DecoderOptions = { weights: tensor([0.8, 0.2], [2]) }; // class frequencies
 * const labels = await decoder.decode(tensor([0.1], [1, 1]), opts);
 * ```
 */
export interface DecoderOptions {
  /**
   * Non-negative weights of the decoder's anchors `[N]` (spec §4.7: class frequencies in training; uniform,
   * i.e. omitted, at test).
   */
  weights?: Tensor;
}

/**
 * A decoder: maps latents `[n, q]` back to data of its modality.
 *
 * @example
 * ```ts
 * import type { Decoder } from "@lzn/decoders";
 * import type { Tensor } from "@lzn/tensor";
 * async function decodeAll(dec: Decoder<Int32Array>, z: Tensor) {
 *   return await dec.decode(z); // one class per row of z
 * }
 * ```
 */
export interface Decoder<O> {
  /** Latent dimension q. */
  readonly latentDim: number;
  /** Decodes latents `[n, q]`; does not dispose them. */
  decode(latents: Tensor, opts?: DecoderOptions): Promise<O>;
}
