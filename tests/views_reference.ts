/**
 * Float64 CPU reference of the two-view augmentation (data/views.ts), for tests only. It follows the
 * torchvision definitions step by step on a whole image at a time (crop, then `F.resize` bilinear with
 * align_corners=false, then `hflip`, then `adjust_brightness` / `adjust_contrast` in the drawn order,
 * then `gaussian_blur` with reflect padding), rather than the GPU kernel's fused per-pixel form, so the two
 * are independent implementations of one specification.
 *
 * @module
 */
import type { ViewParams } from "../data/mod.ts";

type Plane = Float64Array; // row-major rows x cols

function clamp01(v: number): number {
  return Math.min(1, Math.max(0, v));
}

/** torch `upsample_bilinear2d`, align_corners=false, from an h x w plane to H x W. */
function resizeBilinear(src: Plane, h: number, w: number, H: number, W: number): Plane {
  const axis = (inSize: number, outSize: number, o: number) => {
    const src = Math.max(0, (inSize / outSize) * (o + 0.5) - 0.5);
    const i0 = Math.floor(src);
    const i1 = i0 < inSize - 1 ? i0 + 1 : i0;
    return { i0, i1, l1: src - i0 };
  };
  const out = new Float64Array(H * W);
  for (let y = 0; y < H; y++) {
    const a = axis(h, H, y);
    for (let x = 0; x < W; x++) {
      const b = axis(w, W, x);
      const top = (1 - b.l1) * src[a.i0 * w + b.i0] + b.l1 * src[a.i0 * w + b.i1];
      const bottom = (1 - b.l1) * src[a.i1 * w + b.i0] + b.l1 * src[a.i1 * w + b.i1];
      out[y * W + x] = (1 - a.l1) * top + a.l1 * bottom;
    }
  }
  return out;
}

/** torchvision `_get_gaussian_kernel1d`. */
function gaussianKernel1d(size: number, sigma: number): number[] {
  const half = (size - 1) * 0.5;
  const pdf = Array.from({ length: size }, (_, k) => {
    const x = -half + k; // linspace(-half, half, size)
    return Math.exp(-0.5 * (x / sigma) ** 2);
  });
  const sum = pdf.reduce((a, b) => a + b, 0);
  return pdf.map((v) => v / sum);
}

/** torchvision `gaussian_blur`: reflect-pad by size/2, then correlate with the outer-product kernel. */
function gaussianBlur(img: Plane, H: number, W: number, size: number, sigma: number): Plane {
  const k1 = gaussianKernel1d(size, sigma), r = (size - 1) / 2;
  const Hp = H + 2 * r, Wp = W + 2 * r;
  const reflect = (i: number, n: number) => (i < 0 ? -i : i >= n ? 2 * (n - 1) - i : i);
  const padded = new Float64Array(Hp * Wp);
  for (let y = 0; y < Hp; y++) {
    for (let x = 0; x < Wp; x++) padded[y * Wp + x] = img[reflect(y - r, H) * W + reflect(x - r, W)];
  }
  const out = new Float64Array(H * W);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      let s = 0;
      for (let i = 0; i < size; i++) {
        for (let j = 0; j < size; j++) s += k1[i] * k1[j] * padded[(y + i) * Wp + x + j];
      }
      out[y * W + x] = s;
    }
  }
  return out;
}

/**
 * One view of one H x W image (values in [-1, 1]) with the given parameters, in float64; result in [-1, 1].
 */
export function viewReference(
  image: ArrayLike<number>,
  H: number,
  W: number,
  p: ViewParams,
  blurKernel: number,
): Float64Array {
  // ToTensor's [0, 1] pixel space.
  const unit = Float64Array.from({ length: H * W }, (_, i) => (image[i] + 1) / 2);
  const cropped = new Float64Array(p.height * p.width);
  for (let r = 0; r < p.height; r++) {
    for (let c = 0; c < p.width; c++) cropped[r * p.width + c] = unit[(p.top + r) * W + p.left + c];
  }
  const resized = resizeBilinear(cropped, p.height, p.width, H, W);
  let img: Plane = resized;
  if (p.flip) {
    img = new Float64Array(H * W);
    for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) img[y * W + x] = resized[y * W + W - 1 - x];
  }
  if (p.jitter) {
    const brightness = (v: Plane) => v.map((x) => clamp01(p.brightness * x));
    const contrast = (v: Plane) => {
      const mean = v.reduce((a, b) => a + b, 0) / v.length;
      return v.map((x) => clamp01(p.contrast * x + (1 - p.contrast) * mean));
    };
    img = p.brightnessFirst ? contrast(brightness(img)) : brightness(contrast(img));
  }
  return gaussianBlur(img, H, W, blurKernel, p.sigma).map((v) => 2 * v - 1);
}

/** Python's round (half to even). */
function pyRound(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * The distribution of torchvision's RandomResizedCrop area fraction (crop area / image area) for an H x W
 * image, by midpoint quadrature over (area draw, log-aspect draw) of one attempt, then the 10-attempt retry
 * and central-crop fallback in closed form. Independent of any random generator.
 */
export function expectedCropArea(
  H: number,
  W: number,
  scale: [number, number],
  ratio: [number, number],
  grid = 1000,
): { mean: number; belowHalf: number } {
  const [lo, hi] = ratio.map(Math.log);
  let accepted = 0, areaSum = 0, belowHalf = 0;
  for (let a = 0; a < grid; a++) {
    const target = H * W * (scale[0] + (scale[1] - scale[0]) * (a + 0.5) / grid);
    for (let b = 0; b < grid; b++) {
      const aspect = Math.exp(lo + (hi - lo) * (b + 0.5) / grid);
      const w = pyRound(Math.sqrt(target * aspect)), h = pyRound(Math.sqrt(target / aspect));
      if (w > 0 && w <= W && h > 0 && h <= H) {
        const f = (w * h) / (H * W);
        accepted++;
        areaSum += f;
        if (f < 0.5) belowHalf++;
      }
    }
  }
  const pAccept = accepted / (grid * grid);
  const fallback = (1 - pAccept) ** 10;
  // Fallback crop: the whole image when its own aspect lies in the ratio range (true for square images).
  const inRatio = W / H;
  const fw = inRatio > ratio[1] ? pyRound(H * ratio[1]) : W;
  const fh = inRatio < ratio[0] ? pyRound(W / ratio[0]) : H;
  const fArea = (fw * fh) / (H * W);
  return {
    mean: (1 - fallback) * (areaSum / accepted) + fallback * fArea,
    belowHalf: (1 - fallback) * (belowHalf / accepted) + fallback * (fArea < 0.5 ? 1 : 0),
  };
}
