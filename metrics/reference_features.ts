/**
 * Running the reference network over a whole image set in fixed-size chunks: the penultimate features (for
 * FID) and the predicted classes (for generation accuracy) come out of one forward pass per chunk. Every
 * image set — real or generated — enters as 8-bit pixels, as the release's metrics do
 * (`round(clip((x + 1) / 2 * 255))`, spec §5.6), so generated floats are judged on what an image file holds.
 *
 * @module
 */
import { noGrad, readTensors, scope, tensor } from "@lzn/tensor";
import type { ReferenceClassifier } from "./reference_network.ts";

/**
 * Images as 8-bit pixels: `count` images of `C*H*W` bytes each, image after image.
 *
 * @example
 * ```ts
 * import type { PixelImages } from "@lzn/metrics";
 * const blank: PixelImages = { pixels: new Uint8Array(2 * 784), count: 2 };
 * ```
 */
export interface PixelImages {
  /** `count * C*H*W` values 0..255. */
  pixels: Uint8Array;
  /** Number of images. */
  count: number;
}

/**
 * Features and predictions of an image set.
 *
 * @example
 * ```ts
 * import type { ReferenceOutputs } from "@lzn/metrics";
 * const empty: ReferenceOutputs = { count: 0, dim: 128, features: new Float32Array(0), predictions: new Int32Array(0) };
 * ```
 */
export interface ReferenceOutputs {
  /** Number of images. */
  count: number;
  /** Feature dimension (the network's `featureDim`). */
  dim: number;
  /** Row-major `[count, dim]` penultimate features. */
  features: Float32Array;
  /** Predicted class of each image. */
  predictions: Int32Array;
}

/**
 * Float images in [-1, 1] (a generator's output) as 8-bit pixels: `round(clip((x + 1) / 2 * 255, 0, 255))`.
 * A non-finite value is an error (it has no pixel value).
 *
 * @example
 * ```ts
 * import { toPixels } from "@lzn/metrics";
 * console.log(toPixels(new Float32Array([-1, 0, 1, 1.5]))); // Uint8Array [0, 128, 255, 255]
 * ```
 */
export function toPixels(images: Float32Array): Uint8Array {
  const out = new Uint8Array(images.length);
  for (let i = 0; i < images.length; i++) {
    const v = images[i];
    if (!Number.isFinite(v)) throw new RangeError(`toPixels: value ${v} at index ${i} is not finite`);
    out[i] = Math.round(Math.min(255, Math.max(0, (v + 1) / 2 * 255)));
  }
  return out;
}

/**
 * Features and predictions of every image, computed `batchSize` images at a time (default 1000) with one
 * readback per chunk. Pixels enter the network as `v / 255 * 2 - 1`, the data's training range.
 *
 * @example
 * ```ts
 * import { ReferenceClassifier, referenceOutputs } from "@lzn/metrics";
 * const net = new ReferenceClassifier({});
 * const out = await referenceOutputs(net, { pixels: new Uint8Array(3 * 784), count: 3 });
 * console.log(out.features.length, out.predictions.length); // 384 3
 * net.dispose();
 * ```
 */
export async function referenceOutputs(
  net: ReferenceClassifier,
  images: PixelImages,
  opts: { batchSize?: number } = {},
): Promise<ReferenceOutputs> {
  const { inChannels: c, imageSize: s, featureDim: dim } = net.arch;
  const per = c * s * s, count = images.count, batchSize = opts.batchSize ?? 1000;
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new RangeError(`referenceOutputs: batchSize must be a positive integer, got ${batchSize}`);
  }
  if (images.pixels.length !== count * per) {
    throw new RangeError(
      `referenceOutputs: ${count} images of ${c}x${s}x${s} need ${
        count * per
      } pixels, got ${images.pixels.length}`,
    );
  }
  const features = new Float32Array(count * dim), predictions = new Int32Array(count);
  for (let start = 0; start < count; start += batchSize) {
    const end = Math.min(count, start + batchSize);
    const host = new Float32Array((end - start) * per);
    const src = images.pixels.subarray(start * per, end * per);
    for (let i = 0; i < host.length; i++) host[i] = src[i] * (2 / 255) - 1;
    const out = noGrad(() =>
      scope(() => {
        const f = net.features(tensor(host, [end - start, c, s, s]));
        return { f, label: net.head.forward(f).argmax(1) };
      })
    );
    try {
      const read = await readTensors(out);
      features.set(read.f.data as Float32Array, start * dim);
      predictions.set(read.label.data as Int32Array, start);
    } finally {
      out.f.dispose();
      out.label.dispose();
    }
  }
  return { count, dim, features, predictions };
}
