/**
 * `@lzn/tensor` — a tensor core on WebGPU: tensors, kernels, autograd, nn, optim and checkpoints.
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
export { closest, ConfigError, parseConfig } from "./config.ts";
export { acquireDevice, type AdapterReport, gpu, type GpuContext, hasGpu } from "./device.ts";
export { type BufferPool, bufferPool, type PooledBuffer } from "./pool.ts";
export {
  bindings,
  compiledKernelCount,
  f32Lit,
  IS_NAN_WGSL,
  type Kernel,
  kernel,
  type KernelSpec,
} from "./kernel.ts";
export {
  beginDispatchTiming,
  copyBuffer,
  type Dispatch,
  dispatch,
  type DispatchTime,
  endDispatchTiming,
  flush,
  recorderStats,
} from "./recorder.ts";
export { freeCachedMemory, readBuffer, synchronize, upload } from "./transfer.ts";
export { type KernelProfile, type KernelTime, profileKernels } from "./profile.ts";
export { binary, broadcastTo, cast, full, sumTo, unary, where } from "./ops/elementwise.ts";
export {
  BINARY,
  type BinaryOp,
  type BinarySpec,
  UNARY,
  type UnaryOp,
  type UnarySpec,
} from "./ops/optable.ts";
export { argmax, reduce, type ReduceOp } from "./ops/reduce.ts";
export {
  broadcastShapes,
  type LinearGrid,
  linearGrid,
  linearIndex,
  normAxis,
  stridesOf,
} from "./ops/grid.ts";
export { matmul, type MatmulOptions, type MatmulPath } from "./ops/matmul.ts";
export { concat, pad, permute, slice, stack } from "./ops/shape.ts";
export { gather, oneHot, scatterAdd } from "./ops/index.ts";
export { philox4x32, rand, randn, randomBits, type RandomOptions, SeedStream } from "./ops/random.ts";
export { logSoftmax, softmax } from "./ops/softmax.ts";
export { conv2d, type Conv2dOptions } from "./ops/conv.ts";
export { avgPool2d, upsampleNearest2d } from "./ops/pool.ts";
export { groupNorm } from "./ops/norm.ts";
export { isParameter, type Layer, Module, parameter, type StateDictLoadOptions } from "./nn/module.ts";
export { loadState, type LoadStateOptions } from "./nn/state.ts";
export {
  defaultInitRng,
  fans,
  InitRng,
  type InitScheme,
  initValues,
  seedInit,
  uniformValues,
} from "./nn/init.ts";
export { Linear, type LinearOptions } from "./nn/linear.ts";
export { Conv2d, type Conv2dLayerOptions } from "./nn/conv2d.ts";
export { GroupNorm, type GroupNormLayerOptions } from "./nn/groupnorm.ts";
export { GELU, ReLU, SiLU } from "./nn/activations.ts";
export { Sequential } from "./nn/sequential.ts";
export { Adam, type AdamOptions, type ParamGroup, type StepOptions } from "./optim/adam.ts";
export { clipGradNorm } from "./optim/clip.ts";
export { bumpCounters, finiteFlag, onesFlag } from "./optim/finite.ts";
export { linearWarmup, lrFactor } from "./optim/schedule.ts";
export { EMA, type EmaOptions } from "./optim/ema.ts";
export { crc32 } from "./io/crc32.ts";
export {
  decodeSafetensors,
  encodeSafetensors,
  type HostTensor,
  loadSafetensors,
  readTensors,
  type SafetensorsContents,
  saveSafetensors,
  serializeSafetensors,
  writeFileAtomic,
} from "./io/safetensors.ts";
export { crossEntropy, mseLoss } from "./nn/losses.ts";
export { ntXent } from "./nn/contrastive.ts";
