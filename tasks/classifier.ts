/**
 * The LZN classifier of case study 3 without the generative part: an image encoder and the label anchors
 * in one latent space, with the label decoder. Classification = image encoder + label decoder.
 *
 * @module
 */
import type { Tensor } from "@lzn/tensor";
import { type ImageBatch, ImageEncoder, LabelEncoder, type Labels } from "@lzn/encoders";
import { LabelDecoder } from "@lzn/decoders";
import { LatentSpace } from "./space.ts";
import type { ModelConfig } from "./config.ts";

/**
 * The typed latent space of a classifier: "image" (encoder) and "label" (encoder + decoder).
 *
 * @example
 * ```ts
 * import { type ClassifierSpace, LznClassifier, ModelConfig } from "@lzn/tasks";
 * const space: ClassifierSpace = new LznClassifier(ModelConfig.parse({})).space;
 * console.log(space.modalities); // ["image", "label"]
 * const anchors = space.task({ from: "image", output: "anchors" }); // Task<ImageBatch, Embedding>
 * ```
 */
export type ClassifierSpace = LatentSpace<
  & Record<never, never>
  & { image: { encoder: ImageEncoder } }
  & { label: { encoder: LabelEncoder; decoder: LabelDecoder } }
>;

function buildSpace(image: ImageEncoder, label: LabelEncoder, decoder: LabelDecoder): ClassifierSpace {
  return new LatentSpace(image.latentDim)
    .register("image", { encoder: image })
    .register("label", { encoder: label, decoder });
}

/**
 * The classifier's modules and their latent space.
 *
 * @example
 * ```ts
 * import { LznClassifier, ModelConfig } from "@lzn/tasks";
 * const model = new LznClassifier(ModelConfig.parse({ latentDim: 16 }));
 * const classify = model.space.task({ from: "image", to: "label" });
 * const labels = await classify.run({ images: new Float32Array(784 * 4).fill(-1), count: 4 });
 * ```
 */
export class LznClassifier {
  /** Image encoder. */
  readonly image: ImageEncoder;
  /** Label encoder (the label anchors `A^L`). */
  readonly label: LabelEncoder;
  /** Label decoder over `A^L`. */
  readonly decoder: LabelDecoder;
  /** The latent space with both modalities registered. */
  readonly space: ClassifierSpace;

  /** Builds the modules from a (parsed) model config. */
  constructor(readonly config: ModelConfig) {
    this.image = new ImageEncoder({ ...config.encoder, latentDim: config.latentDim });
    this.label = new LabelEncoder({
      classes: config.classes,
      latentDim: config.latentDim,
      latentSteps: config.labelSteps,
      seed: config.labelSeed,
    });
    this.decoder = new LabelDecoder(this.label, { steps: config.labelSteps });
    this.space = buildSpace(this.image, this.label, this.decoder);
  }

  /** Every parameter by checkpoint name: `image.<path>` and `label.anchorSet`. */
  namedParameters(): [string, Tensor][] {
    return [
      ...this.image.namedParameters().map(([n, p]) => [`image.${n}`, p] as [string, Tensor]),
      ...this.label.namedParameters().map(([n, p]) => [`label.${n}`, p] as [string, Tensor]),
    ];
  }

  /** Classifies one batch (its images are the anchor set of their latents). */
  classify(batch: ImageBatch, opts: { tau?: number; seed?: number } = {}): Promise<Labels> {
    return this.space.task({ from: "image", to: "label" }).run(batch, opts);
  }

  /** Frees every parameter. */
  dispose(): void {
    this.image.dispose();
    this.label.dispose();
  }
}
