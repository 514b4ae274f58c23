/**
 * The latent transformation block of spec §5.2: one per feature map of the image encoder, turning a map
 * `[N, C, r, r]` into a contribution `[N, q]` to the anchor.
 *
 * @module
 */
import { Conv2d, type InitRng, Linear, Module, type Tensor } from "@lzn/tensor";

/**
 * Sizes of a {@link LatentHead}.
 *
 * @example
 * ```ts
 * import { InitRng } from "@lzn/tensor";
 * import { LatentHead, type LatentHeadOptions } from "@lzn/encoders";
 * const opts: LatentHeadOptions = {
 *   channels: 32,
 *   resolution: 7,
 *   headChannels: 20,
 *   hidden: 200,
 *   layers: 2,
 *   latentDim: 32,
 *   rng: new InitRng(0),
 * };
 * const head = new LatentHead(opts); // [N, 32, 7, 7] -> [N, 32]
 * ```
 */
export interface LatentHeadOptions {
  /** Channels of the feature map. */
  channels: number;
  /** Spatial size r of the (square) feature map. */
  resolution: number;
  /** Channels after the 1x1 conv (the release: 20). */
  headChannels: number;
  /** Units of the hidden Linear layers (the release: 200). */
  hidden: number;
  /** Number of Linear layers, at least 2 (the release: 2). */
  layers: number;
  /** Output size: the latent dimension q. */
  latentDim: number;
  /** Initialisation stream. */
  rng: InitRng;
}

/**
 * `conv1x1(C -> headChannels) -> SiLU -> flatten -> Linear(headChannels·r² -> hidden) -> SiLU ->
 * [Linear(hidden -> hidden) -> SiLU] x (layers - 2) -> Linear(hidden -> q)`.
 *
 * @example
 * ```ts
 * import { InitRng, tensor } from "@lzn/tensor";
 * import { LatentHead } from "@lzn/encoders";
 * const head = new LatentHead({ channels: 8, resolution: 7, headChannels: 4, hidden: 32, layers: 2, latentDim: 16, rng: new InitRng(0) });
 * const out = head.forward(tensor(new Float32Array(2 * 8 * 49), [2, 8, 7, 7])); // [2, 16]
 * ```
 */
export class LatentHead extends Module {
  /** The 1x1 channel reduction. */
  reduce: Conv2d;
  /** The Linear layers, SiLU between them. */
  layers: Linear[];
  readonly #flat: number;

  /** Builds the head for one feature map. */
  constructor(opts: LatentHeadOptions) {
    super();
    const { channels, resolution, headChannels, hidden, layers, latentDim, rng } = opts;
    this.reduce = new Conv2d(channels, headChannels, 1, { rng });
    this.#flat = headChannels * resolution * resolution;
    const sizes = [this.#flat, ...Array(layers - 1).fill(hidden), latentDim];
    this.layers = sizes.slice(1).map((out, i) => new Linear(sizes[i], out, { rng }));
  }

  /** `h [N, C, r, r] -> [N, q]`. */
  forward(h: Tensor): Tensor {
    let x = this.reduce.forward(h).silu().reshape([h.shape[0], this.#flat]);
    this.layers.forEach((layer, i) => {
      x = layer.forward(x);
      if (i < this.layers.length - 1) x = x.silu();
    });
    return x;
  }
}
