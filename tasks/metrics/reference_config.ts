/**
 * The config of the reference classifier: the fixed, separately trained CNN whose predictions give the
 * generation accuracy and whose penultimate features give the FID of lzn's 28x28 generators. One zod schema,
 * stored with every checkpoint.
 *
 * Defaults: six 3x3 conv-GroupNorm-SiLU blocks (32, 64, 64, 128, 128, 128 channels; strides 1, 2, 1, 2, 1, 1:
 * 28 -> 14 -> 7), global average pooling, a 128-wide feature layer (Linear + SiLU) and a linear head; Adam 2e-3
 * with 100 warm-up steps and a cosine decay over 3,000 steps of 128 images, random shifts of up to 2 pixels.
 * The blocks are deep enough that the last map's receptive field (29 pixels) covers the whole image, which
 * global pooling needs: a shallow stack pools local strokes only and classifies poorly.
 *
 * @module
 */
import { z } from "zod";
import { parseConfig } from "@lzn/encoders";
import { stableHash } from "../config.ts";

/**
 * The network: what the checkpoint's tensors depend on.
 *
 * @example
 * ```ts
 * import { parseReferenceConfig, type ReferenceArchitecture } from "@lzn/tasks";
 * const arch: ReferenceArchitecture = parseReferenceConfig({ data: { dataset: "mnist" } }).model;
 * console.log(arch.channels, arch.strides); // [32, 64, 64, 128, 128, 128] [1, 2, 1, 2, 1, 1]
 * ```
 */
export interface ReferenceArchitecture {
  /** Image height = width (default 28). */
  imageSize: number;
  /** Image channels (default 1). */
  inChannels: number;
  /** Output channels of each 3x3 conv block (default [32, 64, 64, 128, 128, 128]). */
  channels: number[];
  /** Stride of each block, one per block (default [1, 2, 1, 2, 1, 1]). */
  strides: (1 | 2)[];
  /** GroupNorm groups; must divide every entry of `channels` (default 8). */
  groups: number;
  /** Width of the penultimate feature layer, the FID feature space (default 128). */
  featureDim: number;
  /** Number of classes (default 10). */
  classes: number;
  /** Seed of the parameter initialisation (default 0; not part of the architecture hash). */
  seed: number;
}

/**
 * The data the classifier learns from.
 *
 * @example
 * ```ts
 * import type { ReferenceData } from "@lzn/tasks";
 * const data: ReferenceData = { dataset: "mnist", trainPerClass: 100, testPerClass: 20 };
 * ```
 */
export interface ReferenceData {
  /** Dataset, through `@lzn/data` (required: a reference classifier belongs to one dataset). */
  dataset: "mnist" | "fashion-mnist";
  /** Use only the first this-many training images of each class (tests; default: all). */
  trainPerClass?: number;
  /** Use only the first this-many test images of each class (tests; default: all). */
  testPerClass?: number;
}

/**
 * The optimisation: cross-entropy, Adam, warm-up then cosine decay.
 *
 * @example
 * ```ts
 * import { parseReferenceConfig, type ReferenceTraining } from "@lzn/tasks";
 * const train: ReferenceTraining = parseReferenceConfig({ data: { dataset: "mnist" } }).train;
 * console.log(train.lr, train.lrSchedule); // 0.002 "cosine"
 * ```
 */
export interface ReferenceTraining {
  /** Optimizer steps (default 3000). */
  steps: number;
  /** Images per step (default 128). */
  batchSize: number;
  /** Adam learning rate (default 2e-3). */
  lr: number;
  /** Linear warm-up steps (default 100). */
  warmupSteps: number;
  /** Constant after warm-up, or cosine decay to 0 at `steps` (default). */
  lrSchedule: "constant" | "cosine";
  /** Adam's L2 weight decay (default 0). */
  weightDecay: number;
  /** Random shift of each training image by up to this many pixels; 0 = none (default 2). */
  shiftPixels: number;
  /** Seed of the data order and of the shifts (default 0). */
  seed: number;
  /** Steps between progress lines; each reads the losses back once (default 50). */
  logEvery: number;
  /** Images per forward pass when evaluating (default 1000). */
  evalBatch: number;
}

/**
 * The whole reference-classifier config, defaults filled in.
 *
 * @example
 * ```ts
 * import { parseReferenceConfig, type ReferenceClassifierConfig } from "@lzn/tasks";
 * const cfg: ReferenceClassifierConfig = parseReferenceConfig({ data: { dataset: "mnist" } });
 * console.log(cfg.data.dataset, cfg.model.featureDim); // "mnist" 128
 * ```
 */
export interface ReferenceClassifierConfig {
  /** The network. */
  model: ReferenceArchitecture;
  /** The data. */
  data: ReferenceData;
  /** The optimisation. */
  train: ReferenceTraining;
}

/**
 * What a caller may pass: `data.dataset` and any other field.
 *
 * @example
 * ```ts
 * import { parseReferenceConfig, type ReferenceClassifierConfigInput } from "@lzn/tasks";
 * const input: ReferenceClassifierConfigInput = { data: { dataset: "mnist" }, train: { steps: 1000 } };
 * const cfg = parseReferenceConfig(input);
 * ```
 */
export interface ReferenceClassifierConfigInput {
  /** See {@link ReferenceArchitecture}. */
  model?: Partial<ReferenceArchitecture>;
  /** See {@link ReferenceData}. */
  data: Pick<ReferenceData, "dataset"> & Partial<ReferenceData>;
  /** See {@link ReferenceTraining}. */
  train?: Partial<ReferenceTraining>;
}

const seedSchema = z.number().int().min(0).max(2 ** 31);

const ArchitectureSchema = z.object({
  imageSize: z.number().int().min(4).max(1024).default(28),
  inChannels: z.number().int().min(1).max(64).default(1),
  channels: z.array(z.number().int().min(1).max(4096)).min(1).max(32).default([32, 64, 64, 128, 128, 128]),
  strides: z.array(z.union([z.literal(1), z.literal(2)])).min(1).max(32).default([1, 2, 1, 2, 1, 1]),
  groups: z.number().int().min(1).default(8),
  featureDim: z.number().int().min(1).max(4096).default(128),
  classes: z.number().int().min(2).max(1000).default(10),
  seed: seedSchema.default(0),
}).strict().superRefine((m, ctx) => {
  if (m.strides.length !== m.channels.length) {
    ctx.addIssue({
      code: "custom",
      path: ["strides"],
      message: `needs one stride per conv block (${m.channels.length}), got ${m.strides.length}`,
    });
  }
  m.channels.forEach((c, i) => {
    if (c % m.groups !== 0) {
      ctx.addIssue({
        code: "custom",
        path: ["channels", i],
        message: `${c} is not divisible by groups (${m.groups})`,
      });
    }
  });
});

/**
 * The reference-classifier config schema.
 *
 * @example
 * ```ts
 * import { ReferenceClassifierConfig } from "@lzn/tasks";
 * const cfg = ReferenceClassifierConfig.parse({ data: { dataset: "mnist" } });
 * console.log(cfg.model.featureDim, cfg.train.steps); // 128 3000
 * ```
 */
export const ReferenceClassifierConfig: z.ZodType<ReferenceClassifierConfig, ReferenceClassifierConfigInput> =
  z.object({
    model: ArchitectureSchema.prefault({}),
    data: z.object({
      dataset: z.enum(["mnist", "fashion-mnist"]),
      trainPerClass: z.number().int().min(1).optional(),
      testPerClass: z.number().int().min(1).optional(),
    }).strict(),
    train: z.object({
      steps: z.number().int().min(1).default(3000),
      batchSize: z.number().int().min(1).default(128),
      lr: z.number().positive().default(2e-3),
      warmupSteps: z.number().int().min(0).default(100),
      lrSchedule: z.enum(["constant", "cosine"]).default("cosine"),
      weightDecay: z.number().min(0).default(0),
      shiftPixels: z.number().int().min(0).max(8).default(2),
      seed: seedSchema.default(0),
      logEvery: z.number().int().min(1).default(50),
      evalBatch: z.number().int().min(1).default(1000),
    }).strict().prefault({}),
  }).strict();

/**
 * Validates a reference-classifier config; throws a `ConfigError` listing every issue with its path.
 *
 * @example
 * ```ts
 * import { parseReferenceConfig } from "@lzn/tasks";
 * const cfg = parseReferenceConfig({ data: { dataset: "fashion-mnist" }, train: { steps: 500 } });
 * console.log(cfg.train.batchSize); // 128
 * ```
 */
export function parseReferenceConfig(
  value: unknown,
  source = "reference classifier config",
): ReferenceClassifierConfig {
  return parseConfig(ReferenceClassifierConfig, value, source);
}

/**
 * Hash of the architecture (init seed left out): equal hashes mean the same parameter names and shapes.
 *
 * @example
 * ```ts
 * import { parseReferenceConfig, referenceArchitectureHash } from "@lzn/tasks";
 * const h = await referenceArchitectureHash(parseReferenceConfig({ data: { dataset: "mnist" } }).model);
 * ```
 */
export function referenceArchitectureHash(model: ReferenceArchitecture): Promise<string> {
  const { seed: _seed, ...shape } = model;
  return stableHash({ kind: "reference-classifier", ...shape });
}
