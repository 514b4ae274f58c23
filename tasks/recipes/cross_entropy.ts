/**
 * Recipe `cross-entropy`: supervised classification with softmax cross-entropy, the ordinary way LZN
 * classification is compared with. The network is a parameter:
 *
 * - `"encoder"`: the LZN image encoder (its anchor is the feature) and a linear head — the cross-entropy
 *   baseline at the LZN recipes' budget (issue 12);
 * - `"reference"`: the reference CNN of `@lzn/metrics`, whose frozen weights define the FID feature space;
 *   its evaluation writes them as `reference.safetensors` (EMA weights), the file that ships per dataset.
 *
 * @module
 */
import { join } from "node:path";
import { z } from "zod";
import { crossEntropy, InitRng, Linear, Module, noGrad, scope, type Tensor, tensor } from "@lzn/tensor";
import { ImageEncoder, type ImageEncoderArchitecture } from "@lzn/encoders";
import { ReferenceClassifier, saveReference } from "@lzn/metrics";
import { DataBlock, EncoderBlock, latentDim, ReferenceBlock, RunName, TrainBlock } from "../config/blocks.ts";
import type { CrossEntropyConfig } from "../config_types.ts";
import type { Part, Recipe, RecipeModel } from "../recipe.ts";
import { imageBatch } from "../run_data.ts";

const classes = z.number().int().min(2).max(1000).default(10).describe(
  "Number of classes C; labels must be 0..C-1.",
);
const ReferenceNetwork = z.object({
  network: z.literal("reference").describe("The reference CNN of `@lzn/metrics` (FID features)."),
  reference: ReferenceBlock.prefault({}).describe("Its architecture (classes included)."),
}).strict();
const EncoderNetwork = z.object({
  network: z.literal("encoder").describe("The LZN image encoder with a linear head on its anchor."),
  classes,
  latentDim: latentDim(32),
  encoder: EncoderBlock.prefault({}).describe("The image encoder's architecture."),
  headSeed: z.number().int().min(0).max(2 ** 31).default(1).describe(
    "Seed of the linear head's initialisation.",
  ),
}).strict();

/** The recipe's config schema; the generated `CrossEntropyConfig` type is its output. */
export const crossEntropySchema = z.object({
  recipe: z.literal("cross-entropy").describe("The recipe: supervised classification with cross-entropy."),
  name: RunName.default("cross-entropy"),
  data: DataBlock.prefault({ shift: 2 }),
  model: z.discriminatedUnion("network", [ReferenceNetwork, EncoderNetwork]).prefault({ network: "encoder" })
    .describe('The network: "reference" (the FID feature network) or "encoder" (the LZN image encoder).'),
  train: TrainBlock.extend({
    lr: z.number().positive().default(2e-3).describe("Adam learning rate."),
    weightDecay: z.number().min(0).default(0).describe("Adam's L2 weight decay."),
  }).strict().prefault({}).describe("The optimisation."),
  eval: z.object({
    batchSize: z.number().int().min(1).default(1000).describe("Images per forward pass of the evaluation."),
  }).strict().prefault({}).describe("The evaluation (EMA weights): test accuracy."),
}).strict();

type Same<A, B> = [A] extends [B] ? [B] extends [A] ? true : false : false;
const _generatedTypeIsCurrent: Same<z.output<typeof crossEntropySchema>, CrossEntropyConfig> = true;

/**
 * The image encoder with a linear classification head on its anchor.
 *
 * @example
 * ```ts
 * import { tensor } from "@lzn/tensor";
 * import { EncoderClassifier } from "@lzn/tasks";
 * const net = new EncoderClassifier({ latentDim: 8, classes: 3, encoder: { channels: [4, 8], strides: [2, 2] }, headSeed: 1 });
 * const logits = net.forward(tensor(new Float32Array(2 * 784), [2, 1, 28, 28])); // [2, 3]
 * net.dispose();
 * ```
 */
export class EncoderClassifier extends Module {
  /** The image encoder. */
  encoder: ImageEncoder;
  /** Anchor -> logits. */
  head: Linear;

  /** Builds the network of the "encoder" model block. */
  constructor(
    m: { latentDim: number; classes: number; encoder: Partial<ImageEncoderArchitecture>; headSeed: number },
  ) {
    super();
    this.encoder = new ImageEncoder({ ...m.encoder, latentDim: m.latentDim });
    this.head = new Linear(m.latentDim, m.classes, { rng: new InitRng(m.headSeed) });
  }

  /** Logits `[b, classes]` of images `[b, C, H, W]`. */
  forward(images: Tensor): Tensor {
    return scope(() => this.head.forward(this.encoder.forward(images)));
  }
}

/**
 * A cross-entropy run's network.
 *
 * @example
 * ```ts
 * import { CrossEntropyModel, parseRecipeConfig } from "@lzn/tasks";
 * const model = new CrossEntropyModel(parseRecipeConfig({ recipe: "cross-entropy" }, "example"));
 * model.dispose();
 * ```
 */
export class CrossEntropyModel implements RecipeModel {
  /** The network (logits from images). */
  readonly net: ReferenceClassifier | EncoderClassifier;
  /** The one trained part, `net`. */
  readonly parts: Record<string, Part>;

  /** Builds the network of a config. */
  constructor(config: CrossEntropyConfig) {
    const m = config.model;
    this.net = m.network === "reference" ? new ReferenceClassifier(m.reference) : new EncoderClassifier(m);
    this.parts = { net: { module: this.net, lr: config.train.lr } };
  }

  /** Frees every parameter. */
  dispose(): void {
    this.net.dispose();
  }
}

/**
 * The cross-entropy recipe.
 *
 * @example
 * ```ts
 * import { crossEntropyRecipe } from "@lzn/tasks";
 * console.log(crossEntropyRecipe.summary);
 * ```
 */
export const crossEntropyRecipe: Recipe<CrossEntropyConfig, CrossEntropyModel> = {
  name: "cross-entropy",
  summary:
    "supervised classification with cross-entropy (the LZN image encoder, or the FID reference network)",
  images: [],
  schema: crossEntropySchema,
  classes: (config) =>
    config.model.network === "reference" ? config.model.reference.classes : config.model.classes,
  architecture(config) {
    const m = config.model;
    if (m.network === "reference") {
      const { seed: _s, ...reference } = m.reference;
      return { network: m.network, reference };
    }
    const { seed: _e, ...encoder } = m.encoder;
    return { network: m.network, classes: m.classes, latentDim: m.latentDim, encoder };
  },
  build: (config) => new CrossEntropyModel(config),
  objective(model, batch) {
    return { ce: { loss: crossEntropy(model.net.forward(batch.images), batch.labels), weight: 1 } };
  },
  async evaluate(model, config, ctx) {
    const test = ctx.data.test, bs = config.eval.batchSize;
    let correct = 0;
    for (let start = 0; start < test.count; start += bs) {
      const idx = Int32Array.from({ length: Math.min(bs, test.count - start) }, (_, i) => start + i);
      const { batch, labels } = imageBatch(test, idx);
      const pred = noGrad(() =>
        scope(() => model.net.forward(tensor(batch.images, [batch.count, 1, test.rows, test.cols])).argmax(1))
      );
      const host = await pred.toTypedArray() as Int32Array;
      pred.dispose();
      host.forEach((p, i) => correct += p === labels[i] ? 1 : 0);
    }
    const accuracy = correct / test.count;
    ctx.log(`eval: test accuracy ${(accuracy * 100).toFixed(2)}% (${correct}/${test.count})`);
    if (ctx.run && model.net instanceof ReferenceClassifier) {
      const path = join(ctx.run.dir, "reference.safetensors");
      await saveReference(path, model.net, {
        dataset: config.data.dataset,
        testAccuracy: accuracy,
        testImages: test.count,
        source: `${ctx.run.dir} step ${ctx.run.step} (${ctx.run.weights} weights)`,
      });
      ctx.log(
        `wrote ${path} (the reference network of ${config.data.dataset}; copy it to metrics/reference/ to ship it)`,
      );
    }
    return { accuracy, testImages: test.count };
  },
};
