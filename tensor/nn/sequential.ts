/**
 * `Sequential`: applies layers in order; children are named by index (`"0.weight"`, `"2.bias"`), matching
 * PyTorch's `nn.Sequential` state-dict keys.
 *
 * @module
 */
import type { Tensor } from "../tensor.ts";
import { type Layer, Module } from "./module.ts";

/**
 * A chain of single-input layers.
 *
 * @example
 * ```ts
 * import { Linear, Sequential, SiLU } from "@lzn/tensor";
 * const mlp = new Sequential(new Linear(2, 16), new SiLU(), new Linear(16, 2));
 * console.log(mlp.namedParameters().map(([n]) => n)); // ["0.weight", "0.bias", "2.weight", "2.bias"]
 * ```
 */
export class Sequential extends Module {
  /** The layers, in application order. */
  readonly layers: (Module & Layer)[];

  /** Chains `layers`. */
  constructor(...layers: (Module & Layer)[]) {
    super();
    this.layers = layers;
  }

  /** Children named "0", "1", ... instead of "layers.0". */
  override children(): [string, Module][] {
    return this.layers.map((m, i) => [String(i), m]);
  }

  /** Applies every layer in turn. Intermediates belong to the caller's scope. */
  forward(x: Tensor): Tensor {
    let y = x;
    for (const layer of this.layers) y = layer.forward(y);
    return y;
  }
}
