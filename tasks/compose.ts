/**
 * The three tasks of a classifier's latent space as functions over whole inputs (split into eval batches,
 * each the anchor set of its own latents): `classify` = image encoder + label decoder, `embed` = image
 * encoder alone, `labelLatents` = label encoder + latent computation (samples of a class's zone).
 *
 * @module
 */
import type { ImageBatch, Labels } from "@lzn/encoders";
import type { LznClassifier } from "./classifier.ts";
import type { Embedding, EmbeddingKind } from "./space.ts";

/**
 * Options of {@link classify} and {@link embed}.
 *
 * @example
 * ```ts
 * import { type BatchedTaskOptions, classify, embed, LznClassifier, ModelConfig } from "@lzn/tasks";
 * const model = new LznClassifier(ModelConfig.parse({}));
 * const images = { images: new Float32Array(1500 * 784).fill(-1), count: 1500 };
 * const opts: BatchedTaskOptions = { batchSize: 500, tau: 0, seed: 0 }; // three anchor sets of 500
 * const labels = await classify(model, images, opts);
 * const latents = await embed(model, images, { ...opts, kind: "latents" });
 * ```
 */
export interface BatchedTaskOptions {
  /** Images per eval batch (each batch is one anchor set); default: all at once. */
  batchSize?: number;
  /** Prior-noise scale (default 0: the zone centre). */
  tau?: number;
  /** Noise seed (default 0). */
  seed?: number;
}

function* chunks(batch: ImageBatch, size: number): Generator<ImageBatch> {
  const per = batch.images.length / Math.max(1, batch.count);
  for (let start = 0; start < batch.count; start += size) {
    const count = Math.min(size, batch.count - start);
    yield { images: batch.images.subarray(start * per, (start + count) * per), count };
  }
}

/**
 * Predicted class of every image.
 *
 * @example
 * ```ts
 * import { classify, LznClassifier, ModelConfig } from "@lzn/tasks";
 * const model = new LznClassifier(ModelConfig.parse({}));
 * const labels = await classify(model, { images: new Float32Array(3 * 784), count: 3 }, { tau: 0 });
 * ```
 */
export async function classify(
  model: LznClassifier,
  images: ImageBatch,
  opts: BatchedTaskOptions = {},
): Promise<Labels> {
  const task = model.space.task({ from: "image", to: "label" });
  const out = new Int32Array(images.count);
  let k = 0, at = 0;
  for (const part of chunks(images, opts.batchSize ?? images.count)) {
    out.set(await task.run(part, { tau: opts.tau ?? 0, seed: (opts.seed ?? 0) + k++ }), at);
    at += part.count;
  }
  return out;
}

/**
 * Anchors or latents of every image, `[n, q]`.
 *
 * @example
 * ```ts
 * import { embed, LznClassifier, ModelConfig } from "@lzn/tasks";
 * const model = new LznClassifier(ModelConfig.parse({}));
 * const e = await embed(model, { images: new Float32Array(2 * 784), count: 2 }, { kind: "anchors" });
 * console.log(e.dim); // 32
 * ```
 */
export async function embed(
  model: LznClassifier,
  images: ImageBatch,
  opts: BatchedTaskOptions & { kind?: EmbeddingKind } = {},
): Promise<Embedding> {
  const task = model.space.task({ from: "image", output: opts.kind ?? "latents" });
  const dim = model.config.latentDim;
  const data = new Float32Array(images.count * dim);
  let k = 0, at = 0;
  for (const part of chunks(images, opts.batchSize ?? images.count)) {
    data.set((await task.run(part, { tau: opts.tau ?? 0, seed: (opts.seed ?? 0) + k++ })).data, at * dim);
    at += part.count;
  }
  return { data, count: images.count, dim };
}

/**
 * Latents of labels: one sample of each label's zone (forward Euler, K = 100, eps 1e-4, over all C label
 * anchors; τ = 1 by default, as conditional generation uses them).
 *
 * @example
 * ```ts
 * import { LznClassifier, labelLatents, ModelConfig } from "@lzn/tasks";
 * const model = new LznClassifier(ModelConfig.parse({}));
 * const z = await labelLatents(model, Int32Array.from([0, 0, 7]), { seed: 3 }); // 3 x 32
 * ```
 */
export function labelLatents(
  model: LznClassifier,
  labels: Labels,
  opts: { tau?: number; seed?: number } = {},
): Promise<Embedding> {
  return model.space.task({ from: "label", output: "latents" }).run(labels, {
    tau: opts.tau ?? 1,
    seed: opts.seed,
  });
}
