/**
 * The fused flow-matching velocity kernel: for points `x [b, q]` against anchors `A [N, q]` at time t,
 *
 *     S_ij = alpha x_i . a_j + beta |a_j|^2 (+ log w_j),   alpha = (1-t)/t^2,  beta = -(1-t)^2/(2t^2)
 *     Abar_i = sum_j softmax_j(S_i) a_j
 *
 * computed like a FlashAttention-2 forward with head dimension q: a workgroup of 256 threads owns 64 rows
 * and streams tiles of 64 anchors. Per tile, a register-blocked product phase (`tiles.ts`: x and anchor
 * chunks staged k-major in workgroup memory, double-buffered, each thread 4 rows x 4 anchors in named vec4
 * accumulators) gives the logits; the row maxima are exchanged once through workgroup memory
 * (every thread then rescales its own accumulators and keeps a private partial row sum, so there is no
 * serial per-row step); the probabilities go to workgroup memory and an accumulation phase adds `P A` into
 * each thread's 4 rows x `qp / 16` columns (64 registers at q = 256). Neither `b x N x q` nor `b x N` is
 * stored. The anchor range can be split across workgroups (`splits`, FlashDecoding style) so that small
 * batches still fill the GPU; {@link updateKernel} merges the splits and applies the solver's state update.
 *
 * `alpha` and `beta` come from the params block: one pipeline serves every time step. Logits use the
 * expanded `x . a` form (spec §1.4): near t = 1e-4 they reach 1e8 and lose absolute precision, but only
 * where the softmax is one-hot; the per-row max subtraction keeps the exponentials finite. Each logit is one
 * fma chain in ascending k, shared with the backward kernels and the soft-assignment kernel, so recomputed
 * logits are bit-identical and `exp(S - lse)` reproduces the forward probabilities exactly.
 *
 * @module
 */
import { bindings, gpu, type Kernel, kernel } from "@lzn/tensor";
import {
  accumulatePhase,
  accumulateStageWords,
  accumulatorDecl,
  join,
  type KernelTuning,
  paddedQ,
  productPhase,
  productStageWords,
  range,
  rowLoader,
  rowStore,
  splitCount,
  vectorRows,
} from "./tiles.ts";

/**
 * Rows per workgroup.
 *
 * @example
 * ```ts
 * const rowBlocks = Math.ceil(8192 / BR); // 128
 * ```
 */
export const BR = 64;

/** Anchors per tile: a thread holds 4 x 4 logits, and the probabilities fill 16 KiB of workgroup memory. */
const BC = 64;

/** Tunables of the fused kernel (chosen by {@link planVelocity}, overridable for benchmarks). */
export interface VelocityPlan {
  /** q-chunk of the logit phase (multiple of 4). */
  bk: number;
  /** Anchor chunk of the accumulation phase (multiple of 4, divides 64). */
  jc: number;
  /** Number of workgroups that share one row block, each taking a contiguous range of anchor tiles. */
  splits: number;
  /** Unrolled chunk loops (GPU tuning) or rolled ones (CPU tuning: lavapipe compiles them much faster). */
  unroll: boolean;
}

/** Shapes and options baked into one kernel. */
export interface VelocityShape {
  /** Rows (points). */
  b: number;
  /** Anchors. */
  n: number;
  /** Latent dimension. */
  q: number;
  /** Whether `log w` is added to the logits. */
  weighted: boolean;
  /** Whether the logit of a paired anchor per row is captured (alignment). */
  paired: boolean;
}

/**
 * Global overrides for benchmarks and tests (`undefined` = automatic). `targetGroups` defaults to 256
 * workgroups under the GPU tuning and 4 under the CPU tuning (lavapipe runs a few workgroups at a time:
 * splits there only add merge work).
 *
 * @example
 * ```ts
 * velocityTuning.splits = 1; // force one workgroup per row block (tests, benchmarks)
 * velocityTuning.splits = undefined;
 * ```
 */
export const velocityTuning: KernelTuning = {};

/**
 * Workgroup memory of the forward kernel in bytes. Three uses of the same words: the product stage (two
 * buffers); the row-maximum exchange (256 vec4 in the buffer the last chunk did not use, or after both when
 * a buffer is smaller); the probabilities plus the accumulation stage.
 *
 * @example
 * ```ts
 * velocitySharedBytes({ bk: 16, jc: 8 }, 256); // 32768: fits lavapipe too, so its tests run the GPU plan
 * ```
 */
export function velocitySharedBytes(p: Pick<VelocityPlan, "bk" | "jc">, qp: number): number {
  return 16 * unionWords(p, qp);
}

function unionWords(p: Pick<VelocityPlan, "bk" | "jc">, qp: number): number {
  const stageS = productStageWords({ bk: p.bk, bc: BC, mCount: 1, nCount: 1 });
  return Math.max(stageS + (stageS / 2 < 256 ? 256 : 0), 16 * BC + accumulateStageWords({ jc: p.jc, qp }));
}

/** vec4 offset of the row-maximum exchange: the stage buffer that the last q-chunk did not use. */
function exchangeOffset(p: Pick<VelocityPlan, "bk">, q: number): number {
  const stage = productStageWords({ bk: p.bk, bc: BC, mCount: 1, nCount: 1 }) / 2;
  if (stage < 256) return 2 * stage;
  return (1 - ((Math.ceil(q / p.bk) - 1) % 2)) * stage;
}

/** Candidate (bk, jc) in order of preference per tuning; the first that fits the device is taken. */
const CANDIDATES: Record<"cpu" | "gpu", [number, number][]> = {
  // bk 16 ran 7 % faster than 32 at n = 8192 and 3 % at n = 2000 on the H100 (sessions 18 and 23; jc 16, in
  // 48 KiB, within 1 % of jc 8), in 32 KiB, so lavapipe runs the same plan in the tests.
  gpu: [[16, 8], [32, 8], [16, 4], [8, 4]],
  // lavapipe (32 KiB): the largest chunks that fit.
  cpu: [[16, 4], [8, 4]],
};

/**
 * Picks the tile shape (the first candidate of the adapter's tuning that fits its workgroup memory, or
 * the override) and enough anchor splits to give about `targetGroups` workgroups.
 *
 * @example
 * ```ts
 * const plan = planVelocity({ b: 2000, n: 2000, q: 200, weighted: false, paired: false });
 * console.log(plan.splits); // 8 under the GPU tuning: 32 row blocks x 8 splits
 * ```
 */
export function planVelocity(s: VelocityShape): VelocityPlan {
  if (s.q > 512) throw new Error(`lzn: the latent kernels support q <= 512, got q = ${s.q}`);
  const qp = paddedQ(s.q);
  const { device, adapter } = gpu();
  const limit = device.limits.maxComputeWorkgroupStorageSize;
  const fits = (c: [number, number]) => velocitySharedBytes({ bk: c[0], jc: c[1] }, qp) <= limit;
  const t = velocityTuning;
  let [bk, jc] = CANDIDATES[adapter.tuning].find(fits) ?? [4, 4];
  if ((t.bk || t.jc) && fits([t.bk ?? bk, t.jc ?? jc])) [bk, jc] = [t.bk ?? bk, t.jc ?? jc];
  const target = t.targetGroups ?? (adapter.tuning === "cpu" ? 4 : 256);
  const splits = splitCount(Math.ceil(s.b / BR), Math.ceil(s.n / BC), target, t.splits);
  return { bk, jc, splits, unroll: t.unroll ?? adapter.tuning === "gpu" };
}

const cache = new Map<string, Kernel>();

/**
 * Cached kernel by key.
 *
 * @example
 * ```ts
 * const k = cachedKernel("key", () => velocityKernel({ b: 8, n: 8, q: 4, weighted: false, paired: false },
 *   { bk: 4, jc: 4, splits: 1, unroll: false }));
 * ```
 */
export function cachedKernel(key: string, make: () => Kernel): Kernel {
  let k = cache.get(key);
  if (!k) cache.set(key, k = make());
  return k;
}

/**
 * The fused kernel. Bindings: `X` (points), `A`, `SQ = |a_j|^2`, [`LW = log w`], [`PAIR` i32], `OP`
 * (partial accumulators `[splits, b, q]`), `ML` (partial max and sum `[splits, b, 2]`), [`SP` paired
 * logits, written at `u.spOff + row`]. `X`, `A` and `OP` are vec4 arrays when q is a multiple of 4.
 * Params: `alpha, beta: f32; spOff: u32`. Dispatch `[ceil(b / 64), splits]`.
 *
 * @example
 * ```ts
 * const shape = { b: 8, n: 8, q: 4, weighted: false, paired: false };
 * const k = velocityKernel(shape, planVelocity(shape));
 * ```
 */
export function velocityKernel(s: VelocityShape, p: VelocityPlan): Kernel {
  return cachedKernel(JSON.stringify(["fwd", s, p]), () => {
    const vec = vectorRows(s.q) ? "vec4f" : "f32";
    const decls: [string, "read" | "read_write", string][] = [["X", "read", vec], ["A", "read", vec], [
      "SQ",
      "read",
      "f32",
    ]];
    if (s.weighted) decls.push(["LW", "read", "f32"]);
    if (s.paired) decls.push(["PAIR", "read", "i32"]);
    decls.push(["OP", "read_write", vec], ["ML", "read_write", "f32"]);
    if (s.paired) decls.push(["SP", "read_write", "f32"]);
    return kernel({
      name: `latent_velocity_q${s.q}`,
      wgsl: velocityWgsl(s, p, decls),
      storage: decls.map((d) => d[1]),
      uniform: 16,
    });
  });
}

/**
 * WGSL of the logits of one tile from the product accumulators `s_i_h` (rows `4 ty + i`, anchors
 * `jb_h = j0 + 64 h + 4 tx + e`, h < bc / 64): `S_i_h = alpha s + beta |a|^2 (+ log w)`, `-inf` past N. Shared by the
 * forward and the backward kernels so that the expression, and hence its rounding, is the same.
 *
 * @example
 * ```ts
 * const code = logitTile({ n: 2000, bc: 64, weighted: false, acc: "s", out: "S" });
 * ```
 */
export function logitTile(o: { n: number; bc: number; weighted: boolean; acc: string; out: string }): string {
  const lines: string[] = [];
  for (const h of range(o.bc / 64)) {
    lines.push(`let jb_${h} = j0 + ${64 * h}u + tx * 4u;`);
    lines.push(`var sq_${h} = vec4f(0.0); var lw_${h} = vec4f(0.0);`);
    // Components by constant index only: a loop-indexed vector would be demoted to local memory.
    for (const [e, c] of ["x", "y", "z", "w"].entries()) {
      lines.push(
        `if (jb_${h} + ${e}u < ${o.n}u) { sq_${h}.${c} = SQ[jb_${h} + ${e}u]; ${
          o.weighted ? `lw_${h}.${c} = LW[jb_${h} + ${e}u];` : ""
        } }`,
      );
    }
    lines.push(
      `let valid_${h} = vec4<bool>(jb_${h} < ${o.n}u, jb_${h} + 1u < ${o.n}u, jb_${h} + 2u < ${o.n}u, jb_${h} + 3u < ${o.n}u);`,
    );
    for (const i of range(4)) {
      lines.push(
        `let ${o.out}_${i}_${h} = select(vec4f(NEG_INF), fma(vec4f(u.alpha), ${o.acc}_${i}_${h}, u.beta * sq_${h}) + lw_${h}, valid_${h});`,
      );
    }
  }
  return join(lines, "    ");
}

function velocityWgsl(
  s: VelocityShape,
  p: VelocityPlan,
  decls: [string, "read" | "read_write", string][],
): string {
  const { b: B, n: N, q: Q } = s;
  const { bk, jc, splits } = p;
  const bc = BC, qp = paddedQ(Q), G = qp / 64, H = bc / 64;
  const NT = Math.ceil(N / bc), NTS = Math.ceil(NT / splits);
  const union = unionWords(p, qp), rm = exchangeOffset(p, Q);
  const coef = 0, paStage = 16 * bc;
  const R = range(4), HS = range(H), GS = range(G);
  const pa = accumulatePhase({
    qp,
    bc,
    jc,
    coef,
    at: paStage,
    acc: "o",
    tag: "a",
    operand: { fn: "ld_a", base: "j0" },
    unroll: p.unroll,
  });
  const rowMax = (i: number) =>
    HS.map((h) => `max(max(S_${i}_${h}.x, S_${i}_${h}.y), max(S_${i}_${h}.z, S_${i}_${h}.w))`).reduce((
      a,
      c,
    ) => `max(${a}, ${c})`);
  const comp = (i: number) => ["x", "y", "z", "w"][i];
  return `${bindings(decls)}
struct Params { alpha: f32, beta: f32, spOff: u32, p0: u32 }
@group(0) @binding(${decls.length}) var<uniform> u: Params;
var<workgroup> sm: array<vec4f, ${union}>;
${rowLoader("ld_x", "X", B, Q)}
${rowLoader("ld_a", "A", N, Q)}

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u) {
  let ty = lid / 16u;
  let tx = lid % 16u;
  let r0 = wid.x * ${BR}u;
  let tBeg = wid.y * ${NTS}u;
  let tEnd = min(tBeg + ${NTS}u, ${NT}u);
  let NEG_INF = bitcast<f32>(0xff800000u);
  ${
    s.paired
      ? join(R.map((i) =>
        `var pr${i} = -1; if (r0 + ty * 4u + ${i}u < ${B}u) { pr${i} = PAIR[r0 + ty * 4u + ${i}u]; }`
      ))
      : ""
  }
  ${join(R.map((i) => `var m${i} = -3.0e38; var l${i} = 0.0;`))}
  ${accumulatorDecl("o", qp)}
  ${pa.decl}
  for (var tile = tBeg; tile < tEnd; tile++) {
    let j0 = tile * ${bc}u;
    // The previous tile's accumulation phase read the words this tile's product phase stages into.
    workgroupBarrier();
    ${
    productPhase({
      q: Q,
      bk,
      bc,
      at: 0,
      m: [{ fn: "ld_x", base: "r0" }],
      n: [{ fn: "ld_a", base: "j0" }],
      products: [[0, 0, "s"]],
      unroll: p.unroll,
    })
  }
    ${logitTile({ n: N, bc, weighted: s.weighted, acc: "s", out: "S" })}
    ${
    s.paired
      ? join(
        R.flatMap((i) =>
          HS.map((h) =>
            range(4).map((e) =>
              `if (pr${i} == i32(jb_${h} + ${e}u)) { SP[u.spOff + r0 + ty * 4u + ${i}u] = S_${i}_${h}.${
                comp(e)
              }; }`
            ).join(" ")
          )
        ),
        "    ",
      )
      : ""
  }
    // The exchange sits in the stage buffer the last chunk did not read (free since the loop's last barrier).
    sm[${rm}u + tx * 16u + ty] = vec4f(${R.map(rowMax).join(", ")});
    ${pa.prefetch}
    workgroupBarrier();
    // Every thread of a row group reads the same 16 maxima in the same order: identical m everywhere.
    var tm = sm[${rm}u + ty];
    ${join(range(15).map((t) => `tm = max(tm, sm[${rm + 16 * (t + 1)}u + ty]);`), "    ")}
    // The probabilities and the accumulation stage overwrite the exchange: everyone must have read it.
    workgroupBarrier();
    ${
    join(
      R.map((i) =>
        `{ let mn = max(m${i}, tm.${comp(i)}); let sc = exp(m${i} - mn); m${i} = mn;
      ${HS.map((h) => `let p_${i}_${h} = exp(S_${i}_${h} - vec4f(mn));`).join(" ")}
      l${i} = l${i} * sc + ${HS.map((h) => `dot(p_${i}_${h}, vec4f(1.0))`).join(" + ")};
      ${GS.map((g) => `o_${i}_${g} *= sc;`).join(" ")}
      ${
          HS.map((h) => `sm[${coef}u + (ty * 4u + ${i}u) * ${bc / 4}u + tx + ${16 * h}u] = p_${i}_${h};`)
            .join(" ")
        } }`
      ),
      "    ",
    )
  }
    ${pa.run}
  }
  workgroupBarrier();
  sm[tx * 16u + ty] = vec4f(${R.map((i) => `l${i}`).join(", ")});
  workgroupBarrier();
  if (tx == 0u) {
    var ls = sm[ty];
    ${join(range(15).map((t) => `ls += sm[${16 * (t + 1)}u + ty];`), "    ")}
    ${
    join(
      R.map((i) =>
        `{ let row = r0 + ty * 4u + ${i}u; if (row < ${B}u) { ML[(wid.y * ${B}u + row) * 2u] = m${i}; ML[(wid.y * ${B}u + row) * 2u + 1u] = ls.${
          comp(i)
        }; } }`
      ),
      "    ",
    )
  }
  }
  ${
    join(
      R.map((i) =>
        `{ let row = r0 + ty * 4u + ${i}u; if (row < ${B}u) { ${
          GS.map((g) =>
            rowStore("OP", `wid.y * ${B * Q}u`, "row", `(tx * 4u + ${64 * g}u)`, `o_${i}_${g}`, Q)
          ).join(" ")
        } } }`
      ),
    )
  }
}`;
}

/**
 * WGSL of the split merge of one row: `mx`, the weights `w_s = exp(m_s - mx)` and `l = sum_s w_s l_s`, then
 * `mergeD(i)` = `sum_s w_s OP_s[i] / l`, each sum one fma chain in split order. Shared by
 * {@link updateKernel} and the backward's recomputation of `Abar`, which must agree bit for bit.
 *
 * @example
 * ```ts
 * const fns = mergeFns(2000, 200, 8);
 * ```
 */
export function mergeFns(b: number, q: number, splits: number): string {
  const idx = (i: string) => vectorRows(q) ? `OP[(${i}) / 4u][(${i}) % 4u]` : `OP[${i}]`;
  return `fn mergeL(row: u32) -> vec2f {
  var mx = -3.0e38;
  for (var s = 0u; s < ${splits}u; s++) { mx = max(mx, ML[(s * ${b}u + row) * 2u]); }
  var l = 0.0;
  for (var s = 0u; s < ${splits}u; s++) { l = fma(exp(ML[(s * ${b}u + row) * 2u] - mx), ML[(s * ${b}u + row) * 2u + 1u], l); }
  return vec2f(mx, l);
}
fn mergeD(row: u32, i: u32, ml: vec2f) -> f32 {
  var acc = 0.0;
  for (var s = 0u; s < ${splits}u; s++) { acc = fma(exp(ML[(s * ${b}u + row) * 2u] - ml.x), ${
    idx(`s * ${b * q}u + i`)
  }, acc); }
  return acc / ml.y;
}`;
}

/**
 * Merges the anchor splits into `D = Abar` and `lse = max + log(sum)`, then applies the multistep update
 *
 *     x_next = a (x - D) + c0 D + b1 (D_{k-1} - D) + b2 (D_{k-2} - D),   c0 = a + b0 + b1 + b2,
 *
 * an algebraically equal form of `a x + b0 D + b1 D_{k-1} + b2 D_{k-2}` that subtracts nearby values first
 * (at t = 1e-4 the plain form cancels two terms of size ~500 |x|). Bindings: `OP`, `ML`, `XI` (x_k), `XO`
 * (x_{k+1}), `DC` (D_k, written), [`D1` (D_{k-1})], [`D2` (D_{k-2})], `LSE` (writes `u.lseOff + row`). One
 * thread per element of `[b, q]`.
 *
 * @example
 * ```ts
 * const k = updateKernel(16, 8, 2, 0);
 * ```
 */
export function updateKernel(b: number, q: number, splits: number, history: 0 | 1 | 2): Kernel {
  return cachedKernel(`update:${b}:${q}:${splits}:${history}`, () => {
    const decls: [string, "read" | "read_write", string][] = [
      ["OP", "read", vectorRows(q) ? "vec4f" : "f32"],
      ["ML", "read", "f32"],
      ["XI", "read", "f32"],
      ["XO", "read_write", "f32"],
      ["DC", "read_write", "f32"],
      ...(history >= 1 ? [["D1", "read", "f32"] as [string, "read", string]] : []),
      ...(history >= 2 ? [["D2", "read", "f32"] as [string, "read", string]] : []),
      ["LSE", "read_write", "f32"],
    ];
    const wgsl = `${bindings(decls)}
struct Params { a: f32, c0: f32, b1: f32, b2: f32, lseOff: u32, p0: u32, p1: u32, p2: u32 }
@group(0) @binding(${decls.length}) var<uniform> u: Params;
${mergeFns(b, q, splits)}
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= ${b * q}u) { return; }
  let row = i / ${q}u;
  let ml = mergeL(row);
  let d = mergeD(row, i, ml);
  DC[i] = d;
  if (i % ${q}u == 0u) { LSE[u.lseOff + row] = ml.x + log(ml.y); }
  var xn = fma(u.a, XI[i] - d, u.c0 * d);
  ${history >= 1 ? "xn += u.b1 * (D1[i] - d);" : ""}
  ${history >= 2 ? "xn += u.b2 * (D2[i] - d);" : ""}
  XO[i] = xn;
}`;
    return kernel({ name: "latent_update", wgsl, storage: decls.map((d) => d[1]), uniform: 32 });
  });
}
