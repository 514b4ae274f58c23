/**
 * Statistical properties of the latent flows (lzn-spec.md §12, paper Theorem 1) and decoding (§1.6):
 * two 1-D anchors at ±1, the Gaussian prior, reverse-flow endpoints and soft assignments against the
 * reference, and the round trip anchor -> latent -> nearest anchor.
 */
import { strict as assert } from "node:assert";
import { randn, tensor } from "../tensor/mod.ts";
import { computeLatents, decodeLatents, decodeLatentsTensors, eulerForward, flow } from "../latent/mod.ts";
import { assertClose, fromF64, randArray, randnArray } from "./util.ts";
import { eulerReverseRef } from "./latent_reference.ts";

/** Standard normal CDF (Abramowitz–Stegun 7.1.26 erf, |error| < 1.5e-7). */
function phi(x: number): number {
  const z = Math.abs(x) / Math.SQRT2, t = 1 / (1 + 0.3275911 * z);
  const erf = 1 -
    t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429)))) *
      Math.exp(-z * z);
  return x >= 0 ? 0.5 * (1 + erf) : 0.5 * (1 - erf);
}

Deno.test("Theorem 1: anchors at ±1, P(latent of -1 in +1's zone) = Phi(-(1-g)/g); reverse flow returns the sign's anchor", async () => {
  // Latents of 4096 noise draws started at anchor -1 (x_0 = (1-g)(-1) + g n, as computeLatents starts them),
  // flowed against the anchor set {-1, +1}: the same mixture as a batch of equally many copies of each.
  const m = 4096;
  const labels = tensor([-1, 1], [2, 1]);
  const noise = randnArray(m, 50);
  for (const g of [0.5, 0.3]) {
    const x0 = fromF64(noise.map((v) => (1 - g) * -1 + g * v), [m, 1]);
    const z = flow({ anchors: labels, x0, schedule: eulerForward(40, g) });
    const zs = await z.toArray();
    // The zone boundary is x = 0 at every t: count latents on the positive side.
    let crossed = 0;
    for (let i = 0; i < m; i++) if (zs[i] > 0) crossed++;
    const p = crossed / m, expect = phi(-(1 - g) / g);
    const sigma = Math.sqrt((expect * (1 - expect)) / m);
    assert.ok(Math.abs(p - expect) < 4 * sigma + 2e-3, `g ${g}: ${p} vs ${expect} (sigma ${sigma})`);
    // Reverse direction: decoding sends every latent to the anchor whose sign it has.
    const { endpoints, nearest } = await decodeLatents(labels, z, { steps: 100 });
    for (let i = 0; i < m; i++) {
      if (Math.abs(zs[i]) > 1e-3) assert.equal(nearest[i], zs[i] > 0 ? 1 : 0, `latent ${zs[i]}`);
    }
    for (const t of [endpoints, z, x0]) t.dispose();
  }
});

Deno.test("Gaussian prior: latents of many well-spread anchors have mean ~0 and covariance ~I", async () => {
  const n = 1024, q = 2;
  const A = fromF64(randArray(n * q, 21, -3, 3), [n, q]);
  // 40 steps: at 20, Euler's discretisation error alone shrinks the variance to ~0.84.
  const z = await computeLatents(A, { seed: 22, steps: 40 }).toArray();
  const mean = [0, 0], cov = [0, 0, 0, 0];
  for (let i = 0; i < n; i++) for (let k = 0; k < q; k++) mean[k] += z[i * q + k] / n;
  for (let i = 0; i < n; i++) {
    for (let a = 0; a < q; a++) {
      for (let c = 0; c < q; c++) cov[a * q + c] += (z[i * q + a] - mean[a]) * (z[i * q + c] - mean[c]) / n;
    }
  }
  // Sampling error of a mean over 1024 points is ~0.03, of a variance ~0.045.
  assertClose(mean, [0, 0], { atol: 0.1, what: "mean" });
  assertClose(cov, [1, 0, 0, 1], { atol: 0.15, what: "covariance" });
});

Deno.test("reverse flow endpoints and soft assignments match the release (weighted)", async () => {
  const n = 5, b = 12, q = 3, K = 20;
  const A = randnArray(n * q, 30), Z = randnArray(b * q, 31), w = randArray(n, 32, 0.1, 1);
  const ref = eulerReverseRef(A, Z, b, n, q, K, w);
  const { endpoints, nearest, assignments } = decodeLatentsTensors(fromF64(A, [n, q]), fromF64(Z, [b, q]), {
    steps: K,
    weights: fromF64(w, [n]),
    assignments: true,
  });
  assertClose(await endpoints.toArray(), ref.x, { rtol: 1e-4, atol: 1e-4 });
  assert.deepEqual(assignments!.shape, [K, b, n]);
  const flat = new Float64Array(K * b * n);
  ref.P.forEach((p, k) => flat.set(p, k * b * n));
  assertClose(await assignments!.toArray(), flat, { rtol: 1e-4, atol: 1e-5 });
  const idx = await nearest.toTypedArray();
  for (let i = 0; i < b; i++) {
    let best = 0, bd = Infinity;
    for (let j = 0; j < n; j++) {
      let d = 0;
      for (let k = 0; k < q; k++) d += (ref.x[i * q + k] - A[j * q + k]) ** 2;
      if (d < bd) [bd, best] = [d, j];
    }
    assert.equal(idx[i], best);
  }
});

Deno.test("round trip: the latent of each well-separated anchor decodes back to it", async () => {
  const n = 8, q = 4;
  const A = randn([n, q], { seed: 40 }).mul(4);
  // 100 forward steps: with 20, Euler's discretisation error pushes anchor 2's latent (near a zone boundary)
  // into anchor 3's zone — the float64 reference of the release does exactly the same.
  const z = computeLatents(A, { seed: 41, steps: 100 });
  const { endpoints, nearest } = await decodeLatents(A, z);
  assert.deepEqual(Array.from(nearest), Array.from({ length: n }, (_, i) => i));
  assertClose(await endpoints.toArray(), await A.toArray(), { atol: 0.05 });
});

Deno.test("decodeLatents is inference: trainable anchors give detached endpoints and no graph", async () => {
  const A = tensor([-1, 1], [2, 1], { requiresGrad: true });
  const z = tensor([0.4, -1.3], [2, 1]);
  const { endpoints, nearest } = await decodeLatents(A, z, { steps: 20 });
  assert.equal(endpoints.requiresGrad, false);
  assert.deepEqual(Array.from(nearest), [1, 0]);
  endpoints.dispose();
  A.dispose();
  z.dispose();
});
