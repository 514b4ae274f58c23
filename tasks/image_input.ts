/**
 * Image input of the `classify` and `embed` commands: one `.npy` array of digits (uint8, int32 or int64 0..255
 * `[n, 28, 28]` or `[n, 784]`, or float16/float32/float64 in [0, 1] of the same shapes) or any number of 28x28
 * PNG files of any colour type, bit depth or interlacing (decoded to grey by `@lzn/data`'s `decodePng`; white
 * ink on black, as MNIST). The result is an `ImageBatch` in [-1, 1].
 *
 * @module
 */
import type { ImageBatch } from "@lzn/encoders";
import { InputError } from "./errors.ts";
import { readNpy } from "./npy.ts";
import { decodePng, PngDecodeError } from "@lzn/data";

/**
 * Images read from files, with a name per image for the output.
 *
 * @example
 * ```ts ignore
 * import { type ImageInput, readImages } from "@lzn/tasks";
 * const { batch, names }: ImageInput = await readImages(["digits.npy"]);
 * console.log(batch.count, names[0]); // 200 digits.npy[0]
 * ```
 */
export interface ImageInput {
  /** The images, in [-1, 1]. */
  batch: ImageBatch;
  /** One name per image: `file.npy[3]` or the PNG path. */
  names: string[];
}

/**
 * Reads images of `size x size` pixels from one `.npy` file or from PNG files. Every problem is an
 * `InputError` naming the file (and the image and pixel for a non-finite value): no input, a missing file,
 * a wrong shape or dtype, an empty array, values out of range.
 *
 * @example
 * ```ts ignore
 * import { readImages } from "@lzn/tasks";
 * const { batch, names } = await readImages(["digits.npy"]);
 * const pngs = await readImages(["a.png", "b.png"]);
 * ```
 */
export async function readImages(paths: string[], size = 28): Promise<ImageInput> {
  if (!paths.length) throw new InputError("no input images given (a .npy file or PNG files)");
  const px = size * size;
  const npys = paths.filter((p) => p.toLowerCase().endsWith(".npy"));
  if (npys.length) {
    if (paths.length !== 1) {
      throw new InputError("give either one .npy file or PNG files, not both or several .npy files");
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
      throw new InputError(
        `${path}: expected shape [n, ${size}, ${size}] or [n, ${px}], got [${shape.join(", ")}]`,
      );
    }
    if (n === 0) throw new InputError(`${path} holds no images (shape [${shape.join(", ")}])`);
    let scale: number;
    if (dtype === "uint8") scale = 2 / 255;
    else if (dtype === "int32" || dtype === "int64") {
      // Integer arrays (np.int64 is NumPy's default, np.int32): 0..255 as uint8 would hold them.
      const ints = data as Int32Array | BigInt64Array;
      const bad = ints.findIndex((v: number | bigint) => !(v >= 0 && v <= 255));
      if (bad >= 0) {
        throw new InputError(
          `${path}: image ${Math.floor(bad / px)}, pixel ${bad % px} is ${
            data[bad]
          }; integer images must be 0..255`,
        );
      }
      scale = 2 / 255;
    } else if (dtype === "float32" || dtype === "float64") {
      for (let i = 0; i < data.length; i++) {
        const v = data[i];
        // NaN fails both comparisons' negation: checked explicitly so it is never mistaken for a pixel.
        if (!(v >= 0 && v <= 1.0001)) {
          throw new InputError(
            `${path}: image ${Math.floor(i / px)}, pixel ${
              i % px
            } is ${v}; float images must be finite and in [0, 1] ` +
              `(save uint8 for 0..255)`,
          );
        }
      }
      scale = 2;
    } else throw new InputError(`${path}: expected uint8, int32, int64 or float images, got ${dtype}`);
    const images = new Float32Array(n * px);
    // int64 pixels, checked to be 0..255 above, as numbers.
    const values = data instanceof BigInt64Array ? Int32Array.from(data, Number) : data;
    for (let i = 0; i < images.length; i++) images[i] = values[i] * scale - 1;
    return { batch: { images, count: n }, names: Array.from({ length: n }, (_, i) => `${path}[${i}]`) };
  }
  const images = new Float32Array(paths.length * px);
  for (const [k, path] of paths.entries()) {
    if (!path.toLowerCase().endsWith(".png")) throw new InputError(`${path}: expected a .npy or .png file`);
    const img = await decodePng(await readInput(path), { source: path }).catch((e) => {
      throw e instanceof PngDecodeError ? new InputError(e.message) : e;
    });
    if (img.width !== size || img.height !== size) {
      throw new InputError(`${path}: expected a ${size}x${size} image, got ${img.width}x${img.height}`);
    }
    for (let i = 0; i < px; i++) images[k * px + i] = img.data[i] * (2 / 255) - 1;
  }
  return { batch: { images, count: paths.length }, names: [...paths] };
}

async function readInput(path: string): Promise<Uint8Array> {
  try {
    return await Deno.readFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw new InputError(`input file not found: ${path}`);
    if (e instanceof Deno.errors.IsADirectory) {
      throw new InputError(`${path} is a directory, not an image file`);
    }
    throw e;
  }
}
