/**
 * Activations as parameter-free modules, so they can sit in a {@link Sequential} or be swapped by config.
 *
 * @module
 */
import type { Tensor } from "../tensor.ts";
import { Module } from "./module.ts";

/**
 * `x * sigmoid(x)` (swish), the activation of NCSN++.
 *
 * @example
 * ```ts
 * import { SiLU, tensor } from "@lzn/tensor";
 * const y = new SiLU().forward(tensor([-1, 0, 1], [3]));
 * ```
 */
export class SiLU extends Module {
  /** Applies SiLU elementwise. */
  forward(x: Tensor): Tensor {
    return x.silu();
  }
}

/**
 * `max(x, 0)`.
 *
 * @example
 * ```ts
 * import { ReLU, tensor } from "@lzn/tensor";
 * const y = new ReLU().forward(tensor([-1, 2], [2])); // [0, 2]
 * ```
 */
export class ReLU extends Module {
  /** Applies ReLU elementwise. */
  forward(x: Tensor): Tensor {
    return x.relu();
  }
}

/**
 * GELU, tanh approximation (PyTorch `nn.GELU(approximate="tanh")`; differs from the erf form by < 1e-3).
 *
 * @example
 * ```ts
 * import { GELU, tensor } from "@lzn/tensor";
 * const y = new GELU().forward(tensor([-1, 0, 1], [3]));
 * ```
 */
export class GELU extends Module {
  /** Applies GELU elementwise. */
  forward(x: Tensor): Tensor {
    return x.gelu();
  }
}
