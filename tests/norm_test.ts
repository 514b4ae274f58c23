/**
 * groupNorm against a float64 reference (forward) and finite differences (backward, including the affine
 * weight and bias), for groups = 1, a middle case, groups = C, inputs without spatial dims and without affine;
 * and the affine gradients at the reference classifier's shapes and a long extent, against float64 sums.
 * tests/gpu_tuning_test.ts reruns this suite under LZN_TUNING=gpu, where the affine gradients split wider.
 */
import { strict as assert } from "node:assert";
import {
  beginDispatchTiming,
  endDispatchTiming,
  gpu,
  groupNorm,
  type Tensor,
  tensor,
} from "../tensor/mod.ts";
import { assertClose, assertNoLeak, checkGrad, fromF64, randArray } from "./util.ts";

function groupNormRef(
  x: Float64Array,
  shape: number[],
  groups: number,
  w?: Float64Array,
  b?: Float64Array,
  eps = 1e-5,
): Float64Array {
  const [N, C] = shape;
  const S = x.length / (N * C), L = (C / groups) * S;
  const y = new Float64Array(x.length);
  for (let row = 0; row < N * groups; row++) {
    let mean = 0;
    for (let i = 0; i < L; i++) mean += x[row * L + i];
    mean /= L;
    let v = 0;
    for (let i = 0; i < L; i++) v += (x[row * L + i] - mean) ** 2;
    const rstd = 1 / Math.sqrt(v / L + eps);
    for (let i = 0; i < L; i++) {
      const c = (row % groups) * (C / groups) + Math.floor(i / S);
      y[row * L + i] = (x[row * L + i] - mean) * rstd * (w ? w[c] : 1) + (b ? b[c] : 0);
    }
  }
  return y;
}

const cases: [string, number[], number, boolean][] = [
  ["groups=1 (layer norm)", [2, 4, 3, 3], 1, true],
  ["groups=2 of 6 channels", [2, 6, 3, 2], 2, true],
  ["groups=C (instance norm)", [2, 4, 3, 3], 4, true],
  ["[N, C] input without spatial dims", [5, 6], 3, true],
  ["without affine parameters", [2, 6, 2, 2], 3, false],
  ["3-d input [N, C, L]", [3, 4, 5], 2, true],
];

for (const [name, shape, groups, affine] of cases) {
  Deno.test(`groupNorm forward and backward: ${name}`, async () => {
    const n = shape.reduce((a, b) => a * b, 1), C = shape[1];
    const inputs = [{ shape, data: randArray(n, 21, -2, 2) }];
    if (affine) {
      inputs.push({ shape: [C], data: randArray(C, 22, 0.5, 1.5) }, { shape: [C], data: randArray(C, 23) });
    }
    await checkGrad(
      (xs) => groupNorm(xs[0], groups, xs[1], xs[2]),
      (xs) => groupNormRef(xs[0], shape, groups, xs[1], xs[2]),
      inputs,
      { rtol: 1e-4, atol: 1e-4, h: 1e-5, gradRtol: 2e-3, gradAtol: 5e-4 },
    );
  });
}

Deno.test("groupNorm on a larger batch (affine gradients split into runs) matches the reference", async () => {
  const N = 32, S = 256, shape = [N, 8, 16, 16], n = N * 8 * S;
  const xd = randArray(n, 31, -3, 3), wd = randArray(8, 32), bd = randArray(8, 33);
  const x = fromF64(xd, shape), w = fromF64(wd, [8], true), b = fromF64(bd, [8], true);
  const y = groupNorm(x, 4, w, b);
  assertClose(await y.toArray(), groupNormRef(xd, shape, 4, wd, bd), { rtol: 1e-4, atol: 1e-4 });
  const loss = y.sum();
  loss.backward();
  // d/dw of sum(y) = Σ x̂ over each channel; d/db = N * S.
  const xhat = groupNormRef(xd, shape, 4);
  const dw = new Float64Array(8);
  for (let i = 0; i < n; i++) dw[Math.floor(i / S) % 8] += xhat[i];
  assertClose(await w.grad!.toArray(), dw, { rtol: 1e-3, atol: 2e-3, what: "dweight" });
  assertClose(await b.grad!.toArray(), new Float64Array(8).fill(N * S), { rtol: 1e-5, what: "dbias" });
  for (const t of [x, w, b, y, loss]) t.dispose();
});

Deno.test("groupNorm frees its statistics with and without autograd", async () => {
  await assertNoLeak(async () => {
    const x = tensor(Float32Array.from(randArray(48, 5)), [2, 6, 2, 2], { requiresGrad: true });
    const w = tensor(new Float32Array(6).fill(1), [6], { requiresGrad: true });
    const y: Tensor = groupNorm(x, 3, w);
    const sq = y.square(), loss = sq.sum();
    loss.backward();
    await x.grad!.toArray();
    const xd = x.detach(), plain = groupNorm(xd, 3);
    await plain.toArray();
    for (const t of [x, w, y, sq, loss, xd, plain]) t.dispose();
  }, "groupNorm");
});

Deno.test("groupNorm rejects indivisible groups and wrong affine shapes", () => {
  const x = tensor(new Float32Array(12), [2, 6]);
  const w = tensor(new Float32Array(4), [4]);
  assert.throws(() => groupNorm(x, 4), /divisible/);
  assert.throws(() => groupNorm(x, 3, w), /weight must be \[6\]/);
  x.dispose();
  w.dispose();
});

/** Float64 Σ dy x̂ and Σ dy per channel, and the ℓ2 norms of those terms (the scale of f32 rounding). */
function affineGradRef(x: Float64Array, dy: Float64Array, shape: number[], groups: number) {
  const [N, C] = shape;
  const S = x.length / (N * C), L = (C / groups) * S;
  const dw = new Float64Array(C), db = new Float64Array(C);
  const dwNorm = new Float64Array(C), dbNorm = new Float64Array(C);
  for (let row = 0; row < N * groups; row++) {
    let mean = 0;
    for (let i = 0; i < L; i++) mean += x[row * L + i];
    mean /= L;
    let v = 0;
    for (let i = 0; i < L; i++) v += (x[row * L + i] - mean) ** 2;
    const rstd = 1 / Math.sqrt(v / L + 1e-5);
    for (let i = 0; i < L; i++) {
      const c = (row % groups) * (C / groups) + Math.floor(i / S), k = row * L + i;
      const t = dy[k] * (x[k] - mean) * rstd;
      dw[c] += t;
      db[c] += dy[k];
      dwNorm[c] += t * t;
      dbNorm[c] += dy[k] * dy[k];
    }
  }
  return { dw, db, dwNorm: dwNorm.map(Math.sqrt), dbNorm: dbNorm.map(Math.sqrt) };
}

// Each channel's sum has N * spatial terms: the three shapes of the reference classifier's six blocks at batch
// 128 (on the first, [128, 32, 28, 28], two batch slices once started past the batch, underflowed their u32
// length and looped ~2^32 times), a non-square extent that splits into uneven runs starting mid-sample, and
// one long extent of a single sample.
const affineCases: [number[], number][] = [
  [[128, 32, 28, 28], 8],
  [[128, 64, 14, 14], 8],
  [[128, 128, 7, 7], 8],
  [[7, 4, 99, 101], 2],
  [[1, 2, 512, 512], 1],
];

for (const [shape, groups] of affineCases) {
  Deno.test(`groupNorm weight and bias gradients at [${shape}] G=${groups} match float64`, async () => {
    const n = shape.reduce((a, b) => a * b, 1), C = shape[1], extent = n / C;
    // Rounded to f32 first, so the reference sums exactly the values the GPU reads.
    const xd = randArray(n, 41 + C, -1, 3).map(Math.fround), dyd = randArray(n, 42 + C).map(Math.fround);
    const x = fromF64(xd, shape, true), dy = fromF64(dyd, shape);
    const w = fromF64(randArray(C, 43), [C], true), b = fromF64(randArray(C, 44), [C], true);
    const y = groupNorm(x, groups, w, b);
    beginDispatchTiming();
    let dispatches: { name: string; workgroups: number[] }[] = [];
    try {
      y.backward(dy);
    } finally {
      dispatches = await endDispatchTiming();
    }
    const dwb = dispatches.filter((d) => d.name === "group_norm_dwb");
    assert.equal(dwb.length, 1, `one affine-gradient pass, ran ${dispatches.map((d) => d.name)}`);
    const workgroups = dwb[0].workgroups.reduce((a, v) => a * v, 1);
    // One workgroup per (channel, run) and no run over 65536 terms, so no workgroup loops for long.
    assert.ok(
      workgroups >= C * Math.ceil(extent / 65536),
      `${workgroups} workgroups for ${C} channels of ${extent} terms (tuning ${gpu().adapter.tuning})`,
    );
    const ref = affineGradRef(xd, dyd, shape, groups);
    // f32 summation error grows like the ℓ2 norm of the terms; 1e-5 of it is ~10x the expected rounding.
    const check = async (got: Tensor, want: Float64Array, norm: Float64Array, what: string) => {
      const g = await got.toArray();
      for (let c = 0; c < C; c++) {
        assertClose([g[c]], [want[c]], { rtol: 1e-5, atol: 1e-5 * norm[c], what: `${what}[${c}]` });
      }
    };
    await check(w.grad!, ref.dw, ref.dwNorm, "dweight");
    await check(b.grad!, ref.db, ref.dbNorm, "dbias");
    for (const t of [x, dy, w, b, y]) t.dispose();
  });
}
