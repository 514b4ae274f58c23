/**
 * Two-view augmentation (data/views.ts): the GPU kernel against the float64 reference with forced branches,
 * determinism, batch-size independence, the statistics of the drawn parameters, and input validation.
 */
import { strict as assert } from "node:assert";
import {
  applyViewParams,
  augmentViews,
  DEFAULT_VIEW_AUGMENTATION,
  sampleViewParams,
  viewGridPng,
  type ViewParams,
} from "../data/mod.ts";
import { recorderStats, type Tensor, tensor } from "../tensor/mod.ts";
import { assertClose, assertNoLeak, randArray } from "./util.ts";
import { expectedCropArea, viewReference } from "./views_reference.ts";

/** Values are O(1) after ~20 float32 operations per pixel (and a 784-term mean), so 1e-5 is float32 noise. */
const TOL = { atol: 1e-5, rtol: 0 };

const base: ViewParams = {
  top: 0,
  left: 0,
  height: 28,
  width: 28,
  flip: false,
  jitter: false,
  brightness: 1,
  contrast: 1,
  brightnessFirst: false,
  sigma: 1,
};

/** One case per branch, each crop fitted to an H x W image. */
function branchCases(H: number, W: number): ViewParams[] {
  const full = { ...base, height: H, width: W };
  const jit = { jitter: true };
  return [
    { ...full, sigma: 0.1 }, // identity geometry, (almost) no blur
    { ...full, flip: true, sigma: 2 },
    {
      ...base,
      top: H - 1,
      left: W - 1,
      height: 1,
      width: 1,
      ...jit,
      brightness: 1.8,
      contrast: 0.2,
      brightnessFirst: true,
    },
    { ...base, top: 0, left: W - 4, height: 3, width: 4, flip: true, ...jit, brightness: 0.2, contrast: 1.8 },
    {
      ...base,
      top: 0,
      left: 7,
      height: H,
      width: W - 7,
      flip: true,
      ...jit,
      brightness: 0.2,
      contrast: 1.8,
      brightnessFirst: true,
    },
    { ...base, top: 5, left: 5, height: 10, width: 13, ...jit, brightness: 1.5, contrast: 0, sigma: 0.7 },
    { ...base, top: 3, left: 0, height: H - 3, width: W, flip: true, sigma: 1.3 },
    {
      ...base,
      top: 2,
      left: 1,
      height: 2,
      width: W - 1,
      ...jit,
      brightness: 1.8,
      contrast: 1.8,
      brightnessFirst: true,
    },
  ];
}

async function compareWithReference(
  host: Float64Array,
  H: number,
  W: number,
  params: ViewParams[],
  blurKernel: number,
  out: Tensor,
  what: string,
): Promise<void> {
  const got = await out.toArray();
  for (const [i, p] of params.entries()) {
    const expected = viewReference(host.subarray(i * H * W, (i + 1) * H * W), H, W, p, blurKernel);
    assertClose(got.subarray(i * H * W, (i + 1) * H * W), expected, { ...TOL, what: `${what} image ${i}` });
  }
}

for (const [H, W, K] of [[28, 28, 3], [20, 24, 5]]) {
  Deno.test(`views: GPU equals the float64 reference on forced branches (${H}x${W}, blur ${K})`, async () => {
    const params = branchCases(H, W);
    const host = randArray(params.length * H * W, 11 + H); // rough images: every index mix-up shows
    const images = tensor(Float32Array.from(host), [params.length, 1, H, W]);
    const out = applyViewParams(images, params, K);
    await compareWithReference(host, H, W, params, K, out, `${H}x${W}`);
    images.dispose();
    out.dispose();
  });
}

Deno.test("views: augmentViews equals the reference with the parameters it draws", async () => {
  const B = 12, H = 28, W = 28;
  const host = randArray(B * H * W, 5);
  const images = tensor(Float32Array.from(host), [B, 1, H, W]);
  const views = augmentViews(images, { seed: 99, step: 7, views: 3 });
  assert.equal(views.length, 3);
  for (const [view, out] of views.entries()) {
    assert.deepEqual(out.shape, [B, 1, H, W]);
    const params = sampleViewParams({ seed: 99, step: 7, view, count: B });
    await compareWithReference(host, H, W, params, 3, out, `view ${view}`);
    out.dispose();
  }
  images.dispose();
});

const bits = async (t: Tensor) => new Uint32Array((await t.toArray()).buffer);

Deno.test("views: same (seed, step, view) is bit-identical; another view or step differs", async () => {
  const B = 6;
  const images = tensor(Float32Array.from(randArray(B * 784, 2)), [B, 1, 28, 28]);
  const [a0, a1] = augmentViews(images, { seed: 5, step: 3 });
  const [b0, b1] = augmentViews(images, { seed: 5, step: 3 });
  const [c0] = augmentViews(images, { seed: 5, step: 4 });
  const [d0] = augmentViews(images, { seed: 6, step: 3 });
  assert.deepEqual(await bits(a0), await bits(b0));
  assert.deepEqual(await bits(a1), await bits(b1));
  for (const [other, what] of [[a1, "view 1"], [c0, "step 4"], [d0, "seed 6"]] as const) {
    const x = await bits(a0), y = await bits(other);
    for (let i = 0; i < B; i++) {
      const same = x.subarray(i * 784, (i + 1) * 784).every((v, k) => v === y[i * 784 + k]);
      assert.ok(!same, `image ${i}: ${what} gave the same view as view 0 at step 3`);
    }
  }
  for (const t of [images, a0, a1, b0, b1, c0, d0]) t.dispose();
});

Deno.test("views: image i's views do not depend on the batch size (4 vs 16, and a chunk with firstIndex)", async () => {
  const host = Float32Array.from(randArray(16 * 784, 8));
  const x16 = tensor(host, [16, 1, 28, 28]), x4 = tensor(host.subarray(0, 4 * 784), [4, 1, 28, 28]);
  const x12 = tensor(host.subarray(4 * 784), [12, 1, 28, 28]);
  const opts = { seed: 12, step: 40 };
  const v16 = augmentViews(x16, opts), v4 = augmentViews(x4, opts);
  const v12 = augmentViews(x12, { ...opts, firstIndex: 4 });
  for (let view = 0; view < 2; view++) {
    const all = await bits(v16[view]);
    assert.deepEqual(await bits(v4[view]), all.subarray(0, 4 * 784), `view ${view}: batch of 4`);
    assert.deepEqual(await bits(v12[view]), all.subarray(4 * 784), `view ${view}: chunk from image 4`);
  }
  for (const t of [x16, x4, x12, ...v16, ...v4, ...v12]) t.dispose();
});

Deno.test("views: outputs are GPU inputs (no autograd, no readback) and nothing leaks", async () => {
  const images = tensor(Float32Array.from(randArray(4 * 784, 3)), [4, 1, 28, 28], { requiresGrad: true });
  await assertNoLeak(() => {
    const readbacks = recorderStats.readbacks;
    const views = augmentViews(images, { seed: 1, step: 1 });
    assert.equal(recorderStats.readbacks, readbacks, "augmentViews read back from the GPU");
    for (const v of views) {
      assert.equal(v.requiresGrad, false);
      assert.equal(v.node, undefined);
      v.dispose();
    }
  }, "augmentViews");
  images.dispose();
});

/** Asserts |mean - expected| <= 4 standard errors of the sample mean of values with std `sd`. */
function assertMean(values: number[], expected: number, sd: number, what: string): void {
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const tol = 4 * sd / Math.sqrt(values.length);
  assert.ok(Math.abs(mean - expected) <= tol, `${what}: mean ${mean}, expected ${expected} +- ${tol}`);
}

Deno.test("views: drawn parameters follow the configured distributions", () => {
  const N = 20000, H = 28, W = 28;
  const ps = sampleViewParams({ seed: 2024, step: 0, view: 0, count: N });
  const frac = ps.map((p) => (p.height * p.width) / (H * W));
  const expected = expectedCropArea(H, W, [0.08, 1], [3 / 4, 4 / 3]);
  const fracMean = frac.reduce((a, b) => a + b, 0) / N;
  const fracSd = Math.sqrt(frac.reduce((a, f) => a + (f - fracMean) ** 2, 0) / (N - 1));
  assertMean(frac, expected.mean, fracSd, "crop area fraction");
  const pHalf = expected.belowHalf;
  assertMean(frac.map((f) => +(f < 0.5)), pHalf, Math.sqrt(pHalf * (1 - pHalf)), "P(area < 1/2)");
  for (const p of ps) {
    assert.ok(p.top >= 0 && p.left >= 0 && p.top + p.height <= H && p.left + p.width <= W, "crop in image");
    // w = round(sqrt(T a)) <= a (h + 1/2) + 1/2 for a <= 4/3, and symmetrically for h: rounding is all
    // that may push a crop past the ratio range.
    const slack = (a: number, b: number) => a <= (4 / 3) * (b + 0.5) + 0.5;
    assert.ok(slack(p.width, p.height) && slack(p.height, p.width), `crop ${p.height}x${p.width} ratio`);
  }
  const coin = (f: (p: ViewParams) => boolean, q: number, sample: ViewParams[], what: string) =>
    assertMean(sample.map((p) => +f(p)), q, Math.sqrt(q * (1 - q)), what);
  coin((p) => p.flip, 0.5, ps, "flip frequency");
  coin((p) => p.jitter, 0.8, ps, "jitter frequency");
  const jittered = ps.filter((p) => p.jitter);
  coin((p) => p.brightnessFirst, 0.5, jittered, "brightness-first frequency");
  // U(0.2, 1.8): mean 1, sd 1.6 / sqrt(12).
  for (const k of ["brightness", "contrast"] as const) {
    assert.ok(jittered.every((p) => p[k] >= 0.2 && p[k] < 1.8), `${k} in [0.2, 1.8)`);
    assertMean(jittered.map((p) => p[k]), 1, 1.6 / Math.sqrt(12), `${k} factor`);
  }
  assert.ok(ps.every((p) => p.jitter || (p.brightness === 1 && p.contrast === 1)));
  assert.ok(ps.every((p) => p.sigma >= 0.1 && p.sigma < 2));
  assertMean(ps.map((p) => p.sigma), 1.05, 1.9 / Math.sqrt(12), "blur sigma");
  // Turning flip off changes nothing else (the coin is still drawn).
  const noFlip = sampleViewParams({ seed: 2024, step: 0, view: 0, count: 200, flip: false });
  assert.deepEqual(noFlip, ps.slice(0, 200).map((p) => ({ ...p, flip: false })));
});

Deno.test("views: when no attempt fits, the crop falls back to the centre, clamped to the ratio range", () => {
  // With area >= 50% of 160 px, every attempt is at least 8 px on its short side: none fits a side of 4.
  const opts = { seed: 1, step: 0, view: 0, count: 1, scale: [0.5, 1] as [number, number] };
  const [wide] = sampleViewParams({ ...opts, rows: 4, cols: 40 });
  assert.deepEqual([wide.top, wide.left, wide.height, wide.width], [0, 17, 4, 5]); // w = round(4 * 4/3)
  const [tall] = sampleViewParams({ ...opts, rows: 40, cols: 4 });
  assert.deepEqual([tall.top, tall.left, tall.height, tall.width], [17, 0, 5, 4]); // h = round(4 / (3/4))
});

Deno.test("views: clear errors for bad shapes and bad options", () => {
  const good = tensor(new Float32Array(2 * 784), [2, 1, 28, 28]);
  const bad: [Tensor, RegExp][] = [
    [tensor(new Float32Array(2 * 784), [2, 28, 28]), /\[B, 1, H, W\].*\[2, 28, 28\]/],
    [
      tensor(new Float32Array(2 * 3 * 784), [2, 3, 28, 28]),
      /\[B, 1, H, W\] \(grey\), got f32 \[2, 3, 28, 28\]/,
    ],
    [tensor(new Int32Array(784), [1, 1, 28, 28], { dtype: "i32" }), /f32 tensor .* got i32/],
  ];
  for (const [t, msg] of bad) {
    assert.throws(() => augmentViews(t, { seed: 0, step: 0 }), msg);
    t.dispose();
  }
  const opts: [Record<string, unknown>, RegExp][] = [
    [{ scale: [0, 1] }, /scale must be \[min, max\] with 0 < min <= max <= 1, got \[0,1\]/],
    [{ scale: [0.5, 1.2] }, /scale must be/],
    [{ scale: [0.9, 0.1] }, /scale must be/],
    [{ ratio: [0, 1] }, /ratio must be/],
    [{ blurSigma: [0, 2] }, /blurSigma must be \[min, max\] with 0 < min/],
    [{ blurSigma: [-1, 1] }, /blurSigma must be/],
    [{ blurKernel: 4 }, /blurKernel must be a positive odd integer, got 4/],
    [{ blurKernel: 57 }, /blurKernel 57 is too large for reflect padding of a 28x28 image/],
    [{ jitterP: 1.5 }, /jitterP must be a probability in \[0, 1\], got 1.5/],
    [{ brightness: -1 }, /brightness strength must be a finite number >= 0/],
    [{ flip: "yes" }, /flip must be a boolean/],
    [{ views: 0 }, /views must be a positive integer, got 0/],
    [{ seed: -1 }, /seed must be an integer in \[0, 2\^53\), got -1/],
    [{ step: 1.5 }, /step must be an integer/],
    [{ blurSigmas: [1, 2] }, /unknown option "blurSigmas"/],
  ];
  for (const [o, msg] of opts) {
    assert.throws(() => augmentViews(good, { seed: 0, step: 0, ...o } as never), msg, JSON.stringify(o));
  }
  const outside = [{ ...base, top: 1 }, base];
  assert.throws(
    () => applyViewParams(good, outside),
    /image 0: crop box top=1 left=0 28x28 is not .* inside/,
  );
  assert.throws(() => applyViewParams(good, [base]), /got 1 parameter sets for 2 images/);
  assert.throws(
    () => applyViewParams(good, [base, { ...base, sigma: 0 }]),
    /image 1: sigma must be finite and > 0/,
  );
  good.dispose();
});

Deno.test("views: viewGridPng lays out each image with its views in one row", async () => {
  const images = new Float32Array(3 * 784).fill(-1), views = [images.map(() => 1), images.map(() => 0)];
  const png = await viewGridPng(images, views, 3, 28, 28);
  assert.deepEqual([...png.subarray(1, 4)], [0x50, 0x4e, 0x47]); // "PNG"
  const ihdr = new DataView(png.buffer, png.byteOffset + 16, 8);
  assert.deepEqual([ihdr.getUint32(0), ihdr.getUint32(4)], [3 * 30 + 2, 3 * 30 + 2]); // 28 px + 2 padding each
  assert.throws(() => viewGridPng(images, [images.subarray(0, 784)], 3, 28, 28), /view 0 has 784 values/);
  assert.equal(DEFAULT_VIEW_AUGMENTATION.blurKernel, 3);
});
