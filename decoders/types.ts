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

/**
 * Options of {@link TrainableDecoder.loss}: the condition of each item and the seed of the loss's noise.
 *
 * @example
 * ```ts
 * import type { DecoderLossOptions } from "@lzn/decoders";
 * const opts: DecoderLossOptions = { labels: Int32Array.from([3, 1]), seed: 7 };
 * ```
 */
export interface DecoderLossOptions {
  /** Latents `[B, q]` the decoder is conditioned on (decoders with a latent input). */
  latents?: Tensor;
  /** Class of every item (class-conditional decoders). */
  labels?: Int32Array;
  /** Seed of the loss's own noise (e.g. the RF loss's times and image noise). */
  seed: number;
}

/**
 * A decoder with a training loss of its own (the RF image decoder's flow-matching loss, spec §5.4): data of
 * type `D` in, a differentiable scalar out.
 *
 * @example
 * ```ts
 * import type { TrainableDecoder } from "@lzn/decoders";
 * import type { Tensor } from "@lzn/tensor";
 * function rf(dec: TrainableDecoder<unknown, Tensor>, images: Tensor, seed: number) {
 *   return dec.loss(images, { seed }); // scalar
 * }
 * ```
 */
export interface TrainableDecoder<O, D> extends Decoder<O> {
  /** The scalar loss of a batch; call inside a `scope`. */
  loss(data: D, opts: DecoderLossOptions): Tensor;
}
