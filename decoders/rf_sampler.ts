/**
 * Sampling and inverting the RF image ODE `dx/dt = v̂(x, t, cond)` (spec §5.6, §5.7): generation integrates
 * noise at `t = 1e-3` to an image at `t = 1`; the inverse integrates an image at `t = 1` back to
 * `t = 1e-3`. With RK45 the inverse returns the straight-line extrapolation to `t = 0`,
 * `(x_ε − ε·x)/(1 − ε)`, with Euler the state at `t = ε` — the release's two behaviours (spec §11.14).
 *
 * @module
 */
import { full, noGrad, scope, type Tensor } from "@lzn/tensor";
import { eulerIntegrate, type OdeResult, rk45Integrate, type VelocityField } from "./ode.ts";
import { RF_EPS } from "./rf_loss.ts";
import type { RfCondition, RfUNet } from "./unet.ts";

/**
 * Which ODE solver: `euler` with N steps (the release's `euler10`), or adaptive `rk45` (rtol = atol = 1e-5).
 *
 * @example
 * ```ts
 * import type { RfSampler } from "@lzn/decoders";
 * const fast: RfSampler = { kind: "euler", steps: 10 };
 * const exact: RfSampler = { kind: "rk45", rtol: 1e-5, atol: 1e-5 };
 * ```
 */
export type RfSampler =
  | { kind: "euler"; steps: number }
  | { kind: "rk45"; rtol: number; atol: number };

/**
 * The network as a velocity field of the whole batch at one time.
 *
 * @example
 * ```ts
 * import { rfVelocityField, RfUNet } from "@lzn/decoders";
 * import { tensor } from "@lzn/tensor";
 * const net = new RfUNet({ classes: 0, channels: [8, 8] });
 * const v = rfVelocityField(net, {})(tensor(new Float32Array(784), [1, 1, 28, 28]), 0.5);
 * ```
 */
export function rfVelocityField(net: RfUNet, cond: RfCondition): VelocityField {
  return (x, t) => {
    const times = full([x.shape[0]], t);
    const v = net.forward(x, times, cond);
    times.dispose();
    return v;
  };
}

/**
 * Images from noise `[B, C, H, W]` (the state at `t = 1e-3`): integrates to `t = 1` under `noGrad`.
 *
 * @example
 * ```ts
 * import { RfUNet, sampleRf } from "@lzn/decoders";
 * import { randn } from "@lzn/tensor";
 * const net = new RfUNet({ classes: 0, channels: [8, 8] });
 * const { x, nfe } = await sampleRf(net, randn([2, 1, 28, 28], { seed: 0 }), {}, { kind: "euler", steps: 10 });
 * ```
 */
export function sampleRf(
  net: RfUNet,
  noise: Tensor,
  cond: RfCondition,
  sampler: RfSampler,
): Promise<OdeResult> {
  return integrate(net, noise, cond, sampler, RF_EPS, 1);
}

/**
 * The noise an image came from: the inverse ODE from `t = 1` to `t = 1e-3` (RK45: extrapolated to t = 0).
 *
 * @example
 * ```ts
 * import { invertRf, RfUNet } from "@lzn/decoders";
 * import { tensor } from "@lzn/tensor";
 * const net = new RfUNet({ classes: 0, channels: [8, 8] });
 * const images = tensor(new Float32Array(784).fill(-1), [1, 1, 28, 28]);
 * const { x: noise } = await invertRf(net, images, {}, { kind: "rk45", rtol: 1e-5, atol: 1e-5 });
 * ```
 */
export async function invertRf(
  net: RfUNet,
  images: Tensor,
  cond: RfCondition,
  sampler: RfSampler,
): Promise<OdeResult> {
  const r = await integrate(net, images, cond, sampler, 1, RF_EPS);
  if (sampler.kind === "euler") return r;
  const noise = noGrad(() => scope(() => r.x.sub(images.mul(RF_EPS)).mul(1 / (1 - RF_EPS))));
  r.x.dispose();
  return { ...r, x: noise };
}

/**
 * Reconstruction error of spec §5.7 for one repetition: invert each image to its noise, generate from that
 * noise with the same condition, and average the per-image L2 norm `‖x̂ − x‖₂` over the batch (all C·H·W
 * pixels, [-1, 1] scale). Also returns both solvers' evaluation counts.
 *
 * @example
 * ```ts
 * import { reconstructionError, RfUNet } from "@lzn/decoders";
 * import { tensor } from "@lzn/tensor";
 * const net = new RfUNet({ classes: 0, channels: [8, 8] });
 * const images = tensor(new Float32Array(784).fill(-1), [1, 1, 28, 28]);
 * const { error } = await reconstructionError(net, images, {}, { kind: "euler", steps: 10 });
 * ```
 */
export async function reconstructionError(
  net: RfUNet,
  images: Tensor,
  cond: RfCondition,
  sampler: RfSampler,
): Promise<{ error: number; nfe: number }> {
  const inverse = await invertRf(net, images, cond, sampler);
  const forward = await sampleRf(net, inverse.x, cond, sampler);
  inverse.x.dispose();
  const perImage = noGrad(() =>
    scope(() => forward.x.sub(images).square().reshape([images.shape[0], -1]).sum(1).sqrt().mean())
  );
  forward.x.dispose();
  const error = await perImage.item();
  perImage.dispose();
  return { error, nfe: inverse.nfe + forward.nfe };
}

function integrate(
  net: RfUNet,
  x0: Tensor,
  cond: RfCondition,
  sampler: RfSampler,
  t0: number,
  t1: number,
): Promise<OdeResult> {
  const field = rfVelocityField(net, cond);
  switch (sampler.kind) {
    case "euler":
      return Promise.resolve(eulerIntegrate(field, x0, { t0, t1, steps: sampler.steps }));
    case "rk45":
      return rk45Integrate(field, x0, { t0, t1, rtol: sampler.rtol, atol: sampler.atol });
    default:
      throw new Error(`RF sampler: unknown kind ${JSON.stringify(sampler satisfies never)}`);
  }
}
