/**
 * The Fréchet distance between Gaussian fits of two feature sets (FID when the features come from a fixed
 * classifier; spec §5.8 uses Inception features, lzn's 28x28 metrics use the reference classifier's
 * penultimate layer):
 *
 * `FID = |mu1 - mu2|^2 + Tr(S1) + Tr(S2) - 2 Tr((S1 S2)^{1/2})`.
 *
 * `S1 S2` is not symmetric, so its square root is not taken directly (scipy's `sqrtm` route, which can return
 * complex noise). Instead `Tr((S1 S2)^{1/2}) = Tr((R S2 R)^{1/2})` with `R = S1^{1/2}`: `R S2 R` is symmetric
 * PSD (similar to `S1 S2`), so both square roots come from symmetric eigendecompositions in float64, and the
 * trace is the sum of the square roots of its eigenvalues (tiny negatives from roundoff clamped to 0).
 *
 * All statistics are float64 on the host; the covariance is the unbiased one (divide by n - 1), as numpy's
 * `np.cov` in the reference FID code. FID is biased upwards for small n: compare values at equal sample counts.
 *
 * @module
 */
import { symmetricEigen } from "./symmetric_eigen.ts";

/**
 * Mean and covariance of a feature set (a Gaussian fit).
 *
 * @example
 * ```ts
 * import { type FeatureStats, featureStats } from "@lzn/metrics";
 * const stats: FeatureStats = featureStats([0, 0, 2, 2], 2, 2);
 * console.log([...stats.mean], [...stats.cov]); // [1, 1] [2, 2, 2, 2]
 * ```
 */
export interface FeatureStats {
  /** Number of feature vectors the fit came from. */
  count: number;
  /** Feature dimension d. */
  dim: number;
  /** Mean, `[d]`. */
  mean: Float64Array;
  /** Unbiased covariance, row-major `[d, d]`. */
  cov: Float64Array;
}

/**
 * Mean and unbiased covariance (float64) of `count` feature vectors of length `dim`, stored row after row.
 *
 * @example
 * ```ts
 * import { featureStats } from "@lzn/metrics";
 * const { mean, cov } = featureStats([1, 0, 3, 0], 2, 2); // vectors (1, 0) and (3, 0)
 * console.log([...mean], [...cov]); // [2, 0] [2, 0, 0, 0]
 * ```
 */
export function featureStats(features: ArrayLike<number>, count: number, dim: number): FeatureStats {
  if (!Number.isInteger(count) || count < 2) {
    throw new RangeError(`featureStats: a covariance needs at least 2 feature vectors, got ${count}`);
  }
  if (!Number.isInteger(dim) || dim < 1 || features.length !== count * dim) {
    throw new RangeError(
      `featureStats: expected ${count} x ${dim} = ${count * dim} values, got ${features.length}`,
    );
  }
  const mean = new Float64Array(dim);
  for (let i = 0; i < count; i++) for (let p = 0; p < dim; p++) mean[p] += features[i * dim + p];
  for (let p = 0; p < dim; p++) mean[p] /= count;
  // Upper triangle of the centred scatter matrix, one sample at a time (contiguous inner loop), then mirrored.
  const cov = new Float64Array(dim * dim), x = new Float64Array(dim);
  for (let i = 0; i < count; i++) {
    for (let p = 0; p < dim; p++) x[p] = features[i * dim + p] - mean[p];
    for (let p = 0; p < dim; p++) {
      const xp = x[p], row = p * dim;
      for (let q = p; q < dim; q++) cov[row + q] += xp * x[q];
    }
  }
  for (let p = 0; p < dim; p++) {
    for (let q = p; q < dim; q++) {
      const c = cov[p * dim + q] / (count - 1);
      cov[p * dim + q] = c;
      cov[q * dim + p] = c;
    }
  }
  for (let p = 0; p < dim; p++) {
    if (!Number.isFinite(mean[p]) || !Number.isFinite(cov[p * dim + p])) {
      throw new RangeError(`featureStats: feature ${p} is not finite (mean ${mean[p]})`);
    }
  }
  return { count, dim, mean, cov };
}

/**
 * The symmetric PSD square root of a symmetric PSD matrix, `V diag(sqrt(max(lambda, 0))) V^T`.
 *
 * @example
 * ```ts
 * import { psdSqrt } from "@lzn/metrics";
 * console.log([...psdSqrt([4, 0, 0, 9], 2)]); // [2, 0, 0, 3]
 * ```
 */
export function psdSqrt(matrix: ArrayLike<number>, n: number): Float64Array {
  const { values, vectors } = symmetricEigen(matrix, n);
  const out = new Float64Array(n * n);
  for (let k = 0; k < n; k++) {
    const r = Math.sqrt(Math.max(values[k], 0));
    if (r === 0) continue;
    const v = vectors.subarray(k * n, (k + 1) * n);
    for (let i = 0; i < n; i++) {
      const vi = r * v[i], row = i * n;
      for (let j = 0; j < n; j++) out[row + j] += vi * v[j];
    }
  }
  return out;
}

/**
 * Fréchet distance between two Gaussian fits: `|mu1 - mu2|^2 + Tr(S1 + S2 - 2 (S1 S2)^{1/2})`, clamped at 0
 * (identical fits give roundoff of either sign).
 *
 * @example
 * ```ts
 * import { featureStats, frechetDistance } from "@lzn/metrics";
 * const a = featureStats([0, 0, 2, 2], 2, 2), b = featureStats([1, 1, 3, 3], 2, 2);
 * console.log(frechetDistance(a, b)); // 2 (the means differ by (1, 1); the covariances are equal)
 * ```
 */
export function frechetDistance(a: FeatureStats, b: FeatureStats): number {
  const d = a.dim;
  if (b.dim !== d) throw new RangeError(`frechetDistance: feature dimensions differ (${d} vs ${b.dim})`);
  let meanTerm = 0, traces = 0;
  for (let p = 0; p < d; p++) {
    const diff = a.mean[p] - b.mean[p];
    meanTerm += diff * diff;
    traces += a.cov[p * d + p] + b.cov[p * d + p];
  }
  const root = psdSqrt(a.cov, d);
  const inner = multiply(multiply(root, b.cov, d), root, d);
  const { values } = symmetricEigen(inner, d);
  let traceSqrt = 0;
  for (const lambda of values) traceSqrt += Math.sqrt(Math.max(lambda, 0));
  return Math.max(0, meanTerm + traces - 2 * traceSqrt);
}

/** `x y` for row-major n x n matrices (i-k-j order: the inner loop runs along rows of both). */
function multiply(x: Float64Array, y: Float64Array, n: number): Float64Array {
  const out = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    const row = i * n;
    for (let k = 0; k < n; k++) {
      const xik = x[row + k];
      if (xik === 0) continue;
      const yrow = k * n;
      for (let j = 0; j < n; j++) out[row + j] += xik * y[yrow + j];
    }
  }
  return out;
}
