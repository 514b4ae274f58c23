/**
 * A register-blocked GEMM generator for the latent backward pass: `C[m, n] = sum_k A[m, k] B[k, n]` where the
 * operands are WGSL loader functions (so a transposed or concatenated operand is read in place) and the result
 * goes through a caller-written epilogue (so a logit transform, a scaled "+=" into a gradient or a state update is
 * fused into the GEMM). An optional second A operand shares the B tiles ("dual": the backward needs
 * `x A^T` and `g A^T` over the same anchors). The epilogue is called once per output element in bounds.
 *
 * Layout (design §8): 256 threads as 16 x 16; a thread owns `tm x tn` outputs as vec4 accumulators in named
 * variables (rows `4 ty + 64 r`, columns `4 tx + 64 c`), so no private array is indexed by a loop variable.
 * Tiles of `bk` along K go through shared memory, with the next tile prefetched into registers while the
 * current one is multiplied. Every accumulation is `acc = fma(a, b, acc)` in ascending k: the forward
 * velocity kernel uses the same chain, which keeps recomputed logits bit-identical to the forward ones.
 *
 * @module
 */
import { bindings, type Kernel, kernel } from "@lzn/tensor";

/** What a generated GEMM computes and how it reads and writes. */
export interface GemmSpec {
  /** Kernel label. */
  name: string;
  /** Output rows, output columns and reduction length (baked into the WGSL). */
  M: number;
  N: number;
  K: number;
  /** Rows and columns per thread (4 or 8): tile = 16 tm x 16 tn. */
  tm: 4 | 8;
  tn: 4 | 8;
  /** K-tile depth (multiple of 4). */
  bk: number;
  /** Storage bindings in binding order. */
  decls: [string, "read" | "read_write", string][];
  /** Body of `struct Params` (uniform at the binding after the storage ones), and its byte size. */
  params?: { fields: string; bytes: number };
  /** WGSL helpers: must define `ldA(m, k)`, `ldB(k, n)` (and `ldA2` when dual) and
   *  `epi(m, n, acc[, acc2]) -> f32` (return value ignored). Loaders are only called in bounds. */
  fns: string;
  /** Which index of A (and of B) is contiguous in memory: consecutive threads load along it. */
  aFast: "m" | "k";
  bFast: "k" | "n";
  /** Two A operands sharing B; `epi` gets both accumulators. */
  dual?: boolean;
}

const cache = new Map<string, Kernel>();

/**
 * Workgroup grid of a GEMM: `[column tiles, row tiles]`.
 *
 * @example
 * ```ts
 * gemmGrid({ M: 2000, N: 200, tm: 4, tn: 4 }); // [4, 32]
 * ```
 */
export function gemmGrid(s: Pick<GemmSpec, "M" | "N" | "tm" | "tn">): [number, number] {
  return [Math.ceil(s.N / (16 * s.tn)), Math.ceil(s.M / (16 * s.tm))];
}

/**
 * Compiles (cached by source) the GEMM described by `s`.
 *
 * @example
 * ```ts
 * const k = gemmKernel({
 *   name: "plain", M: 64, N: 64, K: 32, tm: 4, tn: 4, bk: 16, aFast: "k", bFast: "n",
 *   decls: [["A", "read", "f32"], ["B", "read", "f32"], ["C", "read_write", "f32"]],
 *   fns: `fn ldA(m: u32, k: u32) -> f32 { return A[m * 32u + k]; }
 *         fn ldB(k: u32, n: u32) -> f32 { return B[k * 64u + n]; }
 *         fn epi(m: u32, n: u32, acc: f32) -> f32 { C[m * 64u + n] = acc; return 0.0; }`,
 * });
 * ```
 */
export function gemmKernel(s: GemmSpec): Kernel {
  const wgsl = gemmWgsl(s);
  const hit = cache.get(wgsl);
  if (hit) return hit;
  const k = kernel({ name: s.name, wgsl, storage: s.decls.map((d) => d[1]), uniform: s.params?.bytes });
  cache.set(wgsl, k);
  return k;
}

function gemmWgsl(s: GemmSpec): string {
  const { M, N, K, tm, tn, bk } = s;
  const BM = 16 * tm, BN = 16 * tn;
  const SA = BM / 4 + 1, SB = BN / 4 + 1; // vec4 row strides; +1 spreads transposed stores over banks
  const GR = tm / 4, GC = tn / 4;
  const NKT = Math.ceil(K / bk);
  const perA = (BM * bk) / 256, perB = (BN * bk) / 256;
  const ops = s.dual ? ["", "2"] : [""];
  const L: string[] = [];
  L.push(bindings(s.decls));
  if (s.params) {
    L.push(`struct Params { ${s.params.fields} }`);
    L.push(`@group(0) @binding(${s.decls.length}) var<uniform> u: Params;`);
  }
  for (const o of ops) L.push(`var<workgroup> sa${o}: array<vec4f, ${bk * SA}>;`);
  L.push(`var<workgroup> sb: array<vec4f, ${bk * SB}>;`);
  L.push(s.fns);
  // Tile element e -> (m, k) or (k, n), consecutive threads along the contiguous index.
  const aIdx = (e: string) =>
    s.aFast === "k" ? [`(${e}) / ${bk}u`, `(${e}) % ${bk}u`] : [`(${e}) % ${BM}u`, `(${e}) / ${BM}u`];
  const bIdx = (e: string) =>
    s.bFast === "n" ? [`(${e}) / ${BN}u`, `(${e}) % ${BN}u`] : [`(${e}) % ${bk}u`, `(${e}) / ${bk}u`];
  const fetch = (kt: string): string[] => {
    const out: string[] = [];
    for (let i = 0; i < perA; i++) {
      const [m, k] = aIdx(`lid + ${256 * i}u`);
      for (const o of ops) {
        out.push(`{ let m = m0 + ${m}; let k = ${kt} * ${bk}u + ${k};
          pa${o}_${i} = 0.0; if (m < ${M}u && k < ${K}u) { pa${o}_${i} = ldA${o}(m, k); } }`);
      }
    }
    for (let i = 0; i < perB; i++) {
      const [k, n] = bIdx(`lid + ${256 * i}u`);
      out.push(`{ let n = n0 + ${n}; let k = ${kt} * ${bk}u + ${k};
        pb_${i} = 0.0; if (n < ${N}u && k < ${K}u) { pb_${i} = ldB(k, n); } }`);
    }
    return out;
  };
  const store: string[] = [];
  for (let i = 0; i < perA; i++) {
    const [m, k] = aIdx(`lid + ${256 * i}u`);
    for (const o of ops) {
      store.push(`{ let m = ${m}; let k = ${k}; sa${o}[k * ${SA}u + m / 4u][m % 4u] = pa${o}_${i}; }`);
    }
  }
  for (let i = 0; i < perB; i++) {
    const [k, n] = bIdx(`lid + ${256 * i}u`);
    store.push(`{ let k = ${k}; let n = ${n}; sb[k * ${SB}u + n / 4u][n % 4u] = pb_${i}; }`);
  }
  const decl: string[] = [];
  for (let i = 0; i < perA; i++) for (const o of ops) decl.push(`var pa${o}_${i}: f32;`);
  for (let i = 0; i < perB; i++) decl.push(`var pb_${i}: f32;`);
  for (const o of ops) {
    for (let r = 0; r < tm; r++) {
      for (let c = 0; c < GC; c++) decl.push(`var acc${o}_${r}_${c} = vec4f(0.0);`);
    }
  }
  const inner: string[] = [];
  for (let c = 0; c < GC; c++) inner.push(`let bv${c} = sb[k * ${SB}u + tx + ${16 * c}u];`);
  for (const o of ops) {
    for (let g = 0; g < GR; g++) {
      inner.push(`let av${o}${g} = sa${o}[k * ${SA}u + ty + ${16 * g}u];`);
      for (let e = 0; e < 4; e++) {
        const r = 4 * g + e;
        for (let c = 0; c < GC; c++) {
          inner.push(`acc${o}_${r}_${c} = fma(vec4f(av${o}${g}[${e}]), bv${c}, acc${o}_${r}_${c});`);
        }
      }
    }
  }
  const epi: string[] = [];
  for (let r = 0; r < tm; r++) {
    const row = `m0 + ty * 4u + ${64 * Math.floor(r / 4) + (r % 4)}u`;
    epi.push(`{ let m = ${row}; if (m < ${M}u) {`);
    for (let c = 0; c < GC; c++) {
      for (let e = 0; e < 4; e++) {
        const call = s.dual
          ? `epi(m, n, acc_${r}_${c}[${e}], acc2_${r}_${c}[${e}])`
          : `epi(m, n, acc_${r}_${c}[${e}])`;
        epi.push(`{ let n = n0 + tx * 4u + ${64 * c + e}u; if (n < ${N}u) { _ = ${call}; } }`);
      }
    }
    epi.push(`} }`);
  }
  L.push(`@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u) {
  let ty = lid / 16u;
  let tx = lid % 16u;
  let m0 = wid.y * ${BM}u;
  let n0 = wid.x * ${BN}u;
  ${decl.join("\n  ")}
  ${fetch("0u").join("\n  ")}
  for (var kt = 0u; kt < ${NKT}u; kt++) {
    workgroupBarrier();
    ${store.join("\n    ")}
    workgroupBarrier();
    if (kt + 1u < ${NKT}u) {
      ${fetch("(kt + 1u)").join("\n      ")}
    }
    for (var k = 0u; k < ${bk}u; k++) {
      ${inner.join("\n      ")}
    }
  }
  ${epi.join("\n  ")}
}`);
  return L.join("\n");
}
