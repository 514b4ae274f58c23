/**
 * The `train-reference` command: trains the reference classifier of one dataset, prints and stores its test
 * accuracy. The checkpoint is made by this command only (never by hand), so every metric that uses it can be
 * traced back to a config and a seed.
 *
 * @module
 */
import { gpu } from "@lzn/tensor";
import {
  hasReferenceClassifier,
  readReferenceInfo,
  saveReferenceClassifier,
} from "./reference_checkpoint.ts";
import { parseReferenceConfig, type ReferenceClassifierConfig } from "./reference_config.ts";
import { trainReferenceClassifier } from "./reference_train.ts";
import { CheckpointError } from "../checkpoint.ts";

/**
 * Options of {@link trainReferenceCommand} (the CLI flags).
 *
 * @example
 * ```ts
 * import { trainReferenceCommand, type TrainReferenceCommandOptions } from "@lzn/tasks";
 * const opts: TrainReferenceCommandOptions = { dataset: "fashion-mnist", out: "runs/ref-fm", steps: 500, seed: 1 };
 * await trainReferenceCommand(opts);
 * ```
 */
export interface TrainReferenceCommandOptions {
  /** Dataset to train on. */
  dataset: ReferenceClassifierConfig["data"]["dataset"];
  /** Checkpoint directory. */
  out: string;
  /** Optimizer steps (default: the config default, 3000). */
  steps?: number;
  /** Images per step (default 128). */
  batchSize?: number;
  /** Seed of the init, the data order and the shifts (default 0). */
  seed?: number;
  /** Replace a reference classifier already in `out`. */
  force?: boolean;
}

/**
 * `train-reference`: trains, evaluates on the test split, writes the checkpoint, ends with one JSON line.
 *
 * @example
 * ```ts
 * import { trainReferenceCommand } from "@lzn/tasks";
 * await trainReferenceCommand({ dataset: "mnist", out: "runs/reference-mnist" });
 * ```
 */
export async function trainReferenceCommand(opts: TrainReferenceCommandOptions): Promise<void> {
  if (!opts.force && await hasReferenceClassifier(opts.out)) {
    const info = await readReferenceInfo(opts.out).catch(() => undefined);
    throw new CheckpointError(
      `${opts.out} already holds a reference classifier` +
        (info ? ` (${info.dataset}, test accuracy ${info.testAccuracy.toFixed(4)})` : "") +
        "; use --force to retrain it, or another --out",
    );
  }
  // Fail on an unwritable --out now, not after the whole training run.
  await Deno.mkdir(opts.out, { recursive: true });
  const seed = opts.seed ?? 0;
  const config = parseReferenceConfig({
    model: { seed },
    data: { dataset: opts.dataset },
    train: { steps: opts.steps, batchSize: opts.batchSize, seed },
  }, "train-reference options");
  const adapter = gpu().adapter.name;
  const m = config.model, t = config.train;
  console.error(
    `train-reference: ${config.data.dataset} -> ${opts.out} on ${adapter}; channels [${m.channels}], ` +
      `features ${m.featureDim}, ${t.steps} steps of ${t.batchSize}`,
  );
  const run = await trainReferenceClassifier(config);
  try {
    const info = await saveReferenceClassifier(opts.out, run.model, {
      testAccuracy: run.testAccuracy,
      testCount: run.testCount,
      steps: t.steps,
      seconds: run.seconds,
      finalLoss: run.history.at(-1)?.loss ?? NaN,
      adapter,
      config,
    });
    console.error(
      `test accuracy ${
        (info.testAccuracy * 100).toFixed(2)
      }% on ${info.testCount} ${info.dataset} test images`,
    );
    console.log(JSON.stringify({
      out: opts.out,
      dataset: info.dataset,
      testAccuracy: info.testAccuracy,
      testCount: info.testCount,
      steps: info.steps,
      trainSeconds: Math.round(info.seconds),
      featureDim: m.featureDim,
    }));
  } finally {
    run.model.dispose();
  }
}
