/**
 * Classification accuracy as spec §7.5 (`TunableStdClassAccuracy`): the test set, in a fixed shuffled
 * order, is cut into eval batches of E images (a last partial batch is dropped, as the release's loader
 * does); each batch's anchors are the anchor set of its latents (DPM-Solver++, K = 20, prior noise scaled by
 * τ), the latents go through the reverse label flow with uniform weights (K = 100), and the nearest label
 * anchor is the prediction. Swept over τ and over E, because the minibatch approximation makes accuracy
 * depend on both.
 *
 * @module
 */
import { noGrad, scope } from "@lzn/tensor";
import { epochOrder, hashSeed, type Split } from "@lzn/data";
import type { LznClassifier } from "./classifier.ts";
import { gatherBatch } from "./data.ts";

/**
 * Accuracy at one (eval batch size, τ) setting.
 *
 * @example
 * ```ts
 * import { type EvalResult, formatEvalTable } from "@lzn/tasks";
 * const results: EvalResult[] = [
 *   { batchSize: 1000, tau: 0, accuracy: 0.95, correct: 950, total: 1000 },
 *   { batchSize: 1000, tau: 1, accuracy: 0.9, correct: 900, total: 1000 },
 * ];
 * console.log(formatEvalTable(results));
 * ```
 */
export interface EvalResult {
  /** Eval batch size E (images per anchor set). */
  batchSize: number;
  /** Prior-noise scale τ. */
  tau: number;
  /** `correct / total`. */
  accuracy: number;
  /** Correct predictions. */
  correct: number;
  /** Images evaluated (`floor(n / E) * E`). */
  total: number;
}

/**
 * Options of {@link evaluateClassifier}.
 *
 * @example
 * ```ts
 * import { ClassifierConfig, evaluateClassifier, type EvaluateOptions, loadRunData, LznClassifier } from "@lzn/tasks";
 * const config = ClassifierConfig.parse({});
 * const { test } = await loadRunData(config);
 * const opts: EvaluateOptions = {
 *   batchSizes: [1000, 500],
 *   taus: [0, 1],
 *   seed: 0,
 *   headline: { tau: 0, batchSize: 1000 },
 *   onBatch: (done, total) => console.log(`${done}/${total}`),
 * };
 * const report = await evaluateClassifier(new LznClassifier(config.model), test, opts);
 * ```
 */
export interface EvaluateOptions {
  /** Eval batch sizes E. */
  batchSizes: number[];
  /** Prior-noise scales τ. */
  taus: number[];
  /** Seed of the test order and of the prior noise. */
  seed: number;
  /** The setting whose predictions are returned (default: the first E and τ). */
  headline?: { tau: number; batchSize: number };
  /** Called after each eval batch (for progress). */
  onBatch?: (done: number, total: number) => void;
}

/**
 * Results of an evaluation.
 *
 * @example
 * ```ts
 * import { type EvalReport, evaluateClassifier, loadClassifier, loadRunData } from "@lzn/tasks";
 * const { model, state } = await loadClassifier("runs/demo");
 * const { test } = await loadRunData(state.config);
 * const report: EvalReport = await evaluateClassifier(model, test, { batchSizes: [1000], taus: [0], seed: 0 });
 * console.log(report.headline.accuracy, report.results.length, report.predictions.length);
 * ```
 */
export interface EvalReport {
  /** One entry per (E, τ), E-major. */
  results: EvalResult[];
  /** The headline setting. */
  headline: EvalResult;
  /** Predicted class per test image at the headline setting (-1 where the image was in a dropped batch). */
  predictions: Int32Array;
}

/**
 * Evaluates a classifier on a test split (with whatever weights are in its parameters: swap the EMA in
 * first to evaluate the EMA weights).
 *
 * @example
 * ```ts
 * import { evaluateClassifier, loadRunData, LznClassifier, ClassifierConfig } from "@lzn/tasks";
 * const config = ClassifierConfig.parse({});
 * const model = new LznClassifier(config.model);
 * const { test } = await loadRunData(config);
 * const report = await evaluateClassifier(model, test, { batchSizes: [1000], taus: [0, 1], seed: 0 });
 * console.log(report.headline.accuracy); // ~0.1 untrained
 * ```
 */
export async function evaluateClassifier(
  model: LznClassifier,
  test: Split,
  opts: EvaluateOptions,
): Promise<EvalReport> {
  const headline = opts.headline ?? { tau: opts.taus[0], batchSize: opts.batchSizes[0] };
  const sizes = [...new Set([...opts.batchSizes, headline.batchSize])];
  const taus = [...new Set([...opts.taus, headline.tau])];
  for (const e of sizes) {
    if (e > test.count) {
      throw new Error(`eval batch size ${e} is larger than the test set (${test.count} images)`);
    }
  }
  const order = epochOrder(test.count, opts.seed, 0);
  const predictions = new Int32Array(test.count).fill(-1);
  const results: EvalResult[] = [];
  const totalBatches = sizes.reduce((n, e) => n + Math.floor(test.count / e), 0);
  let done = 0;
  for (const e of sizes) {
    const counts = taus.map(() => 0);
    const nb = Math.floor(test.count / e);
    for (let k = 0; k < nb; k++) {
      const idx = order.subarray(k * e, (k + 1) * e);
      const { batch, labels } = gatherBatch(test, idx);
      await scope(async () => {
        const anchors = noGrad(() => model.image.anchors(batch));
        for (let ti = 0; ti < taus.length; ti++) {
          const z = noGrad(() =>
            model.image.latentsOf(anchors, { tau: taus[ti], seed: hashSeed(opts.seed, e, k, ti) })
          );
          const pred = await noGrad(() => model.decoder.decode(z));
          z.dispose();
          pred.forEach((p, i) => {
            if (p === labels[i]) counts[ti]++;
          });
          if (e === headline.batchSize && taus[ti] === headline.tau) {
            idx.forEach((t, i) => predictions[t] = pred[i]);
          }
        }
      });
      opts.onBatch?.(++done, totalBatches);
    }
    taus.forEach((tau, ti) =>
      results.push({ batchSize: e, tau, accuracy: counts[ti] / (nb * e), correct: counts[ti], total: nb * e })
    );
  }
  const head = results.find((r) => r.batchSize === headline.batchSize && r.tau === headline.tau)!;
  const listed = results.filter((r) => opts.batchSizes.includes(r.batchSize) && opts.taus.includes(r.tau));
  return { results: listed, headline: head, predictions };
}

/**
 * The results as a table: one row per eval batch size, one column per τ.
 *
 * @example
 * ```ts
 * import { formatEvalTable } from "@lzn/tasks";
 * console.log(formatEvalTable([{ batchSize: 1000, tau: 0, accuracy: 0.97, correct: 970, total: 1000 }]));
 * ```
 */
export function formatEvalTable(results: EvalResult[]): string {
  const taus = [...new Set(results.map((r) => r.tau))];
  const sizes = [...new Set(results.map((r) => r.batchSize))];
  const head = ["eval batch", ...taus.map((t) => `tau=${t}`)];
  const rows = sizes.map((e) => [
    String(e),
    ...taus.map((t) => {
      const r = results.find((x) => x.batchSize === e && x.tau === t);
      return r ? r.accuracy.toFixed(4) : "-";
    }),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padStart(widths[i])).join("  ");
  return [line(head), ...rows.map(line)].join("\n");
}
