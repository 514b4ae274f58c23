/**
 * Reductions: sum, mean, max, min and logsumexp over single axes, several axes and all axes, with and without
 * keepDims, on extents that take the one-thread path (<= 64) and the workgroup-tree path (> 64, > 256),
 * forward against float64 and backward against finite differences; argmax including ties.
 */
import { strict as assert } from "node:assert";
import {
  argmax,
  beginDispatchTiming,
  endDispatchTiming,
  gpu,
  reduce,
  type ReduceOp,
  tensor,
} from "../tensor/mod.ts";
import { assertClose, checkGrad, fromF64, randArray } from "./util.ts";

const REF: Record<ReduceOp, (v: number[]) => number> = {
  sum: (v) => v.reduce((a, b) => a + b, 0),
  mean: (v) => v.reduce((a, b) => a + b, 0) / v.length,
  // Loops, not spreads: the split-path case reduces 2M values, past the engine's argument limit.
  max: (v) => v.reduce((a, b) => (b > a ? b : a), -Infinity),
  min: (v) => v.reduce((a, b) => (b < a ? b : a), Infinity),
  logsumexp: (v) => {
    const m = v.reduce((a, b) => (b > a ? b : a), -Infinity);
    return m + Math.log(v.reduce((a, b) => a + Math.exp(b - m), 0));
  },
};

/** Float64 reduction of a row-major array over `axes`; output in row-major order of the kept axes. */
function refReduce(
  x: ArrayLike<number>,
  shape: number[],
  axes: number[],
  f: (v: number[]) => number,
): Float64Array {
  const kept = shape.map((_, k) => k).filter((k) => !axes.includes(k));
  const outSize = kept.reduce((a, k) => a * shape[k], 1);
  const groups: number[][] = Array.from({ length: outSize }, () => []);
  for (let i = 0; i < x.length; i++) {
    let rem = i, o = 0, mul = 1;
    for (let k = shape.length - 1; k >= 0; k--) {
      const c = rem % shape[k];
      rem = Math.floor(rem / shape[k]);
      if (!axes.includes(k)) {
        o += c * mul;
        mul *= shape[k];
      }
    }
    groups[o].push(x[i]);
  }
  return Float64Array.from(groups, f);
}

function check(op: ReduceOp, shape: number[], axes: number[] | undefined, keepDims: boolean, seed: number) {
  const all = (axes ?? shape.map((_, k) => k)).map((a) => (a < 0 ? a + shape.length : a));
  const n = shape.reduce((a, b) => a * b, 1);
  return checkGrad(
    ([x]) => {
      const y = reduce(op, x, axes, keepDims);
      const expect = keepDims
        ? shape.map((d, k) => (all.includes(k) ? 1 : d))
        : shape.filter((_, k) => !all.includes(k));
      assert.deepEqual(y.shape, expect, `${op} output shape`);
      return y;
    },
    ([x]) => refReduce(x, shape, all, REF[op]),
    [{ shape, data: distinctValues(n, seed) }],
  );
}

/**
 * `n` distinct values in (-2, 2), shuffled, at least 4/n apart: the finite differences of max/min are only
 * meaningful when no two candidates lie within the step h of each other (random draws of 3000 do).
 */
function distinctValues(n: number, seed: number): Float64Array {
  const keys = randArray(n, seed);
  const order = [...keys.keys()].sort((a, b) => keys[a] - keys[b]);
  const out = new Float64Array(n);
  order.forEach((pos, rank) => (out[pos] = -2 + (4 * (rank + 0.5)) / n));
  return out;
}

const OPS: ReduceOp[] = ["sum", "mean", "max", "min", "logsumexp"];

for (const op of OPS) {
  Deno.test(`${op}: each single axis of [2, 3, 5] (and negative axes)`, async () => {
    for (const axis of [0, 1, 2]) await check(op, [2, 3, 5], [axis], false, 10 + axis);
    await check(op, [2, 3, 5], [-1], true, 13);
    await check(op, [7], [0], false, 14);
  });

  Deno.test(`${op}: several axes, all axes, keepDims`, async () => {
    await check(op, [2, 3, 5], [0, 2], false, 20);
    await check(op, [2, 3, 5], [2, 0], true, 21);
    await check(op, [2, 3, 5], undefined, false, 22);
    await check(op, [2, 3, 5], undefined, true, 23);
  });

  Deno.test(`${op}: large reduced extents take the workgroup-tree path ([3, 100], [3, 1000], axis 0 of [300, 2])`, async () => {
    await check(op, [3, 100], [1], false, 30);
    await check(op, [3, 1000], [1], false, 31);
    await check(op, [300, 2], [0], true, 32);
  });
}

Deno.test("reductions through the Tensor methods (default: all axes)", async () => {
  const x = tensor([1, 2, 3, 4, 5, 6], [2, 3]);
  const s = x.sum(), m = x.mean(1), mx = x.max(0, true), lse = x.logsumexp(-1);
  assert.equal(await s.item(), 21);
  assertClose(await m.toArray(), [2, 5]);
  assert.deepEqual(mx.shape, [1, 3]);
  assertClose(await mx.toArray(), [4, 5, 6]);
  assertClose(await lse.toArray(), [REF.logsumexp([1, 2, 3]), REF.logsumexp([4, 5, 6])]);
  for (const t of [x, s, m, mx, lse]) t.dispose();
});

Deno.test("logsumexp is stable for logits of magnitude 1e8 and -inf entries", async () => {
  const x = tensor([1e8, 1e8, -1e8, -1e8, 0, -Infinity], [3, 2]);
  const y = x.logsumexp(1);
  assertClose(await y.toArray(), [1e8 + Math.LN2, -1e8 + Math.LN2, 0], { rtol: 1e-6 });
  x.dispose();
  y.dispose();
});

Deno.test("max/min gradient is split evenly among tied maxima (the total stays g)", async () => {
  const x = tensor([1, 3, 3, 2, 0, 0], [2, 3], { requiresGrad: true });
  const y = x.max(1);
  const z = x.min(1);
  const loss = y.sum().add(z.sum());
  loss.backward();
  assertClose(await x.grad!.toArray(), [1, 0.5, 0.5, 1, 0.5, 0.5]);
  for (const t of [x, y, z, loss]) t.dispose();
});

Deno.test("argmax: every axis of [2, 3, 5] against float64", async () => {
  const shape = [2, 3, 5];
  const data = randArray(30, 40);
  const x = fromF64(data, shape);
  for (const axis of [0, 1, 2]) {
    const idx = argmax(x, axis);
    assert.equal(idx.dtype, "i32");
    const expect = refReduce(Float32Array.from(data), shape, [axis], (v) => v.indexOf(Math.max(...v)));
    assert.deepEqual([...await idx.toTypedArray()], [...expect], `argmax axis ${axis}`);
    idx.dispose();
  }
  const kept = x.argmax(1, true);
  assert.deepEqual(kept.shape, [2, 1, 5]);
  kept.dispose();
  x.dispose();
});

Deno.test("argmax: ties resolve to the first index, on both the thread and the tree path", async () => {
  const small = tensor([5, 1, 5, 5, 0, 0, 0, 0, 2, 7, 7, 1], [3, 4]);
  const a = argmax(small, 1);
  assert.deepEqual([...await a.toTypedArray()], [0, 0, 1]);
  // 1000 columns: maxima at 700 and 300 (row 0), everywhere (row 1), the last element (row 2).
  const big = new Float32Array(3000);
  big[700] = 9;
  big[300] = 9;
  big.fill(-4, 1000, 2000);
  big[2999] = 1;
  const tb = tensor(big, [3, 1000]);
  const b = argmax(tb, 1);
  assert.deepEqual([...await b.toTypedArray()], [300, 0, 999]);
  for (const t of [small, a, tb, b]) t.dispose();
});

Deno.test("reduce rejects integer tensors and out-of-range axes with clear errors", () => {
  const i = tensor([1, 2], [2], { dtype: "i32" });
  assert.throws(() => reduce("sum", i), /f32/);
  const f = tensor([1, 2], [2]);
  assert.throws(() => reduce("sum", f, 1), /axis 1 out of range/);
  i.dispose();
  f.dispose();
});

Deno.test("long extents with few outputs take the split path (partials + merge) and match float64", async () => {
  const hasTimestamps = gpu().adapter.features.includes("timestamp-query");
  const cases: [number[], number[] | undefined][] = [
    [[20000], undefined], // full reduction, 1 output
    [[40, 3, 300], [0, 2]], // 3 outputs of 12000 (a bias-gradient shape)
    [[3, 9001], [1]], // 3 outputs, an extent that does not divide evenly
    [[1 << 21], undefined], // under the GPU tuning: 512 partials, more than the merge's 256 threads
  ];
  for (const [shape, axes] of cases) {
    const n = shape.reduce((a, b) => a * b, 1);
    const all = axes ?? shape.map((_, k) => k);
    const redCount = all.reduce((a, k) => a * shape[k], 1);
    const data = randArray(n, 7 + n, -3, 3);
    const x = fromF64(data, shape);
    for (const op of OPS) {
      if (hasTimestamps) {
        // Which kernels ran (the timed run is only inspected for names; values come from the untimed run).
        beginDispatchTiming();
        let names: string[] = [];
        try {
          reduce(op, x, axes).dispose();
        } finally {
          names = (await endDispatchTiming()).map((t) => t.name);
        }
        // Kernels are cached by source, so mean's first pass may carry sum's name: check the plan's shape.
        assert.ok(
          names.length === 2 && names[0].endsWith("_split") && names[1].endsWith("_merge"),
          `${op} on [${shape}] should run split + merge, ran ${names.join(", ")}`,
        );
      }
      const y = reduce(op, x, axes);
      // f32 sums of redCount terms of size <= 3: an absolute error of 1e-5 * 3 * sqrt(redCount) is the budget;
      // a mean's is redCount times smaller.
      const expect = refReduce(data, shape, all, REF[op]);
      const sumBudget = 1e-5 * 3 * Math.sqrt(redCount);
      const atol = op === "mean" ? sumBudget / redCount : sumBudget;
      assertClose(await y.toArray(), expect, { rtol: 1e-5, atol, what: `${op} [${shape}]` });
      y.dispose();
    }
    x.dispose();
  }
});

Deno.test("max, min and argmax propagate NaN as sum does (argmax: the first NaN); an axis named twice is an error", async () => {
  const x = tensor([NaN, 1, 2, 3, NaN, -1, 4, 5, 6], [3, 3]);
  assert.deepEqual([...await x.max(1).toArray()].map(String), ["NaN", "NaN", "6"]);
  assert.deepEqual([...await x.min(1).toArray()].map(String), ["NaN", "NaN", "4"]);
  assert.deepEqual([...await argmax(x, 1).toArray()], [0, 1, 2]);
  // The split path (a long extent, few outputs) merges partial states the same way.
  const long = tensor(Float32Array.from({ length: 100000 }, (_, i) => (i === 77777 ? NaN : i)), [100000]);
  assert.ok(Number.isNaN((await long.max().toArray())[0]));
  assert.deepEqual([...await argmax(long, 0).toArray()], [77777]);
  assert.throws(() => x.sum([0, 0]), /reduction axes \[0,0\] name an axis twice/);
  assert.throws(() => x.max([1, -1]), /name an axis twice/);
  for (const t of [x, long]) t.dispose();
});
