/**
 * The typed graph of design §6: a `LatentSpace` of dimension q in which modalities register an encoder
 * (data -> anchors) and/or a decoder (latent -> data). Tasks and training objectives are compositions of
 * registered parts, typed by them:
 *
 * - `space.task({ from: "image", to: "label" })` is a `Task<ImageBatch, Labels>` (classification);
 * - `space.task({ from: "image" })` is a `Task<ImageBatch, Embedding>` (representation);
 * - `space.alignment({ from: "image", to: "label" })` is the latent-alignment objective between the two.
 *
 * Each `register` returns a new space whose type records the modality, so a name that is not registered,
 * or one registered without the needed encoder/decoder, is a compile-time error when the names are
 * literals. Names only known at run time (plain `string`) are checked when the task is built, with an error
 * that says what is registered.
 *
 * @module
 */
import { noGrad, scope, type Tensor } from "@lzn/tensor";
import { alignmentLoss } from "@lzn/latent";
import type { AnchorSetEncoder, Encoder } from "@lzn/encoders";
import type { Decoder } from "@lzn/decoders";

/**
 * What a modality registers: an encoder, a decoder, or both.
 *
 * @example
 * ```ts
 * import { LabelDecoder } from "@lzn/decoders";
 * import { LabelEncoder } from "@lzn/encoders";
 * import { LatentSpace, type Modality } from "@lzn/tasks";
 * const encoder = new LabelEncoder({ classes: 10, latentDim: 8 });
 * const label: Modality = { encoder, decoder: new LabelDecoder(encoder) };
 * const space = new LatentSpace(8).register("label", label);
 * ```
 */
export interface Modality {
  /** Maps data of the modality to anchors and latents (needed by `task({ from })` and `alignment`). */
  // deno-lint-ignore no-explicit-any
  encoder?: Encoder<any>;
  /** Maps latents back to data of the modality (needed by `task({ to })`). */
  // deno-lint-ignore no-explicit-any
  decoder?: Decoder<any>;
}

// deno-lint-ignore no-explicit-any
type AnyEncoder = Encoder<any>;
// deno-lint-ignore no-explicit-any
type AnyDecoder = Decoder<any>;
// deno-lint-ignore no-explicit-any
type AnyAnchorSetEncoder = AnchorSetEncoder<any>;

/**
 * Names of the modalities of `M` that have an encoder.
 *
 * @example
 * ```ts
 * import { LabelDecoder } from "@lzn/decoders";
 * import { ImageEncoder, LabelEncoder } from "@lzn/encoders";
 * import type { EncoderNames } from "@lzn/tasks";
 * type Parts = {
 *   image: { encoder: ImageEncoder };
 *   label: { encoder: LabelEncoder; decoder: LabelDecoder };
 *   out: { decoder: LabelDecoder };
 * };
 * const from: EncoderNames<Parts> = "image"; // "image" | "label"
 * ```
 */
export type EncoderNames<M> =
  & { [K in keyof M]: M[K] extends { encoder: AnyEncoder } ? K : never }[keyof M]
  & string;
/**
 * Names of the modalities of `M` that have a decoder.
 *
 * @example
 * ```ts
 * import { LabelDecoder } from "@lzn/decoders";
 * import { ImageEncoder, LabelEncoder } from "@lzn/encoders";
 * import type { DecoderNames } from "@lzn/tasks";
 * type Parts = { image: { encoder: ImageEncoder }; label: { encoder: LabelEncoder; decoder: LabelDecoder } };
 * const to: DecoderNames<Parts> = "label"; // the only modality with a decoder
 * ```
 */
export type DecoderNames<M> =
  & { [K in keyof M]: M[K] extends { decoder: AnyDecoder } ? K : never }[keyof M]
  & string;
/**
 * Names of the modalities of `M` whose encoder has a fixed anchor set (alignment targets).
 *
 * @example
 * ```ts
 * import { ImageEncoder, LabelEncoder } from "@lzn/encoders";
 * import type { AnchorSetNames } from "@lzn/tasks";
 * type Parts = { image: { encoder: ImageEncoder }; label: { encoder: LabelEncoder } };
 * const target: AnchorSetNames<Parts> = "label"; // ImageEncoder has no fixed anchor set
 * ```
 */
export type AnchorSetNames<M> =
  & { [K in keyof M]: M[K] extends { encoder: AnyAnchorSetEncoder } ? K : never }[keyof M]
  & string;

/**
 * The data type an encoder of modality `S` takes.
 *
 * @example
 * ```ts
 * import type { ImageBatch, ImageEncoder } from "@lzn/encoders";
 * import type { EncoderInput } from "@lzn/tasks";
 * type In = EncoderInput<{ encoder: ImageEncoder }>; // ImageBatch
 * const x: In = { images: new Float32Array(784), count: 1 } satisfies ImageBatch;
 * ```
 */
export type EncoderInput<S> = S extends { encoder: Encoder<infer I> } ? I : never;
/**
 * The data type a decoder of modality `S` produces.
 *
 * @example
 * ```ts
 * import type { LabelDecoder } from "@lzn/decoders";
 * import type { DecoderOutput } from "@lzn/tasks";
 * type Out = DecoderOutput<{ decoder: LabelDecoder }>; // Int32Array
 * const labels: Out = Int32Array.from([3, 1]);
 * ```
 */
export type DecoderOutput<S> = S extends { decoder: Decoder<infer O> } ? O : never;

// A literal name must be one of `Allowed`; a plain `string` is accepted and checked at run time. Written as
// a conditional on F so that F is still inferred from the argument, and the error names the allowed set.
type Checked<F extends string, Allowed extends string> = string extends F ? string
  : F extends Allowed ? F
  : Allowed;
type InputOf<M, F extends string> = string extends F ? unknown
  : F extends keyof M ? EncoderInput<M[F]>
  : never;
type OutputOf<M, T extends string> = string extends T ? unknown
  : T extends keyof M ? DecoderOutput<M[T]>
  : never;

/**
 * Anchors or latents of a batch, on the host: `count` rows of `dim` floats.
 *
 * @example
 * ```ts
 * import type { Embedding } from "@lzn/tasks";
 * const e: Embedding = { data: new Float32Array(6), count: 2, dim: 3 };
 * ```
 */
export interface Embedding {
  /** Row-major `[count, dim]`. */
  data: Float32Array;
  /** Number of rows. */
  count: number;
  /** Latent dimension q. */
  dim: number;
}

/**
 * Options of {@link Task.run}.
 *
 * @example
 * ```ts
 * import { tensor } from "@lzn/tensor";
 * import { LznClassifier, ModelConfig, type TaskOptions } from "@lzn/tasks";
 * const model = new LznClassifier(ModelConfig.parse({}));
 * const classify = model.space.task({ from: "image", to: "label" });
 * const opts: TaskOptions = { tau: 0.5, seed: 3, weights: tensor(new Float32Array(10).fill(1), [10]) };
 * const labels = await classify.run({ images: new Float32Array(2 * 784), count: 2 }, opts);
 * ```
 */
export interface TaskOptions {
  /** Prior-noise scale of the latent computation (0 = zone centre). Default 0 for tasks. */
  tau?: number;
  /** Seed of the prior noise (default 0). */
  seed?: number;
  /** Anchor weights for the decoder (e.g. class weights); default uniform. */
  weights?: Tensor;
}

/**
 * A composed task: data of one modality in, data (or an embedding) out.
 *
 * @example
 * ```ts
 * import type { Task } from "@lzn/tasks";
 * import type { ImageBatch, Labels } from "@lzn/encoders";
 * async function predict(task: Task<ImageBatch, Labels>, batch: ImageBatch) {
 *   return await task.run(batch, { tau: 0 });
 * }
 * ```
 */
export interface Task<I, O> {
  /** Source modality. */
  readonly from: string;
  /** Target modality, or `undefined` for an embedding task. */
  readonly to: string | undefined;
  /** Runs the task on one batch (inference: no gradients are recorded). */
  run(input: I, opts?: TaskOptions): Promise<O>;
}

/**
 * What an embedding task returns: raw anchors, or latents (zone samples over the batch).
 *
 * @example
 * ```ts
 * import { embed, type EmbeddingKind, LznClassifier, ModelConfig } from "@lzn/tasks";
 * const model = new LznClassifier(ModelConfig.parse({}));
 * const images = { images: new Float32Array(4 * 784), count: 4 };
 * const kinds: EmbeddingKind[] = ["anchors", "latents"];
 * const [anchors, latents] = await Promise.all(kinds.map((kind) => embed(model, images, { kind })));
 * ```
 */
export type EmbeddingKind = "anchors" | "latents";

/**
 * Options of one alignment loss evaluation (spec §4).
 *
 * @example
 * ```ts
 * import { LznClassifier, ModelConfig, type SpaceAlignmentOptions } from "@lzn/tasks";
 * const model = new LznClassifier(ModelConfig.parse({}));
 * const align = model.space.alignment({ from: "image", to: "label" });
 * const opts: SpaceAlignmentOptions = { seed: 17, tau: 1, steps: 100, cutoff: 0.2, log: true };
 * const loss = align.loss({ images: new Float32Array(2 * 784), count: 2 }, Int32Array.from([4, 9]), opts);
 * loss.backward();
 * ```
 */
export interface SpaceAlignmentOptions {
  /** Seed of the source latents' prior noise (use a fresh one per training step). */
  seed: number;
  /** Prior-noise scale of the source latents (training: 1). */
  tau?: number;
  /** Reverse-flow steps K (the release: 100). */
  steps?: number;
  /** Fraction of the first reverse steps left out (the release: 0.2). */
  cutoff?: number;
  /** Log variant (paper Eq. 5) instead of the probability (Eq. 2). */
  log?: boolean;
  /** Target anchor weights `[N]` (class frequencies in training). */
  weights?: Tensor;
}

/**
 * The latent-alignment objective `Align(to, from)`: the source modality's latents are pushed into the zones
 * of their paired target anchors (spec §4, §7.2).
 *
 * @example
 * ```ts
 * import type { Alignment } from "@lzn/tasks";
 * import type { ImageBatch, Labels } from "@lzn/encoders";
 * function step(align: Alignment<ImageBatch, Labels>, x: ImageBatch, y: Labels, k: number) {
 *   const loss = align.loss(x, y, { seed: k });
 *   loss.backward();
 *   return loss;
 * }
 * ```
 */
export interface Alignment<X, Y> {
  /** Source modality (its latents are aligned). */
  readonly from: string;
  /** Target modality (its fixed anchor set defines the zones). */
  readonly to: string;
  /** The scalar loss (differentiable in both encoders' parameters). */
  loss(x: X, y: Y, opts: SpaceAlignmentOptions): Tensor;
}

/**
 * A latent space of dimension q with its registered modalities (`M` records them in the type).
 *
 * @example
 * ```ts
 * import { ImageEncoder, LabelEncoder } from "@lzn/encoders";
 * import { LabelDecoder } from "@lzn/decoders";
 * import { LatentSpace } from "@lzn/tasks";
 * const image = new ImageEncoder({ latentDim: 32 });
 * const label = new LabelEncoder({ classes: 10, latentDim: 32 });
 * const space = new LatentSpace(32)
 *   .register("image", { encoder: image })
 *   .register("label", { encoder: label, decoder: new LabelDecoder(label) });
 * const classify = space.task({ from: "image", to: "label" }); // Task<ImageBatch, Labels>
 * const embed = space.task({ from: "image" });                 // Task<ImageBatch, Embedding>
 * // space.task({ from: "label", to: "image" });               // compile error: "image" has no decoder
 * ```
 */
export class LatentSpace<M extends Record<string, Modality> = Record<never, never>> {
  readonly #modalities: ReadonlyMap<string, Modality>;

  /** An empty space of dimension `latentDim`. */
  constructor(readonly latentDim: number, modalities: ReadonlyMap<string, Modality> = new Map()) {
    if (!Number.isInteger(latentDim) || latentDim < 1) {
      throw new Error(`LatentSpace: the latent dimension must be a positive integer, got ${latentDim}`);
    }
    this.#modalities = modalities;
  }

  /** The registered modality names. */
  get modalities(): string[] {
    return [...this.#modalities.keys()];
  }

  /** The registered parts of a modality (runtime lookup; throws for an unknown name). */
  modality(name: string): Modality {
    const m = this.#modalities.get(name);
    if (!m) {
      throw new Error(`LatentSpace: no modality "${name}"; registered: ${this.#describe()}`);
    }
    return m;
  }

  /**
   * A new space with modality `name` added. Its encoder and decoder must have this space's dimension; a
   * name may be registered once.
   */
  register<N extends string, S extends Modality>(name: N, parts: S): LatentSpace<M & { [K in N]: S }> {
    if (this.#modalities.has(name)) throw new Error(`LatentSpace: modality "${name}" is already registered`);
    if (!parts.encoder && !parts.decoder) {
      throw new Error(`LatentSpace: modality "${name}" needs an encoder, a decoder, or both`);
    }
    for (const [what, part] of [["encoder", parts.encoder], ["decoder", parts.decoder]] as const) {
      if (part && part.latentDim !== this.latentDim) {
        throw new Error(
          `LatentSpace: the ${what} of "${name}" has latent dimension ${part.latentDim}, the space has ${this.latentDim}`,
        );
      }
    }
    const next = new Map(this.#modalities);
    next.set(name, { ...parts });
    return new LatentSpace(this.latentDim, next);
  }

  /** `from`'s encoder + `to`'s decoder: data of `from` in, data of `to` out. */
  task<F extends string, T extends string>(
    route: { from: Checked<F, EncoderNames<M>>; to: Checked<T, DecoderNames<M>> },
  ): Task<InputOf<M, F>, OutputOf<M, T>>;
  /** `from`'s encoder alone: anchors or (default) latents of the batch. */
  task<F extends string>(
    route: { from: Checked<F, EncoderNames<M>>; to?: undefined; output?: EmbeddingKind },
  ): Task<InputOf<M, F>, Embedding>;
  task(route: { from: string; to?: string; output?: EmbeddingKind }): Task<unknown, unknown> {
    const encoder = this.#encoder(route.from);
    if (route.to === undefined) return embeddingTask(route.from, encoder, route.output ?? "latents");
    const decoder = this.#decoder(route.to);
    return {
      from: route.from,
      to: route.to,
      run: (input, opts = {}) =>
        scope(() =>
          noGrad(() => {
            const z = encoder.latents(input, { tau: opts.tau ?? 0, seed: opts.seed ?? 0 });
            return decoder.decode(z, { weights: opts.weights });
          })
        ),
    };
  }

  /** The alignment objective of `from`'s latents into the zones of `to`'s anchor set. */
  alignment<F extends string, T extends string>(
    route: { from: Checked<F, EncoderNames<M>>; to: Checked<T, AnchorSetNames<M>> },
  ): Alignment<InputOf<M, F>, InputOf<M, T>> {
    const source = this.#encoder(route.from);
    const target = this.#encoder(route.to);
    if (!isAnchorSetEncoder(target)) {
      throw new Error(
        `LatentSpace: "${route.to}" cannot be an alignment target: its encoder has no fixed anchor set`,
      );
    }
    return {
      from: route.from,
      to: route.to,
      loss: (x, y, opts) => {
        const z = source.latents(x, { tau: opts.tau ?? 1, seed: opts.seed });
        return alignmentLoss(target.anchorSet, z, target.indices(y), {
          steps: opts.steps ?? 100,
          cutoff: opts.cutoff ?? 0.2,
          log: opts.log ?? false,
          weights: opts.weights,
        });
      },
    };
  }

  #encoder(name: string): AnyEncoder {
    const enc = this.modality(name).encoder;
    if (!enc) {
      throw new Error(
        `LatentSpace: modality "${name}" has no encoder; with encoders: ${this.#list("encoder")}`,
      );
    }
    return enc;
  }

  #decoder(name: string): AnyDecoder {
    const dec = this.modality(name).decoder;
    if (!dec) {
      throw new Error(
        `LatentSpace: modality "${name}" has no decoder; with decoders: ${this.#list("decoder")}`,
      );
    }
    return dec;
  }

  #list(part: "encoder" | "decoder"): string {
    const names = [...this.#modalities].filter(([, m]) => m[part]).map(([n]) => `"${n}"`);
    return names.length ? names.join(", ") : "none";
  }

  #describe(): string {
    if (this.#modalities.size === 0) return "none";
    return [...this.#modalities].map(([n, m]) =>
      `"${n}" (${[m.encoder && "encoder", m.decoder && "decoder"].filter(Boolean).join(" + ")})`
    ).join(", ");
  }
}

function isAnchorSetEncoder(enc: AnyEncoder): enc is AnyAnchorSetEncoder {
  return "anchorSet" in enc && "indices" in enc;
}

function embeddingTask(from: string, encoder: AnyEncoder, kind: EmbeddingKind): Task<unknown, Embedding> {
  return {
    from,
    to: undefined,
    run: (input, opts = {}) =>
      scope(async () => {
        const rows = noGrad(() =>
          kind === "anchors"
            ? encoder.anchors(input)
            : encoder.latents(input, { tau: opts.tau ?? 0, seed: opts.seed ?? 0 })
        );
        return { data: await rows.toArray(), count: rows.shape[0], dim: rows.shape[1] };
      }),
  };
}
