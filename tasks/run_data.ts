/**
 * The data a run reads: the dataset's fixed split (from `@lzn/data`), restricted to the recipe's classes and
 * optionally to the first images of each class (small runs and tests).
 *
 * @module
 */
import { batchOf, classSlice, loadDataset, type Split, takeRows } from "@lzn/data";
import type { ImageBatch } from "@lzn/encoders";
import type { DataConfig } from "./config_types.ts";

/**
 * Train and test splits of a run.
 *
 * @example
 * ```ts
 * import { loadRunData } from "@lzn/tasks";
 * const { train, test } = await loadRunData({ dataset: "mnist", trainPerClass: 50, shift: 0 }, 10);
 * console.log(train.count); // 500
 * ```
 */
export async function loadRunData(data: DataConfig, classes: number): Promise<{ train: Split; test: Split }> {
  const all = await loadDataset(data.dataset, { log: null });
  const restrict = (split: Split, perClass: number | undefined): Split => {
    let within = split;
    if (classes > 0) {
      const present = new Set(split.labels);
      for (let c = 0; c < classes; c++) {
        if (!present.has(c)) {
          throw new Error(`${data.dataset} has no class ${c} (the model has ${classes} classes)`);
        }
      }
      const kept: number[] = [];
      split.labels.forEach((label, i) => label < classes && kept.push(i));
      if (kept.length !== split.count) within = takeRows(split, kept);
    }
    return perClass === undefined ? within : classSlice(within, perClass);
  };
  return { train: restrict(all.train, data.trainPerClass), test: restrict(all.test, data.testPerClass) };
}

/**
 * The images at `indices` of a split as an encoder's `ImageBatch` (in [-1, 1]), with their labels.
 *
 * @example
 * ```ts
 * import { imageBatch, loadRunData } from "@lzn/tasks";
 * const { test } = await loadRunData({ dataset: "mnist", shift: 0 }, 10);
 * const { batch, labels } = imageBatch(test, Int32Array.from([0, 5, 9]));
 * ```
 */
export function imageBatch(
  split: Split,
  indices: ArrayLike<number>,
): { batch: ImageBatch; labels: Int32Array } {
  const b = batchOf(split, indices);
  return { batch: { images: b.images, count: b.labels.length }, labels: b.labels };
}
