/**
 * `@lzn/decoders`: decoders from an LZN latent space back to data — the label decoder (reverse Euler flow
 * over the label anchors, then the nearest anchor) and the rectified-flow image decoder (a small UNet
 * conditioned on latent, class and time; its RF loss, Euler and adaptive RK45 samplers, the inverse ODE and
 * the reconstruction error of spec §5).
 *
 * @example
 * ```ts
 * import { LabelDecoder } from "@lzn/decoders";
 * import { tensor } from "@lzn/tensor";
 * const decoder = new LabelDecoder({ anchorSet: tensor([-1, -1, 1, 1], [2, 2]) }, { steps: 100 });
 * const labels = await decoder.decode(tensor([0.9, 1.2], [1, 2])); // Int32Array [1]
 * ```
 *
 * @module
 */
export type { Decoder, DecoderLossOptions, DecoderOptions, TrainableDecoder } from "./types.ts";
export { type LabelAnchors, LabelDecoder, LabelDecoderConfig } from "./label_decoder.ts";
export {
  normGroups,
  parseRfDecoderConfig,
  RfDecoderArchitecture,
  RfDecoderConfig,
  type RfDecoderConfigInput,
} from "./rf_config.ts";
export { timestepEmbedding } from "./time_embedding.ts";
export { AttentionBlock, ResBlock, Upsample } from "./unet_blocks.ts";
export { type RfCondition, RfUNet } from "./unet.ts";
export {
  eulerIntegrate,
  type EulerOptions,
  type OdeResult,
  rk45Integrate,
  type Rk45Options,
  type VelocityField,
} from "./ode.ts";
export { RF_EPS, rfLoss, type RfLossOptions } from "./rf_loss.ts";
export { invertRf, reconstructionError, type RfSampler, rfVelocityField, sampleRf } from "./rf_sampler.ts";
export {
  type DecodedImages,
  type ImageDecodeOptions,
  type RfConditionInput,
  RfImageDecoder,
  type RfImageDecoderOptions,
} from "./rf_decoder.ts";
