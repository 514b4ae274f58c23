/**
 * Host <-> GPU transfers: uploads (staged when recorded work still uses the target), readbacks, waiting for
 * the queue, and giving cached GPU memory back.
 *
 * @module
 */
import { gpu, takeGpuError } from "./device.ts";
import { BufferPool, bufferPool, type PooledBuffer } from "./pool.ts";
import { clearBindGroups, copyBuffer, copyToStage, currentEpoch, flush, recorderStats } from "./recorder.ts";

/** Source buffers of staged uploads: a pool of their own, so that staging never moves a tensor's buffer. */
const stagingPool = new BufferPool();

/**
 * Uploads host data into a pooled buffer: the pool's usual choice (the free buffer of the size class with the
 * smallest id), so uploads do not change which buffers later tensors get. When recorded, unsubmitted work still
 * uses that buffer, `queue.writeBuffer` would overtake it; the data then goes to a staging buffer and is copied
 * in recording order.
 *
 * @example
 * ```ts
 * import { bufferPool, upload } from "@lzn/tensor";
 * const b = upload(new Float32Array([1, 2, 3]));
 * bufferPool.release(b);
 * ```
 */
export function upload(data: ArrayBufferView): PooledBuffer {
  const bytes = Math.max(4, data.byteLength);
  const b = bufferPool.acquire(bytes);
  if (data.byteLength === 0) return b;
  const write = (target: GPUBuffer) =>
    gpu().device.queue.writeBuffer(
      target,
      0,
      data.buffer as ArrayBuffer,
      data.byteOffset,
      alignUp(data.byteLength, 4),
    );
  if (b.lastEpoch !== currentEpoch()) {
    write(b.buffer);
    return b;
  }
  const stage = stagingPool.acquire(bytes, currentEpoch());
  write(stage.buffer);
  copyBuffer(stage, 0, b, 0, alignUp(data.byteLength, 4));
  stagingPool.release(stage);
  return b;
}

function alignUp(n: number, a: number): number {
  return Math.ceil(n / a) * a;
}

const staging: GPUBuffer[] = [];

/**
 * Reads `bytes` bytes of a buffer back to the host: copies into a mappable staging buffer, submits, waits.
 * Costs a full round trip (~11 ms on Deno): call it only where a human or a decision needs the value.
 *
 * @example
 * ```ts
 * import { bufferPool, readBuffer, upload } from "@lzn/tensor";
 * const b = upload(new Float32Array([4, 5]));
 * const bytes = await readBuffer(b, 0, 8);
 * console.log(new Float32Array(bytes.buffer)); // Float32Array [4, 5]
 * bufferPool.release(b);
 * ```
 */
export async function readBuffer(src: PooledBuffer, byteOffset: number, bytes: number): Promise<Uint8Array> {
  // Copy exactly the (4-aligned) bytes asked for: padding the copy could run past the end of the source.
  const size = Math.max(4, alignUp(bytes, 4));
  const { device } = gpu();
  const idx = staging.findIndex((s) => s.size >= size);
  const stage = idx >= 0 ? staging.splice(idx, 1)[0] : device.createBuffer({
    size: Math.max(size, 4096),
    usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
  });
  copyToStage(src, byteOffset, stage, size);
  flush();
  recorderStats.readbacks++;
  await stage.mapAsync(GPUMapMode.READ, 0, size);
  const out = new Uint8Array(stage.getMappedRange(0, size).slice(0, bytes));
  stage.unmap();
  staging.push(stage);
  failOnGpuError();
  return out;
}

/**
 * Waits until all submitted work is done (flushes first). Benchmarks use it to time GPU work.
 *
 * @example
 * ```ts
 * import { synchronize } from "@lzn/tensor";
 * await synchronize();
 * ```
 */
export async function synchronize(): Promise<void> {
  flush();
  await gpu().device.queue.onSubmittedWorkDone();
  failOnGpuError();
}

/**
 * Gives the GPU memory that the library holds for reuse back to the driver: the buffer pool's free buffers,
 * the upload and readback staging buffers, and the bind groups that name them. Live tensors are untouched.
 * Flushes first; buffers still used by submitted work are freed once that work is done (WebGPU defers
 * `destroy()` until then). Returns the bytes freed. Call it between phases of a long-lived process (after
 * training, before a large evaluation), not inside a step: the next step would allocate everything anew.
 *
 * @example
 * ```ts
 * import { bufferPool, freeCachedMemory, tensor } from "@lzn/tensor";
 * const x = tensor([1, 2, 3], [3]);
 * x.mul(2).dispose();
 * x.dispose();
 * console.log(bufferPool.cachedBytes > 0); // true: the released buffers stay in the pool
 * freeCachedMemory();
 * console.log(bufferPool.cachedBytes); // 0
 * ```
 */
export function freeCachedMemory(): number {
  flush();
  let freed = bufferPool.trim() + stagingPool.trim();
  for (const s of staging.splice(0)) {
    freed += s.size;
    s.destroy();
  }
  clearBindGroups();
  return freed;
}

/** Throws the first uncaptured WebGPU error since the last check: what was computed after it cannot be trusted. */
function failOnGpuError(): void {
  const e = takeGpuError();
  if (e !== undefined) {
    throw new Error(`lzn: the GPU reported an error, so results computed since are not trustworthy: ${e}`);
  }
}
