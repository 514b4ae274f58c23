/**
 * Single evaluations of the flow-matching field (spec §1.2): the velocity `v(x, t) = (x - Abar) / t` and the
 * posterior-mean anchor `Abar(x, t)`, each differentiable (a one-step flow of the engine).
 *
 * @module
 */
import type { Tensor } from "@lzn/tensor";
import { flow } from "./flow.ts";
import type { FlowSchedule } from "./schedule.ts";

/**
 * Options of {@link velocity} and {@link posteriorMean}.
 *
 * @example
 * ```ts
 * import { tensor } from "@lzn/tensor";
 * import { velocity, type VelocityOptions } from "@lzn/latent";
 * const opts: VelocityOptions = { weights: tensor([3, 1], [2]) };
 * const v = velocity(tensor([0.5], [1, 1]), tensor([-1, 1], [2, 1]), 0.5, opts);
 * ```
 */
export interface VelocityOptions {
  /** Anchor weights `[N]` (enter as `log w` in the logits). */
  weights?: Tensor;
}

function oneStep(t: number, a: number, b0: number): FlowSchedule {
  if (!(t > 0 && t <= 1)) throw new Error(`lzn: t must be in (0, 1], got ${t}`);
  const c = 1 - t;
  return {
    kind: "euler",
    t0: t,
    steps: [{ t, alpha: c / (t * t), beta: -(c * c) / (2 * t * t), a, b: [b0, 0, 0], history: 0 }],
  };
}

/**
 * The exact FM velocity `v(x, t) = (x - sum_j pi_j a_j) / t` of points `x [b, q]` for anchors `[N, q]` (code time:
 * t = 0 anchors, t = 1 Gaussian).
 *
 * @example
 * ```ts
 * import { tensor } from "@lzn/tensor";
 * import { velocity } from "@lzn/latent";
 * const A = tensor([-1, 1], [2, 1]);
 * const v = velocity(tensor([0.5], [1, 1]), A, 1); // x - mean(A) = [0.5]
 * ```
 */
export function velocity(x: Tensor, anchors: Tensor, t: number, opts: VelocityOptions = {}): Tensor {
  return flow({ anchors, x0: x, schedule: oneStep(t, 1 / t, -1 / t), weights: opts.weights });
}

/**
 * The posterior-mean anchor `Abar(x, t) = sum_j pi_j(x, t) a_j` (the DPM solver's data prediction).
 *
 * @example
 * ```ts
 * import { tensor } from "@lzn/tensor";
 * import { posteriorMean } from "@lzn/latent";
 * const A = tensor([-1, 1], [2, 1]);
 * const m = posteriorMean(tensor([0.9], [1, 1]), A, 0.1); // ~[1]: the nearby anchor dominates
 * ```
 */
export function posteriorMean(x: Tensor, anchors: Tensor, t: number, opts: VelocityOptions = {}): Tensor {
  return flow({ anchors, x0: x, schedule: oneStep(t, 0, 1), weights: opts.weights });
}
