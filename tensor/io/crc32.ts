/**
 * CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320), the checksum of checkpoint data, PNG chunks, gzip and
 * the dataset cache.
 *
 * @module
 */

const TABLE: Uint32Array = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/**
 * Computes the CRC-32 of `bytes`. Pass the previous result as `crc` to continue a running checksum over
 * several pieces: `crc32(b, crc32(a))` equals the CRC of `a` followed by `b`.
 *
 * @example
 * ```ts
 * import { crc32 } from "@lzn/tensor";
 * const crc = crc32(new TextEncoder().encode("123456789"));
 * console.log(crc.toString(16)); // "cbf43926"
 * ```
 */
export function crc32(bytes: Uint8Array, crc = 0): number {
  let c = ~crc >>> 0;
  for (let i = 0; i < bytes.length; i++) c = TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}
