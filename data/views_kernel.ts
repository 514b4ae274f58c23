/**
 * The GPU half of the two-view augmentation ({@link ./views.ts}): one fused WGSL kernel that turns a batch of
 * grey images and one {@link ViewParams} per image into an augmented view, all on the GPU.
 *
 * One workgroup handles one image and keeps it in workgroup memory, because every stage after the crop
 * needs more than one pixel: contrast needs the image's mean grey (a workgroup reduction, taken after a
 * brightness step that may come first) and the blur needs the neighbours after the jitter. Fusing them keeps
 * a view at one dispatch and no intermediate buffer. Per-image parameters arrive in a small f32 buffer
 * drawn on the host; no pixel is touched in JS.
 *
 * @module
 */
import { dispatch, gpu, kernel, Tensor, tensor } from "@lzn/tensor";

/**
 * The random parameters of one view of one image, as drawn by `sampleViewParams` (or written by hand, e.g.
 * to force a branch in a test). Image coordinates are input pixels, row 0 at the top.
 *
 * @example
 * ```ts
 * import type { ViewParams } from "@lzn/data";
 * const identityCrop: ViewParams = {
 *   top: 0, left: 0, height: 28, width: 28, flip: false, jitter: false,
 *   brightness: 1, contrast: 1, brightnessFirst: false, sigma: 0.1,
 * };
 * ```
 */
export interface ViewParams {
  /** First row of the crop box (integer). */
  top: number;
  /** First column of the crop box (integer). */
  left: number;
  /** Rows of the crop box (integer, at least 1). */
  height: number;
  /** Columns of the crop box (integer, at least 1). */
  width: number;
  /** Mirror left-right after the resize. */
  flip: boolean;
  /** Whether the brightness/contrast jitter is applied; when false the factors are ignored (drawn ones are 1). */
  jitter: boolean;
  /** Brightness factor: `v -> clamp(b v, 0, 1)` in [0, 1] pixel space. */
  brightness: number;
  /** Contrast factor: `v -> clamp(c v + (1 - c) mean, 0, 1)`, mean over the image at that point. */
  contrast: number;
  /** Brightness before contrast (torchvision applies the jitter ops in a random order). */
  brightnessFirst: boolean;
  /** Standard deviation of the Gaussian blur, in output pixels. */
  sigma: number;
}

/** Floats per image before the blur weights: top, left, height, width, flip, brightness, contrast, jitter mode. */
const FIXED_FIELDS = 8;
const WG = 256;

/**
 * The normalised 1-D Gaussian of `size` taps (torchvision's `_get_gaussian_kernel1d`: taps at
 * -(size-1)/2 .. (size-1)/2, `exp(-x^2 / (2 sigma^2))`, divided by the sum), in float64 on the host.
 */
function gaussianTaps(size: number, sigma: number): number[] {
  const half = (size - 1) / 2;
  const pdf = Array.from({ length: size }, (_, k) => Math.exp(-0.5 * ((k - half) / sigma) ** 2));
  const total = pdf.reduce((a, b) => a + b, 0);
  return pdf.map((v) => v / total);
}

function kernelSource(H: number, W: number, K: number): string {
  const stride = FIXED_FIELDS + K, R = (K - 1) / 2;
  return /* wgsl */ `
@group(0) @binding(0) var<storage, read> X: array<f32>;
@group(0) @binding(1) var<storage, read> P: array<f32>;
@group(0) @binding(2) var<storage, read_write> Y: array<f32>;
struct Params { n: u32, a: u32, b: u32, c: u32 }
@group(0) @binding(3) var<uniform> u: Params;
var<workgroup> tile: array<f32, ${H * W}>;
var<workgroup> part: array<f32, ${WG}>;

// torch's "reflect" padding (the edge pixel is not repeated); the pad is below the side, so one bounce does.
fn reflect(i: i32, n: i32) -> i32 {
  if (i < 0) { return -i; }
  if (i >= n) { return 2 * n - 2 - i; }
  return i;
}

fn grey(i: u32) -> f32 { return 0.5 * (X[i] + 1.0); }

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let img = wid.x + wid.y * nwg.x;
  if (img >= u.n) { return; }
  let pb = img * ${stride}u;
  let top = u32(P[pb]); let left = u32(P[pb + 1u]);
  let ch = P[pb + 2u]; let cw = P[pb + 3u];
  let flip = P[pb + 4u] != 0.0;
  let bri = P[pb + 5u]; let con = P[pb + 6u];
  // Jitter mode: 0 none, 1 brightness then contrast, 2 contrast then brightness.
  let mode = u32(P[pb + 7u]);
  let ymax = i32(ch) - 1; let xmax = i32(cw) - 1;
  // Bilinear resize of the crop to ${H}x${W} with align_corners=false (half-pixel centres, source
  // coordinate clamped at 0 and neighbours at the crop's last row/column), as torch's upsample_bilinear2d.
  let ys = ch / ${H}.0; let xs = cw / ${W}.0;
  let base = img * ${H * W}u;
  var acc = 0.0;
  for (var p = lid; p < ${H * W}u; p = p + ${WG}u) {
    let y = p / ${W}u;
    var x = p % ${W}u;
    if (flip) { x = ${W - 1}u - x; }
    let sy = max((f32(y) + 0.5) * ys - 0.5, 0.0);
    let sx = max((f32(x) + 0.5) * xs - 0.5, 0.0);
    let y0 = min(i32(floor(sy)), ymax); let x0 = min(i32(floor(sx)), xmax);
    let y1 = min(y0 + 1, ymax); let x1 = min(x0 + 1, xmax);
    let ly = sy - f32(y0); let lx = sx - f32(x0);
    let r0 = base + (top + u32(y0)) * ${W}u + left; let r1 = base + (top + u32(y1)) * ${W}u + left;
    let t = (1.0 - lx) * grey(r0 + u32(x0)) + lx * grey(r0 + u32(x1));
    let b = (1.0 - lx) * grey(r1 + u32(x0)) + lx * grey(r1 + u32(x1));
    var v = (1.0 - ly) * t + ly * b;
    if (mode == 1u) { v = clamp(v * bri, 0.0, 1.0); }
    tile[p] = v;
    acc = acc + v;
  }
  // Contrast blends with the mean grey of the image as it is now: a fixed-order tree, so the result is
  // bit-reproducible and does not depend on the batch. It runs whatever the mode: a barrier must be reached
  // by the whole workgroup, and the mode, read from a storage buffer, does not count as uniform in WGSL.
  part[lid] = acc;
  workgroupBarrier();
  for (var s = ${WG / 2}u; s > 0u; s = s >> 1u) {
    if (lid < s) { part[lid] = part[lid] + part[lid + s]; }
    workgroupBarrier();
  }
  let mean = part[0] / ${H * W}.0;
  if (mode != 0u) {
    for (var p = lid; p < ${H * W}u; p = p + ${WG}u) {
      var v = clamp(con * tile[p] + (1.0 - con) * mean, 0.0, 1.0);
      if (mode == 2u) { v = clamp(v * bri, 0.0, 1.0); }
      tile[p] = v;
    }
  }
  workgroupBarrier();
  // ${K}x${K} Gaussian blur, separable weights from the params buffer, reflect padding; then [0,1] -> [-1,1].
  for (var p = lid; p < ${H * W}u; p = p + ${WG}u) {
    let y = i32(p / ${W}u); let x = i32(p % ${W}u);
    var s = 0.0;
    for (var dy = 0; dy < ${K}; dy = dy + 1) {
      let row = reflect(y + dy - ${R}, ${H}) * ${W};
      var r = 0.0;
      for (var dx = 0; dx < ${K}; dx = dx + 1) {
        r = r + P[pb + ${FIXED_FIELDS}u + u32(dx)] * tile[row + reflect(x + dx - ${R}, ${W})];
      }
      s = s + P[pb + ${FIXED_FIELDS}u + u32(dy)] * r;
    }
    Y[base + p] = 2.0 * s - 1.0;
  }
}`;
}

function jitterMode(p: ViewParams): number {
  return p.jitter ? (p.brightnessFirst ? 1 : 2) : 0;
}

function checkParams(p: ViewParams, i: number, H: number, W: number): void {
  const int = (v: number) => Number.isInteger(v);
  if (
    !(int(p.top) && int(p.left) && int(p.height) && int(p.width) && p.top >= 0 && p.left >= 0 &&
      p.height >= 1 && p.width >= 1 && p.top + p.height <= H && p.left + p.width <= W)
  ) {
    throw new RangeError(
      `applyViewParams: image ${i}: crop box top=${p.top} left=${p.left} ${p.height}x${p.width} ` +
        `is not a whole-pixel box inside the ${H}x${W} image`,
    );
  }
  if (!(p.brightness >= 0 && p.contrast >= 0 && Number.isFinite(p.brightness + p.contrast))) {
    throw new RangeError(
      `applyViewParams: image ${i}: brightness and contrast must be finite and >= 0, got ${p.brightness}, ${p.contrast}`,
    );
  }
  if (!(p.sigma > 0 && Number.isFinite(p.sigma))) {
    throw new RangeError(`applyViewParams: image ${i}: sigma must be finite and > 0, got ${p.sigma}`);
  }
}

/**
 * Checks that `images` is an f32 tensor `[B, 1, H, W]` and returns `[B, H, W]`.
 *
 * @example
 * ```ts
 * import { imageBatchShape } from "./views_kernel.ts";
 * import { Tensor } from "@lzn/tensor";
 * const x = Tensor.empty([8, 1, 28, 28]);
 * console.log(imageBatchShape(x, "augmentViews")); // [8, 28, 28]
 * x.dispose();
 * ```
 */
export function imageBatchShape(images: Tensor, what: string): [number, number, number] {
  const s = images.shape;
  if (images.dtype !== "f32" || s.length !== 4 || s[1] !== 1 || s[2] < 1 || s[3] < 1) {
    throw new RangeError(
      `${what}: images must be an f32 tensor [B, 1, H, W] (grey), got ${images.dtype} [${s.join(", ")}]`,
    );
  }
  return [s[0], s[2], s[3]];
}

/**
 * Applies given per-image view parameters to a batch `[B, 1, H, W]` in [-1, 1] on the GPU: crop and bilinear
 * resize back to H x W, optional flip, brightness/contrast (clamped to [0, 1]), a `blurKernel`-tap Gaussian
 * blur with reflect padding, mapped back to [-1, 1]. Returns a new tensor (no autograd is recorded; views
 * are inputs). `augmentViews` is this with parameters drawn from (seed, step, view, image index).
 *
 * @example
 * ```ts
 * import { applyViewParams, type ViewParams } from "@lzn/data";
 * import { tensor } from "@lzn/tensor";
 * const images = tensor(new Float32Array(2 * 28 * 28).fill(-1), [2, 1, 28, 28]);
 * const p: ViewParams = {
 *   top: 4, left: 2, height: 20, width: 24, flip: true, jitter: true,
 *   brightness: 1.3, contrast: 0.7, brightnessFirst: true, sigma: 1,
 * };
 * const view = applyViewParams(images, [p, { ...p, flip: false }]); // [2, 1, 28, 28]
 * images.dispose();
 * view.dispose();
 * ```
 */
export function applyViewParams(images: Tensor, params: readonly ViewParams[], blurKernel = 3): Tensor {
  const [B, H, W] = imageBatchShape(images, "applyViewParams");
  checkBlurKernel(blurKernel, H, W, "applyViewParams");
  if (params.length !== B) {
    throw new RangeError(`applyViewParams: got ${params.length} parameter sets for ${B} images`);
  }
  const needed = 4 * (H * W + WG), limit = gpu().device.limits.maxComputeWorkgroupStorageSize;
  if (needed > limit) {
    throw new RangeError(
      `applyViewParams: a ${H}x${W} image needs ${needed} bytes of workgroup memory, the device has ${limit}`,
    );
  }
  const out = Tensor.empty([B, 1, H, W]);
  if (B === 0) return out;
  const stride = FIXED_FIELDS + blurKernel;
  const packed = new Float32Array(B * stride);
  params.forEach((p, i) => {
    checkParams(p, i, H, W);
    packed.set(
      [p.top, p.left, p.height, p.width, +p.flip, p.brightness, p.contrast, jitterMode(p)],
      i * stride,
    );
    packed.set(gaussianTaps(blurKernel, p.sigma), i * stride + FIXED_FIELDS);
  });
  const table = tensor(packed, [B, stride]);
  const k = kernel({
    name: `view_augment_${H}x${W}_k${blurKernel}`,
    wgsl: kernelSource(H, W, blurKernel),
    storage: ["read", "read", "read_write"],
    uniform: 16,
  });
  // B rides in the uniform block rather than the source, so a ragged last batch reuses the pipeline.
  const x = Math.min(B, 65535);
  dispatch({
    kernel: k,
    buffers: [images.buffer, table.buffer, out.buffer],
    params: new Uint32Array([B, 0, 0, 0]),
    workgroups: [x, Math.ceil(B / x)],
  });
  // The recorded dispatch keeps using the buffer; the pool hands it out again only in order after it.
  table.dispose();
  return out;
}

/**
 * Checks a blur kernel size: a positive odd integer whose half-width is below both image sides, which
 * torch's reflect padding requires.
 *
 * @example
 * ```ts
 * import { checkBlurKernel } from "./views_kernel.ts";
 * checkBlurKernel(3, 28, 28, "augmentViews"); // ok
 * try {
 *   checkBlurKernel(4, 28, 28, "augmentViews");
 * } catch (e) {
 *   console.log((e as Error).message); // augmentViews: blurKernel must be a positive odd integer ...
 * }
 * ```
 */
export function checkBlurKernel(size: number, H: number, W: number, what: string): void {
  if (!(Number.isInteger(size) && size >= 1 && size % 2 === 1)) {
    throw new RangeError(`${what}: blurKernel must be a positive odd integer, got ${size}`);
  }
  if ((size - 1) / 2 >= Math.min(H, W)) {
    throw new RangeError(`${what}: blurKernel ${size} is too large for reflect padding of a ${H}x${W} image`);
  }
}
