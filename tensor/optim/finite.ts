/**
 * GPU-side "was this step finite?" flags. lzn-spec §8 skips the whole update (optimizer, LR scheduler, EMA)
 * when the loss or the gradient norm is not finite. Reading the loss back every step to decide costs a full
 * GPU round trip, so instead the decision stays on the GPU: {@link finiteFlag} writes 1 or 0 into a
 * one-element tensor, and `Adam.step` / `EMA.update` read it inside their kernels (and leave parameters,
 * moments, shadows and step counters untouched when it is 0).
 *
 * @module
 */
import { bindings, kernel } from "../kernel.ts";
import { dispatch } from "../recorder.ts";
import { Tensor, tensor } from "../tensor.ts";

const WG = 256;

// Bit test instead of isnan/isinf: WGSL lets compilers assume finite math and fold `x != x` away.
const FLAG_WGSL = `${bindings([["X", "read", "u32"], ["F", "read_write", "f32"]])}
struct Params { n: u32, first: u32, pad0: u32, pad1: u32 }
@group(0) @binding(2) var<uniform> u: Params;
var<workgroup> bad: atomic<u32>;
@compute @workgroup_size(${WG}) fn main(@builtin(local_invocation_index) lid: u32) {
  var b = 0u;
  for (var i = lid; i < u.n; i = i + ${WG}u) {
    if ((X[i] & 0x7f800000u) == 0x7f800000u) { b = 1u; }
  }
  if (b == 1u) { atomicStore(&bad, 1u); }
  workgroupBarrier();
  if (lid == 0u) {
    let ok = select(1.0, 0.0, atomicLoad(&bad) != 0u);
    if (u.first == 1u) { F[0] = ok; } else { F[0] = F[0] * ok; }
  }
}`;

/**
 * A one-element f32 tensor: 1 if every element of every `x` is finite, else 0. No readback. Meant for
 * scalars such as the loss and the gradient norm (one workgroup scans each input).
 *
 * @example
 * ```ts
 * import { finiteFlag, tensor } from "@lzn/tensor";
 * const ok = finiteFlag(tensor([1.5], [1]), tensor([Infinity], [1]));
 * console.log(await ok.item()); // 0
 * ```
 */
export function finiteFlag(...xs: Tensor[]): Tensor {
  const out = Tensor.empty([1]);
  const k = kernel({ name: "finite_flag", wgsl: FLAG_WGSL, storage: ["read", "read_write"], uniform: 16 });
  const floats = xs.filter((x) => x.dtype === "f32");
  if (floats.length === 0) floats.push(onesFlag());
  floats.forEach((x, i) => {
    const params = new Uint32Array([x.size, i === 0 ? 1 : 0, 0, 0]);
    dispatch({ kernel: k, buffers: [x.buffer, out.buffer], params, workgroups: [1] });
  });
  return out;
}

let ones: Tensor | undefined;

/**
 * The shared always-1 flag used when a caller passes no flag (created once, never freed).
 *
 * @example
 * ```ts
 * import { onesFlag } from "@lzn/tensor";
 * const always = onesFlag();
 * ```
 */
export function onesFlag(): Tensor {
  if (!ones || ones.disposed) ones = tensor([1], [1]).keep();
  return ones;
}

const COUNT_WGSL = `${bindings([["S", "read_write", "u32"], ["L", "read", "u32"], ["F", "read", "f32"]])}
struct Params { count: u32, pad0: u32, pad1: u32, pad2: u32 }
@group(0) @binding(3) var<uniform> u: Params;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) gid: vec3u) {
  if (gid.x >= u.count) { return; }
  S[L[gid.x]] = S[L[gid.x]] + select(0u, 1u, F[0] != 0.0);
}`;

/**
 * Adds the flag (0 or 1) to `counters[indices[j]]` for every j, on the GPU: step counters advance only on
 * finite steps. `indices` must not repeat an index.
 *
 * @example
 * ```ts
 * import { bumpCounters, onesFlag, tensor } from "@lzn/tensor";
 * const counters = tensor([0, 0], [2], { dtype: "u32" });
 * bumpCounters(counters, tensor([1], [1], { dtype: "u32" }), onesFlag()); // counters = [0, 1]
 * ```
 */
export function bumpCounters(counters: Tensor, indices: Tensor, flag: Tensor): void {
  const k = kernel({
    name: "bump_counters",
    wgsl: COUNT_WGSL,
    storage: ["read_write", "read", "read"],
    uniform: 16,
  });
  const params = new Uint32Array([indices.size, 0, 0, 0]);
  dispatch({
    kernel: k,
    buffers: [counters.buffer, indices.buffer, flag.buffer],
    params,
    workgroups: [Math.ceil(indices.size / 64)],
  });
}
