/**
 * `deno bench` for a memory-bound elementwise op: `a + b` on two large f32 vectors (vec4 path).
 *
 * Bytes moved per launch = 3 * 4 * n (two reads, one write; in the bench name), so
 * GB/s = bytes * reps / reported time. `LZN_BENCH_SCALE`: `small` (1M floats) or `full` (64M floats);
 * default `small` on a CPU adapter, `full` on a GPU.
 *
 * Run: `deno bench --allow-env bench/elementwise_bench.ts`
 *
 * @module
 */
import { full, gpu, synchronize } from "../tensor/mod.ts";

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

const big = benchScale() === "full";
const n = big ? 64 * 1024 * 1024 : 1024 * 1024;
const reps = big ? 10 : 2;
const a = full([n], 1).keep(), b = full([n], 2).keep();
const mb = (12 * n) / 1e6;

Deno.bench({
  name: `add ${n / (1024 * 1024)}M f32 x${reps} (${mb.toFixed(0)} MB moved per launch)`,
  warmup: 2,
  n: big ? 20 : 5,
  async fn() {
    for (let r = 0; r < reps; r++) a.add(b).dispose();
    await synchronize();
  },
});
