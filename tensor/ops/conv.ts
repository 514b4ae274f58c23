/**
 * 2-D convolution (NCHW, f32) as an implicit GEMM, forward and backward.
 *
 * All three products are one tiled GEMM `out[m, c] = sum_k A[m, k] B[k, c]` generated from a spec that says
 * how to gather an element of A and B straight from the NCHW tensors, so no im2col matrix is ever written:
 *
 * | product | m                    | c    | k                          | A        | B        |
 * |---------|----------------------|------|----------------------------|----------|----------|
 * | y       | output pixel n,oh,ow | cout | cin,r,s                    | x gather | w        |
 * | dx      | input pixel n,ih,iw  | cin  | cout,r,s (one phase)       | dy gather| w        |
 * | dw      | cin,r,s              | cout | n,oh,ow (split over groups)| x gather | dy       |
 *
 * dx is the transposed convolution. For stride > 1 it is split into stride² phases (input pixels with the
 * same `ih mod stride`, `iw mod stride`): inside one phase only the taps `r ≡ (ih + pad) mod stride` ever
 * hit an output pixel, so each phase is a dense GEMM over exactly those taps and no work is spent on the
 * zeros a dilated dy would hold. dw reduces over N·Ho·Wo, so it splits k into chunks (split-K) to fill the
 * GPU and sums the partial products with one reduction.
 *
 * The GEMM kernel keeps a BM×BN tile in workgroup memory slabs of depth BK, each thread owning TM×TN
 * outputs in named vec4 accumulators (an array indexed in a loop would be placed in local memory by the
 * NVIDIA Vulkan compiler and run ~10x slower); the k loop over a slab is unrolled by this generator, and the
 * next slab's global loads are issued into registers before the current slab is multiplied.
 *
 * @module
 */
import { record } from "../autograd.ts";
import { gpu } from "../device.ts";
import { bindings } from "../kernel.ts";
import { Tensor } from "../tensor.ts";
import { gemmLaunch, type GemmSpec, pickTile, runGemm } from "./conv_gemm.ts";
import { reduce } from "./reduce.ts";

/**
 * Options of {@link conv2d}.
 *
 * @example
 * ```ts
 * import { conv2d, type Conv2dOptions, tensor } from "@lzn/tensor";
 * const x = tensor(new Float32Array(2 * 3 * 8 * 8), [2, 3, 8, 8]);
 * const w = tensor(new Float32Array(4 * 3 * 3 * 3), [4, 3, 3, 3]);
 * const opts: Conv2dOptions = { stride: [2, 2], padding: 1 };
 * const y = conv2d(x, w, undefined, opts); // [2, 4, 4, 4]
 * ```
 */
export interface Conv2dOptions {
  /** Stride, one number or `[vertical, horizontal]` (default 1). */
  stride?: number | [number, number];
  /** Zero padding on each side, one number or `[vertical, horizontal]` (default 0). */
  padding?: number | [number, number];
}

/** The shapes of one convolution; every kernel bakes them in as constants. */
interface Geom {
  N: number;
  CI: number;
  H: number;
  W: number;
  CO: number;
  KH: number;
  KW: number;
  SH: number;
  SW: number;
  PH: number;
  PW: number;
  HO: number;
  WO: number;
}

/** WGSL gathering x through a (pixel, tap) pair: `pix(m)` for output pixel m, `tap(k)` for k = (ci, r, s). */
function xGather(g: Geom): string {
  const HOWO = g.HO * g.WO, KHKW = g.KH * g.KW;
  return `struct Pix { off: i32, h: i32, w: i32 }
struct Tap { off: i32, r: i32, s: i32 }
fn pix(m: u32) -> Pix {
  if (m >= ${g.N * HOWO}u) { return Pix(0, -1048576, 0); }
  let n = m / ${HOWO}u; let p = m % ${HOWO}u;
  let h = i32((p / ${g.WO}u) * ${g.SH}u) - ${g.PH}; let w = i32((p % ${g.WO}u) * ${g.SW}u) - ${g.PW};
  return Pix(i32(n * ${g.CI * g.H * g.W}u) + h * ${g.W} + w, h, w);
}
fn tap(k: u32) -> Tap {
  if (k >= ${g.CI * KHKW}u) { return Tap(0, -1048576, 0); }
  let ci = k / ${KHKW}u; let rs = k % ${KHKW}u; let r = rs / ${g.KW}u; let s = rs % ${g.KW}u;
  return Tap(i32(ci * ${g.H * g.W}u + r * ${g.W}u + s), i32(r), i32(s));
}
fn xAt(p: Pix, q: Tap) -> f32 {
  if (u32(p.h + q.r) < ${g.H}u && u32(p.w + q.s) < ${g.W}u) { return X[u32(p.off + q.off)]; }
  return 0.0;
}`;
}

function forwardSpec(g: Geom, hasBias: boolean): GemmSpec {
  const HOWO = g.HO * g.WO, K = g.CI * g.KH * g.KW;
  const vec = HOWO % 4 === 0, tile = pickTile(g.CO);
  const list: [string, "read" | "read_write", string][] = [["X", "read", "f32"], ["Wt", "read", "f32"]];
  if (hasBias) list.push(["Bias", "read", "f32"]);
  list.push(["Y", "read_write", vec ? "vec4f" : "f32"]);
  const at = (m: string, c: string) => `((${m} / ${HOWO}u) * ${g.CO}u + ${c}) * ${HOWO}u + ${m} % ${HOWO}u`;
  const b = (c: string) => (hasBias ? ` + Bias[${c}]` : "");
  return {
    name: "conv2d_fwd",
    M: g.N * HOWO,
    C: g.CO,
    K,
    tile,
    kChunk: Math.max(1, Math.ceil(K / tile.BK)) * tile.BK,
    splits: 1,
    aAlongK: false,
    src: `${bindings(list)}
${xGather(g)}
fn rowA(m: u32) -> Pix { return pix(m); }
fn colA(k: u32) -> Tap { return tap(k); }
fn atA(p: Pix, q: Tap) -> f32 { return xAt(p, q); }
fn rowB(k: u32) -> i32 { return select(-1, i32(k), k < ${K}u); }
fn colB(c: u32) -> i32 { return select(-1, i32(c * ${K}u), c < ${g.CO}u); }`,
    bArray: "Wt",
    storage: list.map((l) => l[1]),
    store: (m, c, v) => `Y[${at(m, c)}] = ${v}${b(c)};`,
    store4: vec
      ? (m, c, v) => `Y[(${at(m, c)}) / 4u] = ${v}${hasBias ? ` + vec4f(Bias[${c}])` : ""};`
      : undefined,
  };
}

/**
 * dx for one stride phase (ph, pw): input pixels ih = ph + SH*i, iw = pw + SW*j; taps r = rf + SH*ri with
 * rf = (ph + PH) mod SH, for which oh = (ih + PH - r) / SH = dh + i - ri is exact.
 */
function dxSpec(g: Geom, ph: number, pw: number): GemmSpec {
  const HP = Math.ceil((g.H - ph) / g.SH), WP = Math.ceil((g.W - pw) / g.SW);
  const rf = (ph + g.PH) % g.SH, sf = (pw + g.PW) % g.SW;
  const RP = Math.max(0, Math.ceil((g.KH - rf) / g.SH)), SP = Math.max(0, Math.ceil((g.KW - sf) / g.SW));
  const dh = (ph + g.PH - rf) / g.SH, dw = (pw + g.PW - sf) / g.SW;
  const HOWO = g.HO * g.WO, KHKW = g.KH * g.KW, K = g.CO * RP * SP, M = g.N * HP * WP;
  const whole = g.SH === 1 && g.SW === 1;
  const vec = whole && (g.H * g.W) % 4 === 0, tile = pickTile(g.CI);
  const list: [string, "read" | "read_write", string][] = [
    ["G", "read", "f32"],
    ["Wt", "read", "f32"],
    ["DX", "read_write", vec ? "vec4f" : "f32"],
  ];
  const at = (m: string, c: string) => {
    const n = `(${m} / ${HP * WP}u)`, q = `(${m} % ${HP * WP}u)`;
    const ih = `(${ph}u + ${g.SH}u * (${q} / ${WP}u))`, iw = `(${pw}u + ${g.SW}u * (${q} % ${WP}u))`;
    return `((${n} * ${g.CI}u + ${c}) * ${g.H}u + ${ih}) * ${g.W}u + ${iw}`;
  };
  return {
    name: "conv2d_dx",
    M,
    C: g.CI,
    K,
    tile,
    kChunk: Math.max(1, Math.ceil(K / tile.BK)) * tile.BK,
    splits: 1,
    aAlongK: false,
    src: `${bindings(list)}
struct RowA { off: i32, h: i32, w: i32 }
struct ColA { off: i32, r: i32, s: i32 }
fn rowA(m: u32) -> RowA {
  if (m >= ${M}u) { return RowA(0, -1048576, 0); }
  let n = m / ${HP * WP}u; let q = m % ${HP * WP}u;
  let h = i32(q / ${WP}u) + ${dh}; let w = i32(q % ${WP}u) + ${dw};
  return RowA(i32(n * ${g.CO * HOWO}u) + h * ${g.WO} + w, h, w);
}
fn colA(k: u32) -> ColA {
  if (k >= ${K}u) { return ColA(0, 1048576, 0); }
  let co = k / ${Math.max(1, RP * SP)}u; let t = k % ${Math.max(1, RP * SP)}u;
  let r = i32(t / ${Math.max(1, SP)}u); let s = i32(t % ${Math.max(1, SP)}u);
  return ColA(i32(co * ${HOWO}u) - r * ${g.WO} - s, r, s);
}
fn atA(a: RowA, b: ColA) -> f32 {
  if (u32(a.h - b.r) < ${g.HO}u && u32(a.w - b.s) < ${g.WO}u) { return G[u32(a.off + b.off)]; }
  return 0.0;
}
fn rowB(k: u32) -> i32 {
  if (k >= ${K}u) { return -1; }
  let co = k / ${Math.max(1, RP * SP)}u; let t = k % ${Math.max(1, RP * SP)}u;
  let r = ${rf}u + ${g.SH}u * (t / ${Math.max(1, SP)}u); let s = ${sf}u + ${g.SW}u * (t % ${
      Math.max(1, SP)
    }u);
  return i32(co * ${g.CI * KHKW}u + r * ${g.KW}u + s);
}
fn colB(c: u32) -> i32 { return select(-1, i32(c * ${KHKW}u), c < ${g.CI}u); }`,
    bArray: "Wt",
    storage: list.map((l) => l[1]),
    store: (m, c, v) => `DX[${at(m, c)}] = ${v};`,
    store4: vec ? (m, c, v) => `DX[(${at(m, c)}) / 4u] = ${v};` : undefined,
  };
}

/** dw (as partial sums per k split): m = (ci, r, s), c = co, k = output pixel (n, oh, ow). */
function dwSpec(g: Geom): GemmSpec {
  const HOWO = g.HO * g.WO, KD = g.CI * g.KH * g.KW, K = g.N * HOWO;
  const tile = pickTile(g.CO);
  const tiles = Math.ceil(KD / tile.BM) * Math.ceil(g.CO / tile.BN);
  // Enough workgroups to fill the device, each still running a long k loop.
  const target = gpu().adapter.tuning === "cpu" ? 4 : 1024;
  let splits = Math.max(1, Math.min(Math.ceil(target / tiles), Math.floor(K / (tile.BK * 32))));
  const kChunk = Math.ceil(K / splits / tile.BK) * tile.BK;
  splits = Math.ceil(K / kChunk);
  const vec = KD % 4 === 0;
  const list: [string, "read" | "read_write", string][] = [
    ["X", "read", "f32"],
    ["G", "read", "f32"],
    ["P", "read_write", vec ? "vec4f" : "f32"],
  ];
  const at = (m: string, c: string) => `(split * ${g.CO}u + ${c}) * ${KD}u + ${m}`;
  return {
    name: "conv2d_dw",
    M: KD,
    C: g.CO,
    K,
    tile,
    kChunk,
    splits,
    aAlongK: true,
    src: `${bindings(list)}
${xGather(g)}
fn rowA(m: u32) -> Tap { return tap(m); }
fn colA(k: u32) -> Pix { return pix(k); }
fn atA(q: Tap, p: Pix) -> f32 { return xAt(p, q); }
fn rowB(k: u32) -> i32 {
  if (k >= ${K}u) { return -1; }
  return i32((k / ${HOWO}u) * ${g.CO * HOWO}u + k % ${HOWO}u);
}
fn colB(c: u32) -> i32 { return select(-1, i32(c * ${HOWO}u), c < ${g.CO}u); }`,
    bArray: "G",
    storage: list.map((l) => l[1]),
    store: (m, c, v) => `P[${at(m, c)}] = ${v};`,
    store4: vec ? (m, c, v) => `P[(${at(m, c)}) / 4u] = ${v};` : undefined,
  };
}

function pair(v: number | [number, number] | undefined, dflt: number, what: string): [number, number] {
  const p: [number, number] = v === undefined ? [dflt, dflt] : typeof v === "number" ? [v, v] : v;
  if (!p.every((d) => Number.isInteger(d) && d >= (what === "stride" ? 1 : 0))) {
    throw new Error(
      `lzn: conv2d ${what} must be ${what === "stride" ? "positive" : "non-negative"} integers`,
    );
  }
  return p;
}

function geometry(x: Tensor, w: Tensor, opts: Conv2dOptions): Geom {
  if (x.ndim !== 4 || w.ndim !== 4 || x.shape[1] !== w.shape[1]) {
    throw new Error(
      `lzn: conv2d needs x [N, Cin, H, W] and w [Cout, Cin, kh, kw], got [${x.shape}] and [${w.shape}]`,
    );
  }
  const [N, CI, H, W] = x.shape, [CO, , KH, KW] = w.shape;
  const [SH, SW] = pair(opts.stride, 1, "stride"), [PH, PW] = pair(opts.padding, 0, "padding");
  const HO = Math.floor((H + 2 * PH - KH) / SH) + 1, WO = Math.floor((W + 2 * PW - KW) / SW) + 1;
  if (HO < 1 || WO < 1) {
    throw new Error(`lzn: conv2d kernel ${KH}x${KW} does not fit input ${H}x${W} with padding ${PH},${PW}`);
  }
  return { N, CI, H, W, CO, KH, KW, SH, SW, PH, PW, HO, WO };
}

const geomKey = (g: Geom) => Object.values(g).join(",");

function convInputGrad(g: Geom, dy: Tensor, w: Tensor): Tensor {
  const dx = Tensor.empty([g.N, g.CI, g.H, g.W]);
  for (let ph = 0; ph < g.SH; ph++) {
    for (let pw = 0; pw < g.SW; pw++) {
      if (Math.ceil((g.H - ph) / g.SH) > 0 && Math.ceil((g.W - pw) / g.SW) > 0) {
        runGemm(gemmLaunch(`dx|${geomKey(g)}|${ph},${pw}`, () => dxSpec(g, ph, pw)), [
          dy.buffer,
          w.buffer,
          dx.buffer,
        ]);
      }
    }
  }
  return dx;
}

function convWeightGrad(g: Geom, x: Tensor, dy: Tensor): Tensor {
  const l = gemmLaunch(`dw|${geomKey(g)}`, () => dwSpec(g));
  const KD = g.CI * g.KH * g.KW;
  if (l.splits === 1) {
    const dw = Tensor.empty([g.CO, g.CI, g.KH, g.KW]);
    runGemm(l, [x.buffer, dy.buffer, dw.buffer]);
    return dw;
  }
  const partial = Tensor.empty([l.splits, g.CO * KD]);
  runGemm(l, [x.buffer, dy.buffer, partial.buffer]);
  const flat = reduce("sum", partial, 0);
  const dw = flat.reshape([g.CO, g.CI, g.KH, g.KW]);
  partial.dispose();
  flat.dispose();
  return dw;
}

/**
 * 2-D cross-correlation (PyTorch's `conv2d`) of `x [N, Cin, H, W]` with `w [Cout, Cin, kh, kw]` plus an
 * optional `bias [Cout]`, giving `[N, Cout, Ho, Wo]` with `Ho = floor((H + 2 pad - kh) / stride) + 1`.
 * Differentiable in `x`, `w` and `bias`. 1x1 convolutions take the same path (k = Cin).
 *
 * @example
 * ```ts
 * import { conv2d, tensor } from "@lzn/tensor";
 * const x = tensor([1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 1, 3, 3]);
 * const w = tensor([1, 0, 0, -1], [1, 1, 2, 2]);
 * const y = conv2d(x, w, undefined, { stride: 1, padding: 0 });
 * console.log(await y.toArray()); // Float32Array [-4, -4, -4, -4]
 * ```
 */
export function conv2d(x: Tensor, w: Tensor, bias?: Tensor, opts: Conv2dOptions = {}): Tensor {
  const g = geometry(x, w, opts);
  if (x.dtype !== "f32" || w.dtype !== "f32") throw new Error("lzn: conv2d needs f32 tensors");
  if (bias && (bias.ndim !== 1 || bias.shape[0] !== g.CO)) {
    throw new Error(`lzn: conv2d bias must be [${g.CO}], got [${bias.shape}]`);
  }
  const y = Tensor.empty([g.N, g.CO, g.HO, g.WO]);
  const bufs = bias ? [x.buffer, w.buffer, bias.buffer, y.buffer] : [x.buffer, w.buffer, y.buffer];
  runGemm(gemmLaunch(`fwd|${geomKey(g)}|${!!bias}`, () => forwardSpec(g, !!bias)), bufs);
  const inputs = bias ? [x, w, bias] : [x, w];
  return record("conv2d", y, inputs, (dy) => [
    x.requiresGrad ? convInputGrad(g, dy, w) : null,
    w.requiresGrad ? convWeightGrad(g, x, dy) : null,
    bias?.requiresGrad ? reduce("sum", dy, [0, 2, 3]) : null,
  ]);
}
