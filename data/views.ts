/**
 * Two-view augmentation for contrastive representation learning (case study 2, `lzn-spec.md` §6.1), adapted
 * from the release's SimCLR-style ImageNet pipeline to grey 28x28 images:
 *
 * RandomResizedCrop (torchvision's sampling rule; BILINEAR resize with align_corners=false) -> horizontal flip
 * (p = 0.5, optional) -> brightness and contrast jitter with p = 0.8 (the parts of ColorJitter(0.8, 0.8, 0.8,
 * 0.2) that act on grey; saturation and hue leave a grey image unchanged, and RandomGrayscale is a no-op) ->
 * Gaussian blur, always, kernel 3 (10% of the side, as 23 at 224 px), sigma ~ U(0.1, 2.0) -> [-1, 1].
 *
 * Randomness is counter-based: image `i` of view `v` at step `s` draws from
 * `createRng(hashSeed(seed, VIEW_STREAM, s, v, firstIndex + i))`, so a view does not depend on the batch size
 * or on what else is in the batch, and a resumed run replays it bit for bit. Parameters are drawn on the host
 * (a few numbers per image); the pixels are computed on the GPU by one fused kernel per view
 * ({@link applyViewParams}).
 *
 * @module
 */
import type { Tensor } from "@lzn/tensor";
import { encodePng, imageGrid } from "./png.ts";
import { createRng, hashSeed } from "./random.ts";
import { applyViewParams, checkBlurKernel, imageBatchShape, type ViewParams } from "./views_kernel.ts";

export { applyViewParams, type ViewParams } from "./views_kernel.ts";

/**
 * Settings of the two-view augmentation. Every field is a config value; {@link DEFAULT_VIEW_AUGMENTATION}
 * holds the release's settings adapted to 28x28.
 *
 * @example
 * ```ts
 * import { DEFAULT_VIEW_AUGMENTATION, type ViewAugmentation } from "@lzn/data";
 * const digits: ViewAugmentation = { ...DEFAULT_VIEW_AUGMENTATION, flip: false }; // a mirrored 3 is no 3
 * ```
 */
export interface ViewAugmentation {
  /** Range of the crop's area as a fraction of the image, `0 < min <= max <= 1`. */
  scale: [number, number];
  /** Range of the crop's aspect ratio width/height, `0 < min <= max`; drawn log-uniformly. */
  ratio: [number, number];
  /** Horizontal flip with probability 0.5 (on for Fashion-MNIST, off for digits). */
  flip: boolean;
  /** Probability of applying the brightness/contrast jitter, in [0, 1]. */
  jitterP: number;
  /** Brightness strength s >= 0: factor ~ U(max(0, 1 - s), 1 + s). */
  brightness: number;
  /** Contrast strength s >= 0: factor ~ U(max(0, 1 - s), 1 + s). */
  contrast: number;
  /** Gaussian blur kernel size (positive, odd). */
  blurKernel: number;
  /** Range of the blur's sigma in pixels, `0 < min <= max`; drawn uniformly. */
  blurSigma: [number, number];
}

/**
 * The release's view augmentation adapted to grey 28x28 images: crop scale (0.08, 1), ratio (3/4, 4/3),
 * flip on, jitter p = 0.8 with strengths 0.8, blur kernel 3 with sigma in (0.1, 2.0).
 *
 * @example
 * ```ts
 * import { DEFAULT_VIEW_AUGMENTATION } from "@lzn/data";
 * console.log(DEFAULT_VIEW_AUGMENTATION.scale); // [0.08, 1]
 * ```
 */
export const DEFAULT_VIEW_AUGMENTATION: Readonly<ViewAugmentation> = Object.freeze({
  scale: Object.freeze([0.08, 1]) as [number, number],
  ratio: Object.freeze([3 / 4, 4 / 3]) as [number, number],
  flip: true,
  jitterP: 0.8,
  brightness: 0.8,
  contrast: 0.8,
  blurKernel: 3,
  blurSigma: Object.freeze([0.1, 2.0]) as [number, number],
});

/** Tag of the view stream in `hashSeed`, keeping it apart from the other users of the same run seed. */
const VIEW_STREAM = 0x76696577; // "view"
/** torchvision's number of crop attempts before the central-crop fallback. */
const CROP_ATTEMPTS = 10;

const AUG_KEYS = Object.keys(DEFAULT_VIEW_AUGMENTATION) as (keyof ViewAugmentation)[];

function range(v: unknown, what: string, name: string, lo: number, hi: number, loOpen: boolean): void {
  const ok = Array.isArray(v) && v.length === 2 && v.every((x) => typeof x === "number") &&
    (loOpen ? v[0] > lo : v[0] >= lo) && v[0] <= v[1] && v[1] <= hi;
  if (!ok) {
    const bound = `${lo} ${loOpen ? "<" : "<="} min <= max${hi === Infinity ? "" : ` <= ${hi}`}`;
    throw new RangeError(`${what}: ${name} must be [min, max] with ${bound}, got ${JSON.stringify(v)}`);
  }
}

/**
 * Fills in defaults for the given settings and checks them, with one clear error per mistake (unknown keys
 * included, so a typo in a JSON config does not pass silently). Other keys listed in `allowed` are ignored.
 *
 * @example
 * ```ts
 * import { resolveViewAugmentation } from "@lzn/data";
 * const aug = resolveViewAugmentation({ flip: false }); // the defaults, without the flip
 * try {
 *   resolveViewAugmentation({ scale: [0, 1] });
 * } catch (e) {
 *   console.log((e as Error).message); // viewAugmentation: scale must be [min, max] with 0 < min <= max <= 1 ...
 * }
 * ```
 */
export function resolveViewAugmentation(
  options: Partial<ViewAugmentation>,
  what = "viewAugmentation",
  allowed: readonly string[] = [],
): ViewAugmentation {
  for (const key of Object.keys(options)) {
    if (!(AUG_KEYS as string[]).includes(key) && !allowed.includes(key)) {
      throw new RangeError(
        `${what}: unknown option "${key}" (known: ${[...allowed, ...AUG_KEYS].join(", ")})`,
      );
    }
  }
  const pick = <K extends keyof ViewAugmentation>(k: K): ViewAugmentation[K] =>
    options[k] === undefined ? structuredClone(DEFAULT_VIEW_AUGMENTATION[k]) : options[k]!;
  const aug: ViewAugmentation = {
    scale: pick("scale"),
    ratio: pick("ratio"),
    flip: pick("flip"),
    jitterP: pick("jitterP"),
    brightness: pick("brightness"),
    contrast: pick("contrast"),
    blurKernel: pick("blurKernel"),
    blurSigma: pick("blurSigma"),
  };
  range(aug.scale, what, "scale", 0, 1, true);
  range(aug.ratio, what, "ratio", 0, Infinity, true);
  range(aug.blurSigma, what, "blurSigma", 0, Infinity, true);
  if (!Number.isFinite(aug.ratio[1]) || !Number.isFinite(aug.blurSigma[1])) {
    throw new RangeError(`${what}: ratio and blurSigma must be finite`);
  }
  if (typeof aug.flip !== "boolean") throw new RangeError(`${what}: flip must be a boolean, got ${aug.flip}`);
  if (!(typeof aug.jitterP === "number" && aug.jitterP >= 0 && aug.jitterP <= 1)) {
    throw new RangeError(`${what}: jitterP must be a probability in [0, 1], got ${aug.jitterP}`);
  }
  for (const k of ["brightness", "contrast"] as const) {
    if (!(typeof aug[k] === "number" && aug[k] >= 0 && Number.isFinite(aug[k]))) {
      throw new RangeError(`${what}: ${k} strength must be a finite number >= 0, got ${aug[k]}`);
    }
  }
  checkBlurKernel(aug.blurKernel, Infinity, Infinity, what);
  return aug;
}

function counter(v: number | undefined, what: string, name: string, fallback?: number): number {
  const x = v ?? fallback;
  if (!(Number.isSafeInteger(x) && x! >= 0)) {
    throw new RangeError(`${what}: ${name} must be an integer in [0, 2^53), got ${v}`);
  }
  return x!;
}

/** Python's `round` (half to even), which torchvision uses for the crop size. */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * Where one image's view parameters come from, and how many consecutive images to draw for.
 *
 * @example
 * ```ts
 * import { sampleViewParams, type ViewKey } from "@lzn/data";
 * const key: ViewKey = { seed: 1, step: 10, view: 0, count: 4, rows: 28, cols: 28 };
 * console.log(sampleViewParams(key).length); // 4
 * ```
 */
export interface ViewKey {
  /** Run seed, an integer in [0, 2^53). */
  seed: number;
  /** Training step, an integer in [0, 2^53). */
  step: number;
  /** View number (0, 1, ...). */
  view: number;
  /** Number of images. */
  count: number;
  /** Index of the first image (default 0): a batch split in chunks gets the same views as in one piece. */
  firstIndex?: number;
  /** Image height (default 28). */
  rows?: number;
  /** Image width (default 28). */
  cols?: number;
}

/**
 * Draws the view parameters of `count` images on the host, a pure function of (seed, step, view, image
 * index). Per image, in this order: flip coin, jitter coin, jitter order, brightness and contrast factors,
 * blur sigma, then torchvision's RandomResizedCrop rule (up to 10 attempts of area ~ U(scale) and
 * log-aspect ~ U(log ratio), sizes rounded half to even, a crop that fits gets a uniform position; else
 * the central crop clamped to the ratio range). Every draw before the crop happens whatever the options, so
 * turning flip or jitter off leaves the other parameters unchanged.
 *
 * @example
 * ```ts
 * import { sampleViewParams } from "@lzn/data";
 * const [p] = sampleViewParams({ seed: 7, step: 0, view: 1, count: 1, flip: false });
 * console.log(p.height <= 28 && p.width <= 28, p.flip); // true false
 * ```
 */
export function sampleViewParams(key: ViewKey & Partial<ViewAugmentation>): ViewParams[] {
  const what = "sampleViewParams";
  const keyNames = ["seed", "step", "view", "count", "firstIndex", "rows", "cols"];
  const aug = resolveViewAugmentation(key, what, keyNames);
  return drawParams(key, aug, what);
}

function drawParams(key: ViewKey, aug: ViewAugmentation, what: string): ViewParams[] {
  const seed = counter(key.seed, what, "seed"), step = counter(key.step, what, "step");
  const view = counter(key.view, what, "view"), count = counter(key.count, what, "count");
  const first = counter(key.firstIndex, what, "firstIndex", 0);
  const H = counter(key.rows, what, "rows", 28), W = counter(key.cols, what, "cols", 28);
  if (H < 1 || W < 1) throw new RangeError(`${what}: image size must be at least 1x1, got ${H}x${W}`);
  const [logLo, logHi] = aug.ratio.map(Math.log);
  const factor = (rng: ReturnType<typeof createRng>, s: number) => rng.uniform(Math.max(0, 1 - s), 1 + s);
  const out: ViewParams[] = [];
  for (let i = 0; i < count; i++) {
    const rng = createRng(hashSeed(seed, VIEW_STREAM, step, view, first + i));
    const flipCoin = rng.next() < 0.5; // drawn even when flip is off: see the doc comment
    const flip = aug.flip && flipCoin;
    const jitter = rng.next() < aug.jitterP;
    const brightnessFirst = rng.next() < 0.5;
    const brightness = factor(rng, aug.brightness), contrast = factor(rng, aug.contrast);
    const sigma = rng.uniform(aug.blurSigma[0], aug.blurSigma[1]);
    const jit = jitter
      ? { jitter, brightness, contrast, brightnessFirst }
      : { jitter, brightness: 1, contrast: 1, brightnessFirst: false };
    out.push({ ...crop(rng, H, W, aug, logLo, logHi), flip, ...jit, sigma });
  }
  return out;
}

/** torchvision's `RandomResizedCrop.get_params`. */
function crop(
  rng: ReturnType<typeof createRng>,
  H: number,
  W: number,
  aug: ViewAugmentation,
  logLo: number,
  logHi: number,
): Pick<ViewParams, "top" | "left" | "height" | "width"> {
  const area = H * W;
  for (let attempt = 0; attempt < CROP_ATTEMPTS; attempt++) {
    const target = area * rng.uniform(aug.scale[0], aug.scale[1]);
    const aspect = Math.exp(rng.uniform(logLo, logHi));
    const width = roundHalfEven(Math.sqrt(target * aspect));
    const height = roundHalfEven(Math.sqrt(target / aspect));
    if (width > 0 && width <= W && height > 0 && height <= H) {
      return { top: rng.int(H - height + 1), left: rng.int(W - width + 1), height, width };
    }
  }
  const inRatio = W / H;
  let width = W, height = H;
  if (inRatio < aug.ratio[0]) height = roundHalfEven(W / aug.ratio[0]);
  else if (inRatio > aug.ratio[1]) width = roundHalfEven(H * aug.ratio[1]);
  return { top: Math.floor((H - height) / 2), left: Math.floor((W - width) / 2), height, width };
}

/**
 * Options of {@linkcode augmentViews}: the randomness key plus any {@link ViewAugmentation} overrides.
 *
 * @example
 * ```ts
 * import type { AugmentViewsOptions } from "@lzn/data";
 * const opts: AugmentViewsOptions = { seed: 0, step: 12, flip: false };
 * ```
 */
export type AugmentViewsOptions =
  & {
    /** Run seed, an integer in [0, 2^53). */
    seed: number;
    /** Training step, an integer in [0, 2^53). */
    step: number;
    /** Number of views (default 2). */
    views?: number;
    /** Index of image 0 of the batch in the key (default 0). */
    firstIndex?: number;
  }
  & Partial<ViewAugmentation>;

/**
 * Independently augmented views of every image of a batch `[B, 1, H, W]` in [-1, 1]: one GPU tensor
 * `[B, 1, H, W]` in [-1, 1] per view, computed without any readback and without recording autograd. Image
 * `i` of view `v` depends only on (seed, step, v, firstIndex + i) and on the image itself.
 *
 * @example
 * ```ts
 * import { augmentViews } from "@lzn/data";
 * import { tensor } from "@lzn/tensor";
 * const images = tensor(new Float32Array(4 * 784).fill(-1), [4, 1, 28, 28]);
 * const [v1, v2] = augmentViews(images, { seed: 1, step: 0, flip: false });
 * console.log(v1.shape, v2.shape); // [4, 1, 28, 28] [4, 1, 28, 28]
 * for (const t of [images, v1, v2]) t.dispose();
 * ```
 */
export function augmentViews(images: Tensor, opts: AugmentViewsOptions): Tensor[] {
  const what = "augmentViews";
  const aug = resolveViewAugmentation(opts, what, ["seed", "step", "views", "firstIndex"]);
  const [B, H, W] = imageBatchShape(images, what);
  checkBlurKernel(aug.blurKernel, H, W, what);
  const views = opts.views ?? 2;
  if (!(Number.isInteger(views) && views >= 1)) {
    throw new RangeError(`${what}: views must be a positive integer, got ${opts.views}`);
  }
  const key = { seed: opts.seed, step: opts.step, firstIndex: opts.firstIndex, count: B, rows: H, cols: W };
  // Draw every view's parameters before dispatching any, so a bad key throws before GPU work is recorded.
  const params = Array.from({ length: views }, (_, view) => drawParams({ ...key, view }, aug, what));
  return params.map((p) => applyViewParams(images, p, aug.blurKernel));
}

/**
 * A PNG with one row per image: the image, then each of its views (host arrays of `count` images of
 * `rows` x `cols` in [-1, 1], e.g. from `Tensor#toArray`).
 *
 * @example
 * ```ts
 * import { augmentViews, viewGridPng } from "@lzn/data";
 * import { tensor } from "@lzn/tensor";
 * const host = new Float32Array(4 * 784).map((_, i) => Math.sin(i / 7));
 * const images = tensor(host, [4, 1, 28, 28]);
 * const views = augmentViews(images, { seed: 3, step: 0 });
 * const png = await viewGridPng(host, await Promise.all(views.map((v) => v.toArray())), 4, 28, 28);
 * await Deno.writeFile(".cache/views.png", png);
 * for (const t of [images, ...views]) t.dispose();
 * ```
 */
export function viewGridPng(
  images: Float32Array,
  views: readonly Float32Array[],
  count: number,
  rows: number,
  cols: number,
): Promise<Uint8Array> {
  const size = rows * cols;
  for (const [k, a] of [images, ...views].entries()) {
    if (a.length < count * size) {
      const name = k === 0 ? "images" : `view ${k - 1}`;
      throw new RangeError(`viewGridPng: ${name} has ${a.length} values, need ${count} of ${rows}x${cols}`);
    }
  }
  const columns = 1 + views.length;
  const tiles = new Float32Array(count * columns * size);
  for (let i = 0; i < count; i++) {
    [images, ...views].forEach((a, c) =>
      tiles.set(a.subarray(i * size, (i + 1) * size), (i * columns + c) * size)
    );
  }
  return encodePng(imageGrid(tiles, count * columns, rows, cols, { columns }));
}
