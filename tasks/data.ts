/**
 * The data a classifier run reads: the dataset's fixed split (from `@lzn/data`), restricted to the first C
 * classes and optionally to the first images of each class (small runs and tests).
 *
 * @module
 */
import { classSlice, loadDataset, type Split, takeRows } from "@lzn/data";
import type { ImageBatch } from "@lzn/encoders";
import type { ClassifierConfig } from "./config.ts";

/**
 * Train and test splits of a run.
 *
 * @example
 * ```ts
 * import { ClassifierConfig, loadRunData } from "@lzn/tasks";
 * const { train, test } = await loadRunData(ClassifierConfig.parse({ data: { trainPerClass: 50 } }));
 * console.log(train.count); // 500
 * ```
 */
export async function loadRunData(config: ClassifierConfig): Promise<{ train: Split; test: Split }> {
  const data = await loadDataset(config.data.dataset, { log: null });
  const classes = config.model.classes;
  const restrict = (split: Split, perClass: number | undefined): Split => {
    const present = new Set(split.labels);
    for (let c = 0; c < classes; c++) {
      if (!present.has(c)) {
        throw new Error(`${config.data.dataset} has no class ${c} (model.classes = ${classes})`);
      }
    }
    const kept: number[] = [];
    split.labels.forEach((label, i) => label < classes && kept.push(i));
    const within = kept.length === split.count ? split : takeRows(split, kept);
    return perClass === undefined ? within : classSlice(within, perClass);
  };
  return {
    train: restrict(data.train, config.data.trainPerClass),
    test: restrict(data.test, config.data.testPerClass),
  };
}

/**
 * Images `[start, end)` of `order` (indices into `split`) as an `ImageBatch` in [-1, 1], with their labels.
 *
 * @example
 * ```ts
 * import { gatherBatch, loadRunData, ClassifierConfig } from "@lzn/tasks";
 * const { test } = await loadRunData(ClassifierConfig.parse({}));
 * const { batch, labels } = gatherBatch(test, Int32Array.from([0, 5, 9]));
 * ```
 */
export function gatherBatch(
  split: Split,
  order: ArrayLike<number>,
): { batch: ImageBatch; labels: Int32Array } {
  const size = split.rows * split.cols, n = order.length;
  const images = new Float32Array(n * size), labels = new Int32Array(n);
  for (let k = 0; k < n; k++) {
    const i = order[k];
    labels[k] = split.labels[i];
    const src = split.images.subarray(i * size, (i + 1) * size);
    for (let p = 0; p < size; p++) images[k * size + p] = src[p] * (2 / 255) - 1;
  }
  return { batch: { images, count: n }, labels };
}
