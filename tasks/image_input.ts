/**
 * Image input of the `classify` and `embed` commands: one `.npy` array of digits (uint8 0..255 `[n, 28, 28]`
 * or `[n, 784]`, or float32 in [0, 1] of the same shapes) or any number of 28x28 PNG files (white ink on
 * black, as MNIST). The result is an `ImageBatch` in [-1, 1].
 *
 * @module
 */
import type { ImageBatch } from "@lzn/encoders";
import { readNpy } from "./npy.ts";
import { decodePngGray } from "./png_read.ts";

/**
 * Images read from files, with a name per image for the output.
 *
 * @example
 * ```ts
 * import { classify, type ImageInput, loadClassifier, readImages } from "@lzn/tasks";
 * const { model } = await loadClassifier("runs/demo");
 * const { batch, names }: ImageInput = await readImages(["digits.npy"]);
 * const labels = await classify(model, batch);
 * names.forEach((name, i) => console.log(name, labels[i]));
 * ```
 */
export interface ImageInput {
  /** The images, in [-1, 1]. */
  batch: ImageBatch;
  /** One name per image: `file.npy[3]` or the PNG path. */
  names: string[];
}

/**
 * Reads images of `size x size` pixels from one `.npy` file or from PNG files.
 *
 * @example
 * ```ts
 * import { readImages } from "@lzn/tasks";
 * // const { batch, names } = await readImages(["digits.npy"]);
 * // const { batch } = await readImages(["a.png", "b.png"]);
 * ```
 */
export async function readImages(paths: string[], size = 28): Promise<ImageInput> {
  if (!paths.length) throw new Error("no input images given (a .npy file or PNG files)");
  const px = size * size;
  const npys = paths.filter((p) => p.toLowerCase().endsWith(".npy"));
  if (npys.length) {
    if (paths.length !== 1) {
      throw new Error("give either one .npy file or PNG files, not both or several .npy files");
    }
    const path = paths[0];
    const { dtype, shape, data } = await readNpy(path);
    const n = shape.length === 2 && shape[1] === px
      ? shape[0]
      : shape.length === 3 && shape[1] === size && shape[2] === size
      ? shape[0]
      : shape.length === 2 && shape[0] === size && shape[1] === size
      ? 1
      : -1;
    if (n < 0) {
      throw new Error(
        `${path}: expected shape [n, ${size}, ${size}] or [n, ${px}], got [${shape.join(", ")}]`,
      );
    }
    let scale: number;
    if (dtype === "uint8") scale = 2 / 255;
    else if (dtype === "float32" || dtype === "float64") {
      let max = 0;
      for (let i = 0; i < data.length; i++) max = Math.max(max, data[i]);
      if (max > 1.0001) {
        throw new Error(`${path}: float images must be in [0, 1] (max is ${max}); save uint8 for 0..255`);
      }
      scale = 2;
    } else throw new Error(`${path}: expected uint8 or float images, got ${dtype}`);
    const images = new Float32Array(n * px);
    for (let i = 0; i < images.length; i++) images[i] = data[i] * scale - 1;
    return { batch: { images, count: n }, names: Array.from({ length: n }, (_, i) => `${path}[${i}]`) };
  }
  const images = new Float32Array(paths.length * px);
  for (const [k, path] of paths.entries()) {
    if (!path.toLowerCase().endsWith(".png")) throw new Error(`${path}: expected a .npy or .png file`);
    const img = await decodePngGray(await Deno.readFile(path), path);
    if (img.width !== size || img.height !== size) {
      throw new Error(`${path}: expected a ${size}x${size} image, got ${img.width}x${img.height}`);
    }
    for (let i = 0; i < px; i++) images[k * px + i] = img.pixels[i] * (2 / 255) - 1;
  }
  return { batch: { images, count: paths.length }, names: [...paths] };
}
