/**
 * A small NPY (NumPy `.npy`, format 1.0–3.0) reader and writer for the CLI's array input and output:
 * uint8, int32, int64 (NumPy's default integer), float32 and float64, little-endian, C order; float16 files
 * are read too, widened to float32 (every half-precision value is exact in float32).
 *
 * @module
 */
import { InputError } from "./errors.ts";

/**
 * Element types this module reads and writes.
 *
 * @example
 * ```ts
 * import { encodeNpy, type NpyDtype } from "@lzn/tasks";
 * const dtype: NpyDtype = "int32";
 * const bytes = encodeNpy({ dtype, shape: [3], data: Int32Array.from([7, 2, 1]) });
 * ```
 */
export type NpyDtype = "uint8" | "int32" | "int64" | "float32" | "float64";

/**
 * An array read from or written to an NPY file.
 *
 * @example
 * ```ts
 * import { decodeNpy, encodeNpy, type NpyArray } from "@lzn/tasks";
 * const latents: NpyArray = { dtype: "float32", shape: [2, 3], data: new Float32Array(6) };
 * const back: NpyArray = decodeNpy(encodeNpy(latents));
 * console.log(back.shape); // [2, 3]
 * ```
 */
export interface NpyArray {
  /** Element type. */
  dtype: NpyDtype;
  /** Dimensions, outermost first. */
  shape: number[];
  /** Row-major elements. */
  data: Uint8Array | Int32Array | BigInt64Array | Float32Array | Float64Array;
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY
const DESCR: Record<NpyDtype, string> = {
  uint8: "|u1",
  int32: "<i4",
  int64: "<i8",
  float32: "<f4",
  float64: "<f8",
};
const FROM_DESCR: Record<string, NpyDtype> = {
  "|u1": "uint8",
  "<u1": "uint8",
  "u1": "uint8",
  "<i4": "int32",
  "<i8": "int64",
  "<f4": "float32",
  "<f8": "float64",
};

/**
 * Encodes an array as NPY 1.0 bytes.
 *
 * @example
 * ```ts
 * import { encodeNpy } from "@lzn/tasks";
 * const bytes = encodeNpy({ dtype: "float32", shape: [2, 2], data: new Float32Array([1, 2, 3, 4]) });
 * ```
 */
export function encodeNpy(array: NpyArray): Uint8Array {
  const n = array.shape.reduce((a, b) => a * b, 1);
  if (array.data.length !== n) {
    throw new Error(`npy: shape [${array.shape}] needs ${n} values, got ${array.data.length}`);
  }
  const shape = array.shape.length === 1 ? `(${array.shape[0]},)` : `(${array.shape.join(", ")})`;
  let header = `{'descr': '${DESCR[array.dtype]}', 'fortran_order': False, 'shape': ${shape}, }`;
  const total = 10 + header.length + 1;
  header += " ".repeat((64 - (total % 64)) % 64) + "\n";
  const head = new TextEncoder().encode(header);
  const body = new Uint8Array(array.data.buffer, array.data.byteOffset, array.data.byteLength);
  const out = new Uint8Array(10 + head.length + body.length);
  out.set(MAGIC, 0);
  out[6] = 1;
  out[7] = 0;
  new DataView(out.buffer).setUint16(8, head.length, true);
  out.set(head, 10);
  out.set(body, 10 + head.length);
  return out;
}

/**
 * Decodes NPY bytes; `where` names the source in errors.
 *
 * @example
 * ```ts
 * import { decodeNpy, encodeNpy } from "@lzn/tasks";
 * const a = decodeNpy(encodeNpy({ dtype: "uint8", shape: [3], data: new Uint8Array([1, 2, 3]) }));
 * console.log(a.shape); // [3]
 * ```
 */
export function decodeNpy(bytes: Uint8Array, where = "(bytes)"): NpyArray {
  const fail = (why: string): never => {
    throw new InputError(`${where} is not a readable .npy file: ${why}`);
  };
  if (bytes.length < 10 || MAGIC.some((b, i) => bytes[i] !== b)) fail("no NPY magic (\\x93NUMPY)");
  const major = bytes[6];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let headerLen: number, start: number;
  if (major === 1) [headerLen, start] = [view.getUint16(8, true), 10];
  else if (major === 2 || major === 3) [headerLen, start] = [view.getUint32(8, true), 12];
  else return fail(`unknown format version ${major}`);
  if (start + headerLen > bytes.length) fail("truncated header");
  const header = new TextDecoder().decode(bytes.subarray(start, start + headerLen));
  const descr = /'descr'\s*:\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) {
    fail(`malformed header ${header.trim()}`);
  }
  const half = descr === "<f2";
  const dtype = half ? "float32" : FROM_DESCR[descr!] ??
    fail(
      `element type ${descr} (supported: uint8, int32, int64, float16, float32, float64${
        descr!.startsWith(">") ? `, little-endian: save with .astype('<${descr!.slice(1)}')` : ""
      })`,
    );
  if (fortran === "True") fail("Fortran-order arrays are not supported (save with np.ascontiguousarray)");
  const shape = shapeText!.split(",").map((s) => s.trim()).filter((s) => s.length).map(Number);
  if (shape.some((d) => !Number.isInteger(d) || d < 0)) fail(`bad shape (${shapeText})`);
  const n = shape.reduce((a, b) => a * b, 1);
  const width = half ? 2 : { uint8: 1, int32: 4, int64: 8, float32: 4, float64: 8 }[dtype];
  const offset = start + headerLen;
  if (bytes.length - offset < n * width) {
    fail(`truncated data: shape (${shapeText}) needs ${n * width} bytes`);
  }
  const raw = bytes.slice(offset, offset + n * width).buffer;
  if (half) return { dtype, shape, data: widenHalf(new Uint16Array(raw)) };
  const data = dtype === "uint8"
    ? new Uint8Array(raw)
    : dtype === "int32"
    ? new Int32Array(raw)
    : dtype === "int64"
    ? new BigInt64Array(raw)
    : dtype === "float32"
    ? new Float32Array(raw)
    : new Float64Array(raw);
  return { dtype, shape, data };
}

/** IEEE 754 half-precision bit patterns to float32 (subnormals, infinities and NaN included). */
function widenHalf(bits: Uint16Array): Float32Array {
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) {
    const h = bits[i], sign = h & 0x8000 ? -1 : 1, exp = (h >> 10) & 0x1f, frac = h & 0x3ff;
    out[i] = exp === 0
      ? sign * frac * 2 ** -24
      : exp === 31
      ? (frac ? NaN : sign * Infinity)
      : sign * (1 + frac / 1024) * 2 ** (exp - 15);
  }
  return out;
}

/**
 * Reads an NPY file.
 *
 * @example
 * ```ts ignore
 * import { readNpy } from "@lzn/tasks";
 * const { shape, data } = await readNpy("digits.npy");
 * ```
 */
export async function readNpy(path: string): Promise<NpyArray> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw new InputError(`input file not found: ${path}`);
    if (e instanceof Deno.errors.IsADirectory) {
      throw new InputError(`${path} is a directory, not a .npy file`);
    }
    throw e;
  }
  return decodeNpy(bytes, path);
}

/**
 * Writes an NPY file.
 *
 * @example
 * ```ts
 * import { writeNpy } from "@lzn/tasks";
 * await writeNpy("/tmp/a.npy", { dtype: "float32", shape: [1], data: new Float32Array([1]) });
 * ```
 */
export async function writeNpy(path: string, array: NpyArray): Promise<void> {
  await Deno.writeFile(path, encodeNpy(array));
}
