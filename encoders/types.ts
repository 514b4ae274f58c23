/**
 * What every encoder is: data in, anchors out (and, through the latent flow, latents). The typed graph in
 * `@lzn/tasks` only relies on this interface, so a new modality is a new class implementing it.
 *
 * @module
 */
import type { Tensor } from "@lzn/tensor";

/**
 * A batch of images on the host: `count` images of `channels x height x width` floats in [-1, 1],
 * row-major (NCHW), image after image — the layout `@lzn/data`'s `batches` yields.
 *
 * @example
 * ```ts
 * import type { ImageBatch } from "@lzn/encoders";
 * const blank: ImageBatch = { images: new Float32Array(2 * 784).fill(-1), count: 2 };
 * ```
 */
export interface ImageBatch {
  /** `count * channels * height * width` floats in [-1, 1]. */
  images: Float32Array;
  /** Number of images. */
  count: number;
}

/**
 * Class labels, one integer in `[0, classes)` per item.
 *
 * @example
 * ```ts
 * import type { Labels } from "@lzn/encoders";
 * const labels: Labels = Int32Array.from([3, 1, 4]);
 * ```
 */
export type Labels = Int32Array;

/**
 * Options of {@link Encoder.latents}.
 *
 * @example
 * ```ts
 * import { LabelEncoder, type LatentOptions } from "@lzn/encoders";
 * const enc = new LabelEncoder({ classes: 10, latentDim: 8 });
 * const centre: LatentOptions = { tau: 0 };
 * const sample: LatentOptions = { tau: 1, seed: 3 };
 * const z0 = enc.latents(Int32Array.from([2]), centre); // the zone centre of label 2
 * const z1 = enc.latents(Int32Array.from([2]), sample); // a random point of that zone
 * ```
 */
export interface LatentOptions {
  /** Scale of the prior noise (spec §1.8): 0 gives the zone centre, 1 a random point of the zone. Default 1. */
  tau?: number;
  /** Seed of the prior noise; the same seed gives the same latents. Default 0. */
  seed?: number;
}

/**
 * An encoder: maps a batch of its modality to anchors `[n, q]` (differentiable in its parameters), and to
 * latents `[n, q]` by the modality's latent computation (spec §2: which flow, solver and anchor set).
 *
 * @example
 * ```ts
 * import type { Encoder, Labels } from "@lzn/encoders";
 * function anchorsOf(enc: Encoder<Labels>, labels: Labels) {
 *   return enc.anchors(labels); // [labels.length, enc.latentDim]
 * }
 * ```
 */
export interface Encoder<I> {
  /** Latent dimension q. */
  readonly latentDim: number;
  /** Raw anchors `[n, q]` of a batch (no normalisation). */
  anchors(input: I): Tensor;
  /** Latents `[n, q]`: samples of each item's latent zone (spec §1.5–§1.8). */
  latents(input: I, opts?: LatentOptions): Tensor;
  /** Number of items in a batch. */
  count(input: I): number;
}

/**
 * An encoder whose anchors form one fixed set (the label anchors `A^L`): items are indices into that set,
 * which is what an alignment into its flow needs (spec §4: the pairs `k_i`).
 *
 * @example
 * ```ts
 * import type { AnchorSetEncoder, Labels } from "@lzn/encoders";
 * function setSize(enc: AnchorSetEncoder<Labels>) {
 *   return enc.anchorSet.shape[0]; // number of classes
 * }
 * ```
 */
export interface AnchorSetEncoder<I> extends Encoder<I> {
  /** The anchor matrix `[N, q]` (a parameter). */
  readonly anchorSet: Tensor;
  /** Index into {@link AnchorSetEncoder.anchorSet} of every item. */
  indices(input: I): Int32Array;
}

/**
 * Options of {@link BatchEncoder.latentsOf}: the latent options plus an optional anchor bank.
 *
 * @example
 * ```ts
 * import { ImageEncoder, type BatchLatentOptions } from "@lzn/encoders";
 * import { tensor } from "@lzn/tensor";
 * const enc = new ImageEncoder({ latentDim: 8 });
 * const bank = tensor(new Float32Array(16 * 8).map((_, i) => Math.sin(i)), [16, 8]);
 * const opts: BatchLatentOptions = { tau: 0, bank };
 * const z = enc.latentsOf(enc.anchors({ images: new Float32Array(784), count: 1 }), opts); // [1, 8]
 * ```
 */
export interface BatchLatentOptions extends LatentOptions {
  /**
   * An anchor bank `[M, q]` (e.g. anchors of training images stored with a model). With a bank, the latent
   * of row i is computed against the bank plus row i's own anchor, so it does not depend on the other rows:
   * inference on one image gives the same latent as inside any batch. Without one, the rows' anchors are the
   * anchor set (the minibatch approximation of training, spec §8).
   */
  bank?: Tensor;
}

/**
 * An encoder whose latent flow runs over the anchors of a batch (images, spec §1.5 and §1.7), so the latents
 * of already computed anchors can be asked for: training computes anchors once and uses them twice.
 *
 * @example
 * ```ts
 * import type { BatchEncoder, ImageBatch } from "@lzn/encoders";
 * function centres(enc: BatchEncoder<ImageBatch>, batch: ImageBatch) {
 *   return enc.latentsOf(enc.anchors(batch), { tau: 0 }); // zone centres over the batch
 * }
 * ```
 */
export interface BatchEncoder<I> extends Encoder<I> {
  /** Latents `[n, q]` of anchors `[n, q]` (differentiable in them). */
  latentsOf(anchors: Tensor, opts?: BatchLatentOptions): Tensor;
}
