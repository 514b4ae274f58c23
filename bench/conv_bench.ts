/**
 * `deno bench` for conv2d (implicit GEMM), forward and forward+backward.
 *
 * Sizes follow `LZN_BENCH_SCALE`: `small` (batch 4, 16 -> 16 channels, 8x8; seconds on lavapipe) or `full`
 * (batch 256, 64 -> 64, 28x28, 3x3 pad 1, the H200 comparison size); default `small` on a CPU adapter and
 * `full` on a GPU. One iteration records `reps` launches (100 at full size) into one encoder and waits with
 * `synchronize()`.
 * TFLOP/s = reps · 2·N·Cout·Ho·Wo·Cin·kh·kw / time (x3 for forward+backward); the FLOP count is in each
 * bench's name, and `bench/gpu_conv.ts` prints TFLOP/s directly.
 *
 * Run: `deno bench --allow-env bench/conv_bench.ts`
 *
 * @module
 */
import { conv2d, gpu, synchronize, type Tensor, tensor } from "../tensor/mod.ts";
import { random } from "./gpu_conv.ts";

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
// Deno's completion wait costs ~10 ms, so a full-size iteration chains enough launches to amortise it.
const reps = full ? 100 : 1;

function register(N: number, C: number, HW: number, k: number): void {
  const pad = (k - 1) >> 1;
  const x = tensor(random(N * C * HW * HW, 1), [N, C, HW, HW]).keep();
  const w = tensor(random(C * C * k * k, 2, 1 / Math.sqrt(C * k * k)), [C, C, k, k]).keep();
  const seed = tensor(random(N * C * HW * HW, 3), [N, C, HW, HW]).keep();
  const flop = 2 * N * C * HW * HW * C * k * k;
  const label = `${N}x${C}->${C} ${HW}x${HW} k${k}`;
  const gflop = (f: number) => (f * reps / 1e9).toFixed(f * reps < 1e9 ? 3 : 1);
  Deno.bench({
    name: `conv2d fwd ${label} x${reps} (${gflop(flop)} GFLOP)`,
    group: `conv2d ${label}`,
    baseline: true,
    warmup: 2,
    n: full ? 20 : 5,
    async fn() {
      for (let r = 0; r < reps; r++) conv2d(x, w, undefined, { padding: pad }).dispose();
      await synchronize();
    },
  });
  const xg = x.detach().requireGrad().keep(), wg = w.detach().requireGrad().keep();
  const drop = (t: Tensor) => {
    t.grad?.dispose();
    t.grad = undefined;
  };
  Deno.bench({
    name: `conv2d fwd+bwd ${label} x${reps} (${gflop(3 * flop)} GFLOP)`,
    group: `conv2d ${label}`,
    warmup: 2,
    n: full ? 20 : 5,
    async fn() {
      for (let r = 0; r < reps; r++) {
        const y = conv2d(xg, wg, undefined, { padding: pad });
        y.backward(seed);
        y.dispose();
        drop(xg);
        drop(wg);
      }
      await synchronize();
    },
  });
}

if (full) {
  register(256, 64, 28, 3);
  register(256, 64, 28, 1);
} else {
  register(4, 16, 8, 3);
  register(4, 16, 8, 1);
}
