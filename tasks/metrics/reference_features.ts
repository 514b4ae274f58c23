/**
 * Running the reference classifier over a whole image set in fixed-size chunks: the penultimate features
 * (for FID) and the predicted classes (for accuracies) come out of one forward pass per chunk.
 *
 * @module
 */
import { noGrad, readTensors, scope, slice, Tensor, tensor } from "@lzn/tensor";
import type { Split } from "@lzn/data";
import type { ImageBatch } from "@lzn/encoders";
import { gatherBatch } from "../data.ts";
import type { ReferenceClassifier } from "./reference_classifier.ts";

/**
 * Images in the data's value range [-1, 1]: a GPU tensor `[n, C, H, W]` (e.g. a generator's output), a host
 * `ImageBatch` (`count * C*H*W` floats), or a dataset `Split` (uint8, converted to [-1, 1] as training does).
 *
 * @example
 * ```ts
 * import type { ImageSource } from "@lzn/tasks";
 * const blank: ImageSource = { images: new Float32Array(784).fill(-1), count: 1 };
 * ```
 */
export type ImageSource = Tensor | ImageBatch | Split;

/**
 * Features and predictions of an image set.
 *
 * @example
 * ```ts
 * import type { ReferenceOutputs } from "@lzn/tasks";
 * const empty: ReferenceOutputs = { count: 0, dim: 128, features: new Float32Array(0), predictions: new Int32Array(0) };
 * ```
 */
export interface ReferenceOutputs {
  /** Number of images. */
  count: number;
  /** Feature dimension (the classifier's `featureDim`). */
  dim: number;
  /** Row-major `[count, dim]` penultimate features. */
  features: Float32Array;
  /** Predicted class of each image. */
  predictions: Int32Array;
}

/**
 * Number of images in a source.
 *
 * @example
 * ```ts
 * import { imageCount } from "@lzn/tasks";
 * console.log(imageCount({ images: new Float32Array(2 * 784), count: 2 })); // 2
 * ```
 */
export function imageCount(source: ImageSource): number {
  return source instanceof Tensor ? source.shape[0] : source.count;
}

/**
 * Features and predicted classes of every image of `source`, `batchSize` images per forward pass (default
 * 1000), with one readback per chunk. Tensor sources stay on the GPU (chunks are sliced there).
 *
 * @example
 * ```ts
 * import { parseReferenceConfig, ReferenceClassifier, referenceOutputs } from "@lzn/tasks";
 * const model = new ReferenceClassifier(parseReferenceConfig({ data: { dataset: "mnist" } }).model);
 * const out = await referenceOutputs(model, { images: new Float32Array(3 * 784).fill(-1), count: 3 });
 * console.log(out.features.length, out.predictions.length); // 384 3
 * model.dispose();
 * ```
 */
export async function referenceOutputs(
  model: ReferenceClassifier,
  source: ImageSource,
  opts: { batchSize?: number } = {},
): Promise<ReferenceOutputs> {
  const { inChannels: c, imageSize: s, featureDim: dim } = model.arch;
  const pixels = c * s * s, count = imageCount(source), batchSize = opts.batchSize ?? 1000;
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new RangeError(`referenceOutputs: batchSize must be a positive integer, got ${batchSize}`);
  }
  checkSource(source, c, s);
  const features = new Float32Array(count * dim), predictions = new Int32Array(count);
  for (let start = 0; start < count; start += batchSize) {
    const end = Math.min(count, start + batchSize);
    const out = noGrad(() =>
      scope(() => {
        const x = chunk(source, start, end, pixels, [end - start, c, s, s]);
        const f = model.features(x);
        const label = model.head.forward(f).argmax(1);
        return { f, label };
      })
    );
    try {
      const host = await readTensors(out);
      features.set(host.f.data as Float32Array, start * dim);
      predictions.set(host.label.data as Int32Array, start);
    } finally {
      out.f.dispose();
      out.label.dispose();
    }
  }
  return { count, dim, features, predictions };
}

function checkSource(source: ImageSource, c: number, s: number): void {
  if (source instanceof Tensor) {
    const ok = source.ndim === 4 && source.shape[1] === c && source.shape[2] === s && source.shape[3] === s;
    if (!ok) throw new RangeError(`expected images [n, ${c}, ${s}, ${s}], got [${source.shape.join(", ")}]`);
    return;
  }
  if ("labels" in source) {
    if (source.rows !== s || source.cols !== s || c !== 1) {
      throw new RangeError(
        `expected ${c}-channel ${s}x${s} images, got a split of ${source.rows}x${source.cols}`,
      );
    }
    return;
  }
  if (source.images.length !== source.count * c * s * s) {
    throw new RangeError(
      `expected ${source.count} images of ${c}x${s}x${s} = ${
        source.count * c * s * s
      } values, got ${source.images.length}`,
    );
  }
}

/** Images `[start, end)` of a source as a tensor of `shape` (created in the caller's scope). */
function chunk(source: ImageSource, start: number, end: number, pixels: number, shape: number[]): Tensor {
  if (source instanceof Tensor) return slice(source, 0, start, end);
  if ("labels" in source) {
    const order = Int32Array.from({ length: end - start }, (_, k) => start + k);
    return tensor(gatherBatch(source, order).batch.images, shape);
  }
  return tensor(source.images.subarray(start * pixels, end * pixels), shape);
}
