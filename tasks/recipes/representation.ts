/**
 * Recipe `representation` (case study 2, spec §6): an image encoder trained with no labels at all, from two
 * augmented views of each image. The objective is a parameter:
 *
 * - `"lzn"`: latents of view 1 by the Euler forward flow over view 1's anchors (τ = 0.45, K = 20), aligned
 *   into the zones of view 2's anchors through the reverse flow, pairs i <-> i, cut-off floor(0.2 K), log
 *   loss, one direction as the release (`align(view-1 latents -> view-2 anchors)`);
 * - `"simclr"`: SimCLR's NT-Xent on the two views' head outputs (the baseline at equal budget: the same
 *   encoder, head, augmentations, batch, steps and optimizer).
 *
 * The evaluation is the linear probe of spec §6.4 on the EMA encoder's features, with a randomly initialised
 * encoder's probe as the floor.
 *
 * @module
 */
import { writeRunImage } from "../run_dir.ts";
import { z } from "zod";
import { ntXent, tensor } from "@lzn/tensor";
import { augmentViews, DEFAULT_VIEW_AUGMENTATION, type ViewAugmentation, viewGridPng } from "@lzn/data";
import { ResNetEncoder, ResNetEncoderArchitecture } from "@lzn/encoders";
import { AlignmentBlock, DataBlock, latentDim, RunName, seed, TrainBlock } from "../config/blocks.ts";
import type { RepresentationConfig } from "../config_types.ts";
import type { ObjectiveTerm, Part, Recipe, RecipeModel } from "../recipe.ts";
import { LatentSpace } from "../space.ts";
import { imageBatch } from "../run_data.ts";
import { evaluateRepresentation } from "../evaluation/probe.ts";

const d = DEFAULT_VIEW_AUGMENTATION;
const range = () => z.tuple([z.number(), z.number()]);

/** The recipe's config schema; the generated `RepresentationConfig` type is its output. */
export const representationSchema = z.object({
  recipe: z.literal("representation").describe(
    "The recipe: unsupervised representation learning from two views.",
  ),
  name: RunName.default("lzn-representation"),
  data: DataBlock.prefault({}),
  views: z.object({
    scale: range().default([...d.scale]).describe("Random resized crop: area fraction range."),
    ratio: range().default([...d.ratio]).describe("Random resized crop: aspect-ratio range (log-uniform)."),
    flip: z.boolean().optional().describe(
      "Horizontal flip p = 0.5 (default: on for Fashion-MNIST, off for digits).",
    ),
    jitterP: z.number().min(0).max(1).default(d.jitterP).describe(
      "Probability of the brightness/contrast jitter.",
    ),
    brightness: z.number().min(0).default(d.brightness).describe("Brightness strength."),
    contrast: z.number().min(0).default(d.contrast).describe("Contrast strength."),
    blurKernel: z.number().int().min(1).default(d.blurKernel).describe(
      "Gaussian blur kernel (10% of the side).",
    ),
    blurSigma: range().default([...d.blurSigma]).describe(
      "Gaussian blur sigma range (the release: 0.1 to 2).",
    ),
  }).strict().prefault({}).describe("The two-view augmentation (spec §6.1, adapted to 28x28 grey images)."),
  model: z.object({
    latentDim: latentDim(64),
    encoder: ResNetEncoderArchitecture.meta({ id: "ResNetEncoderArchitecture" }).prefault({})
      .describe("The ResNet encoder with its projection head (spec §6.2, scaled down)."),
  }).strict().prefault({}).describe("The model: what the checkpoint's tensors depend on."),
  train: TrainBlock.extend({
    objective: z.enum(["lzn", "simclr"]).default("lzn").describe(
      "LZN latent alignment, or SimCLR's NT-Xent (baseline).",
    ),
    lr: z.number().positive().default(1e-3).describe(
      "Adam learning rate of the encoder (the release: 8e-4).",
    ),
    tau: z.number().min(0).default(0.45).describe(
      "Prior-noise scale of view 1's latents (the release: 0.45).",
    ),
    alignment: AlignmentBlock.prefault({ steps: 20, log: true })
      .describe("The alignment of view-1 latents into view-2 zones (the release: K 20, cut-off 0.2, log)."),
    temperature: z.number().positive().default(0.5).describe("NT-Xent temperature (SimCLR)."),
  }).strict().prefault({}).describe("The optimisation."),
  eval: z.object({
    features: z.array(z.enum(["representation", "anchor", "latent"])).min(1).default([
      "representation",
      "anchor",
      "latent",
    ])
      .describe(
        "Probed features: the pooled representation (the headline), the anchor, the latent at tau = 0.",
      ),
    batchSize: z.number().int().min(1).default(1000)
      .describe("Images per forward pass; the anchor set of the latent features."),
    probe: z.object({
      epochs: z.number().int().min(1).default(50).describe("Passes of the probe over the training features."),
      batchSize: z.number().int().min(1).default(1024).describe("Probe batch."),
      lr: z.number().positive().default(1e-3).describe(
        "AdamW learning rate (the release: 3e-4 for 300 epochs).",
      ),
      weightDecay: z.number().min(0).default(0).describe("AdamW decoupled weight decay (the release: 0)."),
      standardize: z.boolean().default(true).describe(
        "Standardise each feature with the training features' mean and deviation (ours: a short probe on raw " +
          "features mostly measures their scale; the release feeds raw features to a 300-epoch probe).",
      ),
    }).strict().prefault({}).describe("The linear probe (spec §6.4)."),
    random: z.boolean().default(true).describe("Also probe a randomly initialised encoder (the floor)."),
    seed: seed().default(0).describe("Seed of the probe and of the latents' noise."),
  }).strict().prefault({}).describe("The evaluation (EMA weights): linear probes."),
}).strict();

type Same<A, B> = [A] extends [B] ? [B] extends [A] ? true : false : false;
const _generatedTypeIsCurrent: Same<z.output<typeof representationSchema>, RepresentationConfig> = true;

/**
 * The latent space of a representation run: "image" (the ResNet encoder).
 *
 * @example
 * ```ts
 * import { parseRecipeConfig, RepresentationModel } from "@lzn/tasks";
 * const model = new RepresentationModel(parseRecipeConfig({ recipe: "representation" }, "example"));
 * const embed = model.space.task({ from: "image", output: "anchors" });
 * model.dispose();
 * ```
 */
export class RepresentationModel implements RecipeModel {
  /** The encoder. */
  readonly encoder: ResNetEncoder;
  /** Its latent space. */
  readonly space: LatentSpace<Record<never, never> & { image: { encoder: ResNetEncoder } }>;
  /** The one trained part, `encoder`. */
  readonly parts: Record<string, Part>;

  /** Builds the encoder of a config with fresh parameters. */
  constructor(config: RepresentationConfig) {
    this.encoder = new ResNetEncoder({ ...config.model.encoder, latentDim: config.model.latentDim });
    this.space = new LatentSpace(config.model.latentDim).register("image", { encoder: this.encoder });
    this.parts = { encoder: { module: this.encoder, lr: config.train.lr } };
  }

  /** Frees every parameter. */
  dispose(): void {
    this.encoder.dispose();
  }
}

/**
 * The view augmentation of a config (flip decided by the dataset unless set).
 *
 * @example
 * ```ts
 * import { parseRecipeConfig, viewOptions } from "@lzn/tasks";
 * console.log(viewOptions(parseRecipeConfig({ recipe: "representation" }, "example")).flip); // false: digits
 * ```
 */
export function viewOptions(config: RepresentationConfig): ViewAugmentation {
  const v = config.views;
  return {
    ...v,
    scale: [v.scale[0], v.scale[1]],
    ratio: [v.ratio[0], v.ratio[1]],
    blurSigma: [v.blurSigma[0], v.blurSigma[1]],
    flip: v.flip ?? config.data.dataset === "fashion-mnist",
  };
}

/**
 * The representation recipe (case study 2 and its SimCLR baseline).
 *
 * @example
 * ```ts
 * import { representation } from "@lzn/tasks";
 * console.log(representation.summary);
 * ```
 */
export const representation: Recipe<RepresentationConfig, RepresentationModel> = {
  name: "representation",
  summary:
    "an image encoder from two augmented views, no labels: LZN alignment of view-1 latents into view-2 zones, or SimCLR",
  images: ["views.png", "representations.png"],
  schema: representationSchema,
  classes: () => 0,
  architecture(config) {
    const { seed: _s, ...encoder } = config.model.encoder;
    return { latentDim: config.model.latentDim, encoder };
  },
  build: (config) => new RepresentationModel(config),
  objective(model, batch, ctx, config): Record<string, ObjectiveTerm> {
    const t = config.train;
    const [v1, v2] = augmentViews(batch.images, {
      seed: ctx.seed("views"),
      step: ctx.step,
      ...viewOptions(config),
    });
    const a1 = model.encoder.forward(v1), a2 = model.encoder.forward(v2);
    if (t.objective === "simclr") return { ntxent: { loss: ntXent(a1, a2, t.temperature), weight: 1 } };
    const z = model.space.latentsOf("image", a1, { tau: t.tau, seed: ctx.seed("latents") });
    return { align: { loss: model.space.align(z, "image", { anchors: a2 }, t.alignment), weight: 1 } };
  },
  evaluate: (model, config, ctx) => evaluateRepresentation(model, config, ctx),
  async start(_model, config, ctx) {
    if (ctx.step > 0) return;
    const { batch } = imageBatch(ctx.data.train, Int32Array.from({ length: 8 }, (_, i) => i));
    const images = tensor(batch.images, [8, 1, ctx.data.train.rows, ctx.data.train.cols]);
    const views = augmentViews(images, { seed: 0, step: 0, ...viewOptions(config) });
    const png = await viewGridPng(batch.images, await Promise.all(views.map((v) => v.toArray())), 8, 28, 28);
    for (const t of [images, ...views]) t.dispose();
    await writeRunImage(ctx.runDir, "views.png", png);
  },
};
