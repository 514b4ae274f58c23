/**
 * WGSL generators for the f32 matmul `C[b] = op(A)[b] @ op(B)[b]` and the choice between them.
 *
 * Three kernels, every shape constant (M, N, K, batch strides, transposes) baked into the source:
 * - `tile128`: a 128x128 output tile per workgroup of 256 threads, 8x8 outputs per thread held in 16 named
 *   vec4 accumulators, BK = 8. The path for large problems (the 4096^3 target).
 * - `tile64`: a 64x64 tile, 4x4 outputs per thread (4 vec4 accumulators), BK = 16, so that mid-size problems
 *   (1000^3, layer matmuls) still launch enough workgroups to fill the GPU. With split-K it also serves
 *   small outputs with a long reduction (weight gradients): each split writes a partial product and the
 *   caller sums them.
 * - `simple`: one thread per output and a loop over k, for tiny problems where set-up costs dominate.
 *
 * Why the code looks the way it does: on Deno's wgpu -> SPIR-V -> NVIDIA Vulkan a private array indexed by a
 * loop variable lands in local memory (about 10x slower), so the accumulators are separate variables and the
 * generator unrolls every loop over them and over the k-tile. Operands are staged through shared memory in
 * k-major layout so a thread reads four consecutive rows (or columns) as one vec4; global loads are vec4
 * whenever the operand's contiguous dimension is a multiple of 4, scalar otherwise. The shared tiles are
 * double-buffered with a register prefetch of the next k-tile, so each k-step needs one barrier.
 *
 * @module
 */
import { bindings, type Kernel, kernel } from "../kernel.ts";
import { broadcastIndex, linearGrid, linearIndex } from "./grid.ts";

/**
 * Which kernel computes a matmul.
 *
 * @example
 * ```ts
 * import { matmul, type MatmulPath, tensor } from "@lzn/tensor";
 * const a = tensor(new Float32Array(64 * 64).fill(1), [64, 64]);
 * const paths: MatmulPath[] = ["simple", "tile64", "tile128"];
 * const results = paths.map((path) => matmul(a, a, { path })); // same values, different kernels
 * ```
 */
export type MatmulPath = "simple" | "tile64" | "tile128";

/** Everything a matmul kernel bakes in: the problem after batch broadcasting. */
export interface MatmulShape {
  /** Rows of op(A) and C. */
  M: number;
  /** Columns of op(B) and C. */
  N: number;
  /** The reduced dimension. */
  K: number;
  /** A is stored [K, M] and read transposed. */
  transA: boolean;
  /** B is stored [N, K] and read transposed. */
  transB: boolean;
  /** Leading (batch) dims of A, B and of the (broadcast) output. */
  aBatch: readonly number[];
  bBatch: readonly number[];
  outBatch: readonly number[];
  /** A bias of length N is added to every output row. */
  bias: boolean;
}

/** The chosen kernel and K split. */
export interface MatmulPlan {
  /** Kernel family. */
  path: MatmulPath;
  /** Number of K chunks (1 = no split; only with a tile path). */
  splitK: number;
}

/** A ready launch: the kernel, its grid, and the split-K partial buffer size (0 without split). */
export interface MatmulLaunch {
  /** The compiled kernel (bindings: A, B, [bias], C or partials). */
  kernel: Kernel;
  /** Workgroup counts. */
  workgroups: [number, number];
  /** Splits written to the partial buffer (laid out [splits, ...batch, M, N]); 1 = C written directly. */
  splits: number;
}

interface TileConfig {
  /** Row groups of 4 per thread (tile rows = 64 * rm). */
  rm: number;
  /** Column groups of 4 per thread (tile columns = 64 * rn). */
  rn: number;
  /** Depth of one k-tile. */
  bk: number;
}

const TILES: Record<"tile64" | "tile128", TileConfig> = {
  tile64: { rm: 1, rn: 1, bk: 16 },
  tile128: { rm: 2, rn: 2, bk: 8 },
};

/** Threads per tile workgroup: a 16 x 16 grid; thread (tx, ty) owns rows ty*4 + 64g, columns tx*4 + 64h. */
const THREADS = 256;
const SIMPLE_WG = 64;
const XYZW = ["x", "y", "z", "w"];

function prod(s: readonly number[]): number {
  return s.reduce((a, b) => a * b, 1);
}

/**
 * Picks the kernel for a problem: tiny problems (<= 64^3 multiply-adds) -> `simple`; at least one wave of
 * 128x128 tiles on a large GPU (>= 128 tiles) -> `tile128`; otherwise `tile64`, split along K when the output
 * alone cannot fill the GPU (< 64 tiles and K >= 512).
 * `forced` overrides the path and/or the split (tests and benchmarks).
 *
 * @example
 * ```ts
 * const s = { M: 4096, N: 4096, K: 4096, transA: false, transB: false, aBatch: [], bBatch: [], outBatch: [],
 *   bias: false };
 * console.log(planMatmul(s)); // { path: "tile128", splitK: 1 }
 * ```
 */
export function planMatmul(s: MatmulShape, forced: { path?: MatmulPath; splitK?: number } = {}): MatmulPlan {
  const batch = prod(s.outBatch);
  const { M, N, K } = s;
  let path = forced.path;
  if (!path) {
    const tiles128 = batch * Math.ceil(M / 128) * Math.ceil(N / 128);
    if (K === 0 || batch * M * N * K <= 64 * 64 * 64) path = "simple";
    else if (tiles128 >= 128) path = "tile128";
    else path = "tile64";
  }
  if (K === 0) return { path: "simple", splitK: 1 };
  if (path === "simple") return { path, splitK: 1 };
  let splitK = Math.max(1, Math.floor(forced.splitK ?? 1));
  if (forced.splitK === undefined && forced.path === undefined && path === "tile64") {
    const tiles64 = batch * Math.ceil(M / 64) * Math.ceil(N / 64);
    // A few workgroups with a long K loop leave most of the GPU idle; split K so ~256 workgroups run.
    if (tiles64 < 64 && K >= 512) {
      splitK = Math.max(2, Math.min(Math.round(256 / tiles64), Math.floor(K / 256)));
    }
  }
  const bk = TILES[path].bk;
  const chunk = Math.ceil(Math.ceil(K / splitK) / bk) * bk;
  return { path, splitK: Math.ceil(K / chunk) };
}

const cache = new Map<string, MatmulLaunch>();

/**
 * The launch (kernel + grid) for a problem and plan, generated once per distinct shape and cached.
 *
 * @example
 * ```ts
 * const s = { M: 100, N: 100, K: 100, transA: false, transB: true, aBatch: [], bBatch: [], outBatch: [],
 *   bias: false };
 * const launch = matmulLaunch(s, planMatmul(s));
 * console.log(launch.kernel.spec.name, launch.workgroups);
 * ```
 */
export function matmulLaunch(s: MatmulShape, plan: MatmulPlan): MatmulLaunch {
  const key = [
    plan.path,
    plan.splitK,
    s.M,
    s.N,
    s.K,
    +s.transA,
    +s.transB,
    +s.bias,
    s.aBatch.join("x"),
    s.bBatch.join("x"),
    s.outBatch.join("x"),
  ].join("|");
  let hit = cache.get(key);
  if (!hit) {
    hit = plan.path === "simple" ? simpleKernel(s) : tileKernel(s, TILES[plan.path], plan.path, plan.splitK);
    cache.set(key, hit);
  }
  return hit;
}

/** WGSL offsets (in floats) of batch `b`'s matrices of A and B. */
function batchOffsets(s: MatmulShape): { aOff: string; bOff: string } {
  const off = (inBatch: readonly number[], size: number) => {
    if (prod(inBatch) === 1) return "0u";
    return `${broadcastIndex("b", s.outBatch, inBatch)} * ${size}u`;
  };
  return { aOff: off(s.aBatch, s.M * s.K), bOff: off(s.bBatch, s.K * s.N) };
}

function simpleKernel(s: MatmulShape): MatmulLaunch {
  const { M, N, K } = s;
  const total = prod(s.outBatch) * M * N;
  const grid = linearGrid(total, SIMPLE_WG);
  const { aOff, bOff } = batchOffsets(s);
  const decl: [string, "read" | "read_write", string][] = [["A", "read", "f32"], ["B", "read", "f32"]];
  if (s.bias) decl.push(["Bias", "read", "f32"]);
  decl.push(["C", "read_write", "f32"]);
  // op(A)[m, k] and op(B)[k, n] walked along k: start index and stride.
  const aStart = s.transA ? "m" : `m * ${K}u`, aStep = s.transA ? M : 1;
  const bStart = s.transB ? `n * ${K}u` : "n", bStep = s.transB ? 1 : N;
  const wgsl = `${bindings(decl)}
@compute @workgroup_size(${SIMPLE_WG})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = ${linearIndex(SIMPLE_WG)};
  if (i >= ${total}u) { return; }
  let n = i % ${N}u;
  let r = i / ${N}u;
  let m = r % ${M}u;
  let b = r / ${M}u;
  var ia = ${aOff} + ${aStart};
  var ib = ${bOff} + ${bStart};
  var acc = 0.0;
  for (var k = 0u; k < ${K}u; k++) {
    acc = fma(A[ia], B[ib], acc);
    ia += ${aStep}u;
    ib += ${bStep}u;
  }
  C[i] = acc${s.bias ? " + Bias[n]" : ""};
}`;
  const k = kernel({ name: "matmul_simple", wgsl, storage: decl.map((d) => d[1]) });
  return { kernel: k, workgroups: grid.workgroups, splits: 1 };
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
  const elems = o.vec ? (o.rows * bk) / 4 : o.rows * bk;
  if (elems % THREADS !== 0) {
    throw new Error(`matmul: tile ${o.rows}x${bk} does not split over ${THREADS} threads`);
  }
  const setup: string[] = [], load: string[] = [], store: string[] = [];
  const step = o.kContig ? (o.vec ? "(k0 / 4u)" : "k0") : `k0 * ${o.vec ? o.extent / 4 : o.extent}u`;
  for (let l = 0; l < elems / THREADS; l++) {
    const v = `(tid + ${l * THREADS}u)`;
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
    const [rr, kv, g, ok, reg, sIdx, comp] = ["r", "k", "g", "ok", "p", "s", "c"].map((x) => `${p}${x}${l}`);
    setup.push(`let ${rr} = ${r};`, `let ${kv} = ${kk};`);
    const flat = o.kContig
      ? `${o.off} + (${o.r0} + ${rr}) * ${K}u + ${kv}`
      : `${o.off} + ${kv} * ${o.extent}u + ${o.r0} + ${rr}`;
    setup.push(`let ${g} = ${o.vec ? `(${flat}) / 4u` : flat};`);
    if (o.rowCheck) setup.push(`let ${ok} = ${o.r0} + ${rr} < ${o.extent}u;`);
    setup.push(`let ${sIdx} = ${kv} * ${r4}u + ${rr} / 4u;`, `let ${comp} = ${rr} % 4u;`);
    setup.push(`var ${reg}: ${o.vec ? "vec4f" : "f32"};`);
    const conds = [...(o.rowCheck ? [ok] : []), ...(kCheck ? [`k0 + ${kv} < ${K}u`] : [])];
    const read = `${reg} = ${o.name}[${g} + ${step}];`;
    load.push(
      conds.length
        ? `if (${conds.join(" && ")}) { ${read} } else { ${reg} = ${o.vec ? "vec4f()" : "0.0"}; }`
        : read,
    );
    const sh = `${o.name}s`;
    if (o.vec && o.kContig) {
      // Four consecutive k of one row: scatter into four k-rows of the k-major tile.
      for (let j = 0; j < 4; j++) {
        store.push(`${sh}[SO + ${sIdx} + ${j * r4}u][${comp}] = ${reg}.${XYZW[j]};`);
      }
    } else if (o.vec) store.push(`${sh}[SO + ${sIdx}] = ${reg};`);
    else store.push(`${sh}[SO + ${sIdx}][${comp}] = ${reg};`);
  }
  return {
    setup: setup.join("\n  "),
    load: load.join("\n    "),
    store: (so: string) => store.map((x) => x.replace("SO", so)).join("\n    "),
  };
}

function tileKernel(s: MatmulShape, cfg: TileConfig, name: string, splits: number): MatmulLaunch {
  const { M, N, K } = s;
  const { rm, rn, bk } = cfg;
  const tm = 64 * rm, tn = 64 * rn, tm4 = tm / 4, tn4 = tn / 4;
  const batch = prod(s.outBatch);
  const tilesM = Math.ceil(M / tm), tilesN = Math.ceil(N / tn);
  const chunk = Math.ceil(Math.ceil(K / splits) / bk) * bk;
  const nt = chunk / bk;
  const kCheck = splits * chunk !== K;
  const total = tilesM * tilesN * batch * splits;
  const grid = linearGrid(total, 1);
  const [gx, gy] = grid.workgroups;
  const { aOff, bOff } = batchOffsets(s);
  const A = operandCode(
    {
      name: "A",
      rows: tm,
      extent: M,
      kContig: !s.transA,
      vec: (s.transA ? M : K) % 4 === 0,
      rowCheck: M % tm !== 0,
      r0: "m0",
      off: aOff,
    },
    K,
    bk,
    kCheck,
  );
  const B = operandCode(
    {
      name: "B",
      rows: tn,
      extent: N,
      kContig: s.transB,
      vec: (s.transB ? K : N) % 4 === 0,
      rowCheck: N % tn !== 0,
      r0: "n0",
      off: bOff,
    },
    K,
    bk,
    kCheck,
  );
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
  let tn = w % ${tilesN}u;
  let w1 = w / ${tilesN}u;
  let tm = w1 % ${tilesM}u;
  let w2 = w1 / ${tilesM}u;
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
