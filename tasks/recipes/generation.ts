/**
 * Recipe `generation`: a rectified-flow image decoder (spec §5), with its variants as parameters:
 *
 * | model.latent | model.classes | decoder conditioned on | objective | case study |
 * |---|---|---|---|---|
 * | true  | 0     | the image's LZN latent              | RF loss                        | 1: RF + LZN |
 * | false | 0     | nothing                             | RF loss                        | 1: plain RF (baseline) |
 * | true  | C >= 2 | latent and one-hot class            | label alignment + RF loss      | 3: joint |
 * | false | C >= 2 | one-hot class                       | RF loss                        | 3: class-conditional RF (baseline) |
 *
 * With a latent, the image encoder's anchors give one latent per image (DPM-Solver++, K = 20, over the
 * batch), which conditions the decoder and, in the joint model, is aligned into the label zones; the RF loss
 * trains the encoder through the latent. From `train.decoderSteps` on the decoder is frozen while its loss
 * still trains the encoder (spec §7.3).
 *
 * @module
 */
import { z } from "zod";
import { ImageEncoder, LabelEncoder } from "@lzn/encoders";
import { LabelDecoder, RfImageDecoder } from "@lzn/decoders";
import {
  AlignmentBlock,
  DataBlock,
  DecoderBlock,
  EncoderBlock,
  LabelFields,
  latentDim,
  RunName,
  SamplerBlock,
  seed,
  TrainBlock,
} from "../config/blocks.ts";
import type { GenerationConfig } from "../config_types.ts";
import type { Part, Recipe, RecipeModel } from "../recipe.ts";
import { LatentSpace } from "../space.ts";
import { GaussianPrior } from "../prior.ts";
import { labelWeights } from "./shared.ts";
import { evaluateGeneration, referenceOf } from "../evaluation/generation.ts";

const rk45 = { kind: "rk45" as const, rtol: 1e-5, atol: 1e-5 };

/** The recipe's config schema; the generated `GenerationConfig` type is its output. */
export const generationSchema = z.object({
  recipe: z.literal("generation").describe(
    "The recipe: rectified-flow generation, with or without LZN latents and classes.",
  ),
  name: RunName.default("lzn-generation"),
  data: DataBlock.prefault({}),
  model: z.object({
    latentDim: latentDim(32),
    latent: z.boolean().default(true)
      .describe(
        "Condition the decoder on the image's LZN latent (false: the plain RF baseline, no encoder).",
      ),
    classes: z.number().int().min(0).max(1000).default(10).describe(
      "Classes C of the one-hot condition (labels 0..C-1); 0 = unconditional. With a latent and C >= 2 the " +
        "model also has label anchors aligned with the image latents (case study 3's joint model).",
    ),
    encoder: EncoderBlock.prefault({}).describe("The image encoder's architecture (with `latent`)."),
    decoder: DecoderBlock.prefault({}).describe("The RF decoder's architecture."),
    ...LabelFields,
  }).strict().prefault({}).refine((m) => m.classes !== 1, {
    message: "classes must be 0 (unconditional) or >= 2",
    path: ["classes"],
  })
    .describe("The model: what the checkpoint's tensors depend on."),
  train: TrainBlock.extend({
    lr: z.object({
      decoder: z.number().positive().default(2e-3).describe("Adam learning rate of the RF decoder."),
      encoder: z.number().positive().default(2e-3).describe("Adam learning rate of the image encoder."),
      anchors: z.number().positive().default(1e-2).describe("Adam learning rate of the label anchors."),
    }).strict().prefault({}).describe("Learning rates by part."),
    decoderSteps: z.number().int().min(0).optional()
      .describe(
        "Steps the decoder trains for; frozen afterwards while its loss still trains the encoder (spec §7.3).",
      ),
    tau: z.number().min(0).default(1).describe("Prior-noise scale of the training latents (the release: 1)."),
    alignTau: z.number().min(0).optional().describe(
      "Prior-noise scale of the latents that the label alignment sees, when it differs from `tau` (joint " +
        "models; not in the release, which aligns the decoder's latents): the decoder still learns from " +
        "`tau`-scaled latents, the alignment from a second latent of the same images and noise.",
    ),
    decoderBatch: z.number().int().min(1).optional().describe(
      "Images of each batch (the first this-many) whose RF loss trains the decoder, and through it the " +
        "encoder; all of the batch still form the latents and the alignment (models with a latent; default: " +
        "the whole batch). Lets the encoder see more images per step than the decoder, whose step costs most. " +
        "Not in the release.",
    ),
    augment: z.enum(["all", "encoder"]).default("all").describe(
      'What the data block\'s augmentation (`data.shift`) feeds: every part ("all"), or only the image ' +
        'encoder, the RF decoder learning the original images ("encoder"; models with a latent: the encoder ' +
        "sees a shifted image, its latent conditions the decoder's flow to the unshifted one, so generated " +
        "images follow the data, not the augmentation). Not in the release, which has no augmentation here.",
    ),
    alignment: AlignmentBlock.prefault({ log: false })
      .describe("The label alignment loss (the release's case study 3: K 100, cut-off 0.2, no log)."),
    classWeights: z.boolean().default(true).describe(
      "Weight the label flow by the batch's class frequencies (spec §4.7).",
    ),
    labelWeight: z.number().min(0).default(1).describe("Coefficient of the label alignment loss."),
    rfWeight: z.number().min(0).default(1).describe("Coefficient of the RF loss."),
  }).strict().prefault({}).describe("The optimisation."),
  eval: z.object({
    batchSize: z.number().int().min(1).default(1000)
      .describe("Eval batch: the anchor set of test latents, and the chunk size of generation."),
    taus: z.array(z.number().min(0)).min(1).default([1, 0])
      .describe(
        "Classification (joint models): prior-noise scales; the first is the headline (the release: 1).",
      ),
    rfImages: z.number().int().min(0).default(1000).describe("Test images whose RF loss is averaged."),
    reconstruction: z.object({
      images: z.number().int().min(0).default(100).describe(
        "Training images (spec §5.7: the first eval batch).",
      ),
      repeats: z.number().int().min(1).default(20).describe(
        "Repetitions R, each with its own latent noise (the release: 20).",
      ),
      sampler: SamplerBlock.default(rk45).describe(
        "Solver of both ODEs (the release: RK45, rtol = atol = 1e-5).",
      ),
    }).strict().prefault({}).describe(
      "Reconstruction error (spec §5.7): inverse ODE to the noise, then forward.",
    ),
    generation: z.object({
      images: z.number().int().min(0).default(1000).describe(
        "Images generated for FID and generation accuracy.",
      ),
      sampler: SamplerBlock.default(rk45).describe("Solver of generation (the release: RK45)."),
      taus: z.array(z.number().min(0)).min(1).default([1])
        .describe("Latent-noise scales of generation; the first is the headline (the paper: 1)."),
      grid: z.number().int().min(0).default(8).describe(
        "Images per class (columns) of samples.png; 0 = no grid.",
      ),
    }).strict().prefault({}).describe("Generation (spec §5.6, §7.4) and its metrics."),
    reference: z.string().min(1).default("shipped").describe(
      'Reference network of FID and generation accuracy: "shipped" (metrics/reference/<dataset>.safetensors), ' +
        'a file from `saveReference`, or "none" to skip both.',
    ),
    seed: seed().default(0).describe("Seed of the test order and of every noise of the evaluation."),
    bank: z.number().int().min(0).default(1000)
      .describe(
        "Training images whose anchors are stored as the anchor bank of inference (joint models; 0 = none).",
      ),
  }).strict().prefault({}).describe("The evaluation (EMA weights)."),
}).strict().superRefine((cfg, ctx) => {
  const { decoderSteps, steps, alignTau, decoderBatch, batchSize } = cfg.train;
  if (decoderBatch !== undefined && !cfg.model.latent) {
    ctx.addIssue({
      code: "custom",
      path: ["train", "decoderBatch"],
      message: "applies to models with a latent only: without an encoder, set train.batchSize instead",
    });
  }
  if (decoderBatch !== undefined && decoderBatch > batchSize) {
    ctx.addIssue({
      code: "custom",
      path: ["train", "decoderBatch"],
      message: `cannot exceed the batch (${decoderBatch} > train.batchSize ${batchSize})`,
    });
  }
  if (cfg.train.augment === "encoder" && !cfg.model.latent) {
    ctx.addIssue({
      code: "custom",
      path: ["train", "augment"],
      message: 'applies to models with a latent only: without an image encoder "encoder" would turn the ' +
        "augmentation off",
    });
  }
  if (alignTau !== undefined && !(cfg.model.latent && cfg.model.classes >= 2)) {
    ctx.addIssue({
      code: "custom",
      path: ["train", "alignTau"],
      message: "applies to joint models only (a latent and classes >= 2): there is no label alignment",
    });
  }
  if (decoderSteps !== undefined && decoderSteps > steps) {
    ctx.addIssue({
      code: "custom",
      path: ["train", "decoderSteps"],
      message: `the decoder cannot train longer (${decoderSteps}) than the run (${steps} steps)`,
    });
  }
});

type Same<A, B> = [A] extends [B] ? [B] extends [A] ? true : false : false;
const _generatedTypeIsCurrent: Same<z.output<typeof generationSchema>, GenerationConfig> = true;

/**
 * The latent space of a generation model with a latent: "image" (encoder + RF decoder), "prior" (Gaussian
 * latents), and, in the joint model, "label" (anchors + decoder).
 *
 * @example
 * ```ts
 * import { GenerationModel, type GenerationSpace, parseRecipeConfig } from "@lzn/tasks";
 * const model = new GenerationModel(parseRecipeConfig({ recipe: "generation", model: { classes: 0 } }, "example"));
 * const space: GenerationSpace | undefined = model.space;
 * model.dispose();
 * ```
 */
export type GenerationSpace = LatentSpace<
  & Record<never, never>
  & { image: { encoder: ImageEncoder; decoder: RfImageDecoder } }
  & { label: { encoder: LabelEncoder; decoder: LabelDecoder } }
  & { prior: { encoder: GaussianPrior } }
>;

/**
 * The modules of a generation run, by variant (see the module doc).
 *
 * @example
 * ```ts
 * import { GenerationModel, parseRecipeConfig } from "@lzn/tasks";
 * const joint = new GenerationModel(parseRecipeConfig({ recipe: "generation" }, "example"));
 * console.log(Object.keys(joint.parts)); // ["decoder", "encoder", "anchors"]
 * joint.dispose();
 * ```
 */
export class GenerationModel implements RecipeModel {
  /** The RF decoder. */
  readonly decoder: RfImageDecoder;
  /** The image encoder (with a latent). */
  readonly image?: ImageEncoder;
  /** The label anchors (joint model). */
  readonly label?: LabelEncoder;
  /** The latent space (with a latent). Without one there is no LZN: the decoder is used directly. */
  readonly space?: GenerationSpace;
  /** The trained parts. */
  readonly parts: Record<string, Part>;

  /** Builds the variant of a config with fresh parameters. */
  constructor(config: GenerationConfig) {
    const m = config.model, lr = config.train.lr;
    const q = m.latentDim;
    let labelDecoder: LabelDecoder | undefined;
    if (m.latent && m.classes >= 2) {
      this.label = new LabelEncoder({
        classes: m.classes,
        latentDim: q,
        latentSteps: m.labelSteps,
        seed: m.labelSeed,
      });
      labelDecoder = new LabelDecoder(this.label, { steps: m.labelSteps });
    }
    this.decoder = new RfImageDecoder(
      { ...m.decoder, latentDim: m.latent ? q : 0, classes: m.classes },
      { classOf: labelDecoder, sampler: config.eval.generation.sampler },
    );
    this.parts = { decoder: { module: this.decoder, lr: lr.decoder, trainSteps: config.train.decoderSteps } };
    if (m.latent) {
      this.image = new ImageEncoder({ ...m.encoder, latentDim: q });
      this.parts.encoder = { module: this.image, lr: lr.encoder };
      const space = new LatentSpace(q)
        .register("image", { encoder: this.image, decoder: this.decoder })
        .register("prior", { encoder: new GaussianPrior(q) });
      if (this.label && labelDecoder) {
        this.parts.anchors = { module: this.label, lr: lr.anchors };
        this.space = space.register("label", { encoder: this.label, decoder: labelDecoder });
      } else {
        // Without classes there is no "label" modality; the type still names it, and a call needing it
        // fails with the space's runtime error (the recipe never makes one: it checks `model.label`).
        this.space = space as unknown as GenerationSpace;
      }
    }
  }

  /** Frees every parameter. */
  dispose(): void {
    this.decoder.dispose();
    this.image?.dispose();
    this.label?.dispose();
  }
}

/**
 * The generation recipe (case studies 1 and 3 and their RF baselines).
 *
 * @example
 * ```ts
 * import { generation } from "@lzn/tasks";
 * console.log(generation.summary);
 * ```
 */
export const generation: Recipe<GenerationConfig, GenerationModel> = {
  name: "generation",
  summary: "an RF image decoder, conditioned on the image's LZN latent, its class, both (joint) or neither",
  images: ["samples.png"],
  schema: generationSchema,
  classes: (config) => config.model.classes,
  architecture(config) {
    const m = config.model;
    const { seed: _e, ...encoder } = m.encoder;
    const { seed: _d, ...decoder } = m.decoder;
    return {
      latent: m.latent,
      classes: m.classes,
      decoder,
      ...(m.latent ? { encoder, latentDim: m.latentDim } : {}),
    };
  },
  build: (config) => new GenerationModel(config),
  objective(model, batch, ctx, config) {
    const t = config.train, classes = config.model.classes;
    const labels = classes > 0 ? batch.labels : undefined;
    const seed = ctx.seed("rf");
    const space = model.space;
    if (!space) {
      return { rf: { loss: model.decoder.loss(batch.images, { labels, seed }), weight: t.rfWeight } };
    }
    const anchors = model.image!.forward(batch.images);
    const latentSeed = ctx.seed("latents");
    const z = space.latentsOf("image", anchors, { tau: t.tau, seed: latentSeed });
    const target = t.augment === "encoder" ? batch.original : batch.images;
    const n = Math.min(t.decoderBatch ?? batch.count, batch.count);
    const part = n < batch.count;
    const terms = {
      rf: {
        loss: space.decoderLoss("image", part ? target.slice(0, 0, n) : target, {
          latents: part ? z.slice(0, 0, n) : z,
          labels: part ? labels?.subarray(0, n) : labels,
          seed,
        }),
        weight: t.rfWeight,
      },
    };
    if (!model.label) return terms;
    const weights = labelWeights(batch.labels, classes, t.classWeights);
    // Same images, same noise, another scale: the alignment's latents lie nearer the zone centres.
    const za = t.alignTau === undefined || t.alignTau === t.tau
      ? z
      : space.latentsOf("image", anchors, { tau: t.alignTau, seed: latentSeed });
    return {
      label: {
        loss: space.align(za, "label", batch.labels, { ...t.alignment, weights }),
        weight: t.labelWeight,
      },
      ...terms,
    };
  },
  evaluate: (model, config, ctx) => evaluateGeneration(model, config, ctx),
  // A missing or wrong reference network must fail before training, not after it.
  check: async (config) => (await referenceOf(config))?.net.dispose(),
};
