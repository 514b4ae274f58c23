/**
 * The image encoder: a small CNN whose every feature map passes its own latent head, the heads' outputs
 * summed into the anchor (spec §5.2, at MNIST size: a few conv levels instead of NCSN++'s 21 maps). The
 * anchor is raw — no normalisation, no tanh. Latents are computed over the batch's anchors with the
 * DPM-Solver++ flow of spec §1.7 (K = 20), as case studies 1 and 3 do.
 *
 * @module
 */
import { z } from "zod";
import { Conv2d, GroupNorm, InitRng, Module, parseConfig, type Tensor } from "@lzn/tensor";
import { LatentHead } from "./latent_head.ts";
import { batchLatents } from "./batch_latents.ts";
import { encodeInChunks, imageBatchTensor, imagesPerBinding } from "./chunked.ts";
import type { BatchEncoder, BatchLatentOptions, ImageBatch, LatentOptions } from "./types.ts";

/**
 * The image encoder's config, defaults filled in (see {@link ImageEncoderConfig} for the schema).
 *
 * @example
 * ```ts
 * import { ImageEncoder, ImageEncoderConfig } from "@lzn/encoders";
 * const cfg: ImageEncoderConfig = ImageEncoderConfig.parse({ latentDim: 16, channels: [8, 16], strides: [2, 2] });
 * const enc = new ImageEncoder(cfg);
 * console.log(enc.config.headHidden); // 64
 * ```
 */
export interface ImageEncoderConfig {
  /** Latent dimension q. */
  latentDim: number;
  /** Image height = width (default 28). */
  imageSize: number;
  /** Image channels (default 1, as MNIST). */
  inChannels: number;
  /** Output channels of each 3x3 conv level (default [16, 32, 32]). */
  channels: number[];
  /** Stride of each level's conv, 1 or 2, one per level (default [2, 2, 1]). */
  strides: (1 | 2)[];
  /** GroupNorm groups; must divide every entry of `channels` (default 4). */
  groups: number;
  /** Channels of each head's 1x1 conv (default 4; the release: 20). */
  headChannels: number;
  /** Hidden units of each head (default 64; the release: 200). */
  headHidden: number;
  /**
   * Levels (0-based) whose feature map has a latent head (default: every level; the release's 256-px
   * encoders have heads at some resolutions only, the other maps contributing zero).
   */
  headLevels?: number[];
  /** Linear layers per head, >= 2 (default 2, as the release). */
  headLayers: number;
  /** Latent flow of the image latents (default DPM-Solver++ 3M, as case studies 1 and 3). */
  latentSolver: "dpm++3m" | "euler";
  /** Steps of that flow (default 20, as the release). */
  latentSteps: number;
  /** Seed of the parameter initialisation (default 0). */
  seed: number;
}

/**
 * What a caller may pass: `latentDim` and any other field (the rest take their defaults).
 *
 * @example
 * ```ts
 * import { ImageEncoder, type ImageEncoderConfigInput } from "@lzn/encoders";
 * const input: ImageEncoderConfigInput = { latentDim: 32, imageSize: 32, inChannels: 3, seed: 1 };
 * const enc = new ImageEncoder(input); // CIFAR-sized input, other fields default
 * ```
 */
export type ImageEncoderConfigInput = Pick<ImageEncoderConfig, "latentDim"> & Partial<ImageEncoderConfig>;
/**
 * The image encoder's config without the latent dimension.
 *
 * @example
 * ```ts
 * import { ImageEncoder, ImageEncoderArchitecture } from "@lzn/encoders";
 * const arch: ImageEncoderArchitecture = ImageEncoderArchitecture.parse({ channels: [8, 8], strides: [2, 1] });
 * const enc = new ImageEncoder({ ...arch, latentDim: 8 });
 * ```
 */
export type ImageEncoderArchitecture = Omit<ImageEncoderConfig, "latentDim">;

const Fields = z.object({
  latentDim: z.number().int().min(1).max(4096),
  imageSize: z.number().int().min(4).max(1024).default(28),
  inChannels: z.number().int().min(1).max(64).default(1),
  channels: z.array(z.number().int().min(1).max(4096)).min(1).max(16).default([16, 32, 32]),
  strides: z.array(z.union([z.literal(1), z.literal(2)])).min(1).max(16).default([2, 2, 1]),
  groups: z.number().int().min(1).default(4),
  headChannels: z.number().int().min(1).max(1024).default(4),
  headHidden: z.number().int().min(1).max(16384).default(64),
  headLevels: z.array(z.number().int().min(0)).min(1).optional(),
  headLayers: z.number().int().min(2).max(8).default(2),
  latentSolver: z.enum(["dpm++3m", "euler"]).default("dpm++3m"),
  latentSteps: z.number().int().min(1).max(1000).default(20),
  seed: z.number().int().min(0).max(2 ** 31).default(0),
}).strict();

function checkLevels(
  cfg: { channels: number[]; strides: number[]; groups: number; headLevels?: number[] },
  ctx: z.RefinementCtx,
): void {
  cfg.headLevels?.forEach((level, i) => {
    if (level >= cfg.channels.length) {
      ctx.addIssue({
        code: "custom",
        path: ["headLevels", i],
        message: `level ${level} does not exist (${cfg.channels.length} levels)`,
      });
    }
  });
  if (cfg.strides.length !== cfg.channels.length) {
    ctx.addIssue({
      code: "custom",
      path: ["strides"],
      message: `needs one stride per conv level (${cfg.channels.length}), got ${cfg.strides.length}`,
    });
  }
  cfg.channels.forEach((c, i) => {
    if (c % cfg.groups !== 0) {
      ctx.addIssue({
        code: "custom",
        path: ["channels", i],
        message: `${c} is not divisible by groups (${cfg.groups})`,
      });
    }
  });
}

/**
 * The image encoder's config schema (zod). Defaults give the ~1.6 MFLOP-per-image encoder of the MNIST demo.
 *
 * @example
 * ```ts
 * import { ImageEncoderConfig } from "@lzn/encoders";
 * const cfg = ImageEncoderConfig.parse({ latentDim: 32 });
 * console.log(cfg.channels); // [16, 32, 32]
 * ```
 */
export const ImageEncoderConfig: z.ZodType<ImageEncoderConfig, ImageEncoderConfigInput> = Fields.superRefine(
  checkLevels,
);

/**
 * The image encoder's architecture schema without the latent dimension, for recipes that set q once for
 * every part of a latent space.
 *
 * @example
 * ```ts
 * import { ImageEncoderArchitecture } from "@lzn/encoders";
 * console.log(ImageEncoderArchitecture.parse({}).strides); // [2, 2, 1]
 * ```
 */
export const ImageEncoderArchitecture: z.ZodType<
  ImageEncoderArchitecture,
  Partial<ImageEncoderArchitecture>
> = Fields.omit({ latentDim: true }).superRefine(checkLevels);

/**
 * Spatial sizes of the feature maps of a config (a 3x3 conv with padding 1 and stride s maps r to
 * `floor((r - 1) / s) + 1`).
 *
 * @example
 * ```ts
 * import { featureResolutions, ImageEncoderConfig } from "@lzn/encoders";
 * console.log(featureResolutions(ImageEncoderConfig.parse({ latentDim: 8 }))); // [14, 7, 7]
 * ```
 */
export function featureResolutions(cfg: ImageEncoderConfig): number[] {
  let r = cfg.imageSize;
  return cfg.strides.map((s) => (r = Math.floor((r - 1) / s) + 1));
}

/**
 * Multiply-adds x 2 of one image's forward pass (convs, heads), to size models against a compute budget.
 *
 * @example
 * ```ts
 * import { encoderFlops, ImageEncoderConfig } from "@lzn/encoders";
 * console.log(encoderFlops(ImageEncoderConfig.parse({ latentDim: 32 })) / 1e6); // ~1.7 (MFLOP)
 * ```
 */
export function encoderFlops(cfg: ImageEncoderConfig): number {
  const res = featureResolutions(cfg);
  let cin = cfg.inChannels, flops = 0;
  const withHead = headLevelsOf(cfg);
  cfg.channels.forEach((c, i) => {
    const px = res[i] * res[i];
    flops += 2 * px * c * cin * 9;
    if (withHead.includes(i)) {
      flops += 2 * px * cfg.headChannels * c + 2 * px * cfg.headChannels * cfg.headHidden +
        2 * cfg.headHidden * cfg.headHidden * (cfg.headLayers - 2) + 2 * cfg.headHidden * cfg.latentDim;
    }
    cin = c;
  });
  return flops;
}

function headLevelsOf(cfg: ImageEncoderConfig): number[] {
  return cfg.headLevels ?? cfg.channels.map((_, i) => i);
}

/** One conv level: conv3x3 -> GroupNorm -> SiLU. */
class ConvLevel extends Module {
  conv: Conv2d;
  norm: GroupNorm;
  constructor(cin: number, cout: number, stride: number, groups: number, rng: InitRng) {
    super();
    this.conv = new Conv2d(cin, cout, 3, { stride, padding: 1, rng });
    this.norm = new GroupNorm(groups, cout);
  }
  forward(x: Tensor): Tensor {
    return this.norm.forward(this.conv.forward(x)).silu();
  }
}

/**
 * The image encoder (a `Module`: its parameters are `levels.*` and `heads.*`).
 *
 * @example
 * ```ts
 * import { ImageEncoder } from "@lzn/encoders";
 * const enc = new ImageEncoder({ latentDim: 32 });
 * const batch = { images: new Float32Array(4 * 784).fill(-1), count: 4 };
 * const anchors = enc.anchors(batch); // [4, 32]
 * const latents = enc.latents(batch, { tau: 1, seed: 7 }); // [4, 32], zone samples over the 4 anchors
 * ```
 */
export class ImageEncoder extends Module implements BatchEncoder<ImageBatch> {
  /** The validated config. */
  readonly config: ImageEncoderConfig;
  /** Conv levels, in order. */
  levels: ConvLevel[];
  /** One latent head per level of `headLevels` (all levels by default). */
  heads: LatentHead[];
  readonly #headAt: Map<number, LatentHead>;

  /** Builds the encoder; throws a `ConfigError` listing every problem of a bad config. */
  constructor(config: ImageEncoderConfigInput) {
    super();
    this.config = parseConfig(ImageEncoderConfig, config, "image encoder config");
    const cfg = this.config;
    const rng = new InitRng(cfg.seed);
    const res = featureResolutions(cfg);
    this.levels = cfg.channels.map((c, i) =>
      new ConvLevel(i === 0 ? cfg.inChannels : cfg.channels[i - 1], c, cfg.strides[i], cfg.groups, rng)
    );
    const levels = headLevelsOf(cfg);
    this.heads = levels.map((i) =>
      new LatentHead({
        channels: cfg.channels[i],
        resolution: res[i],
        headChannels: cfg.headChannels,
        hidden: cfg.headHidden,
        layers: cfg.headLayers,
        latentDim: cfg.latentDim,
        rng,
      })
    );
    this.#headAt = new Map(levels.map((level, k) => [level, this.heads[k]]));
  }

  /** Latent dimension q. */
  get latentDim(): number {
    return this.config.latentDim;
  }

  /** `x [N, C, H, W]` (values in [-1, 1]) -> anchors `[N, q]`: the sum of the heads' outputs. */
  forward(x: Tensor): Tensor {
    let h = x;
    let anchor: Tensor | undefined;
    this.levels.forEach((level, i) => {
      h = level.forward(h);
      const head = this.#headAt.get(i);
      if (!head) return;
      const part = head.forward(h);
      anchor = anchor ? anchor.add(part) : part;
    });
    return anchor!;
  }

  /** Uploads a host batch as `[N, C, H, W]`, checking its size. */
  toTensor(batch: ImageBatch): Tensor {
    return imageBatchTensor(batch, this.config.inChannels, this.config.imageSize, "image encoder");
  }

  /**
   * Anchors `[n, q]` of a host batch. Without gradients (evaluation, inference) a batch whose activations
   * would not fit in one storage binding of the adapter (`maxStorageBufferBindingSize`; 128 MiB on lavapipe
   * holds 1,337 images of the Fashion-MNIST recipes' first level, 32 x 28 x 28 floats each) is encoded in
   * chunks: every layer works image by image, so the anchors are the whole batch's up to float rounding.
   */
  anchors(batch: ImageBatch): Tensor {
    const cfg = this.config, res = featureResolutions(cfg);
    const floats = Math.max(
      cfg.inChannels * cfg.imageSize ** 2,
      ...cfg.channels.map((c, i) => c * res[i] ** 2),
    );
    return encodeInChunks(
      batch,
      imagesPerBinding(floats),
      this.latentDim,
      (b) => this.forward(this.toTensor(b)),
    );
  }

  /** Latents `[n, q]`: the batch's anchors are the anchor set of the flow (spec §8, minibatch approximation). */
  latents(batch: ImageBatch, opts: LatentOptions = {}): Tensor {
    return this.latentsOf(this.anchors(batch), opts);
  }

  /**
   * Latents of already computed anchors: over the anchors themselves (differentiable in them), or, with a
   * `bank`, each row over the bank plus itself (inference; independent of the other rows).
   */
  latentsOf(anchors: Tensor, opts: BatchLatentOptions = {}): Tensor {
    return batchLatents(anchors, { solver: this.config.latentSolver, steps: this.config.latentSteps }, opts);
  }

  /** Number of images in a batch. */
  count(batch: ImageBatch): number {
    return batch.count;
  }
}
