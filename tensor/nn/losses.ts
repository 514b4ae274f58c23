/**
 * Losses built from the core's differentiable ops: cross-entropy for classification, mean squared error for
 * regression.
 *
 * `crossEntropy` is the mean softmax cross-entropy from logits and integer labels: `logSoftmax` (one fused,
 * max-shifted row kernel, so large logits stay finite) times a one-hot mask, summed per row. Its gradient
 * with respect to the logits is `(softmax - onehot) / n` through the ops' own VJPs.
 *
 * @module
 */
import { oneHot } from "../ops/index.ts";
import { Tensor, tensor } from "../tensor.ts";

/**
 * `-(1/n) sum_i log softmax(logits_i)[labels_i]` as a scalar tensor, differentiable in `logits [n, C]`.
 * `labels` are class indices: an i32 tensor `[n]` or a host array (uploaded as i32). A label outside
 * `[0, C)` has an all-zero one-hot row, so that row contributes 0 to the sum (it is not checked here,
 * since a label tensor would need a readback).
 *
 * @example
 * ```ts
 * import { crossEntropy, tensor } from "@lzn/tensor";
 * const loss = crossEntropy(tensor([0, 0, 0, 0], [2, 2]), Int32Array.of(0, 1));
 * console.log(await loss.item()); // 0.6931 (= log 2)
 * ```
 */
export function crossEntropy(logits: Tensor, labels: Tensor | ArrayLike<number>): Tensor {
  if (logits.ndim !== 2) {
    throw new Error(`lzn: crossEntropy: logits must be [n, classes], got [${logits.shape}]`);
  }
  const [n, classes] = logits.shape;
  const owned = !(labels instanceof Tensor);
  const index = labels instanceof Tensor ? labels : tensor(labels, [labels.length], { dtype: "i32" });
  if (index.size !== n) {
    if (owned) index.dispose();
    throw new Error(`lzn: crossEntropy: ${index.size} labels for ${n} rows of logits`);
  }
  const mask = oneHot(index, classes);
  const logp = logits.logSoftmax(1);
  const picked = logp.mul(mask);
  const perRow = picked.sum(1);
  const mean = perRow.mean();
  const loss = mean.neg();
  // Intermediates keep what their VJPs need through the graph; the caller only owns `loss`.
  for (const t of [mask, logp, picked, perRow, mean]) t.dispose();
  if (owned) index.dispose();
  return loss;
}

/**
 * Mean squared error `(1/n) sum (prediction - target)^2` over all elements, as a scalar tensor,
 * differentiable in both. The shapes must be equal (no broadcasting, so a `[n]` target against a `[n, 1]`
 * prediction is an error rather than an `[n, n]` surprise).
 *
 * @example
 * ```ts
 * import { mseLoss, tensor } from "@lzn/tensor";
 * const loss = mseLoss(tensor([1, 2, 3], [3, 1]), tensor([1, 0, 0], [3, 1]));
 * console.log(await loss.item()); // 4.3333 (= (0 + 4 + 9) / 3)
 * ```
 */
export function mseLoss(prediction: Tensor, target: Tensor): Tensor {
  const a = prediction.shape, b = target.shape;
  if (a.length !== b.length || a.some((d, i) => d !== b[i])) {
    throw new Error(
      `lzn: mseLoss: prediction [${a.join(", ")}] and target [${b.join(", ")}] differ in shape`,
    );
  }
  const diff = prediction.sub(target);
  const squared = diff.mul(diff);
  const loss = squared.mean();
  diff.dispose();
  squared.dispose();
  return loss;
}
