/**
 * The sinusoidal time embedding of NCSN++'s positional mode (spec §5.3): the RF time `t ∈ [0, 1]` is clamped
 * and scaled to `τ = 999 t`, then `[sin(τ f_k), cos(τ f_k)]` with `f_k = exp(−log(10000) k / (half − 1))`.
 *
 * @module
 */
import { concat, noGrad, type Tensor, tensor } from "@lzn/tensor";

/**
 * Embeds RF times `t [B]` as `[B, dim]` (half sines, then half cosines). Not differentiable in `t` (no
 * caller needs it: the times are sampled, never learned).
 *
 * @example
 * ```ts
 * import { timestepEmbedding } from "@lzn/decoders";
 * import { tensor } from "@lzn/tensor";
 * const e = timestepEmbedding(tensor([0, 0.5, 1], [3]), 8); // [3, 8]; row 0 is [0,0,0,0, 1,1,1,1]
 * ```
 */
export function timestepEmbedding(t: Tensor, dim: number): Tensor {
  if (t.ndim !== 1) throw new Error(`timestepEmbedding: t must be [B], got [${t.shape.join(", ")}]`);
  if (dim % 2 !== 0 || dim < 4) throw new Error(`timestepEmbedding: dim must be even and >= 4, got ${dim}`);
  const half = dim / 2;
  const freqs = new Float32Array(half);
  for (let k = 0; k < half; k++) freqs[k] = Math.exp(-Math.log(10000) * k / (half - 1));
  return noGrad(() => {
    const f = tensor(freqs, [1, half]);
    const lo = t.maximum(0), hi = lo.minimum(1), tau = hi.mul(999);
    const column = tau.reshape([t.shape[0], 1]);
    const angle = column.mul(f); // [B, half]
    const sin = angle.sin(), cos = angle.cos();
    const out = concat([sin, cos], 1);
    for (const x of [f, lo, hi, tau, column, angle, sin, cos]) x.dispose();
    return out;
  });
}
