/**
 * nn: Module naming and state dicts, init schemes, and the layers against float64 references (forward and
 * finite-difference gradients).
 */
import { strict as assert } from "node:assert";
import { bufferPool, type Tensor, tensor } from "../tensor/mod.ts";
import { Module, parameter } from "../tensor/nn/module.ts";
import { Linear } from "../tensor/nn/linear.ts";
import { Conv2d } from "../tensor/nn/conv2d.ts";
import { GroupNorm } from "../tensor/nn/groupnorm.ts";
import { Sequential } from "../tensor/nn/sequential.ts";
import { GELU, ReLU, SiLU } from "../tensor/nn/activations.ts";
import { fans, InitRng, initValues, seedInit } from "../tensor/nn/init.ts";
import { assertClose, checkGrad, randArray } from "./util.ts";

class Block extends Module {
  conv = new Linear(3, 4);
  norm = parameter(tensor([1, 1, 1, 1], [4]));
  forward(x: Tensor): Tensor {
    return this.conv.forward(x).mul(this.norm);
  }
}

class Net extends Module {
  stem = new Linear(2, 3, { bias: false });
  blocks = [new Block(), new Block()];
  head = new Sequential(new Linear(4, 4), new SiLU(), new Linear(4, 1));
  scratch = tensor([0], [1]); // not a parameter: ignored
}

Deno.test("Module: dotted parameter names in definition order, train/eval, freezing", () => {
  const net = new Net();
  assert.deepEqual(net.namedParameters().map(([n]) => n), [
    "stem.weight",
    "blocks.0.norm", // PyTorch's order: a module's own parameters before its children's
    "blocks.0.conv.weight",
    "blocks.0.conv.bias",
    "blocks.1.norm",
    "blocks.1.conv.weight",
    "blocks.1.conv.bias",
    "head.0.weight",
    "head.0.bias",
    "head.2.weight",
    "head.2.bias",
  ]);
  assert.equal(net.numParameters(), 6 + 2 * (12 + 4 + 4) + 20 + 5);
  assert.deepEqual(net.namedModules().map(([n]) => n), [
    "",
    "stem",
    "blocks.0",
    "blocks.0.conv",
    "blocks.1",
    "blocks.1.conv",
    "head",
    "head.0",
    "head.1",
    "head.2",
  ]);
  assert.ok(net.parameters().every((p) => p.requiresGrad));
  net.eval();
  assert.ok(net.namedModules().every(([, m]) => !m.training));
  net.train();
  assert.ok(net.blocks[1].conv.training);
  net.blocks[0].requireGrad(false);
  assert.equal(net.blocks[0].conv.weight.requiresGrad, false);
  assert.equal(net.blocks[1].conv.weight.requiresGrad, true);
  assert.equal(net.parameters().length, 11, "frozen parameters stay listed");
  // A shared sub-module is listed once.
  class Shared extends Module {
    a = new Linear(2, 2);
    b = this.a;
  }
  const shared = new Shared();
  assert.deepEqual(shared.namedParameters().map(([n]) => n), ["a.weight", "a.bias"]);
  net.dispose();
  net.scratch.dispose();
  shared.dispose();
});

Deno.test("Module: stateDict round trip copies in place; mismatches are reported together", async () => {
  seedInit(1);
  const a = new Net();
  seedInit(2);
  const b = new Net();
  const live = bufferPool.live;
  const bWeight = b.head.layers[0] as Linear;
  const before = bWeight.weight;
  b.loadStateDict(a.stateDict());
  assert.equal(bufferPool.live, live, "loading allocates nothing");
  assert.equal(bWeight.weight, before, "parameters are updated in place, not replaced");
  for (const [name, p] of a.namedParameters()) {
    assert.deepEqual([...await b.stateDict()[name].toArray()], [...await p.toArray()], name);
  }
  const wrong = tensor(new Float32Array(6), [2, 3]);
  const intState = tensor([1, 2, 3, 4], [4], { dtype: "i32" });
  const state = { ...a.stateDict(), "stem.weight": wrong, "blocks.1.norm": intState, "extra.bias": wrong };
  delete (state as Record<string, Tensor>)["head.2.bias"];
  const snapshot = await b.stem.weight.toArray();
  assert.throws(() => b.loadStateDict(state), (e: Error) => {
    assert.match(e.message, /^lzn: loading Net failed:/);
    assert.match(e.message, /"stem.weight": shape \[2, 3\], expected \[3, 2\]/);
    assert.match(e.message, /"blocks.1.norm": dtype i32, expected f32/);
    assert.match(e.message, /missing key "head.2.bias"/);
    assert.match(e.message, /unexpected key "extra.bias"/);
    return true;
  });
  assert.deepEqual(await b.stem.weight.toArray(), snapshot, "a failed load copies nothing");
  // Non-strict loading ignores missing and extra keys but still checks shapes.
  b.loadStateDict({ "head.2.bias": a.head.layers[2].parameters()[1], other: wrong }, { strict: false });
  for (const t of [wrong, intState, a.scratch, b.scratch]) t.dispose();
  a.dispose();
  b.dispose();
});

Deno.test("init: torch, ddpm, ddpm-zero and normal schemes have the stated ranges and moments", () => {
  assert.deepEqual(fans([64, 32, 3, 3]), { fanIn: 288, fanOut: 576 });
  const shape = [200, 300];
  const stats = (v: Float32Array) => {
    let s = 0, s2 = 0, mx = 0;
    for (const x of v) {
      s += x;
      s2 += x * x;
      mx = Math.max(mx, Math.abs(x));
    }
    return { mean: s / v.length, std: Math.sqrt(s2 / v.length - (s / v.length) ** 2), max: mx };
  };
  const torch = initValues(shape, 200, "torch", new InitRng(1));
  const bound = 1 / Math.sqrt(300);
  const ts = stats(torch.weight);
  assert.ok(ts.max <= bound && ts.max > 0.99 * bound, `torch bound ${ts.max} vs ${bound}`);
  assert.ok(Math.abs(ts.std - bound / Math.sqrt(3)) < 0.01 * bound);
  assert.ok(stats(torch.bias).max <= bound && stats(torch.bias).max > 0.9 * bound);
  const ddpm = initValues([64, 32, 3, 3], 64, "ddpm", new InitRng(2));
  const dBound = Math.sqrt(3 / ((288 + 576) / 2));
  const ds = stats(ddpm.weight);
  assert.ok(ds.max <= dBound && ds.max > 0.99 * dBound, `ddpm bound ${ds.max} vs ${dBound}`);
  assert.ok(Math.abs(ds.std - Math.sqrt(1 / 432)) < 0.02 * Math.sqrt(1 / 432));
  assert.ok(ddpm.bias.every((v) => v === 0));
  const zero = initValues([64, 32, 3, 3], 64, "ddpm-zero", new InitRng(2));
  assert.ok(
    stats(zero.weight).max <= dBound * 1e-5 && stats(zero.weight).max > 0,
    "scale 1e-10 -> bound x 1e-5",
  );
  const normal = initValues(shape, 0, { kind: "normal", std: 0.02 }, new InitRng(3));
  const ns = stats(normal.weight);
  assert.ok(Math.abs(ns.mean) < 0.001 && Math.abs(ns.std - 0.02) < 0.0005, JSON.stringify(ns));
  // Same seed, same weights; the default stream is reseedable.
  seedInit(7);
  const l1 = initValues([3, 3], 3, "torch");
  seedInit(7);
  const l2 = initValues([3, 3], 3, "torch");
  assert.deepEqual(l1, l2);
});

Deno.test("Linear: forward and gradients vs float64 (2-d and 3-d input, with and without bias)", async () => {
  const [n, din, dout] = [3, 4, 5];
  for (const bias of [true, false]) {
    const lin = new Linear(din, dout, { bias, rng: new InitRng(5) });
    const w = Float64Array.from(await lin.weight.toArray());
    const b = bias ? Float64Array.from(await lin.bias!.toArray()) : new Float64Array(dout);
    const ref = (x: Float64Array, wt: Float64Array, btIn?: Float64Array) => {
      const bt = btIn ?? new Float64Array(dout);
      const rows = x.length / din;
      const y = new Float64Array(rows * dout);
      for (let i = 0; i < rows; i++) {
        for (let o = 0; o < dout; o++) {
          let s = bt[o];
          for (let k = 0; k < din; k++) s += x[i * din + k] * wt[o * din + k];
          y[i * dout + o] = s;
        }
      }
      return y;
    };
    // Gradients with respect to the input and the layer's own parameters.
    await checkGrad(
      ([x, wt, bt]) => {
        // Swap the checker's leaves in as the layer's parameters for this call.
        const saved = [lin.weight, lin.bias] as const;
        lin.weight = wt;
        lin.bias = bt;
        const y = lin.forward(x);
        [lin.weight, lin.bias] = saved;
        return y;
      },
      ([x, wt, bt]) => ref(x, wt, bt),
      [
        { shape: [n, din], data: randArray(n * din, 9) },
        { shape: [dout, din], data: w },
        ...(bias ? [{ shape: [dout], data: b }] : []),
      ],
      { rtol: 1e-4, atol: 1e-5 },
    ).catch((e) => {
      throw new Error(`bias=${bias}: ${e.message}`);
    });
    const x3 = randArray(2 * 3 * din, 10);
    const y3 = lin.forward(tensor(Float32Array.from(x3), [2, 3, din]));
    assert.deepEqual(y3.shape, [2, 3, dout]);
    assertClose(await y3.toArray(), ref(x3, w, b), { rtol: 1e-4, atol: 1e-5, what: "3-d input" });
    assert.throws(
      () => lin.forward(tensor(new Float32Array(6), [2, 3])),
      /Linear\(4, 5\) got input \[2, 3\]/,
    );
    lin.dispose();
  }
});

Deno.test("activations and Sequential: forward values", async () => {
  const xs = [-2, -0.5, 0, 0.5, 2, 3];
  const x = tensor(xs, [6]);
  const sig = (v: number) => 1 / (1 + Math.exp(-v));
  const gelu = (v: number) => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3)));
  assertClose(await new SiLU().forward(x).toArray(), xs.map((v) => v * sig(v)), { what: "SiLU" });
  assertClose(await new ReLU().forward(x).toArray(), xs.map((v) => Math.max(v, 0)), { what: "ReLU" });
  assertClose(await new GELU().forward(x).toArray(), xs.map(gelu), { what: "GELU" });
  const seq = new Sequential(
    new Linear(6, 3, { rng: new InitRng(1) }),
    new ReLU(),
    new Linear(3, 2, { rng: new InitRng(2) }),
  );
  const [l1, , l2] = seq.layers as [Linear, ReLU, Linear];
  const w1 = await l1.weight.toArray(), b1 = await l1.bias!.toArray();
  const w2 = await l2.weight.toArray(), b2 = await l2.bias!.toArray();
  const h = [0, 1, 2].map((o) => Math.max(0, b1[o] + xs.reduce((s, v, k) => s + v * w1[o * 6 + k], 0)));
  const y = [0, 1].map((o) => b2[o] + h.reduce((s, v, k) => s + v * w2[o * 3 + k], 0));
  assertClose(await seq.forward(x.reshape([1, 6])).toArray(), y, { rtol: 1e-5, what: "Sequential" });
  seq.dispose();
});

/** float64 NCHW cross-correlation with square kernels. */
function convRef(
  x: Float64Array,
  w: Float64Array,
  b: Float64Array | undefined,
  [n, ci, h, wd]: number[],
  co: number,
  k: number,
  stride: number,
  pad: number,
): Float64Array {
  const ho = Math.floor((h + 2 * pad - k) / stride) + 1, wo = Math.floor((wd + 2 * pad - k) / stride) + 1;
  const y = new Float64Array(n * co * ho * wo);
  for (let b0 = 0; b0 < n; b0++) {
    for (let o = 0; o < co; o++) {
      for (let i = 0; i < ho; i++) {
        for (let j = 0; j < wo; j++) {
          let s = b ? b[o] : 0;
          for (let c = 0; c < ci; c++) {
            for (let r = 0; r < k; r++) {
              for (let q = 0; q < k; q++) {
                const ih = i * stride - pad + r, iw = j * stride - pad + q;
                if (ih < 0 || iw < 0 || ih >= h || iw >= wd) continue;
                s += x[((b0 * ci + c) * h + ih) * wd + iw] * w[((o * ci + c) * k + r) * k + q];
              }
            }
          }
          y[((b0 * co + o) * ho + i) * wo + j] = s;
        }
      }
    }
  }
  return y;
}

Deno.test("Conv2d: forward and gradients vs float64 (3x3 pad 1, 3x3 stride 2, 1x1), ddpm init", async () => {
  const xShape = [2, 3, 5, 5];
  for (const [k, stride, pad, bias] of [[3, 1, 1, true], [3, 2, 1, false], [1, 1, 0, true]] as const) {
    const conv = new Conv2d(3, 4, k, {
      stride,
      padding: pad,
      bias,
      init: "ddpm",
      rng: new InitRng(k + stride),
    });
    const w = Float64Array.from(await conv.weight.toArray());
    const xs = randArray(2 * 3 * 5 * 5, 20 + k);
    const y = conv.forward(tensor(Float32Array.from(xs), xShape));
    const expect = convRef(xs, w, bias ? new Float64Array(4) : undefined, xShape, 4, k, stride, pad);
    assertClose(await y.toArray(), expect, { rtol: 1e-4, atol: 1e-5, what: `conv k${k} s${stride}` });
    await checkGrad(
      ([x, wt, bt]) => {
        const saved = [conv.weight, conv.bias] as const;
        conv.weight = wt;
        conv.bias = bt;
        const out = conv.forward(x);
        [conv.weight, conv.bias] = saved;
        return out;
      },
      ([x, wt, bt]) => convRef(x, wt, bt, xShape, 4, k, stride, pad),
      [
        { shape: xShape, data: xs },
        { shape: [4, 3, k, k], data: w },
        ...(bias ? [{ shape: [4], data: randArray(4, 3) }] : []),
      ],
      { rtol: 1e-4, atol: 1e-5 },
    );
    assert.throws(
      () => conv.forward(tensor(new Float32Array(8), [1, 2, 2, 2])),
      /Conv2d\(3, 4, \d\) got input/,
    );
    conv.dispose();
  }
});

Deno.test("GroupNorm: forward and gradients vs float64, affine parameters start at 1 and 0", async () => {
  const shape = [2, 4, 3, 2];
  const gn = new GroupNorm(2, 4, { eps: 1e-6 });
  assert.deepEqual([...await gn.weight!.toArray()], [1, 1, 1, 1]);
  assert.deepEqual([...await gn.bias!.toArray()], [0, 0, 0, 0]);
  const ref = (x: Float64Array, w: Float64Array, b: Float64Array) => {
    const [n, c, hw, g] = [2, 4, 6, 2];
    const per = (c / g) * hw;
    const y = new Float64Array(x.length);
    for (let s = 0; s < n; s++) {
      for (let k = 0; k < g; k++) {
        const base = (s * c + k * (c / g)) * hw;
        let mean = 0, v = 0;
        for (let i = 0; i < per; i++) mean += x[base + i] / per;
        for (let i = 0; i < per; i++) v += (x[base + i] - mean) ** 2 / per;
        for (let i = 0; i < per; i++) {
          const ch = k * (c / g) + Math.floor(i / hw);
          y[base + i] = (x[base + i] - mean) / Math.sqrt(v + 1e-6) * w[ch] + b[ch];
        }
      }
    }
    return y;
  };
  await checkGrad(
    ([x, w, b]) => {
      const saved = [gn.weight, gn.bias] as const;
      gn.weight = w;
      gn.bias = b;
      const out = gn.forward(x);
      [gn.weight, gn.bias] = saved;
      return out;
    },
    ([x, w, b]) => ref(x, w, b),
    [
      { shape, data: randArray(48, 31, -2, 2) },
      { shape: [4], data: randArray(4, 32, 0.5, 1.5) },
      { shape: [4], data: randArray(4, 33) },
    ],
    { rtol: 1e-4, atol: 1e-4, gradAtol: 1e-3 },
  );
  assert.throws(() => new GroupNorm(3, 4), /divisible/);
  assert.throws(
    () => gn.forward(tensor(new Float32Array(6), [1, 6])),
    /GroupNorm\(2, 4\) got input \[1, 6\]/,
  );
  gn.dispose();
});
