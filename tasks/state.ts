/**
 * The training state as one walked dictionary (the tinygrad `get_state_dict` idea): parameters, EMA shadows
 * and Adam moments of every part, under names that say what they are:
 *
 * ```
 * model.<part>.<parameter path>          the parameters
 * ema.<part>.<parameter path>            the EMA shadow of each parameter, ema.<part>.num_updates its counter
 * adam.<part>.<parameter path>.m / .v    Adam's moments, adam.step the per-parameter step counters
 * ```
 *
 * Saving writes the walk; loading walks the live state the same way and copies into it (`loadState` checks
 * every name, shape and dtype first). There is no other way to save or load a run.
 *
 * @module
 */
import { Adam, EMA, loadState, type Tensor } from "@lzn/tensor";
import type { RecipeModel } from "./recipe.ts";

/**
 * The optimizer and EMAs of a model's parts, built in part order.
 *
 * @example
 * ```ts
 * import { Linear } from "@lzn/tensor";
 * import { buildOptimizers, type RecipeModel } from "@lzn/tasks";
 * const net = new Linear(2, 2);
 * const model: RecipeModel = { parts: { net: { module: net, lr: 1e-3 } }, dispose: () => net.dispose() };
 * const { adam, emas } = buildOptimizers(model, 0.99);
 * ```
 */
export interface Optimizers {
  /** One Adam with a group per part. */
  adam: Adam;
  /** One EMA per part. */
  emas: Map<string, EMA>;
}

/**
 * Builds Adam (one group per part, with the part's learning rate) and one EMA per part.
 *
 * @example
 * ```ts
 * import { Linear } from "@lzn/tensor";
 * import { buildOptimizers, disposeOptimizers } from "@lzn/tasks";
 * const net = new Linear(2, 2);
 * const opt = buildOptimizers({ parts: { net: { module: net, lr: 1e-3 } }, dispose: () => net.dispose() }, 0.99);
 * disposeOptimizers(opt);
 * ```
 */
export function buildOptimizers(
  model: RecipeModel,
  emaDecay: number,
  adamOptions: { weightDecay?: number } = {},
): Optimizers {
  const parts = Object.entries(model.parts);
  const adam = new Adam(parts.map(([, p]) => ({ params: p.module.parameters(), lr: p.lr })), adamOptions);
  const emas = new Map(parts.map(([name, p]) => [name, new EMA(p.module, { decay: emaDecay })]));
  return { adam, emas };
}

/**
 * Frees the optimizer's and the EMAs' buffers.
 *
 * @example
 * ```ts
 * import { Linear } from "@lzn/tensor";
 * import { buildOptimizers, disposeOptimizers } from "@lzn/tasks";
 * const net = new Linear(2, 2);
 * disposeOptimizers(buildOptimizers({ parts: { net: { module: net, lr: 1e-3 } }, dispose: () => net.dispose() }, 0.9));
 * ```
 */
export function disposeOptimizers(opt: Optimizers): void {
  opt.adam.dispose();
  for (const ema of opt.emas.values()) ema.dispose();
}

/**
 * The walk: every live tensor of the training state by name (no copies: save them, do not dispose them).
 * Without optimizers it is the parameters only; `ema` adds the shadows, `adam` the moments.
 *
 * @example
 * ```ts
 * import { Linear } from "@lzn/tensor";
 * import { buildOptimizers, stateDict } from "@lzn/tasks";
 * const net = new Linear(2, 2);
 * const model = { parts: { net: { module: net, lr: 1e-3 } }, dispose: () => net.dispose() };
 * const opt = buildOptimizers(model, 0.99);
 * console.log(Object.keys(stateDict(model, opt))); // model.net.weight, ..., ema.net.weight, ..., adam.net.weight.m, ...
 * ```
 */
export function stateDict(model: RecipeModel, opt?: Partial<Optimizers>): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  const names: string[] = [];
  for (const [part, p] of Object.entries(model.parts)) {
    const named = p.module.namedParameters();
    for (const [path, t] of named) {
      out[`model.${part}.${path}`] = t;
      names.push(`${part}.${path}`);
    }
    const ema = opt?.emas?.get(part);
    if (ema) {
      const shadows = ema.stateDict();
      named.forEach(([path], i) => out[`ema.${part}.${path}`] = shadows[`shadow.${i}`]);
      out[`ema.${part}.num_updates`] = shadows.num_updates;
    }
  }
  if (opt?.adam) {
    // Adam numbers its state by parameter in group order, which is the order of `names`.
    const s = opt.adam.stateDict();
    names.forEach((name, i) => {
      out[`adam.${name}.m`] = s[`exp_avg.${i}`];
      out[`adam.${name}.v`] = s[`exp_avg_sq.${i}`];
    });
    out["adam.step"] = s.step;
  }
  return out;
}

/**
 * Copies saved tensors into the live state of the walk (GPU copies, in order with recorded work). Strict: the
 * saved names must be exactly the walk's, with the same shapes and dtypes; one error lists every problem.
 *
 * @example
 * ```ts
 * import { Linear } from "@lzn/tensor";
 * import { loadStateDict, stateDict } from "@lzn/tasks";
 * const a = new Linear(2, 2), b = new Linear(2, 2, { rng: undefined });
 * const part = (m: Linear) => ({ parts: { net: { module: m, lr: 1e-3 } }, dispose: () => m.dispose() });
 * loadStateDict(part(b), stateDict(part(a))); // b now holds a's weights
 * ```
 */
export function loadStateDict(
  model: RecipeModel,
  saved: Record<string, Tensor>,
  opt?: Partial<Optimizers>,
  what = "checkpoint",
): void {
  loadState(stateDict(model, opt), saved, { what });
}

/**
 * The saved tensors whose names start with `prefix` (e.g. only `model.` to load the parameters of a run
 * for inference, without its optimizer state).
 *
 * @example
 * ```ts
 * import { tensor } from "@lzn/tensor";
 * import { pickState } from "@lzn/tasks";
 * const saved = { "model.net.w": tensor([1], [1]), "adam.step": tensor([0], [1]) };
 * console.log(Object.keys(pickState(saved, ["model."]))); // ["model.net.w"]
 * ```
 */
export function pickState(saved: Record<string, Tensor>, prefixes: string[]): Record<string, Tensor> {
  return Object.fromEntries(Object.entries(saved).filter(([k]) => prefixes.some((p) => k.startsWith(p))));
}
