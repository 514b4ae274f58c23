/**
 * Loading named state (module parameters, optimizer moments, EMA shadows) into live tensors in place: every
 * name, dtype and shape is checked first and all problems are reported in one error, then the data moves
 * with GPU copies recorded in order with the rest of the work (no readback).
 *
 * @module
 */
import { copyBuffer } from "../recorder.ts";
import type { Tensor } from "../tensor.ts";

/**
 * Options of {@link loadState}.
 *
 * @example
 * ```ts
 * import { loadState, type LoadStateOptions, tensor } from "@lzn/tensor";
 * const live = { w: tensor([0, 0], [2]) };
 * const opts: LoadStateOptions = { strict: false, what: "checkpoint" };
 * loadState(live, { w: tensor([1, 2], [2]), extra: tensor([3], [1]) }, opts); // "extra" ignored
 * ```
 */
export interface LoadStateOptions {
  /** Require exactly the same keys (default true); otherwise missing and extra keys are ignored. */
  strict?: boolean;
  /** What is being loaded, for the error message (e.g. "Adam"). */
  what?: string;
}

/**
 * Copies `state[name]` into `target[name]` for every name after validating all of them.
 *
 * @example
 * ```ts
 * import { loadState, tensor } from "@lzn/tensor";
 * const live = { w: tensor([0, 0], [2]) };
 * loadState(live, { w: tensor([1, 2], [2]) }, { what: "demo" }); // live.w = [1, 2]
 * ```
 */
export function loadState(
  target: Record<string, Tensor>,
  state: Record<string, Tensor>,
  opts: LoadStateOptions = {},
): void {
  const strict = opts.strict ?? true;
  const problems: string[] = [];
  for (const [name, t] of Object.entries(target)) {
    const src = state[name];
    if (!src) {
      if (strict) problems.push(`missing key "${name}"`);
      continue;
    }
    if (src.dtype !== t.dtype) problems.push(`"${name}": dtype ${src.dtype}, expected ${t.dtype}`);
    if (src.shape.length !== t.shape.length || src.shape.some((d, i) => d !== t.shape[i])) {
      problems.push(`"${name}": shape [${src.shape.join(", ")}], expected [${t.shape.join(", ")}]`);
    }
  }
  if (strict) {
    for (const name of Object.keys(state)) if (!(name in target)) problems.push(`unexpected key "${name}"`);
  }
  if (problems.length) {
    throw new Error(`lzn: loading ${opts.what ?? "state"} failed:\n  ${problems.join("\n  ")}`);
  }
  for (const [name, t] of Object.entries(target)) {
    const src = state[name];
    // A recorded copy keeps queue order with work already recorded (queue.writeBuffer would overtake it).
    if (src && src !== t) copyBuffer(src.buffer, 0, t.buffer, 0, t.size * 4);
  }
}
