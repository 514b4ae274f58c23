/**
 * Exponential moving average of parameters, as in the release (score_sde's `ExponentialMovingAverage` with
 * `num_updates`): `n <- n + 1; d = min(decay, (1 + n) / (10 + n)); shadow <- shadow - (1 - d)(shadow - param)`.
 *
 * `1 - d` is formed as `max(1 - decay, 9 / (10 + n))` with `1 - decay` computed in float64 on the host: in
 * float32, 0.999999 itself is off by 2%, so `1 - d` must never be formed from `d`. The counter `n` lives on
 * the GPU and advances only on finite steps (flag from `finiteFlag`), like Adam's step counts.
 *
 * @module
 */
import { bindings, kernel } from "../kernel.ts";
import { copyBuffer, dispatch } from "../recorder.ts";
import { Tensor, tensor } from "../tensor.ts";
import { linearGrid, linearIndex } from "../ops/grid.ts";
import type { Module } from "../nn/module.ts";
import { loadState } from "../nn/state.ts";
import { bumpCounters, onesFlag } from "./finite.ts";

/**
 * Options of {@link EMA}.
 *
 * @example
 * ```ts
 * import { EMA, type EmaOptions, Linear } from "@lzn/tensor";
 * const model = new Linear(4, 2);
 * const opts: EmaOptions = { decay: 0.9999, warmup: true };
 * const ema = new EMA(model, opts);
 * ```
 */
export interface EmaOptions {
  /** Maximum decay (e.g. 0.9999 or the release's 0.999999). */
  decay: number;
  /** Use the `(1 + n) / (10 + n)` warm-up cap (default true, as the release). */
  warmup?: boolean;
}

const WG = 256;

const UPDATE_WGSL = `${
  bindings([["S", "read_write", "f32"], ["P", "read", "f32"], ["N", "read", "u32"], ["F", "read", "f32"]])
}
struct Params { oneMinusDecay: f32, warmup: u32, n: u32, pad0: u32 }
@group(0) @binding(4) var<uniform> u: Params;
@compute @workgroup_size(${WG}) fn main(@builtin(global_invocation_id) gid: vec3u,
    @builtin(num_workgroups) nwg: vec3u) {
  let i = ${linearIndex(WG)};
  if (i >= u.n || F[0] == 0.0) { return; }
  var rate = u.oneMinusDecay;
  if (u.warmup == 1u) { rate = max(rate, 9.0 / (10.0 + f32(N[0] + 1u))); }
  S[i] = S[i] - rate * (S[i] - P[i]);
}`;

const SWAP_WGSL = `${bindings([["A", "read_write", "f32"], ["B", "read_write", "f32"]])}
struct Params { n: u32, pad0: u32, pad1: u32, pad2: u32 }
@group(0) @binding(2) var<uniform> u: Params;
@compute @workgroup_size(${WG}) fn main(@builtin(global_invocation_id) gid: vec3u,
    @builtin(num_workgroups) nwg: vec3u) {
  let i = ${linearIndex(WG)};
  if (i >= u.n) { return; }
  let a = A[i];
  A[i] = B[i];
  B[i] = a;
}`;

/**
 * EMA shadows of a module's (or a list of) parameters.
 *
 * @example
 * ```ts
 * import { EMA, Linear } from "@lzn/tensor";
 * const net = new Linear(4, 4);
 * const ema = new EMA(net, { decay: 0.9999 });
 * // ... after each optimizer step:
 * ema.update();
 * // evaluate with the averaged weights, then restore the training weights:
 * ema.swapIn();
 * // ... net.forward(x) ...
 * ema.swapOut();
 * ```
 */
export class EMA {
  /** The tracked parameters. */
  readonly params: Tensor[];
  /** One shadow per parameter (same shapes). */
  readonly shadow: Tensor[];
  /** Resolved options. */
  readonly options: Required<EmaOptions>;
  #count: Tensor;
  #zero: Tensor;
  #swapped = false;

  /** Starts every shadow as a copy of its parameter, with n = 0. */
  constructor(source: Module | Tensor[], opts: EmaOptions) {
    this.params = Array.isArray(source) ? [...source] : source.parameters();
    if (!(opts.decay >= 0 && opts.decay <= 1)) {
      throw new Error(`lzn: EMA decay must be in [0, 1], got ${opts.decay}`);
    }
    this.options = { decay: opts.decay, warmup: opts.warmup ?? true };
    this.shadow = this.params.map((p) => {
      const s = Tensor.empty(p.shape).keep();
      copyBuffer(p.buffer, 0, s.buffer, 0, p.size * 4);
      return s;
    });
    this.#count = tensor([0], [1], { dtype: "u32" }).keep();
    this.#zero = tensor([0], [1], { dtype: "u32" }).keep();
    onesFlag();
  }

  /** True between {@link EMA.swapIn} and {@link EMA.swapOut}. */
  get swapped(): boolean {
    return this.#swapped;
  }

  /** Moves every shadow towards its parameter; skipped on the GPU where `finite` is 0. */
  update(opts: { finite?: Tensor } = {}): void {
    if (this.#swapped) {
      throw new Error("lzn: EMA.update() while the EMA weights are swapped in; call swapOut() first");
    }
    const flag = opts.finite ?? onesFlag();
    const k = kernel({
      name: "ema_update",
      wgsl: UPDATE_WGSL,
      storage: ["read_write", "read", "read", "read"],
      uniform: 16,
    });
    const { decay, warmup } = this.options;
    this.params.forEach((p, i) => {
      const buf = new ArrayBuffer(16);
      new Float32Array(buf, 0, 1)[0] = 1 - decay;
      new Uint32Array(buf, 4, 2).set([warmup ? 1 : 0, p.size]);
      dispatch({
        kernel: k,
        buffers: [this.shadow[i].buffer, p.buffer, this.#count.buffer, flag.buffer],
        params: new Uint8Array(buf),
        workgroups: linearGrid(p.size, WG).workgroups,
      });
    });
    bumpCounters(this.#count, this.#zero, flag);
  }

  /** Exchanges parameters and shadows in place: the module now computes with the EMA weights. */
  swapIn(): void {
    if (this.#swapped) throw new Error("lzn: EMA.swapIn() called twice");
    this.#swap();
    this.#swapped = true;
  }

  /** Undoes {@link EMA.swapIn}: the training weights are back in the parameters. */
  swapOut(): void {
    if (!this.#swapped) throw new Error("lzn: EMA.swapOut() without swapIn()");
    this.#swap();
    this.#swapped = false;
  }

  /** Overwrites the parameters with the EMA weights (permanently; e.g. before exporting a model). */
  copyTo(): void {
    if (this.#swapped) throw new Error("lzn: EMA.copyTo() while swapped in");
    this.params.forEach((p, i) => copyBuffer(this.shadow[i].buffer, 0, p.buffer, 0, p.size * 4));
  }

  /** State by name: `shadow.<i>` and `num_updates` (u32 [1]). Live tensors, not copies. */
  stateDict(): Record<string, Tensor> {
    const out: Record<string, Tensor> = {};
    this.shadow.forEach((s, i) => out[`shadow.${i}`] = s);
    out.num_updates = this.#count;
    return out;
  }

  /** Copies a {@link EMA.stateDict} back in; checks names, dtypes and sizes first. */
  loadStateDict(state: Record<string, Tensor>): void {
    if (this.#swapped) throw new Error("lzn: EMA.loadStateDict() while swapped in");
    loadState(this.stateDict(), state, { what: "EMA" });
  }

  /** Frees the shadows and the counter (not the parameters). */
  dispose(): void {
    for (const t of [...this.shadow, this.#count, this.#zero]) t.dispose();
  }

  #swap(): void {
    const k = kernel({
      name: "ema_swap",
      wgsl: SWAP_WGSL,
      storage: ["read_write", "read_write"],
      uniform: 16,
    });
    this.params.forEach((p, i) => {
      dispatch({
        kernel: k,
        buffers: [p.buffer, this.shadow[i].buffer],
        params: new Uint32Array([p.size, 0, 0, 0]),
        workgroups: linearGrid(p.size, WG).workgroups,
      });
    });
  }
}
