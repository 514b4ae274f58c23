/**
 * Classification accuracy as spec §7.5 (`TunableStdClassAccuracy`), written against the latent space's
 * stages: the test set, in a fixed shuffled order, is cut into eval batches of E images (a last partial batch
 * is dropped, as the release's loader does); each batch's anchors are the anchor set of its latents (prior
 * noise scaled by τ), the latents are decoded by the label decoder (reverse flow with uniform weights,
 * nearest label anchor). Swept over τ and E, because the minibatch approximation makes accuracy depend on
 * both. With an anchor bank, every image's latent is computed against the bank and itself instead.
 *
 * @module
 */
import { noGrad, scope, type Tensor } from "@lzn/tensor";
import { epochOrder, hashSeed, type Split } from "@lzn/data";
import type { ImageBatch, ImageEncoder, LabelEncoder, Labels } from "@lzn/encoders";
import type { LabelDecoder } from "@lzn/decoders";
import type { LatentSpace } from "../space.ts";
import { imageBatch } from "../run_data.ts";

/**
 * The part of a latent space that classification needs: images with a batch encoder, labels with a decoder.
 *
 * @example
 * ```ts
 * import type { ClassifyingSpace } from "@lzn/tasks";
 * const modalities = (s: ClassifyingSpace) => s.modalities; // ["image", "label", ...]
 * ```
 */
export type ClassifyingSpace = LatentSpace<
  & Record<never, never>
  & { image: { encoder: ImageEncoder } }
  & { label: { encoder: LabelEncoder; decoder: LabelDecoder } }
>;

/**
 * Accuracy at one (eval batch size, τ) setting.
 *
 * @example
 * ```ts
 * import { type EvalResult, formatEvalTable } from "@lzn/tasks";
 * const results: EvalResult[] = [{ batchSize: 1000, tau: 0, accuracy: 0.95, correct: 950, total: 1000 }];
 * console.log(formatEvalTable(results));
 * ```
 */
export interface EvalResult {
  /** Eval batch size E (images per anchor set), or 1 with an anchor bank. */
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
 * Options of {@link evaluateAccuracy}.
 *
 * @example
 * ```ts
 * import type { AccuracyOptions } from "@lzn/tasks";
 * const opts: AccuracyOptions = { batchSizes: [1000, 500], taus: [0, 1], seed: 0, headline: { tau: 0, batchSize: 1000 } };
 * ```
 */
export interface AccuracyOptions {
  /** Eval batch sizes E (larger than the test set: the whole set). */
  batchSizes: number[];
  /** Prior-noise scales τ. */
  taus: number[];
  /** Seed of the test order and of the prior noise. */
  seed: number;
  /** The setting whose predictions are returned (default: the first E and τ). */
  headline?: { tau: number; batchSize: number };
  /** Called after each eval batch (for progress). */
  onBatch?: (done: number, total: number) => void;
  /** Told when an eval batch is cut to the test set or leaves images out (only whole batches are scored). */
  log?: (line: string) => void;
}

/**
 * Results of an accuracy evaluation.
 *
 * @example
 * ```ts
 * import type { AccuracyReport } from "@lzn/tasks";
 * const headline = (r: AccuracyReport) => r.headline.accuracy;
 * ```
 */
export interface AccuracyReport {
  /** One entry per (E, τ), E-major. */
  results: EvalResult[];
  /** The headline setting. */
  headline: EvalResult;
  /** Predicted class per test image at the headline setting (-1 where the image was in a dropped batch). */
  predictions: Int32Array;
}

/**
 * Evaluates the image -> label composition of a space on a test split (with whatever weights are in its
 * parameters: swap the EMA in first to evaluate the EMA weights).
 *
 * @example
 * ```ts ignore
 * import { classification, evaluateAccuracy, loadRun, loadRunData } from "@lzn/tasks";
 * const run = await loadRun("runs/demo", { recipe: classification });
 * const { test } = await loadRunData(run.config.data, run.config.model.classes);
 * const report = await evaluateAccuracy(run.model.space, test, { batchSizes: [1000], taus: [0, 1], seed: 0 });
 * console.log(report.headline.accuracy);
 * ```
 */
export async function evaluateAccuracy(
  space: ClassifyingSpace,
  test: Split,
  opts: AccuracyOptions,
): Promise<AccuracyReport> {
  const fit = (e: number) => Math.min(e, test.count);
  const headline = opts.headline
    ? { tau: opts.headline.tau, batchSize: fit(opts.headline.batchSize) }
    : { tau: opts.taus[0], batchSize: fit(opts.batchSizes[0]) };
  const sizes = [...new Set([...opts.batchSizes.map(fit), headline.batchSize])];
  const taus = [...new Set([...opts.taus, headline.tau])];
  const order = epochOrder(test.count, opts.seed, 0);
  const predictions = new Int32Array(test.count).fill(-1);
  const results: EvalResult[] = [];
  for (const e of new Set([...opts.batchSizes, headline.batchSize])) {
    if (e > test.count) opts.log?.(`batch size ${e} > ${test.count} test images: one batch of ${test.count}`);
  }
  for (const e of sizes) {
    const left = test.count % e;
    if (left) {
      opts.log?.(
        `batch size ${e}: the last ${left} of ${test.count} test images are left out (whole batches only)`,
      );
    }
  }
  const totalBatches = sizes.reduce((n, e) => n + Math.floor(test.count / e), 0);
  let done = 0;
  for (const e of sizes) {
    const counts = taus.map(() => 0);
    const nb = Math.floor(test.count / e);
    for (let k = 0; k < nb; k++) {
      const idx = order.subarray(k * e, (k + 1) * e);
      const { batch, labels } = imageBatch(test, idx);
      await scope(async () => {
        const anchors = noGrad(() => space.anchors("image", batch));
        for (let ti = 0; ti < taus.length; ti++) {
          const z = noGrad(() =>
            // The noise depends on τ's value, not its place in the list: a setting's accuracy is the same
            // whatever else is swept.
            space.latentsOf("image", anchors, {
              tau: taus[ti],
              seed: hashSeed(opts.seed, e, k, Math.round(taus[ti] * 1e6)),
            })
          );
          const pred = await space.decode("label", z);
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
  const listed = results.filter((r) =>
    opts.taus.includes(r.tau) && opts.batchSizes.map(fit).includes(r.batchSize)
  );
  return { results: listed, headline: head, predictions };
}

/**
 * Labels of images classified one at a time against an anchor bank: each image's latent is computed
 * against the bank plus its own anchor, so the answer does not depend on the other images (issue 13's
 * inference). Images are processed `chunk` at a time only for speed; chunks do not interact.
 *
 * @example
 * ```ts ignore
 * import { classification, classifyWithBank, loadBank, loadRun, readImages } from "@lzn/tasks";
 * const run = await loadRun("runs/demo", { recipe: classification });
 * const { bank, reason } = await loadBank(run.runDir, run.state, run.weights);
 * if (!bank) throw new Error(reason);
 * const { batch } = await readImages(["examples/digit-3.png"]);
 * const labels = await classifyWithBank(run.model.space, batch, bank, { tau: 0, seed: 0 });
 * ```
 */
export async function classifyWithBank(
  space: ClassifyingSpace,
  images: ImageBatch,
  bank: Tensor,
  opts: { tau?: number; seed?: number; chunk?: number } = {},
): Promise<Labels> {
  const out = new Int32Array(images.count);
  const chunk = opts.chunk ?? 256;
  const per = images.images.length / Math.max(1, images.count);
  for (let start = 0; start < images.count; start += chunk) {
    const count = Math.min(chunk, images.count - start);
    const part = { images: images.images.subarray(start * per, (start + count) * per), count };
    const labels = await scope(() => {
      const z = noGrad(() =>
        space.latents("image", part, { tau: opts.tau ?? 0, seed: hashSeed(opts.seed ?? 0, start), bank })
      );
      return space.decode("label", z);
    });
    out.set(labels, start);
  }
  return out;
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
