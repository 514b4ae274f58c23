/**
 * `@lzn/decoders`: decoders from an LZN latent space back to data — the label decoder (reverse Euler flow
 * over the label anchors, then the nearest anchor).
 *
 * @example
 * ```ts
 * import { LabelDecoder } from "@lzn/decoders";
 * import { LabelEncoder } from "@lzn/encoders";
 * const labels = new LabelEncoder({ classes: 10, latentDim: 16 });
 * const decoder = new LabelDecoder(labels, { steps: 100 });
 * ```
 *
 * @module
 */
export type { DecodeOptions, Decoder } from "./types.ts";
export { type LabelAnchors, LabelDecoder, LabelDecoderConfig } from "./label_decoder.ts";
