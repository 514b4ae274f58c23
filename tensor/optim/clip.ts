/**
 * Global L2 gradient-norm clipping (PyTorch `clip_grad_norm_`), entirely on the GPU: per-parameter partial
 * sums of squares, one kernel that turns them into the norm and the factor `min(1, max / (norm + 1e-6))`,
 * and one in-place scaling kernel per gradient. Nothing is read back; the norm comes back as a tensor so
 * the caller decides whether (and how rarely) to read it.
 *
 * @module
 */
import { bindings, kernel } from "../kernel.ts";
import { dispatch } from "../recorder.ts";
import { Tensor } from "../tensor.ts";
import { linearGrid, linearIndex } from "../ops/grid.ts";

const WG = 256;
/** At most this many workgroups (partial sums) per parameter; each thread then strides over the rest. */
const MAX_PARTIALS = 64;
/** Elements per thread before another workgroup is worth launching. */
const PER_THREAD = 8;

const SUMSQ_WGSL = `${bindings([["G", "read", "f32"], ["P", "read_write", "f32"]])}
struct Params { n: u32, offset: u32, groups: u32, pad0: u32 }
@group(0) @binding(2) var<uniform> u: Params;
var<workgroup> part: array<f32, ${WG}>;
@compute @workgroup_size(${WG}) fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  var acc = 0.0;
  for (var i = wid.x * ${WG}u + lid; i < u.n; i = i + u.groups * ${WG}u) { let g = G[i]; acc = acc + g * g; }
  part[lid] = acc;
  workgroupBarrier();
  for (var s = ${WG / 2}u; s > 0u; s = s >> 1u) {
    if (lid < s) { part[lid] = part[lid] + part[lid + s]; }
    workgroupBarrier();
  }
  if (lid == 0u) { P[u.offset + wid.x] = part[0]; }
}`;

const NORM_WGSL = `${bindings([["P", "read", "f32"], ["N", "read_write", "f32"], ["S", "read_write", "f32"]])}
struct Params { count: u32, maxNorm: f32, pad0: u32, pad1: u32 }
@group(0) @binding(3) var<uniform> u: Params;
var<workgroup> part: array<f32, ${WG}>;
@compute @workgroup_size(${WG}) fn main(@builtin(local_invocation_index) lid: u32) {
  var acc = 0.0;
  for (var i = lid; i < u.count; i = i + ${WG}u) { acc = acc + P[i]; }
  part[lid] = acc;
  workgroupBarrier();
  for (var s = ${WG / 2}u; s > 0u; s = s >> 1u) {
    if (lid < s) { part[lid] = part[lid] + part[lid + s]; }
    workgroupBarrier();
  }
  if (lid == 0u) {
    let norm = sqrt(part[0]);
    N[0] = norm;
    // As torch: clamp(max / (norm + 1e-6), max = 1). A NaN norm means NaN gradients, which no factor repairs:
    // finiteFlag() + Adam.step({ finite }) skip such a step.
    let c = u.maxNorm / (norm + 1e-6);
    S[0] = select(1.0, c, c < 1.0);
  }
}`;

const SCALE_WGSL = `${bindings([["G", "read_write", "f32"], ["S", "read", "f32"]])}
struct Params { n: u32, pad0: u32, pad1: u32, pad2: u32 }
@group(0) @binding(2) var<uniform> u: Params;
@compute @workgroup_size(${WG}) fn main(@builtin(global_invocation_id) gid: vec3u,
    @builtin(num_workgroups) nwg: vec3u) {
  let i = ${linearIndex(WG)};
  let s = S[0];
  if (i >= u.n || s == 1.0) { return; }
  G[i] = G[i] * s;
}`;

/**
 * Scales the gradients of `params` in place so that their global L2 norm is at most `maxNorm`, and returns
 * the norm before clipping as a scalar tensor (shape `[]`). Parameters without a gradient are ignored.
 * With no gradients at all the norm is 0.
 *
 * @example
 * ```ts
 * import { clipGradNorm, tensor } from "@lzn/tensor";
 * const w = tensor([3, 4], [2], { requiresGrad: true });
 * w.mul(w).mul(0.5).sum().backward(); // grad = [3, 4], norm 5
 * const norm = clipGradNorm([w], 1.0);  // grad becomes [0.6, 0.8]
 * console.log(await norm.item()); // 5
 * ```
 */
export function clipGradNorm(params: Tensor[], maxNorm: number): Tensor {
  const grads = params.map((p) => p.grad).filter((g): g is Tensor => g !== undefined);
  for (const g of grads) {
    if (g.dtype !== "f32") throw new Error(`lzn: clipGradNorm got a ${g.dtype} gradient`);
  }
  const plan = grads.map((g) => Math.max(1, Math.min(MAX_PARTIALS, Math.ceil(g.size / (WG * PER_THREAD)))));
  const total = plan.reduce((a, b) => a + b, 0);
  const partials = Tensor.empty([Math.max(1, total)]);
  const norm = Tensor.empty([]);
  const scale = Tensor.empty([1]);
  const sumsq = kernel({
    name: "clip_sumsq",
    wgsl: SUMSQ_WGSL,
    storage: ["read", "read_write"],
    uniform: 16,
  });
  let offset = 0;
  grads.forEach((g, i) => {
    dispatch({
      kernel: sumsq,
      buffers: [g.buffer, partials.buffer],
      params: new Uint32Array([g.size, offset, plan[i], 0]),
      workgroups: [plan[i]],
    });
    offset += plan[i];
  });
  const normK = kernel({
    name: "clip_norm",
    wgsl: NORM_WGSL,
    storage: ["read", "read_write", "read_write"],
    uniform: 16,
  });
  const np = new ArrayBuffer(16);
  new Uint32Array(np, 0, 1)[0] = total;
  new Float32Array(np, 4, 1)[0] = maxNorm;
  dispatch({
    kernel: normK,
    buffers: [partials.buffer, norm.buffer, scale.buffer],
    params: new Uint8Array(np),
    workgroups: [1],
  });
  const scaleK = kernel({
    name: "clip_scale",
    wgsl: SCALE_WGSL,
    storage: ["read_write", "read"],
    uniform: 16,
  });
  for (const g of grads) {
    dispatch({
      kernel: scaleK,
      buffers: [g.buffer, scale.buffer],
      params: new Uint32Array([g.size, 0, 0, 0]),
      workgroups: linearGrid(g.size, WG).workgroups,
    });
  }
  partials.dispose();
  scale.dispose();
  return norm;
}
