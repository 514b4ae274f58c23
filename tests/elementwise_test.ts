/**
 * Elementwise ops: every entry of the op table, forward against its float64 reference and backward against
 * float64 finite differences, on odd sizes (scalar path), multiples of 4 (vec4 path), broadcasts and scalar
 * operands; plus where, full, broadcastTo, sumTo and cast.
 */
import { strict as assert } from "node:assert";
import {
  BINARY,
  binary,
  type BinaryOp,
  broadcastTo,
  cast,
  full,
  sumTo,
  type Tensor,
  tensor,
  UNARY,
  unary,
  type UnaryOp,
  where,
} from "../tensor/mod.ts";
import { assertClose, assertNoLeak, checkGrad, fromF64, randArray } from "./util.ts";

/** [7]: scalar path; [2, 4]: vec4 path; [3, 5] and [2, 3, 5]: multi-dim odd sizes. */
const SHAPES = [[7], [2, 4], [3, 5], [2, 3, 5]];

function size(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function draw(shape: number[], seed: number, domain: "positive" | "any" | undefined): Float64Array {
  return domain === "positive" ? randArray(size(shape), seed, 0.5, 2) : randArray(size(shape), seed, -2, 2);
}

/** Float64 broadcast of a binary reference: output index -> input indices. */
function broadcastRef(
  f: (a: number, b: number) => number,
  aShape: number[],
  bShape: number[],
): (a: Float64Array, b: Float64Array) => Float64Array {
  const n = Math.max(aShape.length, bShape.length);
  const pa = [...Array(n - aShape.length).fill(1), ...aShape];
  const pb = [...Array(n - bShape.length).fill(1), ...bShape];
  const out = pa.map((d, k) => Math.max(d, pb[k]));
  return (a, b) => {
    const y = new Float64Array(size(out));
    for (let i = 0; i < y.length; i++) {
      let rem = i, ia = 0, ib = 0, sa = 1, sb = 1;
      for (let k = n - 1; k >= 0; k--) {
        const c = rem % out[k];
        rem = Math.floor(rem / out[k]);
        if (pa[k] !== 1) ia += c * sa;
        if (pb[k] !== 1) ib += c * sb;
        sa *= pa[k];
        sb *= pb[k];
      }
      y[i] = f(a[ia], b[ib]);
    }
    return y;
  };
}

for (const [name, spec] of Object.entries(UNARY)) {
  const op = name as UnaryOp;
  const domain = "domain" in spec ? spec.domain : undefined;
  Deno.test(`unary ${op}: forward matches float64, backward matches finite differences`, async () => {
    for (const [s, shape] of SHAPES.entries()) {
      await checkGrad(
        ([x]) => unary(op, x),
        ([x]) => x.map(spec.ref),
        [{ shape, data: draw(shape, 100 + s, domain) }],
      );
    }
  });
}

const BROADCAST_CASES: [number[], number[]][] = [[[3, 5], [3, 5]], [[2, 4], [2, 4]], [[4, 1, 3], [2, 1]], [
  [3],
  [2, 3],
], [[2, 3, 5], []]];

for (const [name, spec] of Object.entries(BINARY)) {
  const op = name as BinaryOp;
  const domain = "domain" in spec ? spec.domain : undefined;
  if ("da" in spec) {
    Deno.test(`binary ${op}: same-shape, broadcast and scalar operands vs float64 and finite differences`, async () => {
      for (const [s, [aShape, bShape]] of BROADCAST_CASES.entries()) {
        await checkGrad(
          ([a, b]) => binary(op, a, b),
          ([a, b]) => broadcastRef(spec.ref, aShape, bShape)(a, b),
          [{ shape: aShape, data: draw(aShape, 200 + s, domain) }, {
            shape: bShape,
            data: draw(bShape, 300 + s, domain),
          }],
        );
      }
      const k = domain === "positive" ? 1.5 : -0.7;
      for (const shape of [[7], [2, 4]]) {
        await checkGrad(([a]) => binary(op, a, k), ([a]) => a.map((v) => spec.ref(v, k)), [{
          shape,
          data: draw(shape, 400, domain),
        }]);
      }
    });
  } else {
    Deno.test(`binary ${op}: comparison forward (with ties) and no gradient`, async () => {
      const levels = (n: number, seed: number) => randArray(n, seed, 0, 3).map(Math.floor);
      for (const [s, [aShape, bShape]] of BROADCAST_CASES.entries()) {
        const a = levels(size(aShape), 500 + s), b = levels(size(bShape), 600 + s);
        const ta = fromF64(a, aShape, true), tb = fromF64(b, bShape);
        const y = binary(op, ta, tb);
        assert.equal(y.requiresGrad, false, "comparisons are not differentiable");
        assertClose(await y.toArray(), broadcastRef(spec.ref, aShape, bShape)(a, b), { what: op });
        const ys = binary(op, ta, 1);
        assertClose(await ys.toArray(), a.map((v) => spec.ref(v, 1)), { what: `${op} scalar` });
        for (const t of [ta, tb, y, ys]) t.dispose();
      }
    });
  }
}

Deno.test("pow: negative base with integer exponents keeps the sign, fractional gives NaN", async () => {
  const a = tensor([-2, -3, 2, -1.5], [4]);
  const cube = binary("pow", a, 3), sq = binary("pow", a, 2), half = binary("pow", a, 0.5);
  assertClose(await cube.toArray(), [-8, -27, 8, -3.375]);
  assertClose(await sq.toArray(), [4, 9, 4, 2.25]);
  const h = await half.toArray();
  assert.ok(Number.isNaN(h[0]) && Number.isNaN(h[3]) && Math.abs(h[2] - Math.SQRT2) < 1e-6);
  for (const t of [a, cube, sq, half]) t.dispose();
});

Deno.test("unary ops on an i32 tensor convert to f32", async () => {
  const x = tensor([-2, 0, 3], [3], { dtype: "i32" });
  const y = unary("square", x), z = binary("add", x, 0.5);
  assert.equal(y.dtype, "f32");
  assertClose(await y.toArray(), [4, 0, 9]);
  assertClose(await z.toArray(), [-1.5, 0.5, 3.5]);
  for (const t of [x, y, z]) t.dispose();
});

Deno.test("binary: gradient of an f32 operand combined with an i32 tensor reads the integers correctly", async () => {
  const labels = [3, -1, 0, 7];
  await checkGrad(
    ([x]) => {
      const l = tensor(labels, [4], { dtype: "i32" });
      const y = binary("mul", l, x);
      l.dispose();
      return y;
    },
    ([x]) => x.map((v, i) => labels[i] * v),
    [{ shape: [4], data: randArray(4, 11) }],
  );
});

Deno.test("where: selects with a broadcast condition; gradients flow to the chosen branch", async () => {
  const cond = [1, 0, 0, 1, 1, 0];
  await checkGrad(
    ([a, b]) => {
      const c = tensor(cond, [2, 3]);
      const y = where(c, a, b);
      c.dispose();
      return y;
    },
    ([a, b]) => cond.map((c, i) => (c ? a[i % 3] : b[i])),
    [{ shape: [3], data: randArray(3, 1) }, { shape: [2, 3], data: randArray(6, 2) }],
  );
  const x = tensor([-1, 2, -3, 4], [4]);
  const pos = binary("gt", x, 0);
  const relu = where(pos, x, 0), flip = where(pos, -1, x);
  assertClose(await relu.toArray(), [0, 2, 0, 4]);
  assertClose(await flip.toArray(), [-1, -1, -3, -1]);
  for (const t of [x, pos, relu, flip]) t.dispose();
});

Deno.test("full: f32 and i32 fills, including an odd size and a scalar", async () => {
  const a = full([3, 5], -2.5), b = full([7], 9, "i32"), c = full([], 4);
  assertClose(await a.toArray(), new Array(15).fill(-2.5));
  assert.deepEqual([...await b.toTypedArray()], new Array(7).fill(9));
  assert.equal(b.dtype, "i32");
  assert.equal(await c.item(), 4);
  for (const t of [a, b, c]) t.dispose();
});

Deno.test("broadcastTo: materialises [4,1,3] <- [1,3] and [2,1]; gradient sums back", async () => {
  await checkGrad(
    ([x]) => broadcastTo(x, [4, 2, 3]),
    ([x]) => Float64Array.from({ length: 24 }, (_, i) => x[i % 3]),
    [{ shape: [1, 3], data: randArray(3, 3) }],
  );
  await checkGrad(
    ([x]) => broadcastTo(x, [4, 2, 3]),
    ([x]) => Float64Array.from({ length: 24 }, (_, i) => x[Math.floor(i / 3) % 2]),
    [{ shape: [2, 1], data: randArray(2, 4) }],
  );
  assert.throws(() => broadcastTo(tensor([1, 2], [2]), [3]), /broadcast/);
});

Deno.test("sumTo: reduces leading and size-1 axes back to the source shape", async () => {
  const x = fromF64(randArray(24, 5), [4, 2, 3]);
  const data = await x.toArray();
  const s13 = sumTo(x, [1, 3]), s21 = sumTo(x, [2, 1]), same = sumTo(x, [4, 2, 3]);
  const e13 = [0, 0, 0], e21 = [0, 0];
  data.forEach((v, i) => {
    e13[i % 3] += v;
    e21[Math.floor(i / 3) % 2] += v;
  });
  assert.deepEqual(s13.shape, [1, 3]);
  assertClose(await s13.toArray(), e13);
  assertClose(await s21.toArray(), e21);
  assertClose(await same.toArray(), data);
  for (const t of [x, s13, s21, same]) t.dispose();
});

Deno.test("cast: f32 -> i32 truncates toward zero; i32 -> f32 and u32 round trip", async () => {
  const x = tensor([1.7, -1.7, 0, 123456, -0.2], [5]);
  const i = cast(x, "i32");
  assert.equal(i.dtype, "i32");
  assert.deepEqual([...await i.toTypedArray()], [1, -1, 0, 123456, 0]);
  const f = cast(i, "f32"), u = cast(tensor([3, 4000000000], [2], { dtype: "u32" }), "u32");
  assertClose(await f.toArray(), [1, -1, 0, 123456, 0]);
  assert.deepEqual([...await u.toTypedArray()], [3, 4000000000]);
  for (const t of [x, i, f, u]) t.dispose();
});

Deno.test("elementwise forward and backward leave no live buffers behind", async () => {
  await assertNoLeak(async () => {
    const a = fromF64(randArray(12, 8), [4, 1, 3], true);
    const b = fromF64(randArray(2, 9), [2, 1], true);
    const th = unary("tanh", a);
    const y = binary("mul", th, b);
    const loss = y.sum();
    loss.backward();
    assert.ok(a.grad && b.grad);
    await a.grad.toArray();
    for (const t of [a, b, th, y, loss] as Tensor[]) t.dispose();
  }, "mul/tanh forward+backward");
});
