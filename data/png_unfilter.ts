/**
 * PNG scanline reconstruction: undoing the five per-row filter types (None, Sub, Up, Average, Paeth) and the
 * geometry of the seven Adam7 interlace passes. Used by {@linkcode decodePng}; knows nothing of chunks,
 * compression or colour.
 *
 * @module
 */

/**
 * One pass of a PNG image: the pixels at `x0 + i * dx`, `y0 + j * dy` for `i < width`, `j < height`.
 * A non-interlaced image is a single pass with `dx = dy = 1`. Passes of small images may be empty.
 *
 * @example
 * ```ts
 * import { adam7Passes, type PngPass } from "./png_unfilter.ts";
 * const first: PngPass = adam7Passes(16, 16)[0];
 * console.log(first); // { x0: 0, y0: 0, dx: 8, dy: 8, width: 2, height: 2 }
 * ```
 */
export interface PngPass {
  /** Column of the pass's first pixel. */
  x0: number;
  /** Row of the pass's first pixel. */
  y0: number;
  /** Column step between the pass's pixels. */
  dx: number;
  /** Row step between the pass's rows. */
  dy: number;
  /** Pixels per row of this pass (0 when the pass is empty). */
  width: number;
  /** Rows in this pass (0 when the pass is empty). */
  height: number;
}

// [x0, y0, dx, dy] of the seven Adam7 passes (PNG specification, section 8.2).
const ADAM7 = [[0, 0, 8, 8], [4, 0, 8, 8], [0, 4, 4, 8], [2, 0, 4, 4], [0, 2, 2, 4], [1, 0, 2, 2], [
  0,
  1,
  1,
  2,
]];

/**
 * The seven Adam7 passes of a `width` x `height` image, in file order, empty ones included.
 *
 * @example
 * ```ts
 * import { adam7Passes } from "./png_unfilter.ts";
 * console.log(adam7Passes(3, 2).map((p) => p.width * p.height)); // [1, 0, 0, 1, 0, 1, 3]
 * ```
 */
export function adam7Passes(width: number, height: number): PngPass[] {
  return ADAM7.map(([x0, y0, dx, dy]) => ({
    x0,
    y0,
    dx,
    dy,
    width: width > x0 ? Math.ceil((width - x0) / dx) : 0,
    height: height > y0 ? Math.ceil((height - y0) / dy) : 0,
  }));
}

/**
 * Bytes per scanline (without its filter byte) of a row of `pixels` pixels at `bitsPerPixel` bits each;
 * rows of sub-byte pixels are padded to whole bytes.
 *
 * @example
 * ```ts
 * import { scanlineBytes } from "./png_unfilter.ts";
 * console.log(scanlineBytes(11, 2)); // 3
 * ```
 */
export function scanlineBytes(pixels: number, bitsPerPixel: number): number {
  return Math.ceil((pixels * bitsPerPixel) / 8);
}

/**
 * Undoes the filters of `rows` consecutive scanlines in place. Each scanline in `data` is one filter-type byte
 * followed by `rowBytes` filtered bytes, starting at `offset`; afterwards the bytes after each filter byte
 * hold the reconstructed row. `bpp` is the filter's byte distance: bytes per complete pixel, at least 1. The
 * row above the first one counts as zeros (each interlace pass starts afresh). Returns the offset after the
 * last scanline; throws a `RangeError` naming the row for a filter type other than 0..4.
 *
 * @example
 * ```ts
 * import { unfilterScanlines } from "./png_unfilter.ts";
 * // two 1-byte-per-pixel rows: Sub (1) with deltas 5, 1, 1; then Up (2) with deltas 1, 1, 1
 * const data = new Uint8Array([1, 5, 1, 1, 2, 1, 1, 1]);
 * unfilterScanlines(data, 0, 3, 2, 1);
 * console.log(data); // Uint8Array [1, 5, 6, 7, 2, 6, 7, 8]
 * ```
 */
export function unfilterScanlines(
  data: Uint8Array,
  offset: number,
  rowBytes: number,
  rows: number,
  bpp: number,
): number {
  const stride = rowBytes + 1;
  for (let y = 0; y < rows; y++) {
    const start = offset + y * stride + 1; // first byte of this row's pixels
    const above = start - stride; // first byte of the row above (valid only when y > 0)
    const filter = data[start - 1];
    switch (filter) {
      case 0:
        break;
      case 1:
        for (let x = bpp; x < rowBytes; x++) {
          data[start + x] = (data[start + x] + data[start + x - bpp]) & 0xff;
        }
        break;
      case 2:
        if (y === 0) break;
        for (let x = 0; x < rowBytes; x++) data[start + x] = (data[start + x] + data[above + x]) & 0xff;
        break;
      case 3:
        for (let x = 0; x < rowBytes; x++) {
          const a = x >= bpp ? data[start + x - bpp] : 0;
          const b = y > 0 ? data[above + x] : 0;
          data[start + x] = (data[start + x] + ((a + b) >> 1)) & 0xff;
        }
        break;
      case 4:
        for (let x = 0; x < rowBytes; x++) {
          const a = x >= bpp ? data[start + x - bpp] : 0;
          const b = y > 0 ? data[above + x] : 0;
          const c = x >= bpp && y > 0 ? data[above + x - bpp] : 0;
          const pa = Math.abs(b - c), pb = Math.abs(a - c), pc = Math.abs(a + b - 2 * c);
          const pred = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
          data[start + x] = (data[start + x] + pred) & 0xff;
        }
        break;
      default:
        throw new RangeError(`unknown filter type ${filter} on scanline ${y}`);
    }
  }
  return offset + rows * stride;
}
