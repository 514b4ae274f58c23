import type { Tensor } from "../tensor.ts";
/** Reorders axes (placeholder). */
export function permute(_x: Tensor, _axes: number[]): Tensor {
  throw new Error("permute: not implemented yet");
}
/** Slices one axis (placeholder). */
export function slice(_x: Tensor, _axis: number, _start: number, _end: number): Tensor {
  throw new Error("slice: not implemented yet");
}
