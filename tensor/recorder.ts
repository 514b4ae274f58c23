/**
 * Dispatch recording. Every op appends its dispatch to one open compute pass of one open command encoder;
 * the encoder is submitted only when a result must reach the host (a readback), when {@link flush} is
 * called, or when the params arena is full. That is what keeps a training step at one submit.
 *
 * Per-dispatch scalars (sizes, times, coefficients) live in a uniform "params arena": each dispatch gets a
 * 256-byte slot, written on the CPU while recording and uploaded with one `writeBuffer` just before submit.
 *
 * @module
 */
import { gpu } from "./device.ts";
import type { Kernel } from "./kernel.ts";
import type { PooledBuffer } from "./pool.ts";

const SLOT = 256;
const ARENA_SLOTS = 4096;
/** Flush after this many dispatches even without a readback, so the GPU starts early on long steps. */
const MAX_PENDING_DISPATCHES = 8192;

interface State {
  encoder: GPUCommandEncoder | null;
  pass: GPUComputePassEncoder | null;
  epoch: number;
  pending: number;
  arena: GPUBuffer | null;
  arenaCpu: Uint8Array;
  arenaUsed: number;
  bindGroups: Map<string, GPUBindGroup>;
}

const st: State = {
  encoder: null,
  pass: null,
  epoch: 0,
  pending: 0,
  arena: null,
  arenaCpu: new Uint8Array(SLOT * ARENA_SLOTS),
  arenaUsed: 0,
  bindGroups: new Map(),
};

/**
 * Counters for the dispatch-overhead benchmark and tests: dispatches recorded, submits, readbacks, and bind
 * groups created (the bind-group cache's misses: a steady training step creates none).
 *
 * @example
 * ```ts
 * import { recorderStats, tensor } from "@lzn/tensor";
 * const d0 = recorderStats.dispatches, r0 = recorderStats.readbacks;
 * const y = tensor([1, 2, 3], [3]).mul(2).sum();
 * await y.item();
 * console.log(recorderStats.dispatches - d0, recorderStats.readbacks - r0);
 * ```
 */
export const recorderStats = { dispatches: 0, submits: 0, readbacks: 0, bindGroups: 0 };

/** The current (unsubmitted) epoch; buffers last used in it are pending. */
export function currentEpoch(): number {
  return st.epoch;
}

function encoder(): GPUCommandEncoder {
  if (!st.encoder) st.encoder = gpu().device.createCommandEncoder();
  return st.encoder;
}

function pass(): GPUComputePassEncoder {
  if (!st.pass) st.pass = encoder().beginComputePass();
  return st.pass;
}

function endPass(): void {
  if (st.pass) {
    st.pass.end();
    st.pass = null;
  }
}

/**
 * What one dispatch needs: a kernel, its storage buffers in binding order, params, and the grid.
 *
 * @example
 * ```ts
 * import { bufferPool, type Dispatch, dispatch, kernel } from "@lzn/tensor";
 * const k = kernel({
 *   name: "one",
 *   storage: ["read_write"],
 *   wgsl: `@group(0) @binding(0) var<storage, read_write> y: array<f32>;
 *   @compute @workgroup_size(1) fn main() { y[0] = 1.0; }`,
 * });
 * const out = bufferPool.acquire(4);
 * const d: Dispatch = { kernel: k, buffers: [out], workgroups: [1] };
 * dispatch(d);
 * ```
 */
export interface Dispatch {
  /** The compiled kernel. */
  kernel: Kernel;
  /** Storage buffers in binding order (must match `kernel.spec.storage`). */
  buffers: PooledBuffer[];
  /** Bytes of the uniform params block (size must equal `kernel.spec.uniform`). */
  params?: ArrayBufferView;
  /** Workgroup counts (each at most 65535). */
  workgroups: [number, number?, number?];
}

/**
 * Records one dispatch into the open pass.
 *
 * @example
 * ```ts
 * import { bufferPool, dispatch, flush, kernel } from "@lzn/tensor";
 * const k = kernel({ name: "one", storage: ["read_write"], wgsl:
 *   `@group(0) @binding(0) var<storage, read_write> y: array<f32>;
 *    @compute @workgroup_size(1) fn main() { y[0] = 1.0; }` });
 * const b = bufferPool.acquire(4);
 * dispatch({ kernel: k, buffers: [b], workgroups: [1] });
 * flush();
 * bufferPool.release(b);
 * ```
 */
export function dispatch(d: Dispatch): void {
  const { kernel: k, buffers, params, workgroups } = d;
  const [x, y = 1, z = 1] = workgroups;
  if (x === 0 || y === 0 || z === 0) return;
  if (x > 65535 || y > 65535 || z > 65535) {
    throw new Error(
      `lzn: kernel "${k.spec.name}" dispatch [${x},${y},${z}] exceeds 65535 workgroups per dimension`,
    );
  }
  if (buffers.length !== k.spec.storage.length) {
    throw new Error(
      `lzn: kernel "${k.spec.name}" takes ${k.spec.storage.length} buffers, got ${buffers.length}`,
    );
  }
  let offset = -1;
  if (k.spec.uniform) {
    if (!params || params.byteLength > k.spec.uniform) {
      throw new Error(`lzn: kernel "${k.spec.name}" needs a ${k.spec.uniform}-byte params block`);
    }
    if (st.arenaUsed === ARENA_SLOTS) flush();
    offset = st.arenaUsed * SLOT;
    st.arenaCpu.set(new Uint8Array(params.buffer, params.byteOffset, params.byteLength), offset);
    st.arenaUsed++;
  }
  const p = prof ? profiledPass(k.spec.name, [x, y, z]) : pass();
  p.setPipeline(k.pipeline);
  p.setBindGroup(0, bindGroup(k, buffers), offset >= 0 ? [offset] : undefined);
  p.dispatchWorkgroups(x, y, z);
  if (prof) endPass();
  for (const b of buffers) b.lastEpoch = st.epoch;
  recorderStats.dispatches++;
  if (++st.pending >= MAX_PENDING_DISPATCHES) flush();
}

// ---- Per-dispatch GPU timing (timestamp queries), used by profile.ts ----

/** WebGPU caps a query set at 4096 queries: two per dispatch (pass begin and end). */
const QUERIES_PER_SET = 4096;

interface ProfileState {
  sets: GPUQuerySet[];
  names: string[];
  workgroups: [number, number, number][];
}

let prof: ProfileState | null = null;

/** Ends the open pass and opens one for a single dispatch, with timestamps at its beginning and end. */
function profiledPass(name: string, workgroups: [number, number, number]): GPUComputePassEncoder {
  const p = prof!;
  const i = p.names.length, j = i % (QUERIES_PER_SET / 2);
  if (j === 0) p.sets.push(gpu().device.createQuerySet({ type: "timestamp", count: QUERIES_PER_SET }));
  p.names.push(name);
  p.workgroups.push(workgroups);
  endPass();
  st.pass = encoder().beginComputePass({
    timestampWrites: {
      querySet: p.sets.at(-1)!,
      beginningOfPassWriteIndex: 2 * j,
      endOfPassWriteIndex: 2 * j + 1,
    },
  });
  return st.pass;
}

/**
 * One timed dispatch of {@link endDispatchTiming}.
 *
 * @example
 * ```ts
 * import type { DispatchTime } from "@lzn/tensor";
 * const slowest = (ts: DispatchTime[]) => ts.reduce((a, b) => (b.ns > a.ns ? b : a));
 * ```
 */
export interface DispatchTime {
  /** The kernel's name. */
  name: string;
  /** Workgroup counts of the dispatch. */
  workgroups: [number, number, number];
  /**
   * GPU time between the beginning and the end of its pass, in nanoseconds (WebGPU resolves timestamps to
   * nanoseconds; a native backend that does not normalise them would report raw ticks, which are
   * nanoseconds on NVIDIA and lavapipe).
   */
  ns: number;
}

/**
 * Starts timing every dispatch on the GPU: from here until {@link endDispatchTiming}, each dispatch runs in a
 * compute pass of its own with timestamp queries around it. Needs the `timestamp-query` feature; throws a
 * clear error on an adapter without it. Passes of their own add a little overhead; use for diagnosis.
 *
 * @example
 * ```ts
 * import { beginDispatchTiming, endDispatchTiming, tensor } from "@lzn/tensor";
 * beginDispatchTiming();
 * const y = tensor([1, 2, 3], [3]).mul(2);
 * const times = await endDispatchTiming(); // [{ name: "binary_mul...", workgroups: [1, 1, 1], ns: ... }]
 * y.dispose();
 * ```
 */
export function beginDispatchTiming(): void {
  const { adapter } = gpu();
  if (!adapter.features.includes("timestamp-query")) {
    throw new Error(
      `lzn: dispatch timing needs the "timestamp-query" feature, which adapter "${adapter.name}" does not offer`,
    );
  }
  if (prof) throw new Error("lzn: dispatch timing is already on");
  endPass();
  prof = { sets: [], names: [], workgroups: [] };
}

/**
 * Stops the timing begun by {@link beginDispatchTiming}, waits for the GPU and returns each dispatch's time in
 * recording order.
 *
 * @example
 * ```ts
 * import { beginDispatchTiming, endDispatchTiming, randn } from "@lzn/tensor";
 * beginDispatchTiming();
 * const x = randn([256, 256], { seed: 1 });
 * const y = x.matmul(x);
 * for (const t of await endDispatchTiming()) console.log(t.name, t.ns / 1e3, "us");
 * x.dispose();
 * y.dispose();
 * ```
 */
export async function endDispatchTiming(): Promise<DispatchTime[]> {
  if (!prof) throw new Error("lzn: dispatch timing is not on (call beginDispatchTiming first)");
  const p = prof;
  prof = null;
  endPass();
  const n = p.names.length;
  if (n === 0) return [];
  const { device } = gpu();
  const bytes = p.sets.length * QUERIES_PER_SET * 8;
  const resolved = device.createBuffer({
    size: bytes,
    usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC,
  });
  const host = device.createBuffer({ size: bytes, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const enc = encoder();
  p.sets.forEach((set, k) => {
    const used = Math.min(QUERIES_PER_SET, 2 * (n - k * (QUERIES_PER_SET / 2)));
    enc.resolveQuerySet(set, 0, used, resolved, k * QUERIES_PER_SET * 8);
  });
  enc.copyBufferToBuffer(resolved, 0, host, 0, bytes);
  flush();
  recorderStats.readbacks++;
  let stamps: BigUint64Array;
  try {
    await host.mapAsync(GPUMapMode.READ);
    stamps = new BigUint64Array(host.getMappedRange().slice(0));
    host.unmap();
  } finally {
    for (const b of [resolved, host]) b.destroy();
    for (const set of p.sets) set.destroy();
  }
  return p.names.map((name, i) => {
    const k = Math.floor(i / (QUERIES_PER_SET / 2)), j = i % (QUERIES_PER_SET / 2);
    const begin = stamps[k * QUERIES_PER_SET + 2 * j], end = stamps[k * QUERIES_PER_SET + 2 * j + 1];
    return { name, workgroups: p.workgroups[i], ns: end >= begin ? Number(end - begin) : 0 };
  });
}

function arena(): GPUBuffer {
  if (!st.arena) {
    st.arena = gpu().device.createBuffer({
      size: SLOT * ARENA_SLOTS,
      usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
    });
  }
  return st.arena;
}

function mib(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(bytes < 2 ** 24 ? 2 : 0)} MiB`;
}

function bindGroup(k: Kernel, buffers: PooledBuffer[]): GPUBindGroup {
  let key = k.spec.name + "#" + k.spec.wgsl.length;
  for (const b of buffers) key += ":" + b.id;
  // The layout object identifies the kernel precisely; name+length is only a cheap prefix.
  const layoutKey = key + "@" + layoutId(k.layout);
  const hit = st.bindGroups.get(layoutKey);
  if (hit) return hit;
  const limit = gpu().device.limits.maxStorageBufferBindingSize;
  for (const b of buffers) {
    // WebGPU would only report this as an uncaptured error and run the kernel on nothing: fail here instead.
    if (b.size > limit) {
      const where = `maxStorageBufferBindingSize, ${gpu().adapter.name}`;
      throw new Error(
        `lzn: kernel ${k.spec.name} needs a storage buffer of ${mib(b.size)}, over this adapter's binding ` +
          `limit of ${mib(limit)} (${where}); process fewer items at a time`,
      );
    }
  }
  const entries: GPUBindGroupEntry[] = buffers.map((b, binding) => ({
    binding,
    resource: { buffer: b.buffer },
  }));
  if (k.spec.uniform) {
    entries.push({ binding: buffers.length, resource: { buffer: arena(), offset: 0, size: k.spec.uniform } });
  }
  const g = gpu().device.createBindGroup({ layout: k.layout, entries });
  recorderStats.bindGroups++;
  if (st.bindGroups.size > 50000) st.bindGroups.clear();
  st.bindGroups.set(layoutKey, g);
  return g;
}

const layoutIds = new WeakMap<GPUBindGroupLayout, number>();
let nextLayoutId = 1;
function layoutId(l: GPUBindGroupLayout): number {
  let id = layoutIds.get(l);
  if (id === undefined) layoutIds.set(l, id = nextLayoutId++);
  return id;
}

/**
 * Records a buffer-to-buffer copy (ends the open compute pass).
 *
 * @example
 * ```ts
 * import { bufferPool, copyBuffer, flush } from "@lzn/tensor";
 * const a = bufferPool.acquire(16), b = bufferPool.acquire(16);
 * copyBuffer(a, 0, b, 0, 16);
 * flush();
 * bufferPool.release(a); bufferPool.release(b);
 * ```
 */
export function copyBuffer(
  src: PooledBuffer,
  srcOffset: number,
  dst: PooledBuffer,
  dstOffset: number,
  bytes: number,
) {
  if (bytes === 0) return;
  endPass();
  encoder().copyBufferToBuffer(src.buffer, srcOffset, dst.buffer, dstOffset, bytes);
  src.lastEpoch = st.epoch;
  dst.lastEpoch = st.epoch;
}

/**
 * Submits everything recorded so far (one submit) and starts a new epoch.
 *
 * @example
 * ```ts
 * import { flush } from "@lzn/tensor";
 * flush(); // make sure queued work starts now
 * ```
 */
export function flush(): void {
  if (!st.encoder) return;
  endPass();
  const { device } = gpu();
  if (st.arenaUsed > 0) {
    device.queue.writeBuffer(arena(), 0, st.arenaCpu as Uint8Array<ArrayBuffer>, 0, st.arenaUsed * SLOT);
  }
  device.queue.submit([st.encoder.finish()]);
  recorderStats.submits++;
  st.encoder = null;
  st.arenaUsed = 0;
  st.pending = 0;
  st.epoch++;
}

/**
 * Records a copy from a pooled buffer into a host-mappable staging buffer (for readbacks; internal to the
 * tensor package, not exported by `mod.ts`).
 */
export function copyToStage(src: PooledBuffer, srcOffset: number, stage: GPUBuffer, bytes: number): void {
  endPass();
  encoder().copyBufferToBuffer(src.buffer, srcOffset, stage, 0, bytes);
  src.lastEpoch = st.epoch;
}

/** Forgets every cached bind group (they may name buffers that {@link freeCachedMemory} destroyed). */
export function clearBindGroups(): void {
  st.bindGroups.clear();
}
