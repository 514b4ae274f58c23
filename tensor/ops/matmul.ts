import type { Tensor } from "../tensor.ts";
/** Options of matmul. */
export interface MatmulOptions {
  /** Treat `a` as transposed in its last two dims. */
  transA?: boolean;
  /** Treat `b` as transposed in its last two dims. */
  transB?: boolean;
}
/** Matrix product (placeholder until the matmul kernels land). */
export function matmul(_a: Tensor, _b: Tensor, _opts?: MatmulOptions): Tensor {
  throw new Error("matmul: not implemented yet");
}
