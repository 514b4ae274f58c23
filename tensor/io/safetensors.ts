/**
 * Safetensors checkpoints: an 8-byte little-endian header length, a JSON header
 * `{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {...}}`, then the raw little-endian data.
 * Files are written atomically (temporary file, fsync, rename), so a run killed mid-save never leaves a
 * half-written checkpoint; loading validates the header completely and names the problem when it is wrong.
 * Every file lzn writes carries the CRC-32 of its data section in the metadata (key `crc32`, 8 hex digits),
 * checked on load, so flipped bits in a checkpoint are an error instead of silently wrong weights; files
 * from other writers, without the key, load as before.
 *
 * GPU tensors are read back in one batched copy (not one round trip per tensor).
 *
 * @module
 */
import { bufferPool } from "../pool.ts";
import { crc32 } from "./crc32.ts";
import { copyBuffer } from "../recorder.ts";
import { readBuffer, upload } from "../transfer.ts";
import { type DType, shapeSize, Tensor } from "../tensor.ts";

/**
 * Host-side tensor data as stored in a safetensors file.
 *
 * @example
 * ```ts
 * import { encodeSafetensors, type HostTensor } from "@lzn/tensor";
 * const w: HostTensor = { dtype: "f32", shape: [2, 2], data: new Float32Array([1, 2, 3, 4]) };
 * const bytes = encodeSafetensors({ w });
 * ```
 */
export interface HostTensor {
  /** Element type. */
  dtype: DType;
  /** Dimensions, outermost first. */
  shape: number[];
  /** Row-major elements. */
  data: Float32Array | Int32Array | Uint32Array;
}

/**
 * Decoded file contents: tensors in file order, plus the string metadata.
 *
 * @example
 * ```ts
 * import { decodeSafetensors, encodeSafetensors, type HostTensor, type SafetensorsContents } from "@lzn/tensor";
 * const bytes = encodeSafetensors({ step: { dtype: "i32", shape: [1], data: new Int32Array([7]) } }, { run: "a" });
 * const { tensors, metadata }: SafetensorsContents<HostTensor> = decodeSafetensors(bytes);
 * console.log(tensors.step.data, metadata.run); // Int32Array [7] "a"
 * ```
 */
export interface SafetensorsContents<T> {
  /** Tensors by name. */
  tensors: Record<string, T>;
  /** The `__metadata__` map (empty when absent). */
  metadata: Record<string, string>;
}

const FILE_DTYPE: Record<DType, string> = { f32: "F32", i32: "I32", u32: "U32" };
const FROM_FILE: Record<string, DType> = { F32: "f32", I32: "i32", U32: "u32" };
/** Dtypes of the format we recognise but cannot hold (named in the error instead of "unknown dtype"). */
const UNSUPPORTED = new Set([
  "F64",
  "F16",
  "BF16",
  "I64",
  "I16",
  "I8",
  "U64",
  "U16",
  "U8",
  "BOOL",
  "F8_E4M3",
  "F8_E5M2",
]);
/** The reference implementation's limit; a larger "header" is a corrupt length field. */
const MAX_HEADER = 100 * 1024 * 1024;

/**
 * Encodes host tensors into safetensors bytes (header padded with spaces to 8 bytes, as the reference does).
 *
 * @example
 * ```ts
 * import { encodeSafetensors } from "@lzn/tensor";
 * const bytes = encodeSafetensors({ w: { dtype: "f32", shape: [2], data: new Float32Array([1, 2]) } }, { step: "3" });
 * console.log(bytes.length); // 8 + header + 8
 * ```
 */
export function encodeSafetensors(
  tensors: Record<string, HostTensor>,
  metadata: Record<string, string> = {},
): Uint8Array {
  const header: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(metadata)) {
    if (typeof v !== "string") {
      throw new Error(`safetensors: metadata "${k}" must be a string, got ${typeof v}`);
    }
  }
  if ("crc32" in metadata) throw new Error(`safetensors: metadata "crc32" is reserved for the data checksum`);
  let crc = 0;
  for (const t of Object.values(tensors)) {
    crc = crc32(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.length * 4), crc);
  }
  header.__metadata__ = { ...metadata, crc32: crc.toString(16).padStart(8, "0") };
  let offset = 0;
  for (const [name, t] of Object.entries(tensors)) {
    if (name === "__metadata__") throw new Error(`safetensors: "__metadata__" cannot be a tensor name`);
    const n = shapeSize(t.shape);
    if (t.data.length !== n) {
      throw new Error(
        `safetensors: tensor "${name}" has ${t.data.length} values for shape [${t.shape}] (${n})`,
      );
    }
    header[name] = { dtype: FILE_DTYPE[t.dtype], shape: t.shape, data_offsets: [offset, offset + n * 4] };
    offset += n * 4;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + padded + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(padded), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + padded);
  let pos = 8 + padded;
  for (const t of Object.values(tensors)) {
    // Typed arrays are little-endian on every platform Deno and WebGPU run on.
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.length * 4), pos);
    pos += t.data.length * 4;
  }
  return out;
}

/**
 * Decodes and validates safetensors bytes into host tensors. Throws a `safetensors: ...` error naming the
 * problem for a truncated file, a bad header length, bad JSON, an unknown dtype, or offsets that are out of
 * range, overlapping, leave holes, or do not match the shape.
 *
 * @example
 * ```ts
 * import { decodeSafetensors, encodeSafetensors } from "@lzn/tensor";
 * const bytes = encodeSafetensors({ i: { dtype: "i32", shape: [1], data: new Int32Array([7]) } });
 * const { tensors } = decodeSafetensors(bytes);
 * console.log(tensors.i.data); // Int32Array [7]
 * ```
 */
export function decodeSafetensors(bytes: Uint8Array): SafetensorsContents<HostTensor> {
  if (bytes.length < 8) {
    throw new Error(`safetensors: file is ${bytes.length} bytes, too short for the header length`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen = view.getBigUint64(0, true);
  if (headerLen < 2n || headerLen > BigInt(MAX_HEADER)) {
    throw new Error(`safetensors: header length ${headerLen} is outside [2, ${MAX_HEADER}] (corrupt file?)`);
  }
  const hl = Number(headerLen);
  if (8 + hl > bytes.length) {
    throw new Error(
      `safetensors: header length ${hl} exceeds the file (${bytes.length} bytes): truncated file?`,
    );
  }
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(8, 8 + hl)));
  } catch (e) {
    throw new Error(`safetensors: header is not valid UTF-8 JSON: ${(e as Error).message}`);
  }
  if (header === null || typeof header !== "object" || Array.isArray(header)) {
    throw new Error("safetensors: header must be a JSON object");
  }
  const dataStart = 8 + hl;
  const dataLen = bytes.length - dataStart;
  const metadata = readMetadata((header as Record<string, unknown>).__metadata__);
  const entries: { name: string; dtype: DType; shape: number[]; begin: number; end: number }[] = [];
  for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
    if (name === "__metadata__") continue;
    entries.push({ name, ...readEntry(name, raw) });
  }
  const far = entries.find((e) => e.end > dataLen);
  if (far) {
    const need = Math.max(...entries.map((e) => e.end));
    throw new Error(
      `safetensors: tensor "${far.name}" data_offsets [${far.begin}, ${far.end}] are out of range: the data ` +
        `section is ${dataLen} bytes, the header needs ${need} (truncated file?)`,
    );
  }
  // The format requires the data section to be covered exactly: sorted by offset, each tensor starts where the
  // previous one ended and the last one ends at the end of the file.
  const sorted = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let expected = 0;
  for (const e of sorted) {
    if (e.begin < expected) throw new Error(`safetensors: tensor "${e.name}" overlaps the previous tensor`);
    if (e.begin > expected) throw new Error(`safetensors: hole in the data before tensor "${e.name}"`);
    expected = e.end;
  }
  if (expected < dataLen) {
    throw new Error(`safetensors: ${dataLen - expected} trailing bytes after the last tensor`);
  }
  // Checked once the layout is known to be whole, so a truncated file is named as such, not as damaged.
  if (metadata.crc32 !== undefined) {
    const actual = crc32(bytes.subarray(dataStart)).toString(16).padStart(8, "0");
    if (actual !== metadata.crc32) {
      throw new Error(
        `safetensors: data checksum mismatch (crc32 ${actual}, the header says ${metadata.crc32}): the file is damaged`,
      );
    }
  }
  const tensors: Record<string, HostTensor> = {};
  for (const e of entries) {
    // Copy so the result is 4-byte aligned and independent of the input bytes.
    const chunk = bytes.slice(dataStart + e.begin, dataStart + e.end).buffer;
    const data = e.dtype === "f32"
      ? new Float32Array(chunk)
      : e.dtype === "i32"
      ? new Int32Array(chunk)
      : new Uint32Array(chunk);
    tensors[e.name] = { dtype: e.dtype, shape: e.shape, data };
  }
  return { tensors, metadata };
}

function readMetadata(raw: unknown): Record<string, string> {
  if (raw === undefined) return {};
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
    throw new Error("safetensors: __metadata__ must be an object of strings");
  }
  for (const [k, v] of Object.entries(raw)) {
    if (typeof v !== "string") throw new Error(`safetensors: __metadata__ "${k}" is not a string`);
  }
  return raw as Record<string, string>;
}

function readEntry(name: string, raw: unknown) {
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
    throw new Error(`safetensors: entry "${name}" must be an object`);
  }
  const { dtype, shape, data_offsets: offs } = raw as Record<string, unknown>;
  if (typeof dtype !== "string") throw new Error(`safetensors: tensor "${name}" has no dtype`);
  const dt = FROM_FILE[dtype];
  if (!dt) {
    throw new Error(
      UNSUPPORTED.has(dtype)
        ? `safetensors: tensor "${name}" has dtype ${dtype}, which is not supported (F32, I32, U32 only)`
        : `safetensors: tensor "${name}" has unknown dtype "${dtype}"`,
    );
  }
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new Error(`safetensors: tensor "${name}" has an invalid shape ${JSON.stringify(shape)}`);
  }
  if (
    !Array.isArray(offs) || offs.length !== 2 || !offs.every((o) => Number.isSafeInteger(o) && o >= 0) ||
    offs[1] < offs[0]
  ) {
    throw new Error(`safetensors: tensor "${name}" has invalid data_offsets ${JSON.stringify(offs)}`);
  }
  const [begin, end] = offs as [number, number];
  const need = shapeSize(shape) * 4;
  if (end - begin !== need) {
    throw new Error(
      `safetensors: tensor "${name}" spans ${
        end - begin
      } bytes but shape [${shape}] of ${dtype} needs ${need}`,
    );
  }
  return { dtype: dt, shape: shape as number[], begin, end };
}

/** Largest batch of tensors read back in one copy (stays well under every device's maxBufferSize). */
const READBACK_CHUNK = 64 * 1024 * 1024;

/**
 * Reads GPU tensors back to the host, batching them into one staging copy per 64 MiB (one round trip each).
 *
 * @example
 * ```ts
 * import { readTensors, tensor } from "@lzn/tensor";
 * const host = await readTensors({ w: tensor([1, 2], [2]) });
 * console.log(host.w.data); // Float32Array [1, 2]
 * ```
 */
export async function readTensors(tensors: Record<string, Tensor>): Promise<Record<string, HostTensor>> {
  const out: Record<string, HostTensor> = {};
  const names = Object.keys(tensors);
  let i = 0;
  while (i < names.length) {
    const batch: string[] = [];
    let bytes = 0;
    while (i < names.length && (batch.length === 0 || bytes + tensors[names[i]].size * 4 <= READBACK_CHUNK)) {
      bytes += tensors[names[i]].size * 4;
      batch.push(names[i++]);
    }
    const stage = bufferPool.acquire(Math.max(4, bytes));
    try {
      let pos = 0;
      for (const n of batch) {
        copyBuffer(tensors[n].buffer, 0, stage, pos, tensors[n].size * 4);
        pos += tensors[n].size * 4;
      }
      const raw = bytes > 0 ? await readBuffer(stage, 0, bytes) : new Uint8Array(0);
      pos = 0;
      for (const n of batch) {
        const t = tensors[n];
        const chunk = raw.slice(pos, pos + t.size * 4).buffer;
        pos += t.size * 4;
        const data = t.dtype === "f32"
          ? new Float32Array(chunk)
          : t.dtype === "i32"
          ? new Int32Array(chunk)
          : new Uint32Array(chunk);
        out[n] = { dtype: t.dtype, shape: [...t.shape], data };
      }
    } finally {
      bufferPool.release(stage);
    }
  }
  return out;
}

/**
 * Serialises GPU tensors (plus string metadata) to safetensors bytes.
 *
 * @example
 * ```ts
 * import { serializeSafetensors, tensor } from "@lzn/tensor";
 * const bytes = await serializeSafetensors({ w: tensor([1, 2], [2]) }, { note: "demo" });
 * ```
 */
export async function serializeSafetensors(
  tensors: Record<string, Tensor>,
  metadata: Record<string, string> = {},
): Promise<Uint8Array> {
  return encodeSafetensors(await readTensors(tensors), metadata);
}

/**
 * Writes GPU tensors to a safetensors file atomically: the bytes go to a temporary file in the same
 * directory, are fsync-ed, then renamed over `path` (needs write permission on the directory).
 *
 * @example
 * ```ts
 * import { saveSafetensors, tensor } from "@lzn/tensor";
 * await saveSafetensors("/tmp/ckpt.safetensors", { w: tensor([1, 2], [2]) }, { step: "10" });
 * ```
 */
export async function saveSafetensors(
  path: string,
  tensors: Record<string, Tensor>,
  metadata: Record<string, string> = {},
): Promise<void> {
  await writeFileAtomic(path, await serializeSafetensors(tensors, metadata));
}

/**
 * Writes bytes to `path` via a temporary sibling file, fsync and rename, so readers only ever see the old
 * or the complete new file.
 *
 * @example
 * ```ts
 * import { writeFileAtomic } from "@lzn/tensor";
 * await writeFileAtomic("/tmp/meta.json", new TextEncoder().encode("{}"));
 * ```
 */
export async function writeFileAtomic(path: string, bytes: Uint8Array): Promise<void> {
  const tmp = `${path}.tmp-${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`;
  try {
    const file = await Deno.open(tmp, { write: true, create: true, truncate: true });
    try {
      let off = 0;
      while (off < bytes.length) off += await file.write(bytes.subarray(off));
      await file.sync();
    } finally {
      file.close();
    }
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw e;
  }
}

/**
 * Loads a safetensors file (path) or bytes into GPU tensors. The tensors are fresh (not tracked by an
 * enclosing scope's caller unless created inside it) and owned by the caller.
 *
 * @example
 * ```ts
 * import { loadSafetensors, serializeSafetensors, tensor } from "@lzn/tensor";
 * const bytes = await serializeSafetensors({ w: tensor([1, 2], [2]) }, { step: "3" });
 * const { tensors, metadata } = await loadSafetensors(bytes);
 * console.log(tensors.w.shape, metadata.step); // [2] "3"
 * ```
 */
export async function loadSafetensors(source: string | Uint8Array): Promise<SafetensorsContents<Tensor>> {
  const bytes = typeof source === "string" ? await readFileOrSay(source) : source;
  let decoded: SafetensorsContents<HostTensor>;
  try {
    decoded = decodeSafetensors(bytes);
  } catch (e) {
    if (typeof source === "string") throw new Error(`${(e as Error).message} (in ${source})`);
    throw e;
  }
  const tensors: Record<string, Tensor> = {};
  for (const [name, h] of Object.entries(decoded.tensors)) {
    tensors[name] = new Tensor(h.shape, h.dtype, upload(h.data));
  }
  return { tensors, metadata: decoded.metadata };
}

/**
 * `Deno.readFile`, with a missing file or a denied read said in one line that names the file; the error keeps
 * its class (`Deno.errors.NotFound`, ...), so callers can still tell a missing file from a broken one.
 */
async function readFileOrSay(path: string): Promise<Uint8Array> {
  try {
    return await Deno.readFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new Deno.errors.NotFound(`lzn: no safetensors file at ${path}`);
    }
    if (e instanceof Deno.errors.NotCapable) {
      throw new Deno.errors.NotCapable(`lzn: no permission to read ${path} (run with --allow-read)`);
    }
    if (e instanceof Deno.errors.PermissionDenied) {
      throw new Deno.errors.PermissionDenied(`lzn: the system denies reading ${path}`);
    }
    throw e;
  }
}
