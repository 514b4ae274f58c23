/**
 * The config of case study 3 (spec §7): joint class-conditional generation and classification, plus the two
 * baselines the issue's table compares at equal budgets — `mode: "rf"` (the same decoder, class-conditional,
 * with no latent input) and `mode: "classifier"` (the classification recipe of `train.ts`, run with this
 * config's shared fields). One zod schema; what `train-joint` reads from `--config <json>`.
 *
 * Our small-data defaults differ from the release (whose learning rates are for 200k iterations at batch
 * 2000): q = 32, batch 128, 400 steps, decoder / encoder / label-anchor LR 2e-3 / 2e-3 / 1e-2, the release's
 * no-log alignment (cut-off 0.2, K = 100), training latents at τ = 1 as the release, EMA 0.99.
 *
 * @module
 */
import { z } from "zod";
import { ImageEncoderArchitecture, parseConfig } from "@lzn/encoders";
import { RfDecoderArchitecture } from "@lzn/decoders";
import { type ClassifierConfig, type ModelConfig, parseClassifierConfig, stableHash } from "./config.ts";

/**
 * What a joint run trains: both losses, the RF baseline, or the classification recipe alone.
 *
 * @example
 * ```ts
 * import type { JointMode } from "@lzn/tasks";
 * const modes: JointMode[] = ["joint", "rf", "classifier"];
 * ```
 */
export type JointMode = "joint" | "rf" | "classifier";

/**
 * An ODE solver of the RF decoder (spec §5.6).
 *
 * @example
 * ```ts
 * import type { SamplerConfig } from "@lzn/tasks";
 * const euler10: SamplerConfig = { kind: "euler", steps: 10 };
 * ```
 */
export type SamplerConfig =
  | { kind: "euler"; steps: number }
  | { kind: "rk45"; rtol: number; atol: number };

/**
 * The model: the classifier's parts (`ModelConfig`) plus the RF decoder's architecture.
 *
 * @example
 * ```ts
 * import { parseJointConfig } from "@lzn/tasks";
 * const model = parseJointConfig({ model: { latentDim: 16 } }).model;
 * console.log(model.decoder.channels); // [16, 32, 32]
 * ```
 */
export interface JointModelConfig extends ModelConfig {
  /** The RF decoder (its latent dimension and classes come from `latentDim` and `classes`). */
  decoder: RfDecoderArchitecture;
}

/**
 * The optimisation of a joint run.
 *
 * @example
 * ```ts
 * import { parseJointConfig } from "@lzn/tasks";
 * const train = parseJointConfig({ train: { steps: 1000, decoderSteps: 300 } }).train;
 * console.log(train.decoderLr, train.alignment.cutoff); // 0.002 0.2
 * ```
 */
export interface JointTrainConfig {
  /** Optimizer steps (default 400). */
  steps: number;
  /** Images per step; also the anchor set of the step's image latents (default 128). */
  batchSize: number;
  /** Adam learning rate of the RF decoder (default 2e-3; the release: 2e-3). */
  decoderLr: number;
  /** Adam learning rate of the image encoder (default 2e-3; the release: 5e-5 over 200k steps). */
  encoderLr: number;
  /** Adam learning rate of the label anchors (default 1e-2; the release: 1e-4). */
  anchorLr: number;
  /**
   * Freeze the decoder from this step on (the release's staggered schedule, spec §7.3: decoder 60k of 200k
   * steps). The RF loss still trains the encoder through the latents afterwards. Default: never.
   */
  decoderSteps?: number;
  /** Linear warm-up length (default 50). */
  warmupSteps: number;
  /** After warm-up: constant (the release) or cosine decay to 0 (default). */
  lrSchedule: "constant" | "cosine";
  /** Global gradient-norm clip over every trained parameter (default 1, the release). */
  clipNorm: number;
  /** EMA decay of every module, with the `(1+n)/(10+n)` warm-up (default 0.99). */
  emaDecay: number;
  /** Prior-noise scale of the training latents (default 1, the release's case study 3). */
  tau: number;
  /** The label alignment loss: K = 100, cut-off 0.2, no log (the release's case study 3). */
  alignment: { steps: number; cutoff: number; log: boolean };
  /** Weight the label flow by the batch's class frequencies (default true, spec §4.7). */
  classWeights: boolean;
  /** Coefficient of the label loss (default 1). */
  labelWeight: number;
  /** Coefficient of the RF loss (default 1). */
  rfWeight: number;
  /** Seed of the data order and of every step's noise (default 0). */
  seed: number;
  /** Steps between progress lines (default 10). */
  logEvery: number;
  /** Steps between checkpoints; 0 = only at the end (default 100). */
  checkpointEvery: number;
}

/**
 * Evaluation of a joint run (EMA weights, spec §5.5).
 *
 * @example
 * ```ts
 * import { parseJointConfig } from "@lzn/tasks";
 * const e = parseJointConfig({ eval: { sampler: { kind: "rk45", rtol: 1e-5, atol: 1e-5 } } }).eval;
 * ```
 */
export interface JointEvalConfig {
  /** Classification (spec §7.5): eval batch sizes (default [1000]). */
  batchSizes: number[];
  /** Classification: τ sweep (default [0, 1]). */
  taus: number[];
  /** Test images whose RF loss is averaged, in eval batches of `batchSizes[0]` (default 1000). */
  rfImages: number;
  /** Test images of the reconstruction error (spec §5.7; default 100). */
  reconstructionImages: number;
  /** Repetitions of the reconstruction error, each with its own latent noise (default 2; the release: 20). */
  reconstructionRepeats: number;
  /** Solver of the reconstruction error and of `sample` (default Euler, 10 steps: the release's euler10). */
  sampler: SamplerConfig;
  /** Seed of the test order and of every noise of the evaluation (default 0). */
  seed: number;
  /**
   * Directory of a reference classifier checkpoint (`deno task train-reference`) of the same dataset: with
   * it, the evaluation also generates `generationImages` class-balanced images (label -> image at the training τ,
   * with `sampler`) and reports FID against the test split and generation accuracy. Default: none (skipped).
   */
  reference?: string;
  /** Images generated for FID and generation accuracy (default 1000; classes in turn). */
  generationImages: number;
}

/**
 * The whole joint config, defaults filled in.
 *
 * @example
 * ```ts
 * import { type JointConfig, parseJointConfig } from "@lzn/tasks";
 * const config: JointConfig = parseJointConfig({ name: "fashion-joint", data: { dataset: "fashion-mnist" } });
 * ```
 */
export interface JointConfig {
  /** Run name: checkpoints go to `runs/<name>/` (default "lzn-joint"). */
  name: string;
  /** `"joint"` (default), `"rf"` or `"classifier"`. */
  mode: JointMode;
  /** The model. */
  model: JointModelConfig;
  /** The data (as the classification recipe). */
  data: ClassifierConfig["data"];
  /** The optimisation. */
  train: JointTrainConfig;
  /** The evaluation. */
  eval: JointEvalConfig;
}

/**
 * What a config file may contain: every field optional, at every level.
 *
 * @example
 * ```ts
 * import type { JointConfigInput } from "@lzn/tasks";
 * const input: JointConfigInput = { mode: "rf", train: { steps: 200 } };
 * ```
 */
export interface JointConfigInput {
  /** See {@link JointConfig.name}. */
  name?: string;
  /** See {@link JointConfig.mode}. */
  mode?: JointMode;
  /** See {@link JointModelConfig}. */
  model?: Partial<Omit<JointModelConfig, "encoder" | "decoder">> & {
    encoder?: Partial<ImageEncoderArchitecture>;
    decoder?: Partial<RfDecoderArchitecture>;
  };
  /** See {@link JointConfig.data}. */
  data?: Partial<ClassifierConfig["data"]>;
  /** See {@link JointTrainConfig}. */
  train?: Partial<Omit<JointTrainConfig, "alignment">> & {
    alignment?: Partial<JointTrainConfig["alignment"]>;
  };
  /** See {@link JointEvalConfig}. */
  eval?: Partial<JointEvalConfig>;
}

const seedSchema = z.number().int().min(0).max(2 ** 31);

const SamplerSchema = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("euler"), steps: z.number().int().min(1).max(100000) }).strict(),
  z.object({ kind: z.literal("rk45"), rtol: z.number().positive(), atol: z.number().positive() }).strict(),
]);

const ModelSchema = z.object({
  latentDim: z.number().int().min(1).max(4096).default(32),
  classes: z.number().int().min(2).max(1000).default(10),
  encoder: ImageEncoderArchitecture.prefault({}),
  decoder: RfDecoderArchitecture.prefault({}),
  labelSteps: z.number().int().min(1).max(10000).default(100),
  labelSeed: seedSchema.default(1),
}).strict();

const TrainSchema = z.object({
  steps: z.number().int().min(1).default(400),
  batchSize: z.number().int().min(2).default(128),
  decoderLr: z.number().positive().default(2e-3),
  encoderLr: z.number().positive().default(2e-3),
  anchorLr: z.number().positive().default(1e-2),
  decoderSteps: z.number().int().min(0).optional(),
  warmupSteps: z.number().int().min(0).default(50),
  lrSchedule: z.enum(["constant", "cosine"]).default("cosine"),
  clipNorm: z.number().positive().default(1),
  emaDecay: z.number().min(0).max(1).default(0.99),
  tau: z.number().min(0).default(1),
  alignment: z.object({
    steps: z.number().int().min(1).default(100),
    cutoff: z.number().min(0).lt(1).default(0.2),
    log: z.boolean().default(false),
  }).strict().prefault({}),
  classWeights: z.boolean().default(true),
  labelWeight: z.number().min(0).default(1),
  rfWeight: z.number().min(0).default(1),
  seed: seedSchema.default(0),
  logEvery: z.number().int().min(1).default(10),
  checkpointEvery: z.number().int().min(0).default(100),
}).strict();

const EvalSchema = z.object({
  batchSizes: z.array(z.number().int().min(1)).min(1).default([1000]),
  taus: z.array(z.number().min(0)).min(1).default([0, 1]),
  rfImages: z.number().int().min(0).default(1000),
  reconstructionImages: z.number().int().min(0).default(100),
  reconstructionRepeats: z.number().int().min(1).default(2),
  sampler: SamplerSchema.default({ kind: "euler", steps: 10 }),
  seed: seedSchema.default(0),
  reference: z.string().min(1).optional(),
  generationImages: z.number().int().min(2).default(1000),
}).strict();

/**
 * The joint config schema (zod).
 *
 * @example
 * ```ts
 * import { JointConfig } from "@lzn/tasks";
 * const cfg = JointConfig.parse({ mode: "rf", train: { steps: 10 } });
 * console.log(cfg.model.decoder.channels, cfg.train.alignment.log); // [16, 32, 32] false
 * ```
 */
export const JointConfig: z.ZodType<JointConfig, JointConfigInput> = z.object({
  name: z.string().regex(/^[A-Za-z0-9._-]+$/, "use letters, digits, '-', '_' and '.' only").default(
    "lzn-joint",
  ),
  mode: z.enum(["joint", "rf", "classifier"]).default("joint"),
  model: ModelSchema.prefault({}),
  data: z.object({
    dataset: z.enum(["mnist", "fashion-mnist"]).default("mnist"),
    trainPerClass: z.number().int().min(1).optional(),
    testPerClass: z.number().int().min(1).optional(),
  }).strict().prefault({}),
  train: TrainSchema.prefault({}),
  eval: EvalSchema.prefault({}),
}).strict().superRefine((cfg, ctx) => {
  const { decoderSteps, steps } = cfg.train;
  if (decoderSteps !== undefined && decoderSteps > steps) {
    ctx.addIssue({
      code: "custom",
      path: ["train", "decoderSteps"],
      message: `the decoder cannot train longer (${decoderSteps}) than the run (${steps} steps)`,
    });
  }
});

/**
 * Validates a joint config (a parsed JSON value); throws a `ConfigError` listing every issue with its path.
 *
 * @example
 * ```ts
 * import { parseJointConfig } from "@lzn/tasks";
 * const cfg = parseJointConfig({ mode: "joint", train: { steps: 50, decoderSteps: 20 } }, "joint.json");
 * ```
 */
export function parseJointConfig(value: unknown, source = "joint config"): JointConfig {
  return parseConfig(JointConfig, value, source);
}

/**
 * The classification recipe's config with this run's shared fields (model, data, batch, steps, encoder and
 * anchor LRs, schedule, clip, EMA, τ, alignment, seed), which is what `mode: "classifier"` trains: the
 * classification-only row of a comparison at equal budgets.
 *
 * @example
 * ```ts
 * import { classifierConfigOf, parseJointConfig } from "@lzn/tasks";
 * const cls = classifierConfigOf(parseJointConfig({ mode: "classifier" }));
 * console.log(cls.train.alignment.log); // false, as the joint recipe
 * ```
 */
export function classifierConfigOf(config: JointConfig): ClassifierConfig {
  const { decoder: _decoder, ...model } = config.model;
  const t = config.train;
  return parseClassifierConfig({
    name: config.name,
    model,
    data: config.data,
    train: {
      steps: t.steps,
      batchSize: t.batchSize,
      encoderLr: t.encoderLr,
      anchorLr: t.anchorLr,
      warmupSteps: t.warmupSteps,
      lrSchedule: t.lrSchedule,
      clipNorm: t.clipNorm,
      emaDecay: t.emaDecay,
      tau: t.tau,
      alignment: t.alignment,
      classWeights: t.classWeights,
      seed: t.seed,
      logEvery: t.logEvery,
      checkpointEvery: t.checkpointEvery,
    },
    eval: {
      batchSizes: config.eval.batchSizes,
      taus: config.eval.taus,
      headline: { tau: config.eval.taus[0], batchSize: config.eval.batchSizes[0] },
      seed: config.eval.seed,
    },
  }, `classifier config derived from ${config.name}`);
}

/**
 * The architecture hash of a joint run: mode, encoder, decoder, classes and q (init seeds left out). Equal
 * hashes mean the same parameter names and shapes.
 *
 * @example
 * ```ts
 * import { jointArchitectureHash, parseJointConfig } from "@lzn/tasks";
 * const h = await jointArchitectureHash(parseJointConfig({}));
 * ```
 */
export function jointArchitectureHash(config: JointConfig): Promise<string> {
  const { seed: _e, ...encoder } = config.model.encoder;
  const { seed: _d, ...decoder } = config.model.decoder;
  return stableHash({
    mode: config.mode,
    encoder: config.mode === "rf" ? undefined : encoder,
    decoder,
    classes: config.model.classes,
    latentDim: config.mode === "rf" ? 0 : config.model.latentDim,
  });
}
