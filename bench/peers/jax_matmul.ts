/**
 * jax-js peer: fp32 matmul on Deno's WebGPU (npm `@jax-js/jax`, pinned to 0.1.25 in bench/peers/deno.json).
 *
 *   deno run -A --cached-only --config bench/peers/deno.json bench/peers/jax_matmul.ts [--sizes 4096,1000]
 *     [--samples 7] [--variants eager,jit] OUT.json
 *
 * Synchronisation (jax-js is lazy and WebGPU is asynchronous): `blockUntilReady()` submits the pending kernels,
 * then copies 0 bytes of the array into a staging buffer and awaits `mapAsync` on it, which resolves only after
 * every command submitted earlier on the queue has finished. One sample therefore is:
 *   t0; R independent matmuls C_i = A @ B; await blockUntilReady([C_1..C_R]); t1
 * and the figure per matmul is (t1 - t0 - sync) / R, where `sync` is the median cost of `blockUntilReady()` on an
 * array that is already computed (the bare round trip, ~0.1-1 ms). R is picked after warm-up so that a sample
 * lasts >= ~0.25 s (R in 1..20). We quote the median sample of >= 5 (default 7), after 3 warm-up calls that also
 * compile the shaders. TFLOP/s = 2 n^3 / time. A few entries of the product are checked against a float64 CPU dot.
 * Variants: "eager" (np.matmul) and "jit" (jit((x, y) => np.matmul(x, y))).
 */
import { blockUntilReady, defaultDevice, init, jit, numpy as np } from "@jax-js/jax";

type Entry = Record<string, unknown>;

function arg(name: string, def: string): string {
  const i = Deno.args.indexOf(name);
  return i >= 0 && i + 1 < Deno.args.length ? Deno.args[i + 1] : def;
}
const flagValues = new Set(["--sizes", "--samples", "--variants"].flatMap((f) => {
  const i = Deno.args.indexOf(f);
  return i >= 0 ? [i, i + 1] : [];
}));
const outPath = Deno.args.find((a, i) => !a.startsWith("--") && !flagValues.has(i)) ?? "jax_matmul.json";
const sizes = arg("--sizes", "4096,1000").split(",").map((s) => parseInt(s, 10)).filter((n) => n > 0);
const nSamples = Math.max(5, parseInt(arg("--samples", "7"), 10));
const variants = arg("--variants", "eager,jit").split(",").filter((v) => v === "eager" || v === "jit");

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : 0.5 * (s[m - 1] + s[m]);
};

function randomMatrix(n: number, seed: number, scale: number): Float32Array<ArrayBuffer> {
  // xorshift32 -> approximately normal (sum of 4 uniforms, centred, unit variance) * scale
  let s = seed >>> 0 || 1;
  const next = () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 4294967296;
  };
  const out = new Float32Array(n * n);
  const k = Math.sqrt(3) * scale;
  for (let i = 0; i < out.length; i++) out[i] = (next() + next() + next() + next() - 2) * k;
  return out;
}

const report: { meta: Entry; results: Entry[] } = { meta: {}, results: [] };
const write = () => Deno.writeTextFileSync(outPath, JSON.stringify(report, null, 2) + "\n");

const adapter = await navigator.gpu?.requestAdapter({ powerPreference: "high-performance" });
report.meta = {
  library: "@jax-js/jax@0.1.25",
  deno: Deno.version.deno,
  adapter: adapter
    ? `${adapter.info.description || adapter.info.vendor} (${adapter.info.architecture})`
    : "none",
  dtype: "float32",
  sync:
    "blockUntilReady(): submit pending kernels, 0-byte copy to a staging buffer, await mapAsync (queue drain); " +
    "per-matmul time = (t(R matmuls + one sync) - t(sync of a ready array)) / R",
  flops: "2*n^3",
};
let devices: string[] = [];
try {
  devices = await init("webgpu");
} catch (e) {
  report.meta.error = `init failed: ${e}`;
}
if (!devices.includes("webgpu")) {
  report.meta.error ??= "jax-js found no WebGPU device";
  write();
  console.error(report.meta.error);
  Deno.exit(1);
}
defaultDevice("webgpu");
console.log(`# jax-js 0.1.25 matmul on WebGPU: ${report.meta.adapter}`);
console.log(
  `${"case".padEnd(22)} ${"variant".padEnd(7)} ${"median ms".padStart(11)} ${"TFLOP/s".padStart(9)}  reps`,
);

for (const n of sizes) {
  const A = randomMatrix(n, 12345 + n, 1);
  const B = randomMatrix(n, 777 + n, 1 / Math.sqrt(n));
  let a: np.Array | null = null;
  let b: np.Array | null = null;
  try {
    a = np.array(A, { shape: [n, n] });
    b = np.array(B, { shape: [n, n] });
    await blockUntilReady([a, b]);
    // bare round-trip cost of a sync on an already computed array
    const syncs: number[] = [];
    for (let i = 0; i < 15; i++) {
      const t0 = performance.now();
      await a.blockUntilReady();
      syncs.push(performance.now() - t0);
    }
    const syncMs = median(syncs);
    for (const variant of variants) {
      const entry: Entry = { name: `matmul_${n}`, shape: [n, n, n], variant, flops: 2 * n ** 3 };
      const mm = variant === "jit"
        ? jit((x: np.Array, y: np.Array) => np.matmul(x, y))
        : (x: np.Array, y: np.Array) => np.matmul(x, y);
      try {
        const single: number[] = [];
        for (let i = 0; i < 5; i++) { // 3 warm-up (shader compile), then 2 to estimate the cost
          const t0 = performance.now();
          const c = mm(a.ref, b.ref);
          await c.blockUntilReady();
          const dt = performance.now() - t0;
          if (i === 4) {
            // correctness spot check against float64 dot products on the CPU
            const data = await c.data(); // consumes c
            let maxRel = 0;
            for (let k = 0; k < 8; k++) {
              const r = (k * 977 + 3) % n, col = (k * 613 + 11) % n;
              let s = 0, sa = 0;
              for (let j = 0; j < n; j++) {
                s += A[r * n + j] * B[j * n + col];
                sa += Math.abs(A[r * n + j] * B[j * n + col]);
              }
              maxRel = Math.max(maxRel, Math.abs(data[r * n + col] - s) / Math.max(sa, 1e-30));
            }
            entry.check_max_rel_err = maxRel;
          } else c.dispose();
          if (i >= 3) single.push(dt);
        }
        const singleMs = median(single);
        const reps = Math.max(1, Math.min(20, Math.ceil(250 / Math.max(singleMs - syncMs, 0.01))));
        const samples: number[] = [];
        for (let s = 0; s < nSamples; s++) {
          const outs: np.Array[] = [];
          const t0 = performance.now();
          for (let i = 0; i < reps; i++) outs.push(mm(a.ref, b.ref));
          await blockUntilReady(outs);
          const dt = performance.now() - t0;
          for (const o of outs) o.dispose();
          samples.push((dt - syncMs) / reps);
        }
        const med = median(samples);
        Object.assign(entry, {
          median_ms: med,
          tflops: (2 * n ** 3) / (med * 1e-3) / 1e12,
          // the same samples without subtracting the sync round trip (sync amortised over `reps` calls)
          tflops_sync_not_subtracted: (2 * n ** 3) / ((med + syncMs / reps) * 1e-3) / 1e12,
          min_ms: Math.min(...samples),
          samples_ms: samples,
          reps,
          sync_ms: syncMs,
          single_call_with_sync_ms: singleMs,
          status: "ok",
        });
        console.log(
          `${`matmul_${n}^3`.padEnd(22)} ${variant.padEnd(7)} ${med.toFixed(3).padStart(11)} ${
            (entry.tflops as number).toFixed(3).padStart(9)
          }  ${reps}`,
        );
      } catch (e) {
        Object.assign(entry, { median_ms: null, tflops: null, status: `error: ${e}` });
        console.log(`${`matmul_${n}^3`.padEnd(22)} ${variant.padEnd(7)} error: ${e}`);
      } finally {
        if ("dispose" in mm) (mm as { dispose: () => void }).dispose();
      }
      report.results.push(entry);
      write();
    }
  } catch (e) {
    report.results.push({
      name: `matmul_${n}`,
      shape: [n, n, n],
      median_ms: null,
      tflops: null,
      status: `error: ${e}`,
    });
    console.log(`matmul_${n}: error: ${e}`);
  } finally {
    a?.dispose();
    b?.dispose();
  }
  write();
}
write();
console.log(`# wrote ${outPath}`);
