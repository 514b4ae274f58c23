/**
 * The library's general f32 matrix product: `C[..., M, N] = op(A)[..., M, K] @ op(B)[..., K, N]`, batched
 * over leading dims with NumPy broadcasting, transposed operands read in place, an optional fused bias, and
 * a backward that reuses the same kernels through the transpose flags (no transposed copies).
 *
 * The kernels and the choice between them live in `matmul_kernels.ts`.
 *
 * @module
 */
import { noGrad, record } from "../autograd.ts";
import { dispatch } from "../recorder.ts";
import { Tensor } from "../tensor.ts";
import { reduce } from "./reduce.ts";
import { sumTo } from "./elementwise.ts";
import { broadcastShapes } from "./grid.ts";
import { matmulLaunch, type MatmulPath, type MatmulShape, planMatmul } from "./matmul_kernels.ts";

export type { MatmulPath } from "./matmul_kernels.ts";

/**
 * Options of matmul.
 *
 * @example
 * ```ts
 * import { matmul, type MatmulOptions, tensor } from "@lzn/tensor";
 * const x = tensor([1, 2, 3, 4, 5, 6], [2, 3]);
 * const w = tensor([1, 0, 0, 0, 1, 0], [2, 3]); // [out, in], as a linear layer stores it
 * const opts: MatmulOptions = { transB: true, bias: tensor([10, 20], [2]) };
 * const y = matmul(x, w, opts); // x @ w^T + b = [[11, 22], [14, 25]]
 * ```
 */
export interface MatmulOptions {
  /** Treat `a` as transposed in its last two dims (read in place, no copy). */
  transA?: boolean;
  /** Treat `b` as transposed in its last two dims (read in place, no copy). */
  transB?: boolean;
  /** A bias of shape `[N]` added to every output row inside the kernel (what a linear layer needs). */
  bias?: Tensor;
  /** Force a kernel instead of choosing by size (tests and benchmarks). */
  path?: MatmulPath;
  /** Force the number of K splits of a tile kernel (tests and benchmarks). */
  splitK?: number;
}

function describe(t: Tensor): string {
  return `[${t.shape.join(", ")}]`;
}

/**
 * Matrix product of the last two dims, batched over the leading dims with broadcasting
 * (`[B, M, K] @ [K, N]` -> `[B, M, N]`). `transA` / `transB` read an operand transposed without copying it.
 * Both operands need at least 2 dims. Differentiable in `a`, `b` and `bias`.
 *
 * @example
 * ```ts
 * import { matmul, tensor } from "@lzn/tensor";
 * const x = tensor([1, 2, 3, 4, 5, 6], [2, 3]);
 * const w = tensor([1, 0, 0, 1, 1, 1], [2, 3]);
 * const y = matmul(x, w, { transB: true }); // x @ w^T = [[1, 6], [4, 15]]
 * console.log(await y.toArray());
 * ```
 */
export function matmul(a: Tensor, b: Tensor, opts: MatmulOptions = {}): Tensor {
  const transA = !!opts.transA, transB = !!opts.transB;
  const bias = opts.bias;
  if (a.ndim < 2 || b.ndim < 2) {
    throw new Error(
      `lzn: matmul needs operands with at least 2 dims, got ${describe(a)} and ${describe(b)} ` +
        `(reshape a vector to [1, n] or [n, 1])`,
    );
  }
  for (const t of bias ? [a, b, bias] : [a, b]) {
    if (t.dtype !== "f32") {
      throw new Error(`lzn: matmul is f32 only, got a tensor of dtype ${t.dtype}, ${describe(t)}`);
    }
  }
  const [ar, ac] = a.shape.slice(-2), [br, bc] = b.shape.slice(-2);
  const M = transA ? ac : ar, K = transA ? ar : ac;
  const Kb = transB ? bc : br, N = transB ? br : bc;
  if (K !== Kb) {
    // Name the flag that would make the shapes fit, where one would.
    const hint = !transB && bc === K
      ? "; transB: true would multiply by b's transpose"
      : !transA && ar === Kb
      ? "; transA: true would multiply a's transpose"
      : "";
    throw new Error(
      `lzn: matmul inner dims differ: a${transA ? "ᵀ" : ""} is [${M}, ${K}] and b${transB ? "ᵀ" : ""} is ` +
        `[${Kb}, ${N}] (a ${describe(a)}, b ${describe(b)})${hint}`,
    );
  }
  if (bias && (bias.ndim !== 1 || bias.shape[0] !== N)) {
    throw new Error(`lzn: matmul bias must have shape [${N}], got ${describe(bias)}`);
  }
  const aBatch = a.shape.slice(0, -2), bBatch = b.shape.slice(0, -2);
  let outBatch: number[];
  try {
    outBatch = broadcastShapes(aBatch, bBatch);
  } catch {
    throw new Error(`lzn: matmul batch dims of ${describe(a)} and ${describe(b)} do not broadcast`);
  }
  const aCount = aBatch.reduce((x, y) => x * y, 1), bCount = bBatch.reduce((x, y) => x * y, 1);
  // [..., M, K] @ [K, N] is one [(... * M), K] @ [K, N] product: bigger tiles, and dB needs no batch sum.
  if (!transA && bCount === 1 && aCount > 1) {
    const a2 = a.reshape([aCount * M, K]);
    const b2 = b.ndim === 2 ? b : b.reshape([br, bc]);
    const flat = { M: aCount * M, N, K, transA, transB, aBatch: [], bBatch: [], outBatch: [], bias: !!bias };
    const c2 = batched(a2, b2, flat, bias, opts);
    const c = c2.reshape([...outBatch, M, N]);
    for (const t of b2 === b ? [a2, c2] : [a2, b2, c2]) t.dispose();
    return c;
  }
  return batched(a, b, { M, N, K, transA, transB, aBatch, bBatch, outBatch, bias: !!bias }, bias, opts);
}

/** Runs the kernel for a broadcast-batched problem and records the VJP. */
function batched(
  a: Tensor,
  b: Tensor,
  s: MatmulShape,
  bias: Tensor | undefined,
  opts: MatmulOptions,
): Tensor {
  const outShape = [...s.outBatch, s.M, s.N];
  const plan = planMatmul(s, { path: opts.path, splitK: opts.splitK });
  const launch = matmulLaunch(s, plan);
  const inputs = bias ? [a, b, bias] : [a, b];
  let out: Tensor;
  if (launch.splits === 1) {
    out = Tensor.empty(outShape);
    if (out.size > 0) {
      dispatch({
        kernel: launch.kernel,
        buffers: [...inputs, out].map((t) => t.buffer),
        workgroups: launch.workgroups,
      });
    }
  } else {
    // Split-K: each split writes its partial product; one reduction sums them.
    const partial = Tensor.empty([launch.splits, ...outShape]);
    dispatch({
      kernel: launch.kernel,
      buffers: [...inputs, partial].map((t) => t.buffer),
      workgroups: launch.workgroups,
    });
    out = noGrad(() => reduce("sum", partial, 0));
    partial.dispose();
  }
  return record("matmul", out, inputs, (g) => {
    const { transA, transB } = s;
    let ga: Tensor | null = null, gb: Tensor | null = null, gBias: Tensor | null = null;
    if (a.requiresGrad) {
      // d op(A) = dC @ op(B)^T; when A is stored transposed, dA = op(B) @ dC^T.
      const full = transA
        ? matmul(b, g, { transA: transB, transB: true })
        : matmul(g, b, { transB: !transB });
      ga = sumToOwned(full, a.shape);
    }
    if (b.requiresGrad) {
      // d op(B) = op(A)^T @ dC; when B is stored transposed, dB = dC^T @ op(A).
      const full = transB
        ? matmul(g, a, { transA: true, transB: transA })
        : matmul(a, g, { transA: !transA });
      gb = sumToOwned(full, b.shape);
    }
    if (bias?.requiresGrad) gBias = sumTo(g, bias.shape);
    return bias ? [ga, gb, gBias] : [ga, gb];
  });
}

/** Sums a batch-broadcast gradient down to its input's shape, freeing the full-size temporary. */
function sumToOwned(t: Tensor, shape: readonly number[]): Tensor {
  if (t.ndim === shape.length && t.shape.every((d, i) => d === shape[i])) return t;
  const r = sumTo(t, shape);
  t.dispose();
  return r;
}
