/**
 * The fused small-N alignment path (latent/alignment_fused.ts) against the general flow engine (both forced
 * through `alignmentTuning.fused`) and the float64 reference: losses, maxima and every gradient (anchors,
 * latents, weights) at the label-case shapes (N = 10, odd b = 17, q = 5, 32 and 100, K = 100 and 20,
 * cut-off 0.2, log and no-log, with and without class-frequency weights, one of them 0), gradients against float64
 * finite differences on a micro case, dispatch counts, the size limits and buffer leaks.
 */
import { strict as assert } from "node:assert";
import { recorderStats, tensor } from "../tensor/mod.ts";
import { alignmentLoss, alignmentMaxima } from "../latent/mod.ts";
import { alignmentTuning } from "../latent/alignment.ts";
import { fusedAlignmentFits } from "../latent/alignment_fused.ts";
import { assertClose, assertNoLeak, checkGrad, fromF64, randArray, randnArray } from "./util.ts";
import { alignmentRef } from "./latent_reference.ts";

const N = 10, B = 17;

interface Result {
  loss: number;
  m: Float32Array;
  gA: Float32Array;
  gz: Float32Array;
  gw?: Float32Array;
}

/** Loss, maxima and gradients of one configuration on one path. */
async function runPath(
  fused: boolean,
  AX: Float64Array,
  Z: Float64Array,
  pairs: Int32Array,
  q: number,
  opts: { steps: number; log: boolean; w?: Float64Array },
): Promise<Result> {
  alignmentTuning.fused = fused;
  try {
    const a = fromF64(AX, [N, q], true), z = fromF64(Z, [B, q], true);
    const W = opts.w && fromF64(opts.w, [N], true);
    const o = { steps: opts.steps, cutoff: 0.2, log: opts.log, weights: W };
    const ad = a.detach(), zd = z.detach();
    const mT = alignmentMaxima(ad, zd, pairs, o);
    const loss = alignmentLoss(a, z, pairs, o);
    loss.backward();
    const out: Result = {
      loss: await loss.item(),
      m: await mT.toArray() as Float32Array,
      gA: await a.grad!.toArray() as Float32Array,
      gz: await z.grad!.toArray() as Float32Array,
      gw: W ? await W.grad!.toArray() as Float32Array : undefined,
    };
    for (const t of [a, z, ad, zd, W, mT, loss]) t?.dispose(); // a grad goes with its tensor
    return out;
  } finally {
    alignmentTuning.fused = undefined;
  }
}

function maxAbs(x: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s = Math.max(s, Math.abs(x[i]));
  return s;
}

/**
 * Gradient tolerance between the two float32 paths: 1e-3 relative plus 1e-4 of the tensor's largest entry
 * (the paths round the logits differently — expanded `x . a` form against direct differences — so entries
 * that are sums of cancelling per-step terms agree in absolute rather than relative terms).
 */
function assertGradClose(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string): void {
  assertClose(actual, expected, { rtol: 1e-3, atol: 1e-4 * maxAbs(expected) + 1e-7, what });
}

const configs: { q: number; steps: number; log: boolean; weighted: boolean }[] = [];
for (const q of [5, 32]) {
  for (const steps of [100, 20]) {
    for (const log of [false, true]) {
      for (const weighted of [false, true]) configs.push({ q, steps, log, weighted });
    }
  }
}

Deno.test("fused alignment matches the general path and the float64 reference (N = 10, b = 17)", async () => {
  let seed = 100;
  for (const { q, steps, log, weighted } of configs) {
    const what = `q ${q} K ${steps} log ${log} weighted ${weighted}`;
    const AX = randnArray(N * q, seed++), Z = randnArray(B * q, seed++);
    const pairs = Int32Array.from(randArray(B, seed++, 0, N), (v) => Math.floor(v));
    let w: Float64Array | undefined;
    if (weighted) {
      w = randArray(N, seed++, 0.02, 0.3);
      // A class absent from the batch has weight 0 (spec §4.7): keep it unpaired so that log m stays finite.
      const absent = Array.from({ length: N }, (_, j) => j).find((j) => !pairs.includes(j));
      if (absent !== undefined) w[absent] = 0;
    }
    const general = await runPath(false, AX, Z, pairs, q, { steps, log, w });
    const fused = await runPath(true, AX, Z, pairs, q, { steps, log, w });
    const ref = alignmentRef(AX, Z, pairs, B, N, q, steps, { log, w });
    assertClose([fused.loss], [general.loss], { rtol: 1e-4, atol: 1e-7, what: `${what}: loss vs general` });
    assertClose([fused.loss], [ref.loss], { rtol: 1e-4, atol: 1e-6, what: `${what}: loss vs float64` });
    assertClose(fused.m, general.m, { rtol: 1e-4, atol: 1e-6, what: `${what}: maxima vs general` });
    assertClose(fused.m, ref.m, { rtol: 1e-4, atol: 1e-5, what: `${what}: maxima vs float64` });
    assertGradClose(fused.gA, general.gA, `${what}: anchor gradient`);
    assertGradClose(fused.gz, general.gz, `${what}: latent gradient`);
    if (weighted) assertGradClose(fused.gw!, general.gw!, `${what}: weight gradient`);
  }
});

Deno.test("fused alignment with several columns per thread (q = 100) matches the general path and float64", async () => {
  // q = 100 spreads a row over 64 threads with a partial second column (GPU tuning) or over 4 threads of
  // 25 columns (CPU tuning); weighted, log, the label case's 100 steps.
  const q = 100, steps = 100;
  const AX = randnArray(N * q, 90), Z = randnArray(B * q, 91);
  const pairs = Int32Array.from({ length: B }, (_, i) => (i * 3) % N);
  const w = randArray(N, 92, 0.02, 0.3);
  const general = await runPath(false, AX, Z, pairs, q, { steps, log: true, w });
  const fused = await runPath(true, AX, Z, pairs, q, { steps, log: true, w });
  const ref = alignmentRef(AX, Z, pairs, B, N, q, steps, { log: true, w });
  assertClose([fused.loss], [ref.loss], { rtol: 1e-4, atol: 1e-6, what: "loss vs float64" });
  assertClose(fused.m, ref.m, { rtol: 1e-4, atol: 1e-5, what: "maxima vs float64" });
  assertGradClose(fused.gA, general.gA, "anchor gradient");
  assertGradClose(fused.gz, general.gz, "latent gradient");
  assertGradClose(fused.gw!, general.gw!, "weight gradient");
});

Deno.test("fused alignment gradients match float64 finite differences (micro case, log and no-log)", async () => {
  const b = 5, n = 3, q = 2, K = 10;
  const pairs = Int32Array.from([0, 1, 2, 1, 0]);
  const w = Float64Array.from([0.2, 0.5, 0.3]);
  // Inputs whose arg-max step is clear by 1e-4 in every row (the maximum is piecewise: finite differences
  // across a switch of arg-max step would be meaningless).
  const pick = (seed: number, ww?: Float64Array) => {
    for (let s = seed; s < seed + 100; s++) {
      const AX = randnArray(n * q, s), Z = randnArray(b * q, s + 500);
      const { P, kstar } = alignmentRef(AX, Z, pairs, b, n, q, K, { w: ww });
      let ok = true;
      for (let i = 0; i < b && ok; i++) {
        const best = P[kstar[i]][i * n + pairs[i]];
        for (let k = Math.floor(K * 0.2); k < K; k++) {
          if (k !== kstar[i] && best - P[k][i * n + pairs[i]] < 1e-4) ok = false;
        }
      }
      if (ok) return { AX, Z };
    }
    throw new Error("no input with a clear arg-max step");
  };
  alignmentTuning.fused = true;
  try {
    for (const log of [false, true]) {
      for (const weights of [undefined, w]) {
        const { AX, Z } = pick(60, weights);
        await checkGrad(
          ([a, z, ww]) => alignmentLoss(a, z, pairs, { steps: K, log, weights: ww }),
          ([a, z, ww]) => [alignmentRef(a, z, pairs, b, n, q, K, { log, w: ww }).loss],
          [
            { shape: [n, q], data: AX },
            { shape: [b, q], data: Z },
            ...(weights ? [{ shape: [n], data: w }] : []),
          ],
          { rtol: 1e-4, atol: 1e-6, h: 1e-6, gradAtol: 1e-5 },
        );
      }
    }
  } finally {
    alignmentTuning.fused = undefined;
  }
});

Deno.test("fused alignment: one forward dispatch, a handful for forward + backward", async () => {
  const q = 32, b = 256;
  const a = fromF64(randnArray(N * q, 1), [N, q], true), z = fromF64(randnArray(b * q, 2), [b, q], true);
  const W = fromF64(randArray(N, 3, 0.05, 0.2), [N]);
  const pairs = tensor(Int32Array.from({ length: b }, (_, i) => i % N), [b], { dtype: "i32" });
  const d0 = recorderStats.dispatches;
  const m = alignmentMaxima(a, z, pairs, { steps: 100, weights: W });
  assert.equal(recorderStats.dispatches - d0, 1, "forward dispatches");
  m.dispose();
  const d1 = recorderStats.dispatches;
  const loss = alignmentLoss(a, z, pairs, { steps: 100, weights: W, log: true });
  loss.backward();
  await a.grad!.toArray();
  const used = recorderStats.dispatches - d1;
  assert.ok(used <= 16, `forward + backward took ${used} dispatches`);
  for (const t of [a, z, W, pairs, loss]) t.dispose();
});

Deno.test("fused alignment limits: N <= 32 and q <= 256; forcing it beyond them is an error", () => {
  assert.ok(fusedAlignmentFits(10, 256, 32, 100));
  assert.ok(fusedAlignmentFits(32, 256, 256, 100));
  assert.ok(!fusedAlignmentFits(33, 256, 32, 100));
  assert.ok(!fusedAlignmentFits(10, 256, 257, 100));
  alignmentTuning.fused = true;
  try {
    assert.throws(
      () => alignmentMaxima(tensor(new Float32Array(33), [33, 1]), tensor([0], [1, 1]), new Int32Array([0])),
      /does not fit/,
    );
  } finally {
    alignmentTuning.fused = undefined;
  }
});

Deno.test("fused alignment forward+backward leaves no buffer behind (with and without grad, weighted)", async () => {
  const q = 32;
  const a = fromF64(randnArray(N * q, 7), [N, q], true), z = fromF64(randnArray(B * q, 8), [B, q], true);
  const W = fromF64(randArray(N, 9, 0.05, 0.2), [N], true);
  const pairs = Int32Array.from({ length: B }, (_, i) => i % N);
  alignmentTuning.fused = true;
  try {
    await assertNoLeak(async () => {
      const loss = alignmentLoss(a, z, pairs, { steps: 20, log: true, weights: W });
      loss.backward();
      await a.grad!.toArray();
      for (const t of [loss, a.grad!, z.grad!, W.grad!]) t.dispose();
      a.grad = z.grad = W.grad = undefined;
      const ad = a.detach(), zd = z.detach();
      const m = alignmentMaxima(ad, zd, pairs, { steps: 20 });
      await m.toArray();
      for (const t of [m, ad, zd]) t.dispose();
      // A graph built and dropped without backward frees what its node held.
      const dropped = alignmentLoss(a, z, pairs, { steps: 20 });
      dropped.dispose();
    }, "fused alignment");
  } finally {
    alignmentTuning.fused = undefined;
  }
  for (const t of [a, z, W]) t.dispose();
});
