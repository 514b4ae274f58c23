/**
 * A complete PNG decoder to 8-bit greyscale, for images that users hand to the CLI (digits drawn in any
 * editor): every colour type (grey, RGB, palette, grey+alpha, RGBA), bit depths 1/2/4/8/16, Adam7
 * interlacing, all five filter types, tRNS transparency and image data split over many IDAT chunks. Every
 * chunk's CRC is checked. Decompression uses the platform's `DecompressionStream("deflate")` (zlib).
 *
 * @module
 */

import { crc32 } from "@lzn/tensor";
import { adam7Passes, type PngPass, scanlineBytes, unfilterScanlines } from "./png_unfilter.ts";

/**
 * A decoded PNG as 8-bit greyscale, row-major, `width * height` bytes (0 black, 255 white).
 *
 * @example
 * ```ts ignore
 * import { decodePng, type PngGrayImage } from "@lzn/data";
 * const img: PngGrayImage = await decodePng(await Deno.readFile("digit.png"));
 * console.log(img.width, img.height, img.data.length); // 28 28 784
 * ```
 */
export interface PngGrayImage {
  /** Width in pixels. */
  width: number;
  /** Height in pixels. */
  height: number;
  /** `width * height` grey levels, row after row. */
  data: Uint8Array;
}

/**
 * Options of {@linkcode decodePng}.
 *
 * @example
 * ```ts
 * import type { DecodePngOptions } from "@lzn/data";
 * const options: DecodePngOptions = { source: "digit.png", maxDimension: 4096 };
 * console.log(options.source);
 * ```
 */
export interface DecodePngOptions {
  /** Names the input (e.g. its path) at the start of error messages; default `"decodePng"`. */
  source?: string;
  /** Largest accepted width and height in pixels; default {@linkcode PNG_MAX_DIMENSION}. */
  maxDimension?: number;
}

/**
 * The default limit on a PNG's width and height for {@linkcode decodePng}: 16384 pixels.
 *
 * @example
 * ```ts
 * import { PNG_MAX_DIMENSION } from "@lzn/data";
 * console.log(PNG_MAX_DIMENSION); // 16384
 * ```
 */
export const PNG_MAX_DIMENSION = 16384;

/**
 * Why a PNG could not be decoded: one line, starting with the source's name. `chunk` names the chunk at
 * fault (e.g. `"IDAT"` for a bad CRC or corrupt image data) where there is one.
 *
 * @example
 * ```ts
 * import { decodePng, PngDecodeError } from "@lzn/data";
 * try {
 *   await decodePng(new TextEncoder().encode("GIF89a..."), { source: "x.gif" });
 * } catch (e) {
 *   console.log(e instanceof PngDecodeError, (e as Error).message); // true "x.gif: not a PNG file (no PNG signature)"
 * }
 * ```
 */
export class PngDecodeError extends Error {
  /** The chunk type at fault, if the error concerns one chunk. */
  readonly chunk?: string;
  /** Builds the error; `message` is the whole line. */
  constructor(message: string, options: { chunk?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "PngDecodeError";
    this.chunk = options.chunk;
  }
}

const SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
/** Allowed bit depths per colour type, and the colour type's name for messages. */
const COLOR_TYPES: Record<number, { depths: number[]; channels: number; name: string }> = {
  0: { depths: [1, 2, 4, 8, 16], channels: 1, name: "grey" },
  2: { depths: [8, 16], channels: 3, name: "RGB" },
  3: { depths: [1, 2, 4, 8], channels: 1, name: "palette" },
  4: { depths: [8, 16], channels: 2, name: "grey+alpha" },
  6: { depths: [8, 16], channels: 4, name: "RGBA" },
};

interface Header {
  width: number;
  height: number;
  bitDepth: number;
  colorType: number;
  interlaced: boolean;
}

type Fail = (why: string, chunk?: string) => never;

const hex = (n: number) => `0x${n.toString(16).padStart(8, "0")}`;
/** `round(a / b)` for integers `a >= 0`, `b > 0` (halves up), exact while `2a + b < 2^53`. */
const roundDiv = (a: number, b: number): number => Math.floor((2 * a + b) / (2 * b));

/**
 * Decodes PNG bytes into 8-bit greyscale. Any valid PNG is accepted: colour types 0, 2, 3, 4 and 6 at every
 * bit depth the format allows (1, 2, 4, 8, 16), Adam7-interlaced or not, image data in any number of IDAT
 * chunks; ancillary chunks other than tRNS (gAMA, iCCP, text, ...) are skipped and change nothing.
 *
 * The conversion, rounded once to the nearest level (halves up):
 * - colour to grey by ITU-R BT.601 luma of the stored (gamma-encoded) samples: `0.299 R + 0.587 G + 0.114 B`;
 * - 16-bit samples to 8 bits as `v * 255 / 65535` (and 1/2/4-bit grey scaled up to 0..255);
 * - palette indices looked up in PLTE;
 * - transparency (an alpha channel, or tRNS for palette, grey and RGB images) composited over BLACK:
 *   `grey * alpha`. MNIST-style digits are white on black, so a white digit drawn on a transparent canvas
 *   comes out as a white digit on black.
 *
 * Throws a {@linkcode PngDecodeError} with a one-line message for input that is not a PNG, is truncated, has
 * a chunk with a bad CRC (named), invalid or unsupported header values, a missing IHDR, PLTE, IDAT or IEND,
 * corrupt image data, or a width or height above `options.maxDimension` (default 16384).
 *
 * @example
 * ```ts
 * import { decodePng, encodePng } from "@lzn/data";
 * const png = await encodePng({ pixels: new Uint8Array([255, 0, 0, 0, 0, 255]), width: 2, height: 1, channels: 3 });
 * const { width, height, data } = await decodePng(png);
 * console.log(width, height, data); // 2 1 Uint8Array [76, 29]
 * ```
 */
export async function decodePng(bytes: Uint8Array, options: DecodePngOptions = {}): Promise<PngGrayImage> {
  const prefix = options.source ?? "decodePng";
  const fail: Fail = (why, chunk) => {
    throw new PngDecodeError(`${prefix}: ${why}`, { chunk });
  };
  const chunks = readChunks(bytes, options.maxDimension ?? PNG_MAX_DIMENSION, fail);
  const { width, height, bitDepth, colorType, interlaced } = chunks.header;
  const bitsPerPixel = bitDepth * COLOR_TYPES[colorType].channels;
  const passes = interlaced ? adam7Passes(width, height) : [{ x0: 0, y0: 0, dx: 1, dy: 1, width, height }];
  const nonEmpty = passes.filter((p) => p.width > 0 && p.height > 0);
  const expected = nonEmpty.reduce((n, p) => n + (scanlineBytes(p.width, bitsPerPixel) + 1) * p.height, 0);
  const raw = await inflate(chunks.idat, expected, fail);
  const convert = rowConverter(chunks, fail);
  const bpp = Math.max(1, bitsPerPixel >> 3);
  const data = new Uint8Array(width * height);
  let offset = 0;
  for (const pass of nonEmpty) {
    offset = decodePass(raw, offset, pass, bitsPerPixel, bpp, width, data, convert, fail);
  }
  return { width, height, data };
}

function decodePass(
  raw: Uint8Array,
  offset: number,
  pass: PngPass,
  bitsPerPixel: number,
  bpp: number,
  width: number,
  out: Uint8Array,
  convert: RowConverter,
  fail: Fail,
): number {
  const rowBytes = scanlineBytes(pass.width, bitsPerPixel);
  let end = 0;
  try {
    end = unfilterScanlines(raw, offset, rowBytes, pass.height, bpp);
  } catch (e) {
    fail(`invalid image data: ${(e as Error).message}`, "IDAT");
  }
  for (let j = 0; j < pass.height; j++) {
    const at = (pass.y0 + j * pass.dy) * width + pass.x0;
    convert(raw, offset + j * (rowBytes + 1) + 1, pass.width, out, at, pass.dx);
  }
  return end;
}

interface Chunks {
  header: Header;
  palette?: Uint8Array;
  trns?: Uint8Array;
  idat: Uint8Array[];
}

/** Walks the chunk list: signature, CRCs, IHDR/PLTE/tRNS/IDAT/IEND and their order. */
function readChunks(bytes: Uint8Array, maxDimension: number, fail: Fail): Chunks {
  if (bytes.length < 8 || SIGNATURE.some((b, i) => bytes[i] !== b)) {
    if (bytes.length < 8 && SIGNATURE.slice(0, bytes.length).every((b, i) => bytes[i] === b)) {
      fail(`truncated file: ${bytes.length} bytes, shorter than the PNG signature`);
    }
    if (bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47) {
      fail("damaged PNG signature (was the file converted as text?)");
    }
    fail("not a PNG file (no PNG signature)");
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let header: Header | undefined, palette: Uint8Array | undefined, trns: Uint8Array | undefined;
  const idat: Uint8Array[] = [];
  let pos = 8, ended = false;
  while (pos < bytes.length && !ended) {
    if (pos + 8 > bytes.length) fail(`truncated file: chunk header at byte ${pos} is cut off`);
    const length = view.getUint32(pos);
    const codes = bytes.subarray(pos + 4, pos + 8);
    const type = String.fromCharCode(...codes);
    if (!codes.every((c) => (c >= 65 && c <= 90) || (c >= 97 && c <= 122))) {
      fail(`invalid chunk type ${JSON.stringify(type)} at byte ${pos + 4}`);
    }
    if (length > 0x7fffffff) fail(`invalid length ${length} of chunk ${type} at byte ${pos}`, type);
    if (pos + 12 + length > bytes.length) {
      const left = bytes.length - pos;
      fail(`truncated file: chunk ${type} at byte ${pos} needs ${12 + length} bytes, ${left} left`, type);
    }
    const stored = view.getUint32(pos + 8 + length);
    const computed = crc32(bytes.subarray(pos + 4, pos + 8 + length));
    if (stored !== computed) {
      fail(
        `bad CRC in chunk ${type} at byte ${pos} (stored ${hex(stored)}, computed ${hex(computed)})`,
        type,
      );
    }
    const body = bytes.subarray(pos + 8, pos + 8 + length);
    if (!header && type !== "IHDR") fail(`the first chunk is ${type}, not IHDR`, type);
    switch (type) {
      case "IHDR":
        if (header) fail("more than one IHDR chunk", type);
        header = readHeader(body, maxDimension, fail);
        break;
      case "PLTE":
        if (idat.length) fail("PLTE chunk after IDAT", type);
        if (palette) fail("more than one PLTE chunk", type);
        if (length === 0 || length % 3 !== 0 || length > 768) {
          fail(`invalid PLTE chunk: ${length} bytes (must be 3 per entry, 1 to 256 entries)`, type);
        }
        palette = body;
        break;
      case "tRNS":
        if (!idat.length) trns = checkTrns(header!, palette, body, fail);
        break; // a tRNS after the image data is out of place and ignored
      case "IDAT":
        if (header!.colorType === 3 && !palette) fail("palette image without a PLTE chunk before IDAT", type);
        idat.push(body);
        break;
      case "IEND":
        ended = true;
        break;
      default:
        if (!(codes[0] & 0x20)) fail(`unknown critical chunk ${type}`, type);
    }
    pos += 12 + length;
  }
  if (!header) fail("truncated file: no IHDR chunk");
  if (!ended) fail("missing IEND chunk (file truncated?)", "IEND");
  if (!idat.length) fail("missing IDAT chunk (no image data)", "IDAT");
  return { header: header!, palette, trns, idat };
}

function readHeader(body: Uint8Array, maxDimension: number, fail: Fail): Header {
  if (body.length !== 13) fail(`invalid IHDR chunk: ${body.length} bytes instead of 13`, "IHDR");
  const view = new DataView(body.buffer, body.byteOffset, 13);
  const width = view.getUint32(0), height = view.getUint32(4);
  const [bitDepth, colorType, compression, filter, interlace] = body.subarray(8, 13);
  const bad = (why: string) => fail(`invalid IHDR: ${why}`, "IHDR");
  if (width === 0 || height === 0 || width > 0x7fffffff || height > 0x7fffffff) {
    bad(`image size ${width}x${height}`);
  }
  if (width > maxDimension || height > maxDimension) {
    fail(`image too large: ${width}x${height} (the limit is ${maxDimension}x${maxDimension})`, "IHDR");
  }
  const kind = COLOR_TYPES[colorType];
  if (!kind) bad(`colour type ${colorType} (valid: 0, 2, 3, 4, 6)`);
  const valid = `${kind.name}: ${kind.depths.join("/")}`;
  if (!kind.depths.includes(bitDepth)) bad(`bit depth ${bitDepth} with colour type ${colorType} (${valid})`);
  if (compression !== 0) bad(`unsupported compression method ${compression}`);
  if (filter !== 0) bad(`unsupported filter method ${filter}`);
  if (interlace > 1) bad(`unsupported interlace method ${interlace}`);
  return { width, height, bitDepth, colorType, interlaced: interlace === 1 };
}

function checkTrns(header: Header, palette: Uint8Array | undefined, body: Uint8Array, fail: Fail) {
  const { colorType } = header;
  if (colorType === 3) {
    if (!palette) fail("tRNS chunk before PLTE", "tRNS");
    if (body.length > palette.length / 3) {
      fail(`tRNS chunk has ${body.length} entries, PLTE only ${palette.length / 3}`, "tRNS");
    }
  } else if (colorType === 4 || colorType === 6) {
    return undefined; // not allowed with an alpha channel; ignored like libpng does
  } else if (body.length !== (colorType === 0 ? 2 : 6)) {
    fail(`invalid tRNS chunk: ${body.length} bytes for colour type ${colorType}`, "tRNS");
  }
  return body;
}

/**
 * Inflates the concatenated IDAT data (one zlib stream) to the `expected` bytes, reading to the stream's end
 * so that its checksum is verified. Extra data after the image is tolerated (as libpng does), but reading
 * stops 64 KiB past `expected`: a small file cannot make the decoder inflate gigabytes.
 */
async function inflate(idat: Uint8Array[], expected: number, fail: Fail): Promise<Uint8Array> {
  const stream = ReadableStream.from(idat as Uint8Array<ArrayBuffer>[]).pipeThrough(
    new DecompressionStream("deflate"),
  );
  const reader = stream.getReader();
  const parts: Uint8Array[] = [];
  let length = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (length < expected) parts.push(value);
      length += value.length;
      if (length > expected + 65536) {
        await reader.cancel();
        break;
      }
    }
  } catch (e) {
    fail(`corrupt image data in IDAT (${(e as Error).message})`, "IDAT");
  }
  if (length < expected) fail(`image data too short: ${length} of ${expected} bytes`, "IDAT");
  const raw = new Uint8Array(expected);
  let offset = 0;
  for (const part of parts) {
    raw.set(part.subarray(0, expected - offset), offset);
    offset += Math.min(part.length, expected - offset);
  }
  return raw;
}

/** Converts `count` pixels of an unfiltered scanline at `src[start]` to grey, into `out[at + i * step]`. */
type RowConverter = (
  src: Uint8Array,
  start: number,
  count: number,
  out: Uint8Array,
  at: number,
  step: number,
) => void;

function rowConverter({ header, palette, trns }: Chunks, fail: Fail): RowConverter {
  const { bitDepth: depth, colorType } = header;
  const max = 2 ** depth - 1;
  if (depth < 8 || (depth === 8 && (colorType === 0 || colorType === 3))) {
    // One sample per pixel, at most 8 bits: a lookup table from sample to grey (-1: no such palette entry).
    const lut = new Int16Array(256).fill(-1);
    if (colorType === 0) {
      for (let v = 0; v <= max; v++) lut[v] = roundDiv(v * 255, max);
      if (trns && trns[0] === 0 && trns[1] <= max) lut[trns[1]] = 0;
    } else {
      for (let i = 0; i < palette!.length / 3; i++) {
        const [r, g, b] = palette!.subarray(3 * i, 3 * i + 3);
        lut[i] = roundDiv((299 * r + 587 * g + 114 * b) * (trns && i < trns.length ? trns[i] : 255), 255_000);
      }
    }
    const perByte = 8 / depth;
    const convert: RowConverter = (src, start, count, out, at, step) => {
      for (let i = 0; i < count; i++) {
        const byte = src[start + Math.floor(i / perByte)];
        const v = (byte >> (8 - depth * (1 + (i % perByte)))) & max;
        const grey = lut[v];
        if (grey < 0) {
          fail(`palette index ${v} out of range (PLTE has ${palette!.length / 3} entries)`, "IDAT");
        }
        out[at + i * step] = grey;
      }
    };
    return convert;
  }
  // 8- or 16-bit samples, possibly several per pixel.
  const channels = COLOR_TYPES[colorType].channels, size = depth >> 3;
  const key = trns
    ? Array.from({ length: trns.length / 2 }, (_, k) => (trns[2 * k] << 8) | trns[2 * k + 1])
    : [];
  const convert: RowConverter = (src, start, count, out, at, step) => {
    const sample = (i: number, k: number) => {
      const p = start + (i * channels + k) * size;
      return size === 1 ? src[p] : (src[p] << 8) | src[p + 1];
    };
    for (let i = 0; i < count; i++) {
      let grey: number;
      if (colorType === 0) { // 16-bit grey
        const v = sample(i, 0);
        grey = key.length && v === key[0] ? 0 : roundDiv(v * 255, max);
      } else if (colorType === 4) {
        grey = roundDiv(sample(i, 0) * sample(i, 1) * 255, max * max);
      } else {
        const r = sample(i, 0), g = sample(i, 1), b = sample(i, 2);
        const luma = 299 * r + 587 * g + 114 * b; // x 1000
        if (colorType === 6) grey = roundDiv(luma * sample(i, 3) * 255, 1000 * max * max);
        else if (key.length && r === key[0] && g === key[1] && b === key[2]) grey = 0;
        else grey = roundDiv(luma * 255, 1000 * max);
      }
      out[at + i * step] = grey;
    }
  };
  return convert;
}
