/**
 * The compact dataset cache: a converted dataset as one gzip file.
 *
 * Layout of the uncompressed bytes (all integers little-endian uint32):
 *
 * | offset | field |
 * |---|---|
 * | 0 | magic `"LZND"` |
 * | 4 | format version (1) |
 * | 8 | image count n |
 * | 12 | rows |
 * | 16 | cols |
 * | 20 | m: byte length of the JSON conversion report |
 * | 24 | body length: m + n + n * rows * cols |
 * | 28 | CRC-32 of the body |
 * | 32 | body: report JSON (UTF-8), n labels (uint8), n * rows * cols pixels (uint8) |
 *
 * gzip has its own CRC, but the header's length and CRC make a truncated or damaged file fail with a clear
 * message whatever the decompressor does with it.
 *
 * @module
 */

import { compress, decompress } from "./compression.ts";
import { crc32 } from "@lzn/tensor";
import type { ConversionReport, ConvertedDataset } from "./types.ts";

const MAGIC = 0x444e5a4c; // "LZND" read as a little-endian uint32
const VERSION = 1;
const HEADER_BYTES = 32;

/**
 * Thrown when a cache file is truncated, corrupt or of another format. The message names the file and says
 * how to rebuild it.
 *
 * @example
 * ```ts
 * import { CacheError, decodeDatasetCache } from "@lzn/data";
 * try {
 *   decodeDatasetCache(new Uint8Array(3), "tiny.bin");
 * } catch (e) {
 *   console.log(e instanceof CacheError); // true
 * }
 * ```
 */
export class CacheError extends Error {
  /** Creates the error for the cache `where` with the problem `problem`. */
  constructor(where: string, problem: string) {
    super(
      `dataset cache ${where} is unusable: ${problem}. ` +
        `Delete it (it is rebuilt from node_modules) or run \`deno run --allow-read --allow-write ` +
        `data/build_cache.ts\`.`,
    );
    this.name = "CacheError";
  }
}

/**
 * Serialises a converted dataset into the (uncompressed) cache layout described in the module doc.
 *
 * @example
 * ```ts
 * import { convertRows, decodeDatasetCache, encodeDatasetCache } from "@lzn/data";
 * const toy = convertRows([[new Array(784).fill(1)]], { dataset: "toy", source: "inline", scale: "byte" });
 * console.log(decodeDatasetCache(encodeDatasetCache(toy)).data.count); // 1
 * ```
 */
export function encodeDatasetCache({ data, report }: ConvertedDataset): Uint8Array {
  const meta = new TextEncoder().encode(JSON.stringify(report));
  const pixels = data.count * data.rows * data.cols;
  if (data.labels.length !== data.count || data.images.length !== pixels) {
    throw new RangeError(`encodeDatasetCache: labels/images lengths do not match count ${data.count}`);
  }
  const bodyLength = meta.length + data.count + pixels;
  const out = new Uint8Array(HEADER_BYTES + bodyLength);
  out.set(meta, HEADER_BYTES);
  out.set(data.labels, HEADER_BYTES + meta.length);
  out.set(data.images, HEADER_BYTES + meta.length + data.count);
  const view = new DataView(out.buffer);
  const header = [MAGIC, VERSION, data.count, data.rows, data.cols, meta.length, bodyLength];
  header.forEach((v, i) => view.setUint32(4 * i, v, true));
  view.setUint32(28, crc32(out.subarray(HEADER_BYTES)), true);
  return out;
}

function parseReport(json: string, where: string): ConversionReport {
  let report: ConversionReport;
  try {
    report = JSON.parse(json);
  } catch {
    throw new CacheError(where, "the conversion report is not valid JSON");
  }
  const ok = typeof report === "object" && report !== null && typeof report.dataset === "string" &&
    typeof report.source === "string" && Number.isInteger(report.kept) &&
    Array.isArray(report.keptPerClass) &&
    Array.isArray(report.dropped);
  if (!ok) throw new CacheError(where, "the conversion report is missing fields");
  return report;
}

/**
 * Parses the (uncompressed) cache layout, checking magic, version, lengths, CRC and labels.
 * Throws {@linkcode CacheError} on any mismatch.
 *
 * @example
 * ```ts
 * import { convertRows, decodeDatasetCache, encodeDatasetCache } from "@lzn/data";
 * const toy = convertRows([[new Array(784).fill(1)]], { dataset: "toy", source: "inline", scale: "byte" });
 * const bytes = encodeDatasetCache(toy);
 * bytes[bytes.length - 1] ^= 1; // flip one pixel bit
 * try {
 *   decodeDatasetCache(bytes, "toy");
 * } catch (e) {
 *   console.log((e as Error).message); // "dataset cache toy is unusable: CRC mismatch ..."
 * }
 * ```
 */
export function decodeDatasetCache(bytes: Uint8Array, where = "(in memory)"): ConvertedDataset {
  if (bytes.length < HEADER_BYTES) {
    throw new CacheError(
      where,
      `truncated: ${bytes.length} bytes, shorter than the ${HEADER_BYTES}-byte header`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const u32 = (i: number) => view.getUint32(4 * i, true);
  if (u32(0) !== MAGIC) throw new CacheError(where, `not an lzn dataset cache (bad magic)`);
  if (u32(1) !== VERSION) throw new CacheError(where, `format version ${u32(1)}, expected ${VERSION}`);
  const [count, rows, cols, metaLength, bodyLength, crc] = [u32(2), u32(3), u32(4), u32(5), u32(6), u32(7)];
  if (rows === 0 || cols === 0) throw new CacheError(where, `bad image size ${rows}x${cols}`);
  const pixels = count * rows * cols;
  if (bodyLength !== metaLength + count + pixels) {
    throw new CacheError(where, `header lengths disagree (body ${bodyLength} != report + labels + pixels)`);
  }
  const actual = bytes.length - HEADER_BYTES;
  if (actual !== bodyLength) {
    const what = actual < bodyLength ? "truncated" : "has trailing bytes";
    throw new CacheError(where, `${what}: body is ${actual} bytes, header says ${bodyLength}`);
  }
  const body = bytes.subarray(HEADER_BYTES);
  const actualCrc = crc32(body);
  if (actualCrc !== crc) {
    throw new CacheError(
      where,
      `CRC mismatch (stored ${crc.toString(16)}, computed ${actualCrc.toString(16)})`,
    );
  }
  const report = parseReport(new TextDecoder().decode(body.subarray(0, metaLength)), where);
  const labels = body.slice(metaLength, metaLength + count);
  const images = body.slice(metaLength + count);
  const classes = report.keptPerClass.length;
  if (report.kept !== count || labels.some((l) => l >= classes)) {
    throw new CacheError(where, `labels do not match the report (${count} images, ${classes} classes)`);
  }
  return { data: { images, labels, count, rows, cols }, report };
}

/**
 * Writes a converted dataset as a gzip cache file, creating its directory. The file appears atomically
 * (written to a temporary name, then renamed), so an interrupted write never leaves a half file behind.
 *
 * @example
 * ```ts
 * import { convertDataset, writeDatasetCache } from "@lzn/data";
 * await writeDatasetCache(".cache/data/mnist.bin.gz", await convertDataset("mnist"));
 * ```
 */
export async function writeDatasetCache(path: string, dataset: ConvertedDataset): Promise<void> {
  const slash = path.lastIndexOf("/");
  if (slash > 0) await Deno.mkdir(path.slice(0, slash), { recursive: true });
  const tmp = `${path}.tmp-${Deno.pid}-${Date.now()}`;
  try {
    await Deno.writeFile(tmp, await compress(encodeDatasetCache(dataset), "gzip"));
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw e;
  }
}

/**
 * Reads and validates a gzip cache file written by {@linkcode writeDatasetCache}. Throws
 * `Deno.errors.NotFound` when the file does not exist and {@linkcode CacheError} when it is unusable.
 *
 * @example
 * ```ts
 * import { readDatasetCache } from "@lzn/data";
 * const { data, report } = await readDatasetCache(".cache/data/fashion-mnist.bin.gz");
 * console.log(data.count, report.dropped.length); // 70000 2
 * ```
 */
export async function readDatasetCache(path: string): Promise<ConvertedDataset> {
  const packed = await Deno.readFile(path);
  let bytes: Uint8Array;
  try {
    bytes = await decompress(packed, "gzip");
  } catch (e) {
    throw new CacheError(path, `gzip data is truncated or corrupt (${(e as Error).message})`);
  }
  return decodeDatasetCache(bytes, path);
}
