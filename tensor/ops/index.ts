/**
 * Integer indexing: `gather` (index-select of rows, e.g. an embedding lookup), its VJP `scatterAdd`, and
 * `oneHot`. Indices are i32 or u32 tensors; an index outside `[0, rows)` reads as zeros (and receives no
 * gradient) rather than reading out of bounds.
 *
 * `scatterAdd` is atomic-free: each output element loops over the whole index list and sums the rows that
 * point at it, in index order. That is deterministic (no float atomics, which WGSL lacks anyway) and cheap
 * for the index lists of a batch; it costs `rows * cols * n` reads, so it is not meant for huge tables.
 *
 * @module
 */
import { record } from "../autograd.ts";
import { bindings, kernel } from "../kernel.ts";
import { dispatch } from "../recorder.ts";
import { Tensor } from "../tensor.ts";
import { linearGrid, linearIndex } from "./grid.ts";

const WG = 256;

function launch(
  name: string,
  n: number,
  decls: [string, "read" | "read_write", string][],
  body: string,
  buffers: Tensor[],
) {
  if (n === 0) return;
  const wgsl = `${bindings(decls)}
@compute @workgroup_size(${WG}) fn main(@builtin(global_invocation_id) gid: vec3u,
    @builtin(num_workgroups) nwg: vec3u) {
  let i = ${linearIndex(WG)};
  if (i >= ${n}u) { return; }
  ${body}
}`;
  const k = kernel({ name, wgsl, storage: decls.map((d) => d[1]) });
  dispatch({ kernel: k, buffers: buffers.map((t) => t.buffer), workgroups: linearGrid(n, WG).workgroups });
}

function checkIndices(indices: Tensor, what: string): void {
  if (indices.dtype === "f32") throw new Error(`lzn: ${what} needs i32 or u32 indices, got f32 (use cast)`);
}

/**
 * Selects rows of `x` along axis 0: `out[j, ...] = x[indices[j], ...]`. `indices` may have any shape; the
 * result has shape `[...indices.shape, ...x.shape.slice(1)]`. The gradient scatters back with
 * {@link scatterAdd} (repeated indices accumulate).
 *
 * @example
 * ```ts
 * import { gather, tensor } from "@lzn/tensor";
 * const table = tensor([0, 0, 1, 1, 2, 2], [3, 2]);
 * const rows = gather(table, tensor([2, 0, 2], [3], { dtype: "i32" })); // [[2, 2], [0, 0], [2, 2]]
 * ```
 */
export function gather(x: Tensor, indices: Tensor): Tensor {
  checkIndices(indices, "gather");
  if (x.ndim === 0) throw new Error("lzn: gather needs a tensor with at least one axis");
  const rows = x.shape[0];
  const cols = x.size / Math.max(1, rows);
  const out = Tensor.empty([...indices.shape, ...x.shape.slice(1)], x.dtype);
  launch(
    "gather",
    out.size,
    [["X", "read", x.dtype], ["I", "read", indices.dtype], ["Y", "read_write", x.dtype]],
    `let r = u32(I[i / ${cols}u]);
  Y[i] = select(${x.dtype}(0), X[min(r, ${
      Math.max(rows, 1) - 1
    }u) * ${cols}u + i % ${cols}u], r < ${rows}u);`,
    [x, indices, out],
  );
  return record("gather", out, [x], (g) => [scatterAdd(g, indices, rows)], [indices]);
}

/**
 * Sums rows of `src` into a zero tensor of `rows` rows: `out[r, ...] = sum over j with indices[j] = r of
 * src[j, ...]`. `src` has shape `[...indices.shape, ...rest]`, the result `[rows, ...rest]` (f32).
 *
 * @example
 * ```ts
 * import { scatterAdd, tensor } from "@lzn/tensor";
 * const src = tensor([1, 2, 3], [3, 1]);
 * const s = scatterAdd(src, tensor([1, 0, 1], [3], { dtype: "i32" }), 2); // [[2], [4]]
 * ```
 */
export function scatterAdd(src: Tensor, indices: Tensor, rows: number): Tensor {
  checkIndices(indices, "scatterAdd");
  if (src.dtype !== "f32") throw new Error(`lzn: scatterAdd needs f32 values, got ${src.dtype}`);
  const lead = indices.ndim;
  if (src.ndim < lead || indices.shape.some((d, k) => src.shape[k] !== d)) {
    throw new Error(
      `lzn: scatterAdd source [${src.shape}] does not start with the index shape [${indices.shape}]`,
    );
  }
  const n = indices.size;
  const rest = src.shape.slice(lead);
  const cols = rest.reduce((a, b) => a * b, 1);
  const out = Tensor.empty([rows, ...rest]);
  launch(
    "scatter_add",
    out.size,
    [["S", "read", "f32"], ["I", "read", indices.dtype], ["Y", "read_write", "f32"]],
    `let r = i / ${cols}u; let c = i % ${cols}u;
  var acc = 0.0;
  for (var j = 0u; j < ${n}u; j = j + 1u) {
    if (u32(I[j]) == r) { acc = acc + S[j * ${cols}u + c]; }
  }
  Y[i] = acc;`,
    [src, indices, out],
  );
  return record("scatterAdd", out, [src], (g) => [gather(g, indices)], [indices]);
}

/**
 * One-hot encoding: `out[..., c] = labels[...] == c ? 1 : 0` as f32 of shape `[...labels.shape, classes]`.
 * Labels outside `[0, classes)` give an all-zero row.
 *
 * @example
 * ```ts
 * import { oneHot, tensor } from "@lzn/tensor";
 * const y = oneHot(tensor([2, 0], [2], { dtype: "i32" }), 3); // [[0, 0, 1], [1, 0, 0]]
 * ```
 */
export function oneHot(labels: Tensor, classes: number): Tensor {
  checkIndices(labels, "oneHot");
  if (!Number.isInteger(classes) || classes <= 0) {
    throw new Error(`lzn: oneHot needs classes >= 1, got ${classes}`);
  }
  const out = Tensor.empty([...labels.shape, classes]);
  launch(
    "one_hot",
    out.size,
    [["L", "read", labels.dtype], ["Y", "read_write", "f32"]],
    `Y[i] = select(0.0, 1.0, L[i / ${classes}u] == ${labels.dtype}(i % ${classes}u));`,
    [labels, out],
  );
  return out;
}
