/**
 * Generation from a generation model (spec §5.6, §7.4), as compositions of its latent space's stages where
 * it has one:
 *
 * - class-conditional with a latent (joint): each class's latent is a sample of its label zone
 *   (`latents("label")`), decoded with the class (`decode("image")`);
 * - unconditional with a latent: `z ~ N(0, τ² I)` (`latents("prior")`); a joint model's label decoder then
 *   gives each image's class (the paper's unconditional sampling, Fig. 21);
 * - the RF baselines (no latent space): the decoder alone, with or without classes.
 *
 * @module
 */
import { noGrad, randn, scope, type Tensor } from "@lzn/tensor";
import { hashSeed } from "@lzn/data";
import type { RfSampler } from "@lzn/decoders";
import type { GenerationModel } from "../recipes/generation.ts";

/**
 * Options of {@link generateImages}.
 *
 * @example
 * ```ts
 * import type { GenerateOptions } from "@lzn/tasks";
 * const opts: GenerateOptions = { tau: 1, seed: 3, sampler: { kind: "euler", steps: 10 }, batchSize: 500 };
 * ```
 */
export interface GenerateOptions {
  /** Latent noise scale (1 as the paper samples; 0 = zone centres / the prior's mode). */
  tau: number;
  /** Seed of every noise. */
  seed: number;
  /** ODE solver. */
  sampler: RfSampler;
  /** Images per decoder call (default 1000). */
  batchSize?: number;
}

/**
 * Generated images (`count` of C*H*W floats) with the class each was generated as (`undefined` for an
 * unconditional model).
 *
 * @example
 * ```ts
 * import type { Generated } from "@lzn/tasks";
 * const first = (g: Generated) => g.images.subarray(0, 784);
 * ```
 */
export interface Generated {
  /** The images, NCHW floats (unclipped decoder output). */
  images: Float32Array;
  /** Number of images. */
  count: number;
  /** Class of each image: the intended one, or for prior sampling the label decoder's. */
  labels?: Int32Array;
}

/**
 * Generates images: of the `intended` classes (class-conditional models), or `count` unconditional ones
 * (from the prior; a joint model decodes their classes).
 *
 * @example
 * ```ts ignore
 * import { generateImages, generation, loadRun } from "@lzn/tasks";
 * const run = await loadRun("runs/fashion-joint", { recipe: generation });
 * const g = await generateImages(run.model, { intended: Int32Array.from([0, 1, 2]) }, { tau: 1, seed: 0, sampler: { kind: "euler", steps: 10 } });
 * ```
 */
export async function generateImages(
  model: GenerationModel,
  what: { intended: Int32Array } | { count: number },
  opts: GenerateOptions,
): Promise<Generated> {
  const per = model.decoder.imageShape.reduce((a, b) => a * b, 1);
  const count = "intended" in what ? what.intended.length : what.count;
  const conditional = model.decoder.config.classes > 0;
  if ("intended" in what && !conditional) {
    throw new Error("generateImages: an unconditional model takes a count, not classes");
  }
  const images = new Float32Array(count * per);
  const labels = conditional ? new Int32Array(count) : undefined;
  const chunk = opts.batchSize ?? 1000;
  for (let start = 0, k = 0; start < count; start += chunk, k++) {
    const n = Math.min(chunk, count - start);
    const seed = hashSeed(opts.seed, k);
    const intended = "intended" in what ? what.intended.subarray(start, start + n) : undefined;
    const part = await generateChunk(model, n, intended, { ...opts, seed });
    images.set(part.images, start * per);
    if (labels && part.labels) labels.set(part.labels, start);
  }
  return { images, count, labels };
}

async function generateChunk(
  model: GenerationModel,
  n: number,
  intended: Int32Array | undefined,
  opts: GenerateOptions,
): Promise<{ images: Float32Array; labels?: Int32Array }> {
  const space = model.space;
  const noiseSeed = hashSeed(opts.seed, 1), latentSeed = hashSeed(opts.seed, 2);
  if (!space) {
    const noise = noGrad(() => randn([n, ...model.decoder.imageShape], { seed: noiseSeed }));
    try {
      const { x } = await model.decoder.generate(noise, { labels: intended }, opts.sampler);
      const images = await x.toArray();
      x.dispose();
      return { images, labels: intended };
    } finally {
      noise.dispose();
    }
  }
  const z: Tensor = scope(() =>
    noGrad(() =>
      intended
        ? space.latents("label", intended, { tau: opts.tau, seed: latentSeed })
        : space.latents("prior", n, { tau: opts.tau, seed: latentSeed })
    )
  );
  try {
    // A joint model decodes the class of prior latents with its label decoder (uniform weights).
    const labels = intended ?? (model.label ? await space.decode("label", z) : undefined);
    const out = await space.decode("image", z, { labels, seed: noiseSeed, sampler: opts.sampler });
    return { images: out.images, labels };
  } finally {
    z.dispose();
  }
}
