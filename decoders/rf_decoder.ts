/**
 * The rectified-flow image decoder (spec §5.3–§5.7) as a decoder of the typed latent graph: latents in,
 * images out. It owns the velocity UNet and exposes its training loss, generation, the inverse ODE and the
 * reconstruction error. A class-conditional decoder needs each latent's class; when the caller does not
 * give labels it asks `classOf` (in case study 3 the label decoder: spec §7.4's unconditional generation,
 * `c = LabelDecoder(z)`).
 *
 * @module
 */
import { Module, noGrad, oneHot, randn, type Tensor, tensor } from "@lzn/tensor";
import type { OdeResult } from "./ode.ts";
import type { RfDecoderConfig, RfDecoderConfigInput } from "./rf_config.ts";
import { rfLoss } from "./rf_loss.ts";
import { invertRf, reconstructionError, type RfSampler, sampleRf } from "./rf_sampler.ts";
import type { Decoder, DecoderOptions } from "./types.ts";
import { type RfCondition, RfUNet } from "./unet.ts";

/**
 * Images on the host: `count` images, NCHW floats in [-1, 1], image after image (the shape of
 * `@lzn/encoders`' `ImageBatch`, so decoder output feeds an image encoder directly).
 *
 * @example
 * ```ts
 * import type { DecodedImages } from "@lzn/decoders";
 * const blank: DecodedImages = { images: new Float32Array(784).fill(-1), count: 1 };
 * ```
 */
export interface DecodedImages {
  /** `count * channels * height * width` floats. */
  images: Float32Array;
  /** Number of images. */
  count: number;
}

/**
 * Options of {@link RfImageDecoder.decode}.
 *
 * @example
 * ```ts
 * import type { ImageDecodeOptions } from "@lzn/decoders";
 * const opts: ImageDecodeOptions = { labels: Int32Array.from([3]), seed: 1, sampler: { kind: "euler", steps: 10 } };
 * ```
 */
export interface ImageDecodeOptions extends DecoderOptions {
  /** Class of every latent (conditional decoders); default: `classOf` decodes them from the latents. */
  labels?: Int32Array;
  /** Seed of the image noise (default 0). */
  seed?: number;
  /** Solver (default: the decoder's `sampler`). */
  sampler?: RfSampler;
}

/**
 * The condition of a batch, on the host.
 *
 * @example
 * ```ts
 * import type { RfConditionInput } from "@lzn/decoders";
 * const input: RfConditionInput = { labels: Int32Array.from([0, 7]) }; // class-conditional, no latents
 * ```
 */
export interface RfConditionInput {
  /** Latents `[B, q]` (decoders with `latentDim > 0`). */
  latents?: Tensor;
  /** Class per image (class-conditional decoders). */
  labels?: Int32Array;
}

/**
 * Options of {@link RfImageDecoder}'s constructor.
 *
 * @example
 * ```ts
 * import { LabelDecoder, type RfImageDecoderOptions } from "@lzn/decoders";
 * import { tensor } from "@lzn/tensor";
 * const labelDecoder = new LabelDecoder({ anchorSet: tensor(new Float32Array(20), [10, 2]) });
 * const opts: RfImageDecoderOptions = { classOf: labelDecoder, sampler: { kind: "euler", steps: 10 } };
 * ```
 */
export interface RfImageDecoderOptions {
  /** Gives the class of latents when `decode` is called without labels (e.g. the label decoder). */
  classOf?: Decoder<Int32Array>;
  /** Default solver of `decode` (default `{ kind: "euler", steps: 10 }`, the release's `euler10`). */
  sampler?: RfSampler;
}

/**
 * The RF image decoder (a `Module`: its parameters are `net.*`).
 *
 * @example
 * ```ts
 * import { RfImageDecoder } from "@lzn/decoders";
 * import { tensor } from "@lzn/tensor";
 * const dec = new RfImageDecoder({ latentDim: 8, classes: 10, channels: [8, 8, 8] });
 * const z = tensor(new Float32Array(16), [2, 8]);
 * const out = await dec.decode(z, { labels: Int32Array.from([3, 4]), seed: 1 }); // 2 images, 28x28
 * ```
 */
export class RfImageDecoder extends Module implements Decoder<DecodedImages> {
  /** The velocity network. */
  net: RfUNet;
  /** Default solver of {@link RfImageDecoder.decode}. */
  sampler: RfSampler;
  readonly #classOf: Decoder<Int32Array> | undefined;

  /** Builds the network; throws an error listing every problem of a bad config. */
  constructor(config: RfDecoderConfigInput = {}, opts: RfImageDecoderOptions = {}) {
    super();
    this.net = new RfUNet(config);
    this.sampler = opts.sampler ?? { kind: "euler", steps: 10 };
    this.#classOf = opts.classOf;
  }

  /** The validated config. */
  get config(): RfDecoderConfig {
    return this.net.config;
  }

  /** Latent dimension q (0: no latent input). */
  get latentDim(): number {
    return this.net.config.latentDim;
  }

  /** Shape of one image `[C, H, W]`. */
  get imageShape(): [number, number, number] {
    const { inChannels: c, imageSize: s } = this.net.config;
    return [c, s, s];
  }

  /** Uploads the condition: one-hot classes (checked against `classes`), latents as given. */
  condition(input: RfConditionInput, count: number): RfCondition {
    const { classes } = this.net.config;
    const cond: RfCondition = { latents: input.latents };
    if (classes > 0) {
      const labels = input.labels;
      if (!labels || labels.length !== count) {
        throw new Error(`RF decoder: ${count} class labels are required, got ${labels?.length ?? "none"}`);
      }
      labels.forEach((c, i) => {
        if (!(Number.isInteger(c) && c >= 0 && c < classes)) {
          throw new RangeError(`RF decoder: label ${c} at position ${i} is outside 0..${classes - 1}`);
        }
      });
      const idx = tensor(labels, [count], { dtype: "i32" });
      cond.classes = oneHot(idx, classes);
      idx.dispose();
    }
    return cond;
  }

  /** The RF loss (spec §5.4) of images `[B, C, H, W]`; call inside a `scope`. */
  loss(images: Tensor, input: RfConditionInput & { seed: number }): Tensor {
    return rfLoss(this.net, images, { ...this.condition(input, images.shape[0]), seed: input.seed });
  }

  /** Images from noise (state at `t = 1e-3`) under the condition; the result's `x` is the caller's. */
  async generate(noise: Tensor, input: RfConditionInput, sampler = this.sampler): Promise<OdeResult> {
    const cond = this.condition(input, noise.shape[0]);
    try {
      return await sampleRf(this.net, noise, cond, sampler);
    } finally {
      cond.classes?.dispose();
    }
  }

  /** The inverse ODE: the noise each image came from (spec §5.7). */
  async invert(images: Tensor, input: RfConditionInput, sampler = this.sampler): Promise<OdeResult> {
    const cond = this.condition(input, images.shape[0]);
    try {
      return await invertRf(this.net, images, cond, sampler);
    } finally {
      cond.classes?.dispose();
    }
  }

  /** Mean per-image L2 reconstruction error through the inverse and forward ODEs (spec §5.7). */
  async reconstructionError(
    images: Tensor,
    input: RfConditionInput,
    sampler = this.sampler,
  ): Promise<{ error: number; nfe: number }> {
    const cond = this.condition(input, images.shape[0]);
    try {
      return await reconstructionError(this.net, images, cond, sampler);
    } finally {
      cond.classes?.dispose();
    }
  }

  /** Images of latents `[n, q]` (fresh image noise from `seed`); classes from `labels` or `classOf`. */
  async decode(latents: Tensor, opts: ImageDecodeOptions = {}): Promise<DecodedImages> {
    const n = latents.shape[0];
    if (latents.ndim !== 2 || latents.shape[1] !== this.latentDim) {
      throw new Error(
        `RF decoder: latents must be [n, ${this.latentDim}], got [${latents.shape.join(", ")}]`,
      );
    }
    let labels = opts.labels;
    if (!labels && this.net.config.classes > 0) {
      if (!this.#classOf) {
        throw new Error(
          "RF decoder: a class-conditional decoder needs labels, or a classOf decoder to infer them",
        );
      }
      labels = await this.#classOf.decode(latents, { weights: opts.weights });
    }
    const noise = noGrad(() => randn([n, ...this.imageShape], { seed: opts.seed ?? 0 }));
    try {
      const { x } = await this.generate(
        noise,
        { latents: this.latentDim > 0 ? latents : undefined, labels },
        opts.sampler,
      );
      const images = await x.toArray();
      x.dispose();
      return { images, count: n };
    } finally {
      noise.dispose();
    }
  }
}
