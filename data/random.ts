/**
 * A small deterministic pseudo-random generator (splitmix32) for shuffling and augmentation on the CPU.
 * Same seed -> same sequence on every platform; no global state.
 *
 * @module
 */

/**
 * A seeded stream of random numbers.
 *
 * @example
 * ```ts
 * import { createRng, type Rng } from "@lzn/data";
 * const rng: Rng = createRng(7);
 * console.log(rng.int(10), rng.uniform(-1, 1), rng.normal());
 * ```
 */
export interface Rng {
  /** The next uniform 32-bit unsigned integer. */
  nextU32(): number;
  /** The next uniform float in [0, 1). */
  next(): number;
  /** A uniform float in [lo, hi). */
  uniform(lo: number, hi: number): number;
  /** A uniform integer in [0, n). */
  int(n: number): number;
  /** A standard normal sample (Box-Muller). */
  normal(): number;
}

/** The splitmix32 finaliser: a bijective avalanche mix of a 32-bit integer. */
function mix32(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

/**
 * Hashes integers (seed, epoch, index, ...) into one 32-bit seed, so that independent streams can be derived
 * from one user seed without correlations.
 *
 * @example
 * ```ts
 * import { createRng, hashSeed } from "@lzn/data";
 * const rngForImage7 = createRng(hashSeed(42, 7));
 * console.log(rngForImage7.next() < 1); // true
 * ```
 */
export function hashSeed(...parts: number[]): number {
  let h = 0x9e3779b9;
  for (const part of parts) {
    if (!Number.isFinite(part)) throw new RangeError(`hashSeed: expected finite numbers, got ${part}`);
    // Fold in the high bits too, so seeds above 2^32 are not silently truncated.
    h = mix32(h ^ mix32((part >>> 0) + 0x6d2b79f5));
    h = mix32(h ^ mix32(Math.floor(part / 0x100000000) >>> 0));
  }
  return h;
}

/**
 * Creates a splitmix32 generator from a seed (any finite number; it is hashed first).
 *
 * @example
 * ```ts
 * import { createRng } from "@lzn/data";
 * const a = createRng(1), b = createRng(1);
 * console.log(a.next() === b.next()); // true
 * ```
 */
export function createRng(seed: number): Rng {
  let state = hashSeed(seed);
  let spareNormal: number | undefined;
  const nextU32 = (): number => {
    state = (state + 0x9e3779b9) >>> 0;
    return mix32(state);
  };
  const next = (): number => nextU32() / 0x100000000;
  return {
    nextU32,
    next,
    uniform: (lo, hi) => lo + (hi - lo) * next(),
    int: (n) => Math.floor(next() * n),
    normal: () => {
      if (spareNormal !== undefined) {
        const z = spareNormal;
        spareNormal = undefined;
        return z;
      }
      const u = 1 - next(); // (0, 1]: log stays finite
      const r = Math.sqrt(-2 * Math.log(u));
      const theta = 2 * Math.PI * next();
      spareNormal = r * Math.sin(theta);
      return r * Math.cos(theta);
    },
  };
}

/**
 * A seeded uniformly random permutation of 0..n-1 (Fisher-Yates).
 *
 * @example
 * ```ts
 * import { permutation } from "@lzn/data";
 * const p = permutation(5, 123);
 * console.log([...p].sort()); // [0, 1, 2, 3, 4]
 * ```
 */
export function permutation(n: number, seed: number): Int32Array {
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) out[i] = i;
  const rng = createRng(seed);
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    const t = out[i];
    out[i] = out[j];
    out[j] = t;
  }
  return out;
}
