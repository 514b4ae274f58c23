/**
 * The generation metrics of lzn's 28x28 generators, both measured with a frozen reference classifier:
 * FID between the generated and the real images in its penultimate feature space, and generation accuracy
 * (the share of samples generated for class c that it classifies as c).
 *
 * @module
 */
import type { ReferenceClassifierConfig } from "./reference_config.ts";
import type { ReferenceClassifier } from "./reference_classifier.ts";
import { loadReferenceClassifier } from "./reference_checkpoint.ts";
import { imageCount, type ImageSource, referenceOutputs } from "./reference_features.ts";
import { type FeatureStats, featureStats, frechetDistance } from "./fid.ts";
import { type GenerationAccuracy, generationAccuracy } from "./generation_accuracy.ts";

/**
 * Options of {@link evaluateGeneration}.
 *
 * @example
 * ```ts
 * import type { GenerationMetricsOptions } from "@lzn/tasks";
 * const opts: GenerationMetricsOptions = { batchSize: 500, dataset: "fashion-mnist" };
 * ```
 */
export interface GenerationMetricsOptions {
  /** Images per forward pass of the reference classifier (default 1000). */
  batchSize?: number;
  /** With a checkpoint directory: refuse a classifier trained on another dataset. */
  dataset?: ReferenceClassifierConfig["data"]["dataset"];
}

/**
 * FID and generation accuracy of a set of generated images.
 *
 * @example
 * ```ts
 * import type { GenerationMetrics } from "@lzn/tasks";
 * function line(m: GenerationMetrics): string {
 *   return `FID ${m.fid.toFixed(2)} (${m.generatedCount} vs ${m.realCount}), accuracy ${m.accuracy.overall.accuracy}`;
 * }
 * ```
 */
export interface GenerationMetrics {
  /** Fréchet distance between the Gaussian fits of generated and real features. */
  fid: number;
  /** Generation accuracy, overall and per intended class. */
  accuracy: GenerationAccuracy;
  /** The reference classifier's label for each generated image. */
  predicted: Int32Array;
  /** Generated images measured. */
  generatedCount: number;
  /** Real images behind the real statistics. */
  realCount: number;
  /** Feature dimension. */
  featureDim: number;
  /** The real images' feature statistics (pass them back as `real` to skip recomputing them). */
  realStats: FeatureStats;
}

/**
 * Measures generated images `[n, 1, 28, 28]` (values in [-1, 1], as the data) generated for the classes
 * `intended`, against real images (e.g. the test split) or their precomputed feature statistics. The
 * reference classifier is a loaded model or a checkpoint directory (loaded and freed here). FID depends on
 * the sample counts: compare values computed with the same numbers of images.
 *
 * @example
 * ```ts
 * import { loadDataset } from "@lzn/data";
 * import { evaluateGeneration } from "@lzn/tasks";
 * const { test } = await loadDataset("mnist");
 * // generated: a Tensor [1000, 1, 28, 28] from a conditional generator, intended: its 1000 class labels
 * const generated = { images: new Float32Array(10 * 784).fill(-1), count: 10 };
 * const intended = Int32Array.from({ length: 10 }, (_, i) => i);
 * const m = await evaluateGeneration("runs/reference-mnist", generated, intended, test, { dataset: "mnist" });
 * console.log(m.fid, m.accuracy.overall.accuracy);
 * ```
 */
export async function evaluateGeneration(
  reference: ReferenceClassifier | string,
  generated: ImageSource,
  intended: ArrayLike<number>,
  real: ImageSource | FeatureStats,
  opts: GenerationMetricsOptions = {},
): Promise<GenerationMetrics> {
  const count = imageCount(generated);
  if (intended.length !== count) {
    throw new RangeError(
      `evaluateGeneration: ${count} generated images but ${intended.length} intended labels`,
    );
  }
  const owned = typeof reference === "string";
  const model = owned
    ? (await loadReferenceClassifier(reference, { dataset: opts.dataset })).model
    : reference;
  try {
    const batch = { batchSize: opts.batchSize };
    const fake = await referenceOutputs(model, generated, batch);
    let realStats: FeatureStats;
    if (isStats(real)) {
      if (real.dim !== fake.dim) {
        throw new RangeError(
          `evaluateGeneration: real statistics have dimension ${real.dim}, features ${fake.dim}`,
        );
      }
      realStats = real;
    } else {
      const r = await referenceOutputs(model, real, batch);
      realStats = featureStats(r.features, r.count, r.dim);
    }
    const fid = frechetDistance(featureStats(fake.features, fake.count, fake.dim), realStats);
    return {
      fid,
      accuracy: generationAccuracy(fake.predictions, intended, model.arch.classes),
      predicted: fake.predictions,
      generatedCount: count,
      realCount: realStats.count,
      featureDim: fake.dim,
      realStats,
    };
  } finally {
    if (owned) model.dispose();
  }
}

function isStats(x: ImageSource | FeatureStats): x is FeatureStats {
  return typeof x === "object" && "cov" in x && "mean" in x;
}
