/**
 * The building blocks of the RF UNet, after NCSN++ (spec §5.3, §8) at small size: a ResBlock that reads the
 * conditioning vector as a per-channel bias, a single-head self-attention block over all positions, and a
 * nearest-neighbour upsample followed by a 3x3 conv. Residual sums are divided by √2 (`skip_rescale`).
 *
 * @module
 */
import { Conv2d, GroupNorm, type InitRng, Linear, Module, type Tensor, upsampleNearest2d } from "@lzn/tensor";
import { normGroups } from "./rf_config.ts";

const INV_SQRT2 = Math.SQRT1_2;

/**
 * `GN -> SiLU -> conv3x3 -> + Dense(SiLU(e)) -> GN -> SiLU -> conv3x3`, plus a 1x1-conv skip when the width
 * changes; the sum is scaled by 1/√2.
 *
 * @example
 * ```ts
 * import { ResBlock } from "@lzn/decoders";
 * import { InitRng, tensor } from "@lzn/tensor";
 * const block = new ResBlock(8, 16, 32, { rng: new InitRng(0), zeroInit: true });
 * const y = block.forward(tensor(new Float32Array(2 * 8 * 7 * 7), [2, 8, 7, 7]),
 *   tensor(new Float32Array(2 * 32), [2, 32])); // [2, 16, 7, 7]
 * ```
 */
export class ResBlock extends Module {
  /** Normalisation of the input. */
  norm0: GroupNorm;
  /** First 3x3 conv, `cin -> cout`. */
  conv0: Conv2d;
  /** The conditioning vector to a per-channel bias. */
  dense: Linear;
  /** Normalisation before the second conv. */
  norm1: GroupNorm;
  /** Second 3x3 conv (near-zero init by default). */
  conv1: Conv2d;
  /** 1x1 conv on the skip path when the width changes. */
  skip: Conv2d | undefined;

  /** `cin -> cout` channels; `condDim` is the width of the (already SiLU-activated) conditioning vector. */
  constructor(
    readonly cin: number,
    readonly cout: number,
    condDim: number,
    opts: { rng: InitRng; zeroInit: boolean },
  ) {
    super();
    const { rng } = opts;
    this.norm0 = new GroupNorm(normGroups(cin), cin, { eps: 1e-6 });
    this.conv0 = new Conv2d(cin, cout, 3, { padding: 1, init: "ddpm", rng });
    this.dense = new Linear(condDim, cout, { init: "ddpm", rng });
    this.norm1 = new GroupNorm(normGroups(cout), cout, { eps: 1e-6 });
    // init_scale = 0: the block starts as (nearly) the identity on its skip path.
    this.conv1 = new Conv2d(cout, cout, 3, { padding: 1, init: opts.zeroInit ? "ddpm-zero" : "ddpm", rng });
    this.skip = cin === cout ? undefined : new Conv2d(cin, cout, 1, { init: "ddpm", rng });
  }

  /** `x [B, cin, H, W]`, `cond [B, condDim]` (SiLU already applied) -> `[B, cout, H, W]`. */
  forward(x: Tensor, cond: Tensor): Tensor {
    const a0 = this.norm0.forward(x).silu();
    const h0 = this.conv0.forward(a0);
    const bias = this.dense.forward(cond).reshape([x.shape[0], this.cout, 1, 1]);
    const h1 = h0.add(bias);
    const h2 = this.conv1.forward(this.norm1.forward(h1).silu());
    const base = this.skip ? this.skip.forward(x) : x;
    return base.add(h2).mul(INV_SQRT2);
  }
}

/**
 * Single-head self-attention over all `H·W` positions with scale `C^{-1/2}` (NCSN++'s `AttnBlockpp`): `GN`,
 * 1x1 convs to queries, keys and values, `softmax(QᵀK / √C)`, a 1x1 output conv, residual sum / √2. The
 * products are batched matmuls of `[B, C, N]` operands read transposed in place.
 *
 * @example
 * ```ts
 * import { AttentionBlock } from "@lzn/decoders";
 * import { InitRng, tensor } from "@lzn/tensor";
 * const attn = new AttentionBlock(8, { rng: new InitRng(0), zeroInit: false });
 * const y = attn.forward(tensor(new Float32Array(2 * 8 * 7 * 7).fill(0.5), [2, 8, 7, 7])); // [2, 8, 7, 7]
 * ```
 */
export class AttentionBlock extends Module {
  /** Normalisation of the input. */
  norm: GroupNorm;
  /** 1x1 conv to queries. */
  query: Conv2d;
  /** 1x1 conv to keys. */
  key: Conv2d;
  /** 1x1 conv to values. */
  value: Conv2d;
  /** 1x1 output conv (near-zero init by default). */
  out: Conv2d;

  /** Attention over `channels` channels. */
  constructor(readonly channels: number, opts: { rng: InitRng; zeroInit: boolean }) {
    super();
    const { rng } = opts;
    this.norm = new GroupNorm(normGroups(channels), channels, { eps: 1e-6 });
    this.query = new Conv2d(channels, channels, 1, { init: "ddpm", rng });
    this.key = new Conv2d(channels, channels, 1, { init: "ddpm", rng });
    this.value = new Conv2d(channels, channels, 1, { init: "ddpm", rng });
    this.out = new Conv2d(channels, channels, 1, { init: opts.zeroInit ? "ddpm-zero" : "ddpm", rng });
  }

  /** `x [B, C, H, W] -> [B, C, H, W]`. */
  forward(x: Tensor): Tensor {
    const [b, c, hgt, wid] = x.shape;
    const n = hgt * wid;
    const h = this.norm.forward(x);
    const q = this.query.forward(h).reshape([b, c, n]);
    const k = this.key.forward(h).reshape([b, c, n]);
    const v = this.value.forward(h).reshape([b, c, n]);
    const scores = q.matmul(k, { transA: true }).mul(1 / Math.sqrt(c)); // [B, N(query), N(key)]
    const weights = scores.softmax(-1);
    const mixed = v.matmul(weights, { transB: true }).reshape([b, c, hgt, wid]); // Σ_key v w
    return x.add(this.out.forward(mixed)).mul(INV_SQRT2);
  }
}

/**
 * Nearest-neighbour x2 upsampling followed by a 3x3 conv (DDPM's `Upsample` with `resamp_with_conv`).
 *
 * @example
 * ```ts
 * import { Upsample } from "@lzn/decoders";
 * import { InitRng, tensor } from "@lzn/tensor";
 * const up = new Upsample(4, new InitRng(0));
 * const y = up.forward(tensor(new Float32Array(4 * 7 * 7), [1, 4, 7, 7])); // [1, 4, 14, 14]
 * ```
 */
export class Upsample extends Module {
  /** The 3x3 conv after the nearest-neighbour upsampling. */
  conv: Conv2d;

  /** Keeps the width `channels`. */
  constructor(channels: number, rng: InitRng) {
    super();
    this.conv = new Conv2d(channels, channels, 3, { padding: 1, init: "ddpm", rng });
  }

  /** `[B, C, H, W] -> [B, C, 2H, 2W]`. */
  forward(x: Tensor): Tensor {
    return this.conv.forward(upsampleNearest2d(x, 2));
  }
}
