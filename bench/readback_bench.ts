/**
 * `deno bench` for the cost of one readback on Deno's WebGPU (issue 10, item 5). Deno 2.9's `mapAsync` and
 * `onSubmittedWorkDone` (`ext/webgpu/buffer.rs`, `queue.rs`) join two futures: one polls the device with
 * `wait_indefinitely` and then sleeps 10 ms before it looks at its `done` flag, the other receives wgpu's
 * callback and sets that flag. The callback fires inside the blocking poll, but the poll loop only sees it
 * after its sleep, so every wait costs the GPU's time plus one 10 ms timer, however little work there was.
 * Our code cannot shorten that timer; what it can do is not pay it more than once: readbacks that are
 * started together (one `Promise.all`) share one sleep. These cases measure the floor and the sharing.
 *
 * Run: `deno bench --allow-env bench/readback_bench.ts`
 *
 * @module
 */
import { bufferPool, readBuffer, synchronize, upload } from "../tensor/mod.ts";

const count = 8;
const bufs = Array.from({ length: count }, (_, i) => upload(new Float32Array([i, i + 1])));

Deno.bench({
  name: "onSubmittedWorkDone with nothing submitted",
  group: "readback",
  warmup: 3,
  n: 20,
  async fn() {
    await synchronize();
  },
});

Deno.bench({
  name: "one readback of 8 bytes",
  group: "readback",
  baseline: true,
  warmup: 3,
  n: 20,
  async fn() {
    await readBuffer(bufs[0], 0, 8);
  },
});

Deno.bench({
  name: `${count} readbacks of 8 bytes, one after another`,
  group: "readback",
  warmup: 2,
  n: 10,
  async fn() {
    for (const b of bufs) await readBuffer(b, 0, 8);
  },
});

Deno.bench({
  name: `${count} readbacks of 8 bytes started together (Promise.all)`,
  group: "readback",
  warmup: 2,
  n: 10,
  async fn() {
    await Promise.all(bufs.map((b) => readBuffer(b, 0, 8)));
  },
});

globalThis.addEventListener("unload", () => bufs.forEach((b) => bufferPool.release(b)));
