/**
 * Latent alignment (lzn-spec.md §4): the paired soft assignments against the release's reverse flow,
 * P_0 = w̄, the cut-off count floor(K c), invariance to scaling the weights, and gradients w.r.t. the X
 * anchors, Y's latents and the weights (with and without log) against float64 finite differences,
 * including the chain through computeLatents.
 */
import { strict as assert } from "node:assert";
import { alignmentLoss, alignmentMaxima, alignmentProbabilities, computeLatents } from "../latent/mod.ts";
import { assertClose, assertNoLeak, checkGrad, fromF64, randArray, randnArray } from "./util.ts";
import { alignmentRef, eulerForwardRef } from "./latent_reference.ts";

const b = 9, n = 4, q = 5;
const pairs = Int32Array.from({ length: b }, (_, i) => (i * 3) % n);

Deno.test("paired soft assignments match the release's reverse flow at every step (weighted)", async () => {
  const AX = randnArray(n * q, 1), Z = randnArray(b * q, 2), w = randArray(n, 3, 0.1, 1);
  const K = 10;
  const P = await alignmentProbabilities(fromF64(AX, [n, q]), fromF64(Z, [b, q]), pairs, {
    steps: K,
    weights: fromF64(w, [n]),
  }).toArray();
  const ref = alignmentRef(AX, Z, pairs, b, n, q, K, { w }).P;
  const expect = new Float64Array(K * b);
  for (let k = 0; k < K; k++) for (let i = 0; i < b; i++) expect[k * b + i] = ref[k][i * n + pairs[i]];
  assertClose(P, expect, { rtol: 1e-4, atol: 1e-5 });
});

Deno.test("P_0 (t = 1) equals the normalised weights of the paired anchors", async () => {
  const AX = randnArray(n * q, 4), Z = randnArray(b * q, 5), w = Float64Array.from([1, 3, 0.5, 2]);
  for (const weights of [undefined, w]) {
    const P = await alignmentProbabilities(fromF64(AX, [n, q]), fromF64(Z, [b, q]), pairs, {
      steps: 20,
      weights: weights && fromF64(weights, [n]),
    }).toArray();
    const sum = weights ? 6.5 : n;
    assertClose(P.slice(0, b), Array.from(pairs, (p) => (weights ? weights[p] : 1) / sum), {
      rtol: 1e-6,
      atol: 1e-7,
    });
  }
});

Deno.test("the cut-off drops floor(K * cutoff) steps (20 of 100, 4 of 20) before the maximum", async () => {
  const AX = randnArray(n * q, 6), Z = randnArray(b * q, 7);
  for (const [K, cut] of [[100, 20], [20, 4], [10, 2]]) {
    assert.equal(Math.floor(K * 0.2), cut);
    const P = await alignmentProbabilities(fromF64(AX, [n, q]), fromF64(Z, [b, q]), pairs, { steps: K })
      .toArray();
    const m = await alignmentMaxima(fromF64(AX, [n, q]), fromF64(Z, [b, q]), pairs, { steps: K }).toArray();
    for (let i = 0; i < b; i++) {
      let best = -1;
      for (let k = cut; k < K; k++) best = Math.max(best, P[k * b + i]);
      assert.ok(Math.abs(m[i] - best) <= 1e-6, `K ${K} row ${i}: ${m[i]} vs ${best}`);
    }
  }
  // A cut-off that keeps only the last step: the loss is -mean P_{K-1}.
  const K = 10;
  const P = await alignmentProbabilities(fromF64(AX, [n, q]), fromF64(Z, [b, q]), pairs, { steps: K })
    .toArray();
  const loss = await alignmentLoss(fromF64(AX, [n, q]), fromF64(Z, [b, q]), pairs, { steps: K, cutoff: 0.95 })
    .item();
  const last = P.slice((K - 1) * b).reduce((s, v) => s + v, 0) / b;
  assert.ok(Math.abs(loss + last) < 1e-6);
});

Deno.test("alignment loss matches the reference and is invariant to scaling all weights", async () => {
  const AX = randnArray(n * q, 8), Z = randnArray(b * q, 9), w = randArray(n, 10, 0.1, 1);
  for (const log of [false, true]) {
    const values: number[] = [];
    for (const scale of [1, 7.3, 0.01]) {
      const W = fromF64(w.map((v) => v * scale), [n]);
      values.push(
        await alignmentLoss(fromF64(AX, [n, q]), fromF64(Z, [b, q]), pairs, { steps: 20, log, weights: W })
          .item(),
      );
    }
    const ref = alignmentRef(AX, Z, pairs, b, n, q, 20, { log, w }).loss;
    assertClose(values, [ref, ref, ref], { rtol: 1e-5, atol: 1e-6, what: `log ${log}` });
  }
});

/** Inputs whose per-row maximum step is clear (the max is piecewise: finite differences need a margin). */
function clearArgmax(seed: number, K: number, w?: Float64Array): { AX: Float64Array; Z: Float64Array } {
  for (let s = seed; s < seed + 50; s++) {
    const AX = randnArray(n * q, s), Z = randnArray(b * q, s + 1000);
    const { P, kstar } = alignmentRef(AX, Z, pairs, b, n, q, K, { w });
    let ok = true;
    for (let i = 0; i < b && ok; i++) {
      for (let k = Math.floor(K * 0.2); k < K; k++) {
        if (k !== kstar[i] && P[kstar[i]][i * n + pairs[i]] - P[k][i * n + pairs[i]] < 1e-4) ok = false;
      }
    }
    if (ok) return { AX, Z };
  }
  throw new Error("no input with a clear arg-max step");
}

Deno.test("alignment gradient w.r.t. X anchors, latents and weights matches finite differences (no log, log)", async () => {
  const K = 10, w = Float64Array.from([0.1, 0.4, 0.3, 0.2]);
  for (const log of [false, true]) {
    for (const weights of [undefined, w]) {
      const { AX, Z } = clearArgmax(20, K, weights);
      const inputs = [
        { shape: [n, q], data: AX },
        { shape: [b, q], data: Z },
        ...(weights ? [{ shape: [n], data: weights }] : []),
      ];
      await checkGrad(
        ([a, z, ww]) => alignmentLoss(a, z, pairs, { steps: K, log, weights: ww }),
        ([a, z, ww]) => [alignmentRef(a, z, pairs, b, n, q, K, { log, w: ww }).loss],
        inputs,
        { rtol: 1e-4, atol: 1e-6, h: 1e-6, gradAtol: 1e-5 },
      );
    }
  }
});

Deno.test("alignment of computed latents: gradient flows through computeLatents into anchors and noise", async () => {
  const K = 10, nY = 6, qq = 3;
  const AY = randnArray(nY * qq, 31), N = randnArray(nY * qq, 32), AX = randnArray(n * qq, 33);
  const pr = Int32Array.from({ length: nY }, (_, i) => i % n);
  const ref = (ay: Float64Array, nz: Float64Array, ax: Float64Array) => {
    const z = eulerForwardRef(ay, nz, nY, qq, 5, 0.05);
    return [alignmentRef(ax, z, pr, nY, n, qq, K).loss];
  };
  await checkGrad(
    ([ay, nz, ax]) =>
      alignmentLoss(ax, computeLatents(ay, { noise: nz, steps: 5, eps: 0.05 }), pr, { steps: K }),
    ([ay, nz, ax]) => ref(ay, nz, ax),
    [{ shape: [nY, qq], data: AY }, { shape: [nY, qq], data: N }, { shape: [n, qq], data: AX }],
    { rtol: 1e-4, atol: 1e-6, h: 1e-6, gradAtol: 1e-5 },
  );
});

Deno.test("alignment forward+backward leaves no buffer behind; pairs may be an i32 tensor", async () => {
  const AX = fromF64(randnArray(n * q, 40), [n, q], true), Z = fromF64(randnArray(b * q, 41), [b, q], true);
  const { tensor } = await import("../tensor/mod.ts");
  const pt = tensor(pairs, [b], { dtype: "i32" });
  await assertNoLeak(async () => {
    const loss = alignmentLoss(AX, Z, pt, { steps: 10, log: true });
    loss.backward();
    await AX.grad!.toArray();
    for (const t of [loss, AX.grad!, Z.grad!]) t.dispose();
    AX.grad = Z.grad = undefined;
  }, "alignment fwd+bwd");
  pt.dispose();
});

Deno.test("alignment: bad pairs, steps and cut-offs are named; a NaN latent makes either loss NaN (fused and general paths)", async () => {
  const { tensor } = await import("../tensor/mod.ts");
  const { alignmentTuning } = await import("../latent/alignment.ts");
  const X = tensor([0.1, 0.2, -0.3, 0.5, 0.4, -0.1], [2, 3]);
  const values = Array.from({ length: 18 }, (_, i) => Math.sin(i));
  const Y = tensor(values, [6, 3]);
  const P = new Int32Array([0, 1, 0, 1, 0, 1]);
  assert.throws(
    () => alignmentLoss(X, Y, new Int32Array([0, 1, 2, 0, 0, 0])),
    /pair 2 is 2, outside the 2 anchors/,
  );
  assert.throws(() => alignmentLoss(X, Y, new Int32Array([0, 1, 0, 0, -1, 0])), /pair 4 is -1/);
  assert.throws(() => alignmentLoss(X, Y, P, { steps: 0 }), /alignment steps must be an integer >= 1, got 0/);
  assert.throws(
    () => alignmentLoss(X, Y, P, { cutoff: -0.5 }),
    /alignment cutoff must be in \[0, 1\), got -0.5/,
  );
  assert.throws(() => alignmentLoss(X, Y, P, { cutoff: 1 }), /alignment cutoff must be in \[0, 1\), got 1/);
  const withNaN = tensor(values.map((v, i) => (i === 4 ? NaN : v)), [6, 3]);
  try {
    for (const fused of [true, false]) {
      alignmentTuning.fused = fused;
      for (const log of [false, true]) {
        const loss = alignmentLoss(X, withNaN, P, { log });
        assert.ok(
          Number.isNaN((await loss.toArray())[0]),
          `fused ${fused}, log ${log}: a NaN row reads as NaN`,
        );
        loss.dispose();
      }
      const finite = alignmentLoss(X, Y, P);
      const v = (await finite.toArray())[0];
      assert.ok(v >= -1 && v <= 0, `the probability loss is in [-1, 0], got ${v}`);
      finite.dispose();
    }
  } finally {
    alignmentTuning.fused = undefined;
  }
  for (const t of [X, Y, withNaN]) t.dispose();
});
