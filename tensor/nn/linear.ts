/**
 * `Linear`: `y = x W^T + b` with the PyTorch weight layout `[out, in]`, so checkpoints map one to one; the
 * transposed operand is read in place by the matmul kernel (`transB`), not copied.
 *
 * @module
 */
import { type Tensor, tensor } from "../tensor.ts";
import { defaultInitRng, type InitRng, type InitScheme, initValues } from "./init.ts";
import { Module, parameter } from "./module.ts";

/**
 * Options of {@link Linear}.
 *
 * @example
 * ```ts
 * import { InitRng, Linear, type LinearOptions } from "@lzn/tensor";
 * const opts: LinearOptions = { bias: false, init: { kind: "normal", std: 0.02 }, rng: new InitRng(1) };
 * const proj = new Linear(64, 32, opts);
 * ```
 */
export interface LinearOptions {
  /** Add a learned bias (default true). */
  bias?: boolean;
  /** Initialisation scheme (default `"torch"`, PyTorch's default). */
  init?: InitScheme;
  /** PRNG for the init (default: the stream reseeded by `seedInit`). */
  rng?: InitRng;
}

/**
 * A fully connected layer over the last axis; any leading axes are batch axes.
 *
 * @example
 * ```ts
 * import { Linear, tensor } from "@lzn/tensor";
 * const fc = new Linear(3, 2, { init: "ddpm" });
 * const y = fc.forward(tensor([1, 2, 3, 4, 5, 6], [2, 3])); // [2, 2]
 * ```
 */
export class Linear extends Module {
  /** Weight `[out, in]`. */
  weight: Tensor;
  /** Bias `[out]`, if enabled. */
  bias: Tensor | undefined;

  /** Creates the layer with initialised parameters. */
  constructor(readonly inFeatures: number, readonly outFeatures: number, opts: LinearOptions = {}) {
    super();
    const { weight, bias } = initValues(
      [outFeatures, inFeatures],
      opts.bias === false ? 0 : outFeatures,
      opts.init ?? "torch",
      opts.rng ?? defaultInitRng(),
    );
    this.weight = parameter(tensor(weight, [outFeatures, inFeatures]));
    this.bias = opts.bias === false ? undefined : parameter(tensor(bias, [outFeatures]));
  }

  /** `x [..., in] -> [..., out]`. */
  forward(x: Tensor): Tensor {
    const last = x.shape[x.ndim - 1];
    if (last !== this.inFeatures) {
      throw new Error(
        `lzn: Linear(${this.inFeatures}, ${this.outFeatures}) got input [${x.shape.join(", ")}]`,
      );
    }
    const flat = x.ndim === 2 ? x : x.reshape([-1, last]);
    const prod = flat.matmul(this.weight, { transB: true });
    const y = this.bias ? prod.add(this.bias) : prod;
    if (x.ndim === 2) return y;
    return y.reshape([...x.shape.slice(0, -1), this.outFeatures]);
  }
}
