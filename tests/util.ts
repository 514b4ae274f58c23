/**
 * Test helpers shared by every suite: a seeded RNG, closeness assertions, and a gradient checker that
 * compares the GPU autograd gradient with float64 central finite differences of a float64 reference.
 *
 * @module
 */
import { strict as assert } from "node:assert";
import { bufferPool, type Tensor, tensor } from "../tensor/mod.ts";

/** Deterministic PRNG (mulberry32) so every test is reproducible. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `n` uniform values in `[lo, hi)`. */
export function randArray(n: number, seed: number, lo = -1, hi = 1): Float64Array {
  const r = rng(seed);
  return Float64Array.from({ length: n }, () => lo + (hi - lo) * r());
}

/** `n` standard normal values (Box–Muller). */
export function randnArray(n: number, seed: number): Float64Array {
  const r = rng(seed);
  return Float64Array.from(
    { length: n },
    () => Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r()),
  );
}

/** Asserts `|a - b| <= atol + rtol |b|` elementwise, reporting the worst index. */
export function assertClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  opts: { rtol?: number; atol?: number; what?: string } = {},
): void {
  const { rtol = 1e-4, atol = 1e-5, what = "values" } = opts;
  assert.equal(actual.length, expected.length, `${what}: length ${actual.length} vs ${expected.length}`);
  let worst = -1, worstErr = 0;
  for (let i = 0; i < actual.length; i++) {
    const err = Math.abs(actual[i] - expected[i]) - (atol + rtol * Math.abs(expected[i]));
    if (!(err <= 0) && (worst < 0 || err > worstErr || Number.isNaN(err))) {
      worst = i;
      worstErr = err;
    }
  }
  if (worst >= 0) {
    assert.fail(
      `${what}: element ${worst} is ${actual[worst]}, expected ${
        expected[worst]
      } (rtol ${rtol}, atol ${atol})`,
    );
  }
}

/** Uploads a float64 array as an f32 tensor. */
export function fromF64(data: Float64Array, shape: number[], requiresGrad = false): Tensor {
  return tensor(Float32Array.from(data), shape, { requiresGrad });
}

/** An input of a gradient check: its shape and float64 values. */
export interface GradInput {
  shape: number[];
  data: Float64Array;
}

/**
 * Checks forward and backward of a tensor function against a float64 reference.
 * `gpuFn` maps tensors to a tensor; `refFn` maps float64 arrays to the same (flattened) output.
 * The GPU gradient of `sum(out * w)` for a fixed random `w` is compared with central differences of the
 * float64 reference, so the check covers the whole VJP, not just a scalar path.
 */
export async function checkGrad(
  gpuFn: (xs: Tensor[]) => Tensor,
  refFn: (xs: Float64Array[]) => ArrayLike<number>,
  inputs: GradInput[],
  opts: { rtol?: number; atol?: number; h?: number; gradRtol?: number; gradAtol?: number; seed?: number } =
    {},
): Promise<void> {
  const { rtol = 1e-4, atol = 1e-5, h = 1e-5, gradRtol = 2e-3, gradAtol = 2e-4, seed = 7 } = opts;
  const expected = Float64Array.from(refFn(inputs.map((x) => x.data)));
  const w = randArray(expected.length, seed);
  const xs = inputs.map((x) => fromF64(x.data, x.shape, true));
  const y = gpuFn(xs);
  assertClose(await y.toArray(), expected, { rtol, atol, what: "forward" });
  const wt = fromF64(w, [...y.shape]);
  const loss = y.mul(wt).sum();
  loss.backward();
  for (let k = 0; k < inputs.length; k++) {
    const num = new Float64Array(inputs[k].data.length);
    for (let i = 0; i < num.length; i++) {
      const plus = inputs.map((x) => x.data.slice());
      const minus = inputs.map((x) => x.data.slice());
      plus[k][i] += h;
      minus[k][i] -= h;
      const fp = refFn(plus), fm = refFn(minus);
      let d = 0;
      for (let j = 0; j < w.length; j++) d += w[j] * (fp[j] - fm[j]);
      num[i] = d / (2 * h);
    }
    const g = xs[k].grad;
    assert.ok(g, `input ${k} received no gradient`);
    assertClose(await g.toArray(), num, { rtol: gradRtol, atol: gradAtol, what: `gradient of input ${k}` });
  }
  for (const t of [...xs, y, wt, loss]) t.dispose();
}

/** Runs `fn` and asserts the pool's live-buffer count is unchanged afterwards. */
export async function assertNoLeak(fn: () => unknown | Promise<unknown>, what = "operation"): Promise<void> {
  const before = bufferPool.live;
  await fn();
  assert.equal(bufferPool.live, before, `${what} leaked ${bufferPool.live - before} buffers`);
}
