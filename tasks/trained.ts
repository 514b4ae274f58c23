/**
 * Loading a trained classifier from a run directory, for evaluation and inference.
 *
 * @module
 */
import { EMA } from "@lzn/tensor";
import { architectureHash, type ClassifierConfig } from "./config.ts";
import { LznClassifier } from "./classifier.ts";
import { CheckpointError, loadCheckpoint, type RunState } from "./checkpoint.ts";
import { restore } from "./train.ts";

/**
 * Options of {@link loadClassifier}.
 *
 * @example
 * ```ts
 * import { loadClassifier, type LoadClassifierOptions, parseClassifierConfig } from "@lzn/tasks";
 * const opts: LoadClassifierOptions = { weights: "raw", expect: parseClassifierConfig({}) };
 * const { model } = await loadClassifier("runs/lzn-classifier", opts); // refuses another architecture
 * ```
 */
export interface LoadClassifierOptions {
  /** `"ema"` (default, as the release evaluates) or `"raw"` training weights. */
  weights?: "ema" | "raw";
  /** A config the checkpoint must match (its model architecture), e.g. from `--config`. */
  expect?: ClassifierConfig;
}

/**
 * Rebuilds the classifier stored in a run directory (from the config saved with it) and loads its weights.
 *
 * @example
 * ```ts
 * import { classify, loadClassifier } from "@lzn/tasks";
 * const { model, state } = await loadClassifier("runs/demo");
 * console.log(state.step);
 * model.dispose();
 * ```
 */
export async function loadClassifier(
  dir: string,
  opts: LoadClassifierOptions = {},
): Promise<{ model: LznClassifier; state: RunState }> {
  const expectArch = opts.expect ? await architectureHash(opts.expect.model) : undefined;
  const { state, tensors } = await loadCheckpoint(dir, expectArch);
  const model = new LznClassifier(state.config.model);
  const named = model.namedParameters();
  const ema = new EMA(named.map(([, p]) => p), { decay: state.config.train.emaDecay });
  try {
    restore(tensors, named, ema);
    if ((opts.weights ?? "ema") === "ema") ema.copyTo();
  } catch (e) {
    model.dispose();
    throw e instanceof CheckpointError ? e : new CheckpointError(`${dir}: ${(e as Error).message}`);
  } finally {
    ema.dispose();
    for (const t of Object.values(tensors)) t.dispose();
  }
  return { model, state };
}
