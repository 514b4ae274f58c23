/**
 * conv2d against a naive float64 reference: forward on odd shapes (stride, padding, 1x1, non-square),
 * backward against finite differences on small shapes, and against the exact float64 VJP on shapes that
 * span several tiles and split-K chunks.
 */
import { strict as assert } from "node:assert";
import { conv2d, type Conv2dOptions, gpu, type Tensor } from "../tensor/mod.ts";
import { parseTile, pickTile } from "../tensor/ops/conv_gemm.ts";
import { assertClose, assertNoLeak, checkGrad, fromF64, randArray } from "./util.ts";

interface Case {
  N: number;
  CI: number;
  H: number;
  W: number;
  CO: number;
  KH: number;
  KW: number;
  stride: [number, number];
  pad: [number, number];
  bias: boolean;
}

function outSize(c: Case): [number, number] {
  return [
    Math.floor((c.H + 2 * c.pad[0] - c.KH) / c.stride[0]) + 1,
    Math.floor((c.W + 2 * c.pad[1] - c.KW) / c.stride[1]) + 1,
  ];
}

/** Visits every (output element, tap) pair with in-bounds input: f(yIndex, xIndex, wIndex, co). */
function eachTap(c: Case, f: (yi: number, xi: number, wi: number, co: number) => void): void {
  const [HO, WO] = outSize(c);
  for (let n = 0; n < c.N; n++) {
    for (let co = 0; co < c.CO; co++) {
      for (let oh = 0; oh < HO; oh++) {
        for (let ow = 0; ow < WO; ow++) {
          const yi = ((n * c.CO + co) * HO + oh) * WO + ow;
          for (let ci = 0; ci < c.CI; ci++) {
            for (let r = 0; r < c.KH; r++) {
              const ih = oh * c.stride[0] - c.pad[0] + r;
              if (ih < 0 || ih >= c.H) continue;
              for (let s = 0; s < c.KW; s++) {
                const iw = ow * c.stride[1] - c.pad[1] + s;
                if (iw < 0 || iw >= c.W) continue;
                f(yi, ((n * c.CI + ci) * c.H + ih) * c.W + iw, ((co * c.CI + ci) * c.KH + r) * c.KW + s, co);
              }
            }
          }
        }
      }
    }
  }
}

function convRef(c: Case, x: Float64Array, w: Float64Array, b?: Float64Array): Float64Array {
  const [HO, WO] = outSize(c);
  const y = new Float64Array(c.N * c.CO * HO * WO);
  eachTap(c, (yi, xi, wi) => (y[yi] += x[xi] * w[wi]));
  if (b) { for (let i = 0; i < y.length; i++) y[i] += b[Math.floor(i / (HO * WO)) % c.CO]; }
  return y;
}

function inputs(c: Case, seed: number) {
  const x = { shape: [c.N, c.CI, c.H, c.W], data: randArray(c.N * c.CI * c.H * c.W, seed) };
  const w = { shape: [c.CO, c.CI, c.KH, c.KW], data: randArray(c.CO * c.CI * c.KH * c.KW, seed + 1) };
  const b = { shape: [c.CO], data: randArray(c.CO, seed + 2) };
  return c.bias ? [x, w, b] : [x, w];
}

const opts = (c: Case): Conv2dOptions => ({ stride: c.stride, padding: c.pad });

const base: Case = { N: 2, CI: 3, H: 7, W: 7, CO: 5, KH: 3, KW: 3, stride: [1, 1], pad: [1, 1], bias: true };
const gradCases: [string, Case][] = [
  ["3x3 stride 1 pad 1 with bias", base],
  ["3x3 stride 2 pad 0", { ...base, stride: [2, 2], pad: [0, 0], bias: false }],
  ["3x3 stride 2 pad 1", { ...base, stride: [2, 2], pad: [1, 1] }],
  ["1x1 stride 1", { ...base, KH: 1, KW: 1, pad: [0, 0] }],
  ["1x1 stride 2 (phases without taps)", { ...base, KH: 1, KW: 1, stride: [2, 2], pad: [0, 0] }],
  ["non-square 3x2 kernel, stride [2,1], padding [1,0], 6x9 input", {
    ...base,
    H: 6,
    W: 9,
    KH: 3,
    KW: 2,
    stride: [2, 1],
    pad: [1, 0],
  }],
  ["4x4 kernel stride 3 pad 2", { ...base, N: 1, H: 8, W: 7, KH: 4, KW: 4, stride: [3, 3], pad: [2, 2] }],
];

for (const [name, c] of gradCases) {
  Deno.test(`conv2d forward and backward: ${name}`, async () => {
    await checkGrad(
      (xs) => conv2d(xs[0], xs[1], xs[2], opts(c)),
      (xs) => convRef(c, xs[0], xs[1], xs[2]),
      inputs(c, 11),
      { rtol: 1e-4, atol: 1e-4 },
    );
  });
}

/** Exact float64 VJP of the convolution for upstream gradient g. */
function convVjpRef(c: Case, x: Float64Array, w: Float64Array, g: Float64Array) {
  const dx = new Float64Array(x.length), dw = new Float64Array(w.length), db = new Float64Array(c.CO);
  eachTap(c, (yi, xi, wi) => {
    dx[xi] += g[yi] * w[wi];
    dw[wi] += g[yi] * x[xi];
  });
  const [HO, WO] = outSize(c);
  for (let i = 0; i < g.length; i++) db[Math.floor(i / (HO * WO)) % c.CO] += g[i];
  return { dx, dw, db };
}

const bigCases: [string, Case][] = [
  ["several m and c tiles (Cout 70)", { ...base, N: 3, CI: 20, H: 13, W: 13, CO: 70 }],
  ["split-K weight gradient", { ...base, N: 4, CI: 4, H: 12, W: 12, CO: 8 }],
  ["Cout 24, stride 2, 5x5 kernel", {
    ...base,
    N: 2,
    CI: 6,
    H: 11,
    W: 10,
    CO: 24,
    KH: 5,
    KW: 5,
    stride: [2, 2],
    pad: [2, 2],
  }],
  ["1x1 projection 64 -> 40", { ...base, N: 2, CI: 64, H: 6, W: 6, CO: 40, KH: 1, KW: 1, pad: [0, 0] }],
];

for (const [name, c] of bigCases) {
  Deno.test(`conv2d exact VJP on larger shapes: ${name}`, async () => {
    const [xIn, wIn, bIn] = inputs(c, 5);
    const x = fromF64(xIn.data, xIn.shape, true), w = fromF64(wIn.data, wIn.shape, true);
    const b = fromF64(bIn.data, bIn.shape, true);
    const y = conv2d(x, w, b, opts(c));
    const yRef = convRef(c, xIn.data, wIn.data, bIn.data);
    assertClose(await y.toArray(), yRef, { rtol: 1e-4, atol: 1e-4, what: "forward" });
    const gData = randArray(yRef.length, 9);
    const g = fromF64(gData, [...y.shape]);
    y.backward(g);
    const ref = convVjpRef(c, xIn.data, wIn.data, gData);
    assertClose(await x.grad!.toArray(), ref.dx, { rtol: 1e-4, atol: 1e-4, what: "dx" });
    assertClose(await w.grad!.toArray(), ref.dw, { rtol: 1e-4, atol: 2e-4, what: "dw" });
    assertClose(await b.grad!.toArray(), ref.db, { rtol: 1e-4, atol: 2e-4, what: "dbias" });
    for (const t of [x, w, b, y, g]) t.dispose();
  });
}

Deno.test("conv2d gradient only for inputs that require it, and no leaks", async () => {
  const c = base;
  const [xIn, wIn] = inputs(c, 3);
  await assertNoLeak(async () => {
    const x = fromF64(xIn.data, xIn.shape, false), w = fromF64(wIn.data, wIn.shape, true);
    const y: Tensor = conv2d(x, w, undefined, opts(c));
    const loss = y.sum();
    loss.backward();
    assert.equal(x.grad, undefined);
    assert.deepEqual(w.grad!.shape, wIn.shape);
    await w.grad!.toArray();
    for (const t of [x, w, y, loss]) t.dispose();
  }, "conv2d forward + backward");
});

Deno.test("conv2d rejects mismatched shapes", () => {
  const x = fromF64(new Float64Array(2 * 3 * 4 * 4), [2, 3, 4, 4]);
  const w = fromF64(new Float64Array(5 * 2 * 3 * 3), [5, 2, 3, 3]);
  assert.throws(() => conv2d(x, w), /conv2d needs x/);
  const w2 = fromF64(new Float64Array(5 * 3 * 5 * 5), [5, 3, 5, 5]);
  assert.throws(() => conv2d(x, w2), /does not fit/);
  for (const t of [x, w, w2]) t.dispose();
});

Deno.test("conv2d: the kernel tuning follows LZN_TUNING, else the adapter kind (printed for tests/gpu_tuning_test.ts)", () => {
  const { tuning, isCpu } = gpu().adapter;
  // The tile a 32-column GEMM gets (tests/gpu_tuning_test.ts reads it back under LZN_CONV_TILE).
  console.log(
    `conv tuning: ${tuning} (adapter isCpu: ${isCpu}); conv tile for 32 columns: ${
      JSON.stringify(pickTile(32))
    }`,
  );
  const forced = Deno.env.get("LZN_TUNING");
  assert.equal(tuning, forced === "cpu" || forced === "gpu" ? forced : isCpu ? "cpu" : "gpu");
});

Deno.test("conv2d: LZN_CONV_TILE is parsed and checked against the generator's rules and the device's limits", () => {
  assert.deepEqual(parseTile("128x32x16x8x4"), { BM: 128, BN: 32, BK: 16, TM: 8, TN: 4 });
  assert.throws(() => parseTile("128x32x16x8"), /expected BMxBNxBKxTMxTN/);
  assert.throws(() => parseTile("128x32x16x8x8x"), /expected BMxBNxBKxTMxTN/);
  assert.throws(() => parseTile("128x32x16x6x4"), /TM and TN must be multiples of 4 dividing BM and BN/);
  assert.throws(() => parseTile("100x32x16x8x4"), /TM and TN must be multiples of 4 dividing BM and BN/);
  assert.throws(() => parseTile("128x32x48x8x4"), /128 threads: the count must be divisible by BK/);
  assert.throws(() => parseTile("64x12x8x8x4"), /24 threads: the count must be divisible by BK and by BM\/4/);
  const limits = { invocations: 256, storageBytes: 16384 };
  assert.throws(() => parseTile("512x64x16x4x4", limits), /2048 threads: the device allows 256/);
  assert.throws(
    () => parseTile("128x64x32x8x8", limits),
    /24576 bytes of workgroup memory: the device allows 16384/,
  );
  assert.deepEqual(parseTile("128x64x32x8x8"), { BM: 128, BN: 64, BK: 32, TM: 8, TN: 8 });
});
