/**
 * @lzn/tensor — a tensor core on WebGPU: tensors, kernels, autograd, nn, optim and checkpoints.
 *
 * @example
 * ```ts
 * import { tensor } from "@lzn/tensor";
 * const x = tensor([1, 2, 3], [3], { requiresGrad: true });
 * const y = x.mul(x).sum();
 * y.backward();
 * console.log(await x.grad!.toArray()); // Float32Array [2, 4, 6]
 * ```
 *
 * @module
 */
export { type DType, shapeSize, Tensor, tensor, type TensorOptions } from "./tensor.ts";
export { backward, grad, type GradNode, isGradEnabled, noGrad, record, type Vjp } from "./autograd.ts";
export { scope } from "./scope.ts";
export { acquireDevice, type AdapterReport, gpu, type GpuContext, hasGpu } from "./device.ts";
export { type BufferPool, bufferPool, type PooledBuffer } from "./pool.ts";
export { bindings, compiledKernelCount, f32Lit, type Kernel, kernel, type KernelSpec } from "./kernel.ts";
export { copyBuffer, dispatch, type Dispatch, flush, readBuffer, recorderStats, synchronize, upload } from "./recorder.ts";
export { binary, broadcastTo, cast, full, sumTo, unary, where } from "./ops/elementwise.ts";
export { BINARY, type BinaryOp, type BinarySpec, UNARY, type UnaryOp, type UnarySpec } from "./ops/optable.ts";
export { argmax, reduce, type ReduceOp } from "./ops/reduce.ts";
export { broadcastShapes, linearGrid, linearIndex, normAxis, stridesOf } from "./ops/grid.ts";
export { matmul, type MatmulOptions } from "./ops/matmul.ts";
export { permute, slice } from "./ops/shape.ts";
export { logSoftmax, softmax } from "./ops/softmax.ts";
