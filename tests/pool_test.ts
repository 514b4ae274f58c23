/**
 * avgPool2d and upsampleNearest2d against float64 references (forward) and finite differences (backward),
 * including ragged edges that the pooling drops and leading dims other than [N, C].
 */
import { strict as assert } from "node:assert";
import { avgPool2d, tensor, upsampleNearest2d } from "../tensor/mod.ts";
import { assertNoLeak, checkGrad, randArray } from "./util.ts";

/** Splits a shape into (planes, H, W). */
function planes(shape: number[]): [number, number, number] {
  const [H, W] = shape.slice(-2);
  return [shape.slice(0, -2).reduce((a, b) => a * b, 1), H, W];
}

function avgPoolRef(x: Float64Array, shape: number[], k: number): Float64Array {
  const [P, H, W] = planes(shape);
  const HO = Math.floor(H / k), WO = Math.floor(W / k);
  const y = new Float64Array(P * HO * WO);
  for (let p = 0; p < P; p++) {
    for (let i = 0; i < HO; i++) {
      for (let j = 0; j < WO; j++) {
        let s = 0;
        for (let r = 0; r < k; r++) for (let c = 0; c < k; c++) s += x[(p * H + i * k + r) * W + j * k + c];
        y[(p * HO + i) * WO + j] = s / (k * k);
      }
    }
  }
  return y;
}

function upsampleRef(x: Float64Array, shape: number[], f: number): Float64Array {
  const [P, H, W] = planes(shape);
  const y = new Float64Array(P * H * f * W * f);
  for (let p = 0; p < P; p++) {
    for (let i = 0; i < H * f; i++) {
      for (let j = 0; j < W * f; j++) {
        y[(p * H * f + i) * W * f + j] = x[(p * H + Math.floor(i / f)) * W + Math.floor(j / f)];
      }
    }
  }
  return y;
}

const poolCases: [number[], number][] = [[[2, 3, 6, 6], 2], [[2, 3, 7, 5], 2], [[1, 2, 9, 7], 3], [
  [4, 6, 4],
  2,
]];
for (const [shape, k] of poolCases) {
  Deno.test(`avgPool2d k=${k} on [${shape}]`, async () => {
    const n = shape.reduce((a, b) => a * b, 1);
    await checkGrad((xs) => avgPool2d(xs[0], k), (xs) => avgPoolRef(xs[0], shape, k), [{
      shape,
      data: randArray(n, 3),
    }]);
  });
}

const upCases: [number[], number][] = [[[2, 3, 3, 2], 2], [[1, 2, 2, 3], 3], [[3, 1, 1], 2]];
for (const [shape, f] of upCases) {
  Deno.test(`upsampleNearest2d factor ${f} on [${shape}]`, async () => {
    const n = shape.reduce((a, b) => a * b, 1);
    await checkGrad((xs) => upsampleNearest2d(xs[0], f), (xs) => upsampleRef(xs[0], shape, f), [{
      shape,
      data: randArray(n, 4),
    }]);
  });
}

Deno.test("avgPool2d of upsampleNearest2d is the identity, without leaks", async () => {
  const data = randArray(2 * 3 * 4 * 4, 8);
  await assertNoLeak(async () => {
    const x = tensor(Float32Array.from(data), [2, 3, 4, 4]);
    const up = upsampleNearest2d(x, 2);
    assert.deepEqual(up.shape, [2, 3, 8, 8]);
    const back = avgPool2d(up, 2);
    const got = await back.toArray();
    got.forEach((v, i) => assert.ok(Math.abs(v - Math.fround(data[i])) < 1e-6, `element ${i}`));
    for (const t of [x, up, back]) t.dispose();
  });
});

Deno.test("pooling rejects bad factors", () => {
  const x = tensor(new Float32Array(4), [1, 1, 2, 2]);
  assert.throws(() => avgPool2d(x, 3), /larger than the input/);
  assert.throws(() => upsampleNearest2d(x, 0), /positive integer/);
  x.dispose();
});
