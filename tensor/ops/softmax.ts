import type { Tensor } from "../tensor.ts";
/** Softmax (placeholder). */
export function softmax(_x: Tensor, _axis: number): Tensor {
  throw new Error("softmax: not implemented yet");
}
/** Log-softmax (placeholder). */
export function logSoftmax(_x: Tensor, _axis: number): Tensor {
  throw new Error("logSoftmax: not implemented yet");
}
