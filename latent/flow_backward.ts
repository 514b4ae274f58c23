/**
 * Reverse-mode sweep of a latent flow. The forward is the linear multistep recursion of `schedule.ts`,
 * `x_{k+1} = a_k x_k + sum_m b_{k,m} D_{k-m}`, so going from k = K-1 down to 0:
 *
 *     gD_k  = sum_m b_{k+m,m} gx_{k+m+1}            (every update that used D_k)
 *     gx_k  = a_k gx_{k+1} + J_D(x_k)^T gD_k
 *     gA   += J_D(A)^T gD_k,   glogw += ...
 *
 * and the VJP of one evaluation `D = Abar(x, t)` is spec §1.4 in data-prediction form (c = 1 - t,
 * alpha = c/t^2), with the softmax recomputed from the stored `x_k`:
 *
 *     dP_ij = <gD_i, a_j> (+ g_pi),  D_i = sum_j pi_ij dP_ij,  dS = pi (dP - D_i)
 *     gx_i += alpha sum_j dS_ij a_j
 *     ga_j += sum_i pi_ij gD_i + alpha sum_i dS_ij x_i - c alpha a_j sum_i dS_ij,   glogw_j += sum_i dS_ij
 *
 * Two implementations, chosen by `backwardTuning.path`: the streaming kernels of `stream_backward.ts` (the
 * default: FlashAttention-2 style, nothing of size `b x N` stored, 14 b N q flops per step), and the GEMM
 * form below (10 b N q flops per step, but `b x N` blocks in memory), kept so that the GPU benchmark can
 * compare them. GEMM form per step: `gD` (elementwise), then per chunk of rows: M1, a dual GEMM writing the
 * logits `S = x A^T ...` and `dP = gD A^T` of the chunk; a row kernel turning them into `pi` and `dS` in
 * place (from the stored logits, so that a one-hot row gives `dS = 0` exactly whatever the compiler did
 * with fma contraction); M2 (`gx += alpha dS A`), M3 (`gA += [pi; dS]^T [gD; alpha x]`) and the column sums
 * of `dS`. The chunk buffer `[2, rows, N]` is bounded by `chunkBytes` (512 MiB by default: all 8192 rows at
 * N = 8192, 2048 rows at N = 32768).
 *
 * @module
 */
import { copyBuffer, dispatch, linearGrid, Tensor } from "@lzn/tensor";
import type { FlowInputs, FlowRecord } from "./flow.ts";
import { type FlowGrads, type Injection, streamBackward } from "./stream_backward.ts";
import { gemmGrid, gemmKernel, type GemmSpec } from "./gemm.ts";
import {
  adjointKernel,
  anchorGradKernel,
  COL_BLOCK,
  colPartialKernel,
  colSumKernel,
  params,
  rowGrid,
  softmaxVjpKernel,
  weightGradKernel,
  zeroFill,
} from "./small_kernels.ts";

export type { FlowGrads, Injection } from "./stream_backward.ts";

/**
 * Tunables of the backward (benchmarks sweep them): the path, how much memory the streaming path may spend
 * on keeping the forward's evaluations, and the GEMM path's chunking and tiles.
 *
 * @example
 * ```ts
 * backwardTuning.path = "gemm"; // the GEMM form (benchmarks compare it with the streaming kernels)
 * backwardTuning.m2 = [8, 8]; // force 128x128 tiles for the gx GEMM
 * backwardTuning.path = "stream";
 * delete backwardTuning.m2;
 * ```
 */
export const backwardTuning: {
  path: "stream" | "gemm";
  keepEvaluationsBytes: number;
  chunkBytes: number;
  bk: number;
  targetGroups: number;
  m1?: [4 | 8, 4 | 8];
  m2?: [4 | 8, 4 | 8];
  m3?: [4 | 8, 4 | 8];
} = {
  path: "stream",
  keepEvaluationsBytes: 256 * 2 ** 20,
  chunkBytes: 512 * 2 ** 20,
  bk: 16,
  targetGroups: 128,
};

function pickTile(M: number, N: number, forced?: [4 | 8, 4 | 8]): [4 | 8, 4 | 8] {
  if (forced) return forced;
  const cands: [4 | 8, 4 | 8][] = [[8, 8], [4, 8], [8, 4], [4, 4]];
  for (const c of cands) {
    const [x, y] = gemmGrid({ M, N, tm: c[0], tn: c[1] });
    if (x * y >= backwardTuning.targetGroups) return c;
  }
  return [4, 4];
}

/**
 * Whether the forward should keep its evaluations `D_k` for the backward (the streaming path reads them,
 * or recomputes them when the `K b q` floats exceed `backwardTuning.keepEvaluationsBytes`).
 *
 * @example
 * ```ts
 * import { tensor } from "@lzn/tensor";
 * import { eulerForward } from "@lzn/latent";
 * const A = tensor([0, 1], [2, 1]);
 * backwardKeepsEvaluations({ anchors: A, x0: A, schedule: eulerForward(20, 1e-4) }); // true
 * ```
 */
export function backwardKeepsEvaluations(inp: FlowInputs): boolean {
  const bytes = inp.schedule.steps.length * inp.x0.size * 4;
  return backwardTuning.path === "stream" && bytes <= backwardTuning.keepEvaluationsBytes;
}

/**
 * Back-propagates through a recorded flow. `gxK` is the gradient of the final state (null = 0); `inj` adds
 * the alignment loss's gradient on the paired probabilities.
 *
 * @example
 * ```ts
 * // used by flow() and alignment ops as their VJP:
 * // const { gA, gx0 } = flowBackward(inputs, record, upstream);
 * ```
 */
export function flowBackward(
  inp: FlowInputs,
  rec: FlowRecord,
  gxK: Tensor | null,
  inj?: Injection,
): FlowGrads {
  if (!rec.saved) throw new Error("lzn: flow backward needs a forward run with save = true");
  if (inj && !inp.pairs) throw new Error("lzn: alignment backward needs pairs");
  return backwardTuning.path === "stream"
    ? streamBackward(inp, rec, gxK, inj)
    : gemmBackward(inp, rec, gxK, inj);
}

function gemmBackward(inp: FlowInputs, rec: FlowRecord, gxK: Tensor | null, inj?: Injection): FlowGrads {
  const [n, q] = inp.anchors.shape, b = inp.x0.shape[0], bq = b * q;
  const steps = inp.schedule.steps, K = steps.length;
  const weighted = !!rec.lw, injected = !!inj;

  const gx = Tensor.empty([4 * bq]);
  zeroFill(gx);
  if (gxK) copyBuffer(gxK.buffer, 0, gx.buffer, (K % 4) * bq * 4, bq * 4);
  const gd = Tensor.empty([bq]);
  const rc = Math.min(
    b,
    Math.max(COL_BLOCK, Math.floor(backwardTuning.chunkBytes / (8 * n) / COL_BLOCK) * COL_BLOCK),
  );
  const pd = Tensor.empty([2 * rc * n]);
  const csp = Tensor.empty([Math.ceil(rc / COL_BLOCK) * n]);
  const ga = Tensor.empty([n * q]);
  const cs = Tensor.empty([n]);
  const glw = Tensor.empty([n]);
  for (const t of [ga, cs, glw]) zeroFill(t);

  const adj = adjointKernel(bq);
  const chunks: { r0: number; rows: number }[] = [];
  for (let r0 = 0; r0 < b; r0 += rc) chunks.push({ r0, rows: Math.min(rc, b - r0) });
  const kernels = new Map<number, ReturnType<typeof chunkKernels>>();
  for (const c of chunks) {
    if (!kernels.has(c.rows)) kernels.set(c.rows, chunkKernels(c.rows, n, q, weighted, injected));
  }
  const m1Buffers = (k: number) =>
    [
      rec.xs[k],
      gd,
      inp.anchors,
      rec.sq,
      ...(rec.lw ? [rec.lw] : []),
      ...(inj ? [inp.pairs!, inj.kstar, inj.gm] : []),
      pd,
    ].map((t) => t.buffer);

  for (let k = K - 1; k >= 0; k--) {
    const coef = [0, 1, 2].map((m) => (k + m < K && steps[k + m].history >= m ? steps[k + m].b[m] : 0));
    const slot = (j: number) => (j % 4) * bq;
    dispatch({
      kernel: adj,
      buffers: [gx.buffer, gd.buffer],
      params: params([
        ["f", coef[0]],
        ["f", coef[1]],
        ["f", coef[2]],
        ["u", slot(k + 1)],
        ["u", slot(k + 2)],
        [
          "u",
          slot(k + 3),
        ],
      ]),
      workgroups: linearGrid(bq, 256).workgroups,
    });
    const s = steps[k];
    for (const c of chunks) {
      const kk = kernels.get(c.rows)!;
      dispatch({
        kernel: kk.m1.kernel,
        buffers: m1Buffers(k),
        params: params([["f", s.alpha], ["f", s.beta], ["u", 0], ["u", c.r0], ["u", k]]),
        workgroups: kk.m1.grid,
      });
      dispatch({ kernel: kk.svr, buffers: [pd.buffer], workgroups: rowGrid(c.rows) });
      dispatch({
        kernel: kk.colPartial,
        buffers: [pd.buffer, csp.buffer],
        workgroups: [Math.ceil(n / 256), Math.ceil(c.rows / COL_BLOCK)],
      });
      dispatch({
        kernel: kk.m2.kernel,
        buffers: [pd.buffer, inp.anchors.buffer, gx.buffer],
        params: params([["f", s.a], ["f", s.alpha], ["u", c.r0], ["u", slot(k + 1)], ["u", slot(k)]]),
        workgroups: kk.m2.grid,
      });
      dispatch({
        kernel: kk.m3.kernel,
        buffers: [pd.buffer, gd.buffer, rec.xs[k].buffer, ga.buffer],
        params: params([["f", s.alpha], ["u", c.r0], ["u", 0]]),
        workgroups: kk.m3.grid,
      });
      dispatch({
        kernel: kk.cs,
        buffers: [csp.buffer, cs.buffer, glw.buffer],
        params: params([["f", -(1 - s.t) * s.alpha]]),
        workgroups: linearGrid(n, 256).workgroups,
      });
    }
  }
  const gA = Tensor.empty([n, q]);
  dispatch({
    kernel: anchorGradKernel(n, q),
    buffers: [ga.buffer, cs.buffer, inp.anchors.buffer, gA.buffer],
    workgroups: linearGrid(n * q, 256).workgroups,
  });
  const gx0 = Tensor.empty([b, q]);
  copyBuffer(gx.buffer, 0, gx0.buffer, 0, bq * 4);
  let gw: Tensor | undefined;
  if (inp.weights) {
    gw = Tensor.empty([n]);
    dispatch({
      kernel: weightGradKernel(n),
      buffers: [glw.buffer, inp.weights.buffer, gw.buffer],
      workgroups: linearGrid(n, 256).workgroups,
    });
  }
  for (const t of [gx, gd, pd, csp, ga, cs, glw]) t.dispose();
  return { gA, gx0, gw };
}

function chunkKernels(rows: number, n: number, q: number, weighted: boolean, injected: boolean) {
  const bk = backwardTuning.bk;
  // M1: S = alpha x A^T + beta |a|^2 (+ log w) and dP = gD A^T (+ the alignment injection), stored raw.
  const [t1m, t1n] = pickTile(rows, n, backwardTuning.m1 ?? [4, 8]);
  const m1: GemmSpec = {
    name: "latent_bwd_m1",
    M: rows,
    N: n,
    K: q,
    tm: t1m,
    tn: t1n,
    bk,
    dual: true,
    aFast: "k",
    bFast: "k",
    decls: [
      ["XS", "read", "f32"],
      ["GD", "read", "f32"],
      ["A", "read", "f32"],
      ["SQ", "read", "f32"],
      ...(weighted ? [["LW", "read", "f32"] as [string, "read", string]] : []),
      ...(injected
        ? [["PAIR", "read", "i32"], ["KSTAR", "read", "i32"], ["GM", "read", "f32"]] as [
          string,
          "read",
          string,
        ][]
        : []),
      ["PD", "read_write", "f32"],
    ],
    params: {
      fields: "alpha: f32, beta: f32, xOff: u32, r0: u32, step: u32, p0: u32, p1: u32, p2: u32",
      bytes: 32,
    },
    fns: `
fn ldA(m: u32, k: u32) -> f32 { return XS[u.xOff + (u.r0 + m) * ${q}u + k]; }
fn ldA2(m: u32, k: u32) -> f32 { return GD[(u.r0 + m) * ${q}u + k]; }
fn ldB(k: u32, n: u32) -> f32 { return A[n * ${q}u + k]; }
fn epi(m: u32, n: u32, s: f32, dp: f32) -> f32 {
  var g = dp;
  ${
      injected
        ? "let row = u.r0 + m; if (KSTAR[row] == i32(u.step) && PAIR[row] == i32(n)) { g += GM[row]; }"
        : ""
    }
  PD[m * ${n}u + n] = fma(u.alpha, s, u.beta * SQ[n])${weighted ? " + LW[n]" : ""};
  PD[${rows * n}u + m * ${n}u + n] = g;
  return 0.0;
}`,
  };
  // M2: gx_k[rows] = a_k gx_{k+1}[rows] + alpha dS A.
  const [t2m, t2n] = pickTile(rows, q, backwardTuning.m2);
  const m2: GemmSpec = {
    name: "latent_bwd_m2",
    M: rows,
    N: q,
    K: n,
    tm: t2m,
    tn: t2n,
    bk,
    aFast: "k",
    bFast: "n",
    decls: [["PD", "read", "f32"], ["A", "read", "f32"], ["GX", "read_write", "f32"]],
    params: {
      fields: "a: f32, alpha: f32, r0: u32, inOff: u32, outOff: u32, p0: u32, p1: u32, p2: u32",
      bytes: 32,
    },
    fns: `
fn ldA(m: u32, k: u32) -> f32 { return PD[${rows * n}u + m * ${n}u + k]; }
fn ldB(k: u32, n: u32) -> f32 { return A[k * ${q}u + n]; }
fn epi(m: u32, n: u32, acc: f32) -> f32 {
  let i = (u.r0 + m) * ${q}u + n;
  GX[u.outOff + i] = fma(u.alpha, acc, u.a * GX[u.inOff + i]);
  return 0.0;
}`,
  };
  // M3: gA[N, q] += [pi; dS]^T [gD; alpha x_k] over this chunk's rows (K = 2 rows).
  const [t3m, t3n] = pickTile(n, q, backwardTuning.m3);
  const m3: GemmSpec = {
    name: "latent_bwd_m3",
    M: n,
    N: q,
    K: 2 * rows,
    tm: t3m,
    tn: t3n,
    bk,
    aFast: "m",
    bFast: "n",
    decls: [["PD", "read", "f32"], ["GD", "read", "f32"], ["XS", "read", "f32"], ["GA", "read_write", "f32"]],
    params: { fields: "alpha: f32, r0: u32, xOff: u32, p0: u32", bytes: 16 },
    fns: `
fn ldA(m: u32, k: u32) -> f32 { return PD[k * ${n}u + m]; }
fn ldB(k: u32, n: u32) -> f32 {
  if (k < ${rows}u) { return GD[(u.r0 + k) * ${q}u + n]; }
  return u.alpha * XS[u.xOff + (u.r0 + k - ${rows}u) * ${q}u + n];
}
fn epi(m: u32, n: u32, acc: f32) -> f32 { GA[m * ${q}u + n] += acc; return 0.0; }`,
  };
  const grid = (s: GemmSpec) => ({ kernel: gemmKernel(s), grid: gemmGrid(s) });
  return {
    m1: grid(m1),
    m2: grid(m2),
    m3: grid(m3),
    svr: softmaxVjpKernel(rows, n),
    colPartial: colPartialKernel(rows, n),
    cs: colSumKernel(n, Math.ceil(rows / COL_BLOCK)),
  };
}
