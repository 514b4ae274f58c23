/**
 * Kernels of the streaming backward (`stream_backward.ts`): per step, with `pi = exp(S - lse)` recomputed
 * from the stored state and the forward's log-sum-exp, `dP_ij = <gD_i, a_j>` (+ the alignment injection),
 * `D_i = sum_j pi_ij dP_ij` and `dS = pi (dP - D)`:
 *
 * - `prepKernel` (`stream_prep.ts`), per row: folds the previous step's split partials into `gx_{k+1}`,
 *   forms `gD_k = sum_m c_m gx_{k+m+1}`, and `D_i = <gD_i, Abar_i>` (+ `pi_pair gm`), with `Abar` the
 *   stored or recomputed evaluation — FlashAttention-2's `rowsum(dO * O)`, so no pass over the anchors.
 * - {@link rowKernel} (parallel over rows, "BX"): `gx_k = a gx_{k+1} + alpha sum_j dS_ij a_j`.
 * - {@link anchorKernel} (parallel over anchors, "BA"): `gA_j += sum_i pi_ij gD_i + alpha sum_i dS_ij x_i`,
 *   `CS_j += -c alpha sum_i dS_ij`, `GLW_j += sum_i dS_ij`, accumulated over the steps into per-split
 *   partials that `finishKernel` (`stream_prep.ts`) folds into the gradients.
 *
 * WGSL has no f32 atomics, hence two kernels that each recompute the logits and `dP` (14 b N q flops per
 * step against 10 for the GEMM form, but no `b x N` buffer). Exactness where it matters: in a one-hot row
 * (t = 1e-4 gives logit gaps of ~1e8) the forward's `Abar` is bit-for-bit the winning anchor and
 * `lse = S_max`, the logits here are the forward's own fma chains (`tiles.ts`), and `D` is the same chain
 * over `Abar` as `dP` over that anchor — so `pi = 1` and `dS = 0` exactly, and `alpha = 1e8` has no rounding
 * noise to amplify.
 *
 * @module
 */
import { bindings, type Kernel, kernel } from "@lzn/tensor";
import {
  accumulatePhase,
  accumulateStageWords,
  accumulatorDecl,
  join,
  paddedQ,
  productPhase,
  productStageWords,
  range,
  rowLoader,
  rowStore,
  vectorRows,
} from "./tiles.ts";
import { cachedKernel, logitTile } from "./velocity_kernel.ts";

/** Tile shape of the two streaming kernels (64 x 64 tiles, 256 threads). */
export interface StreamPlan {
  /** q-chunk of the product phase. */
  bk: number;
  /** Chunk of the accumulation phase. */
  jc: number;
  /** Workgroups sharing one block (along the other side's tiles). */
  splits: number;
  /** Unrolled chunk loops (GPU tuning) or rolled ones (CPU tuning). */
  unroll: boolean;
}

/** What a streaming kernel bakes in. */
export interface StreamShape {
  /** Rows. */
  b: number;
  /** Anchors. */
  n: number;
  /** Latent width. */
  q: number;
  /** `log w` in the logits. */
  weighted: boolean;
  /** Alignment injection (pairs, arg-max step, upstream gradient). */
  injected: boolean;
}

/**
 * A storage binding of the streaming kernels: name, access, element type.
 *
 * @example
 * ```ts
 * const d: Decl = ["GD", "read_write", "f32"];
 * ```
 */
export type Decl = [string, "read" | "read_write", string];

/**
 * Workgroup memory (vec4 words) of a streaming kernel: its product stage (three operands) and, over the
 * same words, a 64 x 64 coefficient tile plus the accumulation stage.
 *
 * @example
 * ```ts
 * streamSharedWords({ bk: 16, jc: 8 }, 256); // 2048 (32 KiB)
 * ```
 */
export function streamSharedWords(p: Pick<StreamPlan, "bk" | "jc">, qp: number): number {
  const stage = productStageWords({ bk: p.bk, bc: 64, mCount: 2, nCount: 1 });
  return Math.max(stage, 16 * 64 + accumulateStageWords({ jc: p.jc, qp }));
}

function inputDecls(s: StreamShape): Decl[] {
  const vec = vectorRows(s.q) ? "vec4f" : "f32";
  return [
    ["X", "read", vec],
    ["GD", "read", vec],
    ["A", "read", vec],
    ["SQ", "read", "f32"],
    ...(s.weighted ? [["LW", "read", "f32"] as Decl] : []),
    ["LSE", "read", "f32"],
    ["DI", "read", "f32"],
    ...(s.injected
      ? [["PAIR", "read", "i32"], ["KSTAR", "read", "i32"], ["GM", "read", "f32"]] as Decl[]
      : []),
  ];
}

/** Per-row softmax-backward data: log-sum-exp, `D`, and the injected column (-1 when none) with its gradient. */
function rowInfo(row: string, name: string, s: StreamShape): string {
  const lines = [
    `var lse${name} = 0.0; var d${name} = 0.0; var inj${name} = -1; var gm${name} = 0.0;`,
    `let rv${name} = ${row} < ${s.b}u;`,
    `if (rv${name}) { lse${name} = LSE[u.lseOff + ${row}]; d${name} = DI[${row}];${
      s.injected
        ? ` if (KSTAR[${row}] == i32(u.step)) { inj${name} = PAIR[${row}]; gm${name} = GM[${row}]; }`
        : ""
    } }`,
  ];
  return join(lines, "    ");
}

/**
 * One tile of both kernels: rows `r0 + 4 ty + i` x anchors `j0 + 4 tx + e`, the forward's product phase
 * (points as the M operand, anchors as the N operand: the instruction sequence of the forward's logits,
 * which the recomputation must reproduce bit for bit) plus `gD . a` beside it, then per row i
 * `p_i = exp(S - lse)` and `ds_i = p (dP - D)` as vec4 over the thread's anchors.
 */
function tileGradient(s: StreamShape, p: StreamPlan): string {
  const R = range(4);
  return `${
    productPhase({
      q: s.q,
      bk: p.bk,
      bc: 64,
      at: 0,
      m: [{ fn: "ld_x", base: "r0" }, { fn: "ld_g", base: "r0" }],
      n: [{ fn: "ld_a", base: "j0" }],
      products: [[0, 0, "s"], [1, 0, "g"]],
      unroll: p.unroll,
    })
  }
    ${logitTile({ n: s.n, bc: 64, weighted: s.weighted, acc: "s", out: "S" })}
    let jv = vec4<i32>(i32(jb_0), i32(jb_0) + 1, i32(jb_0) + 2, i32(jb_0) + 3);
    ${
    join(
      R.map((i) =>
        // Zero outside the tile's valid rows and anchors: the anchor kernel sums over rows.
        `let p_${i} = select(vec4f(0.0), exp(S_${i}_0 - vec4f(lse${i})), valid_0 & vec4<bool>(rv${i}));
    let ds_${i} = p_${i} * (g_${i}_0${
          s.injected ? ` + select(vec4f(0.0), vec4f(gm${i}), jv == vec4<i32>(inj${i}))` : ""
        } - vec4f(d${i}));`
      ),
      "    ",
    )
  }`;
}

function loaders(s: StreamShape): string {
  return `${rowLoader("ld_x", "X", s.b, s.q)}
${rowLoader("ld_g", "GD", s.b, s.q)}
${rowLoader("ld_a", "A", s.n, s.q)}`;
}

/**
 * The row kernel ("BX"). Bindings: the inputs (`X` = x_k, `GD`, `A`, `SQ`, [`LW`], `LSE`, `DI`,
 * [`PAIR`, `KSTAR`, `GM`]), `GXI` (gx_{k+1}) and `GXO`: gx_k when `splits` is 1, else the partials
 * `[splits, b, q]` (alpha folded in) that the next {@link prepKernel} folds. Params: `alpha, beta, a: f32;
 * lseOff, step: u32`. Dispatch `[ceil(b / 64), splits]`.
 *
 * @example
 * ```ts
 * const k = rowKernel({ b: 100, n: 100, q: 8, weighted: false, injected: false },
 *   { bk: 8, jc: 4, splits: 1, unroll: false });
 * ```
 */
export function rowKernel(s: StreamShape, p: StreamPlan): Kernel {
  return cachedKernel(JSON.stringify(["bx", s, p]), () => {
    const vec = vectorRows(s.q) ? "vec4f" : "f32";
    const decls: Decl[] = [...inputDecls(s), ["GXI", "read", vec], ["GXO", "read_write", vec]];
    const { b: B, n: N, q: Q } = s;
    const qp = paddedQ(Q), G = qp / 64;
    const NT = Math.ceil(N / 64), NTS = Math.ceil(NT / p.splits);
    const R = range(4);
    const pa = accumulatePhase({
      qp,
      bc: 64,
      jc: p.jc,
      coef: 0,
      at: 1024,
      acc: "o",
      tag: "a",
      operand: { fn: "ld_a", base: "j0" },
      unroll: p.unroll,
    });
    const direct = p.splits === 1;
    const wgsl = `${bindings(decls)}
struct Params { alpha: f32, beta: f32, a: f32, p0: f32, lseOff: u32, step: u32, p1: u32, p2: u32 }
@group(0) @binding(${decls.length}) var<uniform> u: Params;
var<workgroup> sm: array<vec4f, ${streamSharedWords(p, qp)}>;
${loaders(s)}
${direct ? rowLoader("ld_gxi", "GXI", B, Q) : ""}

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u) {
  let ty = lid / 16u;
  let tx = lid % 16u;
  let r0 = wid.x * 64u;
  let tBeg = wid.y * ${NTS}u;
  let tEnd = min(tBeg + ${NTS}u, ${NT}u);
  let NEG_INF = bitcast<f32>(0xff800000u);
  ${join(R.map((i) => rowInfo(`(r0 + ty * 4u + ${i}u)`, `${i}`, s)))}
  ${accumulatorDecl("o", qp)}
  ${pa.decl}
  for (var tile = tBeg; tile < tEnd; tile++) {
    let j0 = tile * 64u;
    workgroupBarrier();
    ${tileGradient(s, p)}
    ${pa.prefetch}
    workgroupBarrier();
    ${join(R.map((i) => `sm[(ty * 4u + ${i}u) * 16u + tx] = u.alpha * ds_${i};`), "    ")}
    ${pa.run}
  }
  ${
      join(R.map((i) =>
        `{ let row = r0 + ty * 4u + ${i}u; if (row < ${B}u) { ${
          range(G).map((g) => {
            const col = `(tx * 4u + ${64 * g}u)`;
            return direct
              ? rowStore("GXO", "0u", "row", col, `fma(vec4f(u.a), ld_gxi(row, ${col}), o_${i}_${g})`, Q)
              : rowStore("GXO", `wid.y * ${B * Q}u`, "row", col, `o_${i}_${g}`, Q);
          }).join(" ")
        } } }`
      ))
    }
}`;
    return kernel({ name: "latent_bwd_rows", wgsl, storage: decls.map((d) => d[1]), uniform: 32 });
  });
}

/**
 * The anchor kernel ("BA"): a workgroup owns 64 anchors and walks row tiles; per tile the same
 * {@link tileGradient} as the row kernel, then `p` and `alpha dS` transposed into workgroup memory
 * (anchor-major) for two accumulation phases over the staged `gD` and `x` rows. Bindings: the inputs as
 * {@link rowKernel}, then `GA` (`[splits, N, q]`), `CS` (`[splits, N]`) and [`GLW` (`[splits, N]`)],
 * overwritten when `u.first` is 1 and accumulated otherwise. Params: `alpha, beta, cScale: f32; lseOff,
 * step, first: u32`. Dispatch `[ceil(N / 64), splits]`.
 *
 * @example
 * ```ts
 * const k = anchorKernel({ b: 100, n: 100, q: 8, weighted: true, injected: false },
 *   { bk: 8, jc: 4, splits: 2, unroll: false });
 * ```
 */
export function anchorKernel(s: StreamShape, p: StreamPlan): Kernel {
  return cachedKernel(JSON.stringify(["ba", s, p]), () => {
    const vec = vectorRows(s.q) ? "vec4f" : "f32";
    const decls: Decl[] = [
      ...inputDecls(s),
      ["GA", "read_write", vec],
      ["CS", "read_write", "f32"],
      ...(s.weighted ? [["GLW", "read_write", "f32"] as Decl] : []),
    ];
    const { b: B, n: N, q: Q } = s;
    const qp = paddedQ(Q), G = qp / 64;
    const NT = Math.ceil(B / 64), NTS = Math.ceil(NT / p.splits);
    const R = range(4);
    const common = { qp, bc: 64, jc: p.jc, coef: 0, at: 1024, acc: "o", unroll: p.unroll };
    const pg = accumulatePhase({ ...common, tag: "g", operand: { fn: "ld_g", base: "r0" } });
    const px = accumulatePhase({ ...common, tag: "x", operand: { fn: "ld_x", base: "r0" } });
    const comp = ["x", "y", "z", "w"];
    // Anchor-major coefficients: anchor 4 tx + e gets the vec4 of rows 4 ty .. 4 ty + 3.
    const transposed = (v: (i: number) => string) =>
      join(
        range(4).map((e) =>
          `sm[(tx * 4u + ${e}u) * 16u + ty] = vec4f(${R.map((i) => `${v(i)}.${comp[e]}`).join(", ")});`
        ),
        "    ",
      );
    const wgsl = `${bindings(decls)}
struct Params { alpha: f32, beta: f32, cScale: f32, p0: f32, lseOff: u32, step: u32, first: u32, p1: u32 }
@group(0) @binding(${decls.length}) var<uniform> u: Params;
var<workgroup> sm: array<vec4f, ${streamSharedWords(p, qp)}>;
${loaders(s)}
${rowLoader("ld_ga", "GA", N * p.splits, Q)}

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u) {
  let ty = lid / 16u;
  let tx = lid % 16u;
  let j0 = wid.x * 64u;
  let tBeg = wid.y * ${NTS}u;
  let tEnd = min(tBeg + ${NTS}u, ${NT}u);
  let NEG_INF = bitcast<f32>(0xff800000u);
  var cs = vec4f(0.0);
  ${accumulatorDecl("o", qp)}
  ${pg.decl}
  ${px.decl}
  for (var tile = tBeg; tile < tEnd; tile++) {
    let r0 = tile * 64u;
    ${join(R.map((i) => rowInfo(`(r0 + ty * 4u + ${i}u)`, `${i}`, s)), "    ")}
    workgroupBarrier();
    ${tileGradient(s, p)}
    cs += ${R.map((i) => `ds_${i}`).join(" + ")};
    ${pg.prefetch}
    ${px.prefetch}
    workgroupBarrier();
    ${transposed((i) => `p_${i}`)}
    ${pg.run}
    workgroupBarrier();
    ${transposed((i) => `(u.alpha * ds_${i})`)}
    ${px.run}
  }
  // Column sums: the 16 threads of a tx hold partial sums of the same four anchors.
  workgroupBarrier();
  sm[ty * 16u + tx] = cs;
  workgroupBarrier();
  if (ty == 0u) {
    var t = sm[tx];
    ${join(range(15).map((k) => `t += sm[${16 * (k + 1)}u + tx];`), "    ")}
    ${
      join(
        range(4).map((e) =>
          `{ let an = j0 + tx * 4u + ${e}u; if (an < ${N}u) { let c = wid.y * ${N}u + an; let v = t.${
            comp[e]
          };
      if (u.first == 1u) { CS[c] = u.cScale * v; ${
            s.weighted ? "GLW[c] = v;" : ""
          } } else { CS[c] = fma(u.cScale, v, CS[c]); ${s.weighted ? "GLW[c] += v;" : ""} } } }`
        ),
        "    ",
      )
    }
  }
  ${
      join(R.map((i) =>
        `{ let an = j0 + ty * 4u + ${i}u; if (an < ${N}u) { let row = wid.y * ${N}u + an; ${
          range(G).map((g) => {
            const col = `(tx * 4u + ${64 * g}u)`;
            return rowStore(
              "GA",
              "0u",
              "row",
              col,
              `select(ld_ga(row, ${col}) + o_${i}_${g}, o_${i}_${g}, u.first == 1u)`,
              Q,
            );
          }).join(" ")
        } } }`
      ))
    }
}`;
    return kernel({ name: "latent_bwd_anchors", wgsl, storage: decls.map((d) => d[1]), uniform: 32 });
  });
}
