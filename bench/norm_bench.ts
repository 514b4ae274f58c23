/**
 * `deno bench` for group norm (8 groups, affine), forward and forward+backward (dx, dweight and dbias), at the
 * shapes of the reference classifier's six conv-GroupNorm-SiLU blocks: 32, 64 and 128 channels at 28x28, 14x14
 * and 7x7 (`tasks/metrics/reference_config.ts`).
 *
 * Sizes follow `LZN_BENCH_SCALE`: `small` (batch 16; seconds on lavapipe) or `full` (batch 128, the classifier's
 * training batch, whose weight/bias gradient once took a second per step on the H200); default `small` on a
 * CPU adapter and `full` on a GPU. One iteration records `reps` launches (100 at full size) into one encoder
 * and waits with `synchronize()`, so the time per launch is the reported time / reps.
 *
 * Run: `deno bench --allow-env bench/norm_bench.ts`
 *
 * @module
 */
import { gpu, groupNorm, synchronize, type Tensor, tensor } from "../tensor/mod.ts";

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
const GROUPS = 8;

function random(n: number, seed: number, scale = 1, offset = 0): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = offset + (s / 2147483648 - 1) * scale;
  }
  return out;
}

function register(N: number, C: number, HW: number): void {
  const shape = [N, C, HW, HW], n = N * C * HW * HW;
  const x = tensor(random(n, 1), shape).keep();
  const w = tensor(random(C, 2, 0.5, 1), [C]).keep(), b = tensor(random(C, 3), [C]).keep();
  const seed = tensor(random(n, 4), shape).keep();
  const label = `[${shape.join(",")}] G=${GROUPS}`;
  Deno.bench({
    name: `groupNorm fwd ${label} x${reps}`,
    group: `groupNorm ${label}`,
    baseline: true,
    warmup: 2,
    n: full ? 20 : 5,
    async fn() {
      for (let r = 0; r < reps; r++) groupNorm(x, GROUPS, w, b).dispose();
      await synchronize();
    },
  });
  const xg = x.detach().requireGrad().keep(), wg = w.detach().requireGrad().keep();
  const bg = b.detach().requireGrad().keep();
  const drop = (t: Tensor) => {
    t.grad?.dispose();
    t.grad = undefined;
  };
  Deno.bench({
    name: `groupNorm fwd+bwd ${label} x${reps}`,
    group: `groupNorm ${label}`,
    warmup: 2,
    n: full ? 20 : 5,
    async fn() {
      for (let r = 0; r < reps; r++) {
        const y = groupNorm(xg, GROUPS, wg, bg);
        y.backward(seed);
        y.dispose();
        for (const t of [xg, wg, bg]) drop(t);
      }
      await synchronize();
    },
  });
}

const batch = full ? 128 : 16;
register(batch, 32, 28);
register(batch, 64, 14);
register(batch, 128, 7);
