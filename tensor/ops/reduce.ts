/**
 * Reductions over any set of axes: sum, mean, max, min, logsumexp and argmax. One workgroup reduces one
 * output element with a shared-memory tree (threads stride over the reduced elements first); when the
 * reduced extent is small, one thread per output is used instead. When there are few outputs and a long
 * extent (a full `sum()`, a bias gradient), one workgroup per output would leave the GPU idle (measured on the
 * H200: a full sum of 12.8M floats took ~19 ms in one workgroup), so the extent is split over many workgroups
 * that write partial states, and a second pass merges them.
 *
 * @module
 */
import { record } from "../autograd.ts";
import { bindings, IS_NAN_WGSL, kernel } from "../kernel.ts";
import { dispatch } from "../recorder.ts";
import { gpu } from "../device.ts";
import { Tensor } from "../tensor.ts";
import { linearGrid, linearIndex, normAxis, stridesOf } from "./grid.ts";

/**
 * Reductions with a float result.
 *
 * @example
 * ```ts
 * import { reduce, type ReduceOp, tensor } from "@lzn/tensor";
 * const x = tensor([1, 2, 3, 4], [2, 2]);
 * const ops: ReduceOp[] = ["sum", "mean", "max", "min", "logsumexp"];
 * const rows = ops.map((op) => reduce(op, x, 1)); // each of shape [2]
 * ```
 */
export type ReduceOp = "sum" | "mean" | "max" | "min" | "logsumexp";

interface Plan {
  outShape: number[];
  keptShape: number[];
  reducedShape: number[];
  /** WGSL giving the input offset of output `o` (without the reduced part). */
  base: string;
  /** WGSL giving the input offset of reduced element `r`. */
  offset: string;
  outCount: number;
  redCount: number;
}

function plan(x: Tensor, axes: number[], keepDims: boolean): Plan {
  const st = stridesOf(x.shape);
  const kept: number[] = [], red: number[] = [];
  for (let k = 0; k < x.ndim; k++) (axes.includes(k) ? red : kept).push(k);
  const keptShape = kept.map((k) => x.shape[k]);
  const reducedShape = red.map((k) => x.shape[k]);
  const decompose = (v: string, dims: number[]) => {
    const shp = dims.map((k) => x.shape[k]);
    const sub = stridesOf(shp);
    const terms = dims.map((k, j) => {
      const coord = j === 0 ? `(${v} / ${sub[j]}u)` : `((${v} / ${sub[j]}u) % ${shp[j]}u)`;
      return `${coord} * ${st[k]}u`;
    });
    return terms.length ? `(${terms.join(" + ")})` : "0u";
  };
  const outShape = keepDims ? x.shape.map((d, k) => (axes.includes(k) ? 1 : d)) : keptShape;
  return {
    outShape,
    keptShape,
    reducedShape,
    base: decompose("o", kept),
    offset: decompose("r", red),
    outCount: keptShape.reduce((a, b) => a * b, 1),
    redCount: reducedShape.reduce((a, b) => a * b, 1),
  };
}

function normAxes(x: Tensor, axis: number | number[] | undefined): number[] {
  if (axis === undefined) return [...Array(x.ndim).keys()];
  const list = (Array.isArray(axis) ? axis : [axis]).map((a) => normAxis(a, x.ndim));
  const unique = [...new Set(list)];
  if (unique.length !== list.length) {
    throw new Error(`lzn: reduction axes [${axis}] name an axis twice (of shape [${x.shape}])`);
  }
  return unique.sort((a, b) => a - b);
}

interface Combiner {
  state: string;
  init: string;
  add: string; // updates `acc` with value `v`
  merge: string; // acc = merge(acc, other)
  result: string;
}

function combiner(op: ReduceOp | "argmax", redCount: number): Combiner {
  switch (op) {
    case "sum":
      return { state: "f32", init: "0.0", add: "acc = acc + v;", merge: "acc = acc + other;", result: "acc" };
    case "mean":
      return {
        state: "f32",
        init: "0.0",
        add: "acc = acc + v;",
        merge: "acc = acc + other;",
        result: `acc / ${redCount}.0`,
      };
    case "max":
      return {
        state: "f32",
        init: "-3.4e38",
        add: "acc = nan_max(acc, v);",
        merge: "acc = nan_max(acc, other);",
        result: "acc",
      };
    case "min":
      return {
        state: "f32",
        init: "3.4e38",
        add: "acc = nan_min(acc, v);",
        merge: "acc = nan_min(acc, other);",
        result: "acc",
      };
    case "logsumexp":
      return {
        state: "vec2f",
        init: "vec2f(-3.4e38, 0.0)",
        add: "acc = lse_merge(acc, vec2f(v, 1.0));",
        merge: "acc = lse_merge(acc, other);",
        result: "acc.x + log(acc.y)",
      };
    case "argmax":
      // (value, index) in a struct: an index kept as f32 bits would be a denormal that drivers may flush.
      // Ties resolve to the smaller index; a NaN is the maximum (the first NaN's index), as in PyTorch.
      return {
        state: "ArgMax",
        init: "ArgMax(-3.4e38, 0xffffffffu)",
        add: "acc = am_merge(acc, ArgMax(v, r));",
        merge: "acc = am_merge(acc, other);",
        result: "i32(acc.i)",
      };
  }
}

// max, min and argmax propagate NaN, as sum and PyTorch do.
const HELPERS = /* wgsl */ `
${IS_NAN_WGSL}
fn nan_max(a: f32, b: f32) -> f32 {
  if (is_nan(a)) { return a; }
  if (is_nan(b)) { return b; }
  return max(a, b);
}
fn nan_min(a: f32, b: f32) -> f32 {
  if (is_nan(a)) { return a; }
  if (is_nan(b)) { return b; }
  return min(a, b);
}
fn lse_merge(a: vec2f, b: vec2f) -> vec2f {
  let m = max(a.x, b.x);
  if (m <= -3.4e38) { return vec2f(m, 0.0); }
  return vec2f(m, a.y * exp(a.x - m) + b.y * exp(b.x - m));
}
struct ArgMax { v: f32, i: u32 }
fn am_merge(a: ArgMax, b: ArgMax) -> ArgMax {
  let an = is_nan(a.v);
  let bn = is_nan(b.v);
  if (an || bn) {
    if (an && bn) { if (b.i < a.i) { return b; } return a; }
    if (bn) { return b; }
    return a;
  }
  if (b.v > a.v || (b.v == a.v && b.i < a.i)) { return b; }
  return a;
}`;

/** Workgroups per output of the split path (1 = no split): enough to fill the device, each with a long run. */
function splitCount(op: ReduceOp | "argmax", p: Plan): number {
  const MIN_RUN = 4096;
  if (op === "argmax" || p.redCount < 2 * MIN_RUN) return 1;
  const target = gpu().adapter.tuning === "cpu" ? 8 : 1024;
  return Math.max(1, Math.min(Math.floor(target / p.outCount), Math.ceil(p.redCount / MIN_RUN)));
}

const TREE_WG = 256;

/**
 * A kernel with one workgroup per output slot: `prologue` names the slot, `gather` folds this thread's values
 * into `acc`, a shared-memory tree merges the workgroup's states, and `store` runs with `acc` = the total.
 */
function treeWgsl(decl: string, c: Combiner, prologue: string, gather: string, store: string): string {
  return `${decl}${HELPERS}
var<workgroup> part: array<${c.state}, ${TREE_WG}>;
@compute @workgroup_size(${TREE_WG}) fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
    @builtin(local_invocation_index) lid: u32) {
  ${prologue}
  var acc: ${c.state} = ${c.init};
  ${gather}
  part[lid] = acc;
  workgroupBarrier();
  for (var s = ${TREE_WG / 2}u; s > 0u; s = s >> 1u) {
    if (lid < s) { acc = part[lid]; let other = part[lid + s]; ${c.merge} part[lid] = acc; }
    workgroupBarrier();
  }
  acc = part[0];
  ${store}
}`;
}

/** The split path: pass 1 reduces `splits` chunks of every output into partial states, pass 2 merges them. */
function launchSplitReduce(op: ReduceOp, x: Tensor, p: Plan, out: Tensor, splits: number): void {
  const c = combiner(op, p.redCount);
  const chunk = Math.ceil(p.redCount / splits);
  const parts = p.outCount * splits;
  const partial = Tensor.empty([parts * (c.state === "vec2f" ? 2 : 1)]);
  const first = treeWgsl(
    bindings([["X", "read", "f32"], ["P", "read_write", c.state]]),
    c,
    `let q = wid.x + wid.y * nwg.x;
  let o = q / ${splits}u;
  let r0 = (q % ${splits}u) * ${chunk}u;
  let r1 = min(r0 + ${chunk}u, ${p.redCount}u);
  let b = ${p.base};`,
    `if (q < ${parts}u) {
    for (var r = r0 + lid; r < r1; r = r + ${TREE_WG}u) { let v = X[b + ${p.offset}]; ${c.add} }
  }`,
    `if (lid == 0u && q < ${parts}u) { P[q] = acc; }`,
  );
  dispatch({
    kernel: kernel({ name: `reduce_${op}_split`, wgsl: first, storage: ["read", "read_write"] }),
    buffers: [x.buffer, partial.buffer],
    workgroups: linearGrid(parts, 1).workgroups,
  });
  const second = treeWgsl(
    bindings([["P", "read", c.state], ["Y", "read_write", "f32"]]),
    c,
    "let o = wid.x + wid.y * nwg.x;",
    `if (o < ${p.outCount}u) {
    for (var j = lid; j < ${splits}u; j = j + ${TREE_WG}u) { let other = P[o * ${splits}u + j]; ${c.merge} }
  }`,
    `if (lid == 0u && o < ${p.outCount}u) { Y[o] = ${c.result}; }`,
  );
  dispatch({
    kernel: kernel({ name: `reduce_${op}_merge`, wgsl: second, storage: ["read", "read_write"] }),
    buffers: [partial.buffer, out.buffer],
    workgroups: linearGrid(p.outCount, 1).workgroups,
  });
  partial.dispose(); // the pass keeps dispatch order: the merge has read it before the pool hands it out again
}

function launchReduce(op: ReduceOp | "argmax", x: Tensor, p: Plan, out: Tensor): void {
  const splits = splitCount(op, p);
  if (splits > 1) return launchSplitReduce(op as ReduceOp, x, p, out, splits);
  const c = combiner(op, p.redCount);
  const outElem = op === "argmax" ? "i32" : "f32";
  const decl = bindings([["X", "read", "f32"], ["Y", "read_write", outElem]]);
  let wgsl: string;
  let workgroups: [number, number];
  if (p.redCount <= 64) {
    const grid = linearGrid(p.outCount, 64);
    workgroups = grid.workgroups;
    wgsl = `${decl}${HELPERS}
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let o = ${linearIndex(64)};
  if (o >= ${p.outCount}u) { return; }
  let b = ${p.base};
  var acc: ${c.state} = ${c.init};
  for (var r = 0u; r < ${p.redCount}u; r = r + 1u) { let v = X[b + ${p.offset}]; ${c.add} }
  Y[o] = ${c.result};
}`;
  } else {
    workgroups = linearGrid(p.outCount, 1).workgroups;
    wgsl = treeWgsl(
      decl,
      c,
      `let o = wid.x + wid.y * nwg.x;
  let b = ${p.base};`,
      `for (var r = lid; r < ${p.redCount}u; r = r + ${TREE_WG}u) { let v = X[b + ${p.offset}]; ${c.add} }`,
      `if (lid == 0u && o < ${p.outCount}u) { Y[o] = ${c.result}; }`,
    );
  }
  const k = kernel({ name: `reduce_${op}`, wgsl, storage: ["read", "read_write"] });
  dispatch({ kernel: k, buffers: [x.buffer, out.buffer], workgroups });
}

/**
 * Reduces `x` over `axis` (a number, a list, or all axes when undefined).
 *
 * @example
 * ```ts
 * import { reduce, tensor } from "@lzn/tensor";
 * const x = tensor([1, 2, 3, 4, 5, 6], [2, 3]);
 * const s = reduce("sum", x, 1); // [6, 15]
 * ```
 */
export function reduce(op: ReduceOp, x: Tensor, axis?: number | number[], keepDims = false): Tensor {
  if (x.dtype !== "f32") throw new Error(`lzn: ${op} needs an f32 tensor, got ${x.dtype}`);
  const axes = normAxes(x, axis);
  const p = plan(x, axes, keepDims);
  if (p.redCount === 0) throw new Error(`lzn: ${op} over an empty axis of [${x.shape.join(", ")}]`);
  const out = Tensor.empty(p.outShape);
  launchReduce(op, x, p, out);
  const keptShape = x.shape.map((d, k) => (axes.includes(k) ? 1 : d));
  return record(op, out, [x], (g) => {
    const gk = g.reshape(keptShape);
    let r: Tensor;
    switch (op) {
      case "sum":
        r = expandTo(gk, x.shape);
        break;
      case "mean": {
        const e = expandTo(gk, x.shape);
        r = e.mul(1 / p.redCount);
        e.dispose();
        break;
      }
      case "max":
      case "min": {
        // Tied extrema share g equally, so the gradient still sums to g (a valid subgradient).
        const y = out.reshape(keptShape);
        const mask = x.eq(y);
        const count = reduce("sum", mask, axes, true);
        const share = gk.div(count);
        r = mask.mul(share);
        for (const t of [y, mask, count, share]) t.dispose();
        break;
      }
      case "logsumexp": {
        const y = out.reshape(keptShape);
        const d = x.sub(y);
        const e = d.exp();
        r = e.mul(gk);
        for (const t of [y, d, e]) t.dispose();
        break;
      }
    }
    gk.dispose();
    return [r];
  }, [out]);
}

function expandTo(g: Tensor, shape: readonly number[]): Tensor {
  // Multiplying by ones of the full shape broadcasts in one fused kernel.
  const ones = x1(shape);
  const r = ones.mul(g);
  ones.dispose();
  return r;
}

function x1(shape: readonly number[]): Tensor {
  const t = Tensor.empty(shape);
  const k = kernel({
    name: "ones",
    storage: ["read_write"],
    wgsl: `${bindings([["Y", "read_write", "f32"]])}
@compute @workgroup_size(256) fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = ${linearIndex(256)}; if (i < ${t.size}u) { Y[i] = 1.0; } }`,
  });
  dispatch({ kernel: k, buffers: [t.buffer], workgroups: linearGrid(t.size, 256).workgroups });
  return t;
}

/**
 * Index of the maximum along one axis, as i32 (first maximum wins).
 *
 * @example
 * ```ts
 * import { argmax, tensor } from "@lzn/tensor";
 * const idx = argmax(tensor([0, 5, 2, 9, 1, 3], [2, 3]), 1); // [1, 0]
 * ```
 */
export function argmax(x: Tensor, axis: number, keepDims = false): Tensor {
  if (x.dtype !== "f32") throw new Error(`lzn: argmax needs an f32 tensor, got ${x.dtype}`);
  const p = plan(x, [normAxis(axis, x.ndim)], keepDims);
  const out = Tensor.empty(p.outShape, "i32");
  launchReduce("argmax", x, p, out);
  return out;
}
