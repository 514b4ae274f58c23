/**
 * The case-study-2 ResNet encoder: residual blocks and a tiny whole encoder against float64 references
 * (forward, and gradients of every parameter and the input by central differences), the zero-initialised
 * last GroupNorm of each branch, shapes, the parameter count formula, latents, and config errors.
 */
import { strict as assert } from "node:assert";
import {
  bufferPool,
  ConfigError,
  InitRng,
  type Layer,
  type Module,
  noGrad,
  scope,
  tensor,
} from "../tensor/mod.ts";
import { ImageEncoder } from "../encoders/image_encoder.ts";
import { computeLatents } from "../latent/mod.ts";
import { ResidualBlock } from "../encoders/resnet_blocks.ts";
import { ResNetEncoder, ResNetEncoderConfig } from "../encoders/resnet_encoder.ts";
import { assertClose, randArray } from "./util.ts";

type Params = Record<string, Float64Array>;
interface Act {
  data: Float64Array;
  shape: number[]; // [N, C, H, W] or [N, C]
}

function conv(x: Act, w: Float64Array, cout: number, k: number, stride: number, pad: number): Act {
  const [n, cin, h, wd] = x.shape;
  const ho = Math.floor((h + 2 * pad - k) / stride) + 1, wo = Math.floor((wd + 2 * pad - k) / stride) + 1;
  const y = new Float64Array(n * cout * ho * wo);
  for (let b = 0; b < n; b++) {
    for (let o = 0; o < cout; o++) {
      for (let i = 0; i < ho; i++) {
        for (let j = 0; j < wo; j++) {
          let s = 0;
          for (let c = 0; c < cin; c++) {
            for (let u = 0; u < k; u++) {
              for (let v = 0; v < k; v++) {
                const r = i * stride + u - pad, q = j * stride + v - pad;
                if (r >= 0 && r < h && q >= 0 && q < wd) {
                  s += x.data[((b * cin + c) * h + r) * wd + q] * w[((o * cin + c) * k + u) * k + v];
                }
              }
            }
          }
          y[((b * cout + o) * ho + i) * wo + j] = s;
        }
      }
    }
  }
  return { data: y, shape: [n, cout, ho, wo] };
}

/** GroupNorm with PyTorch's eps 1e-5 and biased variance, over `[N, C, ...]`. */
function groupNorm(x: Act, groups: number, weight: Float64Array, bias: Float64Array): Act {
  const [n, c] = x.shape;
  const s = x.data.length / (n * c), len = (c / groups) * s;
  const y = new Float64Array(x.data.length);
  for (let g = 0; g < n * groups; g++) {
    const run = x.data.subarray(g * len, (g + 1) * len);
    const mean = run.reduce((a, v) => a + v, 0) / len;
    const rstd = 1 / Math.sqrt(run.reduce((a, v) => a + (v - mean) ** 2, 0) / len + 1e-5);
    run.forEach((v, i) => {
      const ch = ((g % groups) * len + i - (i % s)) / s;
      y[g * len + i] = (v - mean) * rstd * weight[ch] + bias[ch];
    });
  }
  return { data: y, shape: x.shape };
}

const relu = (x: Act): Act => ({ data: x.data.map((v) => Math.max(v, 0)), shape: x.shape });

function convNorm(x: Act, p: Params, name: string, cout: number, k: number, stride: number, groups: number) {
  const y = conv(x, p[`${name}.conv.weight`], cout, k, stride, (k - 1) / 2);
  return groupNorm(y, groups, p[`${name}.norm.weight`], p[`${name}.norm.bias`]);
}

function blockRef(x: Act, p: Params, prefix: string, cout: number, stride: number, groups: number): Act {
  const h = relu(convNorm(x, p, `${prefix}conv1`, cout, 3, stride, groups));
  const branch = convNorm(h, p, `${prefix}conv2`, cout, 3, 1, groups);
  const skip = p[`${prefix}shortcut.conv.weight`]
    ? convNorm(x, p, `${prefix}shortcut`, cout, 1, stride, groups)
    : x;
  return relu({ data: branch.data.map((v, i) => v + skip.data[i]), shape: branch.shape });
}

/** `x [N, in] W^T`, W `[out, in]`. */
function linear(x: Act, w: Float64Array, out: number): Act {
  const [n, inF] = x.shape;
  const y = new Float64Array(n * out);
  for (let b = 0; b < n; b++) {
    for (let o = 0; o < out; o++) {
      for (let i = 0; i < inF; i++) y[b * out + o] += x.data[b * inF + i] * w[o * inF + i];
    }
  }
  return { data: y, shape: [n, out] };
}

/** The whole encoder in float64, for a config with one block per stage. */
function encoderRef(x: Act, p: Params, cfg: ResNetEncoderConfig): Act {
  const g = cfg.groups;
  let h = relu(
    convNorm(
      { data: x.data.map((v) => (v + 1) / 2), shape: x.shape },
      p,
      "stem.unit",
      cfg.channels[0],
      3,
      1,
      g,
    ),
  );
  cfg.channels.forEach((c, i) => h = blockRef(h, p, `stages.${i}.blocks.0.`, c, cfg.strides[i], g));
  const [n, c, hh, ww] = h.shape;
  const pooled = new Float64Array(n * c).map((_, k) =>
    h.data.subarray(k * hh * ww, (k + 1) * hh * ww).reduce((a, v) => a + v, 0) / (hh * ww)
  );
  let z = linear({ data: pooled, shape: [n, c] }, p["head.0.weight"], cfg.headHidden);
  z = relu(groupNorm(z, g, p["head.1.weight"], p["head.1.bias"]));
  z = linear(z, p["head.3.weight"], cfg.latentDim);
  return groupNorm(z, g, p["head.4.weight"], p["head.4.bias"]);
}

const f32 = (a: Float64Array) => Float64Array.from(Float32Array.from(a));

/**
 * Loads random parameters into `module` (norm weights in [0.5, 1.5], so no branch is switched off), then
 * checks its forward on `x` and the gradients of `sum(y * w)` with respect to every parameter and to `x`
 * against central differences of the float64 reference `ref`.
 */
async function checkModule(
  module: Module & Layer,
  xShape: number[],
  ref: (x: Act, p: Params) => Act,
  seed: number,
) {
  const named = module.namedParameters();
  const params: Params = Object.fromEntries(named.map(([name, t], k) => {
    const isNormWeight = /norm\.weight$|^head\.[14]\.weight$/.test(name);
    return [name, f32(randArray(t.size, seed + k, isNormWeight ? 0.5 : -0.6, isNormWeight ? 1.5 : 0.6))];
  }));
  const upload = Object.fromEntries(
    named.map(([name, t]) => [name, tensor(Float32Array.from(params[name]), [...t.shape])]),
  );
  module.loadStateDict(upload);
  const x0: Act = { data: f32(randArray(xShape.reduce((a, b) => a * b, 1), seed - 1)), shape: xShape };
  const want = ref(x0, params);
  const w = randArray(want.data.length, seed - 2);
  const x = tensor(Float32Array.from(x0.data), xShape, { requiresGrad: true });
  await scope(async () => {
    const y = module.forward(x);
    assertClose(await y.toArray(), want.data, { rtol: 1e-4, atol: 1e-5, what: "forward" });
    y.mul(tensor(Float32Array.from(w), [...y.shape])).sum().backward();
  });
  const objective = (xv: Act, pv: Params) => ref(xv, pv).data.reduce((a, v, i) => a + v * w[i], 0);
  const h = 1e-5;
  const numeric = (values: Float64Array, evaluate: () => number) =>
    values.map((v, i) => {
      values[i] = v + h;
      const plus = evaluate();
      values[i] = v - h;
      const minus = evaluate();
      values[i] = v;
      return (plus - minus) / (2 * h);
    });
  const gradOpts = { rtol: 2e-3, atol: 2e-4 }; // checkGrad's (tests/util.ts) gradient tolerances
  assertClose(await x.grad!.toArray(), numeric(x0.data, () => objective(x0, params)), {
    ...gradOpts,
    what: "input gradient",
  });
  for (const [name, t] of named) {
    assertClose(await t.grad!.toArray(), numeric(params[name], () => objective(x0, params)), {
      ...gradOpts,
      what: `gradient of ${name}`,
    });
  }
  for (const t of [x, ...Object.values(upload)]) t.dispose();
}

/**
 * Every GPU test uses the blocks of this tiny encoder (8 px, 4 -> 8 channels) at the same shapes: kernels are
 * specialised by shape, and on a CPU adapter compiling a new shape costs far more than running it.
 */
const TINY = {
  latentDim: 8,
  imageSize: 8,
  channels: [4, 8],
  blocks: [1, 1],
  strides: [1, 2] as (1 | 2)[],
  groups: 2,
};

Deno.test("ResidualBlock: forward and backward match float64 (identity shortcut, projection shortcut)", async () => {
  const identity = new ResidualBlock({
    inChannels: 4,
    outChannels: 4,
    stride: 1,
    groups: 2,
    rng: new InitRng(1),
  });
  assert.equal(identity.shortcut, undefined);
  await checkModule(identity, [2, 4, 8, 8], (x, p) => blockRef(x, p, "", 4, 1, 2), 100);
  const projection = new ResidualBlock({
    inChannels: 4,
    outChannels: 8,
    stride: 2,
    groups: 2,
    rng: new InitRng(2),
  });
  assert.ok(projection.shortcut, "a shape change gets a conv1x1 + GN shortcut");
  await checkModule(projection, [2, 4, 8, 8], (x, p) => blockRef(x, p, "", 8, 2, 2), 200);
  identity.dispose();
  projection.dispose();
});

Deno.test("ResNetEncoder: a tiny whole encoder matches float64, forward and every gradient", async () => {
  const enc = new ResNetEncoder(TINY);
  assert.equal(enc.config.headHidden, 8, "the head's hidden width defaults to the last stage's");
  await checkModule(enc, [2, 1, 8, 8], (x, p) => encoderRef(x, p, enc.config), 300);
  enc.dispose();
});

Deno.test("ResNetEncoder: the last GroupNorm of every branch starts at weight 0, so blocks start as their shortcut", async () => {
  const enc = new ResNetEncoder({ ...TINY, blocks: [2, 1] });
  for (const [name, p] of enc.namedParameters()) {
    if (!/norm\.weight$/.test(name)) continue;
    const zero = /conv2\.norm\.weight$/.test(name);
    assert.deepEqual([...await p.toArray()], new Array(p.size).fill(zero ? 0 : 1), name);
  }
  await scope(async () => {
    const x = tensor(Float32Array.from(randArray(2 * 4 * 8 * 8, 7)), [2, 4, 8, 8]);
    const relu = [...await x.relu().toArray()];
    assert.deepEqual(
      [...await enc.stages[0].blocks[1].forward(x).toArray()],
      relu,
      "identity block = relu(x)",
    );
    const projected = enc.stages[1].blocks[0];
    assert.deepEqual(
      [...await projected.forward(x).toArray()],
      [...await projected.shortcut!.forward(x).relu().toArray()],
      "projection block = relu(shortcut(x))",
    );
  });
  enc.dispose();
});

/** Parameters of a config: convs without bias, GN weight and bias, projections where the shape changes. */
function expectedCount(cfg: ResNetEncoderConfig): number {
  const gn = (c: number) => 2 * c;
  let n = cfg.inChannels * cfg.channels[0] * 9 + gn(cfg.channels[0]), cin = cfg.channels[0];
  cfg.channels.forEach((c, i) => {
    for (let b = 0; b < cfg.blocks[i]; b++) {
      const inC = b === 0 ? cin : c, stride = b === 0 ? cfg.strides[i] : 1;
      n += inC * c * 9 + gn(c) + c * c * 9 + gn(c);
      if (stride !== 1 || inC !== c) n += inC * c + gn(c);
    }
    cin = c;
  });
  return n + cin * cfg.headHidden + gn(cfg.headHidden) + cfg.headHidden * cfg.latentDim + gn(cfg.latentDim);
}

Deno.test("ResNetEncoder: parameter count formula and names", () => {
  const enc = new ResNetEncoder({ latentDim: 64 });
  assert.equal(enc.numParameters(), expectedCount(enc.config));
  assert.equal(
    enc.numParameters(),
    331_744,
    "the default backbone [32, 64, 128] with a 128 -> 128 -> 64 head",
  );
  assert.equal(enc.representationDim, 128);
  enc.dispose();
  const deep = new ResNetEncoder({
    latentDim: 32,
    channels: [16, 32, 32],
    blocks: [2, 3, 1],
    strides: [2, 1, 1],
    groups: 4,
    headHidden: 48,
  });
  assert.equal(deep.numParameters(), expectedCount(deep.config));
  const names = deep.namedParameters().map(([n]) => n);
  assert.ok(names.includes("stages.0.blocks.0.shortcut.conv.weight"), "stride 2 in the first stage projects");
  assert.ok(
    !names.some((n) => n.startsWith("stages.2.blocks.0.shortcut")),
    "32 -> 32 at stride 1 is the identity",
  );
  assert.deepEqual(names.slice(-6), [
    "head.0.weight",
    "head.1.weight",
    "head.1.bias",
    "head.3.weight",
    "head.4.weight",
    "head.4.bias",
  ]);
  deep.dispose();
});

Deno.test("ResNetEncoder: shapes, GroupNorm'd anchors, and latents = the Euler flow (K = 20) over the batch", async () => {
  const enc = new ResNetEncoder(TINY);
  assert.equal(enc.config.latentSolver, "euler");
  assert.equal(enc.config.latentSteps, 20);
  const batch = { images: Float32Array.from(randArray(2 * 64, 8)), count: 2 };
  await scope(async () => {
    assert.deepEqual(enc.representation(enc.toTensor(batch)).shape, [2, 8]);
    const anchors = enc.anchors(batch);
    assert.deepEqual(anchors.shape, [2, 8]);
    // The head ends in GroupNorm(2, 8) with weight 1 and bias 0: each group of 4 has mean 0, variance ~1.
    const a = await anchors.toArray();
    for (let g = 0; g < 4; g++) {
      const run = a.subarray(g * 4, g * 4 + 4), mean = run.reduce((s, v) => s + v, 0) / 4;
      assert.ok(Math.abs(mean) < 1e-5, `group ${g} mean ${mean}`);
      assert.ok(Math.abs(run.reduce((s, v) => s + (v - mean) ** 2, 0) / 4 - 1) < 1e-3, `group ${g} variance`);
    }
    const want = await computeLatents(anchors, { solver: "euler", steps: 20, tau: 0.45, seed: 5 }).toArray();
    assert.ok(want.every(Number.isFinite));
    assert.deepEqual([...await enc.latentsOf(anchors, { tau: 0.45, seed: 5 }).toArray()], [...want]);
    assert.deepEqual([...await enc.latents(batch, { tau: 0.45, seed: 5 }).toArray()], [...want]);
    assert.equal(enc.count(batch), 2);
    assert.throws(() => enc.anchors({ images: new Float32Array(64), count: 2 }), /needs 128 values, got 64/);
  });
  enc.dispose();
});

Deno.test("ResNetEncoder: a bad config fails with every problem and its path", () => {
  assert.throws(
    () =>
      new ResNetEncoder({ latentDim: 30, channels: [32, 60], blocks: [1], strides: [1, 2], headHidden: 20 }),
    (e: unknown) => {
      assert.ok(e instanceof ConfigError);
      assert.match(e.message, /invalid ResNet encoder config/);
      assert.match(e.message, /needs one entry per stage \(2\), got 1[\s\S]*at blocks/);
      assert.match(e.message, /60 is not divisible by groups \(8\)[\s\S]*at channels\[1\]/);
      assert.match(e.message, /20 is not divisible by groups \(8\)[\s\S]*at headHidden/);
      assert.match(e.message, /30 is not divisible by groups \(8\)[\s\S]*at latentDim/);
      return true;
    },
  );
  assert.throws(() => new ResNetEncoder({ latentDim: 16, strides: [1, 3, 2] as (1 | 2)[] }), /strides\[1\]/);
  assert.throws(() => new ResNetEncoder({ latentDim: 16, depth: 50 } as never), /depth/);
});

Deno.test("encoders: an empty batch, or a count that is not a whole number, is one clear error", () => {
  const live = bufferPool.live;
  const encoders = [
    new ImageEncoder({ latentDim: 8, seed: 1 }),
    new ResNetEncoder({ latentDim: 8, seed: 1 }),
  ];
  for (const enc of encoders) {
    for (const count of [0, 1.5, NaN]) {
      assert.throws(
        () => noGrad(() => enc.anchors({ images: new Float32Array(0), count })),
        new RegExp(`encoder: a batch needs a count of at least 1 image, got ${count}$`),
      );
    }
  }
  for (const enc of encoders) enc.dispose();
  assert.equal(bufferPool.live, live);
});
