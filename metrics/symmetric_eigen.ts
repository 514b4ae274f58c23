/**
 * Eigendecomposition of a real symmetric matrix in float64 by the cyclic Jacobi method: sweeps of plane
 * rotations, each zeroing one off-diagonal pair, until the off-diagonal mass is negligible against the
 * matrix norm. Jacobi is chosen over tridiagonalisation + QL because it is short, needs no shifts, and keeps
 * small eigenvalues accurate to roundoff of the norm — which is all the Fréchet distance needs (it takes
 * square roots of eigenvalues of PSD matrices, where tiny negatives from roundoff are clamped to 0).
 *
 * Cost: about 3n^3 multiply-adds per sweep and 6 to 10 sweeps; n = 256 takes well under a second.
 *
 * @module
 */

/**
 * Options of {@link symmetricEigen}.
 *
 * @example
 * ```ts
 * import { symmetricEigen, type SymmetricEigenOptions } from "@lzn/metrics";
 * const opts: SymmetricEigenOptions = { tolerance: 1e-12, maxSweeps: 20 };
 * const { values } = symmetricEigen([4, 0, 0, 1], 2, opts); // values: [1, 4]
 * ```
 */
export interface SymmetricEigenOptions {
  /** Stop when the off-diagonal Frobenius norm is below `tolerance` times the matrix's (default 1e-14). */
  tolerance?: number;
  /** Give up (throw) after this many sweeps (default 60; convergence is quadratic, ~10 is typical). */
  maxSweeps?: number;
}

/**
 * Eigenvalues in ascending order, and the matching unit eigenvectors.
 *
 * @example
 * ```ts
 * import { type SymmetricEigen, symmetricEigen } from "@lzn/metrics";
 * const eig: SymmetricEigen = symmetricEigen([3, 0, 0, 2], 2);
 * console.log([...eig.values], [...eig.vectors]); // [2, 3] [0, 1, 1, 0]
 * ```
 */
export interface SymmetricEigen {
  /** The n eigenvalues, ascending. */
  values: Float64Array;
  /** Row-major `[n, n]`: row i is the unit eigenvector of `values[i]`. */
  vectors: Float64Array;
}

/**
 * Eigenvalues and eigenvectors of a symmetric `n x n` matrix (row-major). The input is symmetrised as
 * `(A + A^T) / 2` (products such as `B S B` are symmetric only up to roundoff); a clearly asymmetric input is
 * an error.
 *
 * @example
 * ```ts
 * import { symmetricEigen } from "@lzn/metrics";
 * const { values, vectors } = symmetricEigen([2, 1, 1, 2], 2);
 * console.log([...values]); // [1, 3]
 * console.log([...vectors]); // ~[0.7071, -0.7071, 0.7071, 0.7071] (up to sign)
 * ```
 */
export function symmetricEigen(
  matrix: ArrayLike<number>,
  n: number,
  opts: SymmetricEigenOptions = {},
): SymmetricEigen {
  if (!Number.isInteger(n) || n < 1 || matrix.length !== n * n) {
    throw new RangeError(`symmetricEigen: expected ${n} x ${n} = ${n * n} values, got ${matrix.length}`);
  }
  const tolerance = opts.tolerance ?? 1e-14, maxSweeps = opts.maxSweeps ?? 60;
  const a = new Float64Array(n * n);
  let norm2 = 0, asym2 = 0;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      const x = matrix[i * n + j], y = matrix[j * n + i];
      if (!Number.isFinite(x)) throw new RangeError(`symmetricEigen: element (${i}, ${j}) is ${x}`);
      a[i * n + j] = 0.5 * (x + y);
      norm2 += x * x;
      asym2 += (x - y) * (x - y);
    }
  }
  if (asym2 > 1e-16 * norm2) {
    throw new RangeError(
      `symmetricEigen: the matrix is not symmetric (|A - A^T| / |A| = ${
        Math.sqrt(asym2 / norm2).toExponential(2)
      })`,
    );
  }
  // Eigenvectors accumulate as rows of `v` (v = J_k^T ... J_1^T), so every update is a contiguous row pass.
  const v = new Float64Array(n * n);
  for (let i = 0; i < n; i++) v[i * n + i] = 1;
  const target2 = tolerance * tolerance * norm2;
  // A rotation whose pair is this small against the norm changes nothing representable: skip it.
  const negligible = 1e-18 * Math.sqrt(norm2);

  for (let sweep = 0;; sweep++) {
    let off2 = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off2 += 2 * a[p * n + q] * a[p * n + q];
    if (off2 <= target2 || norm2 === 0) break;
    if (sweep >= maxSweeps) {
      throw new Error(
        `symmetricEigen: no convergence after ${maxSweeps} sweeps (off-diagonal ${Math.sqrt(off2)})`,
      );
    }
    for (let p = 0; p < n - 1; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = a[p * n + q];
        if (Math.abs(apq) <= negligible) continue;
        rotate(a, v, n, p, q, apq);
      }
    }
  }

  const order = Array.from({ length: n }, (_, i) => i).sort((i, j) => a[i * n + i] - a[j * n + j]);
  const values = new Float64Array(n), vectors = new Float64Array(n * n);
  order.forEach((src, dst) => {
    values[dst] = a[src * n + src];
    vectors.set(v.subarray(src * n, (src + 1) * n), dst * n);
  });
  return { values, vectors };
}

/** Applies the rotation in plane (p, q) that zeroes `a[p][q]`: `A <- J^T A J`, `V <- J^T V`. */
function rotate(a: Float64Array, v: Float64Array, n: number, p: number, q: number, apq: number): void {
  // t = tan(angle) is the smaller root of t^2 + 2 theta t - 1 = 0: |angle| <= pi/4, the stable choice.
  const theta = (a[q * n + q] - a[p * n + p]) / (2 * apq);
  const t = (theta >= 0 ? 1 : -1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
  const c = 1 / Math.sqrt(t * t + 1), s = t * c;
  for (let k = 0; k < n; k++) {
    const kp = k * n + p, kq = k * n + q;
    const x = a[kp], y = a[kq];
    a[kp] = c * x - s * y;
    a[kq] = s * x + c * y;
  }
  const rp = p * n, rq = q * n;
  for (let k = 0; k < n; k++) {
    const x = a[rp + k], y = a[rq + k];
    a[rp + k] = c * x - s * y;
    a[rq + k] = s * x + c * y;
    const vx = v[rp + k], vy = v[rq + k];
    v[rp + k] = c * vx - s * vy;
    v[rq + k] = s * vx + c * vy;
  }
  // Exact zeros where the algebra says so, so roundoff does not re-enter the next sweep's off-diagonal sum.
  a[p * n + q] = 0;
  a[q * n + p] = 0;
}
