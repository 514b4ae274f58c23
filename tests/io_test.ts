/**
 * Safetensors: round trips (f32 + i32 + u32, metadata, scalars, empty tensors, files) and rejection of corrupt
 * files with an error that names the problem.
 */
import { strict as assert } from "node:assert";
import { bufferPool, crc32, tensor } from "../tensor/mod.ts";
import {
  decodeSafetensors,
  encodeSafetensors,
  loadSafetensors,
  saveSafetensors,
  serializeSafetensors,
} from "../tensor/io/safetensors.ts";
import { assertNoLeak } from "./util.ts";

/** Builds a file by hand from a header object and a data section. */
function rawFile(header: unknown, data: Uint8Array, lengthOverride?: bigint): Uint8Array {
  const json = new TextEncoder().encode(typeof header === "string" ? header : JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, lengthOverride ?? BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

const f32Bytes = (vals: number[]) => new Uint8Array(new Float32Array(vals).buffer);

Deno.test("safetensors: GPU round trip of f32, i32, u32, a scalar and an empty tensor, with metadata", async () => {
  await assertNoLeak(async () => {
    const w = tensor([1.5, -2, 3.25, 1e-30, -0, 7], [2, 3]);
    const idx = tensor([-1, 0, 2147483647], [3], { dtype: "i32" });
    const cnt = tensor([0, 4294967295], [2], { dtype: "u32" });
    const s = tensor([42], []);
    const e = tensor([], [0, 4]);
    const bytes = await serializeSafetensors({ w, idx, cnt, s, e }, { step: "12", config: '{"lr":1e-4}' });
    // Header length is a multiple of 8 and the data starts right after it.
    const hl = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    assert.equal(hl % 8, 0);
    assert.equal(bytes.length, 8 + hl + (6 + 3 + 2 + 1) * 4);
    const { tensors, metadata } = await loadSafetensors(bytes);
    const { crc32: check, ...rest } = metadata;
    assert.deepEqual(rest, { step: "12", config: '{"lr":1e-4}' });
    assert.match(check, /^[0-9a-f]{8}$/, "every file carries the CRC-32 of its data");
    assert.deepEqual(Object.keys(tensors), ["w", "idx", "cnt", "s", "e"]);
    assert.deepEqual(tensors.w.shape, [2, 3]);
    assert.deepEqual([...await tensors.w.toArray()], [1.5, -2, 3.25, Math.fround(1e-30), -0, 7]);
    assert.equal(tensors.idx.dtype, "i32");
    assert.deepEqual([...await tensors.idx.toTypedArray()], [-1, 0, 2147483647]);
    assert.equal(tensors.cnt.dtype, "u32");
    assert.deepEqual([...await tensors.cnt.toTypedArray()], [0, 4294967295]);
    assert.deepEqual(tensors.s.shape, []);
    assert.equal(await tensors.s.item(), 42);
    assert.deepEqual(tensors.e.shape, [0, 4]);
    for (const t of [w, idx, cnt, s, e, ...Object.values(tensors)]) t.dispose();
  }, "safetensors round trip");
});

Deno.test("safetensors: file save is atomic and loads back; the header matches the reference layout", async () => {
  const dir = await Deno.makeTempDir({ prefix: "lzn_io_" });
  try {
    const path = `${dir}/ckpt.safetensors`;
    const a = tensor([1, 2, 3, 4], [2, 2]);
    await saveSafetensors(path, { a }, { note: "x" });
    await saveSafetensors(path, { a }, { note: "y" }); // overwrite in place
    const names = [...Deno.readDirSync(dir)].map((d) => d.name);
    assert.deepEqual(names, ["ckpt.safetensors"], "no temporary files are left behind");
    const bytes = await Deno.readFile(path);
    const hl = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + hl)));
    const crc = crc32(new Uint8Array(new Float32Array([1, 2, 3, 4]).buffer)).toString(16).padStart(8, "0");
    assert.deepEqual(header, {
      __metadata__: { note: "y", crc32: crc },
      a: { dtype: "F32", shape: [2, 2], data_offsets: [0, 16] },
    });
    const { tensors, metadata } = await loadSafetensors(path);
    assert.equal(metadata.note, "y");
    assert.deepEqual([...await tensors.a.toArray()], [1, 2, 3, 4]);
    a.dispose();
    tensors.a.dispose();
    await assert.rejects(() => loadSafetensors(`${dir}/missing.safetensors`), (e: Error) => {
      assert.ok(e instanceof Deno.errors.NotFound, "the class says what happened");
      assert.equal(e.message, `lzn: no safetensors file at ${dir}/missing.safetensors`);
      return true;
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("safetensors: host encode/decode round trip", () => {
  const bytes = encodeSafetensors({
    x: { dtype: "f32", shape: [3], data: new Float32Array([1, 2, 3]) },
    y: { dtype: "i32", shape: [1, 1], data: new Int32Array([-5]) },
  });
  const { tensors, metadata } = decodeSafetensors(bytes);
  assert.deepEqual(Object.keys(metadata), ["crc32"]);
  assert.deepEqual([...tensors.x.data], [1, 2, 3]);
  assert.deepEqual([...tensors.y.data], [-5]);
  assert.throws(
    () => encodeSafetensors({ x: { dtype: "f32", shape: [2], data: new Float32Array(3) } }),
    /3 values for shape \[2\]/,
  );
});

Deno.test("safetensors: a flipped bit in the data fails the checksum; a file without one (another writer) still loads", () => {
  const bytes = encodeSafetensors({ w: { dtype: "f32", shape: [4], data: new Float32Array([1, 2, 3, 4]) } }, {
    step: "3",
  });
  const flipped = bytes.slice();
  flipped[flipped.length - 5] ^= 0x01;
  assert.throws(
    () => decodeSafetensors(flipped),
    /data checksum mismatch \(crc32 [0-9a-f]{8}, the header says [0-9a-f]{8}\): the file is damaged/,
  );
  assert.throws(() => encodeSafetensors({}, { crc32: "0" }), /"crc32" is reserved/);
  const foreign = rawFile({
    __metadata__: { step: "3" },
    w: { dtype: "F32", shape: [1], data_offsets: [0, 4] },
  }, new Uint8Array(4));
  assert.deepEqual(decodeSafetensors(foreign).metadata, { step: "3" });
});

Deno.test("safetensors: corrupt files are rejected with an error naming the problem", () => {
  const good = encodeSafetensors({
    a: { dtype: "f32", shape: [2], data: new Float32Array([1, 2]) },
    b: { dtype: "i32", shape: [1], data: new Int32Array([3]) },
  });
  const cases: [string, Uint8Array, RegExp][] = [
    ["empty file", new Uint8Array(0), /too short for the header length/],
    [
      "truncated data",
      good.subarray(0, good.length - 2),
      /"b" data_offsets \[8, 12\] are out of range: the data section is 10 bytes, the header needs 12 \(truncated/,
    ],
    ["truncated header", good.subarray(0, 20), /exceeds the file .* truncated/],
    ["huge header length", rawFile({}, new Uint8Array(0), 1n << 40n), /header length \d+ is outside/],
    ["header length past the end", rawFile({}, new Uint8Array(0), 4000n), /exceeds the file/],
    ["bad JSON", rawFile("{not json", new Uint8Array(0)), /not valid UTF-8 JSON/],
    ["header not an object", rawFile("[1,2]", new Uint8Array(0)), /must be a JSON object/],
    [
      "offsets out of range",
      rawFile({ a: { dtype: "F32", shape: [4], data_offsets: [0, 16] } }, f32Bytes([1, 2])),
      /"a" data_offsets \[0, 16\] are out of range: the data section is 8 bytes/,
    ],
    [
      "unknown dtype",
      rawFile({ a: { dtype: "F33", shape: [2], data_offsets: [0, 8] } }, f32Bytes([1, 2])),
      /unknown dtype "F33"/,
    ],
    [
      "unsupported dtype",
      rawFile({ a: { dtype: "F16", shape: [4], data_offsets: [0, 8] } }, f32Bytes([1, 2])),
      /dtype F16, which is not supported/,
    ],
    [
      "size does not match shape",
      rawFile({ a: { dtype: "F32", shape: [3], data_offsets: [0, 8] } }, f32Bytes([1, 2])),
      /spans 8 bytes but shape \[3\] of F32 needs 12/,
    ],
    [
      "overlapping tensors",
      rawFile({
        a: { dtype: "F32", shape: [2], data_offsets: [0, 8] },
        b: { dtype: "F32", shape: [2], data_offsets: [4, 12] },
      }, f32Bytes([1, 2, 3])),
      /"b" overlaps the previous tensor/,
    ],
    [
      "hole in the data",
      rawFile({ a: { dtype: "F32", shape: [1], data_offsets: [4, 8] } }, f32Bytes([1, 2])),
      /hole in the data before tensor "a"/,
    ],
    [
      "trailing bytes",
      rawFile({ a: { dtype: "F32", shape: [1], data_offsets: [0, 4] } }, f32Bytes([1, 2])),
      /4 trailing bytes/,
    ],
    [
      "negative / reversed offsets",
      rawFile({ a: { dtype: "F32", shape: [1], data_offsets: [8, 4] } }, f32Bytes([1, 2])),
      /invalid data_offsets \[8,4\]/,
    ],
    [
      "bad shape",
      rawFile({ a: { dtype: "F32", shape: [-1], data_offsets: [0, 4] } }, f32Bytes([1])),
      /invalid shape \[-1\]/,
    ],
    [
      "non-string metadata",
      rawFile({ __metadata__: { step: 3 } }, new Uint8Array(0)),
      /__metadata__ "step" is not a string/,
    ],
  ];
  for (const [what, bytes, re] of cases) {
    assert.throws(() => decodeSafetensors(bytes), (e: Error) => {
      assert.match(e.message, /^safetensors: /, what);
      assert.match(e.message, re, what);
      return true;
    }, what);
  }
});

Deno.test("safetensors: a corrupt file on disk names the path; no GPU buffers are allocated", async () => {
  const dir = await Deno.makeTempDir({ prefix: "lzn_io_" });
  try {
    const path = `${dir}/bad.safetensors`;
    await Deno.writeFile(path, new Uint8Array([1, 0, 0]));
    const live = bufferPool.live;
    await assert.rejects(() => loadSafetensors(path), /too short .*\(in .*bad\.safetensors\)/);
    assert.equal(bufferPool.live, live);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
