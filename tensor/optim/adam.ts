/**
 * Adam (PyTorch `torch.optim.Adam` semantics: L2 weight decay added to the gradient, bias-corrected moments,
 * `eps` added after dividing by the bias-correction square root) with parameter groups. AdamW is the same
 * optimizer with `decoupled: true` (`torch.optim.AdamW`: the parameter shrinks by `lr * weightDecay * p`
 * before the Adam step and the decay never enters the moments): a variant is a parameter, not a copy.
 *
 * One fused dispatch per parameter updates the parameter and both moments. Every scalar that changes
 * (learning rate, betas, eps, weight decay and its style) travels in the uniform params block, so a
 * learning-rate schedule or a per-group decay never compiles a new pipeline. Per-parameter step counts live in a GPU buffer and advance only when the step's
 * finite flag is 1, so a skipped (non-finite) step leaves parameters, moments and bias corrections exactly
 * as if it had never happened, with no readback.
 *
 * @module
 */
import { bindings, kernel } from "../kernel.ts";
import { dispatch } from "../recorder.ts";
import { type Tensor, tensor } from "../tensor.ts";
import { full } from "../ops/elementwise.ts";
import { linearGrid, linearIndex } from "../ops/grid.ts";
import { loadState } from "../nn/state.ts";
import { bumpCounters, onesFlag } from "./finite.ts";

/**
 * A set of parameters sharing a learning rate (lzn uses one group per module).
 *
 * @example
 * ```ts
 * import { Adam, Linear, type ParamGroup } from "@lzn/tensor";
 * const encoder = new Linear(4, 4), head = new Linear(4, 2);
 * const groups: ParamGroup[] = [
 *   { params: encoder.parameters(), lr: 1e-4 },
 *   { params: head.parameters(), lr: 1e-3 },
 * ];
 * const opt = new Adam(groups);
 * ```
 */
export interface ParamGroup {
  /** The parameters (leaf tensors; those without `.grad` at a step are left alone, as in PyTorch). */
  params: Tensor[];
  /** Learning rate; may be changed between steps. */
  lr: number;
  /** This group's weight decay (default: the optimizer's {@link AdamOptions.weightDecay}). */
  weightDecay?: number;
  /** This group's decay style (default: the optimizer's {@link AdamOptions.decoupled}). */
  decoupled?: boolean;
}

/**
 * Hyperparameters of {@link Adam} (PyTorch defaults).
 *
 * @example
 * ```ts
 * import { Adam, type AdamOptions, Linear } from "@lzn/tensor";
 * const model = new Linear(4, 2);
 * const opts: AdamOptions = { betas: [0.9, 0.99], eps: 1e-8, weightDecay: 1e-4 };
 * const opt = new Adam([{ params: model.parameters(), lr: 2e-4 }], opts);
 * const adamW = new Adam([{ params: new Linear(4, 2).parameters(), lr: 3e-4 }], {
 *   weightDecay: 0.05,
 *   decoupled: true, // torch.optim.AdamW
 * });
 * ```
 */
export interface AdamOptions {
  /** Moment decay rates (default [0.9, 0.999]). */
  betas?: [number, number];
  /** Denominator epsilon (default 1e-8). */
  eps?: number;
  /** Weight decay coefficient (default 0); how it applies is set by `decoupled`. */
  weightDecay?: number;
  /**
   * `false` (default): L2 penalty added to the gradient, `g + wd * p` (`torch.optim.Adam`). `true`: decoupled
   * decay `p -= lr * wd * p` before the Adam step (`torch.optim.AdamW`).
   */
  decoupled?: boolean;
}

/**
 * Options of one {@link Adam.step}.
 *
 * @example
 * ```ts
 * import { Adam, finiteFlag, linearWarmup, type StepOptions, tensor } from "@lzn/tensor";
 * const w = tensor([1, 2], [2], { requiresGrad: true });
 * const opt = new Adam([{ params: [w], lr: 1e-3 }]);
 * const loss = w.mul(w).sum();
 * loss.backward();
 * const opts: StepOptions = { finite: finiteFlag(loss), lrScale: linearWarmup(1, 100) };
 * opt.step(opts); // skipped on the GPU if the loss was not finite
 * ```
 */
export interface StepOptions {
  /** A one-element flag from `finiteFlag`: 0 skips the update on the GPU (lzn-spec §8). */
  finite?: Tensor;
  /** Multiplies every group's lr for this step (a schedule factor such as `linearWarmup`). Default 1. */
  lrScale?: number;
}

const WG = 256;

// -(exp(x) - 1) without cancellation for the small |x| of the bias corrections (1 - 0.999^t at small t).
const UPDATE_WGSL = `${
  bindings([
    ["P", "read_write", "f32"],
    ["G", "read", "f32"],
    ["M", "read_write", "f32"],
    ["V", "read_write", "f32"],
    ["S", "read", "u32"],
    ["F", "read", "f32"],
  ])
}
struct Params {
  lr: f32, beta1: f32, beta2: f32, eps: f32,
  oneMinusBeta1: f32, oneMinusBeta2: f32, logBeta1: f32, logBeta2: f32,
  weightDecay: f32, index: u32, n: u32, decoupled: u32,
}
@group(0) @binding(6) var<uniform> u: Params;
fn one_minus_exp(x: f32) -> f32 {
  if (abs(x) < 0.5) {
    var t = 0.0;
    for (var k = 12; k >= 1; k = k - 1) { t = x / f32(k + 1) * (1.0 + t); }
    return -x * (1.0 + t);
  }
  return 1.0 - exp(x);
}
@compute @workgroup_size(${WG}) fn main(@builtin(global_invocation_id) gid: vec3u,
    @builtin(num_workgroups) nwg: vec3u) {
  let i = ${linearIndex(WG)};
  if (i >= u.n || F[0] == 0.0) { return; }
  let t = f32(S[u.index] + 1u);
  let bc1 = one_minus_exp(t * u.logBeta1);
  let bc2 = one_minus_exp(t * u.logBeta2);
  var p = P[i];
  var g = G[i];
  if (u.decoupled != 0u) {
    // p - (lr wd) p rather than p (1 - lr wd): 1 - lr wd would round away most digits of a small lr wd.
    p = p - (u.lr * u.weightDecay) * p;
  } else if (u.weightDecay != 0.0) {
    g = g + u.weightDecay * p;
  }
  let m = M[i] + u.oneMinusBeta1 * (g - M[i]);
  let v = u.beta2 * V[i] + u.oneMinusBeta2 * g * g;
  M[i] = m;
  V[i] = v;
  let denom = sqrt(v) / sqrt(bc2) + u.eps;
  P[i] = p - (u.lr / bc1) * (m / denom);
}`;

/** The groups must be `[{ params: Tensor[], lr }]` (a plain JavaScript caller has no type check to say so). */
function checkGroups(groups: unknown): asserts groups is ParamGroup[] {
  const usage = "Adam takes groups, as in new Adam([{ params: model.parameters(), lr: 1e-3 }])";
  if (!Array.isArray(groups)) throw new Error(`lzn: ${usage}; got ${describe(groups)}`);
  groups.forEach((g, i) => {
    const params = (g as Partial<ParamGroup> | null)?.params;
    if (!Array.isArray(params)) throw new Error(`lzn: ${usage}; element ${i} is ${describe(g)}`);
    checkLr((g as ParamGroup).lr, i);
  });
}

/** Group `i`'s learning rate (times the step's `lrScale`, where given) must be a finite number >= 0. */
function checkLr(lr: unknown, i: number, scale?: number): void {
  if (typeof lr === "number" && Number.isFinite(lr * (scale ?? 1)) && lr * (scale ?? 1) >= 0) return;
  const what = scale === undefined ? `lr ${lr}` : `lr ${lr} x lrScale ${scale}`;
  throw new Error(`lzn: Adam group ${i}: ${what}: the learning rate must be a finite number >= 0`);
}

function describe(v: unknown): string {
  if (Array.isArray(v)) return `an array of ${v.length}`;
  if (v === null || typeof v !== "object") return String(v);
  return `a ${(v as object).constructor?.name ?? "object"}`;
}

/**
 * The Adam optimizer with parameter groups.
 *
 * @example
 * ```ts
 * import { Adam, tensor } from "@lzn/tensor";
 * const w = tensor([1, -1], [2], { requiresGrad: true });
 * const opt = new Adam([{ params: [w], lr: 1e-3 }]);
 * w.mul(w).sum().backward();
 * opt.step();      // w moves by ~lr against the gradient sign
 * opt.zeroGrad();
 * ```
 */
export class Adam {
  /** The groups; `lr` may be edited between steps. */
  readonly paramGroups: ParamGroup[];
  /** Resolved hyperparameters. */
  readonly options: Required<AdamOptions>;
  #params: Tensor[];
  #m: Tensor[];
  #v: Tensor[];
  #steps: Tensor;
  #indexKey = "";
  #indices: Tensor | undefined;

  /** Creates the optimizer and its (zero) moment buffers. */
  constructor(paramGroups: ParamGroup[], opts: AdamOptions = {}) {
    checkGroups(paramGroups);
    this.paramGroups = paramGroups;
    this.options = {
      betas: opts.betas ?? [0.9, 0.999],
      eps: opts.eps ?? 1e-8,
      weightDecay: opts.weightDecay ?? 0,
      decoupled: opts.decoupled ?? false,
    };
    const [b1, b2] = this.options.betas;
    if (!(b1 >= 0 && b1 < 1 && b2 >= 0 && b2 < 1)) {
      throw new Error(`lzn: Adam betas must be in [0, 1), got ${b1}, ${b2}`);
    }
    for (const wd of [this.options.weightDecay, ...paramGroups.map((g) => g.weightDecay ?? 0)]) {
      if (!(wd >= 0 && Number.isFinite(wd))) throw new Error(`lzn: Adam weightDecay must be >= 0, got ${wd}`);
    }
    this.#params = paramGroups.flatMap((g) => g.params);
    if (new Set(this.#params).size !== this.#params.length) {
      throw new Error("lzn: a parameter appears in more than one Adam group (or twice in one)");
    }
    for (const p of this.#params) {
      if (p.dtype !== "f32") throw new Error(`lzn: Adam got a ${p.dtype} parameter`);
    }
    this.#m = this.#params.map((p) => full(p.shape, 0).keep());
    this.#v = this.#params.map((p) => full(p.shape, 0).keep());
    this.#steps = tensor(new Uint32Array(Math.max(1, this.#params.length)), [
      Math.max(1, this.#params.length),
    ], {
      dtype: "u32",
    }).keep();
    // Pre-build the all-parameters index list and the default flag so that the first step allocates nothing.
    this.#indexList(this.#params.map((_, i) => i));
    onesFlag();
  }

  /**
   * Applies one update to every parameter that has a gradient. With `finite` set, the update (and the
   * step counters) are skipped on the GPU where the flag is 0.
   */
  step(opts: StepOptions = {}): void {
    const flag = opts.finite ?? onesFlag();
    const scale = opts.lrScale ?? 1;
    for (let i = 0; i < this.paramGroups.length; i++) checkLr(this.paramGroups[i].lr, i, scale);
    const { betas: [b1, b2], eps } = this.options;
    const k = kernel({
      name: "adam_update",
      wgsl: UPDATE_WGSL,
      storage: ["read_write", "read", "read_write", "read_write", "read", "read"],
      uniform: 48,
    });
    const stepped: number[] = [];
    let idx = 0;
    for (const group of this.paramGroups) {
      const weightDecay = group.weightDecay ?? this.options.weightDecay;
      const decoupled = group.decoupled ?? this.options.decoupled;
      for (const p of group.params) {
        const i = idx++;
        const g = p.grad;
        if (!g) continue;
        if (g.size !== p.size) {
          throw new Error(`lzn: gradient of parameter ${i} has shape [${g.shape}], not [${p.shape}]`);
        }
        stepped.push(i);
        const buf = new ArrayBuffer(48);
        const f = new Float32Array(buf);
        f.set([group.lr * scale, b1, b2, eps, 1 - b1, 1 - b2, Math.log(b1), Math.log(b2), weightDecay]);
        new Uint32Array(buf, 36, 3).set([i, p.size, decoupled ? 1 : 0]);
        dispatch({
          kernel: k,
          buffers: [
            p.buffer,
            g.buffer,
            this.#m[i].buffer,
            this.#v[i].buffer,
            this.#steps.buffer,
            flag.buffer,
          ],
          params: new Uint8Array(buf),
          workgroups: linearGrid(p.size, WG).workgroups,
        });
      }
    }
    if (stepped.length) bumpCounters(this.#steps, this.#indexList(stepped), flag);
  }

  /** Drops every gradient (`set_to_none`, PyTorch's default): the next backward starts from zero. */
  zeroGrad(): void {
    for (const p of this.#params) {
      p.grad?.dispose();
      p.grad = undefined;
    }
  }

  /**
   * The optimizer state by name: `exp_avg.<i>`, `exp_avg_sq.<i>` (parameter i in group order) and `step`
   * (u32 per parameter). Live tensors, not copies: save them, do not dispose them. Learning rates are
   * configuration, not state, and are not included.
   */
  stateDict(): Record<string, Tensor> {
    const out: Record<string, Tensor> = {};
    this.#m.forEach((m, i) => out[`exp_avg.${i}`] = m);
    this.#v.forEach((v, i) => out[`exp_avg_sq.${i}`] = v);
    out.step = this.#steps;
    return out;
  }

  /** Copies a {@link Adam.stateDict} back in (GPU copies); checks names, shapes and dtypes first. */
  loadStateDict(state: Record<string, Tensor>): void {
    loadState(this.stateDict(), state, { what: "Adam" });
  }

  /** Frees the moment buffers and counters (not the parameters). */
  dispose(): void {
    for (const t of [...this.#m, ...this.#v, this.#steps]) t.dispose();
    this.#indices?.dispose();
  }

  #indexList(indices: number[]): Tensor {
    const key = indices.join(",");
    if (key !== this.#indexKey || !this.#indices) {
      this.#indices?.dispose();
      this.#indices = tensor(Uint32Array.from(indices), [indices.length], { dtype: "u32" }).keep();
      this.#indexKey = key;
    }
    return this.#indices;
  }
}
