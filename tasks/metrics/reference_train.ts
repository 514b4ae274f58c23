/**
 * Supervised training of the reference classifier: softmax cross-entropy, Adam with warm-up and a cosine
 * decay, seeded data order and random shifts (both pure functions of the seed and the step), then the test
 * accuracy. Non-finite steps are skipped on the GPU, as in the LZN recipe.
 *
 * @module
 */
import { Adam, finiteFlag, readTensors, scope, type Tensor, tensor } from "@lzn/tensor";
import { classSlice, epochOrder, hashSeed, loadDataset, randomCrop, type Split } from "@lzn/data";
import { gatherBatch } from "../data.ts";
import { formatProgress, type ProgressReport } from "../progress.ts";
import { lrFactor } from "../train.ts";
import type { ReferenceClassifierConfig } from "./reference_config.ts";
import { ReferenceClassifier } from "./reference_classifier.ts";
import { crossEntropy } from "./cross_entropy.ts";
import { type ImageSource, referenceOutputs } from "./reference_features.ts";

/**
 * Options of {@link trainReferenceClassifier}.
 *
 * @example
 * ```ts
 * import { loadReferenceData, parseReferenceConfig, type ReferenceTrainOptions } from "@lzn/tasks";
 * const cfg = parseReferenceConfig({ data: { dataset: "mnist" } });
 * const opts: ReferenceTrainOptions = {
 *   data: await loadReferenceData(cfg),
 *   onProgress: (r) => console.log(r.step, r.loss),
 * };
 * ```
 */
export interface ReferenceTrainOptions {
  /** Pre-loaded data (default: the config's dataset and slices through `@lzn/data`). */
  data?: { train: Split; test: Split };
  /** Called at every progress report (default: the progress line on stderr). */
  onProgress?: (report: ProgressReport) => void;
}

/**
 * A trained reference classifier and how it got there.
 *
 * @example
 * ```ts
 * import { parseReferenceConfig, type TrainedReference, trainReferenceClassifier } from "@lzn/tasks";
 * const cfg = parseReferenceConfig({ data: { dataset: "mnist" }, train: { steps: 200 } });
 * const run: TrainedReference = await trainReferenceClassifier(cfg);
 * console.log(run.testAccuracy, run.seconds, run.history.length);
 * run.model.dispose();
 * ```
 */
export interface TrainedReference {
  /** The trained network (the caller disposes it). */
  model: ReferenceClassifier;
  /** The config it was trained with. */
  config: ReferenceClassifierConfig;
  /** Accuracy on the test split. */
  testAccuracy: number;
  /** Test images evaluated. */
  testCount: number;
  /** Training wall time, seconds (without the test evaluation). */
  seconds: number;
  /** Every progress report. */
  history: ProgressReport[];
}

/**
 * The train and test splits of a config (its dataset's fixed split, optionally a per-class slice of each).
 *
 * @example
 * ```ts
 * import { loadReferenceData, parseReferenceConfig } from "@lzn/tasks";
 * const cfg = parseReferenceConfig({ data: { dataset: "mnist", trainPerClass: 20 } });
 * console.log((await loadReferenceData(cfg)).train.count); // 200
 * ```
 */
export async function loadReferenceData(
  config: ReferenceClassifierConfig,
): Promise<{ train: Split; test: Split }> {
  const { dataset, trainPerClass, testPerClass } = config.data;
  const { train, test } = await loadDataset(dataset, { log: null });
  return {
    train: trainPerClass === undefined ? train : classSlice(train, trainPerClass),
    test: testPerClass === undefined ? test : classSlice(test, testPerClass),
  };
}

/**
 * Share of `source`'s images whose predicted class equals `labels`.
 *
 * @example
 * ```ts
 * import { loadReferenceData, parseReferenceConfig, ReferenceClassifier, referenceAccuracy } from "@lzn/tasks";
 * const cfg = parseReferenceConfig({ data: { dataset: "mnist", testPerClass: 10 } });
 * const model = new ReferenceClassifier(cfg.model);
 * const { test } = await loadReferenceData(cfg);
 * console.log(await referenceAccuracy(model, test, test.labels)); // ~0.1 untrained
 * model.dispose();
 * ```
 */
export async function referenceAccuracy(
  model: ReferenceClassifier,
  source: ImageSource,
  labels: ArrayLike<number>,
  opts: { batchSize?: number } = {},
): Promise<number> {
  const { predictions } = await referenceOutputs(model, source, opts);
  if (predictions.length !== labels.length) {
    throw new RangeError(`referenceAccuracy: ${predictions.length} images but ${labels.length} labels`);
  }
  let correct = 0;
  predictions.forEach((p, i) => correct += p === labels[i] ? 1 : 0);
  return correct / predictions.length;
}

/**
 * Trains a reference classifier from its config and measures its test accuracy.
 *
 * @example
 * ```ts
 * import { parseReferenceConfig, trainReferenceClassifier } from "@lzn/tasks";
 * const cfg = parseReferenceConfig({ data: { dataset: "mnist" }, train: { steps: 1000 } });
 * const run = await trainReferenceClassifier(cfg);
 * console.log(run.testAccuracy);
 * run.model.dispose();
 * ```
 */
export async function trainReferenceClassifier(
  config: ReferenceClassifierConfig,
  opts: ReferenceTrainOptions = {},
): Promise<TrainedReference> {
  const t = config.train, arch = config.model;
  const data = opts.data ?? await loadReferenceData(config);
  const batchesPerEpoch = Math.floor(data.train.count / t.batchSize);
  if (batchesPerEpoch < 1) {
    throw new Error(
      `train.batchSize ${t.batchSize} is larger than the training set (${data.train.count} images)`,
    );
  }
  if (arch.inChannels !== 1 || data.train.rows !== arch.imageSize || data.train.cols !== arch.imageSize) {
    throw new Error(
      `model expects ${arch.inChannels}-channel ${arch.imageSize}x${arch.imageSize} images; the data are 1-channel ` +
        `${data.train.rows}x${data.train.cols}`,
    );
  }
  for (const [name, split] of Object.entries(data)) {
    const bad = split.labels.find((c) => c >= arch.classes);
    if (bad !== undefined) {
      throw new Error(`${name} split has label ${bad}, but model.classes = ${arch.classes}`);
    }
  }
  const model = new ReferenceClassifier(arch);
  const adam = new Adam([{ params: model.parameters(), lr: t.lr }], { weightDecay: t.weightDecay });
  const onProgress = opts.onProgress ?? ((r: ProgressReport) => console.error(formatProgress(r)));
  const history: ProgressReport[] = [];
  const pending: { loss: Tensor; finite: Tensor }[] = [];
  const schedule = { warmupSteps: t.warmupSteps, steps: t.steps, lrSchedule: t.lrSchedule };
  const shape = [t.batchSize, arch.inChannels, arch.imageSize, arch.imageSize];
  let order: Int32Array = new Int32Array(0), orderEpoch = -1, skipped = 0, seconds = 0;
  let windowStart = performance.now(), windowSteps = 0;

  const report = async (step: number) => {
    const flat = Object.fromEntries(
      pending.flatMap(({ loss, finite }, i) => [[`l${i}`, loss], [`f${i}`, finite]]),
    );
    const host = await readBack(flat);
    let sum = 0, ok = 0;
    pending.forEach((_, i) => {
      if (host[`f${i}`][0] === 1) {
        sum += host[`l${i}`][0];
        ok++;
      } else skipped++;
    });
    for (const { loss, finite } of pending.splice(0)) {
      loss.dispose();
      finite.dispose();
    }
    const now = performance.now();
    seconds += (now - windowStart) / 1000;
    const r = {
      step,
      total: t.steps,
      loss: ok ? sum / ok : NaN,
      itPerSec: windowSteps / ((now - windowStart) / 1000),
      skipped,
    };
    history.push(r);
    onProgress(r);
    windowStart = performance.now();
    windowSteps = 0;
  };

  try {
    for (let step = 0; step < t.steps;) {
      const epoch = Math.floor(step / batchesPerEpoch), b = step % batchesPerEpoch;
      if (epoch !== orderEpoch) {
        order = epochOrder(data.train.count, t.seed, epoch);
        orderEpoch = epoch;
      }
      const { batch, labels } = gatherBatch(
        data.train,
        order.subarray(b * t.batchSize, (b + 1) * t.batchSize),
      );
      const pixels = t.shiftPixels > 0
        ? randomCrop(batch.images, {
          seed: hashSeed(t.seed, 0x73686674, step),
          pad: t.shiftPixels,
          rows: arch.imageSize,
          cols: arch.imageSize,
        })
        : batch.images;
      const out = scope(() => {
        const loss = crossEntropy(model.logits(tensor(pixels, shape)), labels);
        loss.backward();
        const finite = finiteFlag(loss);
        adam.step({ finite, lrScale: lrFactor(schedule, step) });
        adam.zeroGrad();
        return { loss, finite };
      });
      pending.push(out);
      step++;
      windowSteps++;
      if (step % t.logEvery === 0 || step === t.steps) await report(step);
    }
    const testAccuracy = await referenceAccuracy(model, data.test, data.test.labels, {
      batchSize: t.evalBatch,
    });
    return { model, config, testAccuracy, testCount: data.test.count, seconds, history };
  } catch (e) {
    model.dispose();
    throw e;
  } finally {
    for (const { loss, finite } of pending) {
      loss.dispose();
      finite.dispose();
    }
    adam.dispose();
  }
}

async function readBack(tensors: Record<string, Tensor>): Promise<Record<string, Float32Array>> {
  const host = await readTensors(tensors);
  return Object.fromEntries(Object.entries(host).map(([k, v]) => [k, v.data as Float32Array]));
}
