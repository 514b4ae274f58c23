/**
 * The fused velocity kernel against the release's materialised formula (lzn-spec.md §1.3), its VJP against
 * float64 finite differences (§1.4), and v(x, 1) = x - mean_w(A) (§12).
 */
import { strict as assert } from "node:assert";
import { posteriorMean, velocity } from "../latent/mod.ts";
import { gpu } from "../tensor/mod.ts";
import { planVelocity, velocityTuning } from "../latent/velocity_kernel.ts";
import { assertClose, assertNoLeak, checkGrad, fromF64, randArray, randnArray } from "./util.ts";
import { velocityRef } from "./latent_reference.ts";

Deno.test("velocity matches the release formula across t, tiles, splits and q (incl. padded q = 200)", async () => {
  for (const [b, n, q] of [[10, 70, 6], [5, 300, 16], [20, 70, 200]]) {
    const X = randnArray(b * q, 1), A = randnArray(n * q, 2);
    for (const t of [1, 0.5, 0.1, 0.01]) {
      const v = velocity(fromF64(X, [b, q]), fromF64(A, [n, q]), t);
      const ref = velocityRef(X, A, b, n, q, t).v;
      // Absolute scale of v grows like |x - Abar| / t.
      assertClose(await v.toArray(), ref, {
        rtol: 1e-4,
        atol: 2e-5 / t,
        what: `v b=${b} n=${n} q=${q} t=${t}`,
      });
      v.dispose();
    }
  }
});

Deno.test("velocity: one split and many splits give the same result", async () => {
  const b = 7, n = 200, q = 8;
  const X = randnArray(b * q, 3), A = randnArray(n * q, 4);
  const out: Float32Array[] = [];
  for (const splits of [1, 4]) {
    velocityTuning.splits = splits;
    const v = velocity(fromF64(X, [b, q]), fromF64(A, [n, q]), 0.2);
    out.push(await v.toArray());
    v.dispose();
  }
  velocityTuning.splits = undefined;
  assertClose(out[0], out[1], { rtol: 1e-5, atol: 1e-5 });
});

Deno.test("velocity: every tile plan matches the release at tile edges (rows and anchors past a tile, q % 4, one point)", async () => {
  // (130, 130, 20): three 64-row blocks and anchor tiles, the last ones partial, vec4 loads; (1, 1, 7): one
  // point and one anchor, scalar loads. Plans: the adapter's, shallow chunks unrolled, and bk = 4 (fewer
  // staged units than threads) with three splits and rolled loops.
  const plans: Partial<typeof velocityTuning>[] = [{}, { bk: 8, jc: 8, unroll: true }, {
    bk: 4,
    jc: 4,
    splits: 3,
    unroll: false,
  }];
  // The GPU-tuning rerun (gpu_tuning_test.ts) checks for this line.
  console.log(
    `latent tuning: ${gpu().adapter.tuning} (plan ${
      JSON.stringify(planVelocity({ b: 130, n: 130, q: 20, weighted: true, paired: false }))
    })`,
  );
  for (const [b, n, q] of [[130, 130, 20], [1, 1, 7]]) {
    const X = randnArray(b * q, 20), A = randnArray(n * q, 21), w = randArray(n, 22, 0.1, 2);
    const ref = velocityRef(X, A, b, n, q, 0.3, w).v;
    for (const plan of plans) {
      Object.assign(velocityTuning, plan);
      try {
        const v = velocity(fromF64(X, [b, q]), fromF64(A, [n, q]), 0.3, { weights: fromF64(w, [n]) });
        assertClose(await v.toArray(), ref, {
          rtol: 1e-4,
          atol: 1e-4,
          what: `b=${b} n=${n} q=${q} ${JSON.stringify(plan)}`,
        });
        v.dispose();
      } finally {
        for (const key of Object.keys(velocityTuning) as (keyof typeof velocityTuning)[]) {
          delete velocityTuning[key];
        }
      }
    }
  }
});

Deno.test("v(x, 1) = x - mean_w(A), weighted and unweighted", async () => {
  const b = 6, n = 9, q = 3;
  const X = randnArray(b * q, 5), A = randnArray(n * q, 6), w = randArray(n, 7, 0.1, 2);
  for (const weights of [undefined, w]) {
    const W = weights ? fromF64(weights, [n]) : undefined;
    const v = velocity(fromF64(X, [b, q]), fromF64(A, [n, q]), 1, { weights: W });
    const wsum = weights ? weights.reduce((s, x) => s + x, 0) : n;
    const expect = new Float64Array(b * q);
    for (let i = 0; i < b; i++) {
      for (let k = 0; k < q; k++) {
        let m = 0;
        for (let j = 0; j < n; j++) m += (weights ? weights[j] : 1) * A[j * q + k];
        expect[i * q + k] = X[i * q + k] - m / wsum;
      }
    }
    assertClose(await v.toArray(), expect, { rtol: 1e-5, atol: 1e-5 });
    v.dispose();
    W?.dispose();
  }
});

Deno.test("weighted velocity matches the release; a zero weight removes its anchor", async () => {
  const b = 8, n = 12, q = 4;
  const X = randnArray(b * q, 8), A = randnArray(n * q, 9), w = randArray(n, 10, 0, 1);
  w[3] = 0;
  for (const t of [0.9, 0.3]) {
    const v = velocity(fromF64(X, [b, q]), fromF64(A, [n, q]), t, { weights: fromF64(w, [n]) });
    assertClose(await v.toArray(), velocityRef(X, A, b, n, q, t, w).v, { rtol: 1e-4, atol: 1e-4 });
  }
});

Deno.test("posterior mean at small t is the nearest scaled anchor; stays finite at t = 1e-4", async () => {
  const A = Float64Array.from([-1, 0, 1, 0, 0, 2]);
  const X = Float64Array.from([0.9, 0.1, -1.2, 0.05, 0.1, 1.7]);
  const m = posteriorMean(fromF64(X, [3, 2]), fromF64(A, [3, 2]), 1e-4);
  assertClose(await m.toArray(), [1, 0, -1, 0, 0, 2], { atol: 1e-6 });
});

Deno.test("velocity VJP w.r.t. points, anchors and weights matches finite differences", async () => {
  const b = 7, n = 11, q = 5;
  const X = randnArray(b * q, 11), A = randnArray(n * q, 12), w = randArray(n, 13, 0.2, 1.5);
  for (const t of [0.8, 0.3]) {
    await checkGrad(
      ([x, a, ww]) => velocity(x, a, t, { weights: ww }),
      ([x, a, ww]) => velocityRef(x, a, b, n, q, t, ww).v,
      [{ shape: [b, q], data: X }, { shape: [n, q], data: A }, { shape: [n], data: w }],
      { rtol: 1e-4, atol: 1e-4, h: 1e-6 },
    );
  }
});

Deno.test("velocity forward+backward leaves no buffer behind", async () => {
  const X = fromF64(randnArray(12, 14), [4, 3], true), A = fromF64(randnArray(15, 15), [5, 3], true);
  await assertNoLeak(async () => {
    const v = velocity(X, A, 0.4);
    const s = v.sum();
    s.backward();
    assert.ok(X.grad && A.grad);
    await A.grad.toArray();
    for (const t of [v, s, X.grad, A.grad]) t.dispose();
    X.grad = A.grad = undefined;
  }, "velocity fwd+bwd");
});
