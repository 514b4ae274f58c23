/**
 * Matmul: forward against a float64 CPU reference (odd sizes, every transpose combination, each kernel path,
 * batch broadcasting, fused bias, split-K), backward against float64 finite differences, errors and leaks.
 *
 * @module
 */
import { strict as assert } from "node:assert";
import { broadcastShapes, compiledKernelCount, gpu, matmul, type MatmulOptions } from "../tensor/mod.ts";
import { matmulLaunch, matmulTuning, planMatmul, type TileConfig } from "../tensor/ops/matmul_kernels.ts";
import { tileSharedBytes } from "../tensor/ops/matmul_tile.ts";
import { assertClose, assertNoLeak, checkGrad, fromF64, randArray } from "./util.ts";

/** float64 `op(a) @ op(b)` with broadcast batch dims (the reference every case is checked against). */
function refMatmul(
  a: Float64Array,
  aShape: number[],
  b: Float64Array,
  bShape: number[],
  transA = false,
  transB = false,
  bias?: Float64Array,
): Float64Array {
  const [ar, ac] = aShape.slice(-2), [br, bc] = bShape.slice(-2);
  const M = transA ? ac : ar, K = transA ? ar : ac, N = transB ? br : bc;
  const aB = aShape.slice(0, -2), bB = bShape.slice(0, -2);
  const oB = broadcastShapes(aB, bB);
  const count = oB.reduce((x, y) => x * y, 1);
  const out = new Float64Array(count * M * N);
  const batchIndex = (o: number, inB: number[]) => {
    // Linear index into a (right-aligned, size-1-broadcast) batch shape for output batch index o.
    let idx = 0, stride = 1, rest = o;
    for (let d = oB.length - 1; d >= 0; d--) {
      const coord = rest % oB[d];
      rest = Math.floor(rest / oB[d]);
      const k = d - (oB.length - inB.length);
      if (k >= 0) {
        if (inB[k] !== 1) idx += coord * stride;
        stride *= inB[k];
      }
    }
    return idx;
  };
  for (let o = 0; o < count; o++) {
    const ao = batchIndex(o, aB) * M * K, bo = batchIndex(o, bB) * K * N;
    for (let m = 0; m < M; m++) {
      for (let n = 0; n < N; n++) {
        let s = bias ? bias[n] : 0;
        for (let k = 0; k < K; k++) {
          const av = a[ao + (transA ? k * M + m : m * K + k)];
          const bv = b[bo + (transB ? n * K + k : k * N + n)];
          s += av * bv;
        }
        out[(o * M + m) * N + n] = s;
      }
    }
  }
  return out;
}

let seed = 100;
async function checkForward(aShape: number[], bShape: number[], opts: MatmulOptions = {}, biasLen = 0) {
  const a = randArray(aShape.reduce((x, y) => x * y, 1), seed++);
  const b = randArray(bShape.reduce((x, y) => x * y, 1), seed++);
  const bias = biasLen ? randArray(biasLen, seed++) : undefined;
  const ta = fromF64(a, aShape), tb = fromF64(b, bShape);
  const tbias = bias ? fromF64(bias, [biasLen]) : undefined;
  const c = matmul(ta, tb, { ...opts, bias: tbias });
  const expected = refMatmul(a, aShape, b, bShape, opts.transA, opts.transB, bias);
  const what = `matmul [${aShape}]${opts.transA ? "^T" : ""} @ [${bShape}]${opts.transB ? "^T" : ""} ` +
    `path=${opts.path ?? "auto"} split=${opts.splitK ?? "auto"}`;
  assertClose(await c.toArray(), expected, { rtol: 1e-4, atol: 1e-4, what });
  for (const t of [ta, tb, c, tbias]) t?.dispose();
}

/** Stored shapes of A and B for op(A) = [M, K], op(B) = [K, N]. */
function stored(M: number, N: number, K: number, transA: boolean, transB: boolean): [number[], number[]] {
  return [transA ? [K, M] : [M, K], transB ? [N, K] : [K, N]];
}

const TRANS: [boolean, boolean][] = [[false, false], [false, true], [true, false], [true, true]];

Deno.test("matmul forward: odd sizes, every transpose combination, automatic path", async () => {
  for (const [M, N, K] of [[1, 1, 1], [7, 13, 5], [33, 65, 17], [129, 127, 31], [4, 4, 0]]) {
    for (const [transA, transB] of TRANS) {
      const [as, bs] = stored(M, N, K, transA, transB);
      await checkForward(as, bs, { transA, transB });
    }
  }
});

Deno.test("matmul forward: each kernel path forced, aligned and unaligned, every transpose", async () => {
  // 130x130x20 leaves partial tiles in M, N and K; 128x128x32 is exact (no bounds checks generated);
  // 66x68x36 has M and K not multiples of 4 in places (scalar loads) and N a multiple of 4 (vec4 stores).
  for (const path of ["simple", "tile64", "tile128"] as const) {
    for (const [M, N, K] of [[130, 130, 20], [128, 128, 32], [66, 68, 36], [3, 5, 2]]) {
      for (const [transA, transB] of TRANS) {
        const [as, bs] = stored(M, N, K, transA, transB);
        await checkForward(as, bs, { transA, transB, path });
      }
    }
  }
});

Deno.test("matmul forward: batched and broadcast batch dims", async () => {
  await checkForward([3, 9, 11], [3, 11, 6]); // plain batch
  await checkForward([3, 9, 11], [11, 6]); // shared right operand (folded into one product)
  await checkForward([2, 3, 9, 11], [1, 11, 6], { path: "tile64" }); // folded, forced tile
  await checkForward([9, 11], [4, 11, 6]); // shared left operand
  await checkForward([2, 1, 9, 11], [3, 6, 11], { transB: true }); // both broadcast: [2,1] x [3] -> [2,3]
  await checkForward([2, 1, 11, 9], [3, 11, 6], { transA: true, path: "tile64" });
  await checkForward([2, 1, 11, 9], [3, 6, 11], { transA: true, transB: true, path: "tile128" });
  await checkForward([5, 7, 3], [5, 3, 4], { path: "simple" });
});

Deno.test("matmul forward: fused bias and split-K", async () => {
  await checkForward([37, 19], [19, 21], {}, 21);
  await checkForward([2, 37, 19], [21, 19], { transB: true, path: "tile64" }, 21);
  await checkForward([37, 19], [19, 24], { path: "tile128" }, 24);
  await checkForward([37, 19], [19, 24], { path: "simple" }, 24);
  await checkForward([20, 300], [300, 24], { path: "tile64", splitK: 3 });
  await checkForward([301, 20], [301, 22], { transA: true, path: "tile64", splitK: 4 }, 22);
  await checkForward([2, 20, 100], [2, 100, 24], { path: "tile128", splitK: 2 });
  await checkForward([20, 96], [96, 24], { path: "tile64", splitK: 2 }); // chunks end exactly at K
});

/** Runs `fn` with the tile128 kernel set to `tile` / `swizzle`, restoring the tuning afterwards. */
async function withTuning(tile: TileConfig, swizzle: number, fn: () => Promise<void> | void) {
  const saved = { tile128: matmulTuning.tile128, swizzle: matmulTuning.swizzle };
  matmulTuning.tile128 = tile;
  matmulTuning.swizzle = swizzle;
  try {
    await fn();
  } finally {
    Object.assign(matmulTuning, saved);
  }
}

Deno.test("matmul forward: tunable tile128 shapes and swizzled workgroup order", async () => {
  // 130x257x67 leaves partial tiles everywhere, and scalar loads where a dim is not a multiple of 4.
  // { rm: 1, rn: 2, bk: 4 } loads fewer elements than threads (guarded loads); { rm: 3, rn: 2, bk: 12 } a
  // non-power-of-two tile with a partial last load round. Configs over the device's shared limit are skipped.
  const configs: TileConfig[] = [
    { rm: 2, rn: 4, bk: 8 },
    { rm: 4, rn: 2, bk: 8 },
    { rm: 2, rn: 2, bk: 16 },
    { rm: 2, rn: 4, bk: 16 },
    { rm: 1, rn: 2, bk: 4 },
    { rm: 3, rn: 2, bk: 12 },
  ];
  const limit = gpu().device.limits.maxComputeWorkgroupStorageSize;
  const before = JSON.stringify(matmulTuning);
  for (const [i, tile] of configs.entries()) {
    if (tileSharedBytes(tile) > limit) continue;
    await withTuning(tile, i % 2 ? 3 : 0, async () => {
      for (const [transA, transB] of [[false, false], [true, true], [false, true]]) {
        const [as, bs] = stored(130, 257, 67, transA, transB);
        await checkForward(as, bs, { transA, transB, path: "tile128" });
      }
      // Several tile-rows (so the swizzle groups them), with batch, bias and split-K.
      await checkForward([2, 520, 36], [36, 264], { path: "tile128", splitK: 2 }, 264);
    });
  }
  assert.equal(JSON.stringify(matmulTuning), before, "tuning restored");
});

Deno.test("matmul tuning: launches keyed by the tile config, planner counts its tiles", async () => {
  const s = (M: number, N: number, K: number) => ({
    M,
    N,
    K,
    transA: false,
    transB: false,
    aBatch: [],
    bBatch: [],
    outBatch: [],
    bias: false,
  });
  const shape = s(200, 200, 40);
  const plan = { path: "tile128" as const, splitK: 1 };
  await withTuning({ rm: 2, rn: 2, bk: 8 }, 0, async () => {
    const base = matmulLaunch(shape, plan);
    // 1536^2 is 144 tiles of 128x128 (tile128) but 72 of 128x256 (tile64).
    assert.equal(planMatmul(s(1536, 1536, 1536)).path, "tile128");
    await withTuning({ rm: 2, rn: 4, bk: 8 }, 0, () => {
      const wide = matmulLaunch(shape, plan);
      assert.notEqual(wide.kernel, base.kernel, "a new tile config generates a new kernel");
      assert.deepEqual(wide.workgroups, [2, 1]);
      assert.equal(planMatmul(s(1536, 1536, 1536)).path, "tile64");
    });
    await withTuning({ rm: 2, rn: 2, bk: 8 }, 4, () => {
      assert.notEqual(matmulLaunch(shape, plan).kernel, base.kernel, "the swizzle is part of the key");
    });
    assert.equal(matmulLaunch(shape, plan), base, "back to the cached launch");
  });
  await assert.rejects(
    withTuning({ rm: 2, rn: 2, bk: 6 }, 0, () => void matmulLaunch(shape, plan)),
    /unsupported tile/,
  );
});

Deno.test("matmul plan: sizes choose the kernel", () => {
  const s = (M: number, N: number, K: number, batch: number[] = []) => ({
    M,
    N,
    K,
    transA: false,
    transB: false,
    aBatch: batch,
    bBatch: batch,
    outBatch: batch,
    bias: false,
  });
  assert.deepEqual(planMatmul(s(4096, 4096, 4096)), { path: "tile128", splitK: 1 });
  assert.deepEqual(planMatmul(s(1000, 1000, 1000)), { path: "tile64", splitK: 1 });
  assert.deepEqual(planMatmul(s(8, 8, 8)), { path: "simple", splitK: 1 });
  assert.deepEqual(planMatmul(s(512, 256, 64, [32])), { path: "tile128", splitK: 1 });
  const weightGrad = planMatmul(s(128, 64, 65536));
  assert.equal(weightGrad.path, "tile64");
  assert.ok(weightGrad.splitK > 1, "a long K with a small output is split");
});

Deno.test("matmul backward vs float64 finite differences", async () => {
  const cases: { a: number[]; b: number[]; opts?: MatmulOptions }[] = [
    { a: [5, 7], b: [7, 6] },
    { a: [7, 5], b: [7, 6], opts: { transA: true } },
    { a: [5, 7], b: [6, 7], opts: { transB: true } },
    { a: [7, 5], b: [6, 7], opts: { transA: true, transB: true } },
    { a: [2, 4, 5], b: [5, 3] }, // folded batch
    { a: [4, 5], b: [2, 5, 3] }, // broadcast left operand: dA sums over the batch
    { a: [2, 1, 3, 4], b: [3, 2, 4], opts: { transB: true } }, // broadcast both
    { a: [2, 4, 3], b: [1, 4, 5], opts: { transA: true } },
  ];
  for (const { a, b, opts = {} } of cases) {
    const size = (s: number[]) => s.reduce((x, y) => x * y, 1);
    await checkGrad(
      ([x, y]) => matmul(x, y, opts),
      ([x, y]) => refMatmul(x, a, y, b, opts.transA, opts.transB),
      [{ shape: a, data: randArray(size(a), seed++) }, { shape: b, data: randArray(size(b), seed++) }],
    );
  }
});

Deno.test("matmul backward with bias, a tile kernel and split-K", async () => {
  await checkGrad(
    ([x, w, bias]) => matmul(x, w, { transB: true, bias }),
    ([x, w, bias]) => refMatmul(x, [2, 3, 4], w, [5, 4], false, true, bias),
    [
      { shape: [2, 3, 4], data: randArray(24, seed++) },
      { shape: [5, 4], data: randArray(20, seed++) },
      { shape: [5], data: randArray(5, seed++) },
    ],
  );
  await checkGrad(
    ([x, w]) => matmul(x, w, { path: "tile128", splitK: 2 }),
    ([x, w]) => refMatmul(x, [6, 20], w, [20, 5]),
    [{ shape: [6, 20], data: randArray(120, seed++) }, { shape: [20, 5], data: randArray(100, seed++) }],
  );
});

Deno.test("matmul errors: inner dims, 1-D operands, batch, bias", () => {
  const a = fromF64(randArray(6, 1), [2, 3]), b = fromF64(randArray(8, 2), [4, 2]);
  const v = fromF64(randArray(3, 3), [3]);
  assert.throws(
    () => matmul(a, b),
    /inner dims differ: a is \[2, 3\] and b is \[4, 2\] \(a \[2, 3\], b \[4, 2\]\)$/,
  );
  // Where a transpose flag would make the shapes fit, the error names it.
  assert.throws(
    () => matmul(a, a),
    /a is \[2, 3\] and b is \[2, 3\] .*; transB: true would multiply by b's transpose$/,
  );
  assert.throws(
    () => matmul(a, a, { transB: true, transA: true }),
    /aᵀ is \[3, 2\] and bᵀ is \[3, 2\] \(a \[2, 3\], b \[2, 3\]\)$/,
  );
  assert.throws(() => matmul(a, v), /at least 2 dims/);
  const b3 = fromF64(randArray(24, 4), [2, 3, 4]), a3 = fromF64(randArray(18, 5), [3, 2, 3]);
  assert.throws(() => matmul(a3, b3), /batch dims .* do not broadcast/);
  assert.throws(() => matmul(a, a, { transB: true, bias: v }), /bias must have shape \[2\]/);
  for (const t of [a, b, v, a3, b3]) t.dispose();
});

Deno.test("matmul: kernels cached per shape, no leaked buffers", async () => {
  const a = fromF64(randArray(3 * 20 * 12, 9), [3, 20, 12], true);
  const w = fromF64(randArray(12 * 10, 10), [10, 12], true);
  const run = (opts: MatmulOptions = {}) => {
    const y = matmul(a, w, { transB: true, ...opts });
    const loss = y.sum();
    loss.backward();
    for (const t of [y, loss, a.grad, w.grad]) t?.dispose();
    a.grad = undefined;
    w.grad = undefined;
  };
  run();
  const kernels = compiledKernelCount();
  await assertNoLeak(() => run(), "matmul forward + backward");
  assert.equal(compiledKernelCount(), kernels, "a repeated shape compiles nothing new");
  await assertNoLeak(() => run({ path: "tile64", splitK: 2 }), "split-K matmul forward + backward");
  a.dispose();
  w.dispose();
});
