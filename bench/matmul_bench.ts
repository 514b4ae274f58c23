/**
 * `deno bench` for the f32 matmul: n^3 with plain and transposed operands, one odd size.
 *
 * Sizes follow `LZN_BENCH_SCALE`: `small` (a few seconds on lavapipe) or `full` (4096^3 and 1000^3); the
 * default is `small` on a CPU adapter and `full` on a GPU. One iteration records `reps` launches into one
 * encoder and waits with `synchronize()`, so per-launch time = reported time / reps;
 * FLOP per iteration = reps * 2 n^3 (in the bench name). `bench/gpu_core.ts` prints TFLOP/s directly.
 *
 * Run: `deno bench --allow-env bench/matmul_bench.ts`
 *
 * @module
 */
import { gpu, matmul, type MatmulOptions, synchronize, type Tensor, tensor } from "../tensor/mod.ts";

function benchScale(): "small" | "full" {
  let v: string | undefined;
  try {
    v = Deno.env.get("LZN_BENCH_SCALE");
  } catch {
    // No --allow-env: fall back to the adapter's kind.
  }
  if (v === "small" || v === "full") return v;
  return gpu().adapter.isCpu ? "small" : "full";
}

const full = benchScale() === "full";
const reps = full ? 10 : 1;

function random(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2147483648 - 1;
  }
  return out;
}

function square(n: number, seed: number): Tensor {
  return tensor(random(n * n, seed), [n, n]).keep();
}

function register(n: number, opts: MatmulOptions, label: string, baseline = false): void {
  const a = square(n, 1), b = square(n, 2);
  const gflop = (2 * n ** 3 * reps) / 1e9;
  Deno.bench({
    name: `matmul ${n}^3 ${label} x${reps} (${gflop.toFixed(gflop < 1 ? 3 : 1)} GFLOP)`,
    group: `matmul ${n}`,
    baseline,
    warmup: 2,
    n: full ? 20 : 5,
    async fn() {
      for (let r = 0; r < reps; r++) matmul(a, b, opts).dispose();
      await synchronize();
    },
  });
}

const big = full ? 4096 : 128;
register(big, {}, "A @ B", true);
register(big, { transB: true }, "A @ B^T");
register(big, { transA: true }, "A^T @ B");
register(full ? 1000 : 100, {}, "A @ B (odd size)", true);
