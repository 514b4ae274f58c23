/**
 * A pool of storage buffers in size classes, so that a training step reuses the buffers of the last one
 * instead of creating and destroying GPU memory every op.
 *
 * @module
 */
import { gpu } from "./device.ts";

/**
 * A storage buffer owned by the pool, with the submission epoch it was last recorded in.
 *
 * @example
 * ```ts
 * import { bufferPool, type PooledBuffer } from "@lzn/tensor";
 * const b: PooledBuffer = bufferPool.acquire(1000);
 * console.log(b.size); // 1024: the size class holding 1000 bytes
 * bufferPool.release(b);
 * ```
 */
export interface PooledBuffer {
  /** The GPU buffer (usage STORAGE | COPY_SRC | COPY_DST). */
  readonly buffer: GPUBuffer;
  /** Capacity in bytes (the size class, at least the requested size). */
  readonly size: number;
  /** Unique id, used as a bind-group cache key. */
  readonly id: number;
  /** Epoch of the command encoder that last used it; equal to the current epoch means "pending". */
  lastEpoch: number;
}

/**
 * Rounds a byte count up to its size class: powers of two and 1.5x powers of two, at least 256 bytes. With a
 * `limit` (the adapter's storage-binding limit), a class past it is capped there for a count that fits, so a
 * bindable tensor never gets an unbindable buffer.
 *
 * @example
 * ```ts
 * sizeClass(1000); // 1024
 * sizeClass(2e9, 2 ** 31 - 4); // 2147483644, not 2 ** 31
 * ```
 */
export function sizeClass(bytes: number, limit = Infinity): number {
  if (bytes <= 256) return 256;
  const p = 2 ** Math.ceil(Math.log2(bytes));
  const cls = bytes <= p * 0.75 ? p * 0.75 : p;
  return cls > limit && bytes <= limit ? limit : cls;
}

const USAGE = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;

/**
 * Buffer pool with live-count accounting (the leak test reads {@link BufferPool.live}).
 *
 * @example
 * ```ts
 * import { bufferPool } from "@lzn/tensor";
 * const b = bufferPool.acquire(1024, 0);
 * bufferPool.release(b);
 * ```
 */
export class BufferPool {
  #free = new Map<number, PooledBuffer[]>();
  #nextId = 1;
  /** Number of buffers handed out and not yet released. */
  live = 0;
  /** Bytes handed out and not yet released. */
  liveBytes = 0;
  /** Highest `liveBytes` seen since the last {@link BufferPool.resetPeak}. */
  peakBytes = 0;
  /** Bytes of free buffers kept for reuse (GPU memory held but not in use; see {@link BufferPool.trim}). */
  cachedBytes = 0;

  /**
   * Returns a buffer of at least `bytes` bytes: the free buffer of its size class with the smallest id. The
   * choice depends only on which buffers are free, not on the order they were released in, so a training
   * step that frees what it made gets the same buffers every step, and its bind groups come from the cache
   * (a last-released-first choice permuted them from step to step: about half of a step's dispatches then
   * created a bind group). With `notPendingIn` set, skips buffers recorded in that (unsubmitted) epoch:
   * `queue.writeBuffer` on them would run before the pending reads.
   */
  acquire(bytes: number, notPendingIn = -1): PooledBuffer {
    const size = sizeClass(bytes, gpu().device.limits.maxStorageBufferBindingSize);
    const list = this.#free.get(size);
    let found: PooledBuffer | undefined;
    // Each free list is kept in descending id order: its end holds the smallest id.
    if (list && list.length > 0) {
      if (notPendingIn < 0) found = list.pop();
      else {
        for (let i = list.length - 1; i >= 0; i--) {
          if (list[i].lastEpoch !== notPendingIn) {
            found = list[i];
            list.splice(i, 1);
            break;
          }
        }
      }
    }
    if (found) this.cachedBytes -= found.size;
    else {
      const buffer = gpu().device.createBuffer({ size, usage: USAGE });
      found = { buffer, size, id: this.#nextId++, lastEpoch: -1 };
    }
    this.live++;
    this.liveBytes += size;
    if (this.liveBytes > this.peakBytes) this.peakBytes = this.liveBytes;
    return found;
  }

  /** Returns a buffer to the pool; it stays allocated for reuse. */
  release(buf: PooledBuffer): void {
    this.live--;
    this.liveBytes -= buf.size;
    this.cachedBytes += buf.size;
    let list = this.#free.get(buf.size);
    if (!list) this.#free.set(buf.size, list = []);
    // Insert in descending id order (binary search for the first entry with a smaller id).
    let lo = 0, hi = list.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (list[mid].id > buf.id) lo = mid + 1;
      else hi = mid;
    }
    list.splice(lo, 0, buf);
  }

  /**
   * Destroys every free buffer (frees GPU memory held for reuse) and returns the bytes freed. Recorded but
   * unsubmitted work must not use them: users call `freeCachedMemory()`, which flushes first.
   */
  trim(): number {
    for (const list of this.#free.values()) for (const b of list) b.buffer.destroy();
    this.#free.clear();
    const freed = this.cachedBytes;
    this.cachedBytes = 0;
    return freed;
  }

  /** Starts a new peak-memory measurement from the current live bytes. */
  resetPeak(): void {
    this.peakBytes = this.liveBytes;
  }
}

/**
 * The process-wide buffer pool.
 *
 * @example
 * ```ts
 * import { bufferPool, tensor } from "@lzn/tensor";
 * const before = bufferPool.live;
 * const t = tensor([1, 2, 3], [3]);
 * t.dispose();
 * console.log(bufferPool.live === before); // true: no leaked buffer
 * ```
 */
export const bufferPool: BufferPool = new BufferPool();
