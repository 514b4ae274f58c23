/**
 * Evaluation of a representation run (spec §6.4): features of the EMA encoder for every training and test
 * image — the pooled representation (the headline), the anchor, and the latent at τ = 0 over each eval batch
 * — each given to a fresh linear classifier trained with AdamW on the training split, top-1 accuracy on the
 * test split; the same probe on a randomly initialised encoder as the floor; and a 2-D PCA picture of the
 * held-out representations coloured by class.
 *
 * @module
 */
import { writeRunImage } from "../run_dir.ts";
import { noGrad, scope, type Tensor, tensor } from "@lzn/tensor";
import { encodePng, hashSeed, type Split } from "@lzn/data";
import { featureStats, linearProbe, type ProbeSet, symmetricEigen } from "@lzn/metrics";
import type { RepresentationConfig } from "../config_types.ts";
import type { EvalContext, Metrics } from "../recipe.ts";
import { RepresentationModel } from "../recipes/representation.ts";
import { imageBatch } from "../run_data.ts";

/** What can be probed. */
type FeatureKind = RepresentationConfig["eval"]["features"][number];

/**
 * Features of every image of a split, `[count, dim]` on the host, with the labels.
 *
 * @example
 * ```ts ignore
 * import { featuresOf, loadRun, loadRunData, representation } from "@lzn/tasks";
 * const run = await loadRun("runs/rep", { recipe: representation });
 * const { test } = await loadRunData(run.config.data, 10);
 * const set = await featuresOf(run.model, test, "representation", { batchSize: 1000, seed: 0 });
 * ```
 */
export async function featuresOf(
  model: RepresentationModel,
  split: Split,
  kind: FeatureKind,
  opts: { batchSize: number; seed: number },
): Promise<ProbeSet> {
  const parts: Float32Array[] = [];
  let dim = 0;
  for (let start = 0, k = 0; start < split.count; start += opts.batchSize, k++) {
    const idx = Int32Array.from(
      { length: Math.min(opts.batchSize, split.count - start) },
      (_, i) => start + i,
    );
    const { batch } = imageBatch(split, idx);
    const rows: Tensor = scope(() =>
      noGrad(() => {
        const x = tensor(batch.images, [batch.count, 1, split.rows, split.cols]);
        if (kind === "representation") return model.encoder.representation(x);
        const anchors = model.encoder.forward(x);
        if (kind === "anchor") return anchors;
        // The latent mode of the release: latents against the eval batch's anchors, at the zone centre.
        return model.space.latentsOf("image", anchors, { tau: 0, seed: hashSeed(opts.seed, k) });
      })
    );
    dim = rows.shape[1];
    parts.push(await rows.toArray());
    rows.dispose();
  }
  const features = new Float32Array(split.count * dim);
  parts.reduce((at, p) => (features.set(p, at), at + p.length), 0);
  return { features, labels: Int32Array.from(split.labels), count: split.count, dim };
}

/**
 * Probes the model (EMA weights swapped in by the caller) and the random floor; writes the PCA picture.
 *
 * @example
 * ```ts ignore
 * import { evaluateRepresentation, loadRun, loadRunData, representation } from "@lzn/tasks";
 * const run = await loadRun("runs/rep", { recipe: representation });
 * const data = await loadRunData(run.config.data, 10);
 * const metrics = await evaluateRepresentation(run.model, run.config, { data, log: console.error });
 * ```
 */
export async function evaluateRepresentation(
  model: RepresentationModel,
  config: RepresentationConfig,
  ctx: EvalContext,
): Promise<Metrics> {
  const e = config.eval, { train, test } = ctx.data;
  const classes = Math.max(...train.labels) + 1;
  const probe = async (m: RepresentationModel, kind: FeatureKind) => {
    const opts = { batchSize: e.batchSize, seed: e.seed };
    const result = await linearProbe(
      await featuresOf(m, train, kind, opts),
      await featuresOf(m, test, kind, opts),
      {
        classes,
        ...e.probe,
        seed: e.seed,
      },
    );
    ctx.log(
      `eval: linear probe on the ${kind} (${m === model ? "trained" : "random"} encoder): top-1 ${
        result.top1.toFixed(4)
      }`,
    );
    return result.top1;
  };
  const metrics: Metrics = { probeTrain: train.count, probeTest: test.count, probeEpochs: e.probe.epochs };
  const names: Record<FeatureKind, string> = {
    representation: "linearProbe",
    anchor: "linearProbeAnchor",
    latent: "linearProbeLatent",
  };
  for (const kind of e.features) metrics[names[kind]] = await probe(model, kind);
  if (e.features[0] !== "representation") metrics.linearProbe = metrics[names[e.features[0]]];
  if (e.random) {
    const fresh = new RepresentationModel(config);
    try {
      metrics.randomProbe = await probe(fresh, e.features[0]);
    } finally {
      fresh.dispose();
    }
  }
  if (ctx.run) {
    const set = await featuresOf(model, test, "representation", { batchSize: e.batchSize, seed: e.seed });
    const path = await writeRunImage(ctx.run.dir, "representations.png", await pcaPicture(set));
    ctx.log(`wrote ${path} (held-out representations, first two principal components, coloured by class)`);
  }
  return metrics;
}

const PALETTE = [
  [31, 119, 180],
  [255, 127, 14],
  [44, 160, 44],
  [214, 39, 40],
  [148, 103, 189],
  [140, 86, 75],
  [227, 119, 194],
  [127, 127, 127],
  [188, 189, 34],
  [23, 190, 207],
];

/**
 * A PNG scatter plot of the features' first two principal components, one colour per class.
 *
 * @example
 * ```ts
 * import { pcaPicture } from "@lzn/tasks";
 * const set = { features: Float32Array.from({ length: 40 }, (_, i) => Math.sin(i)), labels: Int32Array.from({ length: 20 }, (_, i) => i % 2), count: 20, dim: 2 };
 * const png = await pcaPicture(set);
 * ```
 */
export function pcaPicture(set: ProbeSet, size = 320): Promise<Uint8Array> {
  const { mean, cov, dim } = featureStats(set.features, set.count, set.dim);
  const { vectors } = symmetricEigen(cov, dim);
  const axes = [dim - 1, dim - 2].map((r) => vectors.subarray(r * dim, (r + 1) * dim)); // the largest two
  const xy = new Float64Array(set.count * 2);
  for (let i = 0; i < set.count; i++) {
    for (let a = 0; a < 2; a++) {
      let s = 0;
      for (let j = 0; j < dim; j++) s += (set.features[i * dim + j] - mean[j]) * axes[a][j];
      xy[2 * i + a] = s;
    }
  }
  const lo = [Infinity, Infinity], hi = [-Infinity, -Infinity];
  for (let i = 0; i < set.count; i++) {
    for (let a = 0; a < 2; a++) {
      lo[a] = Math.min(lo[a], xy[2 * i + a]);
      hi[a] = Math.max(hi[a], xy[2 * i + a]);
    }
  }
  const pixels = new Uint8Array(size * size * 3).fill(255);
  const margin = 8, span = size - 2 * margin - 2;
  for (let i = 0; i < set.count; i++) {
    const px = margin + Math.round((xy[2 * i] - lo[0]) / ((hi[0] - lo[0]) || 1) * span);
    const py = margin + Math.round((1 - (xy[2 * i + 1] - lo[1]) / ((hi[1] - lo[1]) || 1)) * span);
    const color = PALETTE[set.labels[i] % PALETTE.length];
    for (let dy = 0; dy < 2; dy++) {
      for (let dx = 0; dx < 2; dx++) pixels.set(color, ((py + dy) * size + px + dx) * 3);
    }
  }
  return encodePng({ pixels, width: size, height: size, channels: 3 });
}
