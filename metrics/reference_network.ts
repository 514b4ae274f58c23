/**
 * The reference classifier: a plain supervised CNN for small grayscale images, trained once per dataset
 * and then frozen. Its predictions measure generation accuracy, its penultimate features are the FID
 * feature space (the role InceptionV3 plays for CIFAR in spec §5.8).
 *
 * `x [b, C, H, W]` -> 3x3 conv-GroupNorm-SiLU blocks -> global average pool -> Linear + SiLU (the features,
 * `[b, featureDim]`) -> Linear (the logits, `[b, classes]`).
 *
 * @module
 */
import { z } from "zod";
import {
  Conv2d,
  GroupNorm,
  InitRng,
  Linear,
  Module,
  noGrad,
  parseConfig,
  scope,
  type Tensor,
} from "@lzn/tensor";

/**
 * The reference network's architecture.
 *
 * @example
 * ```ts
 * import { ReferenceArchitecture } from "@lzn/metrics";
 * const arch: ReferenceArchitecture = ReferenceArchitecture.parse({});
 * console.log(arch.channels, arch.strides); // [32, 64, 64, 128, 128, 128] [1, 2, 1, 2, 1, 1]
 * ```
 */
export interface ReferenceArchitecture {
  /** Image height = width (default 28). */
  imageSize: number;
  /** Image channels (default 1). */
  inChannels: number;
  /** Output channels of each 3x3 conv block (default [32, 64, 64, 128, 128, 128]). */
  channels: number[];
  /** Stride of each block, one per block (default [1, 2, 1, 2, 1, 1]: 28 -> 14 -> 7). */
  strides: (1 | 2)[];
  /** GroupNorm groups; must divide every entry of `channels` (default 8). */
  groups: number;
  /** Width of the penultimate feature layer, the FID feature space (default 128). */
  featureDim: number;
  /** Number of classes (default 10). */
  classes: number;
  /** Seed of the parameter initialisation (default 0; not part of the architecture). */
  seed: number;
}

/**
 * The architecture schema (zod). The defaults are deep enough that the last map's receptive field (29
 * pixels) covers a whole 28x28 image, which global pooling needs: a shallow stack pools local strokes only.
 *
 * @example
 * ```ts
 * import { ReferenceArchitecture } from "@lzn/metrics";
 * console.log(ReferenceArchitecture.parse({ featureDim: 64 }).featureDim); // 64
 * ```
 */
export const ReferenceArchitecture: z.ZodType<ReferenceArchitecture, Partial<ReferenceArchitecture>> = z
  .object({
    imageSize: z.number().int().min(4).max(1024).default(28),
    inChannels: z.number().int().min(1).max(64).default(1),
    channels: z.array(z.number().int().min(1).max(4096)).min(1).max(32).default([32, 64, 64, 128, 128, 128]),
    strides: z.array(z.union([z.literal(1), z.literal(2)])).min(1).max(32).default([1, 2, 1, 2, 1, 1]),
    groups: z.number().int().min(1).default(8),
    featureDim: z.number().int().min(1).max(4096).default(128),
    classes: z.number().int().min(2).max(1000).default(10),
    seed: z.number().int().min(0).max(2 ** 31).default(0),
  }).strict().superRefine((m, ctx) => {
    if (m.strides.length !== m.channels.length) {
      ctx.addIssue({
        code: "custom",
        path: ["strides"],
        message: `needs one stride per conv block (${m.channels.length}), got ${m.strides.length}`,
      });
    }
    m.channels.forEach((c, i) => {
      if (c % m.groups !== 0) {
        ctx.addIssue({
          code: "custom",
          path: ["channels", i],
          message: `${c} is not divisible by groups (${m.groups})`,
        });
      }
    });
  });

/**
 * One 3x3 conv (padding 1, stride 1 or 2) -> GroupNorm -> SiLU.
 *
 * @example
 * ```ts
 * import { InitRng, tensor } from "@lzn/tensor";
 * import { ReferenceConvBlock } from "@lzn/metrics";
 * const block = new ReferenceConvBlock(1, 8, 2, 4, new InitRng(0));
 * const y = block.forward(tensor(new Float32Array(2 * 28 * 28), [2, 1, 28, 28])); // [2, 8, 14, 14]
 * ```
 */
export class ReferenceConvBlock extends Module {
  /** The convolution. */
  conv: Conv2d;
  /** The normalisation. */
  norm: GroupNorm;

  /** Creates the block with parameters drawn from `rng`. */
  constructor(inChannels: number, outChannels: number, stride: 1 | 2, groups: number, rng: InitRng) {
    super();
    this.conv = new Conv2d(inChannels, outChannels, 3, { stride, padding: 1, rng });
    this.norm = new GroupNorm(groups, outChannels);
  }

  /** `[b, in, H, W] -> [b, out, H / stride, W / stride]`. */
  forward(x: Tensor): Tensor {
    return scope(() => this.norm.forward(this.conv.forward(x)).silu());
  }
}

/**
 * The reference CNN (see the module doc). Parameters are initialised from `arch.seed`, so the same config
 * gives the same initial weights.
 *
 * @example
 * ```ts
 * import { tensor } from "@lzn/tensor";
 * import { ReferenceClassifier } from "@lzn/metrics";
 * const model = new ReferenceClassifier({});
 * const images = tensor(new Float32Array(4 * 784).fill(-1), [4, 1, 28, 28]);
 * console.log(model.features(images).shape, await model.predict(images)); // [4, 128] Int32Array(4)
 * model.dispose();
 * ```
 */
export class ReferenceClassifier extends Module {
  /** The conv blocks, input first. */
  blocks: ReferenceConvBlock[];
  /** Pooled channels -> the penultimate features. */
  feature: Linear;
  /** Features -> logits. */
  head: Linear;

  /** The validated architecture. */
  readonly arch: ReferenceArchitecture;

  /** Builds the network of an architecture (defaults filled in); a bad one is a `ConfigError`. */
  constructor(arch: Partial<ReferenceArchitecture>) {
    super();
    this.arch = parseConfig(ReferenceArchitecture, arch, "reference network");
    const rng = new InitRng(this.arch.seed);
    const a = this.arch;
    let channels = a.inChannels;
    this.blocks = a.channels.map((c, i) => {
      const block = new ReferenceConvBlock(channels, c, a.strides[i], a.groups, rng);
      channels = c;
      return block;
    });
    this.feature = new Linear(channels, a.featureDim, { rng });
    this.head = new Linear(a.featureDim, a.classes, { rng });
  }

  /** Penultimate features `[b, featureDim]` of images `[b, inChannels, imageSize, imageSize]` in [-1, 1]. */
  features(images: Tensor): Tensor {
    const { inChannels: c, imageSize: s } = this.arch;
    if (images.ndim !== 4 || images.shape[1] !== c || images.shape[2] !== s || images.shape[3] !== s) {
      throw new Error(
        `ReferenceClassifier: expected images [b, ${c}, ${s}, ${s}], got [${images.shape.join(", ")}]`,
      );
    }
    return scope(() => {
      let x = images;
      for (const block of this.blocks) x = block.forward(x);
      // Global average pooling makes the features independent of the final map size.
      return this.feature.forward(x.mean([2, 3])).silu();
    });
  }

  /** Class logits `[b, classes]`. */
  logits(images: Tensor): Tensor {
    return scope(() => this.head.forward(this.features(images)));
  }

  /** Same as {@link ReferenceClassifier.logits}. */
  forward(images: Tensor): Tensor {
    return this.logits(images);
  }

  /** Predicted class of each image (no gradient recorded; one readback). */
  async predict(images: Tensor): Promise<Int32Array> {
    const index = noGrad(() => scope(() => this.logits(images).argmax(1)));
    try {
      return await index.toTypedArray() as Int32Array;
    } finally {
      index.dispose();
    }
  }
}
