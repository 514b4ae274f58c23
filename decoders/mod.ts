/**
 * `@lzn/decoders`: decoders from an LZN latent space back to data — the label decoder (reverse Euler flow
 * over the label anchors, then the nearest anchor).
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
export type { Decoder, DecoderOptions } from "./types.ts";
export { type LabelAnchors, LabelDecoder, LabelDecoderConfig } from "./label_decoder.ts";
