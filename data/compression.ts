/**
 * Byte-array helpers around the web `CompressionStream` / `DecompressionStream` (gzip for the dataset cache,
 * zlib "deflate" for PNG image data).
 *
 * @module
 */

/** A format understood by the web compression streams. */
export type CompressionFormat = "gzip" | "deflate" | "deflate-raw";

async function pipe(bytes: Uint8Array, stream: TransformStream<Uint8Array, Uint8Array>): Promise<Uint8Array> {
  const source = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream();
  return new Uint8Array(await new Response(source.pipeThrough(stream)).arrayBuffer());
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
