/**
 * ODE integrators for `dx/dt = v(x, t)` on tensors, with one time shared by the whole batch (the release
 * runs SciPy's RK45 on the flattened batch, spec §5.6): fixed-step Euler, and adaptive Dormand–Prince 5(4)
 * with SciPy's step-size control (RMS error norm with scale `atol + rtol·max(|y|, |y_new|)`, safety 0.9,
 * step factor in [0.2, 10], exponent −1/5, Hairer's automatic initial step). Time may run backwards
 * (`t1 < t0`), which is how the inverse ODE of the reconstruction metric is integrated.
 *
 * Both run under `noGrad`, each step in its own `scope`, so only the state survives a step; the adaptive
 * solver reads back one scalar per step (its error norm).
 *
 * @module
 */
import { noGrad, scope, type Tensor } from "@lzn/tensor";

/**
 * A velocity field: `v(x, t)`, a new tensor of `x`'s shape (it must not dispose `x`).
 *
 * @example
 * ```ts
 * import type { VelocityField } from "@lzn/decoders";
 * const decay: VelocityField = (x, t) => x.mul(-Math.cos(t)); // dx/dt = -cos(t) x
 * ```
 */
export type VelocityField = (x: Tensor, t: number) => Tensor;

/**
 * What an integration returns.
 *
 * @example
 * ```ts
 * import { rk45Integrate } from "@lzn/decoders";
 * import { tensor } from "@lzn/tensor";
 * const r = await rk45Integrate((y) => y.neg(), tensor([1], [1]), { t0: 0, t1: 1, rtol: 1e-5, atol: 1e-5 });
 * console.log(r.nfe, r.steps, r.rejected);
 * r.x.dispose();
 * ```
 */
export interface OdeResult {
  /** The state at `t1` (owned by the caller). */
  x: Tensor;
  /** Velocity evaluations (SciPy's `nfev`). */
  nfe: number;
  /** Accepted steps. */
  steps: number;
  /** Rejected step attempts (adaptive solver only). */
  rejected: number;
}

/**
 * Options of {@link eulerIntegrate}.
 *
 * @example
 * ```ts
 * import type { EulerOptions } from "@lzn/decoders";
 * const euler10: EulerOptions = { t0: 1e-3, t1: 1, steps: 10 };
 * ```
 */
export interface EulerOptions {
  /** Start time. */
  t0: number;
  /** End time. */
  t1: number;
  /** Number of equal steps N (N velocity evaluations). */
  steps: number;
}

/**
 * N explicit Euler steps from `t0` to `t1` (the release's `euler10` is N = 10 from 1e-3 to 1).
 *
 * @example
 * ```ts
 * import { eulerIntegrate } from "@lzn/decoders";
 * import { tensor } from "@lzn/tensor";
 * const { x } = eulerIntegrate((y) => y.neg(), tensor([1], [1]), { t0: 0, t1: 1, steps: 100 }); // ≈ e^{-1}
 * ```
 */
export function eulerIntegrate(field: VelocityField, x0: Tensor, opts: EulerOptions): OdeResult {
  const { t0, t1, steps } = opts;
  if (!(Number.isInteger(steps) && steps >= 1)) throw new Error(`euler: steps must be >= 1, got ${steps}`);
  const h = (t1 - t0) / steps;
  return noGrad(() => {
    let x = x0;
    for (let k = 0; k < steps; k++) {
      const prev = x;
      x = scope(() => prev.add(field(prev, t0 + k * h).mul(h)));
      if (prev !== x0) prev.dispose();
    }
    return { x: x === x0 ? x0.clone() : x, nfe: steps, steps, rejected: 0 };
  });
}

/**
 * Options of {@link rk45Integrate}.
 *
 * @example
 * ```ts
 * import type { Rk45Options } from "@lzn/decoders";
 * const release: Rk45Options = { t0: 1e-3, t1: 1, rtol: 1e-5, atol: 1e-5 };
 * ```
 */
export interface Rk45Options {
  /** Start time. */
  t0: number;
  /** End time. */
  t1: number;
  /** Relative tolerance (the release: 1e-5). */
  rtol: number;
  /** Absolute tolerance (the release: 1e-5). */
  atol: number;
  /** Give up after this many step attempts (default 10000). */
  maxSteps?: number;
}

// Dormand–Prince 5(4) tableau; E is SciPy's error row (5th minus 4th order weights, with the FSAL stage).
const C = [0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1];
const A = [
  [],
  [1 / 5],
  [3 / 40, 9 / 40],
  [44 / 45, -56 / 15, 32 / 9],
  [19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729],
  [9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656],
];
const B = [35 / 384, 0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84];
const E = [-71 / 57600, 0, 71 / 16695, -71 / 1920, 17253 / 339200, -22 / 525, 1 / 40];
const SAFETY = 0.9, MIN_FACTOR = 0.2, MAX_FACTOR = 10, EXPONENT = -1 / 5;

/** `base + Σ c_j k_j` over the non-zero coefficients (`base` omitted: just the sum). Call inside a scope. */
function combine(base: Tensor | undefined, ks: Tensor[], coeffs: number[]): Tensor {
  let acc = base;
  coeffs.forEach((c, j) => {
    if (c !== 0) {
      const term = ks[j].mul(c);
      acc = acc ? acc.add(term) : term;
    }
  });
  if (!acc) throw new Error("rk45: a stage with no terms");
  return acc === base ? base.clone() : acc;
}

/** RMS of `num / (atol + rtol·max(|a|, |b|))` (SciPy's scaled norm; `|a|` alone without `b`), on the host. */
async function scaledRms(
  num: Tensor,
  a: Tensor,
  b: Tensor | undefined,
  rtol: number,
  atol: number,
): Promise<number> {
  const sumSq = noGrad(() =>
    scope(() => {
      const mag = b ? a.abs().maximum(b.abs()) : a.abs();
      return num.div(mag.mul(rtol).add(atol)).square().sum();
    })
  );
  const v = await sumSq.item();
  sumSq.dispose();
  return Math.sqrt(v / num.size);
}

/**
 * Adaptive Dormand–Prince RK45 from `t0` to `t1` with SciPy's `solve_ivp` step-size control (spec §5.6).
 *
 * @example
 * ```ts
 * import { rk45Integrate } from "@lzn/decoders";
 * import { tensor } from "@lzn/tensor";
 * const r = await rk45Integrate((y) => y.neg(), tensor([1], [1]), { t0: 0, t1: 1, rtol: 1e-6, atol: 1e-6 });
 * console.log(await r.x.item(), r.nfe); // ≈ 0.36788, a few dozen evaluations
 * ```
 */
export async function rk45Integrate(field: VelocityField, x0: Tensor, opts: Rk45Options): Promise<OdeResult> {
  const { t0, t1, rtol, atol } = opts;
  if (!(rtol > 0 && atol > 0)) throw new Error(`rk45: rtol and atol must be > 0, got ${rtol}, ${atol}`);
  const maxSteps = opts.maxSteps ?? 10000;
  const dir = Math.sign(t1 - t0);
  const span = Math.abs(t1 - t0);
  const f = (x: Tensor, t: number) => noGrad(() => scope(() => field(x, t)));
  let x = noGrad(() => x0.clone());
  if (span === 0) return { x, nfe: 0, steps: 0, rejected: 0 };
  let nfe = 0, steps = 0, rejected = 0;
  let k1 = f(x, t0);
  nfe++;

  // Hairer's initial step (SciPy's select_initial_step), with the error estimator's order 4.
  const d0 = await scaledRms(x, x, undefined, rtol, atol);
  const d1 = await scaledRms(k1, x, undefined, rtol, atol);
  let h0 = d0 < 1e-5 || d1 < 1e-5 ? 1e-6 : 0.01 * d0 / d1;
  h0 = Math.min(h0, span);
  const probe = noGrad(() => scope(() => x.add(k1.mul(h0 * dir))));
  const kProbe = f(probe, t0 + h0 * dir);
  nfe++;
  const diff = noGrad(() => kProbe.sub(k1));
  const d2 = (await scaledRms(diff, x, undefined, rtol, atol)) / h0;
  for (const t of [probe, kProbe, diff]) t.dispose();
  const h1 = Math.max(d1, d2) <= 1e-15 ? Math.max(1e-6, h0 * 1e-3) : (0.01 / Math.max(d1, d2)) ** (1 / 5);
  let hAbs = Math.min(100 * h0, h1, span);

  let t = t0;
  while (dir * (t1 - t) > 0) {
    let accepted = false, wasRejected = false;
    while (!accepted) {
      if (steps + rejected >= maxSteps) {
        for (const z of [x, k1]) z.dispose();
        throw new Error(`rk45: no convergence within ${maxSteps} step attempts (t = ${t})`);
      }
      const minStep = 10 * ulp(t);
      if (hAbs < minStep) {
        for (const z of [x, k1]) z.dispose();
        throw new Error(`rk45: step size fell below ${minStep} at t = ${t}`);
      }
      let tNew = t + hAbs * dir;
      if (dir * (tNew - t1) > 0) tNew = t1;
      const h = tNew - t;
      hAbs = Math.abs(h);
      const ks = [k1];
      for (let s = 1; s < 6; s++) {
        const stage = noGrad(() => scope(() => combine(x, ks, A[s].map((a) => a * h))));
        ks.push(f(stage, t + C[s] * h));
        stage.dispose();
      }
      const xNew = noGrad(() => scope(() => combine(x, ks, B.map((b) => b * h))));
      const k7 = f(xNew, tNew);
      nfe += 6;
      ks.push(k7);
      const err = noGrad(() => scope(() => combine(undefined, ks, E.map((e) => e * h))));
      const norm = await scaledRms(err, x, xNew, rtol, atol);
      err.dispose();
      for (let s = 1; s < 6; s++) ks[s].dispose();
      if (norm < 1) {
        let factor = norm === 0 ? MAX_FACTOR : Math.min(MAX_FACTOR, SAFETY * norm ** EXPONENT);
        if (wasRejected) factor = Math.min(1, factor);
        hAbs *= factor;
        accepted = true;
        steps++;
        x.dispose();
        k1.dispose();
        x = xNew;
        k1 = k7; // first same as last
        t = tNew;
      } else {
        hAbs *= Math.max(MIN_FACTOR, SAFETY * norm ** EXPONENT);
        wasRejected = true;
        rejected++;
        xNew.dispose();
        k7.dispose();
      }
    }
  }
  k1.dispose();
  return { x, nfe, steps, rejected };
}

/** Distance from `t` to the next float64 away from zero (SciPy's minimum step is 10 of these). */
function ulp(t: number): number {
  if (t === 0) return Number.MIN_VALUE;
  const buf = new Float64Array([Math.abs(t)]);
  new BigUint64Array(buf.buffer)[0] += 1n;
  return buf[0] - Math.abs(t);
}
