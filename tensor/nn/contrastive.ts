/**
 * The NT-Xent (normalised temperature-scaled cross-entropy) loss of SimCLR, built from differentiable ops so
 * that autograd gives its gradient: the 2B rows of both views are L2-normalised, their cosine similarities
 * divided by the temperature, each row's own similarity masked out of the softmax, and the other view of the
 * same item is the class to predict.
 *
 * @module
 */
import { where } from "../ops/elementwise.ts";
import { oneHot } from "../ops/index.ts";
import { concat } from "../ops/shape.ts";
import { type Tensor, tensor } from "../tensor.ts";
import { crossEntropy } from "./losses.ts";

/**
 * The logit that stands for "excluded" on the diagonal. Finite on purpose: a -Infinity logit would give a
 * -Infinity log-probability, and the cross-entropy's one-hot product would turn its 0 weight into NaN. At
 * 1e9 below every cosine / temperature its softmax weight underflows to exactly 0 (SimCLR's LARGE_NUM).
 */
const EXCLUDED = -1e9;

/**
 * `F.normalize`'s clamp of the norm (1e-12), squared: rows are divided by `max(||z||, 1e-12)`, so an
 * all-zero row gives zeros instead of NaN.
 */
const MIN_SQUARED_NORM = 1e-24;

/**
 * NT-Xent of two views `z1, z2 [B, d]` (row i of each is the same item), as a scalar tensor: the mean over
 * the 2B rows of `z = [z1; z2]` of
 * `-log( exp(s(i, p(i)) / T) / sum_{k != i} exp(s(i, k) / T) )`, with `s` the cosine similarity and
 * `p(i) = (i + B) mod 2B` the other view of row i. The denominator runs over the 2B - 1 other rows (self-
 * similarity excluded, as in SimCLR). SimCLR's TensorFlow code sums the two views' means, which is twice this
 * value; the mean over 2B rows is the common PyTorch form. Differentiable in `z1` and `z2`.
 *
 * @example
 * ```ts
 * import { ntXent, tensor } from "@lzn/tensor";
 * const z1 = tensor([1, 0, 0, 1], [2, 2], { requiresGrad: true });
 * const z2 = tensor([1, 0.1, 0.1, 1], [2, 2], { requiresGrad: true });
 * const loss = ntXent(z1, z2, 0.5); // small: each row's positive is its most similar other row
 * loss.backward();                  // z1.grad, z2.grad
 * ```
 */
export function ntXent(z1: Tensor, z2: Tensor, temperature: number): Tensor {
  if (z1.ndim !== 2 || z2.ndim !== 2 || z1.shape[0] !== z2.shape[0] || z1.shape[1] !== z2.shape[1]) {
    throw new Error(`ntXent: views must both be [B, d], got [${z1.shape}] and [${z2.shape}]`);
  }
  if (z1.shape[0] < 1) throw new Error("ntXent: needs at least one item per view");
  if (!(temperature > 0 && Number.isFinite(temperature))) {
    throw new Error(`ntXent: temperature must be a positive number, got ${temperature}`);
  }
  const b = z1.shape[0], n = 2 * b;
  const z = concat([z1, z2], 0);
  const squared = z.square();
  const norm2 = squared.sum(1, true);
  const clamped = norm2.maximum(MIN_SQUARED_NORM);
  const inverse = clamped.rsqrt();
  const unit = z.mul(inverse);
  const cosine = unit.matmul(unit, { transB: true });
  const logits = cosine.div(temperature);
  const rows = tensor(Int32Array.from({ length: n }, (_, i) => i), [n], { dtype: "i32" });
  const self = oneHot(rows, n);
  const masked = where(self, EXCLUDED, logits);
  const loss = crossEntropy(masked, Int32Array.from({ length: n }, (_, i) => (i + b) % n));
  // Intermediates keep what their VJPs need through the graph; the caller only owns `loss`.
  for (const t of [z, squared, norm2, clamped, inverse, unit, cosine, logits, rows, self, masked]) {
    t.dispose();
  }
  return loss;
}
