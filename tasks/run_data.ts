/**
 * The data a run reads: the dataset's fixed split (from `@lzn/data`), restricted to the recipe's classes and
 * optionally to the first images of each class (small runs and tests).
 *
 * @module
 */
import { batchOf, classSlice, epochOrder, loadDataset, type Split, takeRows } from "@lzn/data";
import type { ImageBatch } from "@lzn/encoders";
import type { DataConfig } from "./config_types.ts";

/**
 * The splits of a run: train and test, and the training images held out by `data.holdOut` (never trained on).
 *
 * @example
 * ```ts
 * import { loadRunData } from "@lzn/tasks";
 * const { train, test } = await loadRunData({ dataset: "mnist", trainPerClass: 50, shift: 0 }, 10);
 * console.log(train.count); // 500
 * ```
 */
export interface RunData {
  /** The images a run trains on. */
  train: Split;
  /** The held-out split of evaluation. */
  test: Split;
  /** Training images set aside by `data.holdOut` (absent without it): the anchor bank's source. */
  heldOut?: Split;
}

/** The fixed draw of held-out images: independent of the run's seed, so that every run of a config agrees. */
const HOLD_OUT_SEED = 0x4b4e;

/**
 * Train and test splits of a run, restricted to `classes` and the per-class counts; with `data.holdOut`, the
 * last `holdOut` images of a fixed shuffle of the (restricted) training split move to `heldOut`, and the rest
 * keep their order in `train`.
 *
 * @example
 * ```ts
 * import { loadRunData } from "@lzn/tasks";
 * const { train, heldOut } = await loadRunData({ dataset: "mnist", trainPerClass: 50, holdOut: 100, shift: 0 }, 10);
 * console.log(train.count, heldOut?.count); // 400 100
 * ```
 */
export async function loadRunData(data: DataConfig, classes: number): Promise<RunData> {
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
  const train = restrict(all.train, data.trainPerClass), test = restrict(all.test, data.testPerClass);
  if (data.holdOut === undefined) return { train, test };
  return { ...holdOut(train, data.holdOut), test };
}

function holdOut(train: Split, count: number): { train: Split; heldOut: Split } {
  if (count >= train.count) {
    throw new RangeError(
      `data.holdOut is ${count} but the run has ${train.count} training images: hold out fewer, so some are left to train on`,
    );
  }
  const order = epochOrder(train.count, HOLD_OUT_SEED, 0);
  const out = order.subarray(train.count - count);
  const isOut = new Uint8Array(train.count);
  for (const i of out) isOut[i] = 1;
  const kept: number[] = [];
  for (let i = 0; i < train.count; i++) if (!isOut[i]) kept.push(i);
  return { train: takeRows(train, kept), heldOut: takeRows(train, Array.from(out).sort((a, b) => a - b)) };
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
