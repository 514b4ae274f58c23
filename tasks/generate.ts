/**
 * Generation from a joint (or RF-baseline) model, spec §7.4, as compositions of the typed graph's parts:
 *
 * - `label -> image`: a sample of each class's latent zone (the label encoder's forward Euler flow over all
 *   label anchors, K = 100), then the RF decoder conditioned on that latent and the class;
 * - `prior -> image`: `z ~ N(0, I)`, the class from the label decoder, then the RF decoder.
 *
 * The RF baseline has no latent space: `label -> image` is plain class-conditional RF sampling.
 *
 * @module
 */
import { noGrad, randn, scope, tensor } from "@lzn/tensor";
import type { DecodedImages } from "@lzn/decoders";
import type { Labels } from "@lzn/encoders";
import type { JointModel } from "./joint_model.ts";
import type { SamplerConfig } from "./joint_config.ts";

/**
 * Options of {@link generateFromLabels} and {@link generateFromPrior}.
 *
 * @example
 * ```ts
 * import type { GenerateOptions } from "@lzn/tasks";
 * const opts: GenerateOptions = { tau: 1, seed: 3, sampler: { kind: "euler", steps: 10 } };
 * ```
 */
export interface GenerateOptions {
  /** Scale of the latent noise (default 1, as the release samples; 0 = zone centres / prior mode). */
  tau?: number;
  /** Seed of the latent and image noise (default 0). */
  seed?: number;
  /** ODE solver (default: the run's `eval.sampler`). */
  sampler?: SamplerConfig;
}

/**
 * Images of the given classes (`label -> image`).
 *
 * @example
 * ```ts
 * import { generateFromLabels, JointModel, parseJointConfig } from "@lzn/tasks";
 * const model = new JointModel(parseJointConfig({ model: { latentDim: 8 } }));
 * const out = await generateFromLabels(model, Int32Array.from([0, 1, 2]), { seed: 1 }); // 3 images
 * model.dispose();
 * ```
 */
export async function generateFromLabels(
  model: JointModel,
  labels: Labels,
  opts: GenerateOptions = {},
): Promise<DecodedImages> {
  const seed = opts.seed ?? 0;
  const sampler = opts.sampler ?? model.decoder.sampler;
  if (!model.space) {
    const noise = noGrad(() => randn([labels.length, ...model.decoder.imageShape], { seed }));
    const { x } = await model.decoder.generate(noise, { labels }, sampler);
    noise.dispose();
    const images = await x.toArray();
    x.dispose();
    return { images, count: labels.length };
  }
  const zones = await model.space.task({ from: "label", output: "latents" }).run(labels, {
    tau: opts.tau ?? 1,
    seed,
  });
  const latents = tensor(zones.data, [zones.count, zones.dim]);
  try {
    return await model.decoder.decode(latents, { labels, seed: seed + 1, sampler });
  } finally {
    latents.dispose();
  }
}

/**
 * Unconditional images (`prior -> image`): latents from `N(0, τ² I)`, classes from the label decoder. Returns
 * the images and the class each was generated as.
 *
 * @example
 * ```ts
 * import { generateFromPrior, JointModel, parseJointConfig } from "@lzn/tasks";
 * const model = new JointModel(parseJointConfig({ model: { latentDim: 8 } }));
 * const { images, labels } = await generateFromPrior(model, 4, { seed: 2 });
 * model.dispose();
 * ```
 */
export async function generateFromPrior(
  model: JointModel,
  count: number,
  opts: GenerateOptions = {},
): Promise<{ images: DecodedImages; labels: Labels }> {
  const space = model.space;
  if (!space) throw new Error("prior -> image needs a joint model (the RF baseline has no latent space)");
  const seed = opts.seed ?? 0;
  const route = { tau: opts.tau ?? 1, seed };
  // The same seed gives the same prior latents to both tasks: the class is the label decoder's for each z.
  const labels = await space.task({ from: "prior", to: "label" }).run(count, route);
  const z = scope(() => noGrad(() => space.modality("prior").encoder!.latents(count, route)));
  try {
    const images = await model.decoder.decode(z, {
      labels,
      seed: seed + 1,
      sampler: opts.sampler ?? model.decoder.sampler,
    });
    return { images, labels };
  } finally {
    z.dispose();
  }
}
