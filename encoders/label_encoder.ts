/**
 * The label encoder of case study 3 (spec §7.1): the label-anchor matrix `A^L [C, q]`, a free parameter
 * initialised i.i.d. N(0, 1). The anchor of label c is the row `A^L[c]`; a label's latent is a sample of its
 * zone under the forward Euler flow over all C anchors (K = 100, eps = 1e-4, no weights).
 *
 * @module
 */
import { z } from "zod";
import {
  concat,
  gather,
  InitRng,
  Module,
  parameter,
  parseConfig,
  SeedStream,
  type Tensor,
  tensor,
} from "@lzn/tensor";
import { computeLatents } from "@lzn/latent";
import type { AnchorSetEncoder, Labels, LatentOptions } from "./types.ts";

/**
 * The label encoder's config, defaults filled in (see {@link LabelEncoderConfig} for the schema).
 *
 * @example
 * ```ts
 * import { LabelEncoder, LabelEncoderConfig } from "@lzn/encoders";
 * const cfg: LabelEncoderConfig = LabelEncoderConfig.parse({ classes: 10, latentDim: 32 });
 * console.log(cfg.latentEps, cfg.seed); // 0.0001 0
 * const enc = new LabelEncoder(cfg);
 * ```
 */
export interface LabelEncoderConfig {
  /** Number of classes C. */
  classes: number;
  /** Latent dimension q. */
  latentDim: number;
  /** Euler steps of the label flow (default 100, as the release). */
  latentSteps: number;
  /** Start time of the forward flow (default 1e-4, as the release). */
  latentEps: number;
  /** Seed of the N(0, 1) initialisation (default 0). */
  seed: number;
}

/**
 * What a caller may pass: `classes`, `latentDim` and any other field.
 *
 * @example
 * ```ts
 * import { LabelEncoder, type LabelEncoderConfigInput } from "@lzn/encoders";
 * const input: LabelEncoderConfigInput = { classes: 10, latentDim: 32, latentSteps: 50 };
 * const enc = new LabelEncoder(input);
 * ```
 */
export type LabelEncoderConfigInput =
  & Pick<LabelEncoderConfig, "classes" | "latentDim">
  & Partial<LabelEncoderConfig>;

/**
 * The label encoder's config schema (zod).
 *
 * @example
 * ```ts
 * import { LabelEncoderConfig } from "@lzn/encoders";
 * console.log(LabelEncoderConfig.parse({ classes: 10, latentDim: 32 }).latentSteps); // 100
 * ```
 */
export const LabelEncoderConfig: z.ZodType<LabelEncoderConfig, LabelEncoderConfigInput> = z.object({
  classes: z.number().int().min(2).max(100000),
  latentDim: z.number().int().min(1).max(4096),
  latentSteps: z.number().int().min(1).max(10000).default(100),
  latentEps: z.number().gt(0).lt(0.5).default(1e-4),
  seed: z.number().int().min(0).max(2 ** 31).default(0),
}).strict();

/**
 * The label encoder (a `Module` with one parameter, `anchorSet`).
 *
 * @example
 * ```ts
 * import { LabelEncoder } from "@lzn/encoders";
 * const enc = new LabelEncoder({ classes: 10, latentDim: 32, seed: 1 });
 * const a = enc.anchors(Int32Array.from([3, 3, 7])); // rows 3, 3, 7 of A^L
 * const z = enc.latents(Int32Array.from([3, 3, 7]), { seed: 5 }); // three zone samples
 * ```
 */
export class LabelEncoder extends Module implements AnchorSetEncoder<Labels> {
  /** The validated config. */
  readonly config: LabelEncoderConfig;
  /** `A^L [C, q]`. */
  anchorSet: Tensor;

  /** Builds the encoder; throws a `ConfigError` listing every problem of a bad config. */
  constructor(config: LabelEncoderConfigInput) {
    super();
    this.config = parseConfig(LabelEncoderConfig, config, "label encoder config");
    const { classes, latentDim, seed } = this.config;
    const rng = new InitRng(seed);
    const values = new Float32Array(classes * latentDim);
    for (let i = 0; i < values.length; i++) values[i] = rng.normal();
    this.anchorSet = parameter(tensor(values, [classes, latentDim]));
  }

  /** Latent dimension q. */
  get latentDim(): number {
    return this.config.latentDim;
  }

  /** Number of classes C. */
  get classes(): number {
    return this.config.classes;
  }

  /** Checks the labels and returns them as indices into the anchor set. */
  indices(labels: Labels): Int32Array {
    for (let i = 0; i < labels.length; i++) {
      const c = labels[i];
      if (!(Number.isInteger(c) && c >= 0 && c < this.classes)) {
        throw new RangeError(`label encoder: label ${c} at position ${i} is outside 0..${this.classes - 1}`);
      }
    }
    return labels;
  }

  /** Anchors `A^L[labels]`, `[n, q]` (differentiable in `A^L`). */
  anchors(labels: Labels): Tensor {
    return gather(this.anchorSet, tensor(this.indices(labels), [labels.length], { dtype: "i32" }));
  }

  /**
   * Zone samples `[n, q]` of the labels. The flow's anchor set is always all C label anchors, so the batch
   * is drawn in rounds: round r computes one latent per class with its own noise, and the r-th occurrence of
   * a label in the batch takes its class's latent from round r.
   */
  latents(labels: Labels, opts: LatentOptions = {}): Tensor {
    const idx = this.indices(labels);
    const seen = new Int32Array(this.classes);
    const rows = new Int32Array(idx.length);
    idx.forEach((c, i) => rows[i] = seen[c]++ * this.classes + c);
    const seeds = new SeedStream(opts.seed ?? 0);
    const rounds = Array.from({ length: Math.max(1, ...seen) }, () =>
      computeLatents(this.anchorSet, {
        solver: "euler",
        steps: this.config.latentSteps,
        eps: this.config.latentEps,
        tau: opts.tau ?? 1,
        seed: seeds.next(),
      }));
    const all = rounds.length === 1 ? rounds[0] : concat(rounds, 0);
    return gather(all, tensor(rows, [rows.length], { dtype: "i32" }));
  }

  /** Number of labels. */
  count(labels: Labels): number {
    return labels.length;
  }
}
