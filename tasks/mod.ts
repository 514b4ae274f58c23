/**
 * `@lzn/tasks`: the typed latent graph (a `LatentSpace` where modalities register encoders and decoders,
 * and tasks are compositions of them), the LZN classification recipe (training by latent alignment with
 * checkpoint/resume, evaluation as spec §7.5), and the small I/O helpers the CLI uses.
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
  type AlignmentOptions,
  type AnchorSetNames,
  type DecoderNames,
  type DecoderOutput,
  type Embedding,
  type EmbeddingKind,
  type EncoderInput,
  type EncoderNames,
  LatentSpace,
  type Modality,
  type Task,
  type TaskOptions,
} from "./space.ts";
export {
  architectureHash,
  ClassifierConfig,
  type ClassifierConfigInput,
  DataConfig,
  EvalConfig,
  ModelConfig,
  parseClassifierConfig,
  stableHash,
  TrainConfig,
} from "./config.ts";
export { type ClassifierSpace, LznClassifier } from "./classifier.ts";
