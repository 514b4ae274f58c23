/**
 * Helpers shared by kernel generators: 1-D launch grids that respect the 65535-workgroups-per-dimension
 * limit, and the WGSL that recovers the linear thread index from them.
 *
 * @module
 */

/**
 * A launch grid for `threads` threads in workgroups of `wg`.
 *
 * @example
 * ```ts
 * import { type LinearGrid, linearGrid } from "@lzn/tensor";
 * const { workgroups, rowThreads }: LinearGrid = linearGrid(1000, 256);
 * console.log(workgroups, rowThreads); // [4, 1] 1024
 * ```
 */
export interface LinearGrid {
  /** Workgroup counts for `dispatchWorkgroups`. */
  workgroups: [number, number];
  /** Threads per row of the grid (`workgroups[0] * wg`), for {@link LINEAR_INDEX}. */
  rowThreads: number;
}

/**
 * Splits `threads` into a 2-D grid of `wg`-sized workgroups.
 *
 * @example
 * ```ts
 * import { linearGrid } from "@lzn/tensor";
 * const g = linearGrid(64 * 1024 * 1024, 256); // 262144 workgroups -> [65535, 5]
 * console.log(g.workgroups);
 * ```
 */
export function linearGrid(threads: number, wg: number): LinearGrid {
  const groups = Math.max(1, Math.ceil(threads / wg));
  const x = Math.min(groups, 65535);
  const y = Math.ceil(groups / x);
  return { workgroups: [x, y], rowThreads: x * wg };
}

/**
 * WGSL expression of the linear thread index, given `gid` (global id) and `nwg` (num_workgroups).
 *
 * @example
 * ```ts
 * import { bindings, linearGrid, linearIndex } from "@lzn/tensor";
 * const WG = 256;
 * const wgsl = `${bindings([["y", "read_write", "f32"]])}
 *   @compute @workgroup_size(${WG})
 *   fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
 *     let i = ${linearIndex(WG)};
 *     if (i < arrayLength(&y)) { y[i] = 0.0; }
 *   }`;
 * const grid = linearGrid(1 << 20, WG); // dispatch with grid.workgroups
 * ```
 */
export function linearIndex(wg: number): string {
  return `(gid.x + gid.y * nwg.x * ${wg}u)`;
}

/**
 * Row-major strides of a shape.
 *
 * @example
 * ```ts
 * import { stridesOf } from "@lzn/tensor";
 * console.log(stridesOf([2, 3, 4])); // [12, 4, 1]
 * ```
 */
export function stridesOf(shape: readonly number[]): number[] {
  const s = new Array(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i];
  }
  return s;
}

/**
 * Normalises a possibly negative axis and checks it against `ndim`.
 *
 * @example
 * ```ts
 * import { normAxis } from "@lzn/tensor";
 * console.log(normAxis(-1, 3)); // 2
 * try {
 *   normAxis(3, 3, "softmax axis");
 * } catch (e) {
 *   console.log((e as Error).message); // lzn: softmax axis 3 out of range for a 3-d tensor
 * }
 * ```
 */
export function normAxis(axis: number, ndim: number, what = "axis"): number {
  const a = axis < 0 ? axis + ndim : axis;
  if (!Number.isInteger(a) || a < 0 || a >= Math.max(ndim, 1)) {
    throw new Error(`lzn: ${what} ${axis} out of range for a ${ndim}-d tensor`);
  }
  return a;
}

/**
 * The broadcast shape of two shapes (NumPy rules), or a readable error.
 *
 * @example
 * ```ts
 * import { broadcastShapes } from "@lzn/tensor";
 * broadcastShapes([4, 1, 3], [2, 1]); // [4, 2, 3]
 * ```
 */
export function broadcastShapes(a: readonly number[], b: readonly number[]): number[] {
  const n = Math.max(a.length, b.length);
  const out = new Array(n);
  for (let i = 0; i < n; i++) {
    const da = a[a.length - n + i] ?? 1, db = b[b.length - n + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw new Error(`lzn: shapes [${a.join(", ")}] and [${b.join(", ")}] do not broadcast`);
    }
    out[i] = da === 1 ? db : da;
  }
  return out;
}

/**
 * WGSL that maps a linear index `i` of `outShape` to the linear index of an input of `inShape` broadcast to
 * it (size-1 and missing dims read element 0). Constants are baked in; returns `i` when shapes match.
 *
 * @example
 * ```ts
 * broadcastIndex("i", [2, 3], [1, 3]); // "((i % 3u) * 1u)"
 * ```
 */
export function broadcastIndex(i: string, outShape: readonly number[], inShape: readonly number[]): string {
  const n = outShape.length;
  const same = inShape.length === n && inShape.every((d, k) => d === outShape[k]);
  if (same) return i;
  const os = stridesOf(outShape);
  const padded = [...new Array(n - inShape.length).fill(1), ...inShape];
  const is = stridesOf(padded);
  const terms: string[] = [];
  for (let k = 0; k < n; k++) {
    if (padded[k] === 1 || outShape[k] === 1) continue;
    const coord = k === 0 ? `(${i} / ${os[k]}u)` : `((${i} / ${os[k]}u) % ${outShape[k]}u)`;
    terms.push(`${coord} * ${is[k]}u`);
  }
  return terms.length ? `(${terms.join(" + ")})` : "0u";
}
