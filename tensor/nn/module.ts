/**
 * `Module`: the base of every layer and model. Parameters and sub-modules are discovered from the module's
 * own properties (in definition order), as in PyTorch: a property holding a {@link parameter} is a parameter,
 * a property holding a `Module` (or an array of them) is a child. Names are dotted paths such as
 * `"blocks.0.conv.weight"`, which are also the keys of {@link Module.stateDict} and of checkpoints.
 *
 * @module
 */
import { Tensor } from "../tensor.ts";
import { loadState } from "./state.ts";

const registry = new WeakSet<Tensor>();

/**
 * Marks a tensor as a trainable parameter: a leaf with `requiresGrad`, exempt from scopes (`keep()`), and
 * found by {@link Module.namedParameters} when stored on a module property. Returns the tensor.
 *
 * @example
 * ```ts
 * import { Module, parameter, Tensor, tensor } from "@lzn/tensor";
 * class Scale extends Module {
 *   gain = parameter(tensor([1], [1]));
 *   forward(x: Tensor) { return x.mul(this.gain); }
 * }
 * ```
 */
export function parameter(t: Tensor): Tensor {
  if (t.node) throw new Error("lzn: a parameter must be a leaf tensor (not the output of a recorded op)");
  registry.add(t);
  return t.requireGrad().keep();
}

/**
 * True if `t` was registered with {@link parameter}.
 *
 * @example
 * ```ts
 * import { isParameter, tensor } from "@lzn/tensor";
 * isParameter(tensor([1], [1])); // false
 * ```
 */
export function isParameter(t: unknown): t is Tensor {
  return t instanceof Tensor && registry.has(t);
}

/**
 * A module with a single-tensor forward (what {@link Sequential}-style containers chain).
 *
 * @example
 * ```ts
 * import { type Layer, Linear, SiLU, type Tensor, tensor } from "@lzn/tensor";
 * const layers: Layer[] = [new Linear(2, 4), new SiLU(), new Linear(4, 1)];
 * const y = layers.reduce((x: Tensor, l) => l.forward(x), tensor([1, 2], [1, 2])); // [1, 1]
 * ```
 */
export interface Layer {
  /** Applies the layer. */
  forward(x: Tensor): Tensor;
}

/**
 * Options of {@link Module.loadStateDict}.
 *
 * @example
 * ```ts
 * import { Linear, type StateDictLoadOptions } from "@lzn/tensor";
 * const src = new Linear(3, 2), dst = new Linear(3, 2, { bias: false });
 * const opts: StateDictLoadOptions = { strict: false }; // "bias" in src has no counterpart: ignored
 * dst.loadStateDict(src.stateDict(), opts);
 * ```
 */
export interface StateDictLoadOptions {
  /** Require exactly the module's keys (default true); with false, missing and extra keys are ignored. */
  strict?: boolean;
}

/**
 * Base class of layers and models.
 *
 * @example
 * ```ts
 * import { Linear, Module, Tensor } from "@lzn/tensor";
 * class Mlp extends Module {
 *   hidden = new Linear(2, 8);
 *   out = new Linear(8, 1);
 *   forward(x: Tensor) { return this.out.forward(this.hidden.forward(x).silu()); }
 * }
 * const m = new Mlp();
 * console.log(m.namedParameters().map(([n]) => n)); // ["hidden.weight", "hidden.bias", "out.weight", "out.bias"]
 * ```
 */
export abstract class Module {
  /** Training mode flag (dropout-like behaviour reads it); set by {@link Module.train} / {@link Module.eval}. */
  training = true;

  /** Direct sub-modules with their names. Containers override this to name children by index. */
  children(): [string, Module][] {
    const out: [string, Module][] = [];
    for (const [key, value] of Object.entries(this)) {
      if (value instanceof Module) out.push([key, value]);
      else if (Array.isArray(value)) {
        value.forEach((v, i) => {
          if (v instanceof Module) out.push([`${key}.${i}`, v]);
        });
      }
    }
    return out;
  }

  /** Parameters held directly by this module (not by children), with their names. */
  ownParameters(): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [key, value] of Object.entries(this)) {
      if (isParameter(value)) out.push([key, value]);
      else if (Array.isArray(value)) {
        value.forEach((v, i) => {
          if (isParameter(v)) out.push([`${key}.${i}`, v]);
        });
      }
    }
    return out;
  }

  /**
   * All parameters, recursively, with dotted names, in PyTorch's order: a module's own parameters (in
   * definition order), then each child's. A parameter or module reachable twice (shared) is listed once,
   * under its first name.
   */
  namedParameters(): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    const seenParams = new Set<Tensor>();
    const seenModules = new Set<Module>();
    const visit = (m: Module, prefix: string) => {
      if (seenModules.has(m)) return;
      seenModules.add(m);
      for (const [name, p] of m.ownParameters()) {
        if (seenParams.has(p)) continue;
        seenParams.add(p);
        out.push([prefix + name, p]);
      }
      for (const [name, c] of m.children()) visit(c, `${prefix}${name}.`);
    };
    visit(this, "");
    return out;
  }

  /** All parameters, recursively (see {@link Module.namedParameters}). */
  parameters(): Tensor[] {
    return this.namedParameters().map(([, p]) => p);
  }

  /** Total number of parameter elements. */
  numParameters(): number {
    return this.parameters().reduce((n, p) => n + p.size, 0);
  }

  /** This module and every descendant, with dotted names (`""` for this one). */
  namedModules(): [string, Module][] {
    const out: [string, Module][] = [];
    const seen = new Set<Module>();
    const visit = (m: Module, name: string) => {
      if (seen.has(m)) return;
      seen.add(m);
      out.push([name, m]);
      for (const [n, c] of m.children()) visit(c, name ? `${name}.${n}` : n);
    };
    visit(this, "");
    return out;
  }

  /** Sets training mode on this module and every descendant. Returns `this`. */
  train(on = true): this {
    for (const [, m] of this.namedModules()) m.training = on;
    return this;
  }

  /** Evaluation mode (`train(false)`). Returns `this`. */
  eval(): this {
    return this.train(false);
  }

  /**
   * Freezes (`false`) or unfreezes every parameter: frozen ones receive no gradient. Frozen parameters stay
   * in {@link Module.parameters} and in the state dict. Returns `this`.
   */
  requireGrad(on = true): this {
    for (const p of this.parameters()) p.requireGrad(on);
    return this;
  }

  /**
   * The parameters by dotted name. The values are the live parameter tensors (no copy): save them, do not
   * dispose them.
   */
  stateDict(): Record<string, Tensor> {
    return Object.fromEntries(this.namedParameters());
  }

  /**
   * Copies `state` into the parameters in place (GPU-to-GPU, no readback), so optimizers and EMAs that hold
   * the parameter tensors stay valid. Checks every name, shape and dtype first and throws one error that lists
   * every problem (missing keys, unexpected keys, mismatched shapes) before copying anything.
   */
  loadStateDict(state: Record<string, Tensor>, opts: StateDictLoadOptions = {}): void {
    loadState(this.stateDict(), state, { strict: opts.strict, what: this.constructor.name });
  }

  /** Frees every parameter's memory (and gradient). The module is unusable afterwards. */
  dispose(): void {
    for (const p of this.parameters()) p.dispose();
  }
}
