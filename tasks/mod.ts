/**
 * `@lzn/tasks`: the typed latent graph (a `LatentSpace` where modalities register encoders and decoders,
 * and tasks are compositions of them), the LZN classification recipe (training by latent alignment with
 * checkpoint/resume, evaluation as spec §7.5), the joint generation + classification recipe of case study 3
 * (RF image decoder + LZN, with the RF-only baseline; generation `label -> image` and `prior -> image`),
 * and the small I/O helpers the CLI uses.
 *
 * @example
 * ```ts
 * import { LznClassifier, ModelConfig } from "@lzn/tasks";
 * const model = new LznClassifier(ModelConfig.parse({ latentDim: 32 }));
 * const classify = model.space.task({ from: "image", to: "label" }); // Task<ImageBatch, Labels>
 * ```
 *
 * @module
 */
export {
  type Alignment,
  type AnchorSetNames,
  type DecoderNames,
  type DecoderOutput,
  type Embedding,
  type EmbeddingKind,
  type EncoderInput,
  type EncoderNames,
  LatentSpace,
  type Modality,
  type SpaceAlignmentOptions,
  type Task,
  type TaskOptions,
} from "./space.ts";
export {
  type AlignmentConfig,
  architectureHash,
  ClassifierConfig,
  type ClassifierConfigInput,
  type DataConfig,
  type EvalConfig,
  ModelConfig,
  parseClassifierConfig,
  stableHash,
  TrainConfig,
} from "./config.ts";
export { type ClassifierSpace, LznClassifier } from "./classifier.ts";
export {
  CheckpointError,
  hasCheckpoint,
  loadCheckpoint,
  readRunState,
  type RunState,
  STATE_FORMAT,
  writeCheckpoint,
} from "./checkpoint.ts";
export { gatherBatch, loadRunData } from "./data.ts";
export { formatDuration, formatProgress, type ProgressReport } from "./progress.ts";
export {
  classFrequencies,
  lrFactor,
  restore,
  type StartMode,
  trainClassifier,
  type TrainedClassifier,
  type TrainOptions,
} from "./train.ts";
export {
  type EvalReport,
  type EvalResult,
  evaluateClassifier,
  type EvaluateOptions,
  formatEvalTable,
} from "./evaluate.ts";
export { loadClassifier, type LoadClassifierOptions } from "./trained.ts";
export { type BatchedTaskOptions, classify, embed, labelLatents } from "./compose.ts";
export { decodeNpy, encodeNpy, type NpyArray, type NpyDtype, readNpy, writeNpy } from "./npy.ts";
export { decodePngGray, type GrayImage } from "./png_read.ts";
export { type ImageInput, readImages } from "./image_input.ts";
export { predictionGrid, type PredictionGridOptions, writePredictionGrid } from "./visualize.ts";
export {
  classifyCommand,
  DEMO_CONFIG,
  demoCommand,
  embedCommand,
  evalCommand,
  readConfigFile,
  trainCommand,
} from "./commands.ts";
export * from "./metrics/mod.ts";
export { GaussianPrior } from "./prior.ts";
export {
  classifierConfigOf,
  jointArchitectureHash,
  JointConfig,
  type JointConfigInput,
  type JointEvalConfig,
  type JointMode,
  type JointModelConfig,
  type JointTrainConfig,
  parseJointConfig,
  type SamplerConfig,
} from "./joint_config.ts";
export { JointModel, type JointParameterGroups, type JointSpace } from "./joint_model.ts";
export {
  JOINT_STATE_FORMAT,
  type JointRunState,
  loadJointCheckpoint,
  readJointState,
  writeJointCheckpoint,
} from "./joint_checkpoint.ts";
export {
  type JointEmas,
  type JointProgress,
  type JointTrainOptions,
  restoreJoint,
  swapEma,
  type TrainedJoint,
  trainJoint,
} from "./joint_train.ts";
export { checkJointReference, evaluateJoint, type JointEvalReport } from "./joint_eval.ts";
export { loadJoint } from "./joint_trained.ts";
export { generateFromLabels, generateFromPrior, type GenerateOptions } from "./generate.ts";
export {
  readJointConfigFile,
  sampleCommand,
  type SampleCommandOptions,
  trainJointCommand,
} from "./joint_commands.ts";
