/**
 * Shape ops that move data: `permute`, `slice`, `pad`, `concat` and `stack`. Tensors are always contiguous,
 * so each is one copy kernel (one thread per output element) whose index arithmetic is baked in as constants
 * — except the offsets of slice, pad and concat, which are uniforms so that one kernel serves every offset.
 * Their VJPs are each other: permute <-> inverse permute, slice <-> pad with zeros, concat <-> slices.
 *
 * @module
 */
import { record } from "../autograd.ts";
import { bindings, kernel } from "../kernel.ts";
import { dispatch } from "../recorder.ts";
import { Tensor } from "../tensor.ts";
import { linearGrid, linearIndex, normAxis, stridesOf } from "./grid.ts";

const WG = 256;

/** The uniform `{ v: f32, p0 }` with an integer offset in `p0` (read in WGSL as `bitcast<u32>(u.p0)`). */
function offsetParams(value: number, offset: number): Float32Array {
  const buf = new ArrayBuffer(16);
  new Float32Array(buf, 0, 1)[0] = value;
  new Uint32Array(buf, 4, 1)[0] = offset;
  return new Float32Array(buf);
}

/** One thread per element `i < n`; `body` writes the output. Buffers bind in `decls` order. */
function launch(
  name: string,
  n: number,
  decls: [string, "read" | "read_write", string][],
  body: string,
  buffers: Tensor[],
  params?: Float32Array,
): void {
  if (n === 0) return; // also keeps divisions by a zero extent out of the generated WGSL
  const wgsl = `${bindings(decls)}
${
    params
      ? `struct Params { v: f32, p0: f32, p1: f32, p2: f32 }
@group(0) @binding(${decls.length}) var<uniform> u: Params;`
      : ""
  }
@compute @workgroup_size(${WG}) fn main(@builtin(global_invocation_id) gid: vec3u,
    @builtin(num_workgroups) nwg: vec3u) {
  let i = ${linearIndex(WG)};
  if (i >= ${n}u) { return; }
  ${body}
}`;
  const k = kernel({ name, wgsl, storage: decls.map((d) => d[1]), uniform: params ? 16 : undefined });
  dispatch({
    kernel: k,
    buffers: buffers.map((t) => t.buffer),
    params,
    workgroups: linearGrid(n, WG).workgroups,
  });
}

/** Views a shape as `[outer, shape[axis], inner]` around one axis (what slice/pad/concat index by). */
function around(shape: readonly number[], axis: number): { outer: number; len: number; inner: number } {
  let outer = 1, inner = 1;
  for (let k = 0; k < axis; k++) outer *= shape[k];
  for (let k = axis + 1; k < shape.length; k++) inner *= shape[k];
  return { outer, len: shape[axis], inner };
}

function withAxis(shape: readonly number[], axis: number, len: number): number[] {
  const s = [...shape];
  s[axis] = len;
  return s;
}

/**
 * Reorders the axes of `x`: output axis `k` is input axis `axes[k]`. Works for every dtype.
 *
 * @example
 * ```ts
 * import { permute, tensor } from "@lzn/tensor";
 * const x = tensor([1, 2, 3, 4, 5, 6], [2, 3]);
 * const t = permute(x, [1, 0]); // [[1, 4], [2, 5], [3, 6]]
 * ```
 */
export function permute(x: Tensor, axes: number[]): Tensor {
  const n = x.ndim;
  const perm = axes.map((a) => normAxis(a, n, "permute axis"));
  if (perm.length !== n || new Set(perm).size !== n) {
    throw new Error(`lzn: permute axes [${axes.join(", ")}] are not a permutation of ${n} axes`);
  }
  const outShape = perm.map((a) => x.shape[a]);
  const inStrides = stridesOf(x.shape);
  const outStrides = stridesOf(outShape);
  // Size-1 output axes contribute nothing to the input offset; skipping them keeps the WGSL short.
  const terms: string[] = [];
  for (let k = 0; k < n; k++) {
    if (outShape[k] === 1) continue;
    const coord = k === 0 ? `(i / ${outStrides[k]}u)` : `((i / ${outStrides[k]}u) % ${outShape[k]}u)`;
    terms.push(`${coord} * ${inStrides[perm[k]]}u`);
  }
  const out = Tensor.empty(outShape, x.dtype);
  launch(
    "permute",
    out.size,
    [["X", "read", x.dtype], ["Y", "read_write", x.dtype]],
    `Y[i] = X[${terms.length ? terms.join(" + ") : "0u"}];`,
    [x, out],
  );
  const inverse = new Array<number>(n);
  perm.forEach((a, k) => (inverse[a] = k));
  return record("permute", out, [x], (g) => [permute(g, inverse)]);
}

function clampIndex(v: number, len: number): number {
  return Math.min(len, Math.max(0, v < 0 ? v + len : v));
}

/**
 * Elements `[start, end)` along `axis` (negative indices count from the end; both are clamped to the axis,
 * so an empty range gives a size-0 axis). Works for every dtype; the gradient pads with zeros.
 *
 * @example
 * ```ts
 * import { slice, tensor } from "@lzn/tensor";
 * const x = tensor([0, 1, 2, 3, 4, 5], [2, 3]);
 * const s = slice(x, 1, 1, 3); // [[1, 2], [4, 5]]
 * const last = slice(x, 1, -1); // [[2], [5]]
 * ```
 */
export function slice(x: Tensor, axis: number, start: number, end?: number): Tensor {
  const ax = normAxis(axis, x.ndim);
  const len = x.shape[ax];
  const s = clampIndex(start, len);
  const e = Math.max(s, clampIndex(end ?? len, len));
  const { inner } = around(x.shape, ax);
  const outLen = e - s;
  const out = Tensor.empty(withAxis(x.shape, ax, outLen), x.dtype);
  // out[o, c, r] = X[o, c + s, r] with contiguous [outer, len, inner] views of both. The offset s is a
  // uniform, not a constant: slicing at many offsets (one row at a time) then reuses one compiled kernel.
  const body = `let o = i / ${outLen * inner}u; let rest = i % ${outLen * inner}u;
  Y[i] = X[o * ${len * inner}u + bitcast<u32>(u.p0) + rest];`;
  launch(
    "slice",
    out.size,
    [["X", "read", x.dtype], ["Y", "read_write", x.dtype]],
    body,
    [x, out],
    offsetParams(0, s * inner),
  );
  return record("slice", out, [x], (g) => [pad(g, ax, s, len - e)]);
}

/**
 * Pads `axis` with `before` and `after` copies of `value` (default 0). The gradient is a {@link slice}.
 *
 * @example
 * ```ts
 * import { pad, tensor } from "@lzn/tensor";
 * const p = pad(tensor([1, 2], [2]), 0, 1, 2); // [0, 1, 2, 0, 0]
 * ```
 */
export function pad(x: Tensor, axis: number, before: number, after: number, value = 0): Tensor {
  const ax = normAxis(axis, x.ndim);
  if (!Number.isInteger(before) || !Number.isInteger(after) || before < 0 || after < 0) {
    throw new Error(`lzn: pad amounts must be non-negative integers, got ${before} and ${after}`);
  }
  const { len, inner } = around(x.shape, ax);
  const outLen = before + len + after;
  const out = Tensor.empty(withAxis(x.shape, ax, outLen), x.dtype);
  // `before` is a uniform (as slice's offset, whose gradient this is), so one kernel serves every offset.
  const body = `let o = i / ${outLen * inner}u; let c = (i / ${inner}u) % ${outLen}u;
  let before = bitcast<u32>(u.p0);
  if (c < before || c >= before + ${len}u) { Y[i] = ${x.dtype}(u.v); return; }
  Y[i] = X[o * ${len * inner}u + (i % ${outLen * inner}u) - before * ${inner}u];`;
  launch(
    "pad",
    out.size,
    [["X", "read", x.dtype], ["Y", "read_write", x.dtype]],
    body,
    [x, out],
    offsetParams(value, before),
  );
  return record("pad", out, [x], (g) => [slice(g, ax, before, before + len)]);
}

/**
 * Joins tensors along an existing `axis`; all other dims must match, and so must the dtypes.
 *
 * @example
 * ```ts
 * import { concat, tensor } from "@lzn/tensor";
 * const c = concat([tensor([1, 2], [1, 2]), tensor([3, 4, 5, 6], [2, 2])], 0); // [[1, 2], [3, 4], [5, 6]]
 * ```
 */
export function concat(tensors: Tensor[], axis: number): Tensor {
  if (tensors.length === 0) throw new Error("lzn: concat needs at least one tensor");
  const first = tensors[0];
  const ax = normAxis(axis, first.ndim);
  for (const t of tensors) {
    const ok = t.dtype === first.dtype && t.ndim === first.ndim &&
      t.shape.every((d, k) => k === ax || d === first.shape[k]);
    if (!ok) {
      throw new Error(
        `lzn: concat along axis ${ax} of incompatible tensors: ${
          tensors.map((x) => x.toString()).join(", ")
        }`,
      );
    }
  }
  const total = tensors.reduce((acc, t) => acc + t.shape[ax], 0);
  const out = Tensor.empty(withAxis(first.shape, ax, total), first.dtype);
  const { inner } = around(first.shape, ax);
  // One copy per input into its band of the output; the pass orders the writes, and bands do not overlap.
  const starts: number[] = [];
  let off = 0;
  for (const t of tensors) {
    starts.push(off);
    const len = t.shape[ax];
    const body = `let o = i / ${len * inner}u;
  Y[o * ${total * inner}u + bitcast<u32>(u.p0) + (i % ${len * inner}u)] = X[i];`;
    const decls: [string, "read" | "read_write", string][] = [["X", "read", t.dtype], [
      "Y",
      "read_write",
      t.dtype,
    ]];
    launch("concat", t.size, decls, body, [t, out], offsetParams(0, off * inner));
    off += len;
  }
  return record(
    "concat",
    out,
    tensors,
    (g) => tensors.map((t, k) => (t.requiresGrad ? slice(g, ax, starts[k], starts[k] + t.shape[ax]) : null)),
  );
}

/**
 * Stacks same-shape tensors along a new `axis` (default 0).
 *
 * @example
 * ```ts
 * import { stack, tensor } from "@lzn/tensor";
 * const s = stack([tensor([1, 2], [2]), tensor([3, 4], [2])], 1); // [[1, 3], [2, 4]]
 * ```
 */
export function stack(tensors: Tensor[], axis = 0): Tensor {
  if (tensors.length === 0) throw new Error("lzn: stack needs at least one tensor");
  const ax = normAxis(axis, tensors[0].ndim + 1);
  // Free reshape views carry the gradient; concat's node keeps them alive after we drop ours.
  const views = tensors.map((t) => t.reshape([...t.shape.slice(0, ax), 1, ...t.shape.slice(ax)]));
  const out = concat(views, ax);
  for (const v of views) v.dispose();
  return out;
}
