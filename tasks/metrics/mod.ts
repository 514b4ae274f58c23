/**
 * Evaluation metrics of issue 5: a separately trained reference classifier (config, network, training,
 * checkpoints, the `train-reference` command), FID in its penultimate feature space (float64 statistics and
 * a Jacobi eigensolver) and generation accuracy. Reconstruction error (spec §5.7) lives with the image
 * decoder (`@lzn/decoders`' `reconstructionError`), which it needs.
 *
 * @module
 */
export { type SymmetricEigen, symmetricEigen, type SymmetricEigenOptions } from "./symmetric_eigen.ts";
export { type FeatureStats, featureStats, frechetDistance, psdSqrt } from "./fid.ts";
export { type ClassTally, type GenerationAccuracy, generationAccuracy } from "./generation_accuracy.ts";
export { crossEntropy } from "./cross_entropy.ts";
export {
  parseReferenceConfig,
  type ReferenceArchitecture,
  referenceArchitectureHash,
  ReferenceClassifierConfig,
  type ReferenceClassifierConfigInput,
  type ReferenceData,
  type ReferenceTraining,
} from "./reference_config.ts";
export { ReferenceClassifier, ReferenceConvBlock } from "./reference_classifier.ts";
export {
  imageCount,
  type ImageSource,
  type ReferenceOutputs,
  referenceOutputs,
} from "./reference_features.ts";
export {
  loadReferenceData,
  referenceAccuracy,
  type ReferenceTrainOptions,
  type TrainedReference,
  trainReferenceClassifier,
} from "./reference_train.ts";
export {
  hasReferenceClassifier,
  loadReferenceClassifier,
  type LoadReferenceOptions,
  readReferenceInfo,
  REFERENCE_FORMAT,
  type ReferenceInfo,
  saveReferenceClassifier,
} from "./reference_checkpoint.ts";
export {
  evaluateGeneration,
  type GenerationMetrics,
  type GenerationMetricsOptions,
} from "./generation_metrics.ts";
export { trainReferenceCommand, type TrainReferenceCommandOptions } from "./reference_command.ts";
