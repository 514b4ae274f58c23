/**
 * The fused flow-matching velocity kernel: for points `x [b, q]` against anchors `A [N, q]` at time t,
 *
 *     S_ij = alpha x_i . a_j + beta |a_j|^2 (+ log w_j),   alpha = (1-t)/t^2,  beta = -(1-t)^2/(2t^2)
 *     Abar_i = sum_j softmax_j(S_i) a_j
 *
 * computed like a FlashAttention forward with head dimension q: a workgroup owns 64 rows and streams tiles of
 * 64 anchors through shared memory, keeping a running row max and sum and a rescaled accumulator of
 * `sum_j p_ij a_j`. Neither `b x N x q` nor `b x N` is ever stored. The anchor range can be split across
 * workgroups (`splits`, FlashDecoding style) so that small batches still fill the GPU; {@link updateKernel}
 * merges the splits and applies the solver's state update in the same pass.
 *
 * `alpha` and `beta` come from the params block: one pipeline serves every time step. Logits use the
 * expanded `x . a` form (spec §1.4): near t = 1e-4 they reach 1e8 and lose absolute precision, but only
 * where the softmax is one-hot; the per-row max subtraction keeps the exponentials finite. The accumulation
 * `s = fma(x_k, a_k, s)` in ascending k is shared with the backward GEMM so that recomputed logits are
 * bit-identical and `exp(S - lse)` reproduces the forward probabilities exactly.
 *
 * Thread layout: 256 threads as 16 x 16 (ty, tx); in the logit phase a thread owns rows `4ty..4ty+3` x
 * anchors `4tx..4tx+3` (4 vec4 accumulators), in the accumulation phase rows `4ty..4ty+3` x columns
 * `4tx + 64g` (4 x qp/64 vec4 accumulators), all named variables (design §8).
 *
 * @module
 */
import { bindings, gpu, type Kernel, kernel } from "@lzn/tensor";

/**
 * Rows per workgroup and anchors per tile.
 *
 * @example
 * ```ts
 * const rowBlocks = Math.ceil(8192 / BR); // 128
 * ```
 */
export const BR = 64, BC = 64;

/** Tunables of the fused kernel (chosen by {@link planVelocity}, overridable for benchmarks). */
export interface VelocityPlan {
  /** q-chunk of the logit phase. */
  bk: number;
  /** Anchor chunk of the accumulation phase (multiple of 4). */
  jc: number;
  /** Number of workgroups that share one row block, each taking a contiguous range of anchor tiles. */
  splits: number;
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
 * Global overrides for benchmarks and tests (`undefined` = automatic).
 *
 * @example
 * ```ts
 * velocityTuning.splits = 1; // force one workgroup per row block (tests, benchmarks)
 * velocityTuning.splits = undefined;
 * ```
 */
export const velocityTuning: { bk?: number; jc?: number; splits?: number; targetGroups: number } = {
  targetGroups: 256,
};

function sharedBytes(bk: number, jc: number, qp: number): number {
  // The per-thread row maxima sit after the logit-phase operands (they are read before the accumulation
  // phase reuses the space, and written after the logit phase is done with it).
  const union = Math.max(2 * bk * (BR / 4 + 1) + (16 * BR) / 4, (jc * qp) / 4);
  return 16 * (union + BR * (BC / 4 + 1)) + 4 * (16 * BR + 3 * BR);
}

/**
 * Padded latent width: the accumulation phase covers q in groups of 64 columns.
 *
 * @example
 * ```ts
 * paddedQ(200); // 256
 * ```
 */
export function paddedQ(q: number): number {
  return Math.ceil(q / 64) * 64;
}

/**
 * Picks the largest chunks that fit the device's workgroup memory, and enough anchor splits to give about
 * `velocityTuning.targetGroups` workgroups.
 *
 * @example
 * ```ts
 * const plan = planVelocity({ b: 2000, n: 2000, q: 200, weighted: false, paired: false });
 * console.log(plan.splits); // 8 on any device: 32 row blocks x 8 splits
 * ```
 */
export function planVelocity(s: VelocityShape): VelocityPlan {
  if (s.q > 512) throw new Error(`lzn: the latent kernels support q <= 512, got q = ${s.q}`);
  const qp = paddedQ(s.q);
  const limit = gpu().device.limits.maxComputeWorkgroupStorageSize;
  let bk = 8, jc = 4;
  outer: for (const cbk of [32, 16, 8]) {
    for (const cjc of [16, 8, 4]) {
      if (sharedBytes(cbk, cjc, qp) <= limit) {
        bk = cbk;
        jc = cjc;
        break outer;
      }
    }
  }
  if (velocityTuning.bk && sharedBytes(velocityTuning.bk, velocityTuning.jc ?? jc, qp) <= limit) {
    bk = velocityTuning.bk;
    jc = velocityTuning.jc ?? jc;
  }
  const rowBlocks = Math.ceil(s.b / BR), tiles = Math.ceil(s.n / BC);
  let splits = velocityTuning.splits ?? Math.ceil(velocityTuning.targetGroups / rowBlocks);
  splits = Math.max(1, Math.min(splits, tiles, 16));
  // No empty split: with t tiles per split, ceil(tiles / t) splits are enough.
  splits = Math.ceil(tiles / Math.ceil(tiles / splits));
  return { bk, jc, splits };
}

const cache = new Map<string, Kernel>();

function cached(key: string, make: () => Kernel): Kernel {
  let k = cache.get(key);
  if (!k) cache.set(key, k = make());
  return k;
}

/**
 * The fused kernel. Bindings: `X` (points, read at element offset `u.xOff`), `A`, `SQ = |a_j|^2`, [`LW = log w`],
 * [`PAIR` i32], `OP` (partial accumulators `[splits, b, q]`), `ML` (partial max and sum `[splits, b, 2]`),
 * [`SP` paired logits, written at `u.spOff + row`]. Params: `alpha, beta: f32; xOff, spOff: u32`.
 * Dispatch `[ceil(b / 64), splits]`.
 *
 * @example
 * ```ts
 * const shape = { b: 8, n: 8, q: 4, weighted: false, paired: false };
 * const k = velocityKernel(shape, planVelocity(shape));
 * ```
 */
export function velocityKernel(s: VelocityShape, p: VelocityPlan): Kernel {
  const key = JSON.stringify([s, p]);
  return cached(key, () => {
    const decls: [string, "read" | "read_write", string][] = [["X", "read", "f32"], ["A", "read", "f32"], [
      "SQ",
      "read",
      "f32",
    ]];
    if (s.weighted) decls.push(["LW", "read", "f32"]);
    if (s.paired) decls.push(["PAIR", "read", "i32"]);
    decls.push(["OP", "read_write", "f32"], ["ML", "read_write", "f32"]);
    if (s.paired) decls.push(["SP", "read_write", "f32"]);
    return kernel({
      name: `latent_velocity_q${s.q}`,
      wgsl: velocityWgsl(s, p, decls),
      storage: decls.map((d) => d[1]),
      uniform: 16,
    });
  });
}

function velocityWgsl(
  s: VelocityShape,
  p: VelocityPlan,
  decls: [string, "read" | "read_write", string][],
): string {
  const { b: B, n: N, q: Q } = s;
  const { bk: BK, jc: JC, splits } = p;
  const QP = paddedQ(Q), QP4 = QP / 4, QG = QP / 64;
  const XS = BR / 4 + 1, AS = BC / 4 + 1, PS = BC / 4 + 1;
  const ASO = BK * XS;
  const RMO = 2 * BK * XS;
  const union = Math.max(RMO + (16 * BR) / 4, JC * QP4);
  const NT = Math.ceil(N / BC), NTS = Math.ceil(NT / splits);
  const NKC = Math.ceil(Q / BK), NJC = BC / JC;
  const perS = (BR * BK) / 256; // per operand, per thread
  const unitsA = JC * QP4, perA = Math.ceil(unitsA / 256);
  const R = [0, 1, 2, 3];
  const G = Array.from({ length: QG }, (_, g) => g);
  const lines = (n: number, f: (i: number) => string) =>
    Array.from({ length: n }, (_, i) => f(i)).join("\n    ");

  const fetchS = (kc: string) =>
    lines(perS, (i) => {
      const e = `(lid + ${256 * i}u)`;
      return `{ let rr = ${e} / ${BK}u; let kk = ${kc} * ${BK}u + ${e} % ${BK}u;
      px${i} = 0.0; if (r0 + rr < ${B}u && kk < ${Q}u) { px${i} = X[u.xOff + (r0 + rr) * ${Q}u + kk]; }
      pa${i} = 0.0; if (j0 + rr < ${N}u && kk < ${Q}u) { pa${i} = A[(j0 + rr) * ${Q}u + kk]; } }`;
    });
  const storeS = lines(perS, (i) => {
    const e = `(lid + ${256 * i}u)`;
    return `{ let rr = ${e} / ${BK}u; let kk = ${e} % ${BK}u;
      sm[kk * ${XS}u + rr / 4u][rr % 4u] = px${i}; sm[${ASO}u + kk * ${AS}u + rr / 4u][rr % 4u] = pa${i}; }`;
  });
  const fetchA = (jcv: string) =>
    lines(perA, (i) => {
      const e = `(lid + ${256 * i}u)`;
      return `{ let e = ${e}; pv${i} = vec4f(0.0);
      if (e < ${unitsA}u) {
        let j = j0 + ${jcv} * ${JC}u + e / ${QP4}u; let c = (e % ${QP4}u) * 4u;
        if (j < ${N}u) {
          let base = j * ${Q}u + c;
          if (c < ${Q}u) { pv${i}.x = A[base]; }
          if (c + 1u < ${Q}u) { pv${i}.y = A[base + 1u]; }
          if (c + 2u < ${Q}u) { pv${i}.z = A[base + 2u]; }
          if (c + 3u < ${Q}u) { pv${i}.w = A[base + 3u]; }
        }
      } }`;
    });
  const storeA = lines(perA, (i) => `{ let e = lid + ${256 * i}u; if (e < ${unitsA}u) { sm[e] = pv${i}; } }`);
  const paInner = R.map((uu) => {
    const a = G.map((g) => `let av${g} = sm[(jj + ${uu}u) * ${QP4}u + tx + ${16 * g}u];`).join(" ");
    const f = R.map((r) =>
      G.map((g) => `o${r}_${g} = fma(vec4f(p${r}[${uu}]), av${g}, o${r}_${g});`).join(" ")
    )
      .join("\n        ");
    return `{ ${a}\n        ${f} }`;
  }).join("\n      ");

  return `${bindings(decls)}
struct Params { alpha: f32, beta: f32, xOff: u32, spOff: u32 }
@group(0) @binding(${decls.length}) var<uniform> u: Params;
var<workgroup> sm: array<vec4f, ${union}>;
var<workgroup> ps: array<vec4f, ${BR * PS}>;
var<workgroup> reds: array<f32, ${16 * BR}>;
var<workgroup> mS: array<f32, ${BR}>;
var<workgroup> lS: array<f32, ${BR}>;
var<workgroup> scS: array<f32, ${BR}>;

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
      ? R.map((r) =>
        `var pr${r} = -1; if (r0 + ty * 4u + ${r}u < ${B}u) { pr${r} = PAIR[r0 + ty * 4u + ${r}u]; }`
      ).join("\n  ")
      : ""
  }
  if (lid < ${BR}u) { mS[lid] = -3.0e38; lS[lid] = 0.0; }
  ${R.map((r) => G.map((g) => `var o${r}_${g} = vec4f(0.0);`).join(" ")).join("\n  ")}
  ${Array.from({ length: perS }, (_, i) => `var px${i}: f32; var pa${i}: f32;`).join(" ")}
  ${Array.from({ length: perA }, (_, i) => `var pv${i}: vec4f;`).join(" ")}
  for (var tile = tBeg; tile < tEnd; tile++) {
    let j0 = tile * ${BC}u;
    var s0 = vec4f(0.0); var s1 = vec4f(0.0); var s2 = vec4f(0.0); var s3 = vec4f(0.0);
    ${fetchS("0u")}
    for (var kc = 0u; kc < ${NKC}u; kc++) {
      workgroupBarrier();
      ${storeS}
      workgroupBarrier();
      if (kc + 1u < ${NKC}u) {
        ${fetchS("(kc + 1u)")}
      }
      for (var k = 0u; k < ${BK}u; k++) {
        let xv = sm[k * ${XS}u + ty];
        let av = sm[${ASO}u + k * ${AS}u + tx];
        s0 = fma(vec4f(xv.x), av, s0);
        s1 = fma(vec4f(xv.y), av, s1);
        s2 = fma(vec4f(xv.z), av, s2);
        s3 = fma(vec4f(xv.w), av, s3);
      }
    }
    // Logits of this tile; anchors past N get -inf (probability 0).
    let jb = j0 + tx * 4u;
    // Components by constant index only: a loop-indexed vector would be demoted to local memory.
    var sq = vec4f(0.0);
    var lw = vec4f(0.0);
    ${
    ["x", "y", "z", "w"].map((c, e) =>
      `if (jb + ${e}u < ${N}u) { sq.${c} = SQ[jb + ${e}u]; ${s.weighted ? `lw.${c} = LW[jb + ${e}u];` : ""} }`
    ).join("\n    ")
  }
    let valid = vec4<bool>(jb < ${N}u, jb + 1u < ${N}u, jb + 2u < ${N}u, jb + 3u < ${N}u);
    let bias = u.beta * sq;
    ${
    R.map((r) => `let S${r} = select(vec4f(NEG_INF), fma(vec4f(u.alpha), s${r}, bias) + lw, valid);`).join(
      "\n    ",
    )
  }
    ${
    s.paired
      ? R.map((r) =>
        ["x", "y", "z", "w"].map((c, e) =>
          `if (pr${r} == i32(jb + ${e}u)) { SP[u.spOff + r0 + ty * 4u + ${r}u] = S${r}.${c}; }`
        ).join(" ")
      ).join("\n    ")
      : ""
  }
    sm[${RMO}u + tx * 16u + ty] = vec4f(${
    R.map((r) => `max(max(S${r}.x, S${r}.y), max(S${r}.z, S${r}.w))`).join(", ")
  });
    workgroupBarrier();
    if (lid < ${BR}u) {
      var tm = -3.0e38;
      for (var q = 0u; q < 16u; q++) { tm = max(tm, sm[${RMO}u + q * 16u + lid / 4u][lid % 4u]); }
      let mo = mS[lid];
      let mn = max(mo, tm);
      let sc = exp(mo - mn);
      var l = lS[lid];
      if (tile > tBeg) { for (var q = 0u; q < 16u; q++) { l += reds[q * ${BR}u + lid]; } }
      lS[lid] = l * sc;
      mS[lid] = mn;
      scS[lid] = sc;
    }
    workgroupBarrier();
    ${
    R.map((r) =>
      `{ let row = ty * 4u + ${r}u; let pv = exp(S${r} - vec4f(mS[row])); ps[row * ${PS}u + tx] = pv;
      reds[tx * ${BR}u + row] = pv.x + pv.y + pv.z + pv.w; let sc = scS[row]; ${
        G.map((g) => `o${r}_${g} *= sc;`).join(" ")
      } }`
    ).join("\n    ")
  }
    ${fetchA("0u")}
    for (var jc = 0u; jc < ${NJC}u; jc++) {
      workgroupBarrier();
      ${storeA}
      workgroupBarrier();
      if (jc + 1u < ${NJC}u) {
        ${fetchA("(jc + 1u)")}
      }
      for (var jj = 0u; jj < ${JC}u; jj += 4u) {
        let jq = (jc * ${JC}u + jj) / 4u;
        ${R.map((r) => `let p${r} = ps[(ty * 4u + ${r}u) * ${PS}u + jq];`).join(" ")}
        ${paInner}
      }
    }
  }
  workgroupBarrier();
  if (lid < ${BR}u && r0 + lid < ${B}u) {
    var l = lS[lid];
    if (tEnd > tBeg) { for (var q = 0u; q < 16u; q++) { l += reds[q * ${BR}u + lid]; } }
    let base = (wid.y * ${B}u + r0 + lid) * 2u;
    ML[base] = mS[lid];
    ML[base + 1u] = l;
  }
  ${
    R.map((r) =>
      `{ let row = r0 + ty * 4u + ${r}u; if (row < ${B}u) { let ob = (wid.y * ${B}u + row) * ${Q}u; ${
        G.map((g) =>
          `{ let c = (tx + ${16 * g}u) * 4u; ${
            ["x", "y", "z", "w"].map((cc, e) =>
              `if (c + ${e}u < ${Q}u) { OP[ob + c + ${e}u] = o${r}_${g}.${cc}; }`
            )
              .join(" ")
          } }`
        ).join(" ")
      } } }`
    ).join("\n  ")
  }
}`;
}

/**
 * Merges the anchor splits into `D = Abar` and `lse = max + log(sum)`, then applies the multistep update
 *
 *     x_next = a (x - D) + c0 D + b1 (D_{k-1} - D) + b2 (D_{k-2} - D),   c0 = a + b0 + b1 + b2,
 *
 * an algebraically equal form of `a x + b0 D + b1 D_{k-1} + b2 D_{k-2}` that subtracts nearby values first
 * (at t = 1e-4 the plain form cancels two terms of size ~500 |x|). Bindings: `OP`, `ML`, `XT` (state buffer:
 * reads `u.xIn`, writes `u.xOut`), `DT` (evaluations: writes `u.dCur`, reads `u.dP1`, `u.dP2`), `LSE`
 * (writes `u.lseOff + row`). One thread per element of `[b, q]`.
 *
 * @example
 * ```ts
 * const k = updateKernel(16, 8, 2, 0);
 * ```
 */
export function updateKernel(b: number, q: number, splits: number, history: 0 | 1 | 2): Kernel {
  return cached(`update:${b}:${q}:${splits}:${history}`, () => {
    const wgsl = `${
      bindings([["OP", "read", "f32"], ["ML", "read", "f32"], ["XT", "read_write", "f32"], [
        "DT",
        "read_write",
        "f32",
      ], [
        "LSE",
        "read_write",
        "f32",
      ]])
    }
struct Params { a: f32, c0: f32, b1: f32, b2: f32, xIn: u32, xOut: u32, dCur: u32, dP1: u32, dP2: u32, lseOff: u32, p0: u32, p1: u32 }
@group(0) @binding(5) var<uniform> u: Params;
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= ${b * q}u) { return; }
  let row = i / ${q}u;
  var mx = -3.0e38;
  for (var s = 0u; s < ${splits}u; s++) { mx = max(mx, ML[(s * ${b}u + row) * 2u]); }
  var l = 0.0;
  var acc = 0.0;
  for (var s = 0u; s < ${splits}u; s++) {
    let w = exp(ML[(s * ${b}u + row) * 2u] - mx);
    l += w * ML[(s * ${b}u + row) * 2u + 1u];
    acc += w * OP[s * ${b * q}u + i];
  }
  let d = acc / l;
  DT[u.dCur + i] = d;
  if (i % ${q}u == 0u) { LSE[u.lseOff + row] = mx + log(l); }
  let x = XT[u.xIn + i];
  var xn = fma(u.a, x - d, u.c0 * d);
  ${history >= 1 ? "xn += u.b1 * (DT[u.dP1 + i] - d);" : ""}
  ${history >= 2 ? "xn += u.b2 * (DT[u.dP2 + i] - d);" : ""}
  XT[u.xOut + i] = xn;
}`;
    return kernel({
      name: "latent_update",
      wgsl,
      storage: ["read", "read", "read_write", "read_write", "read_write"],
      uniform: 48,
    });
  });
}
