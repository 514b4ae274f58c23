/**
 * Host image batches on their way into an encoder: the checked upload, and inference in chunks for encoders
 * whose layers work image by image: a batch whose largest activation would
 * not fit in one storage binding of the adapter (`maxStorageBufferBindingSize`, 128 MiB on lavapipe) is
 * encoded a chunk at a time into one output, so evaluation at any batch size runs where training did.
 *
 * @module
 */
import { copyBuffer, gpu, isGradEnabled, Tensor, tensor } from "@lzn/tensor";
import type { ImageBatch } from "./types.ts";

/**
 * Uploads a host batch as `[N, C, H, W]` after checking its count and size; `who` names the encoder in the
 * error.
 *
 * @example
 * ```ts
 * import { imageBatchTensor } from "./chunked.ts";
 * const x = imageBatchTensor({ images: new Float32Array(2 * 16), count: 2 }, 1, 4, "image encoder");
 * console.log(x.shape); // [2, 1, 4, 4]
 * x.dispose();
 * ```
 */
export function imageBatchTensor(batch: ImageBatch, c: number, s: number, who: string): Tensor {
  if (!(Number.isInteger(batch.count) && batch.count >= 1)) {
    throw new Error(`${who}: a batch needs a count of at least 1 image, got ${batch.count}`);
  }
  const want = batch.count * c * s * s;
  if (batch.images.length !== want) {
    throw new Error(
      `${who}: a batch of ${batch.count} images of ${c}x${s}x${s} needs ${want} values, got ${batch.images.length}`,
    );
  }
  return tensor(batch.images, [batch.count, c, s, s]);
}

/**
 * Images per forward pass whose largest activation (`floatsPerImage` floats of one image) fits in one storage
 * binding of the adapter; at least 1.
 *
 * @example
 * ```ts
 * import { imagesPerBinding } from "./chunked.ts";
 * console.log(imagesPerBinding(32 * 28 * 28) >= 1); // true (1,337 on lavapipe's 128 MiB)
 * ```
 */
export function imagesPerBinding(floatsPerImage: number): number {
  return Math.max(1, Math.floor(gpu().device.limits.maxStorageBufferBindingSize / (4 * floatsPerImage)));
}

/**
 * Rows `[n, width]` of `encode(batch)`, computed in chunks of `chunk` images when gradients are off and the
 * batch is larger; with gradients on (training) or a batch that fits, one `encode` call. `encode` must treat
 * images independently, so the chunks' rows equal the whole batch's up to float rounding.
 *
 * @example
 * ```ts
 * import { noGrad } from "@lzn/tensor";
 * import { ImageEncoder } from "@lzn/encoders";
 * import { encodeInChunks } from "./chunked.ts";
 * const enc = new ImageEncoder({ latentDim: 8 });
 * const batch = { images: new Float32Array(3 * 784), count: 3 };
 * const a = noGrad(() => encodeInChunks(batch, 2, 8, (b) => enc.forward(enc.toTensor(b)))); // [3, 8]
 * ```
 */
export function encodeInChunks(
  batch: ImageBatch,
  chunk: number,
  width: number,
  encode: (batch: ImageBatch) => Tensor,
): Tensor {
  // Not `count <= chunk`: a count that is not a number goes to `encode` too, whose input check names it.
  if (isGradEnabled() || !(batch.count > chunk)) return encode(batch);
  const pixels = batch.images.length / batch.count;
  const out = Tensor.empty([batch.count, width]);
  for (let i0 = 0; i0 < batch.count; i0 += chunk) {
    const n = Math.min(chunk, batch.count - i0);
    const part = encode({ images: batch.images.subarray(i0 * pixels, (i0 + n) * pixels), count: n });
    copyBuffer(part.buffer, 0, out.buffer, i0 * width * 4, n * width * 4);
    part.dispose();
  }
  return out;
}
