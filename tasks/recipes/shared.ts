/**
 * Pieces that more than one recipe uses.
 *
 * @module
 */
import { type Tensor, tensor } from "@lzn/tensor";

/**
 * Per-class frequencies of a batch's labels (spec §4.7): absent classes get weight 0.
 *
 * @example
 * ```ts
 * import { classFrequencies } from "@lzn/tasks";
 * console.log(classFrequencies(Int32Array.from([0, 0, 2, 1]), 3)); // [0.5, 0.25, 0.25]
 * ```
 */
export function classFrequencies(labels: Int32Array, classes: number): Float32Array {
  const w = new Float32Array(classes);
  for (const c of labels) w[c] += 1 / labels.length;
  return w;
}

/**
 * The label flow's anchor weights of a training batch: its class frequencies when `on`, else none (uniform).
 *
 * @example
 * ```ts
 * import { labelWeights } from "@lzn/tasks";
 * const w = labelWeights(Int32Array.from([1, 1, 0]), 3, true); // tensor [1/3, 2/3, 0]
 * ```
 */
export function labelWeights(labels: Int32Array, classes: number, on: boolean): Tensor | undefined {
  return on ? tensor(classFrequencies(labels, classes), [classes]) : undefined;
}
