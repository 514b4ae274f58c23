/**
 * `GroupNorm`: normalises each group of channels per sample, then applies a per-channel affine map
 * (weight 1, bias 0 at init, as in PyTorch).
 *
 * @module
 */
import { groupNorm } from "../ops/norm.ts";
import { type Tensor, tensor } from "../tensor.ts";
import { Module, parameter } from "./module.ts";

/**
 * Options of {@link GroupNorm}.
 *
 * @example
 * ```ts
 * import { GroupNorm, type GroupNormLayerOptions } from "@lzn/tensor";
 * const opts: GroupNormLayerOptions = { eps: 1e-6, affine: true };
 * const gn = new GroupNorm(8, 32, opts);
 * ```
 */
export interface GroupNormLayerOptions {
  /** Added to the variance (default 1e-5, PyTorch's; NCSN++ uses 1e-6). */
  eps?: number;
  /** Learn a per-channel weight and bias (default true). */
  affine?: boolean;
}

/**
 * Group normalisation over `x [N, C, ...]`.
 *
 * @example
 * ```ts
 * import { GroupNorm, tensor } from "@lzn/tensor";
 * const gn = new GroupNorm(2, 4, { eps: 1e-6 });
 * const y = gn.forward(tensor(new Float32Array(32).map((_, i) => i), [2, 4, 2, 2]));
 * ```
 */
export class GroupNorm extends Module {
  /** Per-channel scale `[C]` (affine only). */
  weight: Tensor | undefined;
  /** Per-channel shift `[C]` (affine only). */
  bias: Tensor | undefined;
  /** Variance epsilon. */
  readonly eps: number;

  /** Creates the layer; `channels` must be divisible by `groups`. */
  constructor(readonly groups: number, readonly channels: number, opts: GroupNormLayerOptions = {}) {
    super();
    if (!Number.isInteger(groups) || groups < 1 || channels % groups !== 0) {
      throw new Error(`lzn: GroupNorm needs channels (${channels}) divisible by groups (${groups})`);
    }
    this.eps = opts.eps ?? 1e-5;
    const affine = opts.affine ?? true;
    this.weight = affine ? parameter(tensor(new Float32Array(channels).fill(1), [channels])) : undefined;
    this.bias = affine ? parameter(tensor(new Float32Array(channels), [channels])) : undefined;
  }

  /** Normalises `x [N, C, ...]`. */
  forward(x: Tensor): Tensor {
    if (x.ndim < 2 || x.shape[1] !== this.channels) {
      throw new Error(`lzn: GroupNorm(${this.groups}, ${this.channels}) got input [${x.shape.join(", ")}]`);
    }
    return groupNorm(x, this.groups, this.weight, this.bias, this.eps);
  }
}
