/**
 * Tests of `decodePng` (data/png_decode.ts) against PNG files written by another encoder: ImageMagick 6 and
 * pngcrush, see tests/fixtures/png/make.sh. Each NAME.png has a NAME.gray with the greyscale ImageMagick reads
 * out of it (alpha over black, Rec601 luma, rounded to 8 bits), so the expected pixels come from that tool too.
 *
 * Tolerance: exact for grey and grey+alpha files. Files with colour (RGB, RGBA, palette) may differ by 1 on a
 * few pixels, because the formulas genuinely round differently there: ImageMagick's Rec601Luma weights are
 * 0.298839/0.586811/0.114350 where decodePng uses BT.601's 0.299/0.587/0.114, and ImageMagick rounds to 16
 * bits between steps; on a value like 41.492 (ours) vs 41.512 (ImageMagick's weights) the two round apart.
 * Every such difference in the current fixtures was checked to be of that kind when they were made.
 *
 * @module
 */
import { strict as assert } from "node:assert";
import { crc32 } from "@lzn/tensor";
import {
  compress,
  decodePng,
  decompress,
  encodePng,
  PNG_MAX_DIMENSION,
  PngDecodeError,
  pngText,
  withPngText,
} from "../data/mod.ts";

const DIR = new URL("./fixtures/png/", import.meta.url);
const read = (file: string) => Deno.readFile(new URL(file, DIR));

/**
 * Every fixture: [name, colour type, bit depth, interlaced, has tRNS, one filter type on every row (or -1),
 * more than one IDAT]. The test checks the files' headers against this, so a regenerated set that comes out
 * in other formats fails loudly instead of silently testing less.
 */
const FIXTURES: [string, number, number, boolean, boolean, number, boolean][] = [
  ["g1", 0, 1, false, false, -1, false],
  ["g2", 0, 2, false, false, -1, false],
  ["g4", 0, 4, false, false, -1, false],
  ["g8", 0, 8, false, false, -1, false],
  ["g16", 0, 16, false, false, -1, false],
  ["g2_trns", 0, 2, false, true, -1, false],
  ["g4_trns", 0, 4, false, true, -1, false],
  ["g8_trns", 0, 8, false, true, -1, false],
  ["g16_trns", 0, 16, false, true, -1, false],
  ["rgb8", 2, 8, false, false, -1, false],
  ["rgb16", 2, 16, false, false, -1, false],
  ["rgb8_trns", 2, 8, false, true, -1, false],
  ["rgb16_trns", 2, 16, false, true, -1, false],
  ["ga8", 4, 8, false, false, -1, false],
  ["ga16", 4, 16, false, false, -1, false],
  ["rgba8", 6, 8, false, false, -1, false],
  ["rgba16", 6, 16, false, false, -1, false],
  ["p1", 3, 1, false, false, -1, false],
  ["p2", 3, 2, false, false, -1, false],
  ["p4", 3, 4, false, false, -1, false],
  ["p8", 3, 8, false, false, -1, false],
  ["p1_trns", 3, 1, false, true, -1, false],
  ["p2_trns", 3, 2, false, true, -1, false],
  ["p4_trns", 3, 4, false, true, -1, false],
  ["p8_trns", 3, 8, false, true, -1, false],
  ["g1_i", 0, 1, true, false, -1, false],
  ["g2_i", 0, 2, true, false, -1, false],
  ["g8_i", 0, 8, true, false, -1, false],
  ["g16_i", 0, 16, true, false, -1, false],
  ["g8_i_3x2", 0, 8, true, false, -1, false],
  ["rgb8_i", 2, 8, true, false, -1, false],
  ["rgb16_trns_i", 2, 16, true, true, -1, false],
  ["ga16_i", 4, 16, true, false, -1, false],
  ["rgba8_i", 6, 8, true, false, -1, false],
  ["rgba16_i", 6, 16, true, false, -1, false],
  ["rgba8_i_1x1", 6, 8, true, false, -1, false],
  ["p4_trns_i", 3, 4, true, true, -1, false],
  ["p8_i", 3, 8, true, false, -1, false],
  ["rgb8_f0", 2, 8, false, false, 0, false],
  ["rgb8_f1", 2, 8, false, false, 1, false],
  ["rgb8_f2", 2, 8, false, false, 2, false],
  ["rgb8_f3", 2, 8, false, false, 3, false],
  ["rgb8_f4", 2, 8, false, false, 4, false],
  ["ga16_f3", 4, 16, false, false, 3, false],
  ["ga16_f4", 4, 16, false, false, 4, false],
  ["g2_f4", 0, 2, false, false, 4, false],
  ["multi_idat", 6, 8, false, false, -1, true],
];

interface Chunk {
  type: string;
  data: Uint8Array;
}

/** Splits a PNG into its chunks (no checks: an independent reader for the tests). */
function chunks(png: Uint8Array): Chunk[] {
  const view = new DataView(png.buffer, png.byteOffset, png.byteLength);
  const out: Chunk[] = [];
  for (let pos = 8; pos + 12 <= png.length;) {
    const length = view.getUint32(pos);
    out.push({
      type: String.fromCharCode(...png.subarray(pos + 4, pos + 8)),
      data: png.slice(pos + 8, pos + 8 + length),
    });
    pos += 12 + length;
  }
  return out;
}

/** Byte offset of the first chunk of `type` (of its length field). */
function offsetOf(png: Uint8Array, type: string): number {
  const view = new DataView(png.buffer, png.byteOffset, png.byteLength);
  for (let pos = 8; pos + 12 <= png.length; pos += 12 + view.getUint32(pos)) {
    if (String.fromCharCode(...png.subarray(pos + 4, pos + 8)) === type) return pos;
  }
  throw new Error(`no ${type} chunk`);
}

/** Writes chunks back into a PNG with correct lengths and CRCs. */
function build(list: Chunk[]): Uint8Array {
  const parts = [new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])];
  for (const { type, data } of list) {
    const part = new Uint8Array(12 + data.length);
    const view = new DataView(part.buffer);
    view.setUint32(0, data.length);
    part.set([...type].map((c) => c.charCodeAt(0)), 4);
    part.set(data, 8);
    view.setUint32(8 + data.length, crc32(part.subarray(4, 8 + data.length)));
    parts.push(part);
  }
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  parts.reduce((offset, p) => (out.set(p, offset), offset + p.length), 0);
  return out;
}

/** An IHDR body. */
function ihdr(width: number, height: number, depth: number, colorType: number, interlace = 0): Uint8Array {
  const body = new Uint8Array(13);
  new DataView(body.buffer).setUint32(0, width);
  new DataView(body.buffer).setUint32(4, height);
  body.set([depth, colorType, 0, 0, interlace], 8);
  return body;
}

/** A PNG from raw (already filtered) scanlines, compressed by the platform's zlib. */
async function handMade(header: Uint8Array, raw: number[], extra: Chunk[] = []): Promise<Uint8Array> {
  const idat = await compress(new Uint8Array(raw), "deflate");
  return build([{ type: "IHDR", data: header }, ...extra, { type: "IDAT", data: idat }, {
    type: "IEND",
    data: new Uint8Array(),
  }]);
}

/** Asserts that decoding rejects with a one-line PngDecodeError matching `pattern` (and naming `chunk`). */
async function rejects(png: Uint8Array, pattern: RegExp, chunk?: string, options = {}): Promise<void> {
  await assert.rejects(decodePng(png, options), (e: unknown) => {
    assert.ok(e instanceof PngDecodeError, `expected a PngDecodeError, got ${e}`);
    assert.match(e.message, pattern);
    assert.ok(!e.message.includes("\n"), `not one line: ${e.message}`);
    if (chunk !== undefined) assert.equal(e.chunk, chunk);
    return true;
  });
}

Deno.test("the fixture set is complete and each file has the format its name says", async () => {
  const onDisk = [...Deno.readDirSync(DIR)].map((e) => e.name).filter((n) => n.endsWith(".png")).sort();
  assert.deepEqual(onDisk, FIXTURES.map(([name]) => `${name}.png`).sort());
  for (const [name, colorType, depth, interlaced, trns, filter, multiIdat] of FIXTURES) {
    const list = chunks(await read(`${name}.png`));
    const h = list[0].data;
    assert.deepEqual([list[0].type, h[8], h[9], h[12]], ["IHDR", depth, colorType, interlaced ? 1 : 0], name);
    assert.equal(list.some((c) => c.type === "tRNS"), trns, `${name}: tRNS`);
    assert.equal(list.filter((c) => c.type === "IDAT").length > 1, multiIdat, `${name}: several IDATs`);
    if (filter >= 0) {
      const width = new DataView(h.buffer).getUint32(0), height = new DataView(h.buffer).getUint32(4);
      const channels = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 }[colorType]!;
      const stride = Math.ceil((width * channels * depth) / 8) + 1;
      const idat = list.filter((c) => c.type === "IDAT").map((c) => [...c.data]).flat();
      const raw = await decompress(new Uint8Array(idat), "deflate");
      for (let y = 0; y < height; y++) assert.equal(raw[y * stride], filter, `${name}: filter of row ${y}`);
    }
  }
});

for (const [name, colorType] of FIXTURES) {
  Deno.test(`decodes ${name}.png (ImageMagick) to ImageMagick's own greyscale`, async () => {
    const png = await read(`${name}.png`);
    const img = await decodePng(png, { source: `${name}.png` });
    const expected = await read(`${name}.gray`);
    assert.equal(img.width * img.height, expected.length);
    assert.equal(img.data.length, expected.length);
    const tolerance = colorType === 0 || colorType === 4 ? 0 : 1; // see the module comment
    const off: string[] = []; // "ours/ImageMagick's" of each pixel that differs
    for (let i = 0; i < expected.length; i++) {
      const d = Math.abs(img.data[i] - expected[i]);
      const where = `${name}: pixel ${i % img.width},${Math.floor(i / img.width)}`;
      assert.ok(d <= tolerance, `${where} is ${img.data[i]}, ImageMagick's ${expected[i]}`);
      if (d) off.push(`${img.data[i]}/${expected[i]}`);
    }
    // Rounding apart is rare: at most a tenth of the pixels of an RGB(A) image, or of the palette entries of a
    // palette image (where one entry may cover many pixels).
    if (colorType === 3) {
      const entries = chunks(png).find((c) => c.type === "PLTE")!.data.length / 3;
      const pairs = [...new Set(off)];
      assert.ok(pairs.length <= Math.max(2, entries / 10), `${name}: entries that differ ${pairs}`);
    } else {
      assert.ok(
        off.length <= expected.length / 10,
        `${name}: ${off.length} of ${expected.length} pixels differ`,
      );
    }
  });
}

Deno.test("sizes of the odd-sized and interlaced fixtures", async () => {
  const sizes = [["g1_i", 11, 7], ["g8_i_3x2", 3, 2], ["rgba8_i_1x1", 1, 1], ["rgb8", 16, 16]] as const;
  for (const [name, w, h] of sizes) {
    const img = await decodePng(await read(`${name}.png`));
    assert.deepEqual([img.width, img.height], [w, h], name);
  }
});

Deno.test("interlaced and plain files of the same picture decode alike", async () => {
  const pairs = [["g8", "g8_i"], ["rgb8", "rgb8_i"], ["rgba8", "rgba8_i"], ["p8", "p8_i"], [
    "rgb8",
    "rgb8_f3",
  ]];
  const decode = async (name: string) => (await decodePng(await read(`${name}.png`))).data;
  for (const [a, b] of pairs) assert.deepEqual(await decode(a), await decode(b), `${a} vs ${b}`);
});

Deno.test("tRNS makes its colour transparent, composited over black", async () => {
  for (const [plain, trns] of [["g4", "g4_trns"], ["g8", "g8_trns"]]) {
    const a = (await decodePng(await read(`${plain}.png`))).data,
      b = (await decodePng(await read(`${trns}.png`))).data;
    const changed = a.filter((v, i) => v !== b[i]).length;
    assert.ok(
      changed > 0 && b.every((v, i) => v === a[i] || v === 0),
      `${trns}: ${changed} pixels turned black`,
    );
  }
});

Deno.test("round trip with @lzn/data's encodePng: grey exactly, RGB as BT.601 luma", async () => {
  let seed = 7;
  const rand = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 24;
  const grey = Uint8Array.from({ length: 28 * 28 }, rand);
  const back = await decodePng(await encodePng({ pixels: grey, width: 28, height: 28, channels: 1 }));
  assert.deepEqual(back, { width: 28, height: 28, data: grey });
  // big enough that the decompressed stream arrives in several pieces
  const [w, h] = [400, 300];
  const rgb = Uint8Array.from({ length: w * h * 3 }, rand);
  const png = await encodePng({ pixels: rgb, width: w, height: h, channels: 3 });
  const luma = Uint8Array.from(
    { length: w * h },
    (_, i) => Math.floor((299 * rgb[3 * i] + 587 * rgb[3 * i + 1] + 114 * rgb[3 * i + 2] + 500) / 1000),
  );
  assert.deepEqual((await decodePng(png)).data, luma);
  // the same zlib stream cut into IDATs of 100 bytes
  const list = chunks(png), idat = list[1].data, pieces: Chunk[] = [];
  for (let i = 0; i < idat.length; i += 100) pieces.push({ type: "IDAT", data: idat.subarray(i, i + 100) });
  assert.deepEqual((await decodePng(build([list[0], ...pieces, list[2]]))).data, luma);
});

Deno.test("tEXt labels: withPngText inserts checked chunks after IHDR, pngText reads them, the image is the same", async () => {
  const grey = Uint8Array.from({ length: 28 * 28 }, (_, i) => (i * 13) % 256);
  const png = await encodePng({ pixels: grey, width: 28, height: 28, channels: 1 });
  assert.deepEqual(pngText(png), {});
  const text = { Software: "lzn run image", Comment: "caf\u00e9\nline two" };
  const labelled = withPngText(png, text);
  assert.deepEqual(pngText(labelled), text);
  assert.deepEqual(chunks(labelled).map((c) => c.type), ["IHDR", "tEXt", "tEXt", "IDAT", "IEND"]);
  assert.deepEqual(await decodePng(labelled), { width: 28, height: 28, data: grey }); // every CRC checked
  // Not PNG bytes, or a list that breaks off: no labels, no error (pngText reads labels, not images).
  assert.deepEqual(pngText(new TextEncoder().encode("hello")), {});
  assert.deepEqual(pngText(labelled.subarray(0, 40)), {});
  assert.throws(() => withPngText(new Uint8Array(8), text), /withPngText: not PNG bytes/);
  assert.throws(() => withPngText(png, { "": "x" }), /withPngText: bad text keyword ""/);
  assert.throws(() => withPngText(png, { " lead": "x" }), /bad text keyword " lead"/);
  assert.throws(() => withPngText(png, { Title: "\u4e2d" }), /withPngText: the text of Title is not Latin-1/);
});

Deno.test("hand-made edge cases: alpha over black, 16-bit rounding, unknown ancillary chunks, extra data", async () => {
  // grey+alpha 8-bit: white at alpha 128 -> 128; 16-bit grey 32896 -> 128 (32896 / 257 = 128)
  const grey = async (header: Uint8Array, raw: number[], extra: Chunk[] = []) =>
    Array.from((await decodePng(await handMade(header, raw, extra))).data);
  // grey+alpha 8-bit: white at alpha 128 over black -> 128
  assert.deepEqual(await grey(ihdr(1, 1, 8, 4), [0, 255, 128]), [128]);
  // 16 -> 8 bits rounds v / 257 to nearest: 33024 -> 128.498 -> 128, 33025 -> 128.502 -> 129
  assert.deepEqual(await grey(ihdr(2, 1, 16, 0), [0, 0x81, 0x00, 0x81, 0x01]), [128, 129]);
  // the tRNS colour must match in all three channels: (100,150,200) is transparent, (100,100,200) is not
  const key = [{ type: "tRNS", data: new Uint8Array([0, 100, 0, 150, 0, 200]) }];
  assert.deepEqual(await grey(ihdr(2, 1, 8, 2), [0, 100, 150, 200, 100, 100, 200], key), [0, 111]);
  // an unknown ancillary chunk is skipped; extra data after the image is tolerated
  assert.deepEqual(await grey(ihdr(1, 1, 8, 0), [0, 9], [{ type: "abCd", data: new Uint8Array(3) }]), [9]);
  assert.deepEqual(await grey(ihdr(1, 1, 8, 0), [0, 9, 0, 1, 2, 3]), [9]);
  assert.deepEqual(await grey(ihdr(1, 1, 8, 0), [0, 9, ...new Uint8Array(1 << 20)]), [9]); // stops reading early
});

Deno.test("errors: not a PNG, truncated, bad CRC (chunk named)", async () => {
  const good = await read("g8.png");
  await rejects(new TextEncoder().encode("GIF89a\x01\x00\x01\x00"), /^x\.gif: not a PNG file/, undefined, {
    source: "x.gif",
  });
  await rejects(new Uint8Array(), /truncated file: 0 bytes/);
  await rejects(good.subarray(0, 5), /truncated file/);
  const crlf = good.slice();
  crlf[4] = 0x0a; // "\r\n" turned into "\n\n"
  await rejects(crlf, /damaged PNG signature/);
  await rejects(good.subarray(0, 20), /truncated file: chunk IHDR/, "IHDR");
  await rejects(
    good.subarray(0, 100),
    /truncated file: chunk IDAT at byte 33 needs \d+ bytes, 67 left/,
    "IDAT",
  );
  await rejects(good.subarray(0, good.length - 12), /missing IEND chunk/, "IEND");
  await rejects(good.subarray(0, 33), /missing IEND/);
  for (const [at, chunk] of [[20, "IHDR"], [50, "IDAT"], [good.length - 2, "IEND"]] as const) {
    const bad = good.slice();
    bad[at] ^= 0x10;
    await rejects(
      bad,
      new RegExp(`bad CRC in chunk ${chunk} at byte \\d+ \\(stored 0x[0-9a-f]{8}, computed 0x[0-9a-f]{8}\\)`),
      chunk,
    );
  }
  // every chunk is checked, ancillary ones included
  const multi = await read("multi_idat.png");
  const bad = multi.slice();
  bad[offsetOf(multi, "tEXt") + 10] ^= 1; // a byte of the first tEXt chunk's text
  await rejects(bad, /bad CRC in chunk tEXt/, "tEXt");
});

Deno.test("errors: invalid header values, too large, missing chunks", async () => {
  const idat = chunks(await read("g8.png"))[1];
  const end = { type: "IEND", data: new Uint8Array() };
  const withHeader = (h: Uint8Array) => build([{ type: "IHDR", data: h }, idat, end]);
  await rejects(withHeader(ihdr(16, 16, 3, 0)), /invalid IHDR: bit depth 3 with colour type 0/, "IHDR");
  await rejects(withHeader(ihdr(16, 16, 16, 3)), /bit depth 16 with colour type 3 \(palette/, "IHDR");
  await rejects(withHeader(ihdr(16, 16, 8, 5)), /invalid IHDR: colour type 5/, "IHDR");
  await rejects(withHeader(ihdr(16, 16, 8, 0, 2)), /unsupported interlace method 2/, "IHDR");
  const compression = ihdr(16, 16, 8, 0);
  compression[10] = 1;
  await rejects(withHeader(compression), /unsupported compression method 1/, "IHDR");
  await rejects(withHeader(ihdr(0, 16, 8, 0)), /invalid IHDR: image size 0x16/, "IHDR");
  await rejects(
    withHeader(ihdr(PNG_MAX_DIMENSION + 1, 16, 8, 0)),
    /image too large: 16385x16 \(the limit is 16384x16384\)/,
  );
  await rejects(withHeader(ihdr(16, 16, 8, 0)), /too large: 16x16/, "IHDR", { maxDimension: 8 });
  await rejects(
    build([{ type: "IHDR", data: new Uint8Array(12) }, idat, end]),
    /invalid IHDR chunk: 12 bytes/,
  );
  await rejects(build([idat, end]), /the first chunk is IDAT, not IHDR/);
  await rejects(build([{ type: "IHDR", data: ihdr(16, 16, 8, 0) }, end]), /missing IDAT/, "IDAT");
  await rejects(
    build([{ type: "IHDR", data: ihdr(16, 16, 8, 3) }, idat, end]),
    /palette image without a PLTE/,
  );
  await rejects(
    build([{ type: "IHDR", data: ihdr(16, 16, 8, 0) }, { type: "ABCD", data: new Uint8Array() }, idat, end]),
    /unknown critical chunk ABCD/,
    "ABCD",
  );
  const p4 = chunks(await read("p4.png"));
  await rejects(
    build([p4[0], { type: "PLTE", data: new Uint8Array(7) }, ...p4.slice(2)]),
    /invalid PLTE chunk: 7 bytes/,
    "PLTE",
  );
  await rejects(
    build([p4[0], p4[1], { type: "tRNS", data: new Uint8Array(300) }, ...p4.slice(2)]),
    /tRNS chunk has 300 entries, PLTE only/,
    "tRNS",
  );
  const g8 = chunks(await read("g8.png"));
  await rejects(
    build([g8[0], { type: "tRNS", data: new Uint8Array(6) }, ...g8.slice(1)]),
    /invalid tRNS chunk: 6 bytes for colour type 0/,
  );
});

Deno.test("errors: corrupt or short image data, bad filter type, palette index out of range", async () => {
  const h = { type: "IHDR", data: ihdr(4, 2, 8, 0) }, end = { type: "IEND", data: new Uint8Array() };
  await rejects(
    build([h, { type: "IDAT", data: new Uint8Array([0x78, 0x9c, 1, 2, 3, 4, 5]) }, end]),
    /corrupt image data in IDAT/,
    "IDAT",
  );
  const good = chunks(await read("g8.png"));
  const cut = { type: "IDAT", data: good[1].data.subarray(0, good[1].data.length - 30) };
  await rejects(build([good[0], cut, end]), /corrupt image data in IDAT|image data too short/, "IDAT");
  // all image bytes present, but the zlib checksum (adler32, the last 4 bytes) is wrong
  const adler = good[1].data.slice();
  adler[adler.length - 1] ^= 1;
  await rejects(build([good[0], { type: "IDAT", data: adler }, end]), /corrupt image data in IDAT/, "IDAT");
  await rejects(
    await handMade(ihdr(4, 2, 8, 0), [0, 1, 2, 3, 4]),
    /image data too short: 5 of 10 bytes/,
    "IDAT",
  );
  await rejects(
    await handMade(ihdr(4, 2, 8, 0), [0, 1, 2, 3, 4, 5, 1, 2, 3, 4]),
    /unknown filter type 5 on scanline 1/,
    "IDAT",
  );
  const plte = [{ type: "PLTE", data: new Uint8Array([0, 0, 0, 255, 255, 255]) }];
  assert.deepEqual(
    (await decodePng(await handMade(ihdr(4, 1, 2, 3), [0, 0b00010001], plte))).data,
    Uint8Array.of(0, 255, 0, 255),
  );
  await rejects(
    await handMade(ihdr(4, 1, 2, 3), [0, 0b00011100], plte),
    /palette index 3 out of range \(PLTE has 2 entries\)/,
  );
});
