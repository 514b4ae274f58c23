/**
 * Flow schedules: every latent-flow solver of the release, written as one linear multistep form
 *
 *     x_{k+1} = a_k x_k + b_{k,0} D_k + b_{k,1} D_{k-1} + b_{k,2} D_{k-2},   D_k = D(x_k, t_k) = Abar(x_k, t_k)
 *
 * so that one forward engine and one reverse-mode sweep serve Euler (forward and reverse) and
 * DPM-Solver++(3M). All scalars are computed here in float64 on the host (spec §8) and reach the kernels
 * through the params block. Time convention of the release: t = 0 anchor end, t = 1 Gaussian end.
 *
 * @module
 */

/**
 * One evaluation of the posterior-mean anchor and the state update that consumes it.
 *
 * @example
 * ```ts
 * import { eulerForward, type FlowStep } from "@lzn/latent";
 * const first: FlowStep = eulerForward(10, 1e-4).steps[0];
 * console.log(first.t, first.history); // 0.0001 0
 * ```
 */
export interface FlowStep {
  /** Time at which `D_k` is evaluated. */
  t: number;
  /** Logit scale `(1 - t) / t^2` (0 at t = 1). */
  alpha: number;
  /** Coefficient of `|a_j|^2` in the logits, `-(1 - t)^2 / (2 t^2)`. */
  beta: number;
  /** Coefficient of `x_k`. */
  a: number;
  /** Coefficients of `D_k, D_{k-1}, D_{k-2}` (unused orders are 0). */
  b: [number, number, number];
  /** Number of past evaluations the update uses besides `D_k` (0, 1 or 2); the solver order minus one. */
  history: 0 | 1 | 2;
}

/**
 * A whole flow: `steps.length` evaluations (NFE) and as many state updates.
 *
 * @example
 * ```ts
 * import { dpmForward, eulerForward, type FlowSchedule } from "@lzn/latent";
 * const schedules: FlowSchedule[] = [eulerForward(20, 1e-4), dpmForward(20, 1e-3)];
 * for (const s of schedules) console.log(s.kind, s.steps.length, s.t0);
 * ```
 */
export interface FlowSchedule {
  /** Which solver produced it (diagnostics). */
  kind: "euler" | "euler-reverse" | "dpm++3m";
  /** The steps in integration order. */
  steps: FlowStep[];
  /** Time of the initial state. */
  t0: number;
}

function logitScales(t: number): { alpha: number; beta: number } {
  const c = 1 - t;
  return { alpha: c / (t * t), beta: -(c * c) / (2 * t * t) };
}

/**
 * Forward Euler latent flow (spec §1.5): `t_0 = eps`, `h = (1 - eps) / K`, `x += h (x - D) / t`.
 *
 * @example
 * ```ts
 * import { eulerForward } from "@lzn/latent";
 * const s = eulerForward(20, 1e-4);
 * console.log(s.steps.length, s.steps[0].t); // 20 0.0001
 * ```
 */
export function eulerForward(steps: number, eps: number): FlowSchedule {
  checkSteps(steps);
  const h = (1 - eps) / steps;
  const out: FlowStep[] = [];
  let t = eps;
  for (let k = 0; k < steps; k++) {
    // The release accumulates t += h in float64; so do we.
    out.push({ t, ...logitScales(t), a: 1 + h / t, b: [-h / t, 0, 0], history: 0 });
    t += h;
  }
  return { kind: "euler", steps: out, t0: eps };
}

/**
 * Reverse Euler flow (spec §1.6): from t = 1 down, `h = 1 / K`, `x -= h (x - D) / t`; the last evaluation is at
 * t = 1/K (never at t = 0).
 *
 * @example
 * ```ts
 * import { eulerReverse } from "@lzn/latent";
 * const s = eulerReverse(4);
 * console.log(s.steps.map((x) => x.t)); // [1, 0.75, 0.5, 0.25]
 * ```
 */
export function eulerReverse(steps: number): FlowSchedule {
  checkSteps(steps);
  const h = 1 / steps;
  const out: FlowStep[] = [];
  let t = 1;
  for (let k = 0; k < steps; k++) {
    out.push({ t, ...logitScales(t), a: 1 - h / t, b: [h / t, 0, 0], history: 0 });
    t -= h;
  }
  return { kind: "euler-reverse", steps: out, t0: 1 };
}

/**
 * Solver orders of DPM-Solver++ multistep order 3 for `K` steps: 1, 2, then 3; with `lower_order_final`
 * (which the release only applies when K < 10) the last steps drop to `min(3, K + 1 - s)`.
 *
 * @example
 * ```ts
 * import { dpmOrders } from "@lzn/latent";
 * dpmOrders(20); // [1, 2, 3, 3, ..., 3]
 * dpmOrders(5);  // [1, 2, 3, 2, 1]
 * ```
 */
export function dpmOrders(steps: number): number[] {
  const orders: number[] = [];
  for (let s = 1; s <= steps; s++) {
    let o = Math.min(s, 3);
    if (steps < 10) o = Math.min(o, steps + 1 - s);
    orders.push(o);
  }
  return orders;
}

/**
 * DPM-Solver++(3M) on the uniform-t grid `linspace(eps, 1 - eps, K + 1)` (spec §1.7), with data prediction
 * `D = Abar`, `alpha_t = 1 - t`, `sigma_t = t`, `lambda_t = log((1 - t) / t)`. The update formulas are the
 * spec's; their coefficients on `D_k, D_{k-1}, D_{k-2}` are read off by evaluating the formulas on unit
 * inputs in float64 (they are linear), so the expansion cannot drift from the written form.
 *
 * @example
 * ```ts
 * import { dpmForward } from "@lzn/latent";
 * const s = dpmForward(20, 1e-3);
 * console.log(s.steps.map((x) => x.history + 1)); // [1, 2, 3, 3, ...]
 * ```
 */
export function dpmForward(steps: number, eps: number): FlowSchedule {
  checkSteps(steps);
  const t0 = eps, tK = 1 - eps;
  const ts = Array.from({ length: steps + 1 }, (_, k) => t0 + (k * (tK - t0)) / steps);
  const lam = ts.map((t) => Math.log((1 - t) / t));
  const orders = dpmOrders(steps);
  const out: FlowStep[] = [];
  for (let k = 0; k < steps; k++) {
    const order = orders[k];
    const s0 = k, t = k + 1; // update from ts[s0] (newest evaluation D_k) to ts[t]
    const h = lam[t] - lam[s0];
    const alphaT = 1 - ts[t], sigmaT = ts[t], sigmaS = ts[s0];
    const phi1 = Math.expm1(-h);
    // x_t as a linear function of (x, D0 = D_k, D1 = D_{k-1}, D2 = D_{k-2}).
    const update = (x: number, D0: number, D1: number, D2: number): number => {
      if (order === 1) return (sigmaT / sigmaS) * x - alphaT * phi1 * D0;
      const h0 = lam[s0] - lam[s0 - 1], r0 = h0 / h;
      if (order === 2) {
        const delta = (D0 - D1) / r0;
        return (sigmaT / sigmaS) * x - alphaT * phi1 * D0 - 0.5 * alphaT * phi1 * delta;
      }
      const h1 = lam[s0 - 1] - lam[s0 - 2], r1 = h1 / h;
      const d0 = (D0 - D1) / r0, d1 = (D1 - D2) / r1;
      const dd1 = d0 + (r0 / (r0 + r1)) * (d0 - d1);
      const dd2 = (d0 - d1) / (r0 + r1);
      const phi2 = phi1 / h + 1, phi3 = phi2 / h - 0.5;
      return (sigmaT / sigmaS) * x - alphaT * phi1 * D0 + alphaT * phi2 * dd1 - alphaT * phi3 * dd2;
    };
    out.push({
      t: ts[s0],
      ...logitScales(ts[s0]),
      a: update(1, 0, 0, 0),
      b: [update(0, 1, 0, 0), update(0, 0, 1, 0), update(0, 0, 0, 1)],
      history: (order - 1) as 0 | 1 | 2,
    });
  }
  return { kind: "dpm++3m", steps: out, t0 };
}

function checkSteps(steps: number): void {
  if (!Number.isInteger(steps) || steps < 1) {
    throw new Error(`lzn: flow steps must be a positive integer, got ${steps}`);
  }
}
