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
import { Conv2d, GroupNorm, InitRng, Linear, Module, noGrad, scope, type Tensor } from "@lzn/tensor";
import type { ReferenceArchitecture } from "./reference_config.ts";

/**
 * One 3x3 conv (padding 1, stride 1 or 2) -> GroupNorm -> SiLU.
 *
 * @example
 * ```ts
 * import { InitRng, tensor } from "@lzn/tensor";
 * import { ReferenceConvBlock } from "@lzn/tasks";
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
 * import { parseReferenceConfig, ReferenceClassifier } from "@lzn/tasks";
 * const { model: arch } = parseReferenceConfig({ data: { dataset: "mnist" } });
 * const model = new ReferenceClassifier(arch);
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

  /** Builds the network of an architecture config. */
  constructor(readonly arch: ReferenceArchitecture) {
    super();
    const rng = new InitRng(arch.seed);
    let channels = arch.inChannels;
    this.blocks = arch.channels.map((c, i) => {
      const block = new ReferenceConvBlock(channels, c, arch.strides[i], arch.groups, rng);
      channels = c;
      return block;
    });
    this.feature = new Linear(channels, arch.featureDim, { rng });
    this.head = new Linear(arch.featureDim, arch.classes, { rng });
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
