/**
 * Softmax and log-softmax along any axis, and their VJPs, as row kernels: the tensor is viewed as
 * `[outer, n, inner]` and each of the `outer * inner` rows of length `n` is reduced and then rewritten.
 *
 * The forward pass keeps an online (max, sum of exp(x - max)) pair per row, so it reads the row twice instead
 * of three times and never exponentiates anything larger than 0: logits of magnitude 1e8 stay finite. Short
 * rows use one thread per row; rows longer than {@link THREAD_ROW_MAX} use one workgroup per row with a
 * shared-memory merge tree.
 *
 * @module
 */
import { record } from "../autograd.ts";
import { bindings, kernel } from "../kernel.ts";
import { dispatch } from "../recorder.ts";
import { Tensor } from "../tensor.ts";
import { linearGrid, linearIndex, normAxis } from "./grid.ts";

/** Rows up to this length are handled by a single thread. */
const THREAD_ROW_MAX = 64;
const WG = 128;

/** What a row kernel does: fold elements into `st`, merge partial states, then write each element. */
interface RowSpec {
  name: string;
  state: string;
  init: string;
  /** Statement folding element offset `k` into `st`. */
  push: string;
  /** Expression merging states `a` and `b` (tree path only). */
  merge: string;
  /** Statement writing the output at element offset `k` from the final `st`. */
  write: string;
  inputs: Tensor[];
  out: Tensor;
}

const ONLINE_MAX_SUM = /* wgsl */ `
fn push_ms(st: vec2f, v: f32) -> vec2f {
  if (v > st.x) { return vec2f(v, st.y * exp(st.x - v) + 1.0); }
  return vec2f(st.x, st.y + exp(v - st.x));
}
fn merge_ms(a: vec2f, b: vec2f) -> vec2f {
  let m = max(a.x, b.x);
  return vec2f(m, a.y * exp(a.x - m) + b.y * exp(b.x - m));
}`;

function rowKernel(spec: RowSpec, shape: readonly number[], axis: number): void {
  const n = shape[axis];
  let inner = 1;
  for (let k = axis + 1; k < shape.length; k++) inner *= shape[k];
  const rows = spec.out.size / Math.max(1, n);
  if (spec.out.size === 0) return;
  const names = ["X", "G"].slice(0, spec.inputs.length);
  const decl = bindings([...names.map((nm) => [nm, "read", "f32"] as [string, "read", string]), [
    "Y",
    "read_write",
    "f32",
  ]]);
  const base = `let base = (row / ${inner}u) * ${n * inner}u + row % ${inner}u;`;
  let wgsl: string;
  let workgroups: [number, number];
  if (n <= THREAD_ROW_MAX) {
    workgroups = linearGrid(rows, 64).workgroups;
    wgsl = `${decl}${ONLINE_MAX_SUM}
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let row = ${linearIndex(64)};
  if (row >= ${rows}u) { return; }
  ${base}
  var st: ${spec.state} = ${spec.init};
  for (var r = 0u; r < ${n}u; r = r + 1u) { let k = base + r * ${inner}u; ${spec.push} }
  for (var r = 0u; r < ${n}u; r = r + 1u) { let k = base + r * ${inner}u; ${spec.write} }
}`;
  } else {
    workgroups = linearGrid(rows, 1).workgroups;
    wgsl = `${decl}${ONLINE_MAX_SUM}
var<workgroup> part: array<${spec.state}, ${WG}>;
fn merge(a: ${spec.state}, b: ${spec.state}) -> ${spec.state} { return ${spec.merge}; }
@compute @workgroup_size(${WG}) fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
    @builtin(local_invocation_index) lid: u32) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= ${rows}u) { return; }
  ${base}
  var st: ${spec.state} = ${spec.init};
  for (var r = lid; r < ${n}u; r = r + ${WG}u) { let k = base + r * ${inner}u; ${spec.push} }
  part[lid] = st;
  workgroupBarrier();
  for (var s = ${WG / 2}u; s > 0u; s = s >> 1u) {
    if (lid < s) { part[lid] = merge(part[lid], part[lid + s]); }
    workgroupBarrier();
  }
  st = part[0];
  for (var r = lid; r < ${n}u; r = r + ${WG}u) { let k = base + r * ${inner}u; ${spec.write} }
}`;
  }
  const k = kernel({ name: spec.name, wgsl, storage: [...names.map(() => "read" as const), "read_write"] });
  dispatch({ kernel: k, buffers: [...spec.inputs, spec.out].map((t) => t.buffer), workgroups });
}

function rowShape(x: Tensor): readonly number[] {
  return x.ndim === 0 ? [1] : x.shape;
}

function forward(kind: "softmax" | "logSoftmax", x: Tensor, axis: number): { out: Tensor; ax: number } {
  if (x.dtype !== "f32") throw new Error(`lzn: ${kind} needs an f32 tensor, got ${x.dtype}`);
  // A scalar is a row of one (softmax 1, log-softmax 0).
  const shape = rowShape(x);
  const ax = normAxis(axis, shape.length);
  const out = Tensor.empty(x.shape);
  rowKernel(
    {
      name: kind,
      state: "vec2f",
      init: "vec2f(-3.4e38, 0.0)",
      push: "st = push_ms(st, X[k]);",
      merge: "merge_ms(a, b)",
      write: kind === "softmax" ? "Y[k] = exp(X[k] - st.x) / st.y;" : "Y[k] = X[k] - st.x - log(st.y);",
      inputs: [x],
      out,
    },
    shape,
    ax,
  );
  return { out, ax };
}

/**
 * Softmax along `axis` (default last): `exp(x - max) / sum(exp(x - max))`. Gradient: `y * (g - sum(g * y))`.
 *
 * @example
 * ```ts
 * import { softmax, tensor } from "@lzn/tensor";
 * const p = softmax(tensor([1, 2, 3, 1e8], [2, 2]), -1); // [[0.269, 0.731], [0, 1]]
 * ```
 */
export function softmax(x: Tensor, axis = -1): Tensor {
  const { out, ax } = forward("softmax", x, axis);
  const shape = rowShape(x);
  return record("softmax", out, [x], (g) => {
    const gx = Tensor.empty(x.shape);
    rowKernel(
      {
        name: "softmax_grad",
        state: "f32",
        init: "0.0",
        push: "st = st + X[k] * G[k];",
        merge: "a + b",
        write: "Y[k] = X[k] * (G[k] - st);",
        inputs: [out, g],
        out: gx,
      },
      shape,
      ax,
    );
    return [gx];
  }, [out]);
}

/**
 * Log-softmax along `axis` (default last): `x - max - log(sum(exp(x - max)))`, stable for large logits.
 * Gradient: `g - softmax(x) * sum(g)`.
 *
 * @example
 * ```ts
 * import { logSoftmax, tensor } from "@lzn/tensor";
 * const logp = logSoftmax(tensor([0, 0], [2])); // [-0.693, -0.693]
 * ```
 */
export function logSoftmax(x: Tensor, axis = -1): Tensor {
  const { out, ax } = forward("logSoftmax", x, axis);
  const shape = rowShape(x);
  return record("logSoftmax", out, [x], (g) => {
    const gx = Tensor.empty(x.shape);
    rowKernel(
      {
        name: "log_softmax_grad",
        state: "f32",
        init: "0.0",
        push: "st = st + G[k];",
        merge: "a + b",
        write: "Y[k] = G[k] - exp(X[k]) * st;",
        inputs: [out, g],
        out: gx,
      },
      shape,
      ax,
    );
    return [gx];
  }, [out]);
}
