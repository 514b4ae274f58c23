/**
 * Parameter initialisation on the host with a seeded PRNG, uploaded once with `tensor()`. Keeping init on
 * the CPU makes it independent of the GPU random kernels and bit-reproducible from a seed.
 *
 * Schemes:
 * - `"torch"`: PyTorch's default for `nn.Linear` / `nn.Conv2d`: kaiming-uniform with a = sqrt(5), i.e.
 *   U(-1/sqrt(fanIn), 1/sqrt(fanIn)) for the weight, and the same bound for the bias.
 * - `"ddpm"` (scale 1) and `"ddpm-zero"` (scale 1e-10, the release's `init_scale = 0`): DDPM/NCSN++
 *   variance scaling, fan-avg, uniform: U(-sqrt(3 s / fanAvg), +...), with a zero bias (lzn-spec §8).
 * - `{ kind: "normal", std }`: N(0, std^2) weight, zero bias.
 *
 * @module
 */
/**
 * How a layer's weight and bias are initialised.
 *
 * @example
 * ```ts
 * import { type InitScheme, Linear } from "@lzn/tensor";
 * const schemes: InitScheme[] = ["torch", "ddpm", "ddpm-zero", { kind: "ddpm", scale: 0.5 }, { kind: "normal", std: 0.02 }];
 * const layers = schemes.map((init) => new Linear(4, 4, { init }));
 * ```
 */
export type InitScheme =
  | "torch"
  | "ddpm"
  | "ddpm-zero"
  | { kind: "ddpm"; scale: number }
  | { kind: "normal"; std: number };

/**
 * A small seeded PRNG (mulberry32) with uniform and normal draws, used only for initialisation.
 *
 * @example
 * ```ts
 * import { InitRng } from "@lzn/tensor";
 * const r = new InitRng(1);
 * console.log(r.uniform(), r.normal());
 * ```
 */
export class InitRng {
  #state: number;
  #spare: number | undefined;

  /** Starts the stream at `seed` (any 32-bit integer). */
  constructor(seed: number) {
    this.#state = seed >>> 0;
  }

  /** A uniform draw in [0, 1). */
  uniform(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** A standard normal draw (Box–Muller, both values used). */
  normal(): number {
    if (this.#spare !== undefined) {
      const s = this.#spare;
      this.#spare = undefined;
      return s;
    }
    const r = Math.sqrt(-2 * Math.log(1 - this.uniform()));
    const a = 2 * Math.PI * this.uniform();
    this.#spare = r * Math.sin(a);
    return r * Math.cos(a);
  }
}

let defaultRng = new InitRng(0);

/**
 * Reseeds the default init stream that layers draw from when no `rng` is passed (like `torch.manual_seed`
 * for init): constructing the same layers in the same order after the same seed gives identical weights.
 *
 * @example
 * ```ts
 * import { seedInit } from "@lzn/tensor";
 * seedInit(42);
 * ```
 */
export function seedInit(seed: number): void {
  defaultRng = new InitRng(seed);
}

/**
 * The default init stream (see {@link seedInit}).
 *
 * @example
 * ```ts
 * import { defaultInitRng } from "@lzn/tensor";
 * const r = defaultInitRng();
 * ```
 */
export function defaultInitRng(): InitRng {
  return defaultRng;
}

/**
 * Fan-in and fan-out of a weight of shape `[out, in, ...kernel]` (the convention of PyTorch and of the
 * DDPM `variance_scaling` with in_axis 1, out_axis 0).
 *
 * @example
 * ```ts
 * import { fans } from "@lzn/tensor";
 * fans([64, 32, 3, 3]); // { fanIn: 288, fanOut: 576 }
 * ```
 */
export function fans(shape: readonly number[]): { fanIn: number; fanOut: number } {
  if (shape.length < 2) throw new Error(`lzn: fans need a weight of rank >= 2, got [${shape.join(", ")}]`);
  let receptive = 1;
  for (let k = 2; k < shape.length; k++) receptive *= shape[k];
  return { fanIn: shape[1] * receptive, fanOut: shape[0] * receptive };
}

function fill(n: number, draw: () => number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = draw();
  return out;
}

function sizeOf(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/**
 * Host values U(-bound, bound).
 *
 * @example
 * ```ts
 * import { InitRng, uniformValues } from "@lzn/tensor";
 * const v = uniformValues(4, 0.5, new InitRng(3));
 * ```
 */
export function uniformValues(n: number, bound: number, rng: InitRng = defaultRng): Float32Array {
  return fill(n, () => (2 * rng.uniform() - 1) * bound);
}

/**
 * Initial values of a weight and its bias under a scheme. `fanIn` for the bias bound comes from the weight.
 *
 * @example
 * ```ts
 * import { InitRng, initValues } from "@lzn/tensor";
 * const { weight, bias } = initValues([8, 4], 8, "torch", new InitRng(0));
 * console.log(weight.length, bias.length); // 32 8
 * ```
 */
export function initValues(
  weightShape: readonly number[],
  biasSize: number,
  scheme: InitScheme,
  rng: InitRng = defaultRng,
): { weight: Float32Array; bias: Float32Array } {
  const n = sizeOf(weightShape);
  const { fanIn, fanOut } = fans(weightShape);
  const s = typeof scheme === "string"
    ? (scheme === "torch"
      ? { kind: "torch" as const }
      : { kind: "ddpm" as const, scale: scheme === "ddpm" ? 1 : 0 })
    : scheme;
  switch (s.kind) {
    case "torch": {
      // kaiming_uniform(a = sqrt(5)): gain sqrt(2 / (1 + 5)), bound gain * sqrt(3 / fanIn) = 1 / sqrt(fanIn).
      const bound = 1 / Math.sqrt(fanIn);
      const weight = uniformValues(n, bound, rng);
      return { weight, bias: uniformValues(biasSize, fanIn > 0 ? bound : 0, rng) };
    }
    case "ddpm": {
      // The release maps init_scale 0 to 1e-10 (a near-zero but not exactly zero layer).
      const scale = s.scale === 0 ? 1e-10 : s.scale;
      const bound = Math.sqrt(3 * scale / ((fanIn + fanOut) / 2));
      return { weight: uniformValues(n, bound, rng), bias: new Float32Array(biasSize) };
    }
    case "normal":
      return { weight: fill(n, () => s.std * rng.normal()), bias: new Float32Array(biasSize) };
    default:
      throw new Error(`lzn: unknown init scheme ${JSON.stringify(s satisfies never)}`);
  }
}
