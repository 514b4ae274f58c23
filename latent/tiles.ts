/**
 * WGSL building blocks shared by the latent kernels (forward velocity, both streaming backward kernels): a
 * workgroup of 256 threads as 16 x 16 (ty, tx) that owns 64 "M" rows and walks tiles of `bc` "N" rows.
 *
 * - {@link productPhase}: `acc[m, n] = sum_k M[m, k] N[n, k]` over the whole latent width q for one tile
 *   (the logits `x . a`, and `gD . a` beside them), the operands staged through workgroup memory in
 *   k-major chunks of `bk`, double-buffered with a register prefetch so each chunk costs one barrier (the
 *   structure of the library's matmul). A thread owns rows `4 ty + i` (i < 4) x columns `64 h + 4 tx + e`
 *   (h < bc / 64, e < 4): `4 bc / 64` vec4 accumulators per product, in named variables.
 * - {@link accumulatePhase}: `o[m, c] += sum_j coef[m, j] R[j, c]` for a tile's `bc` indices j, with the
 *   coefficients (probabilities, softmax adjoints) already in workgroup memory and the rows `R[j, :]` staged
 *   in chunks of `jc`; a thread owns rows `4 ty + i` x columns `64 g + 4 tx + e` (g < qp / 64): `4 qp / 64`
 *   vec4 accumulators, in named variables.
 *
 * Every loop over accumulators is unrolled by the generator, because on the NVIDIA Vulkan path a private
 * array indexed by a loop variable lands in local memory (design §8). Every product is one fma chain per
 * output in ascending k starting from 0 (zero padding past q adds exact zeros), so any two kernels built
 * from these blocks compute bit-identical logits and adjoint products: the backward's `exp(S - lse)` and
 * `dP - D` rely on it (a one-hot row must give probability exactly 1 and `dS` exactly 0, see
 * `stream_backward.ts`).
 *
 * @module
 */

const XYZW = ["x", "y", "z", "w"];

/**
 * Lines joined for readable WGSL (empty ones dropped).
 *
 * @example
 * ```ts
 * join(["let a = 1;", "", "let b = 2;"]); // "let a = 1;\n  let b = 2;"
 * ```
 */
export function join(lines: string[], indent = "  "): string {
  return lines.filter((l) => l !== "").join(`\n${indent}`);
}

/**
 * `0 .. n-1`: the unrolled indices of generated code.
 *
 * @example
 * ```ts
 * range(4).map((i) => `var acc${i} = vec4f(0.0);`);
 * ```
 */
export function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
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
 * Whether a `[rows, q]` matrix is read and written as vec4 (rows start on 16-byte boundaries).
 *
 * @example
 * ```ts
 * vectorRows(200); // true
 * vectorRows(6); // false: scalar loads, four per vec4
 * ```
 */
export function vectorRows(q: number): boolean {
  return q % 4 === 0;
}

/**
 * A WGSL loader `fn name(row: u32, k: u32) -> vec4f` returning `M[row, k..k+3]` of a `[rows, q]` matrix
 * bound as `binding` (`array<vec4f>` when {@link vectorRows}, else `array<f32>`), zero past the last row and
 * past q. `k` is always a multiple of 4.
 *
 * @example
 * ```ts
 * const wgsl = rowLoader("ld_x", "X", 2000, 200); // fn ld_x(row: u32, k: u32) -> vec4f { ... }
 * ```
 */
export function rowLoader(name: string, binding: string, rows: number, q: number): string {
  const rowOk = `row < ${rows}u`;
  if (vectorRows(q)) {
    return `fn ${name}(row: u32, k: u32) -> vec4f {
  if (${rowOk} && k < ${q}u) { return ${binding}[(row * ${q}u + k) / 4u]; }
  return vec4f(0.0);
}`;
  }
  return `fn ${name}(row: u32, k: u32) -> vec4f {
  var v = vec4f(0.0);
  if (${rowOk}) {
    let b = row * ${q}u + k;
    ${range(4).map((e) => `if (k + ${e}u < ${q}u) { v.${XYZW[e]} = ${binding}[b + ${e}u]; }`).join("\n    ")}
  }
  return v;
}`;
}

/**
 * WGSL that stores thread-owned vec4 `v` at `M[row, col..col+3]` of a `[rows, q]` matrix with the given
 * element offset (in floats; a multiple of 4 in the vec4 layout), skipping what lies past q.
 *
 * @example
 * ```ts
 * const line = rowStore("OP", "base", "row", "c", "o_0_0", 200); // OP[(base + row * 200 + c) / 4] = o_0_0
 * ```
 */
export function rowStore(
  binding: string,
  off: string,
  row: string,
  col: string,
  v: string,
  q: number,
): string {
  if (vectorRows(q)) {
    return `if (${col} < ${q}u) { ${binding}[(${off} + ${row} * ${q}u + ${col}) / 4u] = ${v}; }`;
  }
  return range(4).map((e) =>
    `if (${col} + ${e}u < ${q}u) { ${binding}[${off} + ${row} * ${q}u + ${col} + ${e}u] = ${v}.${XYZW[e]}; }`
  ).join(" ");
}

/** An operand of a product phase: rows `base + r` of a matrix read through a {@link rowLoader}. */
export interface Operand {
  /** Loader function name. */
  fn: string;
  /** WGSL expression of the tile's first row. */
  base: string;
}

/** Shape of a {@link productPhase}. */
export interface ProductSpec {
  /** Latent width (the reduction length). */
  q: number;
  /** q-chunk staged per step (multiple of 4). */
  bk: number;
  /** N rows per tile (a multiple of 64; every kernel uses 64). */
  bc: number;
  /** Operands with 64 rows (thread rows `4 ty + i`). */
  m: Operand[];
  /** Operands with `bc` rows (thread columns `64 h + 4 tx + e`). */
  n: Operand[];
  /** Products: M operand index, N operand index, accumulator prefix (`${acc}_${i}_${h}`). */
  products: [number, number, string][];
  /** vec4 offset of the staging area in `sm`. */
  at: number;
  /** Unroll the loop over a chunk's k (GPU tuning); a loop keeps the shader small for lavapipe's compiler. */
  unroll: boolean;
}

/**
 * vec4 words of workgroup memory that a product phase stages (two buffers).
 *
 * @example
 * ```ts
 * productStageWords({ bk: 32, bc: 64, mCount: 1, nCount: 1 }); // 2048 (32 KiB)
 * ```
 */
export function productStageWords(s: { bk: number; bc: number; mCount: number; nCount: number }): number {
  return 2 * s.bk * (16 * s.mCount + (s.bc / 4) * s.nCount);
}

/** Register prefetch of one staged chunk: per operand, per unit, a vec4. */
function stagedUnits(rows: number, bk: number): { units: number; perThread: number } {
  const units = (rows * bk) / 4;
  return { units, perThread: Math.ceil(units / 256) };
}

/**
 * The product phase of one tile: declares and zeroes the accumulators, stages every operand chunk by chunk
 * and accumulates. Ends after the last chunk's arithmetic, without a barrier: the caller must synchronise
 * before anything overwrites the staging area.
 *
 * @example
 * ```ts
 * const code = productPhase({
 *   q: 256, bk: 32, bc: 64, at: 0,
 *   m: [{ fn: "ld_x", base: "r0" }], n: [{ fn: "ld_a", base: "j0" }], products: [[0, 0, "s"]], unroll: true,
 * });
 * ```
 */
export function productPhase(s: ProductSpec): string {
  const { q, bk, bc } = s;
  const nkc = Math.ceil(q / bk), kq = bk / 4, H = bc / 64;
  const ops = [
    ...s.m.map((o, i) => ({ ...o, rows: 64, key: `m${i}` })),
    ...s.n.map((o, i) => ({ ...o, rows: bc, key: `n${i}` })),
  ];
  // Stage layout per buffer: each operand as [bk][rows / 4] vec4 (k-major, four rows per vec4).
  const offs: number[] = [];
  let size = 0;
  for (const o of ops) {
    offs.push(size);
    size += bk * (o.rows / 4);
  }
  const decl: string[] = [];
  for (const [, , acc] of s.products) {
    for (const i of range(4)) for (const h of range(H)) decl.push(`var ${acc}_${i}_${h} = vec4f(0.0);`);
  }
  const load = (kc: string) =>
    ops.flatMap((o) => {
      const { units, perThread } = stagedUnits(o.rows, bk);
      return range(perThread).map((u) => {
        const e = `(lid + ${256 * u}u)`;
        const body =
          `pf_${o.key}_${u} = ${o.fn}(${o.base} + ${e} / ${kq}u, ${kc} * ${bk}u + (${e} % ${kq}u) * 4u);`;
        return units % 256 === 0 || (u + 1) * 256 <= units ? body : `if (${e} < ${units}u) { ${body} }`;
      });
    });
  const store = (buf: string) =>
    ops.flatMap((o, oi) => {
      const { units, perThread } = stagedUnits(o.rows, bk);
      return range(perThread).map((u) => {
        const e = `(lid + ${256 * u}u)`;
        const r4 = o.rows / 4;
        const lines = range(4).map((c) =>
          `sm[${buf} + ${
            offs[oi]
          }u + ((${e} % ${kq}u) * 4u + ${c}u) * ${r4}u + (${e} / ${kq}u) / 4u][(${e} / ${kq}u) % 4u] = pf_${o.key}_${u}.${
            XYZW[c]
          };`
        ).join(" ");
        return units % 256 === 0 || (u + 1) * 256 <= units
          ? `{ ${lines} }`
          : `if (${e} < ${units}u) { ${lines} }`;
      });
    });
  const compute = (buf: string) => {
    const out: string[] = [];
    const usedM = new Set(s.products.map((p) => p[0])), usedN = new Set(s.products.map((p) => p[1]));
    for (const kk of s.unroll ? range(bk).map((k) => `${k}u`) : ["kk"]) {
      const parts: string[] = [];
      for (const mi of usedM) parts.push(`let mv${mi} = sm[${buf} + ${offs[mi]}u + ${kk} * 16u + ty];`);
      for (const ni of usedN) {
        const off = offs[s.m.length + ni];
        for (const h of range(H)) {
          parts.push(`let nv${ni}_${h} = sm[${buf} + ${off + 16 * h}u + ${kk} * ${bc / 4}u + tx];`);
        }
      }
      for (const [mi, ni, acc] of s.products) {
        for (const i of range(4)) {
          for (const h of range(H)) {
            parts.push(`${acc}_${i}_${h} = fma(vec4f(mv${mi}.${XYZW[i]}), nv${ni}_${h}, ${acc}_${i}_${h});`);
          }
        }
      }
      out.push(`{ ${parts.join(" ")} }`);
    }
    return s.unroll ? out.join("\n    ") : `for (var kk = 0u; kk < ${bk}u; kk++) ${out[0]}`;
  };
  const pf = ops.flatMap((o) =>
    range(stagedUnits(o.rows, bk).perThread).map((u) => `var pf_${o.key}_${u} = vec4f(0.0);`)
  );
  const stage = size;
  const last = (nkc - 1) % 2;
  return `${join(decl)}
  ${join(pf)}
  ${join(load("0u"))}
  ${join(store(`${s.at}u`))}
  workgroupBarrier();
  ${
    nkc > 1
      ? `for (var kc = 0u; kc < ${nkc - 1}u; kc++) {
    ${join(load("(kc + 1u)"), "    ")}
    let cur = ${s.at}u + (kc % 2u) * ${stage}u;
    ${compute("cur")}
    let nxt = ${s.at}u + ((kc + 1u) % 2u) * ${stage}u;
    ${join(store("nxt"), "    ")}
    workgroupBarrier();
  }`
      : ""
  }
  {
    ${compute(`${s.at + last * stage}u`)}
  }`;
}

/** Shape of an {@link accumulatePhase}. */
export interface AccumulateSpec {
  /** Padded latent width (multiple of 64). */
  qp: number;
  /** Indices j per tile (the coefficient array's width). */
  bc: number;
  /** Rows of R staged per step (multiple of 4). */
  jc: number;
  /** vec4 offset of the coefficients `[64][bc / 4]` (vec4 over four consecutive j) in `sm`. */
  coef: number;
  /** Rows `R[base + j, :]`. */
  operand: Operand;
  /** Accumulator prefix (`${acc}_${i}_${g}`, declared by the caller). */
  acc: string;
  /** vec4 offset of the staging area in `sm`. */
  at: number;
  /** Register-prefetch prefix (distinct per phase in one kernel). */
  tag: string;
  /** Unroll the loop over a chunk's rows (see {@link ProductSpec.unroll}). */
  unroll: boolean;
}

/**
 * vec4 words of workgroup memory that an accumulation phase stages (two buffers).
 *
 * @example
 * ```ts
 * accumulateStageWords({ jc: 8, qp: 256 }); // 1024 (16 KiB)
 * ```
 */
export function accumulateStageWords(s: { jc: number; qp: number }): number {
  return 2 * s.jc * (s.qp / 4);
}

/**
 * Declarations of an accumulation phase's accumulators, zeroed.
 *
 * @example
 * ```ts
 * accumulatorDecl("o", 256); // var o_0_0 = vec4f(0.0); ... var o_3_3 = vec4f(0.0);
 * ```
 */
export function accumulatorDecl(acc: string, qp: number): string {
  return join(range(4).flatMap((i) => range(qp / 64).map((g) => `var ${acc}_${i}_${g} = vec4f(0.0);`)));
}

/**
 * The accumulation phase of one tile, in two parts so that the first chunk's global loads can be issued
 * early: `prefetch` loads chunk 0 into registers; `run` stores it, synchronises (which also publishes
 * the coefficients the caller wrote) and accumulates over all chunks. Ends without a barrier.
 *
 * @example
 * ```ts
 * const pa = accumulatePhase({
 *   qp: 256, bc: 64, jc: 8, coef: 0, at: 1024, acc: "o", tag: "a", operand: { fn: "ld_a", base: "j0" },
 *   unroll: true,
 * });
 * const code = `${pa.prefetch} /* write coefficients *\/ ${pa.run}`;
 * ```
 */
export function accumulatePhase(s: AccumulateSpec): { decl: string; prefetch: string; run: string } {
  const { qp, bc, jc } = s;
  const qp4 = qp / 4, G = qp / 64, bc4 = bc / 4, njc = bc / jc;
  const units = jc * qp4, perThread = Math.ceil(units / 256);
  const stage = jc * qp4;
  const reg = (u: number) => `pa${s.tag}_${u}`;
  const guarded = (u: number, body: string) =>
    units % 256 === 0 || (u + 1) * 256 <= units ? body : `if (lid + ${256 * u}u < ${units}u) { ${body} }`;
  const load = (chunk: string) =>
    range(perThread).map((u) => {
      const e = `(lid + ${256 * u}u)`;
      return guarded(
        u,
        `${
          reg(u)
        } = ${s.operand.fn}(${s.operand.base} + ${chunk} * ${jc}u + ${e} / ${qp4}u, (${e} % ${qp4}u) * 4u);`,
      );
    });
  const store = (buf: string) =>
    range(perThread).map((u) => guarded(u, `sm[${buf} + lid + ${256 * u}u] = ${reg(u)};`));
  const compute = (buf: string, chunk: string) => {
    const out: string[] = [];
    for (const jg of s.unroll ? range(jc / 4).map((j) => `${j}u`) : ["jg"]) {
      const parts = range(4).map((i) =>
        `let cv${i} = sm[${s.coef}u + (ty * 4u + ${i}u) * ${bc4}u + ${chunk} * ${jc / 4}u + ${jg}];`
      );
      for (const uu of range(4)) {
        for (const g of range(G)) {
          parts.push(`let rv${uu}_${g} = sm[${buf} + (${jg} * 4u + ${uu}u) * ${qp4}u + ${16 * g}u + tx];`);
        }
        for (const i of range(4)) {
          for (const g of range(G)) {
            parts.push(
              `${s.acc}_${i}_${g} = fma(vec4f(cv${i}.${XYZW[uu]}), rv${uu}_${g}, ${s.acc}_${i}_${g});`,
            );
          }
        }
      }
      out.push(`{ ${parts.join(" ")} }`);
    }
    return s.unroll ? out.join("\n    ") : `for (var jg = 0u; jg < ${jc / 4}u; jg++) ${out[0]}`;
  };
  const last = (njc - 1) % 2;
  return {
    decl: join(range(perThread).map((u) => `var ${reg(u)} = vec4f(0.0);`)),
    prefetch: join(load("0u")),
    run: `${join(store(`${s.at}u`))}
  workgroupBarrier();
  ${
      njc > 1
        ? `for (var jc = 0u; jc < ${njc - 1}u; jc++) {
    ${join(load("(jc + 1u)"), "    ")}
    let cur = ${s.at}u + (jc % 2u) * ${stage}u;
    ${compute("cur", "jc")}
    let nxt = ${s.at}u + ((jc + 1u) % 2u) * ${stage}u;
    ${join(store("nxt"), "    ")}
    workgroupBarrier();
  }`
        : ""
    }
  {
    ${compute(`${s.at + last * stage}u`, `${njc - 1}u`)}
  }`,
  };
}

/**
 * Overrides of a tiled latent kernel's plan for benchmarks and tests (`undefined` = automatic): the k-slab
 * depth `bk`, the anchor chunk `jc`, forced anchor `splits`, the workgroups a split aims for, unrolled loops.
 *
 * @example
 * ```ts
 * import type { KernelTuning } from "./tiles.ts";
 * const t: KernelTuning = { bk: 16, jc: 8 };
 * ```
 */
export interface KernelTuning {
  bk?: number;
  jc?: number;
  splits?: number;
  targetGroups?: number;
  unroll?: boolean;
}

/**
 * Anchor splits (FlashDecoding style) so that about `target` workgroups run: `blocks` row blocks share
 * the `tiles` tiles of the other side; never an empty split.
 *
 * @example
 * ```ts
 * splitCount(32, 32, 256); // 8: 32 blocks x 8 splits of 4 tiles
 * ```
 */
export function splitCount(blocks: number, tiles: number, target: number, forced?: number): number {
  let splits = forced ?? Math.ceil(target / blocks);
  splits = Math.max(1, Math.min(splits, tiles, 16));
  return Math.ceil(tiles / Math.ceil(tiles / splits));
}
