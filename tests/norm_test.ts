/**
 * groupNorm against a float64 reference (forward) and finite differences (backward, including the affine
 * weight and bias), for groups = 1, a middle case, groups = C, inputs without spatial dims and without affine.
 */
import { strict as assert } from "node:assert";
import { groupNorm, type Tensor, tensor } from "../tensor/mod.ts";
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

Deno.test("groupNorm on a larger batch (batch split for the affine gradients) matches the reference", async () => {
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
