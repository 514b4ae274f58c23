/**
 * Building blocks of the GroupNorm ResNet of case study 2 (spec §6.2), in the basic-block form that suits
 * 28 px images: a conv3x3 -> GN -> ReLU stem without max-pool, and residual blocks of two 3x3 convs. Every
 * conv is bias-free (a GroupNorm follows it) with PyTorch's default init; the last GroupNorm of each residual
 * branch starts with weight 0, as the release does, so every block starts as its shortcut.
 *
 * @module
 */
import { Conv2d, GroupNorm, type InitRng, Module, parameter, type Tensor, tensor } from "@lzn/tensor";

/** Replaces a GroupNorm's weight by zeros (the release's `init_zero` on a branch's last norm). */
function zeroWeight(norm: GroupNorm): void {
  norm.weight!.dispose();
  norm.weight = parameter(tensor(new Float32Array(norm.channels), [norm.channels]));
}

/** conv (bias-free) -> GroupNorm: the unit every part of the ResNet is made of. */
class ConvNorm extends Module {
  conv: Conv2d;
  norm: GroupNorm;
  constructor(cin: number, cout: number, kernel: number, stride: number, groups: number, rng: InitRng) {
    super();
    this.conv = new Conv2d(cin, cout, kernel, { stride, padding: (kernel - 1) / 2, bias: false, rng });
    this.norm = new GroupNorm(groups, cout);
  }
  forward(x: Tensor): Tensor {
    return this.norm.forward(this.conv.forward(x));
  }
}

/**
 * The stem: conv3x3 (stride 1) -> GroupNorm -> ReLU. The release's 224 px stem (conv7x7/2 and a 3/2 max-pool)
 * would leave 7 px of a 28 px image before the first stage.
 *
 * @example
 * ```ts
 * import { InitRng, tensor } from "@lzn/tensor";
 * import { ResNetStem } from "@lzn/encoders";
 * const stem = new ResNetStem(1, 8, 4, new InitRng(0));
 * const y = stem.forward(tensor(new Float32Array(2 * 28 * 28), [2, 1, 28, 28])); // [2, 8, 28, 28]
 * ```
 */
export class ResNetStem extends Module {
  /** The conv3x3 and its GroupNorm. */
  unit: ConvNorm;

  /** `inChannels -> channels`, GroupNorm with `groups` groups; `rng` draws the conv init. */
  constructor(inChannels: number, channels: number, groups: number, rng: InitRng) {
    super();
    this.unit = new ConvNorm(inChannels, channels, 3, 1, groups, rng);
  }

  /** `x [N, Cin, H, W] -> [N, C, H, W]`. */
  forward(x: Tensor): Tensor {
    return this.unit.forward(x).relu();
  }
}

/**
 * Options of {@link ResidualBlock}.
 *
 * @example
 * ```ts
 * import { InitRng } from "@lzn/tensor";
 * import { ResidualBlock, type ResidualBlockOptions } from "@lzn/encoders";
 * const opts: ResidualBlockOptions = { inChannels: 8, outChannels: 16, stride: 2, groups: 4, rng: new InitRng(1) };
 * const block = new ResidualBlock(opts); // has a projection shortcut
 * ```
 */
export interface ResidualBlockOptions {
  /** Input channels. */
  inChannels: number;
  /** Output channels (a multiple of `groups`). */
  outChannels: number;
  /** Stride of the first conv and of the projection shortcut (1 or 2). */
  stride: number;
  /** GroupNorm groups. */
  groups: number;
  /** Init stream of the convs. */
  rng: InitRng;
}

/**
 * A basic residual block with GroupNorm: `relu(GN(conv3x3(relu(GN(conv3x3_s(x))))) + shortcut(x))`, where the
 * shortcut is the identity, or conv1x1 with the block's stride followed by GroupNorm when the shape changes.
 * The branch's last GroupNorm has weight 0 at init.
 *
 * @example
 * ```ts
 * import { InitRng, tensor } from "@lzn/tensor";
 * import { ResidualBlock } from "@lzn/encoders";
 * const block = new ResidualBlock({ inChannels: 4, outChannels: 8, stride: 2, groups: 2, rng: new InitRng(0) });
 * const y = block.forward(tensor(new Float32Array(4 * 8 * 8), [1, 4, 8, 8])); // [1, 8, 4, 4]
 * console.log(block.namedParameters().map(([name]) => name)); // conv1.conv.weight, ..., shortcut.norm.bias
 * ```
 */
export class ResidualBlock extends Module {
  /** conv3x3 with the block's stride, then GroupNorm (followed by ReLU). */
  conv1: ConvNorm;
  /** conv3x3, then the zero-initialised GroupNorm. */
  conv2: ConvNorm;
  /** The projection shortcut, present when the stride or the channel count changes the shape. */
  shortcut: ConvNorm | undefined;

  /** Builds the block (see {@link ResidualBlockOptions}). */
  constructor(opts: ResidualBlockOptions) {
    super();
    const { inChannels: cin, outChannels: cout, stride, groups, rng } = opts;
    this.conv1 = new ConvNorm(cin, cout, 3, stride, groups, rng);
    this.conv2 = new ConvNorm(cout, cout, 3, 1, groups, rng);
    zeroWeight(this.conv2.norm);
    this.shortcut = stride !== 1 || cin !== cout
      ? new ConvNorm(cin, cout, 1, stride, groups, rng)
      : undefined;
  }

  /** `x [N, Cin, H, W] -> [N, Cout, H', W']`. */
  forward(x: Tensor): Tensor {
    const branch = this.conv2.forward(this.conv1.forward(x).relu());
    return branch.add(this.shortcut ? this.shortcut.forward(x) : x).relu();
  }
}
