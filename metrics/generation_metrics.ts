/**
 * FID and generation accuracy of a set of generated images, in the feature space of a frozen reference
 * network (spec §5.8 with our reference in Inception's place): generated and real images enter as 8-bit
 * pixels, the Fréchet distance is between Gaussian fits of their penultimate features, and generation
 * accuracy is the share of images the reference network gives their intended class.
 *
 * @module
 */
import { type FeatureStats, featureStats, frechetDistance } from "./fid.ts";
import { type GenerationAccuracy, generationAccuracy } from "./generation_accuracy.ts";
import { type PixelImages, referenceOutputs } from "./reference_features.ts";
import type { LoadedReference } from "./reference_weights.ts";

/**
 * What {@link generationMetrics} measures.
 *
 * @example
 * ```ts
 * import type { GenerationMetrics } from "@lzn/metrics";
 * const line = (m: GenerationMetrics) => `FID ${m.fid.toFixed(2)} (${m.generated} vs ${m.real} images, reference ${m.reference})`;
 * ```
 */
export interface GenerationMetrics {
  /** Fréchet distance between the Gaussian fits of generated and real features. */
  fid: number;
  /** Generated images measured. */
  generated: number;
  /** Real images behind the real statistics. */
  real: number;
  /** The reference network's file hash (SHA-256, first 16 hex digits): FIDs compare only under equal hashes. */
  reference: string;
  /** Generation accuracy, overall, per class and as a confusion matrix (when intended classes are given). */
  accuracy?: GenerationAccuracy;
}

/**
 * The real images' feature statistics, to compute once and reuse across evaluations.
 *
 * @example
 * ```ts ignore
 * import { loadReference, realStatistics } from "@lzn/metrics";
 * import { loadDataset } from "@lzn/data";
 * const { train } = await loadDataset("mnist");
 * const ref = await loadReference("metrics/reference/mnist.safetensors");
 * const stats = await realStatistics(ref, { pixels: train.images, count: train.count });
 * ```
 */
export async function realStatistics(reference: LoadedReference, real: PixelImages): Promise<FeatureStats> {
  const r = await referenceOutputs(reference.net, real);
  return featureStats(r.features, r.count, r.dim);
}

/**
 * FID of `generated` against the real statistics, and (with `intended`) generation accuracy.
 *
 * @example
 * ```ts ignore
 * import { generationMetrics, loadReference, realStatistics, toPixels } from "@lzn/metrics";
 * import { loadDataset } from "@lzn/data";
 * const { train } = await loadDataset("mnist");
 * const ref = await loadReference("metrics/reference/mnist.safetensors");
 * const stats = await realStatistics(ref, { pixels: train.images, count: train.count });
 * // 1000 generated images in [-1, 1] (from a decoder), and the class each was meant to be
 * const samples = new Float32Array(1000 * 784), intended = new Int32Array(1000);
 * const m = await generationMetrics(ref, { pixels: toPixels(samples), count: 1000 }, stats, intended);
 * ```
 */
export async function generationMetrics(
  reference: LoadedReference,
  generated: PixelImages,
  real: FeatureStats,
  intended?: ArrayLike<number>,
): Promise<GenerationMetrics> {
  if (intended && intended.length !== generated.count) {
    throw new RangeError(
      `generationMetrics: ${generated.count} generated images but ${intended.length} intended labels`,
    );
  }
  const fake = await referenceOutputs(reference.net, generated);
  if (real.dim !== fake.dim) {
    throw new RangeError(
      `generationMetrics: real statistics have dimension ${real.dim}, features ${fake.dim}`,
    );
  }
  const fid = frechetDistance(featureStats(fake.features, fake.count, fake.dim), real);
  return {
    fid,
    generated: generated.count,
    real: real.count,
    reference: reference.sha256.slice(0, 16),
    accuracy: intended
      ? generationAccuracy(fake.predictions, intended, reference.net.arch.classes)
      : undefined,
  };
}
