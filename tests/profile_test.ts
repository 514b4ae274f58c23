/**
 * Per-dispatch GPU timing: every dispatch is timed, results are unchanged by timing, more dispatches than one
 * query set holds are handled, and misuse is a clear error.
 */
import { strict as assert } from "node:assert";
import {
  beginDispatchTiming,
  endDispatchTiming,
  gpu,
  profileKernels,
  randn,
  recorderStats,
  scope,
  type Tensor,
  tensor,
} from "@lzn/tensor";

const hasTimestamps = gpu().adapter.features.includes("timestamp-query");

Deno.test({
  name: "profileKernels: one entry per dispatch, same results as untimed, kernels summed by name and grid",
  ignore: !hasTimestamps,
  async fn() {
    const a = randn([96, 64], { seed: 1 }), b = randn([64, 80], { seed: 2 });
    const untimed = scope(() => a.matmul(b).relu().sum(1));
    const plain = await untimed.toArray();
    untimed.dispose();
    let y: Tensor | undefined;
    const d0 = recorderStats.dispatches;
    const profile = await profileKernels(() => {
      y = scope(() => a.matmul(b).relu().sum(1));
    });
    const dispatched = recorderStats.dispatches - d0;
    assert.deepEqual(await y!.toArray(), plain, "timing must not change what is computed");
    y!.dispose();
    assert.equal(profile.dispatches, dispatched);
    assert.equal(profile.timeline.length, dispatched);
    assert.ok(profile.timeline.every((t) => Number.isFinite(t.ns) && t.ns >= 0));
    assert.ok(profile.totalMs > 0, "a matmul takes some GPU time");
    assert.ok(
      profile.kernels.some((k) => k.name.startsWith("matmul")),
      profile.kernels.map((k) => k.name).join(),
    );
    assert.equal(profile.kernels.reduce((s, k) => s + k.calls, 0), dispatched);
    const sorted = profile.kernels.map((k) => k.ms);
    assert.deepEqual(sorted, [...sorted].sort((x, y) => y - x), "slowest first");
    a.dispose();
    b.dispose();
  },
});

Deno.test({
  name: "dispatch timing: more dispatches than one query set holds (2048) are all timed",
  ignore: !hasTimestamps,
  async fn() {
    const x = tensor(new Float32Array(64).fill(1), [64]);
    beginDispatchTiming();
    let y = x;
    for (let i = 0; i < 2100; i++) {
      const next = y.add(1);
      if (y !== x) y.dispose();
      y = next;
    }
    const times = await endDispatchTiming();
    assert.equal(times.length, 2100);
    assert.ok(times.every((t) => t.name.startsWith("binary_add") && t.ns >= 0));
    assert.deepEqual(await y.toArray(), new Float32Array(64).fill(2101));
    x.dispose();
    y.dispose();
  },
});

Deno.test("dispatch timing: nested begin, and end without begin, are clear errors", async () => {
  if (!hasTimestamps) {
    assert.throws(() => beginDispatchTiming(), /timestamp-query/);
    return;
  }
  beginDispatchTiming();
  assert.throws(() => beginDispatchTiming(), /already on/);
  assert.deepEqual(await endDispatchTiming(), []);
  await assert.rejects(endDispatchTiming(), /not on/);
});
