/**
 * The typed graph of design §6: a `LatentSpace` of dimension q in which modalities register an encoder
 * (data -> anchors -> latents) and/or a decoder (latents -> data). The space exposes the stages that training
 * objectives and evaluations are written against — anchors of a modality, latents (of inputs or of already
 * computed anchors), alignment of latents into a modality's zones, decoding, and a decoder's own loss — and
 * builds its tasks from the same stages:
 *
 * - `space.task({ from: "image", to: "label" })` is a `Task<ImageBatch, Labels>` (classification);
 * - `space.task({ from: "image" })` is a `Task<ImageBatch, Embedding>` (representation);
 * - `space.align(z, "label", labels)` is the latent-alignment loss of latents `z` into the label zones.
 *
 * Each `register` returns a new space whose type records the modality, so a name that is not registered,
 * or one registered without the needed part, is a compile-time error when the names are literals. Names
 * only known at run time (plain `string`) are checked when used, with an error that says what is registered.
 *
 * @module
 */
import { noGrad, scope, Tensor } from "@lzn/tensor";
import { alignmentLoss } from "@lzn/latent";
import type { AnchorSetEncoder, BatchEncoder, BatchLatentOptions, Encoder } from "@lzn/encoders";
import type { Decoder, DecoderLossOptions, DecoderOptions, TrainableDecoder } from "@lzn/decoders";
import type {
  AlignOptions,
  BatchEncoderNames,
  Checked,
  DecodeOptionsOf,
  DecoderData,
  DecoderNames,
  Embedding,
  EmbeddingKind,
  EncoderNames,
  InputOf,
  Modality,
  OutputOf,
  Task,
  TrainableDecoderNames,
} from "./space_types.ts";

// deno-lint-ignore no-explicit-any
type AnyEncoder = Encoder<any>;
// deno-lint-ignore no-explicit-any
type AnyDecoder = Decoder<any>;

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
    if (!m) throw new Error(`LatentSpace: no modality "${name}"; registered: ${this.#describe()}`);
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

  // ---- stages ----------------------------------------------------------------------------------------

  /** Stage: the anchors `[n, q]` of a batch of modality `name` (differentiable in the encoder). */
  anchors<F extends string>(name: Checked<F, EncoderNames<M>>, input: InputOf<M, F>): Tensor {
    return this.#encoder(name).anchors(input);
  }

  /**
   * Stage: the latents `[n, q]` of a batch by the modality's own latent computation (spec §2: images over
   * the batch's anchors with DPM-Solver++ or Euler, labels over the label anchors). `tau` defaults to 1.
   */
  latents<F extends string>(
    name: Checked<F, EncoderNames<M>>,
    input: InputOf<M, F>,
    opts: BatchLatentOptions = {},
  ): Tensor {
    const enc = this.#encoder(name);
    if (opts.bank) return this.#batchEncoder(name).latentsOf(enc.anchors(input), opts);
    return enc.latents(input, opts);
  }

  /** Stage: latents of already computed anchors of a batch encoder (training reuses one anchor pass). */
  latentsOf<F extends string>(
    name: Checked<F, BatchEncoderNames<M>>,
    anchors: Tensor,
    opts: BatchLatentOptions = {},
  ): Tensor {
    return this.#batchEncoder(name).latentsOf(anchors, opts);
  }

  /**
   * Stage: the alignment loss (spec §4) of `latents` into the zones of modality `to`: a fixed anchor set
   * (labels) pairs latent i with the anchor of `target[i]`; for an encoder over batches, the anchors of the
   * `target` batch — or `{ anchors }` already computed from it — pair latent i with item i (or
   * `opts.pairs[i]`). Differentiable in the latents and in both encoders.
   */
  align<T extends string>(
    latents: Tensor,
    to: Checked<T, EncoderNames<M>>,
    target: InputOf<M, T> | { anchors: Tensor },
    opts: AlignOptions = {},
  ): Tensor {
    const enc = this.#encoder(to);
    const loss = (anchors: Tensor, pairs: Int32Array) =>
      alignmentLoss(anchors, latents, pairs, {
        steps: opts.steps ?? 100,
        cutoff: opts.cutoff ?? 0.2,
        log: opts.log ?? false,
        weights: opts.weights,
      });
    const given = typeof target === "object" && target !== null && "anchors" in target &&
      (target as { anchors: unknown }).anchors instanceof Tensor;
    if (isAnchorSetEncoder(enc)) {
      if (opts.pairs || given) {
        throw new Error(
          `LatentSpace.align: "${to}" has a fixed anchor set and pairs by its items (no pairs or anchors)`,
        );
      }
      return loss(enc.anchorSet, enc.indices(target));
    }
    const anchors = given ? (target as { anchors: Tensor }).anchors : enc.anchors(target);
    const n = latents.shape[0], m = anchors.shape[0];
    const pairs = opts.pairs ?? Int32Array.from({ length: n }, (_, i) => i);
    if (pairs.length !== n || pairs.some((p) => !(p >= 0 && p < m)) || (!opts.pairs && m !== n)) {
      throw new Error(
        `LatentSpace.align: ${n} latents need ${n} pairs into the ${m} anchors of "${to}", got ${pairs.length}` +
          (opts.pairs ? "" : " (default pairs i <-> i need as many target items as latents)"),
      );
    }
    return loss(anchors, pairs);
  }

  /** Stage: decodes latents `[n, q]` into data of modality `name` (inference; no graph is recorded). */
  decode<T extends string>(
    name: Checked<T, DecoderNames<M>>,
    latents: Tensor,
    opts?: T extends keyof M ? DecodeOptionsOf<M[T]> : DecoderOptions,
  ): Promise<OutputOf<M, T>> {
    return noGrad(() => this.#decoder(name).decode(latents, opts as DecoderOptions)) as Promise<
      OutputOf<M, T>
    >;
  }

  /** Stage: the training loss of modality `name`'s decoder (e.g. rectified flow conditioned on latents). */
  decoderLoss<T extends string>(
    name: Checked<T, TrainableDecoderNames<M>>,
    data: T extends keyof M ? DecoderData<M[T]> : unknown,
    opts: DecoderLossOptions,
  ): Tensor {
    const dec = this.#decoder(name);
    if (!("loss" in dec)) throw new Error(`LatentSpace: the decoder of "${name}" has no training loss`);
    return (dec as TrainableDecoder<unknown, unknown>).loss(data, opts);
  }

  // ---- tasks -----------------------------------------------------------------------------------------

  /** `from`'s encoder + `to`'s decoder: data of `from` in, data of `to` out. */
  task<F extends string, T extends string>(
    route: { from: Checked<F, EncoderNames<M>>; to: Checked<T, DecoderNames<M>> },
  ): Task<InputOf<M, F>, OutputOf<M, T>>;
  /** `from`'s encoder alone: anchors or (default) latents of the batch. */
  task<F extends string>(
    route: { from: Checked<F, EncoderNames<M>>; to?: undefined; output?: EmbeddingKind },
  ): Task<InputOf<M, F>, Embedding>;
  task(route: { from: string; to?: string; output?: EmbeddingKind }): Task<unknown, unknown> {
    const { from, to } = route;
    this.#encoder(from); // unknown names fail when the task is built, not when it first runs
    if (to === undefined) {
      const kind: string = route.output ?? "latents";
      if (kind !== "latents" && kind !== "anchors") {
        throw new Error(
          `LatentSpace.task: output must be "latents" or "anchors", got ${JSON.stringify(kind)}`,
        );
      }
      return {
        from,
        to,
        run: (input, opts = {}) =>
          scope(async () => {
            const rows = noGrad(() =>
              kind === "anchors" ? this.anchors(from, input) : this.latents(from, input, latentOpts(opts))
            );
            return { data: await rows.toArray(), count: rows.shape[0], dim: rows.shape[1] };
          }),
      };
    }
    this.#decoder(to);
    return {
      from,
      to,
      run: (input, opts = {}) =>
        scope(() =>
          this.#decoder(to).decode(noGrad(() => this.latents(from, input, latentOpts(opts))), {
            weights: opts.weights,
          })
        ),
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

  // deno-lint-ignore no-explicit-any
  #batchEncoder(name: string): BatchEncoder<any> {
    const enc = this.#encoder(name);
    if (!("latentsOf" in enc)) {
      throw new Error(
        `LatentSpace: the encoder of "${name}" computes latents over a fixed anchor set, not over its batch`,
      );
    }
    // deno-lint-ignore no-explicit-any
    return enc as BatchEncoder<any>;
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

// Tasks default to the zone centre (τ = 0) and seed 0: inference is deterministic unless asked otherwise.
function latentOpts(opts: { tau?: number; seed?: number; bank?: Tensor }): BatchLatentOptions {
  return { tau: opts.tau ?? 0, seed: opts.seed ?? 0, bank: opts.bank };
}

// deno-lint-ignore no-explicit-any
function isAnchorSetEncoder(enc: AnyEncoder): enc is AnchorSetEncoder<any> {
  return "anchorSet" in enc && "indices" in enc;
}
