/**
 * GPU Philox4x32-10: bit-exact against the Random123 known-answer vectors and the host reference,
 * determinism per (seed, offset), independence across offsets, and distribution statistics (moments and a
 * Kolmogorov–Smirnov distance) on 64k samples.
 */
import { strict as assert } from "node:assert";
import { compiledKernelCount, philox4x32, rand, randn, randomBits, SeedStream } from "../tensor/mod.ts";

const N = 65536;
/** KS critical distance at significance 0.001 for N samples. */
const KS_CRIT = 1.95 / Math.sqrt(N);

function moments(x: Float32Array): { mean: number; variance: number; skew: number; kurtosis: number } {
  let mean = 0;
  for (const v of x) mean += v;
  mean /= x.length;
  let m2 = 0, m3 = 0, m4 = 0;
  for (const v of x) {
    const d = v - mean;
    m2 += d * d;
    m3 += d * d * d;
    m4 += d * d * d * d;
  }
  m2 /= x.length;
  m3 /= x.length;
  m4 /= x.length;
  return { mean, variance: m2, skew: m3 / m2 ** 1.5, kurtosis: m4 / (m2 * m2) };
}

function ksDistance(x: Float32Array, cdf: (v: number) => number): number {
  const s = Float64Array.from(x).sort();
  let d = 0;
  for (let i = 0; i < s.length; i++) {
    const f = cdf(s[i]);
    d = Math.max(d, Math.abs(f - i / s.length), Math.abs((i + 1) / s.length - f));
  }
  return d;
}

/** Standard normal CDF via erf (Abramowitz & Stegun 7.1.26, |error| < 1.5e-7). */
function normalCdf(x: number): number {
  const z = Math.abs(x) / Math.SQRT2;
  const t = 1 / (1 + 0.3275911 * z);
  const poly = t *
    (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  const erf = 1 - poly * Math.exp(-z * z);
  return x >= 0 ? 0.5 * (1 + erf) : 0.5 * (1 - erf);
}

function correlation(a: Float32Array, b: Float32Array): number {
  const ma = moments(a), mb = moments(b);
  let c = 0;
  for (let i = 0; i < a.length; i++) c += (a[i] - ma.mean) * (b[i] - mb.mean);
  return c / a.length / Math.sqrt(ma.variance * mb.variance);
}

Deno.test("philox4x32 (host) matches the Random123 known-answer vectors", () => {
  const hex = (w: number[]) => w.map((v) => v.toString(16).padStart(8, "0"));
  assert.deepEqual(hex(philox4x32([0, 0, 0, 0], [0, 0])), ["6627e8d5", "e169c58d", "bc57ac4c", "9b00dbd8"]);
  assert.deepEqual(
    hex(philox4x32([0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff], [0xffffffff, 0xffffffff])),
    ["408f276d", "41c83b0e", "a20bc7c6", "6d5451fd"],
  );
  assert.deepEqual(
    hex(philox4x32([0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344], [0xa4093822, 0x299f31d0])),
    ["d16cfe09", "94fdcceb", "5001e420", "24126ea1"],
  );
});

Deno.test("randomBits (GPU) is bit-identical to the host Philox for 64-bit seeds and offsets", async () => {
  for (const [seed, offset] of [[0, 0], [123456789, 7], [2 ** 40 + 5, 2 ** 35 + 3]]) {
    const n = 1001; // a partial last block
    const bits = randomBits([n], { seed, offset });
    assert.equal(bits.dtype, "u32");
    const got = await bits.toTypedArray();
    const key = [seed >>> 0, Math.floor(seed / 2 ** 32)];
    for (let b = 0; b < Math.ceil(n / 4); b++) {
      const want = philox4x32([b, 0, offset >>> 0, Math.floor(offset / 2 ** 32)], key);
      for (let j = 0; j < 4 && 4 * b + j < n; j++) {
        assert.equal(got[4 * b + j], want[j], `seed ${seed} offset ${offset} element ${4 * b + j}`);
      }
    }
    bits.dispose();
  }
});

Deno.test("rand: uniform on [0, 1): moments and KS distance on 64k samples", async () => {
  const t = rand([N], { seed: 2024 });
  const x = await t.toArray();
  t.dispose();
  assert.ok(x.every((v) => v >= 0 && v < 1), "all samples in [0, 1)");
  const m = moments(x);
  assert.ok(Math.abs(m.mean - 0.5) < 0.006, `mean ${m.mean}`);
  assert.ok(Math.abs(m.variance - 1 / 12) < 0.0015, `variance ${m.variance}`);
  const d = ksDistance(x, (v) => Math.min(1, Math.max(0, v)));
  assert.ok(d < KS_CRIT, `KS distance ${d} >= ${KS_CRIT}`);
});

Deno.test("randn: standard normal moments (mean, variance, skew, kurtosis) and KS distance on 64k samples", async () => {
  const t = randn([256, 256], { seed: 99, offset: 1 });
  assert.deepEqual(t.shape, [256, 256]);
  const x = await t.toArray();
  t.dispose();
  assert.ok(x.every(Number.isFinite));
  const m = moments(x);
  assert.ok(Math.abs(m.mean) < 0.02, `mean ${m.mean}`);
  assert.ok(Math.abs(m.variance - 1) < 0.03, `variance ${m.variance}`);
  assert.ok(Math.abs(m.skew) < 0.05, `skew ${m.skew}`);
  assert.ok(Math.abs(m.kurtosis - 3) < 0.1, `kurtosis ${m.kurtosis}`);
  const d = ksDistance(x, normalCdf);
  assert.ok(d < KS_CRIT, `KS distance ${d} >= ${KS_CRIT}`);
});

Deno.test("same seed and offset give identical numbers; the shape only truncates the stream", async () => {
  const a = randn([1000], { seed: 5, offset: 2 }), b = randn([1000], { seed: 5, offset: 2 });
  const c = randn([10, 3], { seed: 5, offset: 2 });
  const [xa, xb, xc] = [await a.toArray(), await b.toArray(), await c.toArray()];
  assert.deepEqual(xa, xb);
  assert.deepEqual(xc, xa.slice(0, 30));
  for (const t of [a, b, c]) t.dispose();
});

Deno.test("different offsets and seeds give independent streams (correlation ~ 0)", async () => {
  const base = randn([N], { seed: 11 });
  const others = [
    randn([N], { seed: 11, offset: 1 }),
    randn([N], { seed: 12 }),
    randn([N], { seed: 0, offset: 11 }),
  ];
  const x0 = await base.toArray();
  for (const t of others) {
    const x = await t.toArray();
    const r = correlation(x0, x);
    assert.ok(Math.abs(r) < 5 / Math.sqrt(N), `correlation ${r}`);
    let same = 0;
    for (let i = 0; i < N; i++) if (x[i] === x0[i]) same++;
    assert.ok(same < 4, `${same} identical samples`);
    t.dispose();
  }
  // Neighbouring elements of one stream are uncorrelated too.
  const r1 = correlation(x0.subarray(0, N - 1), x0.subarray(1));
  assert.ok(Math.abs(r1) < 5 / Math.sqrt(N), `lag-1 correlation ${r1}`);
  base.dispose();
});

Deno.test("new seeds, offsets and sizes reuse the compiled pipelines (seeds are params, not WGSL)", async () => {
  const warm = [rand([8], { seed: 1 }), randn([8], { seed: 1 })];
  const before = compiledKernelCount();
  const ts = [];
  for (let s = 0; s < 5; s++) {
    ts.push(rand([9 + s], { seed: s * 977, offset: s }), randn([3, s + 1], { seed: s }));
  }
  assert.equal(compiledKernelCount(), before);
  const a = await ts[0].toArray(), b = await ts[2].toArray();
  assert.notDeepEqual(a.slice(0, 9), b.slice(0, 9));
  for (const t of [...warm, ...ts]) t.dispose();
});

Deno.test("SeedStream: reproducible, distinct, 53-bit seeds; invalid seeds are rejected", () => {
  const a = new SeedStream(1234), b = new SeedStream(1234), c = new SeedStream(1235);
  const sa = Array.from({ length: 100 }, () => a.next());
  const sb = Array.from({ length: 100 }, () => b.next());
  assert.deepEqual(sa, sb);
  assert.equal(a.drawn, 100);
  assert.equal(new Set(sa).size, 100);
  assert.ok(sa.every((s) => Number.isSafeInteger(s) && s >= 0));
  assert.ok(sa.some((s) => s >= 2 ** 32), "seeds use more than 32 bits");
  assert.notEqual(c.next(), sa[0]);
  assert.throws(() => new SeedStream(-1), /integer in \[0, 2\^53\)/);
  assert.throws(() => rand([2], { seed: 1.5 }), /seed/);
  assert.throws(() => rand([2], { seed: 1, offset: -3 }), /offset/);
});
