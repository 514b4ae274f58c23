/**
 * The elementwise op table: one line per op gives the forward WGSL, the backward WGSL and the float64
 * reference used by the tests, so the three can never drift apart.
 *
 * In the WGSL snippets `x`/`a`/`b` are inputs, `y` the forward output and `g` the upstream gradient.
 *
 * @module
 */

/**
 * One unary op: forward, its VJP and a float64 reference (with its derivative for tests).
 *
 * @example
 * ```ts
 * import { UNARY, type UnarySpec } from "@lzn/tensor";
 * const silu: UnarySpec = UNARY.silu;
 * console.log(silu.f, silu.ref(1)); // "x * sigmoid_f(x)" 0.7310585786300049
 * ```
 */
export interface UnarySpec {
  /** Forward expression in `x`. */
  f: string;
  /** VJP expression in `x`, `y`, `g`; absent for ops without a gradient. */
  df?: string;
  /** Float64 reference. */
  ref: (x: number) => number;
  /** Test domain: inputs are drawn from it. */
  domain?: "positive" | "any";
}

/**
 * One binary op: forward, VJPs for both sides and a float64 reference.
 *
 * @example
 * ```ts
 * import { BINARY, type BinarySpec } from "@lzn/tensor";
 * const mul: BinarySpec = BINARY.mul;
 * console.log(mul.f, mul.da, mul.ref(3, 4)); // "a * b" "g * b" 12
 * ```
 */
export interface BinarySpec {
  /** Forward expression in `a`, `b`. */
  f: string;
  /** VJP w.r.t. `a` in `a`, `b`, `y`, `g`; absent for comparisons. */
  da?: string;
  /** VJP w.r.t. `b`. */
  db?: string;
  /** Float64 reference. */
  ref: (a: number, b: number) => number;
  /** Test domain of `a` (and `b`). */
  domain?: "positive" | "any";
}

const SQRT_2_OVER_PI: number = Math.sqrt(2 / Math.PI);

/** WGSL helpers every elementwise kernel may call (numerically safe tanh, sigmoid, integer-aware pow). */
export const ELEMENTWISE_PRELUDE: string = /* wgsl */ `
fn sigmoid_f(x: f32) -> f32 { return 1.0 / (1.0 + exp(-x)); }
fn tanh_f(x: f32) -> f32 { let e = exp(-2.0 * abs(x)); return sign(x) * (1.0 - e) / (1.0 + e); }
fn gelu_inner(x: f32) -> f32 { return ${SQRT_2_OVER_PI} * (x + 0.044715 * x * x * x); }
fn pow_f(a: f32, b: f32) -> f32 {
  if (b == 0.0) { return 1.0; }
  if (b == 1.0) { return a; }
  if (b == 2.0) { return a * a; }
  let r = pow(abs(a), b);
  if (a >= 0.0) { return r; }
  if (floor(b) != b) { return bitcast<f32>(0x7fc00000u); }
  return select(r, -r, (i32(b) & 1) != 0);
}
`;

const tanh64 = Math.tanh;

/**
 * Name of a unary op.
 *
 * @example
 * ```ts
 * import { tensor, unary, type UnaryOp } from "@lzn/tensor";
 * const x = tensor([-1, 0, 1], [3]);
 * const ops: UnaryOp[] = ["relu", "tanh", "gelu"];
 * const ys = ops.map((op) => unary(op, x));
 * ```
 */
export type UnaryOp =
  | "identity"
  | "neg"
  | "exp"
  | "log"
  | "sqrt"
  | "rsqrt"
  | "abs"
  | "square"
  | "sin"
  | "cos"
  | "tanh"
  | "sigmoid"
  | "relu"
  | "silu"
  | "gelu";

/**
 * Unary ops.
 *
 * @example
 * ```ts
 * import { UNARY, type UnaryOp } from "@lzn/tensor";
 * const names = Object.keys(UNARY) as UnaryOp[];
 * console.log(names.filter((op) => UNARY[op].domain === "positive")); // ["log", "sqrt", "rsqrt"]
 * console.log(UNARY.exp.ref(0)); // 1
 * ```
 */
export const UNARY: Record<UnaryOp, UnarySpec> = {
  identity: { f: "x", df: "g", ref: (x) => x },
  neg: { f: "-x", df: "-g", ref: (x) => -x },
  exp: { f: "exp(x)", df: "g * y", ref: Math.exp },
  log: { f: "log(x)", df: "g / x", ref: Math.log, domain: "positive" },
  sqrt: { f: "sqrt(x)", df: "g * 0.5 / y", ref: Math.sqrt, domain: "positive" },
  rsqrt: {
    f: "inverseSqrt(x)",
    df: "-0.5 * g * y * y * y",
    ref: (x) => 1 / Math.sqrt(x),
    domain: "positive",
  },
  abs: { f: "abs(x)", df: "g * sign(x)", ref: Math.abs },
  square: { f: "x * x", df: "2.0 * g * x", ref: (x) => x * x },
  sin: { f: "sin(x)", df: "g * cos(x)", ref: Math.sin },
  cos: { f: "cos(x)", df: "-g * sin(x)", ref: Math.cos },
  tanh: { f: "tanh_f(x)", df: "g * (1.0 - y * y)", ref: tanh64 },
  sigmoid: { f: "sigmoid_f(x)", df: "g * y * (1.0 - y)", ref: (x) => 1 / (1 + Math.exp(-x)) },
  relu: { f: "max(x, 0.0)", df: "select(0.0, g, x > 0.0)", ref: (x) => Math.max(x, 0) },
  silu: {
    f: "x * sigmoid_f(x)",
    df: "g * (sigmoid_f(x) * (1.0 + x * (1.0 - sigmoid_f(x))))",
    ref: (x) => x / (1 + Math.exp(-x)),
  },
  gelu: {
    f: "0.5 * x * (1.0 + tanh_f(gelu_inner(x)))",
    df:
      `g * (0.5 * (1.0 + tanh_f(gelu_inner(x))) + 0.5 * x * (1.0 - tanh_f(gelu_inner(x)) * tanh_f(gelu_inner(x))) * ${SQRT_2_OVER_PI} * (1.0 + 0.134145 * x * x))`,
    ref: (x) => 0.5 * x * (1 + tanh64(SQRT_2_OVER_PI * (x + 0.044715 * x ** 3))),
  },
};

/**
 * Name of a binary op.
 *
 * @example
 * ```ts
 * import { binary, type BinaryOp, tensor } from "@lzn/tensor";
 * const a = tensor([1, 5, 3], [3]), b = tensor([4, 2, 3], [3]);
 * const ops: BinaryOp[] = ["maximum", "ge", "sub"];
 * const ys = ops.map((op) => binary(op, a, b)); // [4, 5, 3], [0, 1, 1], [-3, 3, 0]
 * ```
 */
export type BinaryOp =
  | "add"
  | "sub"
  | "mul"
  | "div"
  | "pow"
  | "maximum"
  | "minimum"
  | "eq"
  | "lt"
  | "le"
  | "gt"
  | "ge";

/**
 * Binary ops (broadcasting; `b` may be a scalar).
 *
 * @example
 * ```ts
 * import { BINARY } from "@lzn/tensor";
 * console.log(BINARY.pow.ref(2, 10)); // 1024
 * console.log(BINARY.lt.da); // undefined: comparisons have no gradient
 * ```
 */
export const BINARY: Record<BinaryOp, BinarySpec> = {
  add: { f: "a + b", da: "g", db: "g", ref: (a, b) => a + b },
  sub: { f: "a - b", da: "g", db: "-g", ref: (a, b) => a - b },
  mul: { f: "a * b", da: "g * b", db: "g * a", ref: (a, b) => a * b },
  div: { f: "a / b", da: "g / b", db: "-g * a / (b * b)", ref: (a, b) => a / b },
  pow: {
    f: "pow_f(a, b)",
    da: "g * b * pow_f(a, b - 1.0)",
    db: "g * y * log(a)",
    ref: (a, b) => a ** b,
    domain: "positive",
  },
  maximum: { f: "max(a, b)", da: "select(0.0, g, a >= b)", db: "select(0.0, g, a < b)", ref: Math.max },
  minimum: { f: "min(a, b)", da: "select(0.0, g, a <= b)", db: "select(0.0, g, a > b)", ref: Math.min },
  eq: { f: "select(0.0, 1.0, a == b)", ref: (a, b) => Number(a === b) },
  lt: { f: "select(0.0, 1.0, a < b)", ref: (a, b) => Number(a < b) },
  le: { f: "select(0.0, 1.0, a <= b)", ref: (a, b) => Number(a <= b) },
  gt: { f: "select(0.0, 1.0, a > b)", ref: (a, b) => Number(a > b) },
  ge: { f: "select(0.0, 1.0, a >= b)", ref: (a, b) => Number(a >= b) },
};
