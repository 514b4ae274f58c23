/**
 * Spatial down- and up-sampling over the last two dims (NCHW): `avgPool2d` (kernel = stride = k) and
 * `upsampleNearest2d`. The two are each other's adjoint up to a scale, so two kernels cover both ops and
 * both VJPs: `blockSum` (sum of each k×k block, scaled) and `blockExpand` (each value copied into an f×f
 * block, scaled, zero where the pooling cropped a ragged edge).
 *
 * @module
 */
import { record } from "../autograd.ts";
import { bindings, f32Lit, kernel } from "../kernel.ts";
import { dispatch } from "../recorder.ts";
import { Tensor } from "../tensor.ts";
import { linearGrid, linearIndex } from "./grid.ts";

const WG = 256;

function launch(name: string, out: Tensor, x: Tensor, body: string): void {
  const grid = linearGrid(out.size, WG);
  const wgsl = `${bindings([["X", "read", "f32"], ["Y", "read_write", "f32"]])}
@compute @workgroup_size(${WG}) fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = ${linearIndex(WG)};
  if (i >= ${out.size}u) { return; }
  ${body}
}`;
  dispatch({
    kernel: kernel({ name, wgsl, storage: ["read", "read_write"] }),
    buffers: [x.buffer, out.buffer],
    workgroups: grid.workgroups,
  });
}

/** `[..., H, W] -> [..., floor(H/k), floor(W/k)]`: scale times the sum of each k×k block. */
function blockSum(x: Tensor, k: number, scale: number): Tensor {
  const [H, W] = x.shape.slice(-2);
  const HO = Math.floor(H / k), WO = Math.floor(W / k);
  const out = Tensor.empty([...x.shape.slice(0, -2), HO, WO]);
  const terms: string[] = [];
  for (let r = 0; r < k; r++) for (let s = 0; s < k; s++) terms.push(`X[b + ${r * W + s}u]`);
  launch(
    "block_sum",
    out,
    x,
    `let plane = i / ${HO * WO}u; let p = i % ${HO * WO}u;
  let b = plane * ${H * W}u + (p / ${WO}u) * ${k * W}u + (p % ${WO}u) * ${k}u;
  Y[i] = (${terms.join(" + ")}) * ${f32Lit(scale)};`,
  );
  return out;
}

/** `[..., h, w] -> [..., H, W]`: out[y, x] = scale * in[y / f, x / f], zero where y / f >= h or x / f >= w. */
function blockExpand(x: Tensor, f: number, scale: number, H: number, W: number): Tensor {
  const [h, w] = x.shape.slice(-2);
  const out = Tensor.empty([...x.shape.slice(0, -2), H, W]);
  launch(
    "block_expand",
    out,
    x,
    `let plane = i / ${H * W}u; let p = i % ${H * W}u;
  let r = (p / ${W}u) / ${f}u; let c = (p % ${W}u) / ${f}u;
  var v = 0.0;
  if (r < ${h}u && c < ${w}u) { v = X[plane * ${h * w}u + r * ${w}u + c] * ${f32Lit(scale)}; }
  Y[i] = v;`,
  );
  return out;
}

function checkFactor(x: Tensor, k: number, what: string): void {
  if (x.ndim < 2 || x.dtype !== "f32") {
    throw new Error(`lzn: ${what} needs an f32 tensor [..., H, W], got ${x.dtype} [${x.shape.join(", ")}]`);
  }
  if (!Number.isInteger(k) || k < 1) {
    throw new Error(`lzn: ${what} factor must be a positive integer, got ${k}`);
  }
}

/**
 * Average pooling with kernel = stride = `k` over the last two dims (`[N, C, H, W] -> [N, C, H/k, W/k]`,
 * rounding down like PyTorch: a ragged edge is dropped). Differentiable.
 *
 * @example
 * ```ts
 * import { avgPool2d, tensor } from "@lzn/tensor";
 * const x = tensor([1, 2, 3, 4], [1, 1, 2, 2]);
 * console.log(await avgPool2d(x, 2).toArray()); // Float32Array [2.5]
 * ```
 */
export function avgPool2d(x: Tensor, k: number): Tensor {
  checkFactor(x, k, "avgPool2d");
  const [H, W] = x.shape.slice(-2);
  if (H < k || W < k) throw new Error(`lzn: avgPool2d kernel ${k} is larger than the input ${H}x${W}`);
  const out = blockSum(x, k, 1 / (k * k));
  return record("avgPool2d", out, [x], (g) => [blockExpand(g, k, 1 / (k * k), H, W)]);
}

/**
 * Nearest-neighbour upsampling by an integer `factor` over the last two dims
 * (`[N, C, H, W] -> [N, C, H*factor, W*factor]`). Differentiable (the VJP sums each factor×factor block).
 *
 * @example
 * ```ts
 * import { tensor, upsampleNearest2d } from "@lzn/tensor";
 * const x = tensor([1, 2], [1, 1, 1, 2]);
 * console.log(await upsampleNearest2d(x, 2).toArray()); // Float32Array [1, 1, 2, 2, 1, 1, 2, 2]
 * ```
 */
export function upsampleNearest2d(x: Tensor, factor: number): Tensor {
  checkFactor(x, factor, "upsampleNearest2d");
  const [H, W] = x.shape.slice(-2);
  const out = blockExpand(x, factor, 1, H * factor, W * factor);
  return record("upsampleNearest2d", out, [x], (g) => [blockSum(g, factor, 1)]);
}
