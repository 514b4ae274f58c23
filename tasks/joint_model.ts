/**
 * The model of case study 3 (spec §7.1): an image encoder, the label anchors with their decoder (the
 * classifier's parts, reused as they are) and the RF image decoder conditioned on `[z, one-hot(c), t]`, in
 * one typed latent space with the Gaussian prior. Generation is a composition of registered parts:
 * `label -> image` and `prior -> image` (the image decoder asks the label decoder for the class of a latent
 * when none is given, spec §7.4). In `rf` mode (the baseline) there is only the decoder, with no latent input.
 *
 * @module
 */
import type { Tensor } from "@lzn/tensor";
import type { ImageEncoder, LabelEncoder } from "@lzn/encoders";
import { type LabelDecoder, RfImageDecoder } from "@lzn/decoders";
import { LznClassifier } from "./classifier.ts";
import { LatentSpace } from "./space.ts";
import { GaussianPrior } from "./prior.ts";
import { classifierConfigOf, type JointConfig } from "./joint_config.ts";

/**
 * The typed space of a joint model: "image" (encoder + RF decoder), "label" (both), "prior" (encoder).
 *
 * @example
 * ```ts
 * import { JointModel, type JointSpace, parseJointConfig } from "@lzn/tasks";
 * const space: JointSpace = new JointModel(parseJointConfig({})).space!;
 * const draw = space.task({ from: "prior", to: "image" }); // Task<number, DecodedImages>
 * ```
 */
export type JointSpace = LatentSpace<
  & Record<never, never>
  & { image: { encoder: ImageEncoder; decoder: RfImageDecoder } }
  & { label: { encoder: LabelEncoder; decoder: LabelDecoder } }
  & { prior: { encoder: GaussianPrior } }
>;

/**
 * Parameters by optimizer group (each has its own learning rate and EMA).
 *
 * @example
 * ```ts
 * import { JointModel, parseJointConfig } from "@lzn/tasks";
 * const { decoder, encoder, anchors } = new JointModel(parseJointConfig({})).groups();
 * ```
 */
export interface JointParameterGroups {
  /** The RF decoder. */
  decoder: Tensor[];
  /** The image encoder (empty in `rf` mode). */
  encoder: Tensor[];
  /** The label anchors (empty in `rf` mode). */
  anchors: Tensor[];
}

/**
 * The modules of a joint (or RF-baseline) run.
 *
 * @example
 * ```ts
 * import { JointModel, parseJointConfig } from "@lzn/tasks";
 * const model = new JointModel(parseJointConfig({ model: { latentDim: 16 } }));
 * const draw = model.space!.task({ from: "label", to: "image" }); // Task<Labels, DecodedImages>
 * model.dispose();
 * ```
 */
export class JointModel {
  /** Image encoder, label anchors and label decoder (`joint` mode only). */
  readonly classifier: LznClassifier | undefined;
  /** The RF image decoder. */
  readonly decoder: RfImageDecoder;
  /** The typed latent space (`joint` mode only). */
  readonly space: JointSpace | undefined;

  /** Builds the modules of `config.mode` ("joint" or "rf"; "classifier" runs use `LznClassifier`). */
  constructor(readonly config: JointConfig) {
    const { mode, model } = config;
    if (mode === "classifier") {
      throw new Error('JointModel: mode "classifier" trains the classification recipe; use LznClassifier');
    }
    const sampler = config.eval.sampler;
    if (mode === "joint") {
      const classifier = new LznClassifier(classifierConfigOf(config).model);
      this.classifier = classifier;
      this.decoder = new RfImageDecoder(
        { ...model.decoder, latentDim: model.latentDim, classes: model.classes },
        { classOf: classifier.decoder, sampler },
      );
      this.space = new LatentSpace(model.latentDim)
        .register("image", { encoder: classifier.image, decoder: this.decoder })
        .register("label", { encoder: classifier.label, decoder: classifier.decoder })
        .register("prior", { encoder: new GaussianPrior(model.latentDim) });
    } else {
      this.classifier = undefined;
      this.space = undefined;
      this.decoder = new RfImageDecoder({ ...model.decoder, latentDim: 0, classes: model.classes }, {
        sampler,
      });
    }
  }

  /** Every parameter by checkpoint name: `decoder.<path>`, then `image.<path>` and `label.anchorSet`. */
  namedParameters(): [string, Tensor][] {
    return [
      ...this.decoder.namedParameters().map(([n, p]) => [`decoder.${n}`, p] as [string, Tensor]),
      ...(this.classifier?.namedParameters() ?? []),
    ];
  }

  /** The parameters by optimizer group. */
  groups(): JointParameterGroups {
    return {
      decoder: this.decoder.parameters(),
      encoder: this.classifier?.image.parameters() ?? [],
      anchors: this.classifier ? [this.classifier.label.anchorSet] : [],
    };
  }

  /** Frees every parameter. */
  dispose(): void {
    this.decoder.dispose();
    this.classifier?.dispose();
  }
}
