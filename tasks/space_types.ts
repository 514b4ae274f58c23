/**
 * The types behind the typed latent graph: what a modality registers, which modality names have which
 * parts, and the data types that flow through them. `LatentSpace` (space.ts) uses them to make an unknown name
 * or a missing part a compile-time error when the names are literals.
 *
 * @module
 */
import type { Tensor } from "@lzn/tensor";
import type { AnchorSetEncoder, BatchEncoder, Encoder } from "@lzn/encoders";
import type { Decoder, TrainableDecoder } from "@lzn/decoders";

/**
 * What a modality registers: an encoder, a decoder, or both.
 *
 * @example
 * ```ts
 * import { LabelDecoder } from "@lzn/decoders";
 * import { LabelEncoder } from "@lzn/encoders";
 * import { LatentSpace, type Modality } from "@lzn/tasks";
 * const encoder = new LabelEncoder({ classes: 10, latentDim: 8 });
 * const label: Modality = { encoder, decoder: new LabelDecoder(encoder) };
 * const space = new LatentSpace(8).register("label", label);
 * ```
 */
export interface Modality {
  /** Maps data of the modality to anchors and latents (a source of tasks, a target of alignment). */
  // deno-lint-ignore no-explicit-any
  encoder?: Encoder<any>;
  /** Maps latents back to data of the modality (the target of tasks). */
  // deno-lint-ignore no-explicit-any
  decoder?: Decoder<any>;
}

// deno-lint-ignore no-explicit-any
type AnyOf<T> = T extends "encoder" ? Encoder<any> : T extends "decoder" ? Decoder<any> : never;
type Having<M, Part extends string, Shape> =
  & { [K in keyof M]: M[K] extends { [P in Part]: Shape } ? K : never }[keyof M]
  & string;

/**
 * Names of the modalities of `M` that have an encoder.
 *
 * @example
 * ```ts
 * import { LabelDecoder } from "@lzn/decoders";
 * import { ImageEncoder, LabelEncoder } from "@lzn/encoders";
 * import type { EncoderNames } from "@lzn/tasks";
 * type Parts = {
 *   image: { encoder: ImageEncoder };
 *   label: { encoder: LabelEncoder; decoder: LabelDecoder };
 *   out: { decoder: LabelDecoder };
 * };
 * const from: EncoderNames<Parts> = "image"; // "image" | "label"
 * ```
 */
export type EncoderNames<M> = Having<M, "encoder", AnyOf<"encoder">>;

/**
 * Names of the modalities of `M` that have a decoder.
 *
 * @example
 * ```ts
 * import { LabelDecoder } from "@lzn/decoders";
 * import { ImageEncoder, LabelEncoder } from "@lzn/encoders";
 * import type { DecoderNames } from "@lzn/tasks";
 * type Parts = { image: { encoder: ImageEncoder }; label: { encoder: LabelEncoder; decoder: LabelDecoder } };
 * const to: DecoderNames<Parts> = "label"; // the only modality with a decoder
 * ```
 */
export type DecoderNames<M> = Having<M, "decoder", AnyOf<"decoder">>;

/**
 * Names of the modalities of `M` whose encoder computes latents over the anchors of its batch (images), so
 * that latents of already computed anchors can be asked for.
 *
 * @example
 * ```ts
 * import { ImageEncoder, LabelEncoder } from "@lzn/encoders";
 * import type { BatchEncoderNames } from "@lzn/tasks";
 * type Parts = { image: { encoder: ImageEncoder }; label: { encoder: LabelEncoder } };
 * const from: BatchEncoderNames<Parts> = "image"; // the label flow runs over the fixed label anchors
 * ```
 */
// deno-lint-ignore no-explicit-any
export type BatchEncoderNames<M> = Having<M, "encoder", BatchEncoder<any>>;

/**
 * Names of the modalities of `M` whose decoder has a training loss of its own (the RF image decoder).
 *
 * @example
 * ```ts
 * import { RfImageDecoder } from "@lzn/decoders";
 * import { ImageEncoder } from "@lzn/encoders";
 * import type { TrainableDecoderNames } from "@lzn/tasks";
 * type Parts = { image: { encoder: ImageEncoder; decoder: RfImageDecoder } };
 * const name: TrainableDecoderNames<Parts> = "image";
 * ```
 */
// deno-lint-ignore no-explicit-any
export type TrainableDecoderNames<M> = Having<M, "decoder", TrainableDecoder<any, any>>;

/**
 * Names of the modalities of `M` whose encoder has one fixed anchor set (the label anchors).
 *
 * @example
 * ```ts
 * import { ImageEncoder, LabelEncoder } from "@lzn/encoders";
 * import type { AnchorSetNames } from "@lzn/tasks";
 * type Parts = { image: { encoder: ImageEncoder }; label: { encoder: LabelEncoder } };
 * const target: AnchorSetNames<Parts> = "label"; // ImageEncoder has no fixed anchor set
 * ```
 */
// deno-lint-ignore no-explicit-any
export type AnchorSetNames<M> = Having<M, "encoder", AnchorSetEncoder<any>>;

/**
 * The data type an encoder of modality `S` takes.
 *
 * @example
 * ```ts
 * import type { ImageBatch, ImageEncoder } from "@lzn/encoders";
 * import type { EncoderInput } from "@lzn/tasks";
 * type In = EncoderInput<{ encoder: ImageEncoder }>; // ImageBatch
 * const x: In = { images: new Float32Array(784), count: 1 } satisfies ImageBatch;
 * ```
 */
export type EncoderInput<S> = S extends { encoder: Encoder<infer I> } ? I : never;

/**
 * The data type a decoder of modality `S` produces.
 *
 * @example
 * ```ts
 * import type { LabelDecoder } from "@lzn/decoders";
 * import type { DecoderOutput } from "@lzn/tasks";
 * type Out = DecoderOutput<{ decoder: LabelDecoder }>; // Int32Array
 * const labels: Out = Int32Array.from([3, 1]);
 * ```
 */
export type DecoderOutput<S> = S extends { decoder: Decoder<infer O> } ? O : never;

/**
 * The options the decoder of modality `S` takes when decoding (e.g. the RF decoder's labels, seed, sampler).
 *
 * @example
 * ```ts
 * import type { RfImageDecoder } from "@lzn/decoders";
 * import type { DecodeOptionsOf } from "@lzn/tasks";
 * const opts: DecodeOptionsOf<{ decoder: RfImageDecoder }> = { labels: Int32Array.from([1]), seed: 3 };
 * ```
 */
export type DecodeOptionsOf<S> = S extends { decoder: { decode(latents: Tensor, opts?: infer O): unknown } }
  ? O
  : never;

/**
 * The data type the loss of a trainable decoder of modality `S` takes (images for the RF decoder).
 *
 * @example
 * ```ts
 * import type { RfImageDecoder } from "@lzn/decoders";
 * import type { Tensor } from "@lzn/tensor";
 * import type { DecoderData } from "@lzn/tasks";
 * type D = DecoderData<{ decoder: RfImageDecoder }>; // Tensor [B, C, H, W]
 * const check = (x: D): Tensor => x;
 * ```
 */
export type DecoderData<S> = S extends { decoder: TrainableDecoder<unknown, infer D> } ? D : never;

/**
 * A literal name must be one of `Allowed`; a plain `string` is accepted and checked at run time. Written as
 * a conditional on `F` so that `F` is still inferred from the argument, and the error names the allowed set.
 *
 * @example
 * ```ts
 * import type { Checked } from "@lzn/tasks";
 * const ok: Checked<"image", "image" | "label"> = "image";
 * const runtime: Checked<string, "image"> = "anything"; // checked when the task is built
 * ```
 */
export type Checked<F extends string, Allowed extends string> = string extends F ? string
  : F extends Allowed ? F
  : Allowed;

/**
 * The encoder input type of modality `F` of `M` (`unknown` for a name known only at run time).
 *
 * @example
 * ```ts
 * import type { ImageBatch, ImageEncoder } from "@lzn/encoders";
 * import type { InputOf } from "@lzn/tasks";
 * const x: InputOf<{ image: { encoder: ImageEncoder } }, "image"> = { images: new Float32Array(784), count: 1 };
 * ```
 */
export type InputOf<M, F extends string> = string extends F ? unknown
  : F extends keyof M ? EncoderInput<M[F]>
  : never;

/**
 * The decoder output type of modality `T` of `M` (`unknown` for a name known only at run time).
 *
 * @example
 * ```ts
 * import type { LabelDecoder } from "@lzn/decoders";
 * import type { OutputOf } from "@lzn/tasks";
 * const y: OutputOf<{ label: { decoder: LabelDecoder } }, "label"> = Int32Array.from([1]);
 * ```
 */
export type OutputOf<M, T extends string> = string extends T ? unknown
  : T extends keyof M ? DecoderOutput<M[T]>
  : never;

/**
 * Anchors or latents of a batch, on the host: `count` rows of `dim` floats.
 *
 * @example
 * ```ts
 * import type { Embedding } from "@lzn/tasks";
 * const e: Embedding = { data: new Float32Array(6), count: 2, dim: 3 };
 * ```
 */
export interface Embedding {
  /** Row-major `[count, dim]`. */
  data: Float32Array;
  /** Number of rows. */
  count: number;
  /** Latent dimension q. */
  dim: number;
}

/**
 * What an embedding task returns: raw anchors, or latents (zone samples).
 *
 * @example
 * ```ts
 * import type { EmbeddingKind } from "@lzn/tasks";
 * const kinds: EmbeddingKind[] = ["anchors", "latents"];
 * ```
 */
export type EmbeddingKind = "anchors" | "latents";

/**
 * Options of a task run and of the latent stage: the prior-noise scale, its seed, decoder anchor weights and
 * the anchor bank that makes an item's latent independent of the rest of its batch.
 *
 * @example
 * ```ts
 * import { tensor } from "@lzn/tensor";
 * import type { TaskOptions } from "@lzn/tasks";
 * const opts: TaskOptions = { tau: 0.5, seed: 3, weights: tensor(new Float32Array(10).fill(1), [10]) };
 * ```
 */
export interface TaskOptions {
  /** Prior-noise scale of the latent computation (0 = zone centre). Default 0 for tasks. */
  tau?: number;
  /** Seed of the prior noise (default 0). */
  seed?: number;
  /** Anchor weights for the decoder (e.g. class weights); default uniform. */
  weights?: Tensor;
  /**
   * Anchor bank `[M, q]` of a batch encoder: each item's latent is computed against the bank plus its own
   * anchor, never against the other items of the call (see `BatchEncoder.latentsOf`).
   */
  bank?: Tensor;
}

/**
 * A composed task: data of one modality in, data (or an embedding) out.
 *
 * @example
 * ```ts
 * import type { Task } from "@lzn/tasks";
 * import type { ImageBatch, Labels } from "@lzn/encoders";
 * async function predict(task: Task<ImageBatch, Labels>, batch: ImageBatch) {
 *   return await task.run(batch, { tau: 0 });
 * }
 * ```
 */
export interface Task<I, O> {
  /** Source modality. */
  readonly from: string;
  /** Target modality, or `undefined` for an embedding task. */
  readonly to: string | undefined;
  /**
   * Runs the task on one batch (inference: no gradients are recorded). Latents are computed over the batch's
   * own anchors, as in training, so an item's answer can depend on the rest of its batch; pass
   * `opts.bank` (a run's anchor bank, `loadBank`) for answers that do not, which is what the CLI's
   * `classify` and `embed` do.
   */
  run(input: I, opts?: TaskOptions): Promise<O>;
}

/**
 * Options of the alignment stage (spec §4).
 *
 * @example
 * ```ts
 * import type { AlignOptions } from "@lzn/tasks";
 * const release: AlignOptions = { steps: 100, cutoff: 0.2, log: false }; // case study 3's label loss
 * ```
 */
export interface AlignOptions {
  /** Reverse-flow steps K (default 100). */
  steps?: number;
  /** Fraction of the first reverse steps left out (default 0.2). */
  cutoff?: number;
  /** Log variant (paper Eq. 5) instead of the probability (Eq. 2) (default false). */
  log?: boolean;
  /** Target anchor weights `[N]` (class frequencies in training). */
  weights?: Tensor;
  /**
   * The target anchor each latent is paired with, for a target whose anchors are a batch (default: latent i
   * with item i of the target batch). A fixed anchor set pairs by its items (`indices`) instead.
   */
  pairs?: Int32Array;
}
