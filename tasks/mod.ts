/**
 * `@lzn/tasks`: the typed latent graph (a `LatentSpace` whose modalities register encoders and decoders and
 * whose stages — anchors, latents, alignment, decoding, a decoder's loss — every objective and evaluation is
 * written against), the recipes of the paper's case studies as declarations, the one trainer that runs any
 * recipe with checkpoints and resume, and the command line.
 *
 * @example
 * ```ts
 * import { ClassificationModel, parseRecipeConfig } from "@lzn/tasks";
 * const model = new ClassificationModel(parseRecipeConfig({ recipe: "classification" }, "example"));
 * const classify = model.space.task({ from: "image", to: "label" }); // Task<ImageBatch, Labels>
 * model.dispose();
 * ```
 *
 * @module
 */
export { LatentSpace } from "./space.ts";
export type {
  AlignOptions,
  AnchorSetNames,
  BatchEncoderNames,
  Checked,
  DecodeOptionsOf,
  DecoderData,
  DecoderNames,
  DecoderOutput,
  Embedding,
  EmbeddingKind,
  EncoderInput,
  EncoderNames,
  InputOf,
  Modality,
  OutputOf,
  Task,
  TaskOptions,
  TrainableDecoderNames,
} from "./space_types.ts";
export type * from "./config_types.ts";
export { architectureHash, configHash, diffPaths, parseWith, stableHash } from "./config/hash.ts";
export type {
  EvalContext,
  Metrics,
  ObjectiveTerm,
  Part,
  Recipe,
  RecipeConfig,
  RecipeModel,
  StepContext,
  TrainBatch,
} from "./recipe.ts";
export { RUN_IMAGES, type RunImage } from "./recipe.ts";
export {
  type AnyRecipeConfig,
  parseRecipeConfig,
  readConfigFile,
  type RecipeConfigs,
  type RecipeName,
  recipeOf,
  RECIPES,
} from "./registry.ts";
export { InputError } from "./errors.ts";
export {
  buildOptimizers,
  disposeOptimizers,
  loadStateDict,
  type Optimizers,
  pickState,
  stateDict,
} from "./state.ts";
export {
  CheckpointError,
  checkRunImages,
  discardRun,
  hasCheckpoint,
  isRunFile,
  loadCheckpointTensors,
  readRunState,
  RUN_FORMAT,
  RUN_IMAGE_MARK,
  type RunState,
  writeCheckpoint,
} from "./run_dir.ts";
export { lockRun, type RunLock } from "./run_lock.ts";
export { imageBatch, loadRunData } from "./run_data.ts";
export { formatDuration, formatProgress, type ProgressReport } from "./progress.ts";
export { swapEma, train, type TrainedRun, type TrainOptions } from "./trainer.ts";
export { evaluateRun, type LoadedRun, loadRun, shippedRecipe } from "./run.ts";
export {
  type AccuracyOptions,
  type AccuracyReport,
  type ClassifyingSpace,
  classifyWithBank,
  type EvalResult,
  evaluateAccuracy,
  formatEvalTable,
} from "./evaluation/accuracy.ts";
export { classFrequencies, labelWeights } from "./recipes/shared.ts";
export { classification, ClassificationModel } from "./recipes/classification.ts";
export { generation, GenerationModel, type GenerationSpace } from "./recipes/generation.ts";
export { CrossEntropyModel, crossEntropyRecipe, EncoderClassifier } from "./recipes/cross_entropy.ts";
export { representation, RepresentationModel, viewOptions } from "./recipes/representation.ts";
export { evaluateRepresentation, featuresOf, pcaPicture } from "./evaluation/probe.ts";
export { evaluateGeneration, referenceOf } from "./evaluation/generation.ts";
export { type Generated, generateImages, type GenerateOptions } from "./evaluation/sampling.ts";
export { bankAccuracy } from "./evaluation/bank_accuracy.ts";
export { computeBank, loadBank, saveBank } from "./bank.ts";
export { GaussianPrior } from "./prior.ts";
export { predictionGrid, type PredictionGridOptions, writePredictionGrid } from "./visualize.ts";
export { type ImageInput, readImages } from "./image_input.ts";
export { decodeNpy, encodeNpy, type NpyArray, type NpyDtype, readNpy, writeNpy } from "./npy.ts";
