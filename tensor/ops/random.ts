/**
 * Counter-based randomness on the GPU: Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as
 * 1, 2, 3", SC'11) keyed by a seed. Every 4 outputs come from one Philox block whose 128-bit counter is
 * `(block index, 0, offset low, offset high)` and whose 64-bit key is the seed, so
 *
 * - the same `(seed, offset)` always gives the same numbers, on any device and in any launch order;
 * - different offsets are disjoint counter ranges of the same bijection: independent streams, which is
 *   how a training step draws noise for several purposes from one seed without any state on the GPU.
 *
 * Seed and offset travel in the uniform params block, never baked into WGSL, so drawing fresh noise every
 * step reuses one compiled pipeline. {@link SeedStream} turns one base seed into a reproducible sequence of
 * fresh seeds on the host.
 *
 * @module
 */
import { kernel } from "../kernel.ts";
import { dispatch } from "../recorder.ts";
import { Tensor } from "../tensor.ts";
import { linearGrid, linearIndex } from "./grid.ts";

/**
 * Where random numbers come from: a seed and a stream offset (both integers in `[0, 2^53)`).
 *
 * @example
 * ```ts
 * import { randn, type RandomOptions } from "@lzn/tensor";
 * const noise: RandomOptions = { seed: 42, offset: 1 };
 * const a = randn([4, 8], noise);
 * const b = randn([4, 8], noise); // identical to `a`: same seed and offset
 * const c = randn([4, 8], { seed: 42, offset: 2 }); // an independent stream
 * ```
 */
export interface RandomOptions {
  /** The key. Same seed and offset -> same numbers. */
  seed: number;
  /** The stream within the seed (default 0); different offsets give independent numbers. */
  offset?: number;
}

const M0 = 0xd2511f53, M1 = 0xcd9e8d57, W0 = 0x9e3779b9, W1 = 0xbb67ae85;
const WG = 256;

/** High and low 32 bits of a 32x32-bit product, from exact 16-bit partial products (no 64-bit ints needed). */
function mulHiLo(a: number, b: number): [number, number] {
  const aL = a & 0xffff, aH = a >>> 16, bL = b & 0xffff, bH = b >>> 16;
  const ll = aL * bL, lh = aL * bH, hl = aH * bL, hh = aH * bH;
  const mid = (ll >>> 16) + (lh & 0xffff) + (hl & 0xffff);
  return [(hh + (lh >>> 16) + (hl >>> 16) + Math.floor(mid / 65536)) >>> 0, Math.imul(a, b) >>> 0];
}

/**
 * The Philox4x32-10 block function on the host (the reference the GPU kernel is tested against).
 *
 * @example
 * ```ts
 * import { philox4x32 } from "@lzn/tensor";
 * philox4x32([0, 0, 0, 0], [0, 0]); // [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8] (Random123 test vector)
 * ```
 */
export function philox4x32(
  counter: readonly number[],
  key: readonly number[],
): [number, number, number, number] {
  let [c0, c1, c2, c3] = counter.map((v) => v >>> 0);
  let [k0, k1] = key.map((v) => v >>> 0);
  for (let round = 0; round < 10; round++) {
    const [hi0, lo0] = mulHiLo(M0, c0);
    const [hi1, lo1] = mulHiLo(M1, c2);
    [c0, c1, c2, c3] = [(hi1 ^ c1 ^ k0) >>> 0, lo1, (hi0 ^ c3 ^ k1) >>> 0, lo0];
    k0 = (k0 + W0) >>> 0;
    k1 = (k1 + W1) >>> 0;
  }
  return [c0, c1, c2, c3];
}

function split53(v: number, what: string): [number, number] {
  if (!Number.isSafeInteger(v) || v < 0) {
    throw new Error(`lzn: random ${what} must be an integer in [0, 2^53), got ${v}`);
  }
  return [v >>> 0, Math.floor(v / 4294967296) >>> 0];
}

const PHILOX_WGSL = /* wgsl */ `
fn mul_hi(a: u32, b: u32) -> u32 {
  let aL = a & 0xffffu; let aH = a >> 16u; let bL = b & 0xffffu; let bH = b >> 16u;
  let lh = aL * bH; let hl = aH * bL;
  let mid = ((aL * bL) >> 16u) + (lh & 0xffffu) + (hl & 0xffffu);
  return aH * bH + (lh >> 16u) + (hl >> 16u) + (mid >> 16u);
}
fn philox(counter: vec4u, key: vec2u) -> vec4u {
  var c = counter; var k = key;
  for (var round = 0u; round < 10u; round = round + 1u) {
    let p0 = ${M0}u * c.x; let p1 = ${M1}u * c.z;
    c = vec4u(mul_hi(${M1}u, c.z) ^ c.y ^ k.x, p1, mul_hi(${M0}u, c.x) ^ c.w ^ k.y, p0);
    k = k + vec2u(${W0}u, ${W1}u);
  }
  return c;
}
fn unit(bits: u32) -> f32 { return f32(bits >> 8u) * ${2 ** -24}; }
struct Params { key: vec2u, off: vec2u, n: u32, p0: u32, p1: u32, p2: u32 }`;

type Draw = "bits" | "uniform" | "normal";

/** The four values a block writes, from its Philox output `r`. */
function lanes(kind: Draw): string {
  switch (kind) {
    case "bits":
      return "let v = r;";
    case "uniform":
      return "let v = vec4f(unit(r.x), unit(r.y), unit(r.z), unit(r.w));";
    case "normal":
      // Box–Muller on two pairs; 1 - unit() lies in (0, 1], so the log is finite (|z| <= 5.8).
      return `let rad = sqrt(-2.0 * log(1.0 - vec2f(unit(r.x), unit(r.z))));
    let th = 6.283185307179586 * vec2f(unit(r.y), unit(r.w));
    let v = vec4f(rad.x * cos(th.x), rad.x * sin(th.x), rad.y * cos(th.y), rad.y * sin(th.y));`;
    default:
      return kind satisfies never;
  }
}

function draw(kind: Draw, shape: readonly number[], opts: RandomOptions): Tensor {
  const out = Tensor.empty(shape, kind === "bits" ? "u32" : "f32");
  const n = out.size;
  if (n === 0) return out;
  const blocks = Math.ceil(n / 4);
  const elem = kind === "bits" ? "u32" : "f32";
  const wgsl = `@group(0) @binding(0) var<storage, read_write> Y: array<${elem}>;
${PHILOX_WGSL}
@group(0) @binding(1) var<uniform> u: Params;
@compute @workgroup_size(${WG}) fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let b = ${linearIndex(WG)};
  let i = b * 4u;
  if (i >= u.n) { return; }
  let r = philox(vec4u(b, 0u, u.off), u.key);
  ${lanes(kind)}
  Y[i] = v.x;
  if (i + 1u < u.n) { Y[i + 1u] = v.y; }
  if (i + 2u < u.n) { Y[i + 2u] = v.z; }
  if (i + 3u < u.n) { Y[i + 3u] = v.w; }
}`;
  const k = kernel({ name: `random_${kind}`, wgsl, storage: ["read_write"], uniform: 32 });
  const params = new Uint32Array([
    ...split53(opts.seed, "seed"),
    ...split53(opts.offset ?? 0, "offset"),
    n,
    0,
    0,
    0,
  ]);
  dispatch({ kernel: k, buffers: [out.buffer], params, workgroups: linearGrid(blocks, WG).workgroups });
  return out;
}

/**
 * Standard normal samples (Box–Muller on Philox4x32-10 uniforms).
 *
 * @example
 * ```ts
 * import { randn } from "@lzn/tensor";
 * const noise = randn([64, 16], { seed: 42, offset: 3 }); // reproducible: same seed/offset -> same noise
 * ```
 */
export function randn(shape: readonly number[], opts: RandomOptions): Tensor {
  return draw("normal", shape, opts);
}

/**
 * Uniform samples in `[0, 1)` with 24 random bits each.
 *
 * @example
 * ```ts
 * import { rand } from "@lzn/tensor";
 * const u = rand([1000], { seed: 7 });
 * ```
 */
export function rand(shape: readonly number[], opts: RandomOptions): Tensor {
  return draw("uniform", shape, opts);
}

/**
 * Raw 32-bit Philox outputs as a u32 tensor (element `4b + j` is word `j` of block `b`).
 *
 * @example
 * ```ts
 * import { randomBits } from "@lzn/tensor";
 * const bits = randomBits([4], { seed: 0 }); // philox4x32([0, 0, 0, 0], [0, 0])
 * ```
 */
export function randomBits(shape: readonly number[], opts: RandomOptions): Tensor {
  return draw("bits", shape, opts);
}

/**
 * A reproducible sequence of fresh seeds derived from one base seed (Philox of the base seed, counter = draw
 * number). Give every consumer of randomness its own seed from one stream and a run replays exactly.
 *
 * @example
 * ```ts
 * import { randn, SeedStream } from "@lzn/tensor";
 * const seeds = new SeedStream(1234);
 * const a = randn([8], { seed: seeds.next() });
 * const b = randn([8], { seed: seeds.next() }); // different noise; a new SeedStream(1234) replays both
 * ```
 */
export class SeedStream {
  #key: [number, number];
  #count = 0;

  /** Starts the stream at `seed` (an integer in `[0, 2^53)`). */
  constructor(seed: number) {
    this.#key = split53(seed, "seed");
  }

  /** Number of seeds drawn so far. */
  get drawn(): number {
    return this.#count;
  }

  /** The next seed, an integer in `[0, 2^53)`. */
  next(): number {
    const n = this.#count++;
    const [w0, w1] = philox4x32([n >>> 0, Math.floor(n / 4294967296) >>> 0, 0x5eed, 0], this.#key);
    return w0 + (w1 & 0x1fffff) * 4294967296;
  }
}
