/**
 * The linear probe (spec §6.4): near-perfect on linearly separable features, chance on random labels,
 * deterministic for a seed, standardisation equal to probing pre-standardised features, and input checks.
 */
import { strict as assert } from "node:assert";
import { bufferPool, onesFlag } from "../tensor/mod.ts";
import { linearProbe, type ProbeSet } from "../metrics/linear_probe.ts";
import { randnArray, rng } from "./util.ts";

const CLASSES = 4, DIM = 8;

/** Class c sits at 3 e_c plus N(0, 0.5^2) noise: the classes are linearly separable with a wide margin. */
function separable(count: number, seed: number): ProbeSet {
  const draw = rng(seed), noise = randnArray(count * DIM, seed + 1);
  const labels = Int32Array.from({ length: count }, () => Math.floor(draw() * CLASSES));
  const features = Float32Array.from(
    noise,
    (v, k) => 0.5 * v + (k % DIM === labels[Math.floor(k / DIM)] ? 3 : 0),
  );
  return { features, labels, count, dim: DIM };
}

/** Standard normal features with labels drawn independently of them. */
function randomLabels(count: number, seed: number): ProbeSet {
  const draw = rng(seed);
  const labels = Int32Array.from({ length: count }, () => Math.floor(draw() * CLASSES));
  return { features: Float32Array.from(randnArray(count * DIM, seed + 1)), labels, count, dim: DIM };
}

const quick = { classes: CLASSES, epochs: 12, batchSize: 32, lr: 0.05 };

Deno.test("linearProbe: linearly separable features reach near-100% test top-1", async () => {
  onesFlag(); // Adam's shared default flag is created once and never freed: not the probe's
  const before = bufferPool.live;
  const r = await linearProbe(separable(256, 1), separable(256, 2), { ...quick, seed: 3 });
  assert.equal(r.perEpoch.length, quick.epochs);
  assert.equal(r.top1, r.perEpoch[quick.epochs - 1].testTop1);
  assert.ok(r.top1 >= 0.98, `top-1 ${r.top1}`);
  assert.ok(
    r.perEpoch[quick.epochs - 1].trainLoss < 0.25 * r.perEpoch[0].trainLoss,
    `train loss ${r.perEpoch.map((e) => e.trainLoss.toFixed(3))}`,
  );
  assert.equal(bufferPool.live, before, "the probe frees its parameters, optimizer state and features");
});

Deno.test("linearProbe: random labels give chance-level test top-1", async () => {
  const r = await linearProbe(randomLabels(256, 4), randomLabels(512, 5), { ...quick, seed: 6 });
  // Chance is 1/4; 4 binomial standard deviations over 512 test rows is 0.077.
  const sd = Math.sqrt(0.25 * 0.75 / 512);
  assert.ok(Math.abs(r.top1 - 0.25) < 4 * sd, `top-1 ${r.top1} vs chance 0.25`);
});

Deno.test("linearProbe: deterministic for a seed, and the seed matters; the last batch is not dropped", async () => {
  // 100 rows in batches of 32: the fourth step of every epoch takes the 4 remaining rows.
  const train = separable(100, 7), test = separable(64, 8);
  const opts = { ...quick, epochs: 3, lr: 0.01 };
  const a = await linearProbe(train, test, { ...opts, seed: 9 });
  const b = await linearProbe(train, test, { ...opts, seed: 9 });
  const c = await linearProbe(train, test, { ...opts, seed: 10 });
  assert.deepEqual(b, a);
  assert.notDeepEqual(c.perEpoch.map((e) => e.trainLoss), a.perEpoch.map((e) => e.trainLoss));
});

Deno.test("linearProbe: standardize equals probing features standardised in float64 beforehand", async () => {
  // Scaled and shifted features: per dimension x * s_j + o_j, a non-standardised version of separable data.
  const base = separable(128, 11), test = separable(64, 12);
  const scale = (set: ProbeSet): ProbeSet => ({
    ...set,
    features: set.features.map((v, k) => v * (1 + 10 * (k % DIM)) + 100 * (k % DIM)),
  });
  const raw = scale(base), rawTest = scale(test);
  const mean = new Float64Array(DIM), sd = new Float64Array(DIM);
  raw.features.forEach((v, k) => mean[k % DIM] += v / raw.count);
  raw.features.forEach((v, k) => sd[k % DIM] += (v - mean[k % DIM]) ** 2 / raw.count);
  const pre = (set: ProbeSet): ProbeSet => ({
    ...set,
    features: set.features.map((v, k) => (v - mean[k % DIM]) / Math.sqrt(sd[k % DIM])),
  });
  const opts = { ...quick, epochs: 4, seed: 13 };
  const viaOption = await linearProbe(raw, rawTest, { ...opts, standardize: true });
  const manual = await linearProbe(pre(raw), pre(rawTest), opts);
  viaOption.perEpoch.forEach((e, i) => {
    // Same float64 transform up to the summation order of the mean: losses agree to f32 rounding.
    assert.ok(Math.abs(e.trainLoss - manual.perEpoch[i].trainLoss) < 1e-4, `epoch ${i} loss`);
    assert.equal(e.testTop1, manual.perEpoch[i].testTop1, `epoch ${i} top-1`);
  });
});

Deno.test("linearProbe: bad sets and options are rejected with the reason", async () => {
  const set = separable(8, 14);
  const opts = { classes: CLASSES, epochs: 1, batchSize: 4 };
  const bad: [ProbeSet, ProbeSet, typeof opts, RegExp][] = [
    [
      { ...set, labels: Int32Array.from(set.labels, (l, i) => (i === 5 ? 4 : l)) },
      set,
      opts,
      /train set label 4 of row 5 is outside \[0, 4\)/,
    ],
    [set, { ...set, count: 9 }, opts, /test set has 64 feature values, expected 9 x 8/],
    [set, { ...set, labels: set.labels.subarray(1) }, opts, /test set has 7 labels for 8 rows/],
    [
      set,
      { features: new Float32Array(16), labels: set.labels, count: 8, dim: 2 },
      opts,
      /test features have dim 2, train features 8/,
    ],
    [set, set, { ...opts, batchSize: 0 }, /batchSize must be an integer >= 1, got 0/],
    [set, set, { ...opts, epochs: 1.5 }, /epochs must be an integer >= 1, got 1.5/],
  ];
  for (const [train, test, o, message] of bad) await assert.rejects(linearProbe(train, test, o), message);
});
