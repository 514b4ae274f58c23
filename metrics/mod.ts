/**
 * `@lzn/metrics`: evaluation metrics that need only the tensor core — FID (float64 feature statistics, a
 * Jacobi eigensolver for the matrix square root), generation accuracy, the reference network whose frozen
 * weights define their feature space (shipped per dataset, identified by the file's hash), and the linear
 * probe of representations (spec §6.4).
 *
 * @example
 * ```ts
 * import { linearProbe } from "@lzn/metrics";
 * const set = { features: Float32Array.of(1, 0, 0, 1), labels: Int32Array.of(0, 1), count: 2, dim: 2 };
 * const { top1 } = await linearProbe(set, set, { classes: 2, epochs: 20, batchSize: 2, lr: 0.05 });
 * ```
 *
 * @module
 */
export { type SymmetricEigen, symmetricEigen, type SymmetricEigenOptions } from "./symmetric_eigen.ts";
export { type FeatureStats, featureStats, frechetDistance, psdSqrt } from "./fid.ts";
export { type ClassTally, type GenerationAccuracy, generationAccuracy } from "./generation_accuracy.ts";
export { ReferenceArchitecture, ReferenceClassifier, ReferenceConvBlock } from "./reference_network.ts";
export { type PixelImages, type ReferenceOutputs, referenceOutputs, toPixels } from "./reference_features.ts";
export {
  type LoadedReference,
  loadReference,
  type ReferenceInfo,
  saveReference,
  shippedReference,
} from "./reference_weights.ts";
export { type GenerationMetrics, generationMetrics, realStatistics } from "./generation_metrics.ts";
export {
  linearProbe,
  type LinearProbeEpoch,
  type LinearProbeOptions,
  type LinearProbeResult,
  type ProbeSet,
} from "./linear_probe.ts";
