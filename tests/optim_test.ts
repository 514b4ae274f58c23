/**
 * Optimizers against float64 hand computations: Adam (groups, weight decay, lr scaling, skipped steps,
 * state round trip), AdamW (decoupled decay), global-norm clipping, finite flags, linear warm-up, and the EMA.
 */
import { strict as assert } from "node:assert";
import { compiledKernelCount, type Tensor, tensor } from "../tensor/mod.ts";
import { Adam } from "../tensor/optim/adam.ts";
import { clipGradNorm } from "../tensor/optim/clip.ts";
import { EMA } from "../tensor/optim/ema.ts";
import { finiteFlag } from "../tensor/optim/finite.ts";
import { linearWarmup } from "../tensor/optim/schedule.ts";
import { loadState } from "../tensor/nn/state.ts";
import { assertClose, assertNoLeak, randArray } from "./util.ts";

/** PyTorch's Adam (or, with `decoupled`, AdamW) in float64 for one parameter. */
class AdamRef {
  m: Float64Array;
  v: Float64Array;
  t = 0;
  constructor(
    public p: Float64Array,
    readonly b1 = 0.9,
    readonly b2 = 0.999,
    readonly eps = 1e-8,
    readonly wd = 0,
    readonly decoupled = false,
  ) {
    this.m = new Float64Array(p.length);
    this.v = new Float64Array(p.length);
  }
  step(grad: ArrayLike<number>, lr: number): void {
    this.t++;
    const bc1 = 1 - this.b1 ** this.t, bc2 = 1 - this.b2 ** this.t;
    for (let i = 0; i < this.p.length; i++) {
      // torch.optim.AdamW shrinks the parameter first and keeps the decay out of the moments.
      if (this.decoupled) this.p[i] *= 1 - lr * this.wd;
      const g = grad[i] + (this.decoupled ? 0 : this.wd * this.p[i]);
      this.m[i] = this.b1 * this.m[i] + (1 - this.b1) * g;
      this.v[i] = this.b2 * this.v[i] + (1 - this.b2) * g * g;
      this.p[i] -= (lr / bc1) * this.m[i] / (Math.sqrt(this.v[i]) / Math.sqrt(bc2) + this.eps);
    }
  }
}

function setGrad(p: Tensor, values: ArrayLike<number>): void {
  p.grad?.dispose();
  p.grad = tensor(Float32Array.from(values), [...p.shape]).keep();
}

const f32 = (a: Float64Array) => Float64Array.from(Float32Array.from(a));

Deno.test("Adam: two groups with different lr, 3 steps, matches float64 PyTorch semantics", async () => {
  const a0 = f32(randArray(6, 1)), b0 = f32(randArray(5, 2));
  const a = tensor(Float32Array.from(a0), [2, 3], { requiresGrad: true });
  const b = tensor(Float32Array.from(b0), [5], { requiresGrad: true });
  const opt = new Adam([{ params: [a], lr: 0.1 }, { params: [b], lr: 0.01 }]);
  const ra = new AdamRef(a0.slice()), rb = new AdamRef(b0.slice());
  const kernelsBefore = compiledKernelCount();
  await assertNoLeak(async () => {
    for (let s = 0; s < 3; s++) {
      // Gradients of different scales per step, including a zero entry (v = 0 path).
      const ga = f32(randArray(6, 10 + s, -2, 2)), gb = f32(randArray(5, 20 + s, -1e-3, 1e-3));
      ga[0] = 0;
      setGrad(a, ga);
      setGrad(b, gb);
      opt.step();
      ra.step(ga, 0.1);
      rb.step(gb, 0.01);
      opt.zeroGrad();
      assertClose(await a.toArray(), ra.p, { rtol: 1e-5, atol: 1e-6, what: `a after step ${s + 1}` });
      assertClose(await b.toArray(), rb.p, { rtol: 1e-5, atol: 1e-6, what: `b after step ${s + 1}` });
    }
    const st = opt.stateDict();
    assertClose(await st["exp_avg.0"].toArray(), ra.m, { rtol: 1e-5, atol: 1e-7, what: "exp_avg of a" });
    assertClose(await st["exp_avg_sq.1"].toArray(), rb.v, {
      rtol: 1e-5,
      atol: 1e-12,
      what: "exp_avg_sq of b",
    });
    assert.deepEqual([...await st.step.toTypedArray()], [3, 3]);
  }, "Adam steps");
  // Learning rate changes went through the uniform block: no kernel was compiled after the first step.
  opt.paramGroups[0].lr = 0.05;
  setGrad(a, [1, 1, 1, 1, 1, 1]);
  opt.step({ lrScale: 0.5 });
  ra.step([1, 1, 1, 1, 1, 1], 0.025);
  assertClose(await a.toArray(), ra.p, { rtol: 1e-5, atol: 1e-6, what: "a after an lr change and lrScale" });
  assert.ok(
    compiledKernelCount() - kernelsBefore <= 2,
    "Adam compiles at most its update and counter kernels",
  );
  opt.zeroGrad();
  opt.dispose();
  a.dispose();
  b.dispose();
});

Deno.test("Adam: weight decay, a parameter without gradient is untouched and keeps its step count", async () => {
  const p0 = f32(randArray(4, 3)), q0 = f32(randArray(3, 4));
  const p = tensor(Float32Array.from(p0), [4], { requiresGrad: true });
  const q = tensor(Float32Array.from(q0), [3], { requiresGrad: true });
  const opt = new Adam([{ params: [p, q], lr: 0.02 }], { betas: [0.8, 0.99], eps: 1e-6, weightDecay: 0.1 });
  const rp = new AdamRef(p0.slice(), 0.8, 0.99, 1e-6, 0.1);
  for (let s = 0; s < 3; s++) {
    const g = f32(randArray(4, 30 + s));
    setGrad(p, g);
    opt.step();
    rp.step(g, 0.02);
    opt.zeroGrad();
  }
  assertClose(await p.toArray(), rp.p, { rtol: 1e-5, atol: 1e-6, what: "p with weight decay" });
  assertClose(await q.toArray(), q0, { rtol: 0, atol: 0, what: "q (never had a gradient)" });
  assert.deepEqual([...await opt.stateDict().step.toTypedArray()], [3, 0]);
  opt.dispose();
  p.dispose();
  q.dispose();
});

Deno.test("AdamW: decoupled decay per optimizer, overridden per group, matches float64 torch.optim.AdamW", async () => {
  const a0 = f32(randArray(6, 70)), b0 = f32(randArray(5, 71)), c0 = f32(randArray(4, 72));
  const a = tensor(Float32Array.from(a0), [2, 3], { requiresGrad: true });
  const b = tensor(Float32Array.from(b0), [5], { requiresGrad: true });
  const c = tensor(Float32Array.from(c0), [4], { requiresGrad: true });
  // Group a: the optimizer's AdamW decay; b: no decay (as for norms and biases); c: coupled L2 instead.
  const opt = new Adam([
    { params: [a], lr: 0.1 },
    { params: [b], lr: 0.05, weightDecay: 0 },
    { params: [c], lr: 0.02, weightDecay: 0.5, decoupled: false },
  ], { betas: [0.85, 0.995], eps: 1e-7, weightDecay: 0.3, decoupled: true });
  const ra = new AdamRef(a0.slice(), 0.85, 0.995, 1e-7, 0.3, true);
  const rb = new AdamRef(b0.slice(), 0.85, 0.995, 1e-7, 0, true);
  const rc = new AdamRef(c0.slice(), 0.85, 0.995, 1e-7, 0.5, false);
  // The same trajectory with coupled L2 decay, to show the flag changes the result beyond the tolerance.
  const rl2 = new AdamRef(a0.slice(), 0.85, 0.995, 1e-7, 0.3, false);
  const kernelsBefore = compiledKernelCount();
  await assertNoLeak(async () => {
    for (let s = 0; s < 4; s++) {
      const scale = [1, 0.5, 1, 2][s]; // the decay uses the scheduled lr, as a torch scheduler's does
      const ga = f32(randArray(6, 80 + s)), gb = f32(randArray(5, 90 + s)), gc = f32(randArray(4, 100 + s));
      setGrad(a, ga);
      setGrad(b, gb);
      setGrad(c, gc);
      opt.step({ lrScale: scale });
      ra.step(ga, 0.1 * scale);
      rb.step(gb, 0.05 * scale);
      rc.step(gc, 0.02 * scale);
      rl2.step(ga, 0.1 * scale);
      opt.zeroGrad();
      assertClose(await a.toArray(), ra.p, { rtol: 1e-5, atol: 1e-6, what: `a (AdamW) after step ${s + 1}` });
      assertClose(await b.toArray(), rb.p, {
        rtol: 1e-5,
        atol: 1e-6,
        what: `b (no decay) after step ${s + 1}`,
      });
      assertClose(await c.toArray(), rc.p, { rtol: 1e-5, atol: 1e-6, what: `c (L2) after step ${s + 1}` });
    }
    assertClose(await opt.stateDict()["exp_avg.0"].toArray(), ra.m, {
      rtol: 1e-5,
      atol: 1e-7,
      what: "exp_avg of a (no decay term in the moments)",
    });
  }, "AdamW steps");
  // Both decay styles share the update kernel: the style travels in the uniform block.
  assert.ok(
    compiledKernelCount() - kernelsBefore <= 2,
    "AdamW compiles at most its update and counter kernels",
  );
  const gap = Math.max(...ra.p.map((v, i) => Math.abs(v - rl2.p[i])));
  assert.ok(gap > 1e-3, `AdamW and Adam+L2 should differ, max gap ${gap}`);
  opt.dispose();
  for (const t of [a, b, c]) t.dispose();
});

Deno.test("Adam: a negative or non-finite weight decay is rejected", () => {
  const p = tensor([1], [1], { requiresGrad: true });
  assert.throws(
    () => new Adam([{ params: [p], lr: 1 }], { weightDecay: -0.1 }),
    /weightDecay must be >= 0, got -0.1/,
  );
  assert.throws(
    () => new Adam([{ params: [p], lr: 1, weightDecay: NaN }]),
    /weightDecay must be >= 0, got NaN/,
  );
  p.dispose();
});

Deno.test("Adam: groups of the wrong form, and a missing or non-finite lr, are one-line errors", () => {
  const p = tensor([1], [1], { requiresGrad: true });
  const bad = (groups: unknown) => () => new Adam(groups as never);
  // The PyTorch habit: the parameters themselves instead of groups.
  assert.throws(
    bad([p]),
    /^Error: lzn: Adam takes groups, as in new Adam\(\[\{ params: model.parameters\(\), lr: 1e-3 \}\]\); element 0 is a Tensor$/,
  );
  assert.throws(bad(p), /Adam takes groups.*; got a Tensor$/);
  assert.throws(
    bad([{ params: [p] }]),
    /^Error: lzn: Adam group 0: lr undefined: the learning rate must be a finite number >= 0$/,
  );
  assert.throws(bad([{ params: [p], lr: NaN }]), /group 0: lr NaN: the learning rate must be/);
  assert.throws(bad([{ params: [p], lr: -1 }]), /group 0: lr -1: the learning rate must be/);
  // lr may be edited between steps: a bad one is caught at the step, before anything is recorded.
  const opt = new Adam([{ params: [p], lr: 1e-3 }]);
  opt.paramGroups[0].lr = Infinity;
  assert.throws(() => opt.step(), /group 0: lr Infinity x lrScale 1: the learning rate must be/);
  opt.dispose();
  p.dispose();
});

Deno.test("Adam: a step flagged non-finite changes nothing, and the next step is as if it never happened", async () => {
  const p0 = f32(randArray(5, 5));
  const p = tensor(Float32Array.from(p0), [5], { requiresGrad: true });
  const opt = new Adam([{ params: [p], lr: 0.1 }]);
  const ref = new AdamRef(p0.slice());
  const g1 = f32(randArray(5, 6)), g2 = f32(randArray(5, 7));
  setGrad(p, g1);
  opt.step({ finite: finiteFlag(tensor([1.5], [1])) });
  ref.step(g1, 0.1);
  // A NaN loss: the update is skipped on the GPU even though the gradient is finite garbage.
  setGrad(p, [100, -100, 100, -100, 100]);
  const bad = finiteFlag(tensor([NaN], [1]), tensor([2], []));
  opt.step({ finite: bad });
  assertClose(await p.toArray(), ref.p, { rtol: 1e-6, atol: 1e-7, what: "p after a skipped step" });
  assert.deepEqual([...await opt.stateDict().step.toTypedArray()], [1]);
  setGrad(p, g2);
  opt.step();
  ref.step(g2, 0.1);
  assertClose(await p.toArray(), ref.p, { rtol: 1e-5, atol: 1e-6, what: "p after the next finite step" });
  opt.zeroGrad();
  opt.dispose();
  p.dispose();
});

Deno.test("Adam: state dict round trip resumes bit-identically; mismatched state is rejected", async () => {
  const init = f32(randArray(8, 8));
  const make = () => tensor(Float32Array.from(init), [2, 4], { requiresGrad: true });
  const p1 = make(), p2 = make();
  const o1 = new Adam([{ params: [p1], lr: 0.05 }]);
  const grads = [0, 1, 2, 3].map((s) => f32(randArray(8, 40 + s)));
  for (const g of grads.slice(0, 2)) {
    setGrad(p1, g);
    o1.step();
  }
  // Resume: copy the parameter and the optimizer state into fresh objects.
  loadState({ p: p2 }, { p: p1 });
  const o2 = new Adam([{ params: [p2], lr: 0.05 }]);
  o2.loadStateDict(o1.stateDict());
  for (const g of grads.slice(2)) {
    setGrad(p1, g);
    setGrad(p2, g);
    o1.step();
    o2.step();
  }
  assert.deepEqual([...await p2.toArray()], [...await p1.toArray()]);
  const wrong = tensor(new Float32Array(3), [3]);
  assert.throws(
    () => o2.loadStateDict({ ...o1.stateDict(), "exp_avg.0": wrong, extra: wrong }),
    /Adam failed:\n {2}"exp_avg.0": shape \[3\], expected \[2, 4\]\n {2}unexpected key "extra"/,
  );
  for (const t of [p1, p2, wrong]) t.dispose();
  o1.dispose();
  o2.dispose();
});

Deno.test("clipGradNorm: global L2 norm on the GPU, scaled in place, gradient-less params ignored", async () => {
  const big = f32(randArray(70000, 11)); // several partial sums per parameter
  const small = f32(randArray(7, 12, -3, 3));
  const p1 = tensor(new Float32Array(70000), [70000], { requiresGrad: true });
  const p2 = tensor(new Float32Array(7), [7], { requiresGrad: true });
  const p3 = tensor(new Float32Array(2), [2], { requiresGrad: true });
  let sq = 0;
  for (const v of [...big, ...small]) sq += v * v;
  const norm = Math.sqrt(sq);
  await assertNoLeak(async () => {
    setGrad(p1, big);
    setGrad(p2, small);
    const n = clipGradNorm([p1, p2, p3], 1.0);
    assert.deepEqual(n.shape, []);
    assertClose([await n.item()], [norm], { rtol: 1e-5, what: "norm" });
    const c = 1 / (norm + 1e-6);
    assertClose(await p2.grad!.toArray(), small.map((v) => v * c), {
      rtol: 1e-5,
      atol: 1e-7,
      what: "clipped",
    });
    const g1 = await p1.grad!.toArray();
    assertClose([g1[123], g1[69999]], [big[123] * c, big[69999] * c], {
      rtol: 1e-5,
      atol: 1e-8,
      what: "clipped",
    });
    n.dispose();
    // Below the threshold the gradients are unchanged.
    setGrad(p2, small);
    const n2 = clipGradNorm([p2], 1e6);
    assertClose(await p2.grad!.toArray(), small, { rtol: 0, atol: 0, what: "unclipped" });
    n2.dispose();
    for (const p of [p1, p2]) {
      p.grad!.dispose();
      p.grad = undefined;
    }
    const none = clipGradNorm([p3], 1);
    assert.equal(await none.item(), 0);
    none.dispose();
  }, "clipGradNorm");
  for (const p of [p1, p2, p3]) p.dispose();
});

Deno.test("finiteFlag: 1 only when every input is finite", async () => {
  const cases: [number[][], number][] = [
    [[[1, 2, 3]], 1],
    [[[1, NaN, 3]], 0],
    [[[Infinity]], 0],
    [[[-Infinity, 0]], 0],
    [[[3.4e38, -3.4e38, 1e-45]], 1],
    [[[1], [2, NaN]], 0],
    [[[1], Array.from({ length: 1000 }, (_, i) => (i === 999 ? Infinity : i))], 0],
    [[[1], [2]], 1],
  ];
  for (const [inputs, want] of cases) {
    const ts = inputs.map((v) => tensor(v, [v.length]));
    const f = finiteFlag(...ts);
    assert.equal(await f.item(), want, JSON.stringify(inputs.map((v) => v.slice(0, 4))));
    for (const t of [...ts, f]) t.dispose();
  }
});

Deno.test("linearWarmup: PyTorch LinearLR factors", () => {
  assert.equal(linearWarmup(0, 5000), 1 / 5000);
  assert.equal(linearWarmup(2500, 5000), 1 / 5000 + (1 - 1 / 5000) * 0.5);
  assert.equal(linearWarmup(5000, 5000), 1);
  assert.equal(linearWarmup(123456, 5000), 1);
  assert.equal(linearWarmup(1, 4, 0.5), 0.625);
  assert.equal(linearWarmup(7, 0), 1);
});

/** The release's EMA in float64. */
function emaRef(
  shadow: Float64Array,
  param: ArrayLike<number>,
  n: number,
  decay: number,
  warmup = true,
): void {
  const d = warmup ? Math.min(decay, (1 + n) / (10 + n)) : decay;
  for (let i = 0; i < shadow.length; i++) shadow[i] -= (1 - d) * (shadow[i] - param[i]);
}

Deno.test("EMA: values match the release's formula in both regimes; skipped steps do not count", async () => {
  for (const decay of [0.6, 0.999999]) {
    const p0 = f32(randArray(9, 50));
    const p = tensor(Float32Array.from(p0), [3, 3], { requiresGrad: true });
    const ema = new EMA([p], { decay });
    const shadow = p0.slice();
    let n = 0;
    await assertNoLeak(async () => {
      for (let s = 0; s < 12; s++) {
        const v = f32(randArray(9, 60 + s));
        const src = tensor(Float32Array.from(v), [3, 3]);
        loadState({ p }, { p: src });
        src.dispose();
        const skip = s === 5;
        const loss = tensor([skip ? Infinity : 0], [1]);
        const flag = finiteFlag(loss);
        ema.update({ finite: flag });
        loss.dispose();
        flag.dispose();
        if (!skip) emaRef(shadow, v, ++n, decay);
      }
      // With decay 0.6 the cap binds from n = 9 on; with 0.999999 the warm-up term binds throughout.
      assertClose(await ema.shadow[0].toArray(), shadow, {
        rtol: 1e-5,
        atol: 1e-6,
        what: `shadow, decay ${decay}`,
      });
      assert.deepEqual([...await ema.stateDict().num_updates.toTypedArray()], [11]);
    }, "EMA updates");
    ema.dispose();
    p.dispose();
  }
});

Deno.test("EMA: swapIn/swapOut exchange weights in place; copyTo; warmup off; state round trip", async () => {
  const p = tensor([1, 2, 3, 4], [4], { requiresGrad: true });
  const ema = new EMA([p], { decay: 0.75, warmup: false });
  const target = tensor([5, 6, 7, 8], [4]);
  loadState({ p }, { p: target });
  ema.update();
  const expected = [1, 2, 3, 4].map((s, i) => s - 0.25 * (s - [5, 6, 7, 8][i]));
  assertClose(await ema.shadow[0].toArray(), expected, { what: "shadow (warmup off)" });
  ema.swapIn();
  assertClose(await p.toArray(), expected, { what: "param while swapped in" });
  assert.throws(() => ema.update(), /swapped in/);
  assert.throws(() => ema.swapIn(), /twice/);
  ema.swapOut();
  assertClose(await p.toArray(), [5, 6, 7, 8], { what: "param after swapOut" });
  assertClose(await ema.shadow[0].toArray(), expected, { what: "shadow after swapOut" });
  const ema2 = new EMA([p], { decay: 0.75, warmup: false });
  ema2.loadStateDict(ema.stateDict());
  ema2.copyTo();
  assertClose(await p.toArray(), expected, { what: "param after copyTo" });
  assert.throws(() => ema2.loadStateDict({}), /missing key "shadow.0"/);
  for (const t of [p, target]) t.dispose();
  ema.dispose();
  ema2.dispose();
});
