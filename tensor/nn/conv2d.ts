/**
 * `Conv2d`: a 2-D convolution layer over NCHW input with the PyTorch weight layout `[out, in, k, k]`, on top
 * of the implicit-GEMM `conv2d` op.
 *
 * @module
 */
import { conv2d } from "../ops/conv.ts";
import { type Tensor, tensor } from "../tensor.ts";
import { defaultInitRng, type InitRng, type InitScheme, initValues } from "./init.ts";
import { Module, parameter } from "./module.ts";

/**
 * Options of {@link Conv2d}.
 *
 * @example
 * ```ts
 * import { Conv2d, type Conv2dLayerOptions, InitRng } from "@lzn/tensor";
 * const opts: Conv2dLayerOptions = { stride: 2, padding: 1, bias: false, init: "ddpm", rng: new InitRng(7) };
 * const down = new Conv2d(8, 16, 3, opts); // [N, 8, H, W] -> [N, 16, H/2, W/2]
 * ```
 */
export interface Conv2dLayerOptions {
  /** Stride (default 1). */
  stride?: number;
  /** Zero padding on each side (default 0; use `(k - 1) / 2` for "same"). */
  padding?: number;
  /** Add a learned bias (default true). */
  bias?: boolean;
  /** Initialisation scheme (default `"torch"`; NCSN++ uses `"ddpm"` and `"ddpm-zero"`). */
  init?: InitScheme;
  /** PRNG for the init (default: the stream reseeded by `seedInit`). */
  rng?: InitRng;
}

/**
 * A square-kernel 2-D convolution, `x [N, Cin, H, W] -> [N, Cout, H', W']`.
 *
 * @example
 * ```ts
 * import { Conv2d, tensor } from "@lzn/tensor";
 * const conv = new Conv2d(1, 4, 3, { padding: 1, init: "ddpm" });
 * const y = conv.forward(tensor(new Float32Array(16), [1, 1, 4, 4])); // [1, 4, 4, 4]
 * ```
 */
export class Conv2d extends Module {
  /** Weight `[out, in, k, k]`. */
  weight: Tensor;
  /** Bias `[out]`, if enabled. */
  bias: Tensor | undefined;
  /** Stride. */
  readonly stride: number;
  /** Padding. */
  readonly padding: number;

  /** Creates the layer with initialised parameters. */
  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    readonly kernelSize: number,
    opts: Conv2dLayerOptions = {},
  ) {
    super();
    this.stride = opts.stride ?? 1;
    this.padding = opts.padding ?? 0;
    const shape = [outChannels, inChannels, kernelSize, kernelSize];
    const { weight, bias } = initValues(
      shape,
      opts.bias === false ? 0 : outChannels,
      opts.init ?? "torch",
      opts.rng ?? defaultInitRng(),
    );
    this.weight = parameter(tensor(weight, shape));
    this.bias = opts.bias === false ? undefined : parameter(tensor(bias, [outChannels]));
  }

  /** Convolves `x [N, Cin, H, W]`. */
  forward(x: Tensor): Tensor {
    if (x.ndim !== 4 || x.shape[1] !== this.inChannels) {
      throw new Error(
        `lzn: Conv2d(${this.inChannels}, ${this.outChannels}, ${this.kernelSize}) got input [${
          x.shape.join(", ")
        }]`,
      );
    }
    return conv2d(x, this.weight, this.bias, { stride: this.stride, padding: this.padding });
  }
}
