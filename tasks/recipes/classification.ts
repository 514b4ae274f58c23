/**
 * Recipe `classification` (spec §7.2 without the generation loss, evaluated as §7.5): an image encoder and
 * the label anchors in one latent space; the objective is `align(image latents -> label zones)`.
 *
 * Small-data defaults (ours, not the release's, whose learning rates are for 200k iterations at batch 2000),
 * chosen so that the MNIST demo reaches >= 0.95 within 10 minutes on a 2-core CPU adapter: q = 32, batch 256,
 * 320 steps, Adam 4e-3 (encoder) / 1e-2 (label anchors), 50 warm-up steps then a cosine decay, EMA 0.99,
 * training latents with τ = 0.25 and the log variant of the alignment loss. `tasks/README.md` has the
 * measurements behind each choice and the release's values.
 *
 * @module
 */
import { writeRunImage } from "../run_dir.ts";
import { z } from "zod";
import { encodePng } from "@lzn/data";
import { ImageEncoder, LabelEncoder } from "@lzn/encoders";
import { LabelDecoder } from "@lzn/decoders";
import {
  AlignmentBlock,
  DataBlock,
  EncoderBlock,
  LabelFields,
  latentDim,
  RunName,
  seed,
  TrainBlock,
} from "../config/blocks.ts";
import type { ClassificationConfig } from "../config_types.ts";
import type { Metrics, Recipe, RecipeModel } from "../recipe.ts";
import { LatentSpace } from "../space.ts";
import { type ClassifyingSpace, evaluateAccuracy, formatEvalTable } from "../evaluation/accuracy.ts";
import { bankAccuracy } from "../evaluation/bank_accuracy.ts";
import { labelWeights } from "./shared.ts";
import { predictionGrid } from "../visualize.ts";

/** The recipe's config schema; the generated `ClassificationConfig` type is its output. */
export const classificationSchema = z.object({
  recipe: z.literal("classification").describe("The recipe: classification by latent alignment."),
  name: RunName.default("lzn-classifier"),
  data: DataBlock.prefault({}),
  model: z.object({
    latentDim: latentDim(32),
    classes: z.number().int().min(2).max(1000).default(10).describe(
      "Number of classes C; labels must be 0..C-1.",
    ),
    encoder: EncoderBlock.prefault({}).describe("The image encoder's architecture."),
    ...LabelFields,
  }).strict().prefault({}).describe("The model: what the checkpoint's tensors depend on."),
  train: TrainBlock.extend({
    lr: z.object({
      encoder: z.number().positive().default(4e-3).describe("Adam learning rate of the image encoder."),
      anchors: z.number().positive().default(1e-2).describe("Adam learning rate of the label anchors."),
    }).strict().prefault({}).describe("Learning rates by part."),
    tau: z.number().min(0).default(0.25)
      .describe("Prior-noise scale of the training latents (the release: 1 in case study 3, 0.45 in 2)."),
    alignment: AlignmentBlock.prefault({}).describe(
      "The alignment loss of image latents into the label zones.",
    ),
    classWeights: z.boolean().default(true).describe(
      "Weight the label flow by the batch's class frequencies (spec §4.7).",
    ),
  }).strict().prefault({}).describe("The optimisation."),
  eval: z.object({
    batchSizes: z.array(z.number().int().min(1)).min(1).default([1000, 500])
      .describe("Eval batch sizes: each eval batch is the anchor set of its images' latents (spec §7.5)."),
    taus: z.array(z.number().min(0)).min(1).default([0, 0.2, 0.4, 0.6, 0.8, 1, 1.2]).describe(
      "Prior-noise scales to sweep.",
    ),
    headline: z.object({ tau: z.number().min(0), batchSize: z.number().int().min(1) }).strict()
      .default({ tau: 0, batchSize: 1000 })
      .describe("The setting reported as `accuracy`, fixed before looking at results."),
    seed: seed().default(0).describe("Seed of the test-set order and of the prior noise."),
    bank: z.number().int().min(0).default(1000).describe(
      "Training images whose anchors are stored with the run as the anchor bank of inference: each new image's " +
        "latent is computed against the bank and itself, so its label does not depend on the rest of the call " +
        "(0 = no bank).",
    ),
  }).strict().prefault({}).describe("The evaluation (EMA weights, as the release evaluates every metric)."),
}).strict();

// The generated type must be exactly what the schema parses to (see scripts/gen_config_types.ts).
type Same<A, B> = [A] extends [B] ? [B] extends [A] ? true : false : false;
const _generatedTypeIsCurrent: Same<z.output<typeof classificationSchema>, ClassificationConfig> = true;

/**
 * A classifier: the image encoder and the label anchors, registered in one latent space as "image"
 * (encoder) and "label" (encoder + decoder).
 *
 * @example
 * ```ts
 * import { ClassificationModel, parseRecipeConfig } from "@lzn/tasks";
 * const model = new ClassificationModel(parseRecipeConfig({ recipe: "classification" }, "example"));
 * const classify = model.space.task({ from: "image", to: "label" }); // Task<ImageBatch, Labels>
 * model.dispose();
 * ```
 */
export class ClassificationModel implements RecipeModel {
  /** Image encoder. */
  readonly image: ImageEncoder;
  /** Label encoder (the label anchors `A^L`). */
  readonly label: LabelEncoder;
  /** The latent space with both modalities registered. */
  readonly space: ClassifyingSpace;
  /** The trained parts: `encoder` and `anchors`, with their learning rates. */
  readonly parts: RecipeModel["parts"];

  /** Builds the modules of a config with fresh parameters. */
  constructor(config: ClassificationConfig) {
    const model = config.model;
    this.image = new ImageEncoder({ ...model.encoder, latentDim: model.latentDim });
    this.label = new LabelEncoder({
      classes: model.classes,
      latentDim: model.latentDim,
      latentSteps: model.labelSteps,
      seed: model.labelSeed,
    });
    this.space = new LatentSpace(model.latentDim)
      .register("image", { encoder: this.image })
      .register("label", {
        encoder: this.label,
        decoder: new LabelDecoder(this.label, { steps: model.labelSteps }),
      });
    this.parts = {
      encoder: { module: this.image, lr: config.train.lr.encoder },
      anchors: { module: this.label, lr: config.train.lr.anchors },
    };
  }

  /** Frees every parameter. */
  dispose(): void {
    this.image.dispose();
    this.label.dispose();
  }
}

/**
 * The classification recipe.
 *
 * @example
 * ```ts
 * import { classification, parseRecipeConfig } from "@lzn/tasks";
 * const config = parseRecipeConfig({ recipe: "classification", train: { steps: 10 } }, "example");
 * console.log(classification.summary);
 * ```
 */
export const classification: Recipe<ClassificationConfig, ClassificationModel> = {
  name: "classification",
  summary: "image encoder + label anchors, trained by aligning image latents into the label zones",
  images: ["predictions.png"],
  schema: classificationSchema,
  classes: (config) => config.model.classes,
  architecture(config) {
    const { seed: _seed, ...encoder } = config.model.encoder;
    return { encoder, classes: config.model.classes, latentDim: config.model.latentDim };
  },
  build: (config) => new ClassificationModel(config),
  objective(model, batch, ctx, config) {
    const t = config.train, classes = config.model.classes;
    const weights = labelWeights(batch.labels, classes, t.classWeights);
    const z = model.space.latentsOf("image", model.image.forward(batch.images), {
      tau: t.tau,
      seed: ctx.seed("latents"),
    });
    const loss = model.space.align(z, "label", batch.labels, { ...t.alignment, weights });
    return { label: { loss, weight: 1 } };
  },
  async evaluate(model, config, ctx) {
    const e = config.eval;
    const report = await evaluateAccuracy(model.space, ctx.data.test, {
      batchSizes: e.batchSizes,
      taus: e.taus,
      seed: e.seed,
      headline: e.headline,
      onBatch: (done, total) => ctx.log(`eval batch ${done}/${total}`),
      log: (line) => ctx.log(`eval: ${line}`),
    });
    ctx.log(formatEvalTable(report.results));
    const h = report.headline;
    const metrics: Metrics = {
      accuracy: h.accuracy,
      tau: h.tau,
      evalBatch: h.batchSize,
      sweep: Object.fromEntries(report.results.map((r) => [`b${r.batchSize}_tau${r.tau}`, r.accuracy])),
    };
    if (e.bank > 0) Object.assign(metrics, await bankAccuracy(model.space, config, ctx, h.tau));
    if (ctx.run) {
      const grid = predictionGrid(ctx.data.test, report.predictions, { classes: config.model.classes });
      const png = await writeRunImage(ctx.run.dir, "predictions.png", await encodePng(grid));
      ctx.log(`wrote ${png} (test images in columns by predicted class; red frames are mistakes)`);
    }
    return metrics;
  },
};
