/**
 * A tiny PNG encoder (8-bit grayscale or RGB, no interlace) and a helper that tiles images into a grid.
 *
 * @module
 */

import { compress } from "./compression.ts";
import { crc32 } from "@lzn/tensor";

/**
 * Raw 8-bit pixels, row-major, `channels` bytes per pixel (1 = grayscale, 3 = RGB).
 *
 * @example
 * ```ts
 * import type { RasterImage } from "@lzn/data";
 * const dot: RasterImage = { pixels: new Uint8Array([255]), width: 1, height: 1, channels: 1 };
 * console.log(dot.pixels.length); // 1
 * ```
 */
export interface RasterImage {
  /** `width * height * channels` bytes. */
  pixels: Uint8Array;
  /** Width in pixels. */
  width: number;
  /** Height in pixels. */
  height: number;
  /** 1 for grayscale, 3 for RGB. */
  channels: 1 | 3;
}

const SIGNATURE = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  out.set(new TextEncoder().encode(type), 4);
  out.set(data, 8);
  view.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

const LATIN1 = /^[\x20-\x7e\xa1-\xff]*$/;

/** A `tEXt` chunk's data: keyword, NUL, text (both Latin-1). */
function textData(keyword: string, text: string): Uint8Array {
  if (!(keyword.length >= 1 && keyword.length <= 79 && LATIN1.test(keyword) && keyword.trim() === keyword)) {
    throw new RangeError(
      `withPngText: bad text keyword ${JSON.stringify(keyword)} (1 to 79 Latin-1 characters)`,
    );
  }
  if (!/^[\n\x20-\x7e\xa0-\xff]*$/.test(text)) {
    throw new RangeError(`withPngText: the text of ${keyword} is not Latin-1`);
  }
  return Uint8Array.from(`${keyword}\0${text}`, (c) => c.charCodeAt(0));
}

/**
 * Encodes an image as PNG bytes (IHDR, one zlib IDAT, IEND; every scanline with filter type 0).
 *
 * @example
 * ```ts
 * import { encodePng } from "@lzn/data";
 * const png = await encodePng({ pixels: new Uint8Array([0, 255, 255, 0]), width: 2, height: 2, channels: 1 });
 * await Deno.writeFile(".cache/checker.png", png);
 * ```
 */
export async function encodePng(image: RasterImage): Promise<Uint8Array> {
  const { pixels, width, height, channels } = image;
  if (!(Number.isInteger(width) && width > 0 && Number.isInteger(height) && height > 0)) {
    throw new RangeError(`encodePng: bad size ${width}x${height}`);
  }
  if (channels !== 1 && channels !== 3) {
    throw new RangeError(`encodePng: channels must be 1 or 3, got ${channels}`);
  }
  const stride = width * channels;
  if (pixels.length !== stride * height) {
    throw new RangeError(`encodePng: expected ${stride * height} bytes for ${width}x${height}x${channels}`);
  }
  const ihdr = new Uint8Array(13);
  const view = new DataView(ihdr.buffer);
  view.setUint32(0, width);
  view.setUint32(4, height);
  ihdr.set([8, channels === 1 ? 0 : 2, 0, 0, 0], 8); // bit depth, colour type, compression, filter, interlace
  const raw = new Uint8Array((stride + 1) * height); // each scanline: filter byte 0, then the pixels
  for (let y = 0; y < height; y++) {
    raw.set(pixels.subarray(y * stride, (y + 1) * stride), y * (stride + 1) + 1);
  }
  const parts = [
    SIGNATURE,
    chunk("IHDR", ihdr),
    chunk("IDAT", await compress(raw, "deflate")),
    chunk("IEND", new Uint8Array()),
  ];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/**
 * PNG bytes with `tEXt` chunks (keyword to text, both Latin-1; keywords of 1 to 79 characters) inserted
 * after the IHDR chunk; the image data is untouched.
 *
 * @example
 * ```ts
 * import { encodePng, pngText, withPngText } from "@lzn/data";
 * const png = await encodePng({ pixels: new Uint8Array(1), width: 1, height: 1, channels: 1 });
 * console.log(pngText(withPngText(png, { Software: "lzn" }))); // { Software: "lzn" }
 * ```
 */
export function withPngText(png: Uint8Array, text: Readonly<Record<string, string>>): Uint8Array {
  const ihdrEnd = 8 + 12 + 13;
  if (png.length < ihdrEnd || SIGNATURE.some((b, i) => png[i] !== b) || pngChunkType(png, 8) !== "IHDR") {
    throw new RangeError("withPngText: not PNG bytes that start with an IHDR chunk");
  }
  const chunks = Object.entries(text).map(([k, v]) => chunk("tEXt", textData(k, v)));
  const out = new Uint8Array(png.length + chunks.reduce((n, c) => n + c.length, 0));
  out.set(png.subarray(0, ihdrEnd));
  let offset = ihdrEnd;
  for (const c of chunks) {
    out.set(c, offset);
    offset += c.length;
  }
  out.set(png.subarray(ihdrEnd), offset);
  return out;
}

function pngChunkType(bytes: Uint8Array, pos: number): string {
  return String.fromCharCode(...bytes.subarray(pos + 4, pos + 8));
}

/**
 * The `tEXt` chunks of PNG bytes, keyword to text (Latin-1); `{}` for bytes that are not a PNG or where the
 * chunk list breaks off (nothing is decompressed and CRCs are not checked: this reads labels, not images).
 *
 * @example
 * ```ts
 * import { encodePng, pngText, withPngText } from "@lzn/data";
 * const png = await encodePng({ pixels: new Uint8Array(1), width: 1, height: 1, channels: 1 });
 * console.log(pngText(withPngText(png, { Software: "lzn" }))); // { Software: "lzn" }
 * ```
 */
export function pngText(bytes: Uint8Array): Record<string, string> {
  const out: Record<string, string> = {};
  if (bytes.length < 8 || SIGNATURE.some((b, i) => bytes[i] !== b)) return out;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let pos = 8; pos + 8 <= bytes.length;) {
    const length = view.getUint32(pos);
    const type = pngChunkType(bytes, pos);
    const end = pos + 12 + length;
    if (end > bytes.length || type === "IEND") break;
    if (type === "tEXt") {
      const data = bytes.subarray(pos + 8, pos + 8 + length);
      const nul = data.indexOf(0);
      if (nul > 0) {
        const latin1 = (b: Uint8Array) => Array.from(b, (c) => String.fromCharCode(c)).join("");
        out[latin1(data.subarray(0, nul))] = latin1(data.subarray(nul + 1));
      }
    }
    pos = end;
  }
  return out;
}

/**
 * Options of {@linkcode imageGrid}.
 *
 * @example
 * ```ts
 * import type { GridOptions } from "@lzn/data";
 * const opts: GridOptions = { columns: 10, padding: 2, range: [-1, 1] };
 * console.log(opts.columns);
 * ```
 */
export interface GridOptions {
  /** Images per grid row (default `ceil(sqrt(n))`). */
  columns?: number;
  /** Pixels between images and around the border (default 2). */
  padding?: number;
  /** Grey level 0..255 of the padding (default 255, white). */
  background?: number;
  /** Value range mapped to 0..255 (default [-1, 1] for floats, [0, 255] for bytes); values are clamped. */
  range?: readonly [number, number];
}

/**
 * Tiles the first `n` images of a batch (each `rows` x `cols`, grayscale, image after image) into one
 * grayscale image with padding between them, ready for {@linkcode encodePng}.
 *
 * @example
 * ```ts
 * import { batches, encodePng, imageGrid, loadMnist } from "@lzn/data";
 * const { test } = await loadMnist();
 * const batch = batches(test, { batchSize: 64, seed: 0 }).next().value!;
 * const grid = imageGrid(batch.images, 64, 28, 28, { columns: 8 });
 * await Deno.writeFile(".cache/grid.png", await encodePng(grid));
 * ```
 */
export function imageGrid(
  images: Float32Array | Uint8Array,
  n: number,
  rows: number,
  cols: number,
  options: GridOptions = {},
): RasterImage {
  const size = rows * cols;
  if (!(Number.isInteger(n) && n > 0) || n * size > images.length) {
    throw new RangeError(`imageGrid: need ${n} images of ${rows}x${cols}, got ${images.length} values`);
  }
  const columns = options.columns ?? Math.ceil(Math.sqrt(n));
  const gridRows = Math.ceil(n / columns);
  const pad = options.padding ?? 2;
  const [lo, hi] = options.range ?? (images instanceof Uint8Array ? [0, 255] : [-1, 1]);
  const width = columns * (cols + pad) + pad, height = gridRows * (rows + pad) + pad;
  const pixels = new Uint8Array(width * height).fill(options.background ?? 255);
  const scale = 255 / (hi - lo);
  for (let k = 0; k < n; k++) {
    const top = pad + Math.floor(k / columns) * (rows + pad), left = pad + (k % columns) * (cols + pad);
    for (let y = 0; y < rows; y++) {
      for (let x = 0; x < cols; x++) {
        const v = Math.round((images[k * size + y * cols + x] - lo) * scale);
        pixels[(top + y) * width + left + x] = Math.min(255, Math.max(0, v));
      }
    }
  }
  return { pixels, width, height, channels: 1 };
}
