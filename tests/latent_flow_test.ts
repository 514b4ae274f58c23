/**
 * Latent computation: Euler (lzn-spec.md §1.5) and DPM-Solver++(3M) (§1.7) against the float64 reference of
 * the release, the §12 properties (one dominant anchor, DPM orders and evaluation count, zone centres), and
 * every gradient (anchors and noise) against float64 finite differences.
 */
import { strict as assert } from "node:assert";
import { computeLatents, dpmForward, dpmOrders, eulerForward, flow, flowStats } from "../latent/mod.ts";
import { assertClose, assertNoLeak, checkGrad, fromF64, randnArray } from "./util.ts";
import { dpmForwardRef, dpmOrdersRef, eulerForwardRef } from "./latent_reference.ts";

Deno.test("Euler latents match the release (default eps 1e-4, and eps 0.05)", async () => {
  const n = 40, q = 8;
  const A = randnArray(n * q, 1), N = randnArray(n * q, 2);
  // At eps = 1e-4 the first step multiplies float32 rounding of x_0 by h/eps = 500: ~1e-3 absolute.
  for (const [eps, atol] of [[1e-4, 3e-3], [0.05, 2e-5]]) {
    const z = computeLatents(fromF64(A, [n, q]), { noise: fromF64(N, [n, q]), eps });
    assertClose(await z.toArray(), eulerForwardRef(A, N, n, q, 20, eps), {
      rtol: 1e-4,
      atol,
      what: `eps ${eps}`,
    });
    z.dispose();
  }
});

Deno.test("DPM-Solver++(3M) latents match the release for K = 20, 5 (lower order final) and 3", async () => {
  const n = 24, q = 6;
  const A = randnArray(n * q, 3), N = randnArray(n * q, 4);
  for (const K of [20, 5, 3]) {
    const z = computeLatents(fromF64(A, [n, q]), {
      noise: fromF64(N, [n, q]),
      solver: "dpm++3m",
      steps: K,
      tau: 0.7,
    });
    const ref = dpmForwardRef(A, N, n, q, K, 1e-3, 0.7).x;
    assertClose(await z.toArray(), ref, { rtol: 1e-4, atol: 3e-4, what: `K ${K}` });
    z.dispose();
  }
});

Deno.test("DPM orders are 1, 2, 3, 3, ... with exactly K evaluations", async () => {
  assert.deepEqual(dpmOrders(20), [1, 2, ...Array(18).fill(3)]);
  for (const K of [3, 4, 5, 9, 10, 20]) {
    assert.deepEqual(dpmOrders(K), dpmOrdersRef(K), `K ${K}`);
    assert.deepEqual(dpmForward(K, 1e-3).steps.map((s) => s.history + 1), dpmOrders(K));
    assert.equal(dpmForwardRef(new Float64Array(2), new Float64Array(2), 2, 1, K).nfe, K);
  }
  assert.deepEqual(dpmOrders(5), [1, 2, 3, 2, 1]);
  const before = flowStats.evaluations;
  const z = computeLatents(fromF64(randnArray(8, 5), [4, 2]), { solver: "dpm++3m", seed: 1 });
  await z.toArray();
  assert.equal(flowStats.evaluations - before, 20);
  const t = dpmForward(20, 1e-3).steps.map((s) => s.t);
  assertClose(t, Array.from({ length: 20 }, (_, k) => 1e-3 + (k * 0.998) / 20), { rtol: 0, atol: 1e-15 });
});

Deno.test("one dominant anchor: one Euler step lands at (1-eps-h)a + (eps+h)n, one DPM step exactly on (1-t1)a + t1 n", async () => {
  const q = 3;
  const A = Float64Array.from([0, 0, 0, 30, 0, 0, 0, 30, 0, 0, 0, 30]); // far apart: each row sees only its own anchor
  const n = 4, N = randnArray(n * q, 6);
  const run = async (schedule: ReturnType<typeof eulerForward>, eps: number) => {
    const first = { ...schedule, steps: schedule.steps.slice(0, 1) };
    const x0 = A.map((a, i) => (1 - eps) * a + eps * N[i]);
    const x1 = flow({ anchors: fromF64(A, [n, q]), x0: fromF64(x0, [n, q]), schedule: first });
    return await x1.toArray();
  };
  const eps = 1e-4, h = (1 - eps) / 20;
  const euler = await run(eulerForward(20, eps), eps);
  assertClose(euler, A.map((a, i) => (1 - eps - h) * a + (eps + h) * N[i]), { atol: 2e-3 });
  const dEps = 1e-3, t1 = dEps + 0.998 / 20;
  const dpm = await run(dpmForward(20, dEps), dEps);
  assertClose(dpm, A.map((a, i) => (1 - t1) * a + t1 * N[i]), { rtol: 1e-5, atol: 2e-4 });
});

Deno.test("tau = 0 gives the deterministic zone centre", async () => {
  const n = 6, q = 3;
  const A = fromF64(randnArray(n * q, 7), [n, q]);
  const a = await computeLatents(A, { tau: 0, seed: 1 }).toArray();
  const b = await computeLatents(A, { tau: 0, seed: 2 }).toArray();
  assertClose(a, b, { rtol: 0, atol: 0 });
  const c = await computeLatents(A, { seed: 1 }).toArray();
  assert.ok(c.some((v, i) => Math.abs(v - a[i]) > 1e-3));
});

Deno.test("Euler latents: gradient w.r.t. anchors and noise matches finite differences", async () => {
  const n = 12, q = 5;
  const A = randnArray(n * q, 8), N = randnArray(n * q, 9);
  await checkGrad(
    ([a, nz]) => computeLatents(a, { noise: nz, steps: 5, eps: 0.05, tau: 0.8 }),
    ([a, nz]) => eulerForwardRef(a, nz, n, q, 5, 0.05, 0.8),
    [{ shape: [n, q], data: A }, { shape: [n, q], data: N }],
    { rtol: 1e-4, atol: 5e-5, h: 1e-6 },
  );
});

Deno.test("Euler latents at the defaults (eps 1e-4, 20 steps): gradient within float32 accuracy", async () => {
  const n = 10, q = 4;
  const A = randnArray(n * q, 10), N = randnArray(n * q, 11);
  await checkGrad(
    ([a, nz]) => computeLatents(a, { noise: nz }),
    ([a, nz]) => eulerForwardRef(a, nz, n, q, 20),
    [{ shape: [n, q], data: A }, { shape: [n, q], data: N }],
    { rtol: 1e-3, atol: 3e-3, h: 1e-6, gradRtol: 5e-3, gradAtol: 3e-3 },
  );
});

Deno.test("DPM-Solver++ latents: gradient w.r.t. anchors and noise matches finite differences", async () => {
  const n = 10, q = 4;
  const A = randnArray(n * q, 12), N = randnArray(n * q, 13);
  for (const K of [6, 12]) {
    await checkGrad(
      ([a, nz]) => computeLatents(a, { noise: nz, steps: K, eps: 0.05, solver: "dpm++3m" }),
      ([a, nz]) => dpmForwardRef(a, nz, n, q, K, 0.05).x,
      [{ shape: [n, q], data: A }, { shape: [n, q], data: N }],
      { rtol: 1e-4, atol: 5e-5, h: 1e-6 },
    );
  }
  await checkGrad(
    ([a, nz]) => computeLatents(a, { noise: nz, solver: "dpm++3m" }),
    ([a, nz]) => dpmForwardRef(a, nz, n, q, 20).x,
    [{ shape: [n, q], data: A }, { shape: [n, q], data: N }],
    { rtol: 1e-3, atol: 5e-4, h: 1e-6, gradRtol: 2e-3, gradAtol: 5e-4 },
  );
});

Deno.test("computeLatents forward+backward leaves no buffer behind", async () => {
  const A = fromF64(randnArray(24, 14), [8, 3], true);
  for (const solver of ["euler", "dpm++3m"] as const) {
    await assertNoLeak(async () => {
      const z = computeLatents(A, { seed: 3, solver, steps: 4 });
      const s = z.sum();
      s.backward();
      await A.grad!.toArray();
      for (const t of [z, s, A.grad!]) t.dispose();
      A.grad = undefined;
    }, `${solver} fwd+bwd`);
  }
});

Deno.test("backward: the streaming kernels (every split and plan, kept or recomputed evaluations) and the GEMM form agree", async () => {
  const { backwardTuning } = await import("../latent/flow_backward.ts");
  const { streamTuning } = await import("../latent/stream_backward.ts");
  // 150 anchors: three 64-tiles, the last one partial; q = 6 reads scalars (not a multiple of 4). 37 anchors
  // at q = 68: the per-row preparation's two 64-column chunks (the second partial) and a partial row group.
  for (const [n, q] of [[150, 6], [37, 68]]) {
    const A = fromF64(randnArray(n * q, 15), [n, q], true), N = fromF64(randnArray(n * q, 16), [n, q], true);
    const seed = fromF64(randnArray(n * q, 17), [n, q]);
    const grads = async (): Promise<Float32Array[]> => {
      const z = computeLatents(A, { noise: N, steps: 3, eps: 0.05, solver: "dpm++3m" });
      z.backward(seed);
      const out = [await A.grad!.toArray(), await N.grad!.toArray()];
      for (const t of [z, A.grad!, N.grad!]) t.dispose();
      A.grad = N.grad = undefined;
      return out;
    };
    const base = await grads();
    const savedB = { ...backwardTuning }, savedS = { ...streamTuning };
    const variants: [string, () => void][] = [
      ["stream, 3 splits", () => streamTuning.splits = 3],
      ["stream, 1 split", () => streamTuning.splits = 1],
      ["stream, 3 rows per preparation workgroup", () => streamTuning.prepRows = 3],
      ["stream, evaluations recomputed", () => backwardTuning.keepEvaluationsBytes = 0],
      ["stream, rolled loops, bk 8", () => Object.assign(streamTuning, { unroll: false, bk: 8 })],
      ["stream, unrolled loops", () => streamTuning.unroll = true],
      ["gemm", () => backwardTuning.path = "gemm"],
      // 256-row chunks: 3 chunks, the last one partial.
      ["gemm, chunks", () => Object.assign(backwardTuning, { path: "gemm", chunkBytes: 8 * n * 256 })],
      [
        "gemm, tiles",
        () => Object.assign(backwardTuning, { path: "gemm", m1: [8, 4], m2: [8, 8], m3: [8, 8], bk: 8 }),
      ],
    ];
    for (const [what, set] of variants) {
      set();
      try {
        const g = await grads();
        assertClose(g[0], base[0], { rtol: 1e-4, atol: 1e-5, what: `anchors ${what}, q ${q}` });
        assertClose(g[1], base[1], { rtol: 1e-4, atol: 1e-5, what: `noise ${what}, q ${q}` });
      } finally {
        for (const key of Object.keys(backwardTuning) as (keyof typeof backwardTuning)[]) {
          delete backwardTuning[key];
        }
        Object.assign(backwardTuning, savedB);
        for (const key of Object.keys(streamTuning) as (keyof typeof streamTuning)[]) {
          delete streamTuning[key];
        }
        Object.assign(streamTuning, savedS);
      }
    }
    for (const t of [A, N, seed]) t.dispose();
  }
});

Deno.test("Euler latents at the defaults across anchor tiles (n = 70): gradient within float32 accuracy", async () => {
  // 70 anchors span two tiles of 64 and both kernels' splits: at eps = 1e-4 the first step's logits reach
  // 1e8, where a recomputed logit that differed from the forward's by one rounding would be off by e^8.
  const n = 70, q = 3;
  const A = randnArray(n * q, 18), N = randnArray(n * q, 19);
  await checkGrad(
    ([a, nz]) => computeLatents(a, { noise: nz }),
    ([a, nz]) => eulerForwardRef(a, nz, n, q, 20),
    [{ shape: [n, q], data: A }, { shape: [n, q], data: N }],
    { rtol: 1e-3, atol: 3e-3, h: 1e-6, gradRtol: 5e-3, gradAtol: 3e-3 },
  );
});

Deno.test("streaming backward: peak memory is the trajectory plus a few [b, q] buffers, never b x N", async () => {
  const { backwardTuning } = await import("../latent/flow_backward.ts");
  const { streamTuning } = await import("../latent/stream_backward.ts");
  const { velocityTuning } = await import("../latent/velocity_kernel.ts");
  const { bufferPool } = await import("../tensor/mod.ts");
  const { sizeClass } = await import("../tensor/pool.ts");
  // The n = 32768 configuration in miniature: one split per kernel, evaluations recomputed.
  const n = 600, q = 8, K = 5;
  const A = fromF64(randnArray(n * q, 23), [n, q], true), N = fromF64(randnArray(n * q, 24), [n, q], true);
  const seed = fromF64(randnArray(n * q, 25), [n, q]);
  const saved = { ...backwardTuning };
  streamTuning.splits = velocityTuning.splits = 1;
  backwardTuning.keepEvaluationsBytes = 0;
  try {
    await A.toArray();
    const base = bufferPool.liveBytes;
    bufferPool.resetPeak();
    const z = computeLatents(A, { noise: N, steps: K, eps: 0.05 });
    z.backward(seed);
    await A.grad!.toArray();
    const peak = bufferPool.peakBytes - base;
    // During the sweep: K states, z, the seed's copy, x_0's two terms, two gradient slots, gD, the recomputed
    // evaluation and the anchor gradient (K + 9 buffers of [b, q]); afterwards the inputs' gradient terms.
    // Allow K + 13, plus the [b] and [N] vectors.
    const slot = sizeClass(n * q * 4);
    assert.ok(peak <= (K + 13) * slot + 64 * sizeClass(n * 4), `peak ${peak} bytes`);
    assert.ok(peak < n * n * 4, "no b x N buffer");
    for (const t of [z, A.grad!, N.grad!]) t.dispose();
    A.grad = N.grad = undefined;
  } finally {
    delete streamTuning.splits;
    delete velocityTuning.splits;
    Object.assign(backwardTuning, saved);
  }
});

Deno.test("computeLatents: integer anchors and an empty anchor set are named errors, before any kernel", async () => {
  const { tensor } = await import("../tensor/mod.ts");
  const ints = tensor([1, 2, 3, 4], [2, 2], { dtype: "i32" });
  assert.throws(() => computeLatents(ints, { seed: 0 }), /latent flow needs f32 anchors, got i32/);
  const empty = tensor(new Float32Array(0), [0, 2]);
  assert.throws(() => computeLatents(empty, { seed: 0 }), /needs at least one anchor, one point and q >= 1/);
  for (const t of [ints, empty]) t.dispose();
});
