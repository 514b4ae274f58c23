/**
 * Softmax and log-softmax along every axis, on short rows (one thread per row) and long rows (one workgroup
 * per row), against float64; VJPs against finite differences; stability for logits of magnitude 1e8.
 */
import { strict as assert } from "node:assert";
import { logSoftmax, softmax, tensor } from "../tensor/mod.ts";
import { assertClose, checkGrad, randArray } from "./util.ts";

/** Float64 (log-)softmax of a row-major array along `axis`. */
function refSoftmax(x: ArrayLike<number>, shape: number[], axis: number, log: boolean): Float64Array {
  const n = shape[axis];
  const inner = shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  const outer = x.length / (n * inner);
  const y = new Float64Array(x.length);
  for (let o = 0; o < outer; o++) {
    for (let r = 0; r < inner; r++) {
      const at = (j: number) => o * n * inner + j * inner + r;
      let m = -Infinity;
      for (let j = 0; j < n; j++) m = Math.max(m, x[at(j)]);
      let s = 0;
      for (let j = 0; j < n; j++) s += Math.exp(x[at(j)] - m);
      for (let j = 0; j < n; j++) y[at(j)] = log ? x[at(j)] - m - Math.log(s) : Math.exp(x[at(j)] - m) / s;
    }
  }
  return y;
}

const CASES: [number[], number][] = [[[3, 5], 1], [[4, 3], 0], [[2, 5, 3], 1], [[2, 3, 4], -1], [[7], 0]];

for (const log of [false, true]) {
  const name = log ? "logSoftmax" : "softmax";
  const op = log ? logSoftmax : softmax;

  Deno.test(`${name}: every axis position (outer/inner strides) vs float64, with gradients`, async () => {
    for (const [s, [shape, axis]] of CASES.entries()) {
      const ax = axis < 0 ? axis + shape.length : axis;
      await checkGrad(([x]) => op(x, axis), ([x]) => refSoftmax(x, shape, ax, log), [{
        shape,
        data: randArray(shape.reduce((a, b) => a * b, 1), 80 + s, -3, 3),
      }]);
    }
  });

  Deno.test(`${name}: long rows use the workgroup path ([3, 300] last axis, [130, 2] axis 0)`, async () => {
    await checkGrad(([x]) => op(x, -1), ([x]) => refSoftmax(x, [3, 300], 1, log), [{
      shape: [3, 300],
      data: randArray(900, 90, -4, 4),
    }]);
    await checkGrad(([x]) => op(x, 0), ([x]) => refSoftmax(x, [130, 2], 0, log), [{
      shape: [130, 2],
      data: randArray(260, 91, -4, 4),
    }]);
  });

  Deno.test(`${name}: stable for logits of magnitude 1e8 on both paths`, async () => {
    for (const n of [4, 200]) {
      const data = new Float32Array(2 * n);
      for (let i = 0; i < n; i++) {
        data[i] = 1e8 - 8 * (i % 5); // spacing of f32 near 1e8 is 8
        data[n + i] = -1e8 + 8 * ((i * 7) % 3);
      }
      const x = tensor(data, [2, n]);
      const y = op(x, 1);
      const got = await y.toArray();
      assert.ok(got.every(Number.isFinite), `${name} of large logits is finite`);
      assertClose(got, refSoftmax(data, [2, n], 1, log), { rtol: 1e-5, atol: 1e-6, what: `${name} n=${n}` });
      x.dispose();
      y.dispose();
    }
  });
}

Deno.test("softmax: rows sum to 1 and -inf logits (masks) get probability 0", async () => {
  const x = tensor([0, -Infinity, 1, -Infinity, -Infinity, 2], [2, 3]);
  const p = x.softmax(), lp = x.logSoftmax();
  assertClose(await p.toArray(), [1 / (1 + Math.E), 0, Math.E / (1 + Math.E), 0, 0, 1]);
  const l = await lp.toArray();
  assert.equal(l[1], -Infinity);
  assertClose([l[0], l[5]], [-Math.log(1 + Math.E), 0]);
  const r = tensor(randArray(3 * 200, 92, -5, 5), [3, 200]);
  const rs = r.softmax(1);
  const sums = rs.sum(1);
  assertClose(await sums.toArray(), [1, 1, 1], { rtol: 1e-5 });
  for (const t of [x, p, lp, r, rs, sums]) t.dispose();
});

Deno.test("softmax of a scalar is 1 and log-softmax is 0", async () => {
  const x = tensor([3.5], []);
  const p = softmax(x), lp = logSoftmax(x);
  assert.equal(await p.item(), 1);
  assert.equal(await lp.item(), 0);
  for (const t of [x, p, lp]) t.dispose();
});

Deno.test("cross-entropy via logSoftmax: gradient equals softmax - onehot", async () => {
  const logits = tensor([1, 2, 0.5, -1, 0, 3], [2, 3], { requiresGrad: true });
  const mask = tensor([0, 1, 0, 0, 0, 1], [2, 3]);
  const lp = logits.logSoftmax();
  const picked = lp.mul(mask);
  const loss = picked.sum().neg();
  loss.backward();
  const p = refSoftmax([1, 2, 0.5, -1, 0, 3], [2, 3], 1, false);
  assertClose(await logits.grad!.toArray(), p.map((v, i) => v - [0, 1, 0, 0, 0, 1][i]));
  for (const t of [logits, mask, lp, picked, loss]) t.dispose();
});
