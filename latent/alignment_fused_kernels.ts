/**
 * The WGSL generators of the fused small-N alignment (see `alignment_fused.ts` for the algorithm): the
 * forward (reverse Euler flow + paired maximum), the backward (per-row VJP from the arg-max step down) and
 * the reduction of the per-row anchor-gradient partials.
 *
 * @module
 */
import { bindings, IS_NAN_WGSL, type Kernel, kernel } from "@lzn/tensor";
import { join, range } from "./tiles.ts";

const cache = new Map<string, Kernel>();

function cached(name: string, storage: ("read" | "read_write")[], wgsl: string): Kernel {
  const key = `${name}|${wgsl}`;
  let hit = cache.get(key);
  if (!hit) cache.set(key, hit = kernel({ name, wgsl, storage }));
  return hit;
}

/**
 * Thread layout of the fused kernels: T threads per row (thread t holds columns `t + T m`, m < C, in named
 * registers) and R rows per workgroup. The GPU tuning spreads a row over 64 threads (32 for q <= 32), one
 * row per workgroup, so that 2000 rows fill the GPU; the CPU tuning (lavapipe, which pays for every
 * invocation's redundant softmax and every barrier) gives each thread up to 32 columns and packs 64 threads
 * of rows into a workgroup — at q <= 32 one thread per row, which needs no barrier at all.
 *
 * @example
 * ```ts
 * fusedLayout(200, "gpu"); // { T: 64, C: 4, R: 1 }
 * fusedLayout(200, "cpu"); // { T: 8, C: 25, R: 8 }
 * ```
 */
export function fusedLayout(q: number, tuning: "cpu" | "gpu"): { T: number; C: number; R: number } {
  if (tuning === "gpu") {
    const T = q <= 32 ? 32 : 64;
    return { T, C: Math.ceil(q / T), R: 1 };
  }
  let T = 1;
  while (Math.ceil(q / T) > 32) T *= 2;
  return { T, C: Math.ceil(q / T), R: 64 / T };
}

/** Threads per row T, columns per thread C, rows per workgroup R. */
export interface Layout {
  T: number;
  C: number;
  R: number;
}

/**
 * WGSL shared by the forward and the backward: log weights (once per workgroup), columns, the reduction of
 * each row's `sums` partial sums over its T threads (`red[r][v][t]` -> `lg[r][v]`, in thread order in both
 * kernels), and the row's shifted exponentials `es[r][j] = exp(lg[r][j] - max)`, each computed by one
 * thread of the row.
 */
function commonWgsl(n: number, weighted: boolean, sums: number, L: Layout): string {
  const { T, R } = L;
  return `
var<workgroup> red: array<f32, ${R * sums * T}>;
var<workgroup> lg: array<f32, ${R * sums}>;
var<workgroup> es: array<f32, ${R * n}>;
var<workgroup> lws: array<f32, ${n}>;
const NA = ${n}u;
// One thread per row shares nothing with the other threads: no barrier needed.
fn sync() { ${T > 1 ? "workgroupBarrier();" : ""} }
// log w_j, -inf where w_j <= 0 (as logWeights() in small_kernels.ts: such anchors get probability 0).
fn logW(j: u32) -> f32 {
  ${weighted ? "let w = W[j]; return select(bitcast<f32>(0xff800000u), log(w), w > 0.0);" : "return 0.0;"}
}
// Computed once per workgroup when threads share a row; lavapipe runs a shader without any barrier as
// SIMD loops over invocations, so with one thread per row the logs are taken where used instead.
fn initLogW(lid: u32) {
  ${
    T > 1
      ? `for (var j = lid; j < NA; j += ${R * T}u) { lws[j] = logW(j); }
  workgroupBarrier();`
      : ""
  }
}
fn col(t: u32, m: u32) -> u32 { return t + ${T}u * m; }
// The logits l_j = -s2 |x - c a_j|^2 + log w_j of row r from its partial sums (the first N of each row).
fn logits(r: u32, t: u32, s2: f32) {
  for (var v = t; v < ${sums}u; v += ${T}u) {
    var s = 0.0;
    for (var u = 0u; u < ${T}u; u++) { s += red[(r * ${sums}u + v) * ${T}u + u]; }
    if (v < NA) { s = fma(-s2, s, ${T > 1 ? "lws[v]" : "logW(v)"}); }
    lg[r * ${sums}u + v] = s;
  }
}
fn rowMax(r: u32) -> f32 {
  var mx = -3.0e38;
  for (var j = 0u; j < NA; j++) { mx = max(mx, lg[r * ${sums}u + j]); }
  return mx;
}
fn exps(r: u32, t: u32, mx: f32) {
  for (var j = t; j < NA; j += ${T}u) { es[r * NA + j] = exp(lg[r * ${sums}u + j] - mx); }
}
fn invSum(r: u32) -> f32 {
  var sum = 0.0;
  for (var j = 0u; j < NA; j++) { sum += es[r * NA + j]; }
  return 1.0 / sum;
}`;
}

/** `m` of thread `t` is a real column: `t + T m < q`. */
function colOk(q: number, m: number, T: number): string {
  return (m + 1) * T <= q ? "true" : `(t + ${T * m}u < ${q}u)`;
}

/**
 * The forward kernel. Bindings: `X0`, `A`, [`W`], `PAIR`, `ST`, `M`, `KSTAR`, [`XS`]. Dispatch
 * `rowGrid(ceil(b / R))`.
 *
 * @example
 * ```ts
 * const k = forwardKernel(17, 10, 32, 20, 4, false, false, fusedLayout(32, "gpu"));
 * ```
 */
export function forwardKernel(
  b: number,
  n: number,
  q: number,
  steps: number,
  cut: number,
  weighted: boolean,
  save: boolean,
  L: Layout,
): Kernel {
  const { T, C, R } = L;
  const M = range(C);
  const decls: [string, "read" | "read_write", string][] = [
    ["X0", "read", "f32"],
    ["A", "read", "f32"],
    ...(weighted ? [["W", "read", "f32"] as [string, "read", string]] : []),
    ["PAIR", "read", "i32"],
    ["ST", "read", "f32"],
    ["M", "read_write", "f32"],
    ["KSTAR", "read_write", "i32"],
    ...(save ? [["XS", "read_write", "f32"] as [string, "read_write", string]] : []),
  ];
  const wgsl = `${bindings(decls)}
${commonWgsl(n, weighted, n, L)}
${IS_NAN_WGSL}
@compute @workgroup_size(${R * T})
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let r = lid / ${T}u;
  let t = lid % ${T}u;
  // Rows past b compute on row b - 1 and store nothing (every thread must reach the barriers).
  let iw = (wid.x + wid.y * nwg.x) * ${R}u + r;
  let live = iw < ${b}u;
  let i = min(iw, ${b - 1}u);
  initLogW(lid);
  ${
    join(M.map((m) =>
      `var x${m} = 0.0; let ok${m} = ${
        colOk(q, m, T)
      }; if (ok${m}) { x${m} = X0[i * ${q}u + col(t, ${m}u)]; }`
    ))
  }
  let pr = PAIR[i];
  var best = -1.0;
  var arg = ${cut};
  // Three barriers per step; none at its end: every shared word is rewritten only after a barrier that
  // follows its last read.
  for (var k = 0u; k < ${steps}u; k++) {
    let c = ST[k * 8u];
    let a = ST[k * 8u + 3u];
    ${
    save
      ? join(
        M.map((m) => `if (ok${m} && live) { XS[(k * ${b}u + i) * ${q}u + col(t, ${m}u)] = x${m}; }`),
        "    ",
      )
      : ""
  }
    for (var j = 0u; j < NA; j++) {
      var d = 0.0;
      ${
    join(
      M.map((m) => `if (ok${m}) { let v = fma(-c, A[j * ${q}u + col(t, ${m}u)], x${m}); d = fma(v, v, d); }`),
      "      ",
    )
  }
      red[(r * NA + j) * ${T}u + t] = d;
    }
    sync();
    logits(r, t, ST[k * 8u + 1u]);
    sync();
    exps(r, t, rowMax(r));
    sync();
    let inv = invSum(r);
    // The first step attaining the maximum wins, as in alignMaxKernel.
    if (k >= ${cut}u && pr >= 0 && pr < ${n}) {
      let p = es[r * NA + u32(pr)] * inv;
      // A NaN probability makes m NaN (and stays), as in alignMaxKernel.
      if (p > best || is_nan(p)) { best = p; arg = i32(k); }
    }
    ${join(M.map((m) => `var d${m} = 0.0;`), "    ")}
    for (var j = 0u; j < NA; j++) {
      let e = es[r * NA + j] * inv;
      ${join(M.map((m) => `if (ok${m}) { d${m} = fma(e, A[j * ${q}u + col(t, ${m}u)], d${m}); }`), "      ")}
    }
    ${join(M.map((m) => `x${m} = fma(a, x${m} - d${m}, d${m});`), "    ")}
  }
  if (t == 0u && live) {
    M[i] = best;
    KSTAR[i] = arg;
  }
}`;
  return cached("latent_align_fused_fwd", decls.map((d) => d[1]), wgsl);
}

/**
 * The backward kernel. Bindings: `XS`, `A`, [`W`], `PAIR`, `ST`, `KSTAR`, `GM`, `GX0`, `GAP`, [`GLWP`].
 * Dispatch `rowGrid(ceil(b / R))`.
 *
 * @example
 * ```ts
 * const k = backwardKernel(17, 10, 32, true, fusedLayout(32, "cpu"));
 * ```
 */
export function backwardKernel(b: number, n: number, q: number, weighted: boolean, L: Layout): Kernel {
  const { T, C, R } = L;
  const M = range(C);
  const S = 2 * n;
  const decls: [string, "read" | "read_write", string][] = [
    ["XS", "read", "f32"],
    ["A", "read", "f32"],
    ...(weighted ? [["W", "read", "f32"] as [string, "read", string]] : []),
    ["PAIR", "read", "i32"],
    ["ST", "read", "f32"],
    ["KSTAR", "read", "i32"],
    ["GM", "read", "f32"],
    ["GX0", "read_write", "f32"],
    ["GAP", "read_write", "f32"],
    ...(weighted ? [["GLWP", "read_write", "f32"] as [string, "read_write", string]] : []),
  ];
  const wgsl = `${bindings(decls)}
${commonWgsl(n, weighted, S, L)}
var<workgroup> pis: array<f32, ${R * n}>;
var<workgroup> dss: array<f32, ${R * n}>;
${T > 1 ? "var<workgroup> kmax: i32;" : ""}
@compute @workgroup_size(${R * T})
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let r = lid / ${T}u;
  let t = lid % ${T}u;
  let i0 = (wid.x + wid.y * nwg.x) * ${R}u;
  let iw = i0 + r;
  let live = iw < ${b}u;
  let i = min(iw, ${b - 1}u);
  // Rows past b have ks = -1: they take part in the barriers and compute nothing.
  let ks = select(-1, KSTAR[i], live);
  initLogW(lid);
  ${
    T > 1
      ? `// The loop runs from the workgroup's latest arg-max step (a uniform bound, as barriers require).
  if (lid == 0u) {
    var km = -1;
    for (var rr = 0u; rr < ${R}u; rr++) { if (i0 + rr < ${b}u) { km = max(km, KSTAR[i0 + rr]); } }
    kmax = km;
  }
  let kTop = workgroupUniformLoad(&kmax);`
      : "let kTop = ks;"
  }
  let pr = PAIR[i];
  let g = GM[i];
  ${join(M.map((m) => `let ok${m} = ${colOk(q, m, T)}; var gx${m} = 0.0;`))}
  // gx = dL/dx_{k+1}; zero above the row's arg-max step (nothing after it reaches the loss). Four
  // barriers per step, none at its end (as in the forward).
  for (var k = kTop; k >= 0; k--) {
    let act = k <= ks;
    let ku = u32(k);
    let c = ST[ku * 8u];
    let alpha = ST[ku * 8u + 2u];
    let a = ST[ku * 8u + 3u];
    let b0 = ST[ku * 8u + 4u];
    let xo = (ku * ${b}u + i) * ${q}u;
    ${join(M.map((m) => `var x${m} = 0.0; if (ok${m} && act) { x${m} = XS[xo + col(t, ${m}u)]; }`), "    ")}
    // Partials of the logits and of dP_j = <gx, a_j> (times b0 below), reduced together.
    for (var j = 0u; j < NA; j++) {
      var d = 0.0;
      var p = 0.0;
      ${
    join(
      M.map((m) =>
        `if (ok${m}) { let av = A[j * ${q}u + col(t, ${m}u)]; let v = fma(-c, av, x${m}); d = fma(v, v, d); p = fma(gx${m}, av, p); }`
      ),
      "      ",
    )
  }
      red[(r * ${S}u + j) * ${T}u + t] = d;
      red[(r * ${S}u + NA + j) * ${T}u + t] = p;
    }
    sync();
    logits(r, t, ST[ku * 8u + 1u]);
    sync();
    exps(r, t, rowMax(r));
    sync();
    // Every thread of the row forms D = sum_j pi_j dP_j from the same numbers, so a one-hot row gives
    // dS = 0 exactly; the row's threads publish pi_j and dS_j.
    let inv = invSum(r);
    var dbar = 0.0;
    for (var j = 0u; j < NA; j++) {
      var dp = b0 * lg[r * ${S}u + NA + j];
      if (k == ks && i32(j) == pr) { dp += g; }
      dbar = fma(es[r * NA + j] * inv, dp, dbar);
    }
    for (var j = t; j < NA; j += ${T}u) {
      let pi = es[r * NA + j] * inv;
      var dp = b0 * lg[r * ${S}u + NA + j];
      if (k == ks && i32(j) == pr) { dp += g; }
      pis[r * NA + j] = pi;
      dss[r * NA + j] = pi * (dp - dbar);
    }
    sync();
    // This row's anchor partial: ga_j += pi_j gD + alpha dS_j (x - c a_j); then
    // gx_k = a gx_{k+1} + alpha sum_j dS_j a_j. The first visited step (k = ks) overwrites, so the
    // partials need no zero fill.
    if (act && live) {
      let first = k == ks;
      ${join(M.map((m) => `var acc${m} = 0.0; let gd${m} = b0 * gx${m};`), "      ")}
      for (var j = 0u; j < NA; j++) {
        let pi = pis[r * NA + j];
        let ds = dss[r * NA + j];
        ${
    join(
      M.map((m) =>
        `if (ok${m}) {
          let av = A[j * ${q}u + col(t, ${m}u)];
          acc${m} = fma(ds, av, acc${m});
          let v = fma(pi, gd${m}, alpha * ds * fma(-c, av, x${m}));
          let o = (i * NA + j) * ${q}u + col(t, ${m}u);
          if (first) { GAP[o] = v; } else { GAP[o] += v; }
        }`
      ),
      "        ",
    )
  }
        ${
    weighted
      ? "if (t == 0u) { let o = i * NA + j; if (first) { GLWP[o] = ds; } else { GLWP[o] += ds; } }"
      : ""
  }
      }
      ${join(M.map((m) => `gx${m} = fma(alpha, acc${m}, a * gx${m});`), "      ")}
    }
  }
  if (live) {
    ${join(M.map((m) => `if (ok${m}) { GX0[i * ${q}u + col(t, ${m}u)] = gx${m}; }`), "    ")}
  }
}`;
  return cached("latent_align_fused_bwd", decls.map((d) => d[1]), wgsl);
}

/**
 * Sums the per-row partials: `GA = sum_i GAP[i]` and, weighted, `GW = sum_i GLWP[i] / w`. Bindings: `GAP`,
 * `GA`, [`GLWP`, `W`, `GW`]. One thread per element of `[N, q]` plus N.
 *
 * @example
 * ```ts
 * const k = reduceKernel(2000, 10, 200, true);
 * ```
 */
export function reduceKernel(b: number, n: number, q: number, weighted: boolean): Kernel {
  const nq = n * q;
  const decls: [string, "read" | "read_write", string][] = [
    ["GAP", "read", "f32"],
    ["GA", "read_write", "f32"],
    ...(weighted
      ? [["GLWP", "read", "f32"], ["W", "read", "f32"], ["GW", "read_write", "f32"]] as [
        string,
        "read" | "read_write",
        string,
      ][]
      : []),
  ];
  const wgsl = `${bindings(decls)}
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let t = gid.x + gid.y * nwg.x * 256u;
  if (t < ${nq}u) {
    var s = 0.0;
    for (var i = 0u; i < ${b}u; i++) { s += GAP[i * ${nq}u + t]; }
    GA[t] = s;
  }
  ${
    weighted
      ? `else if (t < ${nq + n}u) {
    let j = t - ${nq}u;
    var s = 0.0;
    for (var i = 0u; i < ${b}u; i++) { s += GLWP[i * ${n}u + j]; }
    // d/dw of log w: 1 / w (0 where w = 0, as weightGradKernel).
    let w = W[j];
    GW[j] = select(0.0, s / w, w > 0.0);
  }`
      : ""
  }
}`;
  return cached("latent_align_fused_reduce", decls.map((d) => d[1]), wgsl);
}
