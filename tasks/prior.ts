/**
 * The Gaussian prior as a modality of the typed graph: its "data" is a number of samples, its latents are
 * `τ·N(0, I_q)` — the latent distribution every LZN latent space is trained towards. With the RF image
 * decoder registered, `space.task({ from: "prior", to: "image" })` is unconditional generation (spec §7.4).
 *
 * @module
 */
import { full, randn, type Tensor } from "@lzn/tensor";
import type { Encoder, LatentOptions } from "@lzn/encoders";

/**
 * `N(0, I_q)` latents: the input is how many.
 *
 * @example
 * ```ts
 * import { GaussianPrior } from "@lzn/tasks";
 * const prior = new GaussianPrior(32);
 * const z = prior.latents(8, { tau: 1, seed: 3 }); // [8, 32] standard normal
 * ```
 */
export class GaussianPrior implements Encoder<number> {
  /** A prior over a latent space of dimension `latentDim`. */
  constructor(readonly latentDim: number) {
    if (!Number.isInteger(latentDim) || latentDim < 1) {
      throw new Error(`GaussianPrior: latentDim must be a positive integer, got ${latentDim}`);
    }
  }

  /** The prior has no anchors; its centre (mean) is 0, so `count` zero rows `[count, q]`. */
  anchors(count: number): Tensor {
    return full([this.count(count), this.latentDim], 0);
  }

  /** `τ·n` with `n ~ N(0, I)` from `seed` (τ = 0 gives the mode, 0). */
  latents(count: number, opts: LatentOptions = {}): Tensor {
    const noise = randn([this.count(count), this.latentDim], { seed: opts.seed ?? 0 });
    const tau = opts.tau ?? 1;
    if (tau === 1) return noise;
    const scaled = noise.mul(tau);
    noise.dispose();
    return scaled;
  }

  /** Checks and returns the number of samples. */
  count(count: number): number {
    if (!Number.isInteger(count) || count < 1) {
      throw new Error(`GaussianPrior: the number of samples must be a positive integer, got ${count}`);
    }
    return count;
  }
}
