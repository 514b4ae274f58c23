/**
 * The RF velocity network: a small UNet (NCSN++'s layout at MNIST size, spec §5.3). Conditioning vector
 * `cond = concat(z [q], one-hot(c) [C], temb)` in that order, then `e = Linear(SiLU(Linear(cond)))`; every
 * ResBlock adds `Dense(SiLU(e))` per channel. The only change from plain RF is the `z` part of `cond`.
 *
 * Layout (default widths [16, 32, 32], one ResBlock per level): conv3x3 at 28x28; per level ResBlocks, then
 * 2x2 average pooling (28 -> 14 -> 7); middle ResBlock, self-attention, ResBlock at 7x7; up path with one
 * more ResBlock per level than the way down, each reading the matching down-path activation concatenated
 * (DDPM-style skips), nearest-neighbour upsampling + conv between levels; GN, SiLU, conv3x3 to the output.
 *
 * @module
 */
import { avgPool2d, concat, Conv2d, GroupNorm, InitRng, Linear, Module, type Tensor } from "@lzn/tensor";
import {
  normGroups,
  parseRfDecoderConfig,
  type RfDecoderConfig,
  type RfDecoderConfigInput,
} from "./rf_config.ts";
import { timestepEmbedding } from "./time_embedding.ts";
import { AttentionBlock, ResBlock, Upsample } from "./unet_blocks.ts";

/**
 * The condition of one velocity evaluation.
 *
 * @example
 * ```ts
 * import type { RfCondition } from "@lzn/decoders";
 * import { oneHot, tensor } from "@lzn/tensor";
 * const cond: RfCondition = {
 *   latents: tensor(new Float32Array(8), [2, 4]),
 *   classes: oneHot(tensor([0, 1], [2], { dtype: "i32" }), 10),
 * };
 * ```
 */
export interface RfCondition {
  /** Latents `[B, q]` (required iff the network's `latentDim > 0`). */
  latents?: Tensor;
  /** One-hot classes `[B, C]` (required iff the network's `classes > 0`). */
  classes?: Tensor;
}

/**
 * The velocity network `v̂ = net(x_t, t, cond)`; its output is the predicted `x_data − noise` (spec §5.3).
 *
 * @example
 * ```ts
 * import { RfUNet } from "@lzn/decoders";
 * import { oneHot, tensor } from "@lzn/tensor";
 * const net = new RfUNet({ latentDim: 4, classes: 10, channels: [8, 8, 8] });
 * const x = tensor(new Float32Array(2 * 784), [2, 1, 28, 28]);
 * const v = net.forward(x, tensor([0.2, 0.9], [2]), {
 *   latents: tensor(new Float32Array(8), [2, 4]),
 *   classes: oneHot(tensor([3, 7], [2], { dtype: "i32" }), 10),
 * }); // [2, 1, 28, 28]
 * ```
 */
export class RfUNet extends Module {
  /** The validated config. */
  readonly config: RfDecoderConfig;
  /** First conditioning layer, `q + C + timeEmbedDim -> condDim`. */
  condIn: Linear;
  /** Second conditioning layer, `condDim -> condDim`. */
  condHidden: Linear;
  /** Input 3x3 conv to the first level's width. */
  convIn: Conv2d;
  /** Down path: `resBlocks` ResBlocks per level. */
  down: ResBlock[];
  /** The two middle ResBlocks at the coarsest level. */
  middle: ResBlock[];
  /** Self-attention between the middle ResBlocks (if enabled). */
  attention: AttentionBlock | undefined;
  /** Up path: `resBlocks + 1` ResBlocks per level, coarsest level first. */
  up: ResBlock[];
  /** One upsample per level except the finest, coarsest first. */
  upsample: Upsample[];
  /** Output normalisation. */
  normOut: GroupNorm;
  /** Output 3x3 conv to the image channels (near-zero init by default). */
  convOut: Conv2d;

  /** Builds the network; throws an error listing every problem of a bad config. */
  constructor(config: RfDecoderConfigInput = {}) {
    super();
    const cfg = this.config = parseRfDecoderConfig(config);
    const rng = new InitRng(cfg.seed);
    const init = { rng, zeroInit: cfg.zeroInit };
    const condIn = cfg.latentDim + cfg.classes + cfg.timeEmbedDim;
    this.condIn = new Linear(condIn, cfg.condDim, { init: "ddpm", rng });
    this.condHidden = new Linear(cfg.condDim, cfg.condDim, { init: "ddpm", rng });
    const widths = cfg.channels;
    this.convIn = new Conv2d(cfg.inChannels, widths[0], 3, { padding: 1, init: "ddpm", rng });
    // Widths of the activations the up path will read back, in push order.
    const skips = [widths[0]];
    this.down = [];
    let c = widths[0];
    widths.forEach((w, level) => {
      for (let r = 0; r < cfg.resBlocks; r++) {
        this.down.push(new ResBlock(c, w, cfg.condDim, init));
        c = w;
        skips.push(c);
      }
      if (level < widths.length - 1) skips.push(c); // the pooled activation
    });
    this.middle = [new ResBlock(c, c, cfg.condDim, init), new ResBlock(c, c, cfg.condDim, init)];
    this.attention = cfg.attention ? new AttentionBlock(c, init) : undefined;
    this.up = [];
    this.upsample = [];
    for (let level = widths.length - 1; level >= 0; level--) {
      for (let r = 0; r <= cfg.resBlocks; r++) {
        this.up.push(new ResBlock(c + skips.pop()!, widths[level], cfg.condDim, init));
        c = widths[level];
      }
      if (level > 0) this.upsample.push(new Upsample(c, rng));
    }
    this.normOut = new GroupNorm(normGroups(c), c, { eps: 1e-6 });
    this.convOut = new Conv2d(c, cfg.inChannels, 3, {
      padding: 1,
      init: cfg.zeroInit ? "ddpm-zero" : "ddpm",
      rng,
    });
  }

  /** The conditioning vector after the MLP and its SiLU, `[B, condDim]` (what every ResBlock reads). */
  condition(t: Tensor, cond: RfCondition): Tensor {
    const cfg = this.config;
    const b = t.shape[0];
    const parts: Tensor[] = [];
    if (cfg.latentDim > 0) parts.push(expect(cond.latents, [b, cfg.latentDim], "latents"));
    else if (cond.latents) throw new Error("RF decoder: latents given to a network without a latent input");
    if (cfg.classes > 0) parts.push(expect(cond.classes, [b, cfg.classes], "classes (one-hot)"));
    else if (cond.classes) throw new Error("RF decoder: classes given to an unconditional network");
    parts.push(timestepEmbedding(t, cfg.timeEmbedDim));
    const input = parts.length === 1 ? parts[0] : concat(parts, 1);
    return this.condHidden.forward(this.condIn.forward(input).silu()).silu();
  }

  /** Velocity `[B, C, H, W]` at images `x [B, C, H, W]`, RF times `t [B]` (1 = data, 0 = noise). */
  forward(x: Tensor, t: Tensor, cond: RfCondition = {}): Tensor {
    const cfg = this.config;
    const s = cfg.imageSize;
    if (x.ndim !== 4 || x.shape[1] !== cfg.inChannels || x.shape[2] !== s || x.shape[3] !== s) {
      throw new Error(
        `RF decoder: images must be [B, ${cfg.inChannels}, ${s}, ${s}], got [${x.shape.join(", ")}]`,
      );
    }
    if (t.ndim !== 1 || t.shape[0] !== x.shape[0]) {
      throw new Error(`RF decoder: times must be [${x.shape[0]}], got [${t.shape.join(", ")}]`);
    }
    const e = this.condition(t, cond);
    let h = this.convIn.forward(x);
    const skips = [h];
    let k = 0;
    cfg.channels.forEach((_, level) => {
      for (let r = 0; r < cfg.resBlocks; r++) skips.push(h = this.down[k++].forward(h, e));
      if (level < cfg.channels.length - 1) skips.push(h = avgPool2d(h, 2));
    });
    h = this.middle[0].forward(h, e);
    if (this.attention) h = this.attention.forward(h);
    h = this.middle[1].forward(h, e);
    k = 0;
    for (let level = cfg.channels.length - 1, u = 0; level >= 0; level--) {
      for (let r = 0; r <= cfg.resBlocks; r++) h = this.up[k++].forward(concat([h, skips.pop()!], 1), e);
      if (level > 0) h = this.upsample[u++].forward(h);
    }
    return this.convOut.forward(this.normOut.forward(h).silu());
  }
}

function expect(t: Tensor | undefined, shape: number[], what: string): Tensor {
  if (!t) throw new Error(`RF decoder: ${what} [${shape.join(", ")}] are required by this network`);
  if (t.ndim !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
    throw new Error(`RF decoder: ${what} must be [${shape.join(", ")}], got [${t.shape.join(", ")}]`);
  }
  return t;
}
