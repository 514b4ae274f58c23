/**
 * Data-moving shape ops (permute, slice, pad, concat, stack) and integer indexing (gather, scatterAdd,
 * oneHot): forward against float64 index arithmetic, backward against finite differences.
 */
import { strict as assert } from "node:assert";
import {
  bufferPool,
  concat,
  gather,
  oneHot,
  pad,
  permute,
  scatterAdd,
  slice,
  stack,
  type Tensor,
  tensor,
} from "../tensor/mod.ts";
import { assertClose, assertNoLeak, checkGrad, randArray } from "./util.ts";

function size(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function strides(shape: readonly number[]): number[] {
  const s = shape.map(() => 1);
  for (let k = shape.length - 2; k >= 0; k--) s[k] = s[k + 1] * shape[k + 1];
  return s;
}

/** Calls `f(outIndex, coords)` for every element of `shape` in row-major order. */
function each(shape: readonly number[], f: (i: number, c: number[]) => void): void {
  const n = size(shape);
  for (let i = 0; i < n; i++) {
    let rem = i;
    const c = new Array(shape.length);
    for (let k = shape.length - 1; k >= 0; k--) {
      c[k] = rem % shape[k];
      rem = Math.floor(rem / shape[k]);
    }
    f(i, c);
  }
}

function refPermute(x: Float64Array, shape: number[], axes: number[]): Float64Array {
  const out = axes.map((a) => shape[a]);
  const st = strides(shape);
  const y = new Float64Array(x.length);
  each(out, (i, c) => (y[i] = x[c.reduce((acc, v, k) => acc + v * st[axes[k]], 0)]));
  return y;
}

function refSlice(x: Float64Array, shape: number[], axis: number, s: number, e: number): Float64Array {
  const out = [...shape];
  out[axis] = e - s;
  const st = strides(shape);
  const y = new Float64Array(size(out));
  each(out, (i, c) => (y[i] = x[c.reduce((acc, v, k) => acc + (k === axis ? v + s : v) * st[k], 0)]));
  return y;
}

Deno.test("permute: 2-d transpose and every permutation of [2, 3, 4] with gradients", async () => {
  await checkGrad(([x]) => permute(x, [1, 0]), ([x]) => refPermute(x, [3, 5], [1, 0]), [{
    shape: [3, 5],
    data: randArray(15, 1),
  }]);
  const perms = [[0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0], [0, 1, 2]];
  for (const [s, axes] of perms.entries()) {
    await checkGrad(([x]) => permute(x, axes), ([x]) => refPermute(x, [2, 3, 4], axes), [{
      shape: [2, 3, 4],
      data: randArray(24, 10 + s),
    }]);
  }
});

Deno.test("permute: size-1 axes, negative axes, transpose() and integer dtypes", async () => {
  const x = tensor([0, 1, 2, 3, 4, 5], [1, 2, 3], { dtype: "i32" });
  const p = permute(x, [-1, 0, 1]);
  assert.equal(p.dtype, "i32");
  assert.deepEqual(p.shape, [3, 1, 2]);
  assert.deepEqual([...await p.toTypedArray()], [0, 3, 1, 4, 2, 5]);
  const f = tensor([1, 2, 3, 4, 5, 6], [2, 3]);
  const t = f.transpose();
  assert.deepEqual(t.shape, [3, 2]);
  assertClose(await t.toArray(), [1, 4, 2, 5, 3, 6]);
  assert.throws(() => permute(f, [0, 0]), /not a permutation/);
  // An axis past the tensor's rank is an error, not wrapped around (transpose(0, 5) once swapped 0 and 1).
  assert.throws(() => f.transpose(0, 5), /^Error: lzn: axis 5 out of range for a 2-d tensor$/);
  assert.throws(() => f.transpose(-3, 0), /axis -3 out of range for a 2-d tensor/);
  // A dtype outside the three is refused before anything is uploaded (plain JavaScript has no type check).
  const live = bufferPool.live;
  assert.throws(
    () => tensor([1], [1], { dtype: "float32" as never }),
    /^Error: lzn: dtype must be "f32", "i32" or "u32", got "float32"$/,
  );
  assert.equal(bufferPool.live, live);
  for (const v of [x, p, f, t]) v.dispose();
});

Deno.test("slice: every axis of [3, 4, 5] with gradients (zeros outside the slice)", async () => {
  const shape = [3, 4, 5];
  const cases: [number, number, number][] = [[0, 1, 3], [1, 0, 1], [2, 2, 5], [2, 1, 4]];
  for (const [s, [axis, a, b]] of cases.entries()) {
    await checkGrad(([x]) => slice(x, axis, a, b), ([x]) => refSlice(x, shape, axis, a, b), [{
      shape,
      data: randArray(60, 20 + s),
    }]);
  }
});

Deno.test("slice: negative indices, clamping, empty results and integer dtypes", async () => {
  const x = tensor([0, 1, 2, 3, 4, 5, 6, 7], [2, 4], { dtype: "i32" });
  const last = slice(x, -1, -1),
    mid = x.slice(1, 1, -1),
    clamped = slice(x, 0, -10, 10),
    empty = slice(x, 1, 3, 2);
  assert.deepEqual(last.shape, [2, 1]);
  assert.deepEqual([...await last.toTypedArray()], [3, 7]);
  assert.deepEqual([...await mid.toTypedArray()], [1, 2, 5, 6]);
  assert.deepEqual([...await clamped.toTypedArray()], [0, 1, 2, 3, 4, 5, 6, 7]);
  assert.deepEqual(empty.shape, [2, 0]);
  assert.equal(empty.size, 0);
  for (const t of [x, last, mid, clamped, empty]) t.dispose();
});

Deno.test("pad: zeros or a value around any axis; gradient is the inner slice", async () => {
  await checkGrad(([x]) => pad(x, 1, 2, 1), ([x]) => {
    const y = new Float64Array(3 * 6);
    each([3, 3], (i, [r, c]) => (y[r * 6 + c + 2] = x[i]));
    return y;
  }, [{ shape: [3, 3], data: randArray(9, 30) }]);
  const p = pad(tensor([1, 2, 3, 4], [2, 2]), 0, 1, 0, -1);
  assertClose(await p.toArray(), [-1, -1, 1, 2, 3, 4]);
  p.dispose();
});

Deno.test("concat: along each axis of three inputs, with gradients", async () => {
  const shapes = [[2, 3, 2], [2, 1, 2], [2, 4, 2]];
  await checkGrad(
    (xs) => concat(xs, 1),
    (xs) => {
      const out = new Float64Array(2 * 8 * 2);
      let off = 0;
      xs.forEach((x, k) => {
        const len = shapes[k][1];
        each(shapes[k], (i, [a, b, c]) => (out[a * 16 + (b + off) * 2 + c] = x[i]));
        off += len;
      });
      return out;
    },
    shapes.map((shape, s) => ({ shape, data: randArray(size(shape), 40 + s) })),
  );
  await checkGrad(
    (xs) => concat(xs, 0),
    (xs) => Float64Array.from([...xs[0], ...xs[1]]),
    [{ shape: [1, 3], data: randArray(3, 43) }, { shape: [2, 3], data: randArray(6, 44) }],
  );
  await checkGrad(
    (xs) => concat(xs, -1),
    ([a, b]) => Float64Array.from([a[0], b[0], b[1], a[1], b[2], b[3]]),
    [{ shape: [2, 1], data: randArray(2, 45) }, { shape: [2, 2], data: randArray(4, 46) }],
  );
});

Deno.test("concat: inputs without grad get none; mismatched shapes throw", async () => {
  const a = tensor([1, 2], [1, 2], { requiresGrad: true }), b = tensor([3, 4], [1, 2]);
  const c = concat([b, a], 0);
  const loss = c.sum();
  loss.backward();
  assertClose(await c.toArray(), [3, 4, 1, 2]);
  assertClose(await a.grad!.toArray(), [1, 1]);
  assert.equal(b.grad, undefined);
  assert.throws(() => concat([a, tensor([1, 2, 3], [1, 3])], 0), /incompatible/);
  for (const t of [a, b, c, loss]) t.dispose();
});

Deno.test("stack: new leading and trailing axes, with gradients", async () => {
  await checkGrad(
    (xs) => stack(xs, 0),
    (xs) => Float64Array.from([...xs[0], ...xs[1], ...xs[2]]),
    [0, 1, 2].map((s) => ({ shape: [2, 3], data: randArray(6, 50 + s) })),
  );
  await checkGrad(
    (xs) => stack(xs, -1),
    ([a, b]) => Float64Array.from([a[0], b[0], a[1], b[1], a[2], b[2]]),
    [{ shape: [3], data: randArray(3, 53) }, { shape: [3], data: randArray(3, 54) }],
  );
});

Deno.test("gather: selects rows (repeated indices), index tensors of any shape, gradient scatter-adds", async () => {
  const idx = [3, 0, 3, 1, 3];
  await checkGrad(
    ([x]) => {
      const i = tensor(idx, [5], { dtype: "i32" });
      const y = gather(x, i);
      i.dispose(); // the graph keeps the indices alive for backward
      return y;
    },
    ([x]) => Float64Array.from(idx.flatMap((r) => [...x.slice(r * 3, r * 3 + 3)])),
    [{ shape: [4, 3], data: randArray(12, 60) }],
  );
  const table = tensor([10, 11, 12], [3]);
  const ix = tensor([2, 0, 1, 2], [2, 2], { dtype: "u32" });
  const g = gather(table, ix);
  assert.deepEqual(g.shape, [2, 2]);
  assertClose(await g.toArray(), [12, 10, 11, 12]);
  for (const t of [table, ix, g]) t.dispose();
});

Deno.test("gather: out-of-range and negative indices read zeros instead of memory", async () => {
  const x = tensor([1, 2, 3, 4], [2, 2]);
  const i = tensor([1, 5, -1], [3], { dtype: "i32" });
  const y = gather(x, i);
  assertClose(await y.toArray(), [3, 4, 0, 0, 0, 0]);
  assert.throws(() => gather(x, tensor([0], [1])), /i32 or u32/);
  for (const t of [x, i, y]) t.dispose();
});

Deno.test("scatterAdd: accumulates repeated indices in order; its gradient is a gather", async () => {
  const idx = [1, 0, 1, 1, 4];
  await checkGrad(
    ([s]) => {
      const i = tensor(idx, [5], { dtype: "i32" });
      const y = scatterAdd(s, i, 3);
      i.dispose();
      return y;
    },
    ([s]) => {
      const y = new Float64Array(3 * 2);
      idx.forEach((r, j) => {
        if (r < 3) { for (let c = 0; c < 2; c++) y[r * 2 + c] += s[j * 2 + c]; }
      });
      return y;
    },
    [{ shape: [5, 2], data: randArray(10, 61) }],
  );
});

Deno.test("oneHot: i32 and u32 labels, any label shape, out-of-range rows are zero", async () => {
  const a = oneHot(tensor([2, 0, 1, 7, -1], [5], { dtype: "i32" }), 3);
  assert.deepEqual(a.shape, [5, 3]);
  assertClose(await a.toArray(), [0, 0, 1, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0]);
  const b = oneHot(tensor([1, 0, 0, 1], [2, 2], { dtype: "u32" }), 2);
  assert.deepEqual(b.shape, [2, 2, 2]);
  assertClose(await b.toArray(), [0, 1, 1, 0, 1, 0, 0, 1]);
  a.dispose();
  b.dispose();
});

Deno.test("shape ops with gradients leave no live buffers after backward and dispose", async () => {
  await assertNoLeak(async () => {
    const x = tensor(randArray(24, 70), [2, 3, 4], { requiresGrad: true });
    const idx = tensor([1, 0, 1], [3], { dtype: "i32" });
    const parts: Tensor[] = [];
    const p = permute(x, [2, 0, 1]);
    const s = slice(p, 0, 1, 3);
    const c = concat([s, s], 1);
    const st = stack([c, c], 0);
    const g = gather(x, idx);
    const loss1 = st.sum(), loss2 = g.sum();
    const loss = loss1.add(loss2);
    parts.push(p, s, c, st, g, loss1, loss2, loss);
    loss.backward();
    await x.grad!.toArray();
    for (const t of [x, idx, ...parts]) t.dispose();
  }, "permute/slice/concat/stack/gather step");
});
