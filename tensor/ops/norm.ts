/**
 * Group normalisation over `x [N, C, ...spatial]` (NCHW; `[N, C]` works too). In a contiguous NCHW tensor the
 * elements of one (sample, group) pair are one contiguous run of `L = C/groups * spatial` values, so one
 * workgroup per pair reduces its run with a shared-memory tree (two passes, mean then centred variance,
 * which is exact enough where a one-pass E[x²] - E[x]² cancels).
 *
 * Backward, with x̂ = (x - μ) r, r = 1/sqrt(σ² + eps), y = x̂ w + b and ĝ = dy w (all per group of L):
 *   dx = r (ĝ - mean(ĝ) - x̂ mean(ĝ x̂)),   dw[c] = Σ_{n,s} dy x̂,   db[c] = Σ_{n,s} dy.
 * dx is one tree per (sample, group). dw and db have only C outputs but N * spatial terms each, so, like a
 * split reduction, their extent is cut into bounded runs of consecutive elements, one workgroup per (channel,
 * run), and `reduce` merges the runs' partial sums.
 *
 * @module
 */
import { record } from "../autograd.ts";
import { bindings, f32Lit, kernel } from "../kernel.ts";
import { gpu } from "../device.ts";
import { dispatch } from "../recorder.ts";
import { Tensor } from "../tensor.ts";
import { linearGrid } from "./grid.ts";
import { reduce } from "./reduce.ts";

interface Shape {
  N: number;
  C: number;
  S: number;
  G: number;
  /** Channels per group. */
  CG: number;
  /** Elements per (sample, group). */
  L: number;
}

function workgroupSize(n: number): number {
  return Math.min(256, Math.max(32, 2 ** Math.ceil(Math.log2(Math.max(1, n)))));
}

/** A shared-memory tree sum of a vec2 over the workgroup (every thread gets the total). */
function treeFn(wg: number): string {
  return `var<workgroup> red: array<vec2f, ${wg}>;
fn tree(v: vec2f, lid: u32) -> vec2f {
  red[lid] = v;
  workgroupBarrier();
  for (var s = ${wg / 2}u; s > 0u; s = s >> 1u) {
    if (lid < s) { red[lid] = red[lid] + red[lid + s]; }
    workgroupBarrier();
  }
  let r = red[0];
  workgroupBarrier();
  return r;
}`;
}

const HEAD = `@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
    @builtin(local_invocation_index) lid: u32`;

function forward(x: Tensor, s: Shape, eps: number, w?: Tensor, b?: Tensor): { y: Tensor; stats: Tensor } {
  const rows = s.N * s.G, WG = workgroupSize(s.L);
  const y = Tensor.empty(x.shape), stats = Tensor.empty([rows, 2]);
  const list: [string, "read" | "read_write", string][] = [["X", "read", "f32"]];
  if (w) list.push(["Wt", "read", "f32"]);
  if (b) list.push(["Bs", "read", "f32"]);
  list.push(["Y", "read_write", "f32"], ["Stats", "read_write", "f32"]);
  const wgsl = `${bindings(list)}
${treeFn(WG)}
@compute @workgroup_size(${WG}) fn main(${HEAD}) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= ${rows}u) { return; }
  let base = row * ${s.L}u;
  var acc = 0.0;
  for (var i = lid; i < ${s.L}u; i = i + ${WG}u) { acc = acc + X[base + i]; }
  let mean = tree(vec2f(acc, 0.0), lid).x / ${s.L}.0;
  acc = 0.0;
  for (var i = lid; i < ${s.L}u; i = i + ${WG}u) { let d = X[base + i] - mean; acc = acc + d * d; }
  let rstd = inverseSqrt(tree(vec2f(acc, 0.0), lid).x / ${s.L}.0 + ${f32Lit(eps)});
  let c0 = (row % ${s.G}u) * ${s.CG}u;
  for (var i = lid; i < ${s.L}u; i = i + ${WG}u) {
    let c = c0 + i / ${s.S}u;
    Y[base + i] = (X[base + i] - mean) * rstd${w ? " * Wt[c]" : ""}${b ? " + Bs[c]" : ""};
  }
  if (lid == 0u) { Stats[2u * row] = mean; Stats[2u * row + 1u] = rstd; }
}`;
  const bufs = [x, ...(w ? [w] : []), ...(b ? [b] : []), y, stats].map((t) => t.buffer);
  dispatch({
    kernel: kernel({ name: "group_norm", wgsl, storage: list.map((l) => l[1]) }),
    buffers: bufs,
    workgroups: linearGrid(rows, 1).workgroups,
  });
  return { y, stats };
}

function inputGrad(x: Tensor, dy: Tensor, stats: Tensor, s: Shape, w?: Tensor): Tensor {
  const rows = s.N * s.G, WG = workgroupSize(s.L);
  const dx = Tensor.empty(x.shape);
  const list: [string, "read" | "read_write", string][] = [["X", "read", "f32"], ["G", "read", "f32"], [
    "Stats",
    "read",
    "f32",
  ]];
  if (w) list.push(["Wt", "read", "f32"]);
  list.push(["DX", "read_write", "f32"]);
  const ghat = (i: string) => (w ? `G[base + ${i}] * Wt[c0 + ${i} / ${s.S}u]` : `G[base + ${i}]`);
  const wgsl = `${bindings(list)}
${treeFn(WG)}
@compute @workgroup_size(${WG}) fn main(${HEAD}) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= ${rows}u) { return; }
  let base = row * ${s.L}u;
  let c0 = (row % ${s.G}u) * ${s.CG}u;
  let mean = Stats[2u * row]; let rstd = Stats[2u * row + 1u];
  var acc = vec2f(0.0);
  for (var i = lid; i < ${s.L}u; i = i + ${WG}u) {
    let gh = ${ghat("i")};
    acc = acc + vec2f(gh, gh * (X[base + i] - mean) * rstd);
  }
  let m = tree(acc, lid) / ${s.L}.0;
  for (var i = lid; i < ${s.L}u; i = i + ${WG}u) {
    DX[base + i] = rstd * (${ghat("i")} - m.x - (X[base + i] - mean) * rstd * m.y);
  }
}`;
  dispatch({
    kernel: kernel({ name: "group_norm_dx", wgsl, storage: list.map((l) => l[1]) }),
    buffers: [x, dy, stats, ...(w ? [w] : []), dx].map((t) => t.buffer),
    workgroups: linearGrid(rows, 1).workgroups,
  });
  return dx;
}

/**
 * Slices of the affine gradients' reduction: each channel's `N * S` terms are cut into `splits` runs of
 * `chunk` consecutive (sample, position) indices, one workgroup per (channel, run). Like `reduce`'s split
 * path: enough runs to fill the device ("cpu" tuning: a few workgroups in all, "gpu": up to 1024), none
 * shorter than MIN_RUN; and none longer than MAX_RUN, so a large batch adds workgroups, not serial work.
 */
function affineSplits(s: Shape): { splits: number; chunk: number } {
  const MIN_RUN = 4096, MAX_RUN = 65536;
  const extent = s.N * s.S;
  const target = gpu().adapter.tuning === "cpu" ? 8 : 1024;
  const wanted = Math.max(
    1,
    Math.min(Math.floor(target / s.C), Math.ceil(extent / MIN_RUN)),
    Math.ceil(extent / MAX_RUN),
  );
  const chunk = Math.ceil(extent / wanted);
  // Recounted from the rounded-up chunk so that no run starts past the end.
  return { splits: Math.ceil(extent / chunk), chunk };
}

/** Per-channel Σ dy x̂ and Σ dy, each `[C]`. */
function affineGrads(x: Tensor, dy: Tensor, stats: Tensor, s: Shape): [Tensor, Tensor] {
  const { splits, chunk } = affineSplits(s);
  const extent = s.N * s.S, slots = s.C * splits, WG = workgroupSize(chunk);
  const shape = splits === 1 ? [s.C] : [s.C, splits];
  const dw = Tensor.empty(shape), db = Tensor.empty(shape);
  const list: [string, "read" | "read_write", string][] = [
    ["X", "read", "f32"],
    ["G", "read", "f32"],
    ["Stats", "read", "f32"],
    ["DW", "read_write", "f32"],
    ["DB", "read_write", "f32"],
  ];
  // Run index r = n * S + p of channel c lives at (n * C + c) * S + p = r + (n * (C - 1) + c) * S, so
  // consecutive threads read consecutive addresses within a sample.
  const wgsl = `${bindings(list)}
${treeFn(WG)}
@compute @workgroup_size(${WG}) fn main(${HEAD}) {
  let q = wid.x + wid.y * nwg.x;
  if (q >= ${slots}u) { return; }
  let c = q / ${splits}u;
  let r0 = (q % ${splits}u) * ${chunk}u;
  let r1 = min(r0 + ${chunk}u, ${extent}u);
  var acc = vec2f(0.0);
  for (var r = r0 + lid; r < r1; r = r + ${WG}u) {
    let n = r / ${s.S}u;
    let i = r + (n * ${s.C - 1}u + c) * ${s.S}u;
    let st = (n * ${s.G}u + c / ${s.CG}u) * 2u;
    let g = G[i];
    acc = acc + vec2f(g * (X[i] - Stats[st]) * Stats[st + 1u], g);
  }
  let t = tree(acc, lid);
  if (lid == 0u) { DW[q] = t.x; DB[q] = t.y; }
}`;
  dispatch({
    kernel: kernel({ name: "group_norm_dwb", wgsl, storage: list.map((l) => l[1]) }),
    buffers: [x, dy, stats, dw, db].map((t) => t.buffer),
    workgroups: linearGrid(slots, 1).workgroups,
  });
  if (splits === 1) return [dw, db];
  const out: [Tensor, Tensor] = [reduce("sum", dw, 1), reduce("sum", db, 1)];
  dw.dispose();
  db.dispose();
  return out;
}

/**
 * Group normalisation: splits the `C` channels of `x [N, C, ...]` into `groups` groups, normalises each
 * (sample, group) to zero mean and unit (biased) variance over its channels and spatial positions, then
 * applies the optional per-channel affine `weight [C]`, `bias [C]`. `groups = 1` is LayerNorm over (C, ...),
 * `groups = C` is InstanceNorm. Differentiable in `x`, `weight` and `bias`.
 *
 * @example
 * ```ts
 * import { groupNorm, tensor } from "@lzn/tensor";
 * const x = tensor([1, 2, 3, 4, 10, 20, 30, 40], [1, 2, 2, 2]);
 * const y = groupNorm(x, 2); // each channel to mean 0, variance 1
 * console.log(await y.toArray()); // ≈ [-1.34, -0.45, 0.45, 1.34, -1.34, -0.45, 0.45, 1.34]
 * ```
 */
export function groupNorm(x: Tensor, groups: number, weight?: Tensor, bias?: Tensor, eps = 1e-5): Tensor {
  if (x.ndim < 2 || x.dtype !== "f32") {
    throw new Error(`lzn: groupNorm needs an f32 tensor [N, C, ...], got ${x.dtype} [${x.shape.join(", ")}]`);
  }
  const [N, C] = x.shape;
  if (!Number.isInteger(groups) || groups < 1 || C % groups !== 0) {
    throw new Error(`lzn: groupNorm needs channels (${C}) divisible by groups (${groups})`);
  }
  for (const [name, t] of [["weight", weight], ["bias", bias]] as const) {
    if (t && (t.ndim !== 1 || t.shape[0] !== C)) {
      throw new Error(`lzn: groupNorm ${name} must be [${C}], got [${t.shape}]`);
    }
  }
  const S = x.size / Math.max(1, N * C);
  const s: Shape = { N, C, S, G: groups, CG: C / groups, L: (C / groups) * S };
  const { y, stats } = forward(x, s, eps, weight, bias);
  const inputs = [x, ...(weight ? [weight] : []), ...(bias ? [bias] : [])];
  const out = record("groupNorm", y, inputs, (dy) => {
    const dx = x.requiresGrad ? inputGrad(x, dy, stats, s, weight) : null;
    if (!weight?.requiresGrad && !bias?.requiresGrad) return [dx, null, null];
    const [dw, db] = affineGrads(x, dy, stats, s);
    const grads: (Tensor | null)[] = [dx];
    if (weight) grads.push(weight.requiresGrad ? dw : (dw.dispose(), null));
    else dw.dispose();
    if (bias) grads.push(bias.requiresGrad ? db : (db.dispose(), null));
    else db.dispose();
    return grads;
  }, [stats]);
  stats.dispose(); // the graph holds its own reference when it needs the statistics
  return out;
}
