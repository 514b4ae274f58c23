/**
 * lzn — Latent Zoning Networks on WebGPU.
 *
 * The root module re-exports every workspace member so one import gives the whole library:
 * the tensor core (`@lzn/tensor`), the LZN operations (`@lzn/latent`), encoders and decoders,
 * the metrics (`@lzn/metrics`), the typed task graph and recipes (`@lzn/tasks`) and the dataset loaders
 * (`@lzn/data`).
 *
 * @example
 * ```ts
 * import { computeLatents, tensor } from "./mod.ts";
 *
 * const anchors = tensor([-1, 1], [2, 1]);
 * const latents = computeLatents(anchors, { seed: 1 });
 * console.log(await latents.toArray());
 * ```
 *
 * @module
 */
export * from "@lzn/tensor";
export * from "@lzn/latent";
export * from "@lzn/encoders";
export * from "@lzn/decoders";
export * from "@lzn/metrics";
export * from "@lzn/tasks";
export * from "@lzn/data";
