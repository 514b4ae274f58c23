/**
 * Seeded mini-batches of float images in [-1, 1] for training, and balanced class subsets.
 *
 * @module
 */

import { takeRows } from "./datasets.ts";
import { hashSeed, permutation } from "./random.ts";
import type { Split } from "./types.ts";

/**
 * One mini-batch: `images` holds `labels.length` images of rows*cols floats each, mapped to [-1, 1].
 *
 * @example
 * ```ts
 * import { type Batch, batches, loadMnist } from "@lzn/data";
 * const { train } = await loadMnist();
 * const first: Batch = batches(train, { batchSize: 64, seed: 0 }).next().value!;
 * console.log(first.images.length); // 64 * 784
 * ```
 */
export interface Batch {
  /** `b * rows * cols` floats, `x * 2 / 255 - 1` of the uint8 pixels (background -1). */
  images: Float32Array;
  /** `b` class labels. */
  labels: Int32Array;
  /** Position of each batch item in the split, so per-example state can be kept outside. */
  indices: Int32Array;
}

/**
 * Options of {@linkcode batches}.
 *
 * @example
 * ```ts
 * import { type BatchOptions, batches, loadMnist } from "@lzn/data";
 * const { test } = await loadMnist();
 * const opts: BatchOptions = { batchSize: 100, shuffle: false };
 * console.log([...batches(test, opts)].length); // 10
 * ```
 */
export interface BatchOptions {
  /** Images per batch. */
  batchSize: number;
  /** Shuffling seed (default 0). */
  seed?: number;
  /** Epoch number; each epoch has its own permutation derived from (seed, epoch) (default 0). */
  epoch?: number;
  /** Skip a last, smaller batch (default false). */
  dropLast?: boolean;
  /** Shuffle (default true); false keeps split order, e.g. for evaluation. */
  shuffle?: boolean;
}

/**
 * Maps uint8 pixels to floats in [-1, 1] (`x * 2 / 255 - 1`).
 *
 * @example
 * ```ts
 * import { toUnitRange } from "@lzn/data";
 * console.log([...toUnitRange(new Uint8Array([0, 255]))]); // [-1, 1]
 * ```
 */
export function toUnitRange(
  pixels: Uint8Array,
  out: Float32Array = new Float32Array(pixels.length),
): Float32Array {
  for (let i = 0; i < pixels.length; i++) out[i] = pixels[i] * (2 / 255) - 1;
  return out;
}

/**
 * The order in which {@linkcode batches} visits a split of `count` images for (seed, epoch).
 *
 * @example
 * ```ts
 * import { epochOrder } from "@lzn/data";
 * console.log(epochOrder(4, 1, 0).length); // 4
 * ```
 */
export function epochOrder(count: number, seed: number, epoch: number): Int32Array {
  return permutation(count, hashSeed(seed, epoch));
}

/**
 * Iterates a split in seeded mini-batches. The same (seed, epoch) always gives the same batches; every image
 * appears exactly once per epoch (except those of a dropped last batch).
 *
 * @example
 * ```ts
 * import { batches, loadMnist } from "@lzn/data";
 * const { train } = await loadMnist();
 * for (const { images, labels } of batches(train, { batchSize: 128, seed: 1, epoch: 0, dropLast: true })) {
 *   console.log(images.length / 784, labels[0]);
 * }
 * ```
 */
export function* batches(split: Split, options: BatchOptions): Generator<Batch, void, undefined> {
  const { batchSize, seed = 0, epoch = 0, dropLast = false, shuffle = true } = options;
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new RangeError(`batches: batchSize must be a positive integer, got ${batchSize}`);
  }
  const order = shuffle
    ? epochOrder(split.count, seed, epoch)
    : Int32Array.from({ length: split.count }, (_, i) => i);
  for (let start = 0; start < split.count; start += batchSize) {
    const b = Math.min(batchSize, split.count - start);
    if (b < batchSize && dropLast) return;
    yield batchOf(split, order.slice(start, start + b));
  }
}

/**
 * The batch of the images at `indices` of a split (in that order), in [-1, 1]: the one way every batch is
 * made, by {@linkcode batches} and by training and evaluation loops that index an epoch order themselves.
 *
 * @example
 * ```ts
 * import { batchOf, type Split } from "@lzn/data";
 * const split: Split = { images: new Uint8Array(3 * 4).fill(255), labels: Uint8Array.from([0, 1, 2]), count: 3, rows: 2, cols: 2 };
 * const b = batchOf(split, Int32Array.from([2, 0]));
 * console.log(b.labels, b.images[0]); // Int32Array [2, 0] 1
 * ```
 */
export function batchOf(split: Split, indices: ArrayLike<number>): Batch {
  const size = split.rows * split.cols, b = indices.length;
  const images = new Float32Array(b * size), labels = new Int32Array(b);
  for (let n = 0; n < b; n++) {
    const i = indices[n];
    if (!(Number.isInteger(i) && i >= 0 && i < split.count)) {
      throw new RangeError(`batchOf: index ${i} is outside the split (${split.count} images)`);
    }
    labels[n] = split.labels[i];
    toUnitRange(split.images.subarray(i * size, (i + 1) * size), images.subarray(n * size, (n + 1) * size));
  }
  return { images, labels, indices: Int32Array.from(indices) };
}

/**
 * A balanced subset: the first `perClass` images of every class present in `split` (in split order), grouped
 * by class in ascending label order. Throws if a class has fewer.
 *
 * @example
 * ```ts
 * import { classSlice, loadMnist } from "@lzn/data";
 * const { train } = await loadMnist();
 * const small = classSlice(train, 10);
 * console.log(small.count); // 100
 * ```
 */
export function classSlice(split: Split, perClass: number): Split {
  const byClass = new Map<number, number[]>();
  split.labels.forEach((label, i) => {
    const list = byClass.get(label) ?? [];
    if (list.length < perClass) list.push(i);
    byClass.set(label, list);
  });
  const labels = [...byClass.keys()].sort((a, b) => a - b);
  for (const label of labels) {
    const n = byClass.get(label)!.length;
    if (n < perClass) {
      throw new RangeError(`classSlice: class ${label} has ${n} images, asked for ${perClass}`);
    }
  }
  return takeRows(split, labels.flatMap((label) => byClass.get(label)!));
}
