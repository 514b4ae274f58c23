/**
 * The two element-wise kernels of the streaming backward (`stream_backward.ts`) around the tiled ones of
 * `stream_kernels.ts`: {@link prepKernel} before each step's row and anchor kernels (the fold of the row
 * kernel's split partials, `gD_k`, and `D_i = <gD_i, Abar_i>`, FlashAttention-2's `rowsum(dO * O)`), and
 * {@link finishKernel} after the last step (the anchor kernel's split partials folded into the gradients).
 *
 * @module
 */
import { bindings, type Kernel, kernel } from "@lzn/tensor";
import type { Decl } from "./stream_kernels.ts";
import { vectorRows } from "./tiles.ts";
import { cachedKernel, mergeFns } from "./velocity_kernel.ts";

/**
 * Rows per workgroup of {@link prepKernel} by default (its `[rows, 64]` tiles are padded to 65 words per row;
 * `streamTuning.prepRows` overrides it).
 *
 * @example
 * ```ts
 * const workgroups = Math.ceil(2000 / PREP_ROWS); // 1000
 * ```
 */
export const PREP_ROWS = 2;
const PREP_PAD = 65;

/** Which terms a {@link prepKernel} computes. */
export interface PrepVariant {
  /** Fold the row kernel's split partials into `gx_{k+1}` (written in place). */
  merge: boolean;
  /** Form `gD` and `D`. */
  grad: boolean;
  /** `gD` uses `gx_{k+2}` / `gx_{k+3}` (DPM multistep). */
  c1: boolean;
  c2: boolean;
  /** Where `Abar` comes from: the stored evaluation or the recomputed split partials. */
  source: "stored" | "recomputed";
  /** Forward splits of the recomputation. */
  fwdSplits: number;
  /** Row kernel splits (merge). */
  bxSplits: number;
  /** Alignment injection in `D`. */
  injected: boolean;
}

/**
 * The per-row preparation of a step. Bindings in order: `GX1` (gx_{k+1}; read_write when merging),
 * [`GX2`] (gx_{k+2}, when merging or c1), [`GX3`] (c2), [`BXP`] (merge), then with `grad`: `GD`, `DS` or
 * (`OP`, `ML`), `DI`, [`SP`, `LSE`, `KSTAR`, `GM`]. Params: `aMerge, c0, c1, c2: f32; step, lseOff: u32`.
 * Workgroups of 64 threads over `rows` rows (default {@link PREP_ROWS}, at most 64): the element-wise fold
 * is coalesced (a thread per column of a 64-column chunk), and `D_i` is one thread's serial chain per row over
 * the chunk's workgroup tiles, so it rounds exactly as the tiled kernels' `dP`. Dispatch `ceil(b / rows)`
 * workgroups.
 *
 * @example
 * ```ts
 * const k = prepKernel(100, 8, { merge: false, grad: true, c1: false, c2: false, source: "stored",
 *   fwdSplits: 1, bxSplits: 1, injected: false });
 * ```
 */
export function prepKernel(b: number, q: number, v: PrepVariant, rows: number = PREP_ROWS): Kernel {
  if (!(Number.isInteger(rows) && rows >= 1 && rows <= 64)) {
    throw new Error(`lzn: the per-row preparation takes 1 to 64 rows per workgroup, got ${rows}`);
  }
  return cachedKernel(JSON.stringify(["prep", b, q, v, rows]), () => {
    const vec = vectorRows(q) ? "vec4f" : "f32";
    const decls: Decl[] = [["GX1", v.merge ? "read_write" : "read", "f32"]];
    if (v.merge || v.c1) decls.push(["GX2", "read", "f32"]);
    if (v.c2) decls.push(["GX3", "read", "f32"]);
    if (v.merge) decls.push(["BXP", "read", "f32"]);
    if (v.grad) {
      decls.push(["GD", "read_write", "f32"]);
      if (v.source === "stored") decls.push(["DS", "read", "f32"]);
      else decls.push(["OP", "read", vec], ["ML", "read", "f32"]);
      decls.push(["DI", "read_write", "f32"]);
      if (v.injected) {
        decls.push(["SP", "read", "f32"], ["LSE", "read", "f32"], ["KSTAR", "read", "i32"], [
          "GM",
          "read",
          "f32",
        ]);
      }
    }
    const recomputed = v.grad && v.source === "recomputed";
    // Per element (row0 + r, c): the fold into gx_{k+1} and gD, coalesced along c; with grad, gD and Abar
    // go to workgroup tiles for the per-row chain.
    const element = `let i = row * ${q}u + c;
        ${
      v.merge
        ? `var acc = 0.0;
        for (var s = 0u; s < ${v.bxSplits}u; s++) { acc += BXP[s * ${b * q}u + i]; }
        let g1 = fma(u.aMerge, GX2[i], acc);
        GX1[i] = g1;`
        : "let g1 = GX1[i];"
    }
        ${
      v.grad
        ? `var gd = u.c0 * g1;
        ${v.c1 ? "gd = fma(u.c1, GX2[i], gd);" : ""}
        ${v.c2 ? "gd = fma(u.c2, GX3[i], gd);" : ""}
        GD[i] = gd;
        tGD[r * ${PREP_PAD}u + lid] = gd;
        tAB[r * ${PREP_PAD}u + lid] = ${v.source === "stored" ? "DS[i]" : "mergeD(row, i, tML[r])"};`
        : ""
    }`;
    const wgsl = `${bindings(decls)}
struct Params { aMerge: f32, c0: f32, c1: f32, c2: f32, step: u32, lseOff: u32, p0: u32, p1: u32 }
@group(0) @binding(${decls.length}) var<uniform> u: Params;
${recomputed ? mergeFns(b, q, v.fwdSplits) : ""}
${
      v.grad
        ? `var<workgroup> tGD: array<f32, ${rows * PREP_PAD}>;
var<workgroup> tAB: array<f32, ${rows * PREP_PAD}>;`
        : ""
    }
${recomputed ? `var<workgroup> tML: array<vec2f, ${rows}>;` : ""}
@compute @workgroup_size(64)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let row0 = (wid.x + wid.y * nwg.x) * ${rows}u;
  let own = row0 + lid;
  ${
      recomputed
        ? `if (lid < ${rows}u && own < ${b}u) { tML[lid] = mergeL(own); }
  workgroupBarrier();`
        : ""
    }
  var d = 0.0;
  for (var c0 = 0u; c0 < ${q}u; c0 += 64u) {
    let c = c0 + lid;
    for (var r = 0u; r < ${rows}u; r++) {
      let row = row0 + r;
      if (row < ${b}u && c < ${q}u) {
        ${element}
      }
    }
    ${
      v.grad
        ? `workgroupBarrier();
    // D_i = <gD_i, Abar_i>: the same chain as dP = <gD, a_j> in the tiled kernels (one fma per k, ascending).
    if (lid < ${rows}u && own < ${b}u) {
      let cn = min(64u, ${q}u - c0);
      for (var k = 0u; k < cn; k++) { d = fma(tGD[lid * ${PREP_PAD}u + k], tAB[lid * ${PREP_PAD}u + k], d); }
    }
    workgroupBarrier();`
        : ""
    }
  }
  ${
      v.grad
        ? `if (lid < ${rows}u && own < ${b}u) {
    ${
          v.injected
            ? `if (KSTAR[own] == i32(u.step)) { d = fma(exp(SP[u.lseOff + own] - LSE[u.lseOff + own]), GM[own], d); }`
            : ""
        }
    DI[own] = d;
  }`
        : ""
    }
}`;
    return kernel({ name: "latent_bwd_prep", wgsl, storage: decls.map((d) => d[1]), uniform: 32 });
  });
}

/**
 * Folds the anchor kernel's partials in place: `GA[0, j, :] = sum_s GA[s, j, :] + (sum_s CS[s, j]) A[j, :]`
 * (the first split's words become the gradient, so that at n = 32768 no second `[N, q]` buffer is needed)
 * and, with weights, `GW[j] = sum_s GLW[s, j] / w_j` (0 where `w_j = 0`). Bindings: `GA`, `CS`, `A`, [`GLW`,
 * `W`, `GW`]. One thread per element of `[N, q]` plus N.
 *
 * @example
 * ```ts
 * const k = finishKernel(2000, 200, 8, false); // dispatch linearGrid(2000 * 200, 256)
 * ```
 */
export function finishKernel(n: number, q: number, splits: number, weighted: boolean): Kernel {
  return cachedKernel(JSON.stringify(["finish", n, q, splits, weighted]), () => {
    const decls: Decl[] = [
      ["GA", "read_write", "f32"],
      ["CS", "read", "f32"],
      ["A", "read", "f32"],
      ...(weighted
        ? [["GLW", "read", "f32"], ["W", "read", "f32"], ["GW", "read_write", "f32"]] as Decl[]
        : []),
    ];
    const nq = n * q;
    const wgsl = `${bindings(decls)}
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i < ${nq}u) {
    let j = i / ${q}u;
    var g = 0.0;
    var c = 0.0;
    for (var s = 0u; s < ${splits}u; s++) { g += GA[s * ${nq}u + i]; c += CS[s * ${n}u + j]; }
    GA[i] = fma(c, A[i], g);
  }
  ${
      weighted
        ? `else if (i < ${nq + n}u) {
    let j = i - ${nq}u;
    var g = 0.0;
    for (var s = 0u; s < ${splits}u; s++) { g += GLW[s * ${n}u + j]; }
    let w = W[j];
    GW[j] = select(0.0, g / w, w > 0.0);
  }`
        : ""
    }
}`;
    return kernel({ name: "latent_bwd_finish", wgsl, storage: decls.map((d) => d[1]) });
  });
}
