/**
 * A plain float64 CPU reference of the release's latent-flow formulas (lzn-spec.md §1.3 materialised
 * velocity, §1.5 Euler forward, §1.6 reverse flow, §1.7 DPM-Solver++(3M), §4 alignment). Tests compare the
 * GPU kernels with it and take finite differences of it. Matrices are flat row-major Float64Arrays.
 *
 * @module
 */

/** Velocity and unnormalised pdf, computed as the release does (spec §1.3): `E = (x - (1-t)A)/t` materialised. */
export function velocityRef(
  x: Float64Array,
  A: Float64Array,
  b: number,
  n: number,
  q: number,
  t: number,
  w?: Float64Array,
): { v: Float64Array; p: Float64Array } {
  const c = 1 - t;
  const v = new Float64Array(b * q), p = new Float64Array(b * n);
  const E = new Float64Array(n * q);
  for (let i = 0; i < b; i++) {
    const L = new Float64Array(n);
    let mx = -Infinity;
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let k = 0; k < q; k++) {
        const e = (x[i * q + k] - c * A[j * q + k]) / t;
        E[j * q + k] = e;
        s += e * e;
      }
      L[j] = -0.5 * s;
      mx = Math.max(mx, L[j]);
    }
    let Z = 0;
    for (let j = 0; j < n; j++) {
      p[i * n + j] = Math.exp(L[j] - mx) * (w ? w[j] : 1);
      Z += p[i * n + j];
    }
    for (let k = 0; k < q; k++) {
      let s = 0;
      for (let j = 0; j < n; j++) s += p[i * n + j] * (E[j * q + k] - A[j * q + k]);
      v[i * q + k] = s / Z;
    }
  }
  return { v, p };
}

/** Forward Euler latents (spec §1.5): `x = eps tau n + (1-eps) a`, K steps of `x += h v`. */
export function eulerForwardRef(
  A: Float64Array,
  noise: Float64Array,
  n: number,
  q: number,
  steps: number,
  eps = 1e-4,
  tau = 1,
): Float64Array {
  const h = (1 - eps) / steps;
  let t = eps;
  const x = new Float64Array(n * q);
  for (let i = 0; i < n * q; i++) x[i] = eps * (tau * noise[i]) + (1 - eps) * A[i];
  for (let s = 0; s < steps; s++) {
    const { v } = velocityRef(x, A, n, n, q, t);
    for (let i = 0; i < x.length; i++) x[i] += h * v[i];
    t += h;
  }
  return x;
}

/** Reverse Euler flow (spec §1.6) with the normalised pdfs recorded at the start of each step. */
export function eulerReverseRef(
  A: Float64Array,
  z: Float64Array,
  b: number,
  n: number,
  q: number,
  steps: number,
  w?: Float64Array,
): { x: Float64Array; P: Float64Array[] } {
  const h = 1 / steps;
  let t = 1;
  const x = Float64Array.from(z);
  const P: Float64Array[] = [];
  for (let s = 0; s < steps; s++) {
    const { v, p } = velocityRef(x, A, b, n, q, t, w);
    const norm = new Float64Array(b * n);
    for (let i = 0; i < b; i++) {
      let Z = 0;
      for (let j = 0; j < n; j++) Z += p[i * n + j];
      for (let j = 0; j < n; j++) norm[i * n + j] = p[i * n + j] / Z;
    }
    P.push(norm);
    for (let i = 0; i < x.length; i++) x[i] -= h * v[i];
    t -= h;
  }
  return { x, P };
}

/** The DPM-Solver++ step orders of the official multistep loop (K >= 3). */
export function dpmOrdersRef(steps: number): number[] {
  const out = [1, 2];
  for (let s = 3; s <= steps; s++) out.push(steps < 10 ? Math.min(3, steps + 1 - s) : 3);
  return out.slice(0, steps);
}

/**
 * DPM-Solver++(3M) forward latents (spec §1.7), following the official loop: the model converts the
 * velocity to a noise prediction and then to the data prediction. Returns the state at t = 1 - eps and the
 * number of model evaluations.
 */
export function dpmForwardRef(
  A: Float64Array,
  noise: Float64Array,
  n: number,
  q: number,
  steps: number,
  eps = 1e-3,
  tau = 1,
): { x: Float64Array; nfe: number; orders: number[] } {
  const ts = Array.from({ length: steps + 1 }, (_, k) => eps + (k * (1 - eps - eps)) / steps);
  const lam = (t: number) => Math.log((1 - t) / t);
  let nfe = 0;
  const model = (x: Float64Array, t: number): Float64Array => {
    nfe++;
    const { v } = velocityRef(x, A, n, n, q, t);
    const out = new Float64Array(x.length);
    for (let i = 0; i < x.length; i++) {
      const epsHat = x[i] + (1 - t) * v[i];
      out[i] = (x[i] - t * epsHat) / (1 - t);
    }
    return out;
  };
  let x: Float64Array = new Float64Array(n * q);
  for (let i = 0; i < x.length; i++) x[i] = eps * (tau * noise[i]) + (1 - eps) * A[i];
  const tPrev = [ts[0]];
  const mPrev = [model(x, ts[0])];
  const orders: number[] = [];
  const update = (order: number, t: number): Float64Array => {
    orders.push(order);
    const s0 = tPrev[tPrev.length - 1];
    const h = lam(t) - lam(s0);
    const alphaT = 1 - t, sigmaT = t, phi1 = Math.expm1(-h);
    const m0 = mPrev[mPrev.length - 1];
    const out = new Float64Array(x.length);
    if (order === 1) {
      for (let i = 0; i < x.length; i++) out[i] = (sigmaT / s0) * x[i] - alphaT * phi1 * m0[i];
      return out;
    }
    const s1 = tPrev[tPrev.length - 2], m1 = mPrev[mPrev.length - 2];
    const r0 = (lam(s0) - lam(s1)) / h;
    if (order === 2) {
      for (let i = 0; i < x.length; i++) {
        const D10 = (m0[i] - m1[i]) / r0;
        out[i] = (sigmaT / s0) * x[i] - alphaT * phi1 * m0[i] - 0.5 * alphaT * phi1 * D10;
      }
      return out;
    }
    const s2 = tPrev[tPrev.length - 3], m2 = mPrev[mPrev.length - 3];
    const r1 = (lam(s1) - lam(s2)) / h;
    const phi2 = phi1 / h + 1, phi3 = phi2 / h - 0.5;
    for (let i = 0; i < x.length; i++) {
      const D10 = (m0[i] - m1[i]) / r0, D11 = (m1[i] - m2[i]) / r1;
      const D1 = D10 + (r0 / (r0 + r1)) * (D10 - D11), D2 = (D10 - D11) / (r0 + r1);
      out[i] = (sigmaT / s0) * x[i] - alphaT * phi1 * m0[i] + alphaT * phi2 * D1 - alphaT * phi3 * D2;
    }
    return out;
  };
  for (let s = 1; s < Math.min(3, steps + 1); s++) {
    x = update(s, ts[s]);
    tPrev.push(ts[s]);
    if (s < steps) mPrev.push(model(x, ts[s]));
  }
  for (let s = 3; s <= steps; s++) {
    const o = steps < 10 ? Math.min(3, steps + 1 - s) : 3;
    x = update(o, ts[s]);
    tPrev.push(ts[s]);
    if (s < steps) mPrev.push(model(x, ts[s]));
  }
  return { x, nfe, orders };
}

/** Alignment loss (spec §4) over the reverse flow of `AX` from `zY`. */
export function alignmentRef(
  AX: Float64Array,
  zY: Float64Array,
  pairs: ArrayLike<number>,
  b: number,
  n: number,
  q: number,
  steps: number,
  opts: { cutoff?: number; log?: boolean; w?: Float64Array } = {},
): { loss: number; m: Float64Array; kstar: Int32Array; P: Float64Array[] } {
  const { P } = eulerReverseRef(AX, zY, b, n, q, steps, opts.w);
  const cut = Math.floor(steps * (opts.cutoff ?? 0.2));
  const m = new Float64Array(b), kstar = new Int32Array(b);
  let loss = 0;
  for (let i = 0; i < b; i++) {
    let best = -1;
    for (let k = cut; k < steps; k++) {
      const p = P[k][i * n + pairs[i]];
      if (p > best) {
        best = p;
        kstar[i] = k;
      }
    }
    m[i] = best;
    loss += opts.log ? -Math.log(best) : -best;
  }
  return { loss: loss / b, m, kstar, P };
}
