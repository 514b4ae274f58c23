/**
 * The config of the rectified-flow image decoder (spec §5.3 at MNIST size): a small UNet whose conditioning
 * vector is `concat(latent [q], one-hot class [C], sinusoidal time embedding)` through a two-layer MLP. A zod
 * schema with readable errors, as every lzn config.
 *
 * @module
 */
import { z } from "zod";
import { parseConfig } from "@lzn/tensor";

/**
 * The RF decoder's config, defaults filled in (see {@link RfDecoderConfig} for the schema).
 *
 * @example
 * ```ts
 * import { RfDecoderConfig } from "@lzn/decoders";
 * const cfg: RfDecoderConfig = RfDecoderConfig.parse({ latentDim: 32, channels: [16, 32] });
 * ```
 */
export interface RfDecoderConfig {
  /** Latent dimension q; 0 = no latent input (the plain RF baseline of spec §5.7: "z is absent"). */
  latentDim: number;
  /** Classes C of the one-hot condition; 0 = unconditional (default 10). */
  classes: number;
  /** Image height = width (default 28). */
  imageSize: number;
  /** Image channels (default 1). */
  inChannels: number;
  /**
   * Width of each resolution level, finest first (default [16, 32, 32]: 28 -> 14 -> 7). Level i works at
   * `imageSize / 2^i`; every width must be a multiple of 4 (GroupNorm groups, as NCSN++: min(C/4, 32)).
   */
  channels: number[];
  /** ResBlocks per level on the way down; the way up has one more per level (default 1). */
  resBlocks: number;
  /** One self-attention block in the middle, at the coarsest level (default true). */
  attention: boolean;
  /** Size of the sinusoidal time embedding, even (default 32; NCSN++: nf). */
  timeEmbedDim: number;
  /** Width of the conditioning MLP, the `temb` every ResBlock reads (default 64; NCSN++: 4 nf). */
  condDim: number;
  /**
   * The release's `init_scale = 0` (weights ~1e-10) for each ResBlock's second conv, the attention output and
   * the output conv (default true). False gives a network whose velocity field is not ~0 at init (tests).
   */
  zeroInit: boolean;
  /** Seed of the parameter initialisation (default 0). */
  seed: number;
}

/**
 * What a caller may pass: every field optional.
 *
 * @example
 * ```ts
 * import type { RfDecoderConfigInput } from "@lzn/decoders";
 * const input: RfDecoderConfigInput = { latentDim: 32, classes: 10 };
 * ```
 */
export type RfDecoderConfigInput = Partial<RfDecoderConfig>;

/**
 * The RF decoder's config without latent dimension and classes (set once per latent space by a recipe).
 *
 * @example
 * ```ts
 * import type { RfDecoderArchitecture } from "@lzn/decoders";
 * const arch: Partial<RfDecoderArchitecture> = { channels: [8, 16, 16], attention: false };
 * ```
 */
export type RfDecoderArchitecture = Omit<RfDecoderConfig, "latentDim" | "classes">;

const Fields = z.object({
  latentDim: z.number().int().min(0).max(4096).default(0),
  classes: z.number().int().min(0).max(100000).default(10),
  imageSize: z.number().int().min(2).max(1024).default(28),
  inChannels: z.number().int().min(1).max(64).default(1),
  channels: z.array(z.number().int().min(4).max(4096)).min(1).max(8).default([16, 32, 32]),
  resBlocks: z.number().int().min(1).max(8).default(1),
  attention: z.boolean().default(true),
  timeEmbedDim: z.number().int().min(2).max(4096).default(32),
  condDim: z.number().int().min(1).max(16384).default(64),
  zeroInit: z.boolean().default(true),
  seed: z.number().int().min(0).max(2 ** 31).default(0),
}).strict();

function checkLayout(
  cfg: { channels: number[]; imageSize: number; timeEmbedDim: number },
  ctx: z.RefinementCtx,
): void {
  cfg.channels.forEach((c, i) => {
    if (c % 4 !== 0) {
      ctx.addIssue({ code: "custom", path: ["channels", i], message: `${c} is not a multiple of 4` });
    }
  });
  const factor = 2 ** (cfg.channels.length - 1);
  if (cfg.imageSize % factor !== 0) {
    ctx.addIssue({
      code: "custom",
      path: ["channels"],
      message: `${cfg.channels.length} levels halve the image ${
        cfg.channels.length - 1
      } times, but imageSize ${cfg.imageSize} is not divisible by ${factor}`,
    });
  }
  if (cfg.timeEmbedDim % 2 !== 0 || cfg.timeEmbedDim < 4) {
    ctx.addIssue({
      code: "custom",
      path: ["timeEmbedDim"],
      message: `must be even and >= 4 (half sines, half cosines), got ${cfg.timeEmbedDim}`,
    });
  }
}

/**
 * The RF decoder's config schema (zod); checks that the image halves cleanly at every level and that the
 * widths suit GroupNorm.
 *
 * @example
 * ```ts
 * import { RfDecoderConfig } from "@lzn/decoders";
 * const cfg = RfDecoderConfig.parse({ latentDim: 32 });
 * console.log(cfg.channels, cfg.classes); // [16, 32, 32] 10
 * ```
 */
export const RfDecoderConfig: z.ZodType<RfDecoderConfig, RfDecoderConfigInput> = Fields.superRefine(
  checkLayout,
);

/**
 * The RF decoder's architecture schema without `latentDim` and `classes`, for recipes that set those once
 * for every part of a latent space.
 *
 * @example
 * ```ts
 * import { RfDecoderArchitecture } from "@lzn/decoders";
 * console.log(RfDecoderArchitecture.parse({ channels: [8, 16] }).imageSize); // 28
 * ```
 */
export const RfDecoderArchitecture: z.ZodType<RfDecoderArchitecture, Partial<RfDecoderArchitecture>> = Fields
  .omit({ latentDim: true, classes: true }).superRefine(checkLayout);

/**
 * GroupNorm groups for `channels` channels: NCSN++'s `min(C/4, 32)`, lowered to a divisor of C.
 *
 * @example
 * ```ts
 * import { normGroups } from "@lzn/decoders";
 * console.log(normGroups(16), normGroups(256)); // 4 32
 * ```
 */
export function normGroups(channels: number): number {
  let g = Math.max(1, Math.min(Math.floor(channels / 4), 32));
  while (channels % g !== 0) g--;
  return g;
}

/**
 * Validates an RF decoder config; throws one error that lists every problem with its path.
 *
 * @example
 * ```ts
 * import { parseRfDecoderConfig } from "@lzn/decoders";
 * try {
 *   parseRfDecoderConfig({ channels: [6, 8] });
 * } catch (e) {
 *   console.log((e as Error).message); // invalid RF decoder config: ... channels[0]: 6 is not a multiple of 4
 * }
 * ```
 */
export function parseRfDecoderConfig(value: unknown, what = "RF decoder config"): RfDecoderConfig {
  return parseConfig(RfDecoderConfig, value, what);
}
