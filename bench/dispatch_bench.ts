/**
 * `deno bench` for the host cost of one dispatch: many tiny dispatches recorded into one encoder / compute
 * pass then one flush + `onSubmittedWorkDone`, against one submit per dispatch, and tiny tensor ops (which
 * add tensor allocation and a params slot to the raw dispatch). Per-dispatch cost = reported time / count
 * (in the bench name). `LZN_BENCH_SCALE`: `small` (200) or `full` (8000, under the recorder's auto-flush
 * threshold so one encoder holds them all); default `small` on a CPU adapter, `full` on a GPU.
 *
 * Run: `deno bench --allow-env bench/dispatch_bench.ts`
 *
 * @module
 */
import { bufferPool, dispatch, flush, gpu, kernel, synchronize, tensor } from "../tensor/mod.ts";

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

const count = benchScale() === "full" ? 8000 : 200;
const tiny = kernel({
  name: "bench_tiny",
  storage: ["read_write"],
  wgsl: `@group(0) @binding(0) var<storage, read_write> y: array<f32>;
@compute @workgroup_size(1) fn main() { y[0] = y[0] + 1.0; }`,
});
const buf = bufferPool.acquire(16);

Deno.bench({
  name: `${count} tiny dispatches, one encoder, one submit`,
  group: "dispatch",
  baseline: true,
  warmup: 2,
  n: 10,
  async fn() {
    for (let i = 0; i < count; i++) dispatch({ kernel: tiny, buffers: [buf], workgroups: [1] });
    await synchronize();
  },
});

Deno.bench({
  name: `${count} tiny dispatches, one submit each`,
  group: "dispatch",
  warmup: 2,
  n: 10,
  async fn() {
    for (let i = 0; i < count; i++) {
      dispatch({ kernel: tiny, buffers: [buf], workgroups: [1] });
      flush();
    }
    await synchronize();
  },
});

const x = tensor([1, 2, 3, 4], [4]).keep();
Deno.bench({
  name: `${count} tiny tensor ops (x.add(1)), one submit`,
  group: "dispatch",
  warmup: 2,
  n: 10,
  async fn() {
    for (let i = 0; i < count; i++) x.add(1).dispose();
    await synchronize();
  },
});
