/**
 * Scopes for tensor lifetimes: every tensor created inside {@link scope} is disposed when it ends, except
 * what the callback returns and what was {@link Tensor.keep}-ed. One scope per training step keeps the
 * live-buffer count flat without a `dispose()` per intermediate.
 *
 * @module
 */

/** Anything a scope can track: the tensor core's `Tensor` implements it. */
export interface Scoped {
  /** Releases the owner's reference (idempotent). */
  dispose(): void;
}

const stack: Set<Scoped>[] = [];

/** Registers a new tensor with the innermost scope (no-op outside scopes). */
export function track(t: Scoped): void {
  if (stack.length) stack[stack.length - 1].add(t);
}

/** Removes a tensor from every open scope (it then lives until disposed explicitly). */
export function untrack(t: Scoped): void {
  for (const s of stack) s.delete(t);
}

/** The tensors in a returned value, at any depth of arrays and plain objects (each container visited once). */
function collect(value: unknown, out: Set<Scoped>, seen = new Set<object>()): void {
  if (value === null || typeof value !== "object" || seen.has(value)) return;
  seen.add(value);
  if (typeof (value as Scoped).dispose === "function" && "shape" in (value as object)) {
    out.add(value as Scoped);
    return;
  }
  if (Array.isArray(value)) { for (const v of value) collect(v, out, seen); }
  else if (Object.getPrototypeOf(value) === Object.prototype) {
    for (const v of Object.values(value as Record<string, unknown>)) collect(v, out, seen);
  }
}

function close(set: Set<Scoped>, result: unknown): void {
  const keep = new Set<Scoped>();
  collect(result, keep);
  stack.splice(stack.lastIndexOf(set), 1);
  for (const t of set) if (!keep.has(t)) t.dispose();
  // Returned tensors move to the enclosing scope, as if created there.
  if (stack.length) { for (const t of keep) if (set.has(t)) stack[stack.length - 1].add(t); }
}

/**
 * Runs `fn`; disposes every tensor created during it except those in its result (a tensor, or arrays /
 * plain objects of tensors, nested to any depth; a tensor inside a `Map`, a `Set` or a class instance is not
 * seen and is freed: `keep()` it, or return it in an array or plain object). Works with async callbacks, as long as scopes are not interleaved: a tensor is
 * tracked by the innermost open scope, so with two async scopes awaited together (`Promise.all`), what one
 * creates after an `await` may belong to the other and be freed when that one ends (the next use then fails
 * with "use of a disposed tensor"). Await each scope before starting the next.
 *
 * @example
 * ```ts
 * import { scope, tensor } from "@lzn/tensor";
 * const x = tensor([1, 2, 3], [3]);
 * const total = scope(() => x.mul(2).add(1).sum()); // intermediates freed, `total` kept
 * ```
 */
export function scope<T>(fn: () => T): T {
  const set = new Set<Scoped>();
  stack.push(set);
  let result: T;
  try {
    result = fn();
  } catch (e) {
    close(set, undefined);
    throw e;
  }
  if (result instanceof Promise) {
    return result.then((r) => {
      close(set, r);
      return r;
    }, (e) => {
      close(set, undefined);
      throw e;
    }) as T;
  }
  close(set, result);
  return result;
}
