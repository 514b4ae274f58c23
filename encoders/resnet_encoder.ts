/**
 * The image encoder of case study 2 (spec §6.2), scaled to 28 px grey images: a small ResNet with GroupNorm
 * (stem, stages of basic residual blocks, global average pool = the representation `h`) and a projection
 * head `Linear (no bias) -> GN -> ReLU -> Linear (no bias) -> GN` whose output is the anchor. Latents are
 * computed over the batch's anchors with the Euler flow of spec §1.5 (K = 20, eps = 1e-4), as case study 2
 * does. The input is mapped from [-1, 1] back to [0, 1] first, as the release does.
 *
 * @module
 */
import { z } from "zod";
import { GroupNorm, InitRng, Linear, Module, parseConfig, ReLU, Sequential, type Tensor } from "@lzn/tensor";
import { ResidualBlock, ResNetStem } from "./resnet_blocks.ts";
import { batchLatents } from "./batch_latents.ts";
import { encodeInChunks, imageBatchTensor, imagesPerBinding } from "./chunked.ts";
import type { BatchEncoder, BatchLatentOptions, ImageBatch, LatentOptions } from "./types.ts";

/**
 * The ResNet encoder's config, defaults filled in (see {@link ResNetEncoderConfig} for the schema).
 *
 * @example
 * ```ts
 * import { ResNetEncoderConfig } from "@lzn/encoders";
 * const cfg: ResNetEncoderConfig = ResNetEncoderConfig.parse({ latentDim: 64, channels: [16, 32], blocks: [2, 2], strides: [1, 2] });
 * console.log(cfg.headHidden); // 32 (the last stage's width)
 * ```
 */
export interface ResNetEncoderConfig {
  /** Latent dimension q (the head's output; a multiple of `groups`). */
  latentDim: number;
  /** Image height = width (default 28). */
  imageSize: number;
  /** Image channels (default 1, as MNIST). */
  inChannels: number;
  /** Output channels of each stage (default [32, 64, 128]); the stem outputs `channels[0]`. */
  channels: number[];
  /** Residual blocks per stage (default [1, 1, 1]). */
  blocks: number[];
  /** Stride of each stage's first block, 1 or 2 (default [1, 2, 2]: 28 -> 28 -> 14 -> 7 px). */
  strides: (1 | 2)[];
  /** GroupNorm groups of every norm, backbone and head (default 8; the release: 32). */
  groups: number;
  /** Hidden width of the head (default: the last stage's width, as the release's 2048 -> 2048). */
  headHidden: number;
  /** Latent flow of the latents (default Euler, as case study 2). */
  latentSolver: "euler" | "dpm++3m";
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
 * import { ResNetEncoder, type ResNetEncoderConfigInput } from "@lzn/encoders";
 * const input: ResNetEncoderConfigInput = { latentDim: 64, blocks: [2, 2, 2], seed: 1 };
 * const enc = new ResNetEncoder(input);
 * ```
 */
export type ResNetEncoderConfigInput = Pick<ResNetEncoderConfig, "latentDim"> & Partial<ResNetEncoderConfig>;

/**
 * The ResNet encoder's config without the latent dimension.
 *
 * @example
 * ```ts
 * import { ResNetEncoder, ResNetEncoderArchitecture } from "@lzn/encoders";
 * const arch: ResNetEncoderArchitecture = ResNetEncoderArchitecture.parse({ channels: [16, 32], blocks: [1, 1], strides: [1, 2] });
 * const enc = new ResNetEncoder({ ...arch, latentDim: 32 });
 * ```
 */
export type ResNetEncoderArchitecture = Omit<ResNetEncoderConfig, "latentDim">;

const channel = z.number().int().min(1).max(4096);
const Fields = z.object({
  latentDim: channel,
  imageSize: z.number().int().min(4).max(1024).default(28),
  inChannels: z.number().int().min(1).max(64).default(1),
  channels: z.array(channel).min(1).max(16).default([32, 64, 128]),
  blocks: z.array(z.number().int().min(1).max(64)).min(1).max(16).default([1, 1, 1]),
  strides: z.array(z.union([z.literal(1), z.literal(2)])).min(1).max(16).default([1, 2, 2]),
  groups: z.number().int().min(1).default(8),
  headHidden: channel.optional(),
  latentSolver: z.enum(["euler", "dpm++3m"]).default("euler"),
  latentSteps: z.number().int().min(1).max(1000).default(20),
  seed: z.number().int().min(0).max(2 ** 31).default(0),
}).strict();

type Parsed = Omit<ResNetEncoderConfig, "headHidden" | "latentDim"> & {
  headHidden?: number;
  latentDim?: number;
};

function check(cfg: Parsed, ctx: z.RefinementCtx): void {
  for (const key of ["blocks", "strides"] as const) {
    if (cfg[key].length !== cfg.channels.length) {
      ctx.addIssue({
        code: "custom",
        path: [key],
        message: `needs one entry per stage (${cfg.channels.length}), got ${cfg[key].length}`,
      });
    }
  }
  const widths: [(string | number)[], number | undefined][] = [
    ...cfg.channels.map((c, i): [(string | number)[], number] => [["channels", i], c]),
    [["headHidden"], cfg.headHidden],
    [["latentDim"], cfg.latentDim],
  ];
  for (const [path, c] of widths) {
    if (c !== undefined && c % cfg.groups !== 0) {
      ctx.addIssue({ code: "custom", path, message: `${c} is not divisible by groups (${cfg.groups})` });
    }
  }
}

function fillHidden<T extends Parsed>(cfg: T): T & { headHidden: number } {
  return { ...cfg, headHidden: cfg.headHidden ?? cfg.channels[cfg.channels.length - 1] };
}

/**
 * The ResNet encoder's config schema (zod): stage lengths must agree and every width (stages, head hidden,
 * latent) must be divisible by `groups`.
 *
 * @example
 * ```ts
 * import { ResNetEncoderConfig } from "@lzn/encoders";
 * const cfg = ResNetEncoderConfig.parse({ latentDim: 64 });
 * console.log(cfg.channels, cfg.latentSolver); // [32, 64, 128] "euler"
 * ```
 */
export const ResNetEncoderConfig: z.ZodType<ResNetEncoderConfig, ResNetEncoderConfigInput> = Fields
  .superRefine(check).transform(fillHidden);

/**
 * The ResNet encoder's architecture schema without the latent dimension, for recipes that set q once for
 * every part of a latent space.
 *
 * @example
 * ```ts
 * import { ResNetEncoderArchitecture } from "@lzn/encoders";
 * console.log(ResNetEncoderArchitecture.parse({}).strides); // [1, 2, 2]
 * ```
 */
export const ResNetEncoderArchitecture: z.ZodType<
  ResNetEncoderArchitecture,
  Partial<ResNetEncoderArchitecture>
> = Fields.omit({ latentDim: true }).superRefine(check).transform(fillHidden);

/** One stage: residual blocks, the first one carrying the stage's stride and width change. */
class Stage extends Module {
  blocks: ResidualBlock[];
  constructor(cin: number, cout: number, count: number, stride: number, groups: number, rng: InitRng) {
    super();
    this.blocks = Array.from({ length: count }, (_, i) =>
      new ResidualBlock({
        inChannels: i === 0 ? cin : cout,
        outChannels: cout,
        stride: i === 0 ? stride : 1,
        groups,
        rng,
      }));
  }
  forward(x: Tensor): Tensor {
    return this.blocks.reduce((h, block) => block.forward(h), x);
  }
}

/**
 * The case-study-2 encoder (a `Module`: its parameters are `stem.*`, `stages.*` and `head.*`).
 *
 * @example
 * ```ts
 * import { ResNetEncoder } from "@lzn/encoders";
 * const enc = new ResNetEncoder({ latentDim: 64 });
 * const batch = { images: new Float32Array(2 * 784).fill(-1), count: 2 };
 * const h = enc.representation(enc.toTensor(batch)); // [2, 128]: the features of the linear probe
 * const anchors = enc.anchors(batch); // [2, 64]
 * const latents = enc.latentsOf(anchors, { tau: 0.45, seed: 7 }); // [2, 64], as case study 2 trains
 * ```
 */
export class ResNetEncoder extends Module implements BatchEncoder<ImageBatch> {
  /** The validated config. */
  readonly config: ResNetEncoderConfig;
  /** conv3x3 -> GN -> ReLU. */
  stem: ResNetStem;
  /** Stages of residual blocks, in order. */
  stages: Stage[];
  /** The projection head `Linear -> GN -> ReLU -> Linear -> GN` (layers `head.0` ... `head.4`). */
  head: Sequential;

  /** Builds the encoder; throws a `ConfigError` listing every problem of a bad config. */
  constructor(config: ResNetEncoderConfigInput) {
    super();
    this.config = parseConfig(ResNetEncoderConfig, config, "ResNet encoder config");
    const cfg = this.config;
    const rng = new InitRng(cfg.seed);
    this.stem = new ResNetStem(cfg.inChannels, cfg.channels[0], cfg.groups, rng);
    this.stages = cfg.channels.map((c, i) =>
      new Stage(i === 0 ? c : cfg.channels[i - 1], c, cfg.blocks[i], cfg.strides[i], cfg.groups, rng)
    );
    const width = cfg.channels[cfg.channels.length - 1];
    this.head = new Sequential(
      new Linear(width, cfg.headHidden, { bias: false, rng }),
      new GroupNorm(cfg.groups, cfg.headHidden),
      new ReLU(),
      new Linear(cfg.headHidden, cfg.latentDim, { bias: false, rng }),
      new GroupNorm(cfg.groups, cfg.latentDim),
    );
  }

  /** Latent dimension q. */
  get latentDim(): number {
    return this.config.latentDim;
  }

  /** Width of the representation (the last stage's channels). */
  get representationDim(): number {
    return this.config.channels[this.config.channels.length - 1];
  }

  /**
   * `x [N, C, H, W]` (values in [-1, 1]) -> the representation `h [N, C_last]`: the backbone's output averaged
   * over space (the release's `no_head` features).
   */
  representation(x: Tensor): Tensor {
    const h = this.stages.reduce((h, stage) => stage.forward(h), this.stem.forward(x.add(1).mul(0.5)));
    return h.mean([2, 3]);
  }

  /** `x [N, C, H, W]` (values in [-1, 1]) -> anchors `[N, q]`: the head applied to the representation. */
  forward(x: Tensor): Tensor {
    return this.head.forward(this.representation(x));
  }

  /** Uploads a host batch as `[N, C, H, W]`, checking its size. */
  toTensor(batch: ImageBatch): Tensor {
    return imageBatchTensor(batch, this.config.inChannels, this.config.imageSize, "ResNet encoder");
  }

  /**
   * Anchors `[n, q]` of a host batch. Without gradients, a batch whose activations would not fit in one
   * storage binding of the adapter is encoded in chunks (every layer, the head's GroupNorm included, works
   * image by image), as the image encoder's `anchors` does.
   */
  anchors(batch: ImageBatch): Tensor {
    const cfg = this.config;
    let r = cfg.imageSize;
    const res = cfg.strides.map((s) => (r = Math.floor((r - 1) / s) + 1)); // each stage's output
    const floats = Math.max(
      Math.max(cfg.inChannels, cfg.channels[0]) * cfg.imageSize ** 2, // the input and the stem's output
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
