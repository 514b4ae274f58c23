/**
 * Byte-array helpers around the web `CompressionStream` / `DecompressionStream` (gzip for the dataset cache,
 * zlib "deflate" for PNG image data).
 *
 * @module
 */

/**
 * A format understood by the web compression streams (`"deflate"` is zlib-wrapped, as PNG wants).
 *
 * @example
 * ```ts
 * import { compress, type CompressionFormat } from "@lzn/data";
 * const format: CompressionFormat = "deflate";
 * console.log((await compress(new Uint8Array(10), format))[0]); // 0x78, the zlib header
 * ```
 */
export type CompressionFormat = "gzip" | "deflate" | "deflate-raw";

async function pipe(bytes: Uint8Array, stream: CompressionStream | DecompressionStream): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let length = 0;
  for await (const chunk of ReadableStream.from([bytes as Uint8Array<ArrayBuffer>]).pipeThrough(stream)) {
    chunks.push(chunk);
    length += chunk.length;
  }
  if (chunks.length === 1) return chunks[0];
  const out = new Uint8Array(length);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.length;
  }
  return out;
}

/**
 * Compresses `bytes` (gzip by default; "deflate" gives a zlib stream as PNG needs).
 *
 * @example
 * ```ts
 * import { compress, decompress } from "@lzn/data";
 * const packed = await compress(new Uint8Array(1000));
 * console.log((await decompress(packed)).length); // 1000
 * ```
 */
export function compress(bytes: Uint8Array, format: CompressionFormat = "gzip"): Promise<Uint8Array> {
  return pipe(bytes, new CompressionStream(format));
}

/**
 * Decompresses `bytes` (gzip by default). Rejects on a truncated or corrupt stream.
 *
 * @example
 * ```ts
 * import { compress, decompress } from "@lzn/data";
 * const text = new TextEncoder().encode("hello");
 * console.log(new TextDecoder().decode(await decompress(await compress(text)))); // "hello"
 * ```
 */
export function decompress(bytes: Uint8Array, format: CompressionFormat = "gzip"): Promise<Uint8Array> {
  return pipe(bytes, new DecompressionStream(format));
}
