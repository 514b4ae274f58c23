/**
 * Autograd and lifetimes: shared subexpressions, accumulation across backward calls, noGrad, the functional
 * grad, custom ops via record(), scopes, use-after-dispose and the errors of backward().
 */
import { strict as assert } from "node:assert";
import { bufferPool, grad, noGrad, record, scope, type Tensor, tensor } from "../tensor/mod.ts";
import { assertClose, assertNoLeak, checkGrad, randArray } from "./util.ts";

function disposeAll(...ts: Tensor[]): void {
  for (const t of ts) t.dispose();
}

Deno.test("a shared subexpression (x used twice, and y used by two consumers) sums both paths", async () => {
  // f = sum(x*x + x) + sum(exp(y) * y) with y = 2x: df/dx = 2x + 1 + 2 exp(2x)(1 + 2x)
  await checkGrad(
    ([x]) => {
      const xx = x.mul(x), a = xx.add(x);
      const y = x.mul(2), e = y.exp(), b = e.mul(y);
      const out = a.add(b);
      disposeAll(xx, a, y, e, b);
      return out;
    },
    ([x]) => x.map((v) => v * v + v + Math.exp(2 * v) * 2 * v),
    [{ shape: [5], data: randArray(5, 1) }],
  );
});

Deno.test("gradients accumulate across two backward calls until the grad is reset", async () => {
  const x = tensor([1, -2, 3], [3], { requiresGrad: true });
  const l1 = x.mul(x).sum();
  l1.backward();
  const l2 = x.mul(3).sum();
  l2.backward();
  assertClose(await x.grad!.toArray(), [2 + 3, -4 + 3, 6 + 3]);
  x.grad!.dispose();
  x.grad = undefined;
  const l3 = x.sum();
  l3.backward();
  assertClose(await x.grad!.toArray(), [1, 1, 1]);
  disposeAll(x, l1, l2, l3);
});

Deno.test("noGrad: results do not require grad and backward through them throws", () => {
  const x = tensor([1, 2], [2], { requiresGrad: true });
  const y = noGrad(() => x.mul(2).sum());
  assert.equal(y.requiresGrad, false);
  assert.throws(() => y.backward(), /does not require grad: none of its inputs has requiresGrad/);
  const z = x.mul(2).sum();
  assert.equal(z.requiresGrad, true, "recording resumes after noGrad");
  disposeAll(x, y, z);
});

Deno.test("grad(): functional gradients of several inputs, inputs left untouched", async () => {
  const f = (a: Tensor, b: Tensor) => {
    const ab = a.mul(b), aa = a.square(), s = ab.add(aa);
    const out = s.sum();
    disposeAll(ab, aa, s);
    return out;
  };
  const a = tensor([1, 2, 3], [3]), b = tensor([4, 5, 6], [3]);
  const [ga, gb] = grad(f)(a, b);
  assertClose(await ga.toArray(), [4 + 2, 5 + 4, 6 + 6]);
  assertClose(await gb.toArray(), [1, 2, 3]);
  assert.equal(a.grad, undefined);
  assert.equal(a.requiresGrad, false);
  disposeAll(a, b, ga, gb);
});

Deno.test("record(): a custom op with a hand-written backward (cube)", async () => {
  const cube = (x: Tensor) => {
    const y = noGrad(() => {
      const sq = x.square();
      const c = sq.mul(x);
      sq.dispose();
      return c;
    });
    return record("cube", y, [x], (g) => {
      const sq = x.square(), d = sq.mul(3), gx = d.mul(g);
      disposeAll(sq, d);
      return [gx];
    });
  };
  await checkGrad(([x]) => cube(x), ([x]) => x.map((v) => v ** 3), [{
    shape: [2, 3],
    data: randArray(6, 2),
  }]);
});

Deno.test("record(): a VJP may return the upstream gradient itself, even for two inputs (straight-through)", async () => {
  const x = tensor([0.2, 1.7, -0.6], [3], { requiresGrad: true });
  const w = tensor([1, 2, 3], [3], { requiresGrad: true });
  // round(x) + w forward, identity gradient to both: a straight-through estimator.
  const y = record("roundAdd", tensor([0 + 1, 2 + 2, -1 + 3], [3]), [x, w], (g) => [g, g]);
  const scaled = y.mul(tensor([1, 10, 100], [3]));
  const loss = scaled.sum();
  loss.backward();
  assertClose(await x.grad!.toArray(), [1, 10, 100]);
  assertClose(await w.grad!.toArray(), [1, 10, 100]);
  disposeAll(x, w, y, scaled, loss);
});

Deno.test("the graph keeps what backward needs even after intermediates are disposed", async () => {
  const x = tensor([0.5, 1, 2], [3], { requiresGrad: true });
  const e = x.exp();
  const loss = e.sum();
  e.dispose(); // backward still needs exp(x) for the VJP of exp
  loss.backward();
  assertClose(await x.grad!.toArray(), [Math.exp(0.5), Math.E, Math.exp(2)]);
  disposeAll(x, loss);
});

Deno.test("a graph disposed without backward() frees everything (no node holds its own output)", async () => {
  await assertNoLeak(() => {
    const z = tensor([1, 2, 3], [3], { requiresGrad: true });
    const y = z.mul(2); // binary ops save their output for the VJP
    const e = y.exp(); // and so do unary ones
    const s = e.sum();
    disposeAll(s, e, y, z);
  }, "an abandoned graph");
});

Deno.test("scope(): intermediates are freed, the result survives, live buffers return to the start", async () => {
  const x = tensor([1, 2, 3, 4], [4], { requiresGrad: true });
  const start = bufferPool.live;
  const loss = scope(() => {
    const h = x.mul(2).tanh().add(1);
    return h.square().mean();
  });
  assert.equal(bufferPool.live, start + 1 + 4, "result plus the graph's retained intermediates");
  loss.backward();
  loss.dispose();
  assert.equal(bufferPool.live, start + 1, "only x.grad remains");
  x.grad!.dispose();
  x.grad = undefined;
  assert.equal(bufferPool.live, start);
  const v = tensor([1, 2, 3, 4], [4]);
  const nested = scope(() => {
    const outer = v.add(1);
    const inner = scope(() => outer.mul(outer).sum());
    return { inner, keep: [outer.sum()] };
  });
  assert.equal(bufferPool.live, start + 1 + 2, "v plus the two returned tensors");
  assert.equal(await nested.inner.item(), 4 + 9 + 16 + 25);
  disposeAll(nested.inner, nested.keep[0], v, x);
});

Deno.test("scope(): a whole training step (forward, backward, update) leaks nothing", async () => {
  const w = tensor(randArray(6, 3), [2, 3], { requiresGrad: true });
  const x = tensor(randArray(6, 4), [2, 3]);
  await assertNoLeak(async () => {
    for (let step = 0; step < 3; step++) {
      scope(() => {
        const loss = w.mul(x).logSoftmax().sum().neg();
        loss.backward();
      });
      const next = noGrad(() => scope(() => w.sub(w.grad!.mul(0.1))));
      await next.toArray();
      next.dispose();
      w.grad!.dispose();
      w.grad = undefined;
    }
  }, "training step");
  disposeAll(w, x);
});

Deno.test("use after dispose throws a clear error; dispose is idempotent", () => {
  const x = tensor([1, 2], [2]);
  x.dispose();
  x.dispose();
  assert.equal(x.disposed, true);
  assert.throws(() => x.add(1), /use of a disposed tensor of shape \[2\]/);
  assert.throws(() => x.reshape([2, 1]), /disposed/);
});

Deno.test("backward: a non-scalar root needs a seed; with one it is a vector-Jacobian product", async () => {
  const x = tensor([1, 2, 3], [3], { requiresGrad: true });
  const y = x.square();
  assert.throws(() => y.backward(), /needs a scalar, got shape \[3\]/);
  const seed = tensor([1, 0.5, -1], [3]);
  y.backward(seed);
  assertClose(await x.grad!.toArray(), [2, 2, -6]);
  disposeAll(x, y, seed);
});

Deno.test("detach cuts the graph; reshape views carry gradients", async () => {
  const x = tensor([1, 2, 3, 4], [2, 2], { requiresGrad: true });
  const d = x.detach();
  assert.equal(d.requiresGrad, false);
  const r = x.reshape([4]);
  const loss = r.mul(tensor([1, 2, 3, 4], [4])).sum();
  loss.backward();
  assertClose(await x.grad!.toArray(), [1, 2, 3, 4]);
  assert.deepEqual(x.grad!.shape, [2, 2]);
  disposeAll(x, d, r, loss);
});

Deno.test("backward frees the graph: a second backward over the same graph is not silently double-counted", async () => {
  const x = tensor([1, 2], [2], { requiresGrad: true });
  const h = x.mul(x);
  const loss = h.sum();
  loss.backward();
  assert.equal(h.node, undefined, "interior nodes are released after backward");
  assertClose(await x.grad!.toArray(), [2, 4]);
  assert.throws(
    () => loss.backward(),
    (e: Error) =>
      e.message ===
        "lzn: backward() again on a graph that the first backward() freed: compute the loss again",
  );
  disposeAll(x, h, loss);
});

Deno.test("a leaf disposed while graphs hold it: its gradient goes with it, so nothing leaks", () => {
  const live = bufferPool.live;
  const p = tensor([1, 2], [2], { requiresGrad: true });
  const loss = scope(() => p.mul(2).sum());
  p.dispose(); // the graph still holds p until backward frees it
  loss.backward();
  assert.equal(p.disposed, true);
  assert.equal(p.grad, undefined);
  loss.dispose();
  assert.equal(bufferPool.live, live);
  // Two graphs: the first backward accumulates into w, which the second graph still holds; dropping that
  // graph without a backward must free w's gradient too.
  const w = tensor([1, 2], [2], { requiresGrad: true });
  const l1 = scope(() => w.mul(2).sum()), l2 = scope(() => w.mul(3).sum());
  w.dispose();
  l1.backward();
  assert.ok(w.grad, "w is still held by l2's graph, so it keeps its gradient for now");
  l1.dispose();
  l2.dispose();
  assert.equal(w.grad, undefined);
  assert.equal(bufferPool.live, live);
});

Deno.test("scope keeps returned tensors at any depth of arrays and plain objects, cycles included", async () => {
  const x = tensor([1, 2], [2]);
  const deep = scope(() => [[[[[[x.mul(2)]]]]]]);
  assert.deepEqual([...await deep[0][0][0][0][0][0].toArray()], [2, 4]);
  const kept = scope(() => {
    const o: Record<string, unknown> = { t: x.mul(3) };
    o.self = o;
    return o;
  });
  assert.deepEqual([...await (kept.t as Tensor).toArray()], [3, 6]);
  for (const t of [x, deep[0][0][0][0][0][0], kept.t as Tensor]) t.dispose();
});
