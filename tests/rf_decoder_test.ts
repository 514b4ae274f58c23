/**
 * The rectified-flow image decoder: UNet shapes, the RF loss's gradient against finite differences, the ODE
 * solvers against closed-form solutions, inverse + forward ODE round trips, and a leak-free training step.
 * Micro configs (8x8 images, 4-8 channels) keep lavapipe fast.
 */
import { strict as assert } from "node:assert";
import {
  Adam,
  clipGradNorm,
  copyBuffer,
  EMA,
  finiteFlag,
  noGrad,
  randn,
  scope,
  type Tensor,
  tensor,
} from "@lzn/tensor";
import {
  eulerIntegrate,
  parseRfDecoderConfig,
  RF_EPS,
  RfImageDecoder,
  rfLoss,
  RfUNet,
  rfVelocityField,
  rk45Integrate,
  type VelocityField,
} from "@lzn/decoders";
import { assertNoLeak, randnArray } from "./util.ts";

/** 8x8 images, two levels (8 -> 4), attention at 4x4; q = 3, C = 3. */
const MICRO = {
  latentDim: 3,
  classes: 3,
  imageSize: 8,
  channels: [4, 8],
  timeEmbedDim: 8,
  condDim: 8,
  zeroInit: false,
  seed: 3,
};

function finite(values: Float32Array): boolean {
  return values.every(Number.isFinite);
}

Deno.test("RF UNet: 28x28 default layout gives a finite velocity of the input's shape", async () => {
  const net = new RfUNet({ latentDim: 4, classes: 10, channels: [8, 8, 16], zeroInit: false });
  const labels = Int32Array.from([0, 9]);
  const dec = new RfImageDecoder({ latentDim: 4, classes: 10, channels: [8, 8, 16] });
  const out = scope(() => {
    const x = randn([2, 1, 28, 28], { seed: 1 });
    const cond = dec.condition({ latents: randn([2, 4], { seed: 2 }), labels }, 2);
    return net.forward(x, tensor([0.1, 0.95], [2]), cond);
  });
  assert.deepEqual(out.shape, [2, 1, 28, 28]);
  const values = await out.toArray();
  assert.ok(finite(values), "velocity has non-finite values");
  assert.ok(values.some((v) => Math.abs(v) > 1e-3), "a non-zero-init network should give a non-zero field");
  out.dispose();
  net.dispose();
  dec.dispose();
  // 3 levels halve 28 twice (28 -> 14 -> 7); the attention block sits at 7x7.
  assert.deepEqual(net.attention?.channels, 16);
});

Deno.test("RF decoder config: bad values fail with every problem named", () => {
  assert.throws(
    () => parseRfDecoderConfig({ channels: [6, 8, 8, 8], timeEmbedDim: 7 }),
    (e: Error) =>
      /channels\[0\]/.test(e.message) && /not divisible by 8/.test(e.message) &&
      /timeEmbedDim/.test(e.message),
  );
  assert.throws(() => new RfUNet({ depth: 3 } as never), /Unrecognized key/);
});

Deno.test("RF loss: gradient w.r.t. parameters and latents matches central finite differences", async () => {
  const net = new RfUNet(MICRO);
  const dec = new RfImageDecoder(MICRO); // only for its condition() helper
  const images = tensor(Float32Array.from(randnArray(3 * 64, 11), (v) => Math.tanh(v)), [3, 1, 8, 8]);
  const latents = tensor(Float32Array.from(randnArray(9, 12)), [3, 3], { requiresGrad: true });
  const labels = Int32Array.from([0, 2, 1]);
  const cond = dec.condition({ labels }, 3);
  // The same seed every call: identical times and noise, so the loss is a function of the parameters only.
  const loss = () => scope(() => rfLoss(net, images, { latents, classes: cond.classes, seed: 5 }));
  const l0 = loss();
  l0.backward();
  const named = Object.fromEntries(net.namedParameters());
  const checked = [
    "convIn.weight",
    "condIn.weight",
    "down.0.dense.weight",
    "attention.query.weight",
    "convOut.bias",
  ];
  for (const name of checked) {
    const p = named[name];
    assert.ok(p, `no parameter ${name}`);
    const g = await p.grad!.toArray();
    // The element with the largest gradient: a clear signal above float32 rounding.
    let k = 0;
    g.forEach((v, i) => Math.abs(v) > Math.abs(g[k]) && (k = i));
    const fd = await centralDifference(p, k, 1e-2, loss);
    assert.ok(
      Math.abs(fd - g[k]) <= 0.03 * Math.abs(g[k]) + 2e-4,
      `${name}[${k}]: autograd ${g[k]}, finite differences ${fd}`,
    );
  }
  const gz = await latents.grad!.toArray();
  for (const k of [0, 4, 8]) {
    const fd = await centralDifference(latents, k, 1e-2, loss);
    assert.ok(Math.abs(fd - gz[k]) <= 0.03 * Math.abs(gz[k]) + 2e-4, `latent ${k}: ${gz[k]} vs ${fd}`);
  }
  l0.dispose();
  for (const t of [images, latents, cond.classes!]) t.dispose();
  net.dispose();
  dec.dispose();
});

/** (L(p + h e_k) − L(p − h e_k)) / 2h, editing element k of `p` in place through a GPU copy. */
async function centralDifference(p: Tensor, k: number, h: number, loss: () => Tensor): Promise<number> {
  const base = await p.toArray();
  const at = async (delta: number) => {
    const v = base.slice();
    v[k] += delta;
    setValues(p, v);
    const l = noGrad(loss);
    const value = await l.item();
    l.dispose();
    return value;
  };
  const plus = await at(h), minus = await at(-h);
  setValues(p, base);
  return (plus - minus) / (2 * h);
}

function setValues(p: Tensor, values: Float32Array): void {
  const src = tensor(values, [...p.shape]);
  copyBuffer(src.buffer, 0, p.buffer, 0, values.length * 4);
  src.dispose();
}

/** `dx/dt = cos(t) x`: `x(t) = x(t0) exp(sin t − sin t0)`. */
const cosField: VelocityField = (x, t) => x.mul(Math.cos(t));

Deno.test("RK45: reaches its tolerance on an ODE with a closed-form solution, forwards and backwards", async () => {
  const x0 = [1, -2, 0.5, 3];
  const exact = (t0: number, t1: number) => x0.map((v) => v * Math.exp(Math.sin(t1) - Math.sin(t0)));
  const errors: number[] = [];
  const nfes: number[] = [];
  for (const tol of [1e-3, 1e-6]) {
    const start = tensor(x0, [4]);
    const r = await rk45Integrate(cosField, start, { t0: 0, t1: 2, rtol: tol, atol: tol });
    const got = await r.x.toArray();
    const want = exact(0, 2);
    // Global error stays within a small multiple of the per-step tolerance on this smooth problem.
    const err = Math.max(...want.map((w, i) => Math.abs(got[i] - w) / (tol + tol * Math.abs(w))));
    assert.ok(err < 10, `tol ${tol}: error ${err} x tolerance`);
    errors.push(Math.max(...want.map((w, i) => Math.abs(got[i] - w))));
    nfes.push(r.nfe);
    assert.equal(r.nfe, 2 + 6 * (r.steps + r.rejected), "nfe = initial f + step probe + 6 per attempt");
    r.x.dispose();
    start.dispose();
  }
  assert.ok(errors[1] < errors[0] / 50, `tighter tolerance must be more accurate: ${errors}`);
  assert.ok(nfes[1] > nfes[0], `tighter tolerance needs more evaluations: ${nfes}`);
  // Backwards in time (the inverse ODE's direction): 2 -> 0 recovers x0.
  const end = tensor(exact(0, 2), [4]);
  const back = await rk45Integrate(cosField, end, { t0: 2, t1: 0, rtol: 1e-6, atol: 1e-6 });
  const got = await back.x.toArray();
  x0.forEach((v, i) => assert.ok(Math.abs(got[i] - v) < 1e-4, `backward ${i}: ${got[i]} vs ${v}`));
  back.x.dispose();
  end.dispose();
});

Deno.test("Euler-N agrees with RK45 on a smooth field, converging at first order", async () => {
  // dx/dt = −x + sin(3t), smooth and non-autonomous.
  const field: VelocityField = (x, t) => x.neg().add(Math.sin(3 * t));
  const start = tensor([0.5, -1, 2], [3]);
  const ref = await rk45Integrate(field, start, { t0: 0, t1: 1, rtol: 1e-8, atol: 1e-8 });
  const want = await ref.x.toArray();
  const errs: number[] = [];
  for (const steps of [50, 500]) {
    const r = eulerIntegrate(field, start, { t0: 0, t1: 1, steps });
    assert.equal(r.nfe, steps);
    const got = await r.x.toArray();
    errs.push(Math.max(...got.map((g, i) => Math.abs(g - want[i]))));
    r.x.dispose();
  }
  assert.ok(errs[1] < 2e-3, `Euler-500 vs RK45: ${errs[1]}`);
  const ratio = errs[0] / errs[1];
  assert.ok(ratio > 7 && ratio < 13, `10x the steps should cut the error ~10x (first order), got ${ratio}`);
  ref.x.dispose();
  start.dispose();
});

Deno.test("RF decoder: the inverse ODE followed by the forward ODE reconstructs the images", async () => {
  const dec = new RfImageDecoder(MICRO);
  const images = tensor(Float32Array.from(randnArray(2 * 64, 21), (v) => Math.tanh(v)), [2, 1, 8, 8]);
  const latents = tensor(Float32Array.from(randnArray(6, 22)), [2, 3]);
  const input = { latents, labels: Int32Array.from([1, 2]) };
  // A random network's field oscillates in t with the fastest embedding frequencies (999·t rad: ~160 periods
  // over [0, 1]); a trained field is smooth in t. Cut the two fastest sin/cos pairs out of the condition
  // (columns q + C + {0, 1} and q + C + 4 + {0, 1} of the first conditioning layer) and scale the output
  // down, so that the round trip below takes ~100 evaluations instead of thousands.
  const condIn = dec.net.condIn.weight;
  const w = await condIn.toArray();
  const inputs = condIn.shape[1];
  for (let row = 0; row < condIn.shape[0]; row++) for (const col of [6, 7, 10, 11]) w[row * inputs + col] = 0;
  setValues(condIn, w);
  const out = dec.net.convOut.weight;
  setValues(out, (await out.toArray()).map((v) => v * 0.3));
  const rk = { kind: "rk45", rtol: 1e-5, atol: 1e-5 } as const;
  // RK45's inverse returns the noise extrapolated to t = 0 (spec §5.7): undo the extrapolation to get the
  // state at t = 1e-3, then integrate that forward again. A true inverse pair lands back on the images.
  const inverse = await dec.invert(images, input, rk);
  const [moved, atEps] = scope(() => [
    inverse.x.sub(images).abs().max(),
    inverse.x.mul(1 - RF_EPS).add(images.mul(RF_EPS)),
  ]);
  const distance = await moved.item();
  assert.ok(distance > 0.1, `the field must move the images (max |noise − image| = ${distance})`);
  const cond = dec.condition(input, 2);
  const forward = await rk45Integrate(rfVelocityField(dec.net, cond), atEps, {
    t0: RF_EPS,
    t1: 1,
    rtol: 1e-5,
    atol: 1e-5,
  });
  const err = scope(() => forward.x.sub(images).abs().max());
  const worst = await err.item();
  console.log(
    `rk45 round trip: nfe ${inverse.nfe} + ${forward.nfe}, max error ${worst.toExponential(2)}, ` +
      `distance ${distance.toFixed(2)}`,
  );
  assert.ok(worst < 1e-3, `RK45 round trip: max error ${worst} (distance travelled ${distance})`);
  for (const t of [inverse.x, forward.x, err, moved, atEps, cond.classes!]) t.dispose();
  // Euler: the inverse and forward discretisations differ by O(h), so the error falls ~4x with 4x the steps.
  const coarse = await dec.reconstructionError(images, input, { kind: "euler", steps: 5 });
  const fine = await dec.reconstructionError(images, input, { kind: "euler", steps: 20 });
  assert.equal(fine.nfe, 40);
  const ratio = coarse.error / fine.error;
  console.log(
    `euler reconstruction error: 5 steps ${coarse.error.toFixed(4)}, 20 steps ${fine.error.toFixed(4)}`,
  );
  assert.ok(ratio > 2.5 && fine.error < 0.1 * distance, `Euler errors ${coarse.error} -> ${fine.error}`);
  images.dispose();
  latents.dispose();
  dec.dispose();
});

Deno.test("RF decoder: a training step (loss, backward, clip, Adam, EMA) leaks no buffers", async () => {
  const dec = new RfImageDecoder(MICRO);
  const params = dec.parameters();
  const adam = new Adam([{ params, lr: 1e-3 }]);
  const ema = new EMA(params, { decay: 0.99 });
  const images = tensor(Float32Array.from(randnArray(2 * 64, 31), (v) => Math.tanh(v)), [2, 1, 8, 8]);
  const latents = tensor(Float32Array.from(randnArray(6, 32)), [2, 3]);
  const step = async (seed: number) => {
    const loss = scope(() => {
      const l = dec.loss(images, { latents, labels: Int32Array.from([0, 1]), seed });
      l.backward();
      const norm = clipGradNorm(params, 1);
      const ok = finiteFlag(l, norm);
      adam.step({ finite: ok });
      ema.update({ finite: ok });
      adam.zeroGrad();
      return l;
    });
    const v = await loss.item();
    loss.dispose();
    return v;
  };
  await step(0); // creates the lazily cached flags and kernels
  await assertNoLeak(async () => {
    const v = await step(1);
    assert.ok(Number.isFinite(v));
  }, "RF decoder training step");
  await assertNoLeak(async () => {
    const out = await dec.decode(latents, {
      labels: Int32Array.from([2, 0]),
      sampler: { kind: "euler", steps: 3 },
    });
    assert.equal(out.images.length, 2 * 64);
    assert.ok(finite(out.images));
  }, "RF decoding");
  adam.dispose();
  ema.dispose();
  for (const t of [images, latents]) t.dispose();
  dec.dispose();
});
