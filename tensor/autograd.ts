/**
 * Reverse-mode autograd: each op output that depends on a tensor requiring grad carries a {@link GradNode}
 * holding its inputs (retained, so `dispose()` of an intermediate cannot free what backward needs) and a
 * vector-Jacobian product. `backward()` walks the graph in reverse topological order, accumulates into the
 * leaves' `.grad`, and frees the graph.
 *
 * @module
 */
import type { Tensor } from "./tensor.ts";

/**
 * The VJP of one op: upstream gradient -> one gradient (or null) per input.
 *
 * @example
 * ```ts
 * import { record, tensor, type Vjp } from "@lzn/tensor";
 * const x = tensor([1, 2], [2], { requiresGrad: true });
 * const double: Vjp = (g) => [g.mul(2)]; // d(2x)/dx = 2
 * const y = record("double", x.detach().mul(2), [x], double);
 * y.sum().backward(); // x.grad = [2, 2]
 * ```
 */
export type Vjp = (grad: Tensor) => (Tensor | null | undefined)[];

/**
 * A recorded op in the autograd graph.
 *
 * @example
 * ```ts
 * import { type GradNode, tensor } from "@lzn/tensor";
 * const x = tensor([1, 2], [2], { requiresGrad: true });
 * const node: GradNode | undefined = x.mul(3).node;
 * console.log(node?.name, node?.inputs.length);
 * ```
 */
export interface GradNode {
  /** The op's name, for error messages. */
  readonly name: string;
  /** Inputs, retained until the node is released. */
  readonly inputs: Tensor[];
  /** Extra tensors the VJP reads (retained too). */
  readonly saved: Tensor[];
  /** The vector-Jacobian product. */
  readonly vjp: Vjp;
}

let gradDepth = 0;

/**
 * True while recording is enabled (outside {@link noGrad}).
 *
 * @example
 * ```ts
 * import { isGradEnabled, noGrad } from "@lzn/tensor";
 * console.log(isGradEnabled()); // true
 * noGrad(() => console.log(isGradEnabled())); // false
 * ```
 */
export function isGradEnabled(): boolean {
  return gradDepth === 0;
}

/**
 * Runs `fn` without recording autograd nodes (inference, optimizer updates, and every VJP).
 *
 * @example
 * ```ts
 * import { noGrad, tensor } from "@lzn/tensor";
 * const w = tensor([1, 2], [2], { requiresGrad: true });
 * const y = noGrad(() => w.mul(2)); // y.requiresGrad === false
 * ```
 */
export function noGrad<T>(fn: () => T): T {
  gradDepth++;
  try {
    return fn();
  } finally {
    gradDepth--;
  }
}

/**
 * Attaches a VJP to an op output when grad is enabled and some input requires grad. `saved` lists any
 * further tensors the VJP reads. Returns `out`.
 *
 * @example
 * ```ts
 * import { record, tensor } from "@lzn/tensor";
 * const x = tensor([3], [1], { requiresGrad: true });
 * const y = record("double", x.detach().mul(2), [x], (g) => [g.mul(2)]); // a hand-written custom op
 * y.sum().backward(); // x.grad = [2]
 * ```
 */
export function record(name: string, out: Tensor, inputs: Tensor[], vjp: Vjp, saved: Tensor[] = []): Tensor {
  if (gradDepth > 0 || !inputs.some((t) => t.requiresGrad)) return out;
  // A node never holds its own output: that self-reference would keep a graph that is disposed without
  // backward() alive forever. The VJP may still read `out` through its closure, because `out` lives as
  // long as anything downstream can reach this node (downstream nodes retain it as an input) and backward()
  // frees nodes only after the whole pass.
  const kept = saved.filter((t) => t !== out);
  for (const t of inputs) t.retain();
  for (const t of kept) t.retain();
  out.setNode({ name, inputs, saved: kept, vjp });
  return out;
}

/** Releases the references a node holds (called when its output is freed or after backward). */
export function releaseNode(node: GradNode): void {
  for (const t of node.inputs) t.dispose(true);
  for (const t of node.saved) t.dispose(true);
}

function topoOrder(root: Tensor): Tensor[] {
  const order: Tensor[] = [];
  const seen = new Set<Tensor>();
  // Iterative DFS: deep graphs (100-step flows) would overflow a recursive one.
  const stack: [Tensor, number][] = [[root, 0]];
  seen.add(root);
  while (stack.length) {
    const top = stack[stack.length - 1];
    const node = top[0].node;
    if (node && top[1] < node.inputs.length) {
      const child = node.inputs[top[1]++];
      if (!seen.has(child) && child.requiresGrad) {
        seen.add(child);
        stack.push([child, 0]);
      }
    } else {
      order.push(top[0]);
      stack.pop();
    }
  }
  return order.reverse();
}

/**
 * Back-propagates from `root` (a scalar unless `seed` is given), accumulating into every leaf's `.grad`,
 * then frees the graph (a second call on the same `root` fails: compute it again).
 *
 * @example
 * ```ts
 * import { backward, tensor } from "@lzn/tensor";
 * const x = tensor([1, 2, 3], [3], { requiresGrad: true });
 * backward(x.mul(x).sum()); // x.grad = 2x
 * ```
 */
export function backward(root: Tensor, seed?: Tensor): void {
  if (!root.requiresGrad) {
    throw new Error(
      root.graphFreed
        ? "lzn: backward() again on a graph that the first backward() freed: compute the loss again"
        : "lzn: backward() on a tensor that does not require grad: none of its inputs has requiresGrad " +
          "(a module's parameters have it; a tensor gets it with { requiresGrad: true }), or an earlier " +
          "backward() freed the graph they came from",
    );
  }
  if (!seed && root.size !== 1) {
    throw new Error(`lzn: backward() without a seed needs a scalar, got shape [${root.shape.join(", ")}]`);
  }
  const order = topoOrder(root);
  const grads = new Map<Tensor, Tensor>();
  noGrad(() => {
    grads.set(root, seed ? seed.clone() : root.onesLike());
    for (const t of order) {
      const g = grads.get(t);
      if (!g) continue;
      const node = t.node;
      if (!node) {
        accumulateLeaf(t, g);
        grads.delete(t);
        continue;
      }
      const inGrads = ownGrads(node, g);
      node.inputs.forEach((inp, i) => {
        const gi = inGrads[i];
        if (!gi) return;
        if (!sameShape(gi.shape, inp.shape)) {
          throw new Error(
            `lzn: VJP of "${node.name}" returned grad [${gi.shape}] for input [${inp.shape}] (input ${i})`,
          );
        }
        const prev = grads.get(inp);
        if (prev) {
          grads.set(inp, prev.add(gi));
          prev.dispose();
          gi.dispose();
        } else grads.set(inp, gi);
      });
      g.dispose();
      grads.delete(t);
    }
  });
  for (const g of grads.values()) g.dispose();
  for (const t of order) t.clearNode();
}

/**
 * Runs a VJP and gives each wanted input gradient its own tensor: a custom VJP may return `g` itself (a
 * straight-through op) or one tensor for several inputs, but `g` is freed after the node and every stored
 * gradient is freed once accumulated. Returned tensors nobody wants are freed here.
 */
function ownGrads(node: GradNode, g: Tensor): (Tensor | null)[] {
  const raw = node.vjp(g);
  const taken = new Set<Tensor>([g]);
  const owned = node.inputs.map((inp, i) => {
    const gi = raw[i];
    if (!gi || !inp.requiresGrad) return null;
    if (taken.has(gi)) return gi.clone();
    taken.add(gi);
    return gi;
  });
  for (const gi of raw) if (gi && !taken.has(gi)) gi.dispose();
  return owned;
}

function accumulateLeaf(t: Tensor, g: Tensor): void {
  if (t.grad) {
    const sum = t.grad.add(g);
    t.grad.dispose();
    g.dispose();
    t.grad = sum.keep();
  } else t.grad = g.keep();
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/**
 * Functional gradient: `grad(f)(...xs)` returns d f / d xs for a scalar-valued `f`, leaving `xs` untouched.
 *
 * @example
 * ```ts
 * import { grad, tensor } from "@lzn/tensor";
 * const [gx] = grad((x) => x.mul(x).sum())(tensor([3], [1])); // [6]
 * ```
 */
export function grad(f: (...xs: Tensor[]) => Tensor): (...xs: Tensor[]) => Tensor[] {
  return (...xs: Tensor[]) => {
    const leaves = xs.map((x) => x.detach().requireGrad());
    const y = f(...leaves);
    backward(y);
    y.dispose();
    return leaves.map((l, i) => {
      const g = l.grad ?? xs[i].zerosLike();
      l.grad = undefined;
      l.dispose();
      return g;
    });
  };
}
