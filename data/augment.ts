/**
 * Seeded CPU augmentations for batches of grayscale float images (values in [-1, 1], background -1, as
 * produced by `batches`). Every function returns a new array and leaves its input untouched; image `i` of a
 * call draws from its own stream derived from (seed, i), so results do not depend on the batch size.
 *
 * @module
 */

import { createRng, hashSeed, type Rng } from "./random.ts";

/**
 * Image geometry and the value used outside the image.
 *
 * @example
 * ```ts
 * import { randomCrop } from "@lzn/data";
 * const out = randomCrop(new Float32Array(16 * 16), { seed: 0, rows: 16, cols: 16, fill: 0 });
 * console.log(out.length); // 256
 * ```
 */
export interface ImageGeometry {
  /** Image height (default 28). */
  rows?: number;
  /** Image width (default 28). */
  cols?: number;
  /** Value of pixels that come from outside the image (default -1, the background). */
  fill?: number;
}

/**
 * Options of {@linkcode randomCrop}.
 *
 * @example
 * ```ts
 * import { type CropOptions, randomCrop } from "@lzn/data";
 * const opts: CropOptions = { seed: 1, pad: 4 };
 * console.log(randomCrop(new Float32Array(784), opts).length); // 784
 * ```
 */
export interface CropOptions extends ImageGeometry {
  /** Seed of the crop offsets. */
  seed: number;
  /** Padding on each side before cropping back to rows x cols (default 2). */
  pad?: number;
}

/**
 * Options of {@linkcode affineJitter}.
 *
 * @example
 * ```ts
 * import { type AffineOptions, affineJitter } from "@lzn/data";
 * const opts: AffineOptions = { seed: 1, maxRotation: 15, scale: [0.8, 1.2], maxTranslation: 3 };
 * console.log(affineJitter(new Float32Array(784), opts).length); // 784
 * ```
 */
export interface AffineOptions extends ImageGeometry {
  /** Seed of the transforms. */
  seed: number;
  /** Largest rotation in degrees, drawn uniformly in [-max, max] (default 10). */
  maxRotation?: number;
  /** Range of the scale factor (default [0.9, 1.1]). */
  scale?: readonly [number, number];
  /** Largest shift in pixels along each axis (default 2). */
  maxTranslation?: number;
}

/**
 * Options of {@linkcode elasticJitter}.
 *
 * @example
 * ```ts
 * import { type ElasticOptions, elasticJitter } from "@lzn/data";
 * const opts: ElasticOptions = { seed: 1, alpha: 2, sigma: 4 };
 * console.log(elasticJitter(new Float32Array(784), opts).length); // 784
 * ```
 */
export interface ElasticOptions extends ImageGeometry {
  /** Seed of the displacement fields. */
  seed: number;
  /** RMS displacement in pixels (default 1). */
  alpha?: number;
  /** Smoothness: standard deviation in pixels of the Gaussian blur of the field (default 3). */
  sigma?: number;
}

/**
 * Options of {@linkcode gaussianNoise}.
 *
 * @example
 * ```ts
 * import { gaussianNoise, type NoiseOptions } from "@lzn/data";
 * const opts: NoiseOptions = { seed: 1, std: 0.1, clip: true };
 * console.log(gaussianNoise(new Float32Array(784), opts).length); // 784
 * ```
 */
export interface NoiseOptions extends Omit<ImageGeometry, "fill"> {
  /** Seed of the noise. */
  seed: number;
  /** Standard deviation of the noise (default 0.05). */
  std?: number;
  /** Clamp the result to [-1, 1] (default false). */
  clip?: boolean;
}

/**
 * Options of {@linkcode augment}: each stage runs when its options are given (or `true`).
 *
 * @example
 * ```ts
 * import { augment, type AugmentOptions } from "@lzn/data";
 * const opts: AugmentOptions = { seed: 3, crop: { pad: 2 }, affine: true, elastic: false, noise: { std: 0.02 } };
 * console.log(augment(new Float32Array(784), opts).length); // 784
 * ```
 */
export interface AugmentOptions extends ImageGeometry {
  /** Seed of the whole pipeline; each stage gets its own stream. */
  seed: number;
  /** Random crop with padding; `true` for the defaults. */
  crop?: boolean | Omit<CropOptions, "seed" | keyof ImageGeometry>;
  /** Affine jitter; `true` for the defaults. */
  affine?: boolean | Omit<AffineOptions, "seed" | keyof ImageGeometry>;
  /** Elastic jitter; `true` for the defaults. */
  elastic?: boolean | Omit<ElasticOptions, "seed" | keyof ImageGeometry>;
  /** Additive Gaussian noise; `true` for the defaults. */
  noise?: boolean | Omit<NoiseOptions, "seed" | keyof ImageGeometry>;
}

function geometry(
  images: Float32Array,
  g: ImageGeometry,
): { rows: number; cols: number; fill: number; n: number } {
  const rows = g.rows ?? 28, cols = g.cols ?? 28, fill = g.fill ?? -1;
  if (images.length % (rows * cols) !== 0) {
    throw new RangeError(`augment: ${images.length} values is not a whole number of ${rows}x${cols} images`);
  }
  return { rows, cols, fill, n: images.length / (rows * cols) };
}

/** Bilinear sample of one image at (y, x); neighbours outside the image count as `fill`. */
function sampleBilinear(
  src: Float32Array,
  base: number,
  rows: number,
  cols: number,
  y: number,
  x: number,
  fill: number,
): number {
  const y0 = Math.floor(y), x0 = Math.floor(x), fy = y - y0, fx = x - x0;
  const at = (r: number, c: number) =>
    r >= 0 && r < rows && c >= 0 && c < cols ? src[base + r * cols + c] : fill;
  const top = at(y0, x0) * (1 - fx) + at(y0, x0 + 1) * fx;
  const bottom = at(y0 + 1, x0) * (1 - fx) + at(y0 + 1, x0 + 1) * fx;
  return top * (1 - fy) + bottom * fy;
}

/** Applies `fn` to every image with its own stream derived from (seed, stage, image index). */
function perImage(
  n: number,
  seed: number,
  stage: number,
  fn: (rng: Rng, base: number) => void,
  size: number,
): void {
  for (let i = 0; i < n; i++) fn(createRng(hashSeed(seed, stage, i)), i * size);
}

/**
 * Random crop: pads each image by `pad` pixels of `fill` on every side and crops a rows x cols window at a
 * random integer offset, i.e. shifts the image by up to `pad` pixels.
 *
 * @example
 * ```ts
 * import { randomCrop } from "@lzn/data";
 * const out = randomCrop(new Float32Array(2 * 784).fill(1), { seed: 3 });
 * console.log(out.length); // 1568
 * ```
 */
export function randomCrop(images: Float32Array, options: CropOptions): Float32Array {
  const { rows, cols, fill, n } = geometry(images, options);
  const pad = options.pad ?? 2;
  const out = new Float32Array(images.length);
  perImage(n, options.seed, 1, (rng, base) => {
    const dy = rng.int(2 * pad + 1) - pad, dx = rng.int(2 * pad + 1) - pad;
    for (let y = 0; y < rows; y++) {
      for (let x = 0; x < cols; x++) {
        const sy = y + dy, sx = x + dx;
        const inside = sy >= 0 && sy < rows && sx >= 0 && sx < cols;
        out[base + y * cols + x] = inside ? images[base + sy * cols + sx] : fill;
      }
    }
  }, rows * cols);
  return out;
}

/**
 * Small random affine transform per image: rotation about the centre, isotropic scale and translation,
 * resampled bilinearly (outside pixels are `fill`).
 *
 * @example
 * ```ts
 * import { affineJitter } from "@lzn/data";
 * const out = affineJitter(new Float32Array(784).fill(-1), { seed: 1, maxRotation: 10, scale: [0.9, 1.1] });
 * console.log(out.every((v) => v === -1)); // true: a blank image stays blank
 * ```
 */
export function affineJitter(images: Float32Array, options: AffineOptions): Float32Array {
  const { rows, cols, fill, n } = geometry(images, options);
  const maxRotation = options.maxRotation ?? 10, [sLo, sHi] = options.scale ?? [0.9, 1.1];
  const maxShift = options.maxTranslation ?? 2;
  const cy = (rows - 1) / 2, cx = (cols - 1) / 2;
  const out = new Float32Array(images.length);
  perImage(n, options.seed, 2, (rng, base) => {
    const angle = rng.uniform(-maxRotation, maxRotation) * Math.PI / 180;
    const scale = rng.uniform(sLo, sHi);
    const ty = rng.uniform(-maxShift, maxShift), tx = rng.uniform(-maxShift, maxShift);
    // Inverse map: output pixel -> source position = R(-angle) (p - c - t) / scale + c.
    const cos = Math.cos(angle) / scale, sin = Math.sin(angle) / scale;
    for (let y = 0; y < rows; y++) {
      for (let x = 0; x < cols; x++) {
        const u = x - cx - tx, v = y - cy - ty;
        const sx = cos * u + sin * v + cx, sy = -sin * u + cos * v + cy;
        out[base + y * cols + x] = sampleBilinear(images, base, rows, cols, sy, sx, fill);
      }
    }
  }, rows * cols);
  return out;
}

/** In-place separable Gaussian blur of a rows x cols field (zero outside). */
function blur(field: Float32Array, rows: number, cols: number, sigma: number): void {
  const radius = Math.max(1, Math.ceil(3 * sigma));
  const kernel = Array.from(
    { length: 2 * radius + 1 },
    (_, k) => Math.exp(-((k - radius) ** 2) / (2 * sigma * sigma)),
  );
  const tmp = new Float32Array(field.length);
  for (let y = 0; y < rows; y++) {
    for (let x = 0; x < cols; x++) {
      let s = 0;
      for (let k = -radius; k <= radius; k++) {
        if (x + k >= 0 && x + k < cols) s += kernel[k + radius] * field[y * cols + x + k];
      }
      tmp[y * cols + x] = s;
    }
  }
  for (let y = 0; y < rows; y++) {
    for (let x = 0; x < cols; x++) {
      let s = 0;
      for (let k = -radius; k <= radius; k++) {
        if (y + k >= 0 && y + k < rows) s += kernel[k + radius] * tmp[(y + k) * cols + x];
      }
      field[y * cols + x] = s;
    }
  }
}

/** A smooth random field scaled to unit RMS. */
function smoothField(rng: Rng, rows: number, cols: number, sigma: number): Float32Array {
  const field = new Float32Array(rows * cols);
  for (let i = 0; i < field.length; i++) field[i] = rng.uniform(-1, 1);
  blur(field, rows, cols, sigma);
  let sq = 0;
  for (const v of field) sq += v * v;
  const rms = Math.sqrt(sq / field.length) || 1;
  for (let i = 0; i < field.length; i++) field[i] /= rms;
  return field;
}

/**
 * Elastic jitter (Simard et al. 2003): displaces every pixel by a smooth random field (uniform noise blurred
 * with a Gaussian of std `sigma`, scaled to RMS `alpha` pixels) and resamples bilinearly.
 *
 * @example
 * ```ts
 * import { elasticJitter } from "@lzn/data";
 * const out = elasticJitter(new Float32Array(784).fill(0.5), { seed: 9, alpha: 1, sigma: 3, fill: 0.5 });
 * console.log(Math.abs(out[400] - 0.5) < 1e-6); // true: a constant image stays constant
 * ```
 */
export function elasticJitter(images: Float32Array, options: ElasticOptions): Float32Array {
  const { rows, cols, fill, n } = geometry(images, options);
  const alpha = options.alpha ?? 1, sigma = options.sigma ?? 3;
  const out = new Float32Array(images.length);
  perImage(n, options.seed, 3, (rng, base) => {
    const dy = smoothField(rng, rows, cols, sigma), dx = smoothField(rng, rows, cols, sigma);
    for (let y = 0; y < rows; y++) {
      for (let x = 0; x < cols; x++) {
        const p = y * cols + x;
        out[base + p] = sampleBilinear(images, base, rows, cols, y + alpha * dy[p], x + alpha * dx[p], fill);
      }
    }
  }, rows * cols);
  return out;
}

/**
 * Adds Gaussian noise of standard deviation `std` to every value, optionally clamping to [-1, 1].
 *
 * @example
 * ```ts
 * import { gaussianNoise } from "@lzn/data";
 * const out = gaussianNoise(new Float32Array(784), { seed: 2, std: 0.1, clip: true });
 * console.log(out.some((v) => v !== 0)); // true
 * ```
 */
export function gaussianNoise(images: Float32Array, options: NoiseOptions): Float32Array {
  const { rows, cols, n } = geometry(images, options);
  const std = options.std ?? 0.05, size = rows * cols;
  const out = new Float32Array(images.length);
  perImage(n, options.seed, 4, (rng, base) => {
    for (let i = base; i < base + size; i++) {
      const v = images[i] + std * rng.normal();
      out[i] = options.clip ? Math.min(1, Math.max(-1, v)) : v;
    }
  }, size);
  return out;
}

/**
 * Runs the enabled stages in the order crop -> affine -> elastic -> noise, each with a seed derived from
 * `seed`. With no stage enabled it returns a copy.
 *
 * @example
 * ```ts
 * import { augment } from "@lzn/data";
 * const images = new Float32Array(8 * 784).fill(-1);
 * const out = augment(images, { seed: 5, crop: true, affine: { maxRotation: 5 }, noise: { std: 0.02 } });
 * console.log(out.length === images.length); // true
 * ```
 */
export function augment(images: Float32Array, options: AugmentOptions): Float32Array {
  const { seed, rows, cols, fill } = options;
  const g = { rows, cols, fill };
  const stage = <T>(value: boolean | T | undefined): T | undefined =>
    value === true ? {} as T : value === false ? undefined : value;
  let out: Float32Array = images.slice();
  const crop = stage(options.crop), affine = stage(options.affine);
  const elastic = stage(options.elastic), noise = stage(options.noise);
  if (crop) out = randomCrop(out, { ...crop, ...g, seed: hashSeed(seed, 11) });
  if (affine) out = affineJitter(out, { ...affine, ...g, seed: hashSeed(seed, 12) });
  if (elastic) out = elasticJitter(out, { ...elastic, ...g, seed: hashSeed(seed, 13) });
  if (noise) out = gaussianNoise(out, { ...noise, rows, cols, seed: hashSeed(seed, 14) });
  return out;
}
