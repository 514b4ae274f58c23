/**
 * Losses of `tensor/nn`: the NT-Xent (SimCLR) loss and the softmax cross-entropy, values and gradients
 * against float64 references.
 */
import { strict as assert } from "node:assert";
import { tensor } from "../tensor/mod.ts";
import { ntXent } from "../tensor/nn/contrastive.ts";
import { crossEntropy, mseLoss } from "../tensor/nn/losses.ts";
import { assertNoLeak, checkGrad, randArray } from "./util.ts";

/** SimCLR's NT-Xent in float64: mean over the 2B rows, self-similarity left out of each denominator. */
function ntXentRef(z1: Float64Array, z2: Float64Array, b: number, d: number, temperature: number): number {
  const n = 2 * b;
  const rows = Array.from({ length: n }, (_, i) => {
    const src = i < b ? z1 : z2, r = i % b;
    const v = src.subarray(r * d, (r + 1) * d);
    const norm = Math.sqrt(v.reduce((s, x) => s + x * x, 0));
    return v.map((x) => x / Math.max(norm, 1e-12));
  });
  let loss = 0;
  for (let i = 0; i < n; i++) {
    const logits: number[] = [];
    for (let k = 0; k < n; k++) {
      if (k !== i) logits.push(rows[i].reduce((s, x, j) => s + x * rows[k][j], 0) / temperature);
    }
    const m = Math.max(...logits);
    const lse = m + Math.log(logits.reduce((s, v) => s + Math.exp(v - m), 0));
    const p = (i + b) % n;
    const positive = rows[i].reduce((s, x, j) => s + x * rows[p][j], 0) / temperature;
    loss += lse - positive;
  }
  return loss / n;
}

for (const temperature of [0.5, 0.1]) {
  Deno.test(`ntXent: value and gradient against float64 (B = 3, d = 4, T = ${temperature})`, async () => {
    const b = 3, d = 4;
    await checkGrad(
      ([x1, x2]) => {
        const loss = ntXent(x1, x2, temperature), flat = loss.reshape([1]);
        loss.dispose(); // the view keeps the storage; checkGrad disposes the view
        return flat;
      },
      ([x1, x2]) => [ntXentRef(x1, x2, b, d, temperature)],
      [{ shape: [b, d], data: randArray(b * d, 11, -2, 2) }, {
        shape: [b, d],
        data: randArray(b * d, 12, -2, 2),
      }],
    );
  });
}

Deno.test("ntXent: forward and backward free every intermediate once the loss and gradients are gone", async () => {
  const z1 = tensor(Float32Array.from(randArray(8, 13)), [2, 4], { requiresGrad: true });
  const z2 = tensor(Float32Array.from(randArray(8, 14)), [2, 4], { requiresGrad: true });
  await assertNoLeak(() => {
    const loss = ntXent(z1, z2, 0.3);
    loss.backward();
    loss.dispose();
    for (const z of [z1, z2]) {
      z.grad!.dispose();
      z.grad = undefined;
    }
  }, "ntXent");
  z1.dispose();
  z2.dispose();
});

Deno.test("ntXent: self-similarity is excluded; a zero row stays finite; bad inputs are rejected", async () => {
  // B = 1: each row's only other row is its positive, so the loss is exactly 0 with the diagonal excluded
  // (it would be log(1 + e^{(1 - cos)/T}) > 0 with the diagonal in the denominator).
  const a = tensor([1, 2, 3], [1, 3]), c = tensor([-1, 0.5, 2], [1, 3]);
  const single = ntXent(a, c, 0.2);
  assert.equal(Math.abs(await single.item()), 0); // -0: the loss is the negated mean
  // An all-zero row is divided by F.normalize's clamped norm, not by 0: its cosines are 0, the loss finite.
  const zero = tensor([0, 0, 0, 1, 1, 1], [2, 3]), other = tensor([1, 0, 0, 0, 1, 0], [2, 3]);
  const zl = ntXent(zero, other, 0.5);
  const want = ntXentRef(
    Float64Array.from([0, 0, 0, 1, 1, 1]),
    Float64Array.from([1, 0, 0, 0, 1, 0]),
    2,
    3,
    0.5,
  );
  assert.ok(Math.abs(await zl.item() - want) < 1e-5, `zero row: ${await zl.item()} vs ${want}`);
  assert.throws(() => ntXent(a, zero, 0.5), /views must both be \[B, d\], got \[1,3\] and \[2,3\]/);
  assert.throws(() => ntXent(a, c, 0), /temperature must be a positive number, got 0/);
  for (const t of [a, c, single, zero, other, zl]) t.dispose();
});

Deno.test("crossEntropy: value and gradient against float64; large logits stay finite", async () => {
  const n = 3, c = 4, labels = [2, 0, 3];
  const logits = randArray(n * c, 31, -3, 3);
  await checkGrad(
    ([x]) => crossEntropy(x, Int32Array.from(labels)).reshape([1]),
    ([x]) => {
      let loss = 0;
      for (let i = 0; i < n; i++) {
        const row = x.subarray(i * c, (i + 1) * c), m = Math.max(...row);
        const lse = m + Math.log(row.reduce((s, v) => s + Math.exp(v - m), 0));
        loss += lse - row[labels[i]];
      }
      return [loss / n];
    },
    [{ shape: [n, c], data: logits }],
  );
  const big = tensor([1e4, 0, 0, 1e4], [2, 2]);
  const loss = crossEntropy(big, Int32Array.of(0, 1));
  assert.ok(Math.abs(await loss.item()) < 1e-6, "confident correct logits give ~0 and stay finite");
  assert.throws(() => crossEntropy(big, Int32Array.of(0)), /1 labels for 2 rows of logits/);
  assert.throws(() => crossEntropy(big.reshape([4]), Int32Array.of(0)), /logits must be \[n, classes\]/);
  big.dispose();
  loss.dispose();
});

Deno.test("mseLoss: value and gradient in both arguments against float64; shapes must match", async () => {
  const a = randArray(6, 41, -2, 2), b = randArray(6, 42, -2, 2);
  await checkGrad(
    ([p, t]) => mseLoss(p, t).reshape([1]),
    ([p, t]) => [p.reduce((s, v, i) => s + (v - t[i]) ** 2, 0) / p.length],
    [{ shape: [3, 2], data: a }, { shape: [3, 2], data: b }],
  );
  const p = tensor([1, 2, 3], [3, 1]), t = tensor([1, 0, 0], [3]);
  assert.throws(
    () => mseLoss(p, t),
    /^Error: lzn: mseLoss: prediction \[3, 1\] and target \[3\] differ in shape$/,
  );
  p.dispose();
  t.dispose();
});
