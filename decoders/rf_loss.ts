/**
 * The rectified-flow training loss (spec §5.4). RF time runs the other way from the latent flows (spec §1.1):
 * `t = 1` is the image, `t = 0` the noise. Per image `t ~ U[1e-3, 1]`, noise `x_0 ~ N(0, I)`,
 * `x_t = t·x_data + (1 − t)·x_0`, and the network regresses the straight-line velocity `x_data − x_0`:
 * `L = mean_batch mean_pixels ((x_data − x_0) − v̂(x_t, t, cond))²`.
 *
 * @module
 */
import { rand, randn, type Tensor } from "@lzn/tensor";
import type { RfCondition, RfUNet } from "./unet.ts";

/**
 * Smallest RF time of training and sampling (the release's `eps = 1e-3`).
 *
 * @example
 * ```ts
 * import { RF_EPS } from "@lzn/decoders";
 * console.log(RF_EPS); // 0.001
 * ```
 */
export const RF_EPS = 1e-3;

/**
 * Options of {@link rfLoss}.
 *
 * @example
 * ```ts
 * import type { RfLossOptions } from "@lzn/decoders";
 * const opts: RfLossOptions = { seed: 12 }; // unconditional network: no latents, no classes
 * ```
 */
export interface RfLossOptions extends RfCondition {
  /**
   * Seed of the step's randomness: times from Philox stream offset 0, image noise from offset 1 (so a
   * resumed run redraws exactly the same). Use a fresh seed per step.
   */
  seed: number;
}

/**
 * The RF loss of a batch of images `[B, C, H, W]` in [-1, 1]: a scalar, differentiable in the network's
 * parameters and in the condition (the latents carry the gradient back to an image encoder).
 *
 * @example
 * ```ts
 * import { rfLoss, RfUNet } from "@lzn/decoders";
 * import { oneHot, tensor } from "@lzn/tensor";
 * const net = new RfUNet({ classes: 10, channels: [8, 8, 8] });
 * const images = tensor(new Float32Array(2 * 784).fill(-1), [2, 1, 28, 28]);
 * const loss = rfLoss(net, images, { classes: oneHot(tensor([1, 2], [2], { dtype: "i32" }), 10), seed: 7 });
 * loss.backward(); // gradients on net's parameters
 * ```
 */
export function rfLoss(net: RfUNet, images: Tensor, opts: RfLossOptions): Tensor {
  if (images.ndim !== 4) throw new Error(`rfLoss: images must be [B, C, H, W], got [${images.shape}]`);
  const b = images.shape[0];
  const u = rand([b], { seed: opts.seed, offset: 0 });
  const t = u.mul(1 - RF_EPS).add(RF_EPS);
  const noise = randn(images.shape, { seed: opts.seed, offset: 1 });
  const tImage = t.reshape([b, 1, 1, 1]);
  const xt = images.mul(tImage).add(noise.mul(tImage.neg().add(1)));
  const target = images.sub(noise);
  const v = net.forward(xt, t, { latents: opts.latents, classes: opts.classes });
  return v.sub(target).square().mean();
}
