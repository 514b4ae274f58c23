/**
 * Elementwise kernels generated from the op table (`optable.ts`): unary and binary ops with broadcasting,
 * scalar operands through the params block (so a changing learning rate does not compile a new kernel),
 * `where`, `full`, `broadcastTo` and `sumTo`. Same-shape f32 work uses vec4 loads and stores.
 *
 * @module
 */
import { record } from "../autograd.ts";
import { bindings, kernel } from "../kernel.ts";
import { dispatch } from "../recorder.ts";
import { type DType, Tensor } from "../tensor.ts";
import { broadcastIndex, broadcastShapes, linearGrid, linearIndex } from "./grid.ts";
import { BINARY, type BinaryOp, ELEMENTWISE_PRELUDE, UNARY, type UnaryOp } from "./optable.ts";
import { reduce } from "./reduce.ts";

const WG = 256;
const HEADER = "@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u";

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** Launches `body` once per output element (or per vec4 when `vec4`). `i` is the element index. */
function launch(
  name: string,
  n: number,
  decls: [string, "read" | "read_write", string][],
  fns: string,
  body: string,
  buffers: Tensor[],
  params?: Float32Array,
  vec4 = false,
): void {
  const threads = vec4 ? n / 4 : n;
  const grid = linearGrid(threads, WG);
  const wgsl = `${bindings(decls)}
${
    params
      ? `struct Params { s: f32, pad0: f32, pad1: f32, pad2: f32 }
@group(0) @binding(${decls.length}) var<uniform> u: Params;`
      : ""
  }
${ELEMENTWISE_PRELUDE}
${fns}
@compute @workgroup_size(${WG}) fn main(${HEADER}) {
  let i = ${linearIndex(WG)};
  if (i >= ${threads}u) { return; }
  ${body}
}`;
  const k = kernel({ name, wgsl, storage: decls.map((d) => d[1]), uniform: params ? 16 : undefined });
  dispatch({ kernel: k, buffers: buffers.map((t) => t.buffer), params, workgroups: grid.workgroups });
}

function wgslType(dtype: DType): string {
  return dtype;
}

/**
 * Applies a unary op from the op table.
 *
 * @example
 * ```ts
 * import { tensor, unary } from "@lzn/tensor";
 * const y = unary("exp", tensor([0, 1], [2])); // [1, e]
 * ```
 */
export function unary(op: UnaryOp, x: Tensor): Tensor {
  const spec = UNARY[op];
  if (op === "identity" && x.dtype !== "f32") return castCopy(x, x.dtype);
  const out = Tensor.empty(x.shape);
  const n = x.size;
  const v4 = x.dtype === "f32" && n % 4 === 0;
  const fns = `fn fwd(x: f32) -> f32 { return ${spec.f}; }`;
  const body = v4
    ? `let x = X[i]; Y[i] = vec4f(fwd(x.x), fwd(x.y), fwd(x.z), fwd(x.w));`
    : `Y[i] = fwd(f32(X[i]));`;
  const elem = v4 ? "vec4f" : wgslType(x.dtype);
  launch(
    `unary_${op}`,
    n,
    [["X", "read", elem], ["Y", "read_write", v4 ? "vec4f" : "f32"]],
    fns,
    body,
    [x, out],
    undefined,
    v4,
  );
  if (!("df" in spec)) return out;
  return record(op, out, [x], (g) => [unaryGrad(op, x, out, g)], [out]);
}

function unaryGrad(op: UnaryOp, x: Tensor, y: Tensor, g: Tensor): Tensor {
  const spec = UNARY[op];
  const out = Tensor.empty(x.shape);
  const n = x.size;
  const v4 = n % 4 === 0;
  const fns = `fn bwd(x: f32, y: f32, g: f32) -> f32 { return ${spec.df}; }`;
  const body = v4
    ? `let x = X[i]; let y = Yv[i]; let g = G[i];
       O[i] = vec4f(bwd(x.x, y.x, g.x), bwd(x.y, y.y, g.y), bwd(x.z, y.z, g.z), bwd(x.w, y.w, g.w));`
    : `O[i] = bwd(X[i], Yv[i], G[i]);`;
  const e = v4 ? "vec4f" : "f32";
  launch(
    `unary_${op}_grad`,
    n,
    [["X", "read", e], ["Yv", "read", e], ["G", "read", e], ["O", "read_write", e]],
    fns,
    body,
    [x, y, g, out],
    undefined,
    v4,
  );
  return out;
}

function castCopy(x: Tensor, dtype: DType): Tensor {
  const out = Tensor.empty(x.shape, dtype);
  launch(
    `copy_${x.dtype}_${dtype}`,
    x.size,
    [["X", "read", x.dtype], ["Y", "read_write", dtype]],
    "",
    `Y[i] = ${dtype}(X[i]);`,
    [x, out],
  );
  return out;
}

/**
 * Converts to another dtype (f32 <-> i32/u32; float -> int truncates toward zero). No gradient.
 *
 * @example
 * ```ts
 * import { cast, tensor } from "@lzn/tensor";
 * const labels = cast(tensor([1, 2], [2]), "i32");
 * ```
 */
export function cast(x: Tensor, dtype: DType): Tensor {
  return castCopy(x, dtype);
}

/**
 * Applies a binary op from the op table with NumPy broadcasting; `b` may be a number.
 *
 * @example
 * ```ts
 * import { binary, tensor } from "@lzn/tensor";
 * const y = binary("mul", tensor([1, 2, 3, 4], [2, 2]), tensor([10, 100], [2])); // [10, 200, 30, 400]
 * ```
 */
export function binary(op: BinaryOp, a: Tensor, b: Tensor | number): Tensor {
  const spec = BINARY[op];
  const scalar = typeof b === "number";
  const bShape = scalar ? [] : b.shape;
  const shape = broadcastShapes(a.shape, bShape);
  const out = Tensor.empty(shape);
  const n = out.size;
  const fns = `fn fwd(a: f32, b: f32) -> f32 { return ${spec.f}; }`;
  const params = scalar ? new Float32Array([b, 0, 0, 0]) : undefined;
  const v4 = n % 4 === 0 && a.dtype === "f32" && sameShape(a.shape, shape) &&
    (scalar || (b.dtype === "f32" && sameShape(b.shape, shape)));
  if (v4) {
    const bv = scalar ? "vec4f(u.s)" : "B[i]";
    const decls: [string, "read" | "read_write", string][] = scalar
      ? [["A", "read", "vec4f"], ["Y", "read_write", "vec4f"]]
      : [["A", "read", "vec4f"], ["B", "read", "vec4f"], ["Y", "read_write", "vec4f"]];
    launch(
      `binary_${op}${scalar ? "_s" : ""}_v4`,
      n,
      decls,
      fns,
      `let a = A[i]; let b = ${bv}; Y[i] = vec4f(fwd(a.x, b.x), fwd(a.y, b.y), fwd(a.z, b.z), fwd(a.w, b.w));`,
      scalar ? [a, out] : [a, b, out],
      params,
      true,
    );
  } else {
    const ia = broadcastIndex("i", shape, a.shape);
    const bExpr = scalar ? "u.s" : `f32(B[${broadcastIndex("i", shape, b.shape)}])`;
    const decls: [string, "read" | "read_write", string][] = [["A", "read", a.dtype]];
    if (!scalar) decls.push(["B", "read", b.dtype]);
    decls.push(["Y", "read_write", "f32"]);
    launch(
      `binary_${op}`,
      n,
      decls,
      fns,
      `Y[i] = fwd(f32(A[${ia}]), ${bExpr});`,
      scalar ? [a, out] : [a, b, out],
      params,
    );
  }
  if (!("da" in spec)) return out;
  const inputs = scalar ? [a] : [a, b];
  return record(op, out, inputs, (g) => binaryGrad(op, a, b, out, g), [out]);
}

function binaryGrad(op: BinaryOp, a: Tensor, b: Tensor | number, y: Tensor, g: Tensor): (Tensor | null)[] {
  const spec = BINARY[op] as { da: string; db: string };
  const scalar = typeof b === "number";
  const params = scalar ? new Float32Array([b, 0, 0, 0]) : undefined;
  const wantA = a.requiresGrad;
  const wantB = !scalar && b.requiresGrad;
  const shape = y.shape;
  const ia = broadcastIndex("i", shape, a.shape);
  // An operand may be an integer tensor (e.g. labels) while the other needs a gradient: read it in its dtype.
  const bExpr = scalar ? "u.s" : `f32(B[${broadcastIndex("i", shape, b.shape)}])`;
  const decls: [string, "read" | "read_write", string][] = [["A", "read", a.dtype]];
  const bufs: Tensor[] = [a];
  if (!scalar) {
    decls.push(["B", "read", b.dtype]);
    bufs.push(b);
  }
  decls.push(["Yv", "read", "f32"], ["G", "read", "f32"]);
  bufs.push(y, g);
  let fns = "";
  let body = `let a = f32(A[${ia}]); let b = ${bExpr}; let y = Yv[i]; let g = G[i];`;
  let ga: Tensor | null = null, gb: Tensor | null = null;
  if (wantA) {
    ga = Tensor.empty(shape);
    decls.push(["GA", "read_write", "f32"]);
    bufs.push(ga);
    fns += `fn da(a: f32, b: f32, y: f32, g: f32) -> f32 { return ${spec.da}; }\n`;
    body += ` GA[i] = da(a, b, y, g);`;
  }
  if (wantB) {
    gb = Tensor.empty(shape);
    decls.push(["GB", "read_write", "f32"]);
    bufs.push(gb);
    fns += `fn db(a: f32, b: f32, y: f32, g: f32) -> f32 { return ${spec.db}; }\n`;
    body += ` GB[i] = db(a, b, y, g);`;
  }
  if (!wantA && !wantB) return [null, null];
  launch(`binary_${op}_grad${wantA ? "A" : ""}${wantB ? "B" : ""}`, y.size, decls, fns, body, bufs, params);
  const out: (Tensor | null)[] = [ga ? sumToOwned(ga, a.shape) : null];
  if (!scalar) out.push(gb ? sumToOwned(gb, (b as Tensor).shape) : null);
  return out;
}

function sumToOwned(t: Tensor, shape: readonly number[]): Tensor {
  if (sameShape(t.shape, shape)) return t;
  const r = sumTo(t, shape);
  t.dispose();
  return r;
}

/**
 * Sums a tensor down to a shape it was broadcast from (the VJP of broadcasting).
 *
 * @example
 * ```ts
 * import { sumTo, tensor } from "@lzn/tensor";
 * const s = sumTo(tensor([1, 2, 3, 4], [2, 2]), [2]); // [4, 6]
 * ```
 */
export function sumTo(t: Tensor, shape: readonly number[]): Tensor {
  const lead = t.ndim - shape.length;
  const axes: number[] = [];
  for (let k = 0; k < t.ndim; k++) if (k < lead || (shape[k - lead] === 1 && t.shape[k] !== 1)) axes.push(k);
  if (axes.length === 0) return t.reshape(shape);
  const r = reduce("sum", t, axes, true);
  const out = r.reshape(shape);
  r.dispose();
  return out;
}

/**
 * Materialises `x` broadcast to `shape` (gradient: {@link sumTo}).
 *
 * @example
 * ```ts
 * import { broadcastTo, tensor } from "@lzn/tensor";
 * const y = broadcastTo(tensor([1, 2], [2]), [3, 2]);
 * ```
 */
export function broadcastTo(x: Tensor, shape: readonly number[]): Tensor {
  const bs = broadcastShapes(x.shape, shape);
  if (!sameShape(bs, shape)) throw new Error(`lzn: cannot broadcast [${x.shape}] to [${shape}]`);
  const out = Tensor.empty(shape, x.dtype);
  launch(
    "broadcast",
    out.size,
    [["X", "read", x.dtype], ["Y", "read_write", x.dtype]],
    "",
    `Y[i] = X[${broadcastIndex("i", shape, x.shape)}];`,
    [x, out],
  );
  return record("broadcastTo", out, [x], (g) => [sumTo(g, x.shape)]);
}

/**
 * A tensor filled with `value`.
 *
 * @example
 * ```ts
 * import { full } from "@lzn/tensor";
 * const z = full([2, 3], 0);
 * ```
 */
export function full(shape: readonly number[], value: number, dtype: DType = "f32"): Tensor {
  const out = Tensor.empty(shape, dtype);
  launch(
    `fill_${dtype}`,
    out.size,
    [["Y", "read_write", dtype]],
    "",
    `Y[i] = ${dtype}(u.s);`,
    [out],
    new Float32Array([value, 0, 0, 0]),
  );
  return out;
}

/**
 * Elementwise select: `cond != 0 ? a : b`, with broadcasting of all three.
 *
 * @example
 * ```ts
 * import { tensor, where } from "@lzn/tensor";
 * const x = tensor([-1, 2], [2]);
 * const y = where(x.gt(0), x, 0); // [0, 2]
 * ```
 */
export function where(cond: Tensor, a: Tensor | number, b: Tensor | number): Tensor {
  const ta = typeof a === "number" ? full([], a) : a;
  const tb = typeof b === "number" ? full([], b) : b;
  const shape = broadcastShapes(broadcastShapes(cond.shape, ta.shape), tb.shape);
  const out = Tensor.empty(shape);
  launch(
    "where",
    out.size,
    [["C", "read", cond.dtype], ["A", "read", "f32"], ["B", "read", "f32"], ["Y", "read_write", "f32"]],
    "",
    `Y[i] = select(B[${broadcastIndex("i", shape, tb.shape)}], A[${broadcastIndex("i", shape, ta.shape)}], ` +
      `C[${broadcastIndex("i", shape, cond.shape)}] != ${cond.dtype}(0));`,
    [cond, ta, tb, out],
  );
  const res = record("where", out, [ta, tb], (g) => {
    const zero = full([], 0);
    const gA = ta.requiresGrad ? sumToOwned(where(cond, g, zero), ta.shape) : null;
    const gB = tb.requiresGrad ? sumToOwned(where(cond, zero, g), tb.shape) : null;
    zero.dispose();
    return [gA, gB];
  }, [cond]); // the VJP reads cond: keep it alive even if the caller disposes it before backward()
  if (typeof a === "number") ta.dispose();
  if (typeof b === "number") tb.dispose();
  return res;
}
