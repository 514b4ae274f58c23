/**
 * What a recipe is: a declaration that the one trainer (`trainer.ts`) runs. A recipe names its config
 * schema (built from the shared blocks of `config/blocks.ts`), builds its model — the trained parts, each an
 * optimizer group with its own learning rate and EMA — declares its objective as weighted terms over the
 * stages of its latent space, and evaluates a trained model. Everything else (data order, noise, augmentation,
 * clipping, the non-finite skip, Adam, warm-up and decay, EMA, progress, checkpoints, resume) is the
 * trainer's, the same for every recipe.
 *
 * @module
 */
import type { z } from "zod";
import type { Module, Tensor } from "@lzn/tensor";
import type { Split } from "@lzn/data";
import type { DataConfig, TrainConfig } from "./config_types.ts";

/**
 * One trained part of a model: a module with its learning rate. It is one Adam group and one EMA, and its
 * parameters are saved under `model.<part>.`, `ema.<part>.` and `adam.<part>.` in checkpoints.
 *
 * @example
 * ```ts
 * import { Linear } from "@lzn/tensor";
 * import type { Part } from "@lzn/tasks";
 * const head: Part = { module: new Linear(8, 2), lr: 1e-3 };
 * const decoder: Part = { module: new Linear(8, 8), lr: 2e-3, trainSteps: 600 }; // frozen from step 600 on
 * ```
 */
export interface Part {
  /** The module. */
  module: Module;
  /** Adam learning rate (before warm-up and decay). */
  lr: number;
  /**
   * Steps this part trains for; from then on it is frozen (no gradient, no Adam or EMA update) while
   * gradients still flow through it into the other parts (case study 3's decoder, spec §7.3). Default: all.
   */
  trainSteps?: number;
}

/**
 * A built model: its trained parts by name (the checkpoint prefixes), in a fixed order.
 *
 * @example
 * ```ts
 * import { Linear } from "@lzn/tensor";
 * import type { RecipeModel } from "@lzn/tasks";
 * const net = new Linear(4, 2);
 * const model: RecipeModel = { parts: { net: { module: net, lr: 1e-3 } }, dispose: () => net.dispose() };
 * ```
 */
export interface RecipeModel {
  /** The trained parts. */
  readonly parts: Record<string, Part>;
  /** Frees every parameter. */
  dispose(): void;
}

/**
 * One training batch as the trainer hands it to the objective.
 *
 * @example
 * ```ts
 * import type { TrainBatch } from "@lzn/tasks";
 * const describe = (b: TrainBatch) => `${b.count} images, shape [${b.images.shape}]`;
 * ```
 */
export interface TrainBatch {
  /** Images `[B, C, H, W]` in [-1, 1], after the data block's augmentation. */
  images: Tensor;
  /**
   * The same images before the augmentation (`images` itself when nothing changed them); uploaded on first
   * use, so a recipe that never reads it costs nothing.
   */
  readonly original: Tensor;
  /** Class of every image. */
  labels: Int32Array;
  /** Number of images. */
  count: number;
}

/**
 * Per-step context of an objective: the step and the seeds of its random streams. Every seed is a pure
 * function of (run seed, stream, step), so a resumed run draws exactly the noise of an uninterrupted one.
 *
 * @example
 * ```ts
 * import type { StepContext } from "@lzn/tasks";
 * const noiseOf = (ctx: StepContext) => ctx.seed("latents"); // differs per step, fixed per (seed, step)
 * ```
 */
export interface StepContext {
  /** The optimizer step being computed (0-based). */
  step: number;
  /** The seed of a named random stream at this step. */
  seed(stream: string): number;
}

/**
 * One term of an objective: an unweighted scalar loss and its weight in the total.
 *
 * @example
 * ```ts
 * import { tensor } from "@lzn/tensor";
 * import type { ObjectiveTerm } from "@lzn/tasks";
 * const term: ObjectiveTerm = { loss: tensor([0.5], []), weight: 1 };
 * ```
 */
export interface ObjectiveTerm {
  /** Scalar loss (reported as is). */
  loss: Tensor;
  /** Its coefficient in the total that is minimised. */
  weight: number;
}

/**
 * The data and run facts an evaluation gets, besides the model (whose parameters hold the EMA weights unless
 * asked otherwise).
 *
 * @example
 * ```ts
 * import type { EvalContext } from "@lzn/tasks";
 * const size = (ctx: EvalContext) => ctx.data.test.count;
 * ```
 */
export interface EvalContext {
  /** The run's data (the same splits it trained on). */
  data: { train: Split; test: Split };
  /**
   * The run the model belongs to, if any: where evaluation outputs go (sample grids, the anchor bank) and
   * which checkpoint and weights they come from.
   */
  run?: { dir: string; step: number; architectureHash: string; weights: "ema" | "raw" };
  /** Progress notices (stderr by default). */
  log: (line: string) => void;
}

/**
 * Metrics of an evaluation: the flat numbers go into the command's final JSON line and `eval.json`.
 *
 * @example
 * ```ts
 * import type { Metrics } from "@lzn/tasks";
 * const m: Metrics = { accuracy: 0.95, evalBatch: 1000, sweep: { b1000_tau0: 0.95 } };
 * ```
 */
export type Metrics = Record<string, unknown>;

/**
 * The config fields the trainer reads from every recipe config.
 *
 * @example
 * ```ts
 * import type { RecipeConfig } from "@lzn/tasks";
 * const steps = (c: RecipeConfig) => c.train.steps;
 * ```
 */
export interface RecipeConfig {
  /** The recipe's name. */
  recipe: string;
  /** Run name. */
  name: string;
  /** The data block. */
  data: DataConfig;
  /** The shared optimisation block (recipes add their own fields). */
  train: TrainConfig;
}

/**
 * The images recipes write into their run directory, by name: a run owns these and no other PNG, so a user's
 * own pictures beside them survive `--fresh` and can be named freely by `sample --out`; and of these names
 * only the files it wrote (`RUN_IMAGE_MARK`). Each recipe lists the ones it writes ({@link Recipe.images}).
 *
 * @example
 * ```ts
 * import { join } from "node:path";
 * import { type RunImage, RUN_IMAGES } from "@lzn/tasks";
 * const name: RunImage = "samples.png";
 * console.log(RUN_IMAGES.includes(name), join("runs/demo", name)); // true runs/demo/samples.png
 * ```
 */
export const RUN_IMAGES = ["predictions.png", "samples.png", "representations.png", "views.png"] as const;

/** The name of an image a recipe writes into its run directory (one of {@link RUN_IMAGES}, through `writeRunImage`). */
export type RunImage = typeof RUN_IMAGES[number];

/**
 * A recipe: config schema, model, objective and evaluation. See `tasks/recipes/` for the shipped ones and
 * `tests/recipe_test.ts` for one defined outside the package.
 *
 * @example
 * ```ts
 * import { RECIPES, type Recipe } from "@lzn/tasks";
 * const classification: Recipe = RECIPES.classification as unknown as Recipe;
 * console.log(classification.summary);
 * ```
 */
// deno-lint-ignore no-explicit-any
export interface Recipe<C extends RecipeConfig = any, M extends RecipeModel = any> {
  /** The name a config's `recipe` field selects. */
  readonly name: string;
  /** One line for `--help` and listings. */
  readonly summary: string;
  /**
   * The run images its training and evaluation write (`writeRunImage`); `train` and `eval` refuse to start
   * while a file under one of these names is not the run's.
   */
  readonly images: readonly RunImage[];
  /** The config schema (zod, every field defaulted); parse errors become `ConfigError`s. */
  readonly schema: z.ZodType<C, unknown>;
  /** Number of classes the run's data is restricted to (labels 0..C-1); 0 keeps every class. */
  classes(config: C): number;
  /** What the parameter names and shapes depend on (hashed; init seeds left out). */
  architecture(config: C): unknown;
  /** Builds the model with fresh parameters. */
  build(config: C): M;
  /** The objective of one batch, as weighted terms; call inside a `scope`. */
  objective(model: M, batch: TrainBatch, ctx: StepContext, config: C): Record<string, ObjectiveTerm>;
  /** Evaluates a model; the caller swaps the EMA weights in first. */
  evaluate(model: M, config: C, ctx: EvalContext): Promise<Metrics>;
  /** Checks what the config refers to (files, other runs) before any training starts. */
  check?(config: C): Promise<void>;
  /**
   * Called once per training session, after the model is built or restored and before its first step
   * (e.g. to write a picture of what the augmentation does into the run directory).
   */
  start?(
    model: M,
    config: C,
    ctx: { data: { train: Split; test: Split }; runDir: string; step: number },
  ): Promise<void>;
}
