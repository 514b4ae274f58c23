/**
 * Latent computation `C(X)` (spec §1.5, §1.7, §1.8): every anchor's latent is the end of the forward flow
 * (anchor end t = 0 -> Gaussian end t = 1) started inside its own zone at `x_0 = (1 - eps) a + eps tau n`,
 * against the whole anchor set that was passed (the minibatch approximation: pass the concatenation of
 * several micro-batches to use them all as anchors).
 *
 * @module
 */
import { randn, type Tensor } from "@lzn/tensor";
import { flow } from "./flow.ts";
import { dpmForward, eulerForward, type FlowSchedule } from "./schedule.ts";

/**
 * Options of {@link computeLatents}.
 *
 * @example
 * ```ts
 * import { randn, tensor } from "@lzn/tensor";
 * import { computeLatents, type ComputeLatentsOptions } from "@lzn/latent";
 * const anchors = tensor([0, 0, 3, 3], [2, 2]);
 * const opts: ComputeLatentsOptions = { solver: "dpm++3m", steps: 20, noise: randn([2, 2], { seed: 5 }), tau: 1 };
 * const z = computeLatents(anchors, opts);
 * ```
 */
export interface ComputeLatentsOptions {
  /** Prior noise `[n, q]` (standard normal); drawn from `seed` when omitted. */
  noise?: Tensor;
  /** Scale of the noise (default 1); 0 gives the deterministic zone centre. */
  tau?: number;
  /** Solver steps = velocity evaluations (default 20). */
  steps?: number;
  /** `"euler"` (default; spec §1.5) or `"dpm++3m"` (DPM-Solver++ 3rd-order multistep; spec §1.7). */
  solver?: "euler" | "dpm++3m";
  /** Start-time offset: default 1e-4 for Euler, 1e-3 (both ends) for DPM-Solver++. */
  eps?: number;
  /** Seed of the noise when `noise` is omitted (default: a fresh random seed per call, like the release). */
  seed?: number;
}

/**
 * Latents of a set of anchors: `[n, q] -> [n, q]`. Differentiable with respect to the anchors (both as the
 * anchor set and as the starting points) and the noise, through one custom op whose backward stores only
 * the trajectory. The Euler latent is the state at t = 1; the DPM-Solver++ latent is the state at
 * t = 1 - eps (0.999), as in the release.
 *
 * @example
 * ```ts
 * import { tensor } from "@lzn/tensor";
 * import { computeLatents } from "@lzn/latent";
 * const anchors = tensor([0, 0, 3, 3, -3, 3], [3, 2], { requiresGrad: true });
 * const z = computeLatents(anchors, { seed: 1 });                       // Euler, 20 steps
 * const zd = computeLatents(anchors, { solver: "dpm++3m", seed: 1 });   // image latents of case studies 1, 3
 * const centres = computeLatents(anchors, { tau: 0 });                  // zone centres
 * z.sum().backward();                                                   // anchors.grad
 * ```
 */
export function computeLatents(anchors: Tensor, opts: ComputeLatentsOptions = {}): Tensor {
  if (anchors.ndim !== 2) throw new Error(`lzn: computeLatents needs anchors [n, q], got [${anchors.shape}]`);
  const { schedule, eps, tau } = forwardSchedule(opts);
  if (opts.noise && (opts.noise.shape[0] !== anchors.shape[0] || opts.noise.shape[1] !== anchors.shape[1])) {
    throw new Error(`lzn: noise must have the anchors' shape [${anchors.shape}], got [${opts.noise.shape}]`);
  }
  const noise = opts.noise ??
    randn(anchors.shape, { seed: opts.seed ?? Math.floor(Math.random() * 2 ** 52) });
  // The release's x_0 = eps * (tau n) + (1 - eps) * a, with the same float32 roundings.
  const scaled = tau === 1 ? noise : noise.mul(tau);
  const part1 = scaled.mul(eps), part2 = anchors.mul(1 - eps);
  const x0 = part1.add(part2);
  const z = flow({ anchors, x0, schedule });
  for (const t of [part1, part2, x0]) t.dispose();
  if (scaled !== noise) scaled.dispose();
  if (noise !== opts.noise) noise.dispose();
  return z;
}

/**
 * The forward flow's schedule of latent-computation options (solver, steps, eps; checked), with the eps and
 * τ they resolve to: what `computeLatents` and `latentsWithBank` share.
 *
 * @example
 * ```ts
 * import { forwardSchedule } from "@lzn/latent";
 * const { schedule, eps } = forwardSchedule({ solver: "dpm++3m", steps: 20 }); // eps 1e-3
 * ```
 */
export function forwardSchedule(
  opts: ComputeLatentsOptions,
): { schedule: FlowSchedule; eps: number; tau: number } {
  const solver = opts.solver ?? "euler";
  const steps = opts.steps ?? 20;
  const eps = opts.eps ?? (solver === "euler" ? 1e-4 : 1e-3);
  const maxEps = solver === "euler" ? 1 : 0.5; // DPM integrates from eps to 1 - eps
  if (!(eps > 0 && eps < maxEps)) throw new Error(`lzn: ${solver} needs eps in (0, ${maxEps}), got ${eps}`);
  switch (solver) {
    case "euler":
      return { schedule: eulerForward(steps, eps), eps, tau: opts.tau ?? 1 };
    case "dpm++3m":
      return { schedule: dpmForward(steps, eps), eps, tau: opts.tau ?? 1 };
    default:
      throw new Error(`lzn: unknown solver "${solver satisfies never}"`);
  }
}
