/**
 * `@lzn/encoders`: encoders from data to anchors in an LZN latent space — the image encoder (a small CNN
 * whose multi-scale feature maps each pass a latent head, summed into the anchor) and the label encoder (the
 * label-anchor matrix) — with zod-validated configs.
 *
 * @example
 * ```ts
 * import { ImageEncoder, LabelEncoder } from "@lzn/encoders";
 * const image = new ImageEncoder({ latentDim: 32 });
 * const label = new LabelEncoder({ classes: 10, latentDim: 32 });
 * const anchors = image.anchors({ images: new Float32Array(784).fill(-1), count: 1 }); // [1, 32]
 * ```
 *
 * @module
 */
export type {
  AnchorSetEncoder,
  BatchEncoder,
  BatchLatentOptions,
  Encoder,
  ImageBatch,
  Labels,
  LatentOptions,
} from "./types.ts";
export { LatentHead, type LatentHeadOptions } from "./latent_head.ts";
export { batchLatents } from "./batch_latents.ts";
export {
  encoderFlops,
  featureResolutions,
  ImageEncoder,
  ImageEncoderArchitecture,
  ImageEncoderConfig,
  type ImageEncoderConfigInput,
} from "./image_encoder.ts";
export { LabelEncoder, LabelEncoderConfig, type LabelEncoderConfigInput } from "./label_encoder.ts";
export { ResidualBlock, type ResidualBlockOptions, ResNetStem } from "./resnet_blocks.ts";
export {
  ResNetEncoder,
  ResNetEncoderArchitecture,
  ResNetEncoderConfig,
  type ResNetEncoderConfigInput,
} from "./resnet_encoder.ts";
