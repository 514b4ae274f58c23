/**
 * A small PNG decoder for the `classify` command's image input: 8-bit grayscale, grayscale+alpha, RGB or
 * RGBA, non-interlaced (what image editors and `@lzn/data`'s encoder write). Colour is reduced to luma.
 *
 * @module
 */
import { decompress } from "@lzn/data";

/**
 * A decoded grayscale image.
 *
 * @example
 * ```ts
 * import { decodePngGray, type GrayImage } from "@lzn/tasks";
 * const img: GrayImage = await decodePngGray(await Deno.readFile("digit.png"), "digit.png");
 * console.log(img.width, img.height, img.pixels.length); // 28 28 784
 * ```
 */
export interface GrayImage {
  /** `width * height` bytes, row-major. */
  pixels: Uint8Array;
  /** Width in pixels. */
  width: number;
  /** Height in pixels. */
  height: number;
}

const CHANNELS: Record<number, number> = { 0: 1, 2: 3, 4: 2, 6: 4 };

/**
 * Decodes PNG bytes to grayscale; `where` names the source in errors.
 *
 * @example
 * ```ts
 * import { encodePng } from "@lzn/data";
 * import { decodePngGray } from "@lzn/tasks";
 * const png = await encodePng({ pixels: new Uint8Array([0, 255]), width: 2, height: 1, channels: 1 });
 * console.log((await decodePngGray(png)).pixels); // Uint8Array [0, 255]
 * ```
 */
export async function decodePngGray(bytes: Uint8Array, where = "(bytes)"): Promise<GrayImage> {
  const fail = (why: string): never => {
    throw new Error(`${where} is not a readable PNG: ${why}`);
  };
  const sig = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
  if (bytes.length < 8 || sig.some((b, i) => bytes[i] !== b)) fail("no PNG signature");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = 8, width = 0, height = 0, colorType = -1;
  const idat: Uint8Array[] = [];
  while (pos + 8 <= bytes.length) {
    const len = view.getUint32(pos);
    const type = String.fromCharCode(...bytes.subarray(pos + 4, pos + 8));
    const body = bytes.subarray(pos + 8, pos + 8 + len);
    if (body.length < len) fail(`truncated ${type} chunk`);
    if (type === "IHDR") {
      width = view.getUint32(pos + 8);
      height = view.getUint32(pos + 12);
      const depth = body[8];
      colorType = body[9];
      if (depth !== 8) fail(`bit depth ${depth} (only 8-bit images are supported)`);
      if (!(colorType in CHANNELS)) fail(`colour type ${colorType} (palette images are not supported)`);
      if (body[12] !== 0) fail("interlaced images are not supported");
    } else if (type === "IDAT") idat.push(body);
    else if (type === "IEND") break;
    pos += 12 + len;
  }
  if (colorType < 0) fail("no IHDR chunk");
  if (!idat.length) fail("no image data");
  const joined = new Uint8Array(idat.reduce((n, c) => n + c.length, 0));
  let off = 0;
  for (const c of idat) joined.set(c, (off += c.length) - c.length);
  const raw = await decompress(joined, "deflate").catch((e) =>
    fail(`corrupt image data (${(e as Error).message})`)
  );
  const ch = CHANNELS[colorType], stride = width * ch;
  if (raw.length < height * (stride + 1)) fail("image data shorter than its size");
  const img = new Uint8Array(height * stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)];
    const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    for (let x = 0; x < stride; x++) {
      const a = x >= ch ? img[y * stride + x - ch] : 0;
      const b = y > 0 ? img[(y - 1) * stride + x] : 0;
      const c = x >= ch && y > 0 ? img[(y - 1) * stride + x - ch] : 0;
      let pred: number;
      switch (filter) {
        case 0:
          pred = 0;
          break;
        case 1:
          pred = a;
          break;
        case 2:
          pred = b;
          break;
        case 3:
          pred = (a + b) >> 1;
          break;
        case 4: {
          const p = a + b - c, pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
          pred = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
          break;
        }
        default:
          return fail(`unknown filter type ${filter} on row ${y}`);
      }
      img[y * stride + x] = (line[x] + pred) & 0xff;
    }
  }
  const pixels = new Uint8Array(width * height);
  for (let i = 0; i < width * height; i++) {
    const p = img.subarray(i * ch, i * ch + ch);
    pixels[i] = ch >= 3 ? Math.round(0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2]) : p[0];
  }
  return { pixels, width, height };
}
