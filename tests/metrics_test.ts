/**
 * Evaluation metrics: the Jacobi eigensolver, FID against closed forms, generation accuracy, and the reference
 * network end to end on a small MNIST slice, trained by the cross-entropy recipe (it beats chance by a stated
 * margin; its exported file round-trips with its hash; FID of real images against themselves is ~0).
 */
import { strict as assert } from "node:assert";
import { bufferPool, onesFlag } from "@lzn/tensor";
import {
  type FeatureStats,
  featureStats,
  frechetDistance,
  generationAccuracy,
  generationMetrics,
  loadReference,
  psdSqrt,
  realStatistics,
  referenceOutputs,
  symmetricEigen,
  toPixels,
} from "@lzn/metrics";
import {
  type CrossEntropyConfig,
  crossEntropyRecipe,
  evaluateRun,
  parseRecipeConfig,
  train,
} from "@lzn/tasks";
import { assertClose, randArray, randnArray } from "./util.ts";

/** A random orthogonal n x n matrix: a product of n Householder reflections of random vectors. */
function randomOrthogonal(n: number, seed: number): Float64Array {
  const q = new Float64Array(n * n);
  for (let i = 0; i < n; i++) q[i * n + i] = 1;
  for (let k = 0; k < n; k++) {
    const v = randnArray(n, seed * 1000 + k);
    const norm2 = v.reduce((s, x) => s + x * x, 0);
    // q <- q (I - 2 v v^T / |v|^2)
    for (let i = 0; i < n; i++) {
      let dot = 0;
      for (let j = 0; j < n; j++) dot += q[i * n + j] * v[j];
      for (let j = 0; j < n; j++) q[i * n + j] -= 2 * dot * v[j] / norm2;
    }
  }
  return q;
}

/** `q diag(d) q^T`. */
function withSpectrum(q: Float64Array, d: ArrayLike<number>, n: number): Float64Array {
  const a = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let k = 0; k < n; k++) s += q[i * n + k] * d[k] * q[j * n + k];
      a[i * n + j] = s;
    }
  }
  return a;
}

function diagonal(d: ArrayLike<number>): Float64Array {
  const n = d.length, a = new Float64Array(n * n);
  for (let i = 0; i < n; i++) a[i * n + i] = d[i];
  return a;
}

const stats = (mean: ArrayLike<number>, cov: Float64Array): FeatureStats => ({
  count: 1000,
  dim: mean.length,
  mean: Float64Array.from(mean),
  cov,
});

Deno.test("symmetricEigen: small matrices with known eigenpairs", () => {
  const two = symmetricEigen([2, 1, 1, 2], 2);
  assertClose(two.values, [1, 3], { atol: 1e-14, what: "eigenvalues of [[2,1],[1,2]]" });
  const s = Math.SQRT1_2;
  assertClose(two.vectors.map(Math.abs), [s, s, s, s], { atol: 1e-14, what: "|eigenvectors|" });
  assert.ok(two.vectors[0] * two.vectors[1] < 0, "the eigenvector of 1 is (1, -1)/sqrt 2 up to sign");

  // The second-difference matrix: eigenvalues 2 - 2 cos(k pi / 4), eigenvectors sin(j k pi / 4).
  const t = symmetricEigen([2, -1, 0, -1, 2, -1, 0, -1, 2], 3);
  assertClose(t.values, [2 - Math.SQRT2, 2, 2 + Math.SQRT2], {
    atol: 1e-14,
    what: "tridiagonal eigenvalues",
  });
  for (let k = 0; k < 3; k++) {
    const expected = [1, 2, 3].map((j) => Math.sin(j * (k + 1) * Math.PI / 4));
    const norm = Math.hypot(...expected), v = t.vectors.subarray(k * 3, k * 3 + 3);
    const sign = Math.sign(v[0]) * Math.sign(expected[0]);
    assertClose(v.map((x) => x * sign), expected.map((x) => x / norm), {
      atol: 1e-13,
      what: `eigenvector ${k}`,
    });
  }
  assert.throws(() => symmetricEigen([1, 2, 0, 1], 2), /not symmetric/);
  assert.throws(() => symmetricEigen([1, 2, 3], 2), /expected 2 x 2/);
});

Deno.test("symmetricEigen: a 128 x 128 matrix with a known spectrum (and a 256 x 256 one within seconds)", () => {
  const n = 128, q = randomOrthogonal(n, 1);
  const spectrum = Float64Array.from({ length: n }, (_, i) => (i - 40) * 0.37 + (i % 7) * 1e-3);
  const a = withSpectrum(q, spectrum, n);
  const t0 = performance.now();
  const { values, vectors } = symmetricEigen(a, n);
  const ms128 = performance.now() - t0;
  assertClose(values, [...spectrum].sort((x, y) => x - y), { atol: 1e-11, what: "eigenvalues" });
  // A v_k = lambda_k v_k and V V^T = I.
  let residual = 0, orth = 0;
  for (let k = 0; k < n; k++) {
    const v = vectors.subarray(k * n, (k + 1) * n);
    for (let i = 0; i < n; i++) {
      let av = 0;
      for (let j = 0; j < n; j++) av += a[i * n + j] * v[j];
      residual = Math.max(residual, Math.abs(av - values[k] * v[i]));
    }
    for (let l = 0; l < n; l++) {
      let dot = 0;
      for (let j = 0; j < n; j++) dot += v[j] * vectors[l * n + j];
      orth = Math.max(orth, Math.abs(dot - (k === l ? 1 : 0)));
    }
  }
  assert.ok(residual < 1e-11, `max |A v - lambda v| = ${residual}`);
  assert.ok(orth < 1e-12, `max |V V^T - I| = ${orth}`);

  const m = 256, big = withSpectrum(randomOrthogonal(m, 2), randArray(m, 3, 0, 5), m);
  const t1 = performance.now();
  symmetricEigen(big, m);
  const ms256 = performance.now() - t1;
  console.log(`symmetricEigen: n=128 ${ms128.toFixed(0)} ms, n=256 ${ms256.toFixed(0)} ms`);
  assert.ok(ms256 < 5000, `n = 256 took ${ms256.toFixed(0)} ms`);
});

Deno.test("featureStats: mean and unbiased covariance of a hand-made set", () => {
  // Vectors (1, 2), (3, 2), (5, 8): mean (3, 4); deviations (-2, -2), (0, -2), (2, 4).
  const s = featureStats([1, 2, 3, 2, 5, 8], 3, 2);
  assertClose(s.mean, [3, 4], { atol: 1e-15 });
  assertClose(s.cov, [4, 6, 6, 12], { atol: 1e-14, what: "covariance (divided by n - 1 = 2)" });
  assert.throws(() => featureStats([1, 2], 1, 2), /at least 2/);
  assert.throws(() => featureStats([1, 2, 3], 2, 2), /expected 2 x 2/);
});

Deno.test("FID: a feature set against itself is ~0", () => {
  const n = 500, d = 64, features = randnArray(n * d, 11);
  // Correlate the features so the covariance is dense, not near the identity.
  for (let i = 0; i < n; i++) {
    for (let p = 1; p < d; p++) features[i * d + p] += 0.8 * features[i * d + p - 1];
  }
  const s = featureStats(features, n, d);
  const fid = frechetDistance(s, s);
  assert.ok(fid < 1e-9, `FID(x, x) = ${fid}`);
});

Deno.test("FID: Gaussians with diagonal covariances match sum (sqrt a - sqrt b)^2 + |mu|^2, also after a rotation", () => {
  const d = 64;
  const a = randArray(d, 21, 0.1, 3), b = randArray(d, 22, 0.1, 3), mu = randArray(d, 23, -1, 1);
  let expected = 0;
  for (let p = 0; p < d; p++) expected += (Math.sqrt(a[p]) - Math.sqrt(b[p])) ** 2 + mu[p] ** 2;
  const zero = new Float64Array(d);
  const fid = frechetDistance(stats(zero, diagonal(a)), stats(mu, diagonal(b)));
  assertClose([fid], [expected], { rtol: 1e-11, atol: 1e-12, what: "diagonal FID" });
  // FID is invariant under a common rotation; rotated, both covariances are dense.
  const q = randomOrthogonal(d, 5), rmu = new Float64Array(d);
  for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) rmu[i] += q[i * d + j] * mu[j];
  const rotated = frechetDistance(stats(zero, withSpectrum(q, a, d)), stats(rmu, withSpectrum(q, b, d)));
  assertClose([rotated], [expected], { rtol: 1e-10, atol: 1e-10, what: "rotated FID" });
});

Deno.test("FID: non-commuting 2 x 2 covariances match the closed form", () => {
  // For 2 x 2 PSD M = S1^(1/2) S2 S1^(1/2): Tr M^(1/2) = sqrt(Tr(S1 S2) + 2 sqrt(det S1 det S2)).
  const s1 = Float64Array.of(2, 0.6, 0.6, 1), s2 = Float64Array.of(0.5, -0.3, -0.3, 3);
  const tr12 = s1[0] * s2[0] + s1[1] * s2[2] + s1[2] * s2[1] + s1[3] * s2[3];
  const det = (m: Float64Array) => m[0] * m[3] - m[1] * m[2];
  const mu = [0.3, -1.2];
  const expected = mu[0] ** 2 + mu[1] ** 2 + (2 + 1) + (0.5 + 3) -
    2 * Math.sqrt(tr12 + 2 * Math.sqrt(det(s1) * det(s2)));
  const fid = frechetDistance(stats([0, 0], s1), stats(mu, s2));
  assertClose([fid], [expected], { rtol: 1e-12, atol: 1e-13, what: "2x2 FID" });
  assertClose([frechetDistance(stats(mu, s2), stats([0, 0], s1))], [expected], {
    rtol: 1e-12,
    what: "symmetry",
  });
  // psdSqrt squares back to its input.
  const r = psdSqrt(s1, 2);
  const rr = [
    r[0] * r[0] + r[1] * r[2],
    r[0] * r[1] + r[1] * r[3],
    r[2] * r[0] + r[3] * r[2],
    r[2] * r[1] + r[3] * r[3],
  ];
  assertClose(rr, s1, { atol: 1e-14, what: "psdSqrt(S)^2" });
  assert.throws(() => frechetDistance(stats([0], diagonal([1])), stats([0, 0], s1)), /dimensions differ/);
});

Deno.test("generationAccuracy: hand-built predictions", () => {
  const intended = [0, 0, 0, 0, 1, 1, 2, 2, 2, 2];
  const predicted = [0, 0, 1, 0, 1, 2, 2, 2, 2, 0];
  const r = generationAccuracy(predicted, intended, 4);
  assert.deepEqual(r.overall, { correct: 7, total: 10, accuracy: 0.7 });
  assert.deepEqual(r.perClass.slice(0, 3), [
    { correct: 3, total: 4, accuracy: 0.75 },
    { correct: 1, total: 2, accuracy: 0.5 },
    { correct: 3, total: 4, accuracy: 0.75 },
  ]);
  assert.ok(Number.isNaN(r.perClass[3].accuracy) && r.perClass[3].total === 0, "class 3 had no samples");
  assert.deepEqual(r.confusion[2], [1, 0, 3, 0]);
  assert.throws(() => generationAccuracy([0, 5], [0, 1], 4), /predicted label 5 of sample 1/);
  assert.throws(() => generationAccuracy([0], [0, 1], 4), /1 predictions for 2/);
});

const ROOT = ".cache/test-runs/reference";

/**
 * 10 MNIST classes x 60 training digits, 20 test digits per class; a 3-block CNN (receptive field 15 px) with
 * 32 features, 150 steps at a high learning rate.
 */
const TINY: CrossEntropyConfig = parseRecipeConfig({
  recipe: "cross-entropy",
  name: "tiny-reference",
  model: {
    network: "reference",
    reference: { channels: [8, 16, 32], strides: [2, 2, 2], groups: 4, featureDim: 32, seed: 3 },
  },
  data: { dataset: "mnist", trainPerClass: 60, testPerClass: 20, shift: 1 },
  train: {
    steps: 150,
    batchSize: 50,
    lr: 2e-2,
    warmupSteps: 5,
    logEvery: 50,
    checkpointEvery: 0,
    emaDecay: 0.9,
  },
  eval: { batchSize: 200 },
}, "test");

Deno.test("reference network: the cross-entropy recipe trains it on 10 x 60 MNIST digits to >= 0.6 test accuracy (chance 0.1); its file round-trips with a hash; FID of real images", async (t) => {
  onesFlag(); // the core's shared always-1 flag is created on first use and never freed: not a leak
  const live = bufferPool.live;
  const dir = `${ROOT}/tiny`;
  const run = await train(crossEntropyRecipe, TINY, {
    runDir: dir,
    start: "fresh",
    log: null,
    onProgress: () => {},
  });
  try {
    const losses = run.history.map((r) => r.loss);
    assert.ok(losses.at(-1)! < losses[0] * 0.6, `loss should fall: ${losses.join(" ")}`);
    const metrics = await evaluateRun(crossEntropyRecipe, TINY, run.model, {
      run: { dir, step: run.state.step, architectureHash: run.state.architectureHash, weights: "ema" },
      data: run.data,
      optimizers: run.optimizers,
      log: () => {},
    });
    const accuracy = metrics.accuracy as number;
    console.log(`reference: loss ${losses.map((l) => l.toFixed(3)).join(" -> ")}, test accuracy ${accuracy}`);
    assert.ok(accuracy >= 0.6, `test accuracy ${accuracy} should beat chance (0.1) by 0.5`);

    await t.step(
      "the exported file loads with its info and hash, and predicts as the EMA network",
      async () => {
        const ref = await loadReference(`${dir}/reference.safetensors`, { dataset: "mnist" });
        try {
          assert.equal(ref.info.testAccuracy, accuracy);
          assert.match(ref.sha256, /^[0-9a-f]{64}$/);
          const test = run.data.test;
          const out = await referenceOutputs(ref.net, { pixels: test.images, count: test.count }, {
            batchSize: 64,
          });
          const acc = out.predictions.filter((p, i) => p === test.labels[i]).length / test.count;
          assert.equal(acc, accuracy, "8-bit test images are the data as trained: the same accuracy");
          await assert.rejects(
            loadReference(`${dir}/reference.safetensors`, { dataset: "fashion-mnist" }),
            /trained on mnist, not fashion-mnist/,
          );
          await assert.rejects(loadReference(`${dir}/state.json`), /reference network .*state\.json/);
        } finally {
          ref.net.dispose();
        }
      },
    );

    await t.step(
      "generationMetrics: real images against themselves give FID ~0 and the test accuracy; blank ones are far",
      async () => {
        const ref = await loadReference(`${dir}/reference.safetensors`);
        try {
          const test = run.data.test;
          const real = await realStatistics(ref, { pixels: test.images, count: test.count });
          const same = await generationMetrics(
            ref,
            { pixels: test.images, count: test.count },
            real,
            Int32Array.from(test.labels),
          );
          assert.ok(same.fid < 1e-6, `FID of the test set against itself: ${same.fid}`);
          assert.equal(same.accuracy!.overall.accuracy, accuracy);
          assert.equal(same.reference, ref.sha256.slice(0, 16));
          const blank = toPixels(new Float32Array(50 * 784).fill(-1));
          const labels = Int32Array.from({ length: 50 }, (_, i) => i % 10);
          const far = await generationMetrics(ref, { pixels: blank, count: 50 }, real, labels);
          assert.ok(far.fid > 1, `FID of blank images: ${far.fid}`);
          assert.ok(far.accuracy!.perClass.every((c) => c.total === 5));
        } finally {
          ref.net.dispose();
        }
      },
    );
  } finally {
    run.dispose();
  }
  assert.equal(bufferPool.live, live, "training, export and metrics free every GPU buffer they allocate");
});

Deno.test("toPixels: the release's uint8 conversion, and non-finite values refused", () => {
  assert.deepEqual([...toPixels(new Float32Array([-1, -2, 0, 1, 3, -0.999]))], [0, 0, 128, 255, 255, 0]);
  assertClose([toPixels(new Float32Array([0.5]))[0]], [Math.round(0.75 * 255)], { atol: 0, rtol: 0 });
  assert.throws(() => toPixels(new Float32Array([0, NaN])), /value NaN at index 1/);
});
