/**
 * Evaluation of a generation run by the paper's protocol, every number in one metrics object:
 *
 * - classification (joint models, spec §7.5): accuracy at each `eval.taus` (headline: the first, τ = 1 as
 *   the release's `ClassAccuracy`) over eval batches of `eval.batchSize`, and one image at a time against
 *   the anchor bank;
 * - the held-out RF loss of test images (a likelihood proxy);
 * - reconstruction error (spec §5.7): the first training images in a fixed order, R repetitions each with
 *   its own latent noise at τ = 1, the image set as the latents' anchor set, inverse then forward ODE with
 *   one sampler (RK45 by default, as the release);
 * - FID and generation accuracy of `generation.images` samples at each `generation.taus` (headline: the
 *   first, τ = 1 as the paper samples), 8-bit images against the training split's statistics, in the feature
 *   space of the reference network whose file hash is reported; a joint model's prior sampling too.
 *
 * @module
 */
import { writeRunImage } from "../run_dir.ts";
import { noGrad, scope, tensor } from "@lzn/tensor";
import { encodePng, epochOrder, hashSeed, imageGrid } from "@lzn/data";
import {
  type FeatureStats,
  generationMetrics,
  type LoadedReference,
  loadReference,
  realStatistics,
  shippedReference,
  toPixels,
} from "@lzn/metrics";
import type { GenerationConfig } from "../config_types.ts";
import type { EvalContext, Metrics } from "../recipe.ts";
import type { GenerationModel } from "../recipes/generation.ts";
import { imageBatch } from "../run_data.ts";
import { type ClassifyingSpace, evaluateAccuracy } from "./accuracy.ts";
import { bankAccuracy } from "./bank_accuracy.ts";
import { generateImages } from "./sampling.ts";
import { InputError } from "../errors.ts";

/**
 * The reference network a config's `eval.reference` names (`undefined` for "none"); an `InputError` that
 * says how to get one when it is missing or of another dataset.
 *
 * @example
 * ```ts ignore
 * import { parseRecipeConfig, referenceOf } from "@lzn/tasks";
 * const ref = await referenceOf(parseRecipeConfig({ recipe: "generation" }, "example"));
 * ref?.net.dispose();
 * ```
 */
export async function referenceOf(config: GenerationConfig): Promise<LoadedReference | undefined> {
  const name = config.eval.reference, dataset = config.data.dataset;
  if (name === "none") return undefined;
  const path = name === "shipped" ? shippedReference(dataset) : name;
  try {
    return await loadReference(path, { dataset });
  } catch (e) {
    const missing = e instanceof Deno.errors.NotFound;
    throw new InputError(
      missing
        ? `eval.reference: no reference network at ${path}; train one with the cross-entropy recipe ` +
          `(tasks/recipes/reference-${dataset}.json, then \`deno task eval\` writes reference.safetensors), or set ` +
          `eval.reference to "none" to skip FID and generation accuracy`
        : `eval.reference: ${(e as Error).message}`,
    );
  }
}

/**
 * Evaluates a generation model (EMA weights swapped in by the caller).
 *
 * @example
 * ```ts ignore
 * import { evaluateGeneration, generation, loadRun, loadRunData } from "@lzn/tasks";
 * const run = await loadRun("runs/fashion-joint", { recipe: generation });
 * const data = await loadRunData(run.config.data, run.config.model.classes);
 * const metrics = await evaluateGeneration(run.model, run.config, { data, log: console.error });
 * ```
 */
export async function evaluateGeneration(
  model: GenerationModel,
  config: GenerationConfig,
  ctx: EvalContext,
): Promise<Metrics> {
  const e = config.eval, test = ctx.data.test;
  const reference = await referenceOf(config);
  const metrics: Metrics = {};
  try {
    if (model.space && model.label) {
      const space = model.space as unknown as ClassifyingSpace;
      const report = await evaluateAccuracy(space, test, {
        batchSizes: [e.batchSize],
        taus: e.taus,
        seed: e.seed,
        headline: { tau: e.taus[0], batchSize: e.batchSize },
        log: (line) => ctx.log(`eval: ${line}`),
      });
      metrics.accuracy = report.headline.accuracy;
      metrics.accuracyTau = report.headline.tau;
      metrics.evalBatch = report.headline.batchSize;
      metrics.accuracyByTau = Object.fromEntries(report.results.map((r) => [`tau${r.tau}`, r.accuracy]));
      ctx.log(
        `eval: accuracy ${JSON.stringify(metrics.accuracyByTau)} (eval batch ${report.headline.batchSize})`,
      );
      if (e.bank > 0) Object.assign(metrics, await bankAccuracy(space, config, ctx, 0));
    }
    Object.assign(metrics, await rfLoss(model, config, ctx));
    ctx.log(
      `eval: held-out RF loss ${(metrics.rfLoss as number).toFixed(4)} over ${metrics.rfImages} test images`,
    );
    Object.assign(metrics, await reconstruction(model, config, ctx));
    ctx.log(
      `eval: reconstruction error ${
        (metrics.reconstruction as number).toFixed(4)
      } (${metrics.reconstructionNfe} NFE)`,
    );
    if (reference && e.generation.images >= 2) {
      Object.assign(metrics, await generationSweep(model, config, ctx, reference));
    }
    if (ctx.run && e.generation.grid > 0 && model.decoder.imageShape[0] === 1) {
      const path = await writeRunImage(ctx.run.dir, "samples.png", await gridPng(model, config));
      ctx.log(
        `wrote ${path} (${config.model.classes > 0 ? "one row per class" : "unconditional samples"}, tau ${
          config.eval.generation.taus[0]
        })`,
      );
    }
    return metrics;
  } finally {
    reference?.net.dispose();
  }
}

async function rfLoss(model: GenerationModel, config: GenerationConfig, ctx: EvalContext): Promise<Metrics> {
  const e = config.eval, test = ctx.data.test;
  const count = Math.min(e.rfImages, test.count);
  const order = epochOrder(test.count, e.seed, 0);
  const shape = model.decoder.imageShape;
  let sum = 0;
  for (let start = 0, k = 0; start < count; start += e.batchSize, k++) {
    const { batch, labels } = imageBatch(test, order.subarray(start, Math.min(count, start + e.batchSize)));
    const loss = scope(() =>
      noGrad(() => {
        const images = tensor(batch.images, [batch.count, ...shape]);
        const lab = config.model.classes > 0 ? labels : undefined;
        const seed = hashSeed(e.seed, 2, k);
        if (!model.space) return model.decoder.loss(images, { labels: lab, seed });
        // The decoder learned from latents of the training τ: its held-out loss is measured at that τ.
        const z = model.space.latentsOf("image", model.image!.forward(images), {
          tau: config.train.tau,
          seed: hashSeed(e.seed, 1, k),
        });
        return model.space.decoderLoss("image", images, { latents: z, labels: lab, seed });
      })
    );
    sum += (await loss.item()) * batch.count;
    loss.dispose();
  }
  return { rfLoss: count ? sum / count : NaN, rfImages: count };
}

async function reconstruction(
  model: GenerationModel,
  config: GenerationConfig,
  ctx: EvalContext,
): Promise<Metrics> {
  const r = config.eval.reconstruction, train = ctx.data.train;
  const count = Math.min(r.images, train.count);
  if (count === 0) return { reconstruction: NaN, reconstructionImages: 0 };
  const { batch, labels } = imageBatch(
    train,
    epochOrder(train.count, config.eval.seed, 0).subarray(0, count),
  );
  const images = tensor(batch.images, [count, ...model.decoder.imageShape]);
  const lab = config.model.classes > 0 ? labels : undefined;
  let sum = 0, nfe = 0;
  try {
    const anchors = model.space ? noGrad(() => model.image!.forward(images)) : undefined;
    for (let rep = 0; rep < r.repeats; rep++) {
      // Repetition r has its own latent noise n^(r) at τ = 1; the image set is one anchor set (spec §5.7).
      const z = model.space && anchors
        ? noGrad(() =>
          model.space!.latentsOf("image", anchors, { tau: 1, seed: hashSeed(config.eval.seed, 3, rep) })
        )
        : undefined;
      const out = await model.decoder.reconstructionError(images, { latents: z, labels: lab }, r.sampler);
      z?.dispose();
      sum += out.error;
      nfe = out.nfe;
    }
    anchors?.dispose();
  } finally {
    images.dispose();
  }
  return {
    reconstruction: sum / r.repeats,
    reconstructionImages: count,
    reconstructionRepeats: r.repeats,
    reconstructionSampler: r.sampler,
    reconstructionNfe: nfe,
  };
}

async function generationSweep(
  model: GenerationModel,
  config: GenerationConfig,
  ctx: EvalContext,
  reference: LoadedReference,
): Promise<Metrics> {
  const g = config.eval.generation, classes = config.model.classes, train = ctx.data.train;
  const real: FeatureStats = await realStatistics(reference, { pixels: train.images, count: train.count });
  const intended = classes > 0 ? Int32Array.from({ length: g.images }, (_, i) => i % classes) : undefined;
  const sweep: Record<string, unknown>[] = [];
  for (const [ti, tau] of g.taus.entries()) {
    const opts = {
      tau,
      seed: hashSeed(config.eval.seed, 4, ti),
      sampler: g.sampler,
      batchSize: config.eval.batchSize,
    };
    const out = await generateImages(model, intended ? { intended } : { count: g.images }, opts);
    const m = await generationMetrics(
      reference,
      { pixels: toPixels(out.images), count: out.count },
      real,
      intended,
    );
    const row: Record<string, unknown> = { tau, fid: m.fid };
    if (m.accuracy) {
      row.generationAccuracy = m.accuracy.overall.accuracy;
      row.confusion = m.accuracy.confusion;
    }
    ctx.log(
      `eval: generation at tau ${tau}: FID ${m.fid.toFixed(3)}` +
        (m.accuracy ? `, generation accuracy ${m.accuracy.overall.accuracy.toFixed(4)}` : "") +
        ` (${out.count} images)`,
    );
    sweep.push(row);
  }
  const head = sweep[0];
  const metrics: Metrics = {
    fid: head.fid,
    generationTau: head.tau,
    fidImages: g.images,
    fidReal: real.count,
    fidFeatures:
      `reference network ${reference.sha256.slice(0, 16)} (${reference.info.dataset}, test accuracy ` +
      `${reference.info.testAccuracy.toFixed(4)}), 8-bit images vs ${real.count} training images`,
    generationSampler: g.sampler,
    generationSweep: sweep,
  };
  if (head.generationAccuracy !== undefined) {
    metrics.generationAccuracy = head.generationAccuracy;
    metrics.generationConfusion = head.confusion;
  }
  if (model.label) {
    // The paper's unconditional sampling of the joint model: z ~ N(0, I), the class from the label decoder.
    const opts = {
      tau: g.taus[0],
      seed: hashSeed(config.eval.seed, 5),
      sampler: g.sampler,
      batchSize: config.eval.batchSize,
    };
    const out = await generateImages(model, { count: g.images }, opts);
    const m = await generationMetrics(reference, { pixels: toPixels(out.images), count: out.count }, real);
    metrics.priorFid = m.fid;
    metrics.priorClassShare = Array.from(
      { length: classes },
      (_, c) => out.labels!.filter((l) => l === c).length / out.count,
    );
    ctx.log(`eval: unconditional (prior) generation: FID ${m.fid.toFixed(3)}`);
  }
  return metrics;
}

/** The run's sample grid as PNG bytes: one row per class (or a square of unconditional samples). */
async function gridPng(model: GenerationModel, config: GenerationConfig): Promise<Uint8Array> {
  const g = config.eval.generation, classes = config.model.classes;
  const [, rows, cols] = model.decoder.imageShape;
  const opts = {
    tau: g.taus[0],
    seed: hashSeed(config.eval.seed, 6),
    sampler: g.sampler,
    batchSize: config.eval.batchSize,
  };
  const n = classes > 0 ? classes * g.grid : g.grid * g.grid;
  const intended = classes > 0 ? Int32Array.from({ length: n }, (_, i) => Math.floor(i / g.grid)) : undefined;
  const out = await generateImages(model, intended ? { intended } : { count: n }, opts);
  return await encodePng(imageGrid(out.images, n, rows, cols, { columns: g.grid }));
}
