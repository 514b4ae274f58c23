/**
 * The tile kernels of the f32 matmul (see `matmul_kernels.ts` for why the code looks the way it does): a
 * `64 rm` x `64 rn` output tile per workgroup of 256 threads (16 x 16), each thread holding `4 rm` x `4 rn`
 * outputs in separate named vec4 accumulators, operands staged through double-buffered k-major shared tiles
 * of depth `bk`, and an optional grouped ("swizzled") order of the tiles for L2 reuse.
 *
 * @module
 */
import { bindings, kernel } from "../kernel.ts";
import { gpu } from "../device.ts";
import { broadcastIndex, linearGrid } from "./grid.ts";
import type { MatmulLaunch, MatmulShape } from "./matmul_kernels.ts";

/**
 * The shape of a tile kernel: 256 threads as a 16 x 16 grid, thread (tx, ty) owning rows `ty*4 + 64g`
 * (g < rm) and columns `tx*4 + 64h` (h < rn) of a `64 rm` x `64 rn` output tile; `bk` is the depth of one
 * k-tile. `rm` and `rn` are 1..8, `bk` a multiple of 4 up to 64, and the double-buffered shared tiles
 * ({@link tileSharedBytes}) must fit the device's workgroup storage (48 KiB on NVIDIA).
 *
 * @example
 * ```ts
 * import type { TileConfig } from "./matmul_tile.ts";
 * const wide: TileConfig = { rm: 2, rn: 4, bk: 8 }; // 128 x 256 tile, 8 x 16 outputs per thread
 * ```
 */
export interface TileConfig {
  /** Row groups of 4 per thread (tile rows = 64 * rm). */
  rm: number;
  /** Column groups of 4 per thread (tile columns = 64 * rn). */
  rn: number;
  /** Depth of one k-tile. */
  bk: number;
}

/** Threads per tile workgroup: a 16 x 16 grid; thread (tx, ty) owns rows ty*4 + 64g, columns tx*4 + 64h. */
const THREADS = 256;
const XYZW = ["x", "y", "z", "w"];

/**
 * Bytes of workgroup (shared) memory a tile kernel of this shape declares: two stages of `bk` k-rows of
 * both operand tiles.
 *
 * @example
 * ```ts
 * import { tileSharedBytes } from "./matmul_tile.ts";
 * console.log(tileSharedBytes({ rm: 2, rn: 2, bk: 8 })); // 16384
 * ```
 */
export function tileSharedBytes(cfg: TileConfig): number {
  return 2 * cfg.bk * 16 * (cfg.rm + cfg.rn) * 16;
}

/** Throws unless `cfg` is a shape the generator supports. */
function checkTile(cfg: TileConfig): void {
  const { rm, rn, bk } = cfg;
  const small = (v: number, hi: number) => Number.isInteger(v) && v >= 1 && v <= hi;
  if (!small(rm, 8) || !small(rn, 8) || !small(bk, 64) || bk % 4 !== 0) {
    throw new Error(
      `matmul: unsupported tile ${JSON.stringify(cfg)} (rm, rn in 1..8; bk a multiple of 4, <= 64)`,
    );
  }
}

/**
 * Product of a shape's dims (1 for a scalar batch).
 *
 * @example
 * ```ts
 * import { prod } from "./matmul_tile.ts";
 * console.log(prod([2, 3]), prod([])); // 6 1
 * ```
 */
export function prod(s: readonly number[]): number {
  return s.reduce((a, b) => a * b, 1);
}

/**
 * WGSL offsets (in floats) of batch `b`'s matrices of A and B.
 *
 * @example
 * ```ts
 * import { batchOffsets } from "./matmul_tile.ts";
 * const s = { M: 4, N: 4, K: 4, transA: false, transB: false, aBatch: [2], bBatch: [], outBatch: [2],
 *   bias: false };
 * console.log(batchOffsets(s)); // B shared by every batch: bOff "0u"
 * ```
 */
export function batchOffsets(s: MatmulShape): { aOff: string; bOff: string } {
  const off = (inBatch: readonly number[], size: number) => {
    if (prod(inBatch) === 1) return "0u";
    return `${broadcastIndex("b", s.outBatch, inBatch)} * ${size}u`;
  };
  return { aOff: off(s.aBatch, s.M * s.K), bOff: off(s.bBatch, s.K * s.N) };
}

/** One operand of the tile kernel, described by what its loads need. */
interface Operand {
  /** Binding name ("A" or "B"); its shared tile is `${name}s`, its WGSL locals start with the lower case. */
  name: "A" | "B";
  /** Tile extent along M (for A) or N (for B). */
  rows: number;
  /** Full extent along M or N. */
  extent: number;
  /** Stored with k contiguous (A untransposed, B transposed). */
  kContig: boolean;
  /** The contiguous dimension is a multiple of 4: vec4 global loads. */
  vec: boolean;
  /** Whether rows past `extent` exist in the last tile. */
  rowCheck: boolean;
  /** WGSL first row of this workgroup's tile (`m0` / `n0`). */
  r0: string;
  /** WGSL batch offset in floats. */
  off: string;
}

/** An operand's set-up, load (global -> registers, k-tile `k0`) and store (registers -> shared) code. */
function operandCode(o: Operand, K: number, bk: number, kCheck: boolean) {
  const p = o.name.toLowerCase();
  const r4 = o.rows / 4;
  // Elements (vec4 or scalar) of one k-tile; the last of the ceil(elems / THREADS) rounds may be partial.
  const elems = o.vec ? (o.rows * bk) / 4 : o.rows * bk;
  const setup: string[] = [], load: string[] = [], store: string[] = [];
  const step = o.kContig ? (o.vec ? "(k0 / 4u)" : "k0") : `k0 * ${o.vec ? o.extent / 4 : o.extent}u`;
  for (let l = 0; l * THREADS < elems; l++) {
    const v = `(tid + ${l * THREADS}u)`;
    const partial = (l + 1) * THREADS > elems;
    // Thread -> (row r, k offset kk) inside the tile, consecutive threads walking the contiguous dimension.
    let r: string, kk: string;
    if (o.kContig) {
      const per = o.vec ? bk / 4 : bk;
      r = `${v} / ${per}u`;
      kk = o.vec ? `(${v} % ${per}u) * 4u` : `${v} % ${per}u`;
    } else {
      const per = o.vec ? r4 : o.rows;
      kk = `${v} / ${per}u`;
      r = o.vec ? `(${v} % ${per}u) * 4u` : `${v} % ${per}u`;
    }
    const [rr, kv, g, ok, reg, sIdx, comp, live] = ["r", "k", "g", "ok", "p", "s", "c", "in"].map((x) =>
      `${p}${x}${l}`
    );
    setup.push(`let ${rr} = ${r};`, `let ${kv} = ${kk};`);
    if (partial) setup.push(`let ${live} = tid < ${elems - l * THREADS}u;`);
    const flat = o.kContig
      ? `${o.off} + (${o.r0} + ${rr}) * ${K}u + ${kv}`
      : `${o.off} + ${kv} * ${o.extent}u + ${o.r0} + ${rr}`;
    setup.push(`let ${g} = ${o.vec ? `(${flat}) / 4u` : flat};`);
    if (o.rowCheck) setup.push(`let ${ok} = ${o.r0} + ${rr} < ${o.extent}u;`);
    setup.push(`let ${sIdx} = ${kv} * ${r4}u + ${rr} / 4u;`, `let ${comp} = ${rr} % 4u;`);
    setup.push(`var ${reg}: ${o.vec ? "vec4f" : "f32"};`);
    const conds = [
      ...(partial ? [live] : []),
      ...(o.rowCheck ? [ok] : []),
      ...(kCheck ? [`k0 + ${kv} < ${K}u`] : []),
    ];
    const read = `${reg} = ${o.name}[${g} + ${step}];`;
    load.push(
      conds.length
        ? `if (${conds.join(" && ")}) { ${read} } else { ${reg} = ${o.vec ? "vec4f()" : "0.0"}; }`
        : read,
    );
    const sh = `${o.name}s`;
    const st: string[] = [];
    if (o.vec && o.kContig) {
      // Four consecutive k of one row: scatter into four k-rows of the k-major tile.
      for (let j = 0; j < 4; j++) st.push(`${sh}[SO + ${sIdx} + ${j * r4}u][${comp}] = ${reg}.${XYZW[j]};`);
    } else if (o.vec) st.push(`${sh}[SO + ${sIdx}] = ${reg};`);
    else st.push(`${sh}[SO + ${sIdx}][${comp}] = ${reg};`);
    store.push(partial ? `if (${live}) { ${st.join(" ")} }` : st.join("\n    "));
  }
  return {
    setup: setup.join("\n  "),
    load: load.join("\n    "),
    store: (so: string) => store.map((x) => x.replaceAll("SO", so)).join("\n    "),
  };
}

/**
 * Generates the tile kernel of shape `cfg` for a problem split `splits` ways along K. `swizzle` > 1 walks
 * the output tiles in groups of `swizzle` tile-rows, column by column inside a group (consecutive
 * workgroups then share B column panels as well as A row panels in L2); 0 or 1 walks them row by row.
 *
 * @example
 * ```ts
 * import { tileKernel } from "./matmul_tile.ts";
 * const s = { M: 300, N: 300, K: 64, transA: false, transB: false, aBatch: [], bBatch: [], outBatch: [],
 *   bias: false };
 * const launch = tileKernel(s, { rm: 2, rn: 4, bk: 8 }, "tile128", 1, 4);
 * console.log(launch.workgroups); // [6, 1]: 3 x 2 tiles of 128 x 256
 * ```
 */
export function tileKernel(
  s: MatmulShape,
  cfg: TileConfig,
  name: string,
  splits: number,
  swizzle = 0,
): MatmulLaunch {
  checkTile(cfg);
  const shared = tileSharedBytes(cfg), limit = gpu().device.limits.maxComputeWorkgroupStorageSize;
  if (shared > limit) {
    throw new Error(
      `matmul: tile ${
        JSON.stringify(cfg)
      } needs ${shared} bytes of workgroup storage; the device allows ${limit}`,
    );
  }
  const { M, N, K } = s;
  const { rm, rn, bk } = cfg;
  const tm = 64 * rm, tn = 64 * rn, tm4 = tm / 4, tn4 = tn / 4;
  const batch = prod(s.outBatch);
  const tilesM = Math.ceil(M / tm), tilesN = Math.ceil(N / tn);
  // Tile order inside one (split, batch): row-major, or column-major inside groups of `group` tile-rows.
  const group = Math.min(Math.max(1, Math.floor(swizzle)), tilesM);
  const order = group > 1
    ? `let gi = wt / ${group * tilesN}u;
  let gr = wt % ${group * tilesN}u;
  let grows = min(${tilesM}u - gi * ${group}u, ${group}u);
  let tm = gi * ${group}u + gr % grows;
  let tn = gr / grows;`
    : `let tm = wt / ${tilesN}u;
  let tn = wt % ${tilesN}u;`;
  const chunk = Math.ceil(Math.ceil(K / splits) / bk) * bk;
  const nt = chunk / bk;
  const kCheck = splits * chunk !== K;
  const total = tilesM * tilesN * batch * splits;
  const grid = linearGrid(total, 1);
  const [gx, gy] = grid.workgroups;
  const { aOff, bOff } = batchOffsets(s);
  // A's tile runs along M (k contiguous unless transposed), B's along N (k contiguous when transposed).
  const operand = (name: "A" | "B", rows: number, extent: number, kContig: boolean, off: string) =>
    operandCode(
      {
        name,
        rows,
        extent,
        kContig,
        vec: (kContig ? K : extent) % 4 === 0,
        rowCheck: extent % rows !== 0,
        r0: name === "A" ? "m0" : "n0",
        off,
      },
      K,
      bk,
      kCheck,
    );
  const A = operand("A", tm, M, !s.transA, aOff);
  const B = operand("B", tn, N, s.transB, bOff);
  const vecOut = N % 4 === 0;
  const stageA = bk * tm4, stageB = bk * tn4;
  const acc = (g: number, i: number, h: number) => `c${g}${i}${h}`;

  // One k-tile of FMAs on the shared stage at offsets soA / soB, fully unrolled.
  const compute = (soA: string, soB: string) => {
    const lines = [`let sa = ${soA} + ty;`, `let sb = ${soB} + tx;`];
    for (let kk = 0; kk < bk; kk++) {
      const parts: string[] = [];
      for (let g = 0; g < rm; g++) parts.push(`let a${g} = As[sa + ${kk * tm4 + 16 * g}u];`);
      for (let h = 0; h < rn; h++) parts.push(`let b${h} = Bs[sb + ${kk * tn4 + 16 * h}u];`);
      for (let g = 0; g < rm; g++) {
        for (let i = 0; i < 4; i++) {
          for (let h = 0; h < rn; h++) {
            const c = acc(g, i, h);
            parts.push(`${c} = fma(vec4f(a${g}.${XYZW[i]}), b${h}, ${c});`);
          }
        }
      }
      lines.push(`{\n      ${parts.join("\n      ")}\n    }`);
    }
    return lines.join("\n    ");
  };

  const decl: [string, "read" | "read_write", string][] = [
    ["A", "read", (s.transA ? M : K) % 4 === 0 ? "vec4f" : "f32"],
    ["B", "read", (s.transB ? K : N) % 4 === 0 ? "vec4f" : "f32"],
  ];
  if (s.bias) decl.push(["Bias", "read", vecOut ? "vec4f" : "f32"]);
  decl.push(["C", "read_write", vecOut ? "vec4f" : "f32"]);

  const accDecl: string[] = [];
  for (let g = 0; g < rm; g++) {
    for (let i = 0; i < 4; i++) for (let h = 0; h < rn; h++) accDecl.push(`var ${acc(g, i, h)} = vec4f();`);
  }

  // Epilogue: bias (first split only), bounds checks only where the tile can overhang.
  const rowCheck = M % tm !== 0, colCheck = N % tn !== 0;
  const epi: string[] = [`let cb = ${splits > 1 ? `(s * ${batch}u + b)` : "b"} * ${M * N}u;`];
  for (let h = 0; h < rn; h++) {
    epi.push(`let col${h} = n0 + ${64 * h}u + tx * 4u;`);
    if (s.bias && vecOut) {
      const conds = [...(colCheck ? [`col${h} < ${N}u`] : []), ...(splits > 1 ? ["s == 0u"] : [])];
      epi.push(`var bv${h} = vec4f();`);
      epi.push(
        conds.length
          ? `if (${conds.join(" && ")}) { bv${h} = Bias[col${h} / 4u]; }`
          : `bv${h} = Bias[col${h} / 4u];`,
      );
    }
  }
  const biasScalar = (h: number, j: number) => {
    if (!s.bias) return "";
    return splits > 1 ? ` + select(0.0, Bias[col${h} + ${j}u], s == 0u)` : ` + Bias[col${h} + ${j}u]`;
  };
  for (let g = 0; g < rm; g++) {
    for (let i = 0; i < 4; i++) {
      const m = `row${g}${i}`;
      epi.push(`let ${m} = m0 + ${64 * g + i}u + ty * 4u;`);
      for (let h = 0; h < rn; h++) {
        const c = acc(g, i, h);
        if (vecOut) {
          const conds = [...(rowCheck ? [`${m} < ${M}u`] : []), ...(colCheck ? [`col${h} < ${N}u`] : [])];
          const st = `C[(cb + ${m} * ${N}u + col${h}) / 4u] = ${c}${s.bias ? ` + bv${h}` : ""};`;
          epi.push(conds.length ? `if (${conds.join(" && ")}) { ${st} }` : st);
        } else {
          for (let j = 0; j < 4; j++) {
            const conds = [...(rowCheck ? [`${m} < ${M}u`] : []), `col${h} + ${j}u < ${N}u`];
            epi.push(
              `if (${conds.join(" && ")}) { C[cb + ${m} * ${N}u + col${h} + ${j}u] = ${c}.${XYZW[j]}${
                biasScalar(h, j)
              }; }`,
            );
          }
        }
      }
    }
  }

  const loop = nt > 1
    ? `for (var t = 0u; t < ${nt - 1}u; t++) {
    let k0 = kb + (t + 1u) * ${bk}u;
    ${A.load}
    ${B.load}
    let cur = t & 1u;
    ${compute(`cur * ${stageA}u`, `cur * ${stageB}u`)}
    let nxt = 1u - cur;
    ${A.store(`nxt * ${stageA}u`)}
    ${B.store(`nxt * ${stageB}u`)}
    workgroupBarrier();
  }`
    : "";
  const last = (nt - 1) & 1;
  const wgsl = `${bindings(decl)}
var<workgroup> As: array<vec4f, ${2 * stageA}>;
var<workgroup> Bs: array<vec4f, ${2 * stageB}>;

@compute @workgroup_size(${THREADS})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) tid: u32) {
  let w = wid.x + wid.y * ${gx}u;
  ${gx * gy > total ? `if (w >= ${total}u) { return; }` : ""}
  let wt = w % ${tilesM * tilesN}u;
  let w2 = w / ${tilesM * tilesN}u;
  ${order}
  ${
    splits > 1
      ? `let s = w2 % ${splits}u;\n  let b = w2 / ${splits}u;\n  let kb = s * ${chunk}u;`
      : "let b = w2;\n  let kb = 0u;"
  }
  let tx = tid % 16u;
  let ty = tid / 16u;
  let m0 = tm * ${tm}u;
  let n0 = tn * ${tn}u;
  ${A.setup}
  ${B.setup}
  ${accDecl.join("\n  ")}
  {
    let k0 = kb;
    ${A.load}
    ${B.load}
    ${A.store("0u")}
    ${B.store("0u")}
  }
  workgroupBarrier();
  ${loop}
  {
    ${compute(`${last * stageA}u`, `${last * stageB}u`)}
  }
  ${epi.join("\n  ")}
}`;
  const k = kernel({ name: `matmul_${name}`, wgsl, storage: decl.map((d) => d[1]) });
  return { kernel: k, workgroups: grid.workgroups, splits };
}
