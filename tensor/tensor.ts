/**
 * The `Tensor`: a shape, a dtype and a pooled GPU buffer, with autograd bookkeeping and explicit lifetime.
 * Tensors are always contiguous (row-major); `reshape` is a free view that shares storage, and transposed
 * matmul operands are read in place by the matmul kernels instead of being copied.
 *
 * @module
 */
import { backward as runBackward, type GradNode, record, releaseNode } from "./autograd.ts";
import { bufferPool, type PooledBuffer } from "./pool.ts";
import { readBuffer, upload } from "./transfer.ts";
import { track, untrack } from "./scope.ts";
import * as ew from "./ops/elementwise.ts";
import * as red from "./ops/reduce.ts";
import { matmul, type MatmulOptions } from "./ops/matmul.ts";
import { permute, slice } from "./ops/shape.ts";
import { normAxis } from "./ops/grid.ts";
import { logSoftmax, softmax } from "./ops/softmax.ts";

/**
 * Element type of a tensor: f32 for values, i32/u32 for indices and labels. Integer tensors are for
 * indexing, not arithmetic: `tensor()` converts values with the typed array's rules (1.7 -> 1, 2^31 wraps),
 * and the elementwise ops compute in f32 and return f32 (exact for integers up to 2^24).
 *
 * @example
 * ```ts
 * import { type DType, tensor } from "@lzn/tensor";
 * const dtype: DType = "i32";
 * const labels = tensor([3, 1, 4], [3], { dtype });
 * console.log(labels.dtype); // "i32"
 * ```
 */
export type DType = "f32" | "i32" | "u32";

/**
 * Options of {@link tensor}.
 *
 * @example
 * ```ts
 * import { tensor, type TensorOptions } from "@lzn/tensor";
 * const opts: TensorOptions = { requiresGrad: true };
 * const w = tensor([0.5, -0.5], [2], opts); // a trainable leaf
 * ```
 */
export interface TensorOptions {
  /** Record operations on this tensor for `backward()` (makes it a leaf parameter). */
  requiresGrad?: boolean;
  /** Element type (default `"f32"`). */
  dtype?: DType;
}

interface Storage {
  buf: PooledBuffer;
  refs: number;
}

/**
 * Number of elements of a shape.
 *
 * @example
 * ```ts
 * import { shapeSize } from "@lzn/tensor";
 * console.log(shapeSize([2, 3, 4]), shapeSize([])); // 24 1
 * ```
 */
export function shapeSize(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

function checkShape(shape: readonly number[]): void {
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new Error(`lzn: invalid shape [${shape.join(", ")}]`);
  }
}

/** A caller's dtype (plain JavaScript has no type check): one of "f32", "i32", "u32". */
function checkDtype(dtype: unknown): void {
  if (dtype !== "f32" && dtype !== "i32" && dtype !== "u32") {
    throw new Error(`lzn: dtype must be "f32", "i32" or "u32", got ${JSON.stringify(dtype)}`);
  }
}

/**
 * An n-dimensional array on the GPU.
 *
 * @example
 * ```ts
 * import { tensor } from "@lzn/tensor";
 * const a = tensor([1, 2, 3, 4], [2, 2]);
 * const b = a.matmul(a).add(1);
 * console.log(await b.toArray()); // Float32Array [8, 11, 16, 23]
 * a.dispose(); b.dispose();
 * ```
 */
export class Tensor {
  /** Dimensions, outermost first. */
  readonly shape: readonly number[];
  /** Element type. */
  readonly dtype: DType;
  /** Number of elements. */
  readonly size: number;
  /** Gradient accumulated by `backward()` (leaves only). */
  grad: Tensor | undefined;
  #storage: Storage;
  #refs = 1;
  #ownerReleased = false;
  #requiresGrad: boolean;
  #node: GradNode | undefined;
  #graphFreed = false;

  /** Internal: use {@link tensor}, {@link Tensor.empty} or an op. */
  constructor(shape: readonly number[], dtype: DType, storage: Storage | PooledBuffer, requiresGrad = false) {
    checkShape(shape);
    this.shape = Object.freeze([...shape]);
    this.dtype = dtype;
    this.size = shapeSize(shape);
    this.#storage = "refs" in storage ? storage : { buf: storage, refs: 1 };
    this.#requiresGrad = requiresGrad;
    track(this);
  }

  /**
   * An uninitialised tensor (for kernels that write every element).
   *
   * @example
   * ```ts
   * import { Tensor } from "@lzn/tensor";
   * const out = Tensor.empty([4, 4]);
   * out.dispose();
   * ```
   */
  static empty(shape: readonly number[], dtype: DType = "f32"): Tensor {
    checkDtype(dtype);
    return new Tensor(shape, dtype, bufferPool.acquire(Math.max(4, shapeSize(shape) * 4)));
  }

  /** Number of dimensions. */
  get ndim(): number {
    return this.shape.length;
  }

  /** The pooled buffer holding the elements (for kernels). */
  get buffer(): PooledBuffer {
    if (this.#refs <= 0) {
      const shape = this.shape.join(", ");
      throw new Error(
        `lzn: use of a disposed tensor of shape [${shape}] (disposed by dispose() or by the end of the scope ` +
          "it was created in; keep() exempts a tensor from scopes)",
      );
    }
    return this.#storage.buf;
  }

  /** True once the tensor's memory has been released. */
  get disposed(): boolean {
    return this.#refs <= 0;
  }

  /** Whether gradients flow to/through this tensor. */
  get requiresGrad(): boolean {
    return this.#requiresGrad || this.#node !== undefined;
  }

  /** The autograd node that produced this tensor, if recorded. */
  get node(): GradNode | undefined {
    return this.#node;
  }

  /** Internal (autograd): attach the producing node. */
  setNode(node: GradNode): void {
    this.#node = node;
  }

  /** Internal (autograd): drop the producing node and its references. */
  clearNode(): void {
    const n = this.#node;
    this.#node = undefined;
    if (n) {
      this.#graphFreed = true;
      releaseNode(n);
    }
  }

  /** Internal (autograd): whether a node this tensor had was dropped (by `backward()`), for its error message. */
  get graphFreed(): boolean {
    return this.#graphFreed;
  }

  /** Marks this tensor as a leaf that accumulates `.grad`. Returns `this`. */
  requireGrad(on = true): this {
    if (on && this.dtype !== "f32") throw new Error("lzn: only f32 tensors can require grad");
    this.#requiresGrad = on;
    return this;
  }

  /** Internal: take one more reference (autograd graph). */
  retain(): void {
    this.#refs++;
  }

  /**
   * Releases the tensor's memory (idempotent). Memory is returned to the pool once no autograd node
   * still needs it. `graphRef` is internal.
   */
  dispose(graphRef = false): void {
    if (!graphRef) {
      if (this.#ownerReleased) return;
      this.#ownerReleased = true;
      untrack(this);
      if (this.grad) {
        this.grad.dispose();
        this.grad = undefined;
      }
    }
    if (--this.#refs > 0) return;
    if (--this.#storage.refs === 0) bufferPool.release(this.#storage.buf);
    this.clearNode();
    // A backward that ran after the owner let go (a graph still held the tensor) may have left a gradient.
    if (this.grad) {
      this.grad.dispose();
      this.grad = undefined;
    }
  }

  /** `using t = ...` support. */
  [Symbol.dispose](): void {
    this.dispose();
  }

  /** Exempts this tensor from the enclosing {@link scope}s (it then lives until disposed). Returns `this`. */
  keep(): this {
    untrack(this);
    return this;
  }

  /** Copies the elements to the host as float32 (integers are converted). */
  async toArray(): Promise<Float32Array> {
    const raw = await this.toTypedArray();
    return raw instanceof Float32Array ? raw : Float32Array.from(raw);
  }

  /** Copies the elements to the host in their own dtype. */
  async toTypedArray(): Promise<Float32Array | Int32Array | Uint32Array> {
    const bytes = await readBuffer(this.buffer, 0, this.size * 4);
    const buf = bytes.buffer as ArrayBuffer;
    if (this.dtype === "f32") return new Float32Array(buf, 0, this.size);
    return this.dtype === "i32" ? new Int32Array(buf, 0, this.size) : new Uint32Array(buf, 0, this.size);
  }

  /** Reads a one-element tensor as a number. */
  async item(): Promise<number> {
    if (this.size !== 1) {
      throw new Error(`lzn: item() needs one element, shape is [${this.shape.join(", ")}]`);
    }
    return (await this.toTypedArray())[0];
  }

  /**
   * Runs reverse-mode autograd from this scalar (or from any tensor with a `seed` of its shape), accumulating
   * into every leaf's `.grad`, then frees the graph: a second `backward()` needs the loss computed again.
   */
  backward(seed?: Tensor): void {
    runBackward(this, seed);
  }

  /** Same storage, new shape (one dimension may be -1). A free view; gradients flow through. */
  reshape(shape: readonly number[]): Tensor {
    const s = [...shape];
    const neg = s.indexOf(-1);
    if (neg >= 0) s[neg] = this.size / Math.max(1, shapeSize(s.filter((_, i) => i !== neg)));
    if (shapeSize(s) !== this.size || !s.every((d) => Number.isInteger(d) && d >= 0)) {
      throw new Error(`lzn: cannot reshape [${this.shape.join(", ")}] to [${shape.join(", ")}]`);
    }
    this.buffer; // throws when disposed
    this.#storage.refs++;
    const out = new Tensor(s, this.dtype, this.#storage);
    return recordView(out, this);
  }

  /** A new tensor sharing storage but cut from the autograd graph. */
  detach(): Tensor {
    this.buffer;
    this.#storage.refs++;
    return new Tensor(this.shape, this.dtype, this.#storage);
  }

  /** A copy in new storage (gradients flow through). */
  clone(): Tensor {
    return ew.unary("identity", this);
  }
  /** A tensor of ones of this shape. */
  onesLike(): Tensor {
    return ew.full(this.shape, 1);
  }
  /** A tensor of zeros of this shape. */
  zerosLike(): Tensor {
    return ew.full(this.shape, 0);
  }

  /** Elementwise `this + other` with broadcasting. */
  add(other: Tensor | number): Tensor {
    return ew.binary("add", this, other);
  }
  /** Elementwise `this - other` with broadcasting. */
  sub(other: Tensor | number): Tensor {
    return ew.binary("sub", this, other);
  }
  /** Elementwise `this * other` with broadcasting. */
  mul(other: Tensor | number): Tensor {
    return ew.binary("mul", this, other);
  }
  /** Elementwise `this / other` with broadcasting. */
  div(other: Tensor | number): Tensor {
    return ew.binary("div", this, other);
  }
  /** Elementwise `this ** other` (base must be positive where the exponent is not an integer). */
  pow(other: Tensor | number): Tensor {
    return ew.binary("pow", this, other);
  }
  /** Elementwise maximum. */
  maximum(other: Tensor | number): Tensor {
    return ew.binary("maximum", this, other);
  }
  /** Elementwise minimum. */
  minimum(other: Tensor | number): Tensor {
    return ew.binary("minimum", this, other);
  }
  /** 1 where `this == other`, else 0 (f32; no gradient). */
  eq(other: Tensor | number): Tensor {
    return ew.binary("eq", this, other);
  }
  /** 1 where `this < other`, else 0. */
  lt(other: Tensor | number): Tensor {
    return ew.binary("lt", this, other);
  }
  /** 1 where `this > other`, else 0. */
  gt(other: Tensor | number): Tensor {
    return ew.binary("gt", this, other);
  }
  /** 1 where `this <= other`, else 0. */
  le(other: Tensor | number): Tensor {
    return ew.binary("le", this, other);
  }
  /** 1 where `this >= other`, else 0. */
  ge(other: Tensor | number): Tensor {
    return ew.binary("ge", this, other);
  }
  /** `-this`. */
  neg(): Tensor {
    return ew.unary("neg", this);
  }
  /** `e^this`. */
  exp(): Tensor {
    return ew.unary("exp", this);
  }
  /** Natural logarithm. */
  log(): Tensor {
    return ew.unary("log", this);
  }
  /** Square root. */
  sqrt(): Tensor {
    return ew.unary("sqrt", this);
  }
  /** `1 / sqrt(this)`. */
  rsqrt(): Tensor {
    return ew.unary("rsqrt", this);
  }
  /** Absolute value. */
  abs(): Tensor {
    return ew.unary("abs", this);
  }
  /** `this * this`. */
  square(): Tensor {
    return ew.unary("square", this);
  }
  /** Sine. */
  sin(): Tensor {
    return ew.unary("sin", this);
  }
  /** Cosine. */
  cos(): Tensor {
    return ew.unary("cos", this);
  }
  /** Hyperbolic tangent. */
  tanh(): Tensor {
    return ew.unary("tanh", this);
  }
  /** Logistic sigmoid. */
  sigmoid(): Tensor {
    return ew.unary("sigmoid", this);
  }
  /** `max(this, 0)`. */
  relu(): Tensor {
    return ew.unary("relu", this);
  }
  /** `this * sigmoid(this)` (swish). */
  silu(): Tensor {
    return ew.unary("silu", this);
  }
  /** GELU (tanh approximation). */
  gelu(): Tensor {
    return ew.unary("gelu", this);
  }

  /** Sum over `axis` (all axes when omitted). */
  sum(axis?: number | number[], keepDims = false): Tensor {
    return red.reduce("sum", this, axis, keepDims);
  }
  /** Mean over `axis` (all axes when omitted). */
  mean(axis?: number | number[], keepDims = false): Tensor {
    return red.reduce("mean", this, axis, keepDims);
  }
  /** Maximum over `axis` (tied maxima share the gradient equally). */
  max(axis?: number | number[], keepDims = false): Tensor {
    return red.reduce("max", this, axis, keepDims);
  }
  /** Minimum over `axis`. */
  min(axis?: number | number[], keepDims = false): Tensor {
    return red.reduce("min", this, axis, keepDims);
  }
  /** `log(sum(exp(this)))` over `axis`, computed stably. */
  logsumexp(axis?: number | number[], keepDims = false): Tensor {
    return red.reduce("logsumexp", this, axis, keepDims);
  }
  /** Index of the maximum along `axis` (i32; first maximum wins). */
  argmax(axis: number, keepDims = false): Tensor {
    return red.argmax(this, axis, keepDims);
  }
  /** Softmax along `axis` (default last). */
  softmax(axis = -1): Tensor {
    return softmax(this, axis);
  }
  /** Log-softmax along `axis` (default last). */
  logSoftmax(axis = -1): Tensor {
    return logSoftmax(this, axis);
  }
  /** Matrix product of the last two dims (batched over leading dims, with broadcasting). */
  matmul(other: Tensor, opts?: MatmulOptions): Tensor {
    return matmul(this, other, opts);
  }
  /** Swaps two axes (default: the last two). */
  transpose(a = -2, b = -1): Tensor {
    const n = this.ndim;
    const axes = [...Array(n).keys()];
    const ia = normAxis(a, n), ib = normAxis(b, n);
    [axes[ia], axes[ib]] = [axes[ib], axes[ia]];
    return permute(this, axes);
  }
  /** Reorders axes. */
  permute(axes: number[]): Tensor {
    return permute(this, axes);
  }
  /** Elements `[start, end)` along `axis` (`end` defaults to the axis' length; indices clamp as in Python). */
  slice(axis: number, start: number, end?: number): Tensor {
    return slice(this, axis, start, end);
  }

  /** A short description for logs. */
  toString(): string {
    return `Tensor(${this.dtype}, [${this.shape.join(", ")}]${this.requiresGrad ? ", grad" : ""})`;
  }
}

function recordView(out: Tensor, src: Tensor): Tensor {
  return record("reshape", out, [src], (g) => [g.reshape(src.shape)]);
}

/**
 * Creates an f32 tensor (or i32/u32 with `opts.dtype`) from host values.
 *
 * @example
 * ```ts
 * import { tensor } from "@lzn/tensor";
 * const w = tensor([0.5, -1, 2, 0], [2, 2], { requiresGrad: true });
 * console.log(w.shape); // [2, 2]
 * ```
 */
export function tensor(values: ArrayLike<number>, shape: number[], opts: TensorOptions = {}): Tensor {
  checkShape(shape);
  const n = shapeSize(shape);
  if (values.length !== n) {
    throw new Error(
      `lzn: tensor() got ${values.length} values for shape [${shape.join(", ")}] (${n} elements)`,
    );
  }
  const dtype = opts.dtype ?? "f32";
  checkDtype(dtype);
  const data = dtype === "f32"
    ? (values instanceof Float32Array ? values : Float32Array.from(values))
    : dtype === "i32"
    ? (values instanceof Int32Array ? values : Int32Array.from(values))
    : (values instanceof Uint32Array ? values : Uint32Array.from(values));
  const t = new Tensor(shape, dtype, upload(data));
  if (opts.requiresGrad) t.requireGrad();
  return t;
}
