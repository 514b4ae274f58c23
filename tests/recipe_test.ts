/**
 * A recipe defined here, outside the package, runs through the same trainer as the shipped ones: it
 * composes two modalities in a way no shipped recipe does — each label's zone sample is aligned into the
 * zone of its image among the batch's image anchors (`align(label latents -> image anchors)`, the reverse of
 * classification) — and gets data order, checkpoints, resume and EMA from the trainer for free. What a new
 * recipe needs is exactly what this file declares: a config schema, a model with its parts, an objective
 * over the latent space's stages, and an evaluation.
 */
import { strict as assert } from "node:assert";
import { z } from "zod";
import { noGrad } from "@lzn/tensor";
import { epochOrder } from "@lzn/data";
import { ImageEncoder, LabelEncoder } from "@lzn/encoders";
import { imageBatch, LatentSpace, loadRunData, type Recipe, type RecipeModel, train } from "@lzn/tasks";
import { checkResume } from "./resume_util.ts";

const schema = z.object({
  recipe: z.literal("label-to-image"),
  name: z.string().default("label-to-image"),
  data: z.object({
    dataset: z.enum(["mnist", "fashion-mnist"]).default("mnist"),
    trainPerClass: z.number().int().optional(),
    testPerClass: z.number().int().optional(),
    shift: z.number().int().default(0),
  }).prefault({}),
  model: z.object({
    latentDim: z.number().int().default(8),
    classes: z.number().int().default(3),
    // Which images the encoder sees: the augmented batch, or the batch before the augmentation.
    input: z.enum(["images", "original"]).default("images"),
  }).prefault({}),
  train: z.object({
    steps: z.number().int().default(8),
    batchSize: z.number().int().default(24),
    warmupSteps: z.number().int().default(2),
    lrSchedule: z.enum(["constant", "cosine"]).default("constant"),
    clipNorm: z.number().default(1),
    emaDecay: z.number().default(0.9),
    seed: z.number().int().default(0),
    logEvery: z.number().int().default(2),
    checkpointEvery: z.number().int().default(4),
  }).prefault({}),
});
type Config = z.output<typeof schema>;

class Model implements RecipeModel {
  image: ImageEncoder;
  label: LabelEncoder;
  space;
  parts;
  constructor(config: Config) {
    const q = config.model.latentDim;
    this.image = new ImageEncoder({ latentDim: q, channels: [8, 8], strides: [2, 2], headHidden: 16 });
    this.label = new LabelEncoder({ classes: config.model.classes, latentDim: q, latentSteps: 20, seed: 1 });
    this.space = new LatentSpace(q).register("image", { encoder: this.image }).register("label", {
      encoder: this.label,
    });
    this.parts = { image: { module: this.image, lr: 3e-3 }, label: { module: this.label, lr: 1e-2 } };
  }
  dispose() {
    this.image.dispose();
    this.label.dispose();
  }
}

/** The share of labels whose zone sample's highest-probability image zone is an image of that label. */
async function retrieval(model: Model, images: { images: Float32Array; count: number }, labels: Int32Array) {
  const loss = noGrad(() => {
    const z = model.space.latents("label", labels, { tau: 0, seed: 0 });
    return model.space.align(z, "image", images, { steps: 20, log: true });
  });
  const value = await loss.item();
  loss.dispose();
  return value;
}

const labelToImage: Recipe<Config, Model> = {
  name: "label-to-image",
  summary: "label zone samples aligned into the zones of their images (a test recipe)",
  schema,
  images: [],
  classes: (config) => config.model.classes,
  architecture: (config) => config.model,
  build: (config) => new Model(config),
  objective(model, batch, ctx, config) {
    const z = model.space.latents("label", batch.labels, { tau: 1, seed: ctx.seed("labels") });
    // Latent i (the label of image i) is paired with image i of the batch: the default pairs.
    const anchors = model.image.forward(batch[config.model.input]);
    return {
      align: { loss: model.space.align(z, "image", { anchors }, { steps: 20, log: true }), weight: 1 },
    };
  },
  async evaluate(model, _config, ctx) {
    const test = ctx.data.test;
    const { batch, labels } = imageBatch(test, epochOrder(test.count, 0, 0).subarray(0, 24));
    return { alignmentLoss: await retrieval(model, batch, labels) };
  },
};

const ROOT = ".cache/test-runs/label-to-image";

Deno.test("a recipe defined in a test: label latents aligned into image zones train through the one trainer", async () => {
  const config = schema.parse({
    recipe: "label-to-image",
    data: { trainPerClass: 40, testPerClass: 10 },
    train: { steps: 24 },
  });
  const data = await loadRunData(config.data, 3);
  const run = await train(labelToImage, config, {
    runDir: `${ROOT}/learn`,
    start: "fresh",
    data,
    log: null,
    onProgress: () => {},
  });
  try {
    const losses = run.history.map((r) => r.loss);
    assert.equal(run.state.step, 24);
    assert.deepEqual(Object.keys(run.history[0].terms), ["align"]);
    // Each report carries the GPU memory the pool holds; training frees none of it, so it never falls.
    const gpu = run.history.map((r) => r.gpuBytes ?? 0);
    assert.ok(gpu[0] > 0 && gpu.every((b, i) => i === 0 || b >= gpu[i - 1]), `gpuBytes: ${gpu.join(" ")}`);
    const early = (losses[0] + losses[1]) / 2, late = (losses.at(-1)! + losses.at(-2)!) / 2;
    console.log(`label -> image alignment loss: ${losses.map((l) => l.toFixed(3)).join(" ")}`);
    assert.ok(late < early, `the alignment loss should fall: ${losses.join(" ")}`);
  } finally {
    run.dispose();
  }
});

Deno.test("a recipe defined in a test: stop / resume is bit-identical, as for the shipped recipes", async () => {
  const config = schema.parse({ recipe: "label-to-image", data: { trainPerClass: 20, testPerClass: 10 } });
  await checkResume(labelToImage, config, `${ROOT}/resume`, { child: false });
});

Deno.test("a recipe reads the batch before the augmentation as `original`: the same run as without augmentation", async () => {
  const run = async (shift: number, input: "images" | "original") => {
    const config = schema.parse({
      recipe: "label-to-image",
      data: { trainPerClass: 10, testPerClass: 5, shift },
      model: { input },
      train: { steps: 4, batchSize: 15, logEvery: 1, checkpointEvery: 0 },
    });
    const r = await train(labelToImage, config, {
      runDir: `${ROOT}/original-${shift}-${input}`,
      start: "fresh",
      log: null,
      onProgress: () => {},
    });
    r.dispose();
    return r.history.map((h) => h.loss);
  };
  const plain = await run(0, "images");
  const original = await run(2, "original");
  const shifted = await run(2, "images");
  assert.deepEqual(original, plain, "original is the unshifted batch, bit for bit, at every step");
  assert.notDeepEqual(shifted, plain, "the shift changes what `images` holds");
  assert.deepEqual(await run(0, "original"), plain, "without augmentation, original is images");
});
