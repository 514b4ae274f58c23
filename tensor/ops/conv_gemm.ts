/**
 * The implicit-GEMM kernel generator behind `conv2d` (see `conv.ts` for the scheme): tile shapes, the
 * GEMM spec that says how to gather A and B, the WGSL it generates and the compiled launches, cached per
 * geometry.
 *
 * @module
 */
import { gpu } from "../device.ts";
import { type Kernel, kernel } from "../kernel.ts";
import type { PooledBuffer } from "../pool.ts";
import { dispatch } from "../recorder.ts";

/** Tile shape: BM×BN outputs per workgroup, depth BK per slab, TM×TN outputs per thread (TM, TN multiples of 4). */
export interface Tile {
  BM: number;
  BN: number;
  BK: number;
  TM: number;
  TN: number;
}

/**
 * One implicit GEMM. `src` defines (besides bindings) `rowA(m)`, `colA(k)`, `atA(row, col) -> f32` and
 * `rowB(k) -> i32`, `colB(c) -> i32` (element offsets into `bArray`, -1 when out of range): A[m, k] =
 * atA(rowA(m), colA(k)) and B[k, c] = bArray[rowB(k) + colB(c)]. Both must give 0 outside [0,M)×[0,K) and
 * [0,K)×[0,C), so stale values in pooled buffers never leak in.
 */
export interface GemmSpec {
  name: string;
  M: number;
  C: number;
  K: number;
  tile: Tile;
  /** k range per workgroup (a multiple of BK); `splits` workgroups along z cover K. */
  kChunk: number;
  splits: number;
  /** Gather A with consecutive threads along k (true) or along m (false): whichever is contiguous in memory. */
  aAlongK: boolean;
  src: string;
  bArray: string;
  storage: ("read" | "read_write")[];
  /** Statement storing scalar `v` at (m, c); `split` is in scope. */
  store: (m: string, c: string, v: string) => string;
  /** Statement storing vec4 `v` at (m..m+3, c), used when M % 4 == 0 and those four are contiguous. */
  store4?: (m: string, c: string, v: string) => string;
}

const COMP = ["x", "y", "z", "w"];

/** Generates the WGSL of a GEMM spec (see the module doc for the scheme). */
function gemmWgsl(g: GemmSpec): string {
  const { BM, BN, BK, TM, TN } = g.tile;
  const TX = BM / TM, TY = BN / TN, T = TX * TY;
  const MG = BM / 4, NG = BN / 4; // vec4 groups along m and c
  const gA = MG * BK, gB = NG * BK; // vec4 groups per slab
  const nA = Math.ceil(gA / T), nB = Math.ceil(gB / T);
  if (T % BK !== 0 || T % MG !== 0) throw new Error("lzn: conv tile needs threads divisible by BK and BM/4");
  const guard = (i: number, total: number) => ((i + 1) * T > total ? `if (t + ${i * T}u < ${total}u) ` : "");
  const pre: string[] = [], load: string[] = [], put: string[] = [];
  const regs: string[] = [];
  const four = (f: (q: number) => string) => `vec4f(${[0, 1, 2, 3].map(f).join(", ")})`;
  if (g.aAlongK) {
    // Each thread keeps one k column per slab and nA fixed m groups, whose row states are computed once.
    pre.push(`let akk = t % ${BK}u; let amg = t / ${BK}u;`);
    load.push(`let ca = colA(kn + akk);`);
    for (let i = 0; i < nA; i++) {
      const mg = `amg + ${(i * T) / BK}u`;
      for (let q = 0; q < 4; q++) pre.push(`let ar${i}_${q} = rowA(m0 + 4u * (${mg}) + ${q}u);`);
      load.push(`${guard(i, gA)}{ pa${i} = ${four((q) => `atA(ar${i}_${q}, ca)`)}; }`);
      put.push(`${guard(i, gA)}{ As[akk * ${MG}u + ${mg}] = pa${i}; }`);
    }
  } else {
    // Each thread keeps one m group for the whole k loop (its four row states live in registers).
    pre.push(`let amg = t % ${MG}u; let akk = t / ${MG}u;`);
    for (let q = 0; q < 4; q++) pre.push(`let ar${q} = rowA(m0 + 4u * amg + ${q}u);`);
    for (let i = 0; i < nA; i++) {
      const kk = `akk + ${(i * T) / MG}u`;
      load.push(`${guard(i, gA)}{ let ca = colA(kn + ${kk}); pa${i} = ${four((q) => `atA(ar${q}, ca)`)}; }`);
      put.push(`${guard(i, gA)}{ As[(${kk}) * ${MG}u + amg] = pa${i}; }`);
    }
  }
  for (let i = 0; i < nA; i++) regs.push(`var pa${i} = vec4f(0.0);`);
  pre.push(`let bkk = t % ${BK}u; let bcg = t / ${BK}u;`);
  load.push(`let rb = rowB(kn + bkk);`);
  for (let i = 0; i < nB; i++) {
    const cg = `bcg + ${(i * T) / BK}u`;
    for (let q = 0; q < 4; q++) pre.push(`let bc${i}_${q} = colB(c0 + 4u * (${cg}) + ${q}u);`);
    load.push(`${guard(i, gB)}{ pb${i} = ${four((q) => `atB(rb, bc${i}_${q})`)}; }`);
    put.push(`${guard(i, gB)}{ Bs[bkk * ${NG}u + ${cg}] = pb${i}; }`);
    regs.push(`var pb${i} = vec4f(0.0);`);
  }
  const acc = (i: number, j: number) => `acc${i}_${j}`;
  const accDecl: string[] = [], fmas: string[] = [];
  for (let i = 0; i < TM / 4; i++) {
    for (let j = 0; j < TN; j++) accDecl.push(`var ${acc(i, j)} = vec4f(0.0);`);
  }
  for (let kk = 0; kk < BK; kk++) {
    const body: string[] = [];
    for (let i = 0; i < TM / 4; i++) body.push(`let a${i} = As[${kk * MG + i * TX}u + tx];`);
    for (let jj = 0; jj < TN / 4; jj++) body.push(`let b${jj} = Bs[${kk * NG + jj}u + ty * ${TN / 4}u];`);
    for (let i = 0; i < TM / 4; i++) {
      for (let j = 0; j < TN; j++) {
        body.push(`${acc(i, j)} = fma(a${i}, vec4f(b${j >> 2}.${COMP[j & 3]}), ${acc(i, j)});`);
      }
    }
    fmas.push(`{ ${body.join(" ")} }`);
  }
  const stores: string[] = [];
  const vecStore = g.store4 && g.M % 4 === 0;
  for (let i = 0; i < TM / 4; i++) {
    stores.push(`{ let m = m0 + 4u * (tx + ${i * TX}u);`);
    for (let j = 0; j < TN; j++) {
      const c = `(c0 + ty * ${TN}u + ${j}u)`;
      if (vecStore) stores.push(`if (m < ${g.M}u && ${c} < ${g.C}u) { ${g.store4!("m", c, acc(i, j))} }`);
      else {
        for (let q = 0; q < 4; q++) {
          stores.push(
            `if (m + ${q}u < ${g.M}u && ${c} < ${g.C}u) { ${
              g.store(`(m + ${q}u)`, c, `${acc(i, j)}.${COMP[q]}`)
            } }`,
          );
        }
      }
    }
    stores.push("}");
  }
  const MT = Math.ceil(g.M / BM), CT = Math.ceil(g.C / BN);
  return `${g.src}
fn atB(r: i32, c: i32) -> f32 { if (r >= 0 && c >= 0) { return ${g.bArray}[u32(r + c)]; } return 0.0; }
var<workgroup> As: array<vec4f, ${gA}>;
var<workgroup> Bs: array<vec4f, ${gB}>;
@compute @workgroup_size(${T}) fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
    @builtin(local_invocation_index) t: u32) {
  let mt = wid.x + wid.y * nwg.x;
  if (mt >= ${MT}u) { return; }
  let ct = wid.z % ${CT}u; let split = wid.z / ${CT}u;
  let m0 = mt * ${BM}u; let c0 = ct * ${BN}u;
  let kb = split * ${g.kChunk}u; let ke = min(kb + ${g.kChunk}u, ${g.K}u);
  let tx = t % ${TX}u; let ty = t / ${TX}u;
  ${pre.join("\n  ")}
  ${regs.join(" ")}
  ${accDecl.join(" ")}
  if (kb < ke) { let kn = kb; ${load.join(" ")} }
  for (var k0 = kb; k0 < ke; k0 = k0 + ${BK}u) {
    workgroupBarrier();
    ${put.join(" ")}
    workgroupBarrier();
    if (k0 + ${BK}u < ke) { let kn = k0 + ${BK}u; ${load.join(" ")} }
    ${fmas.join("\n    ")}
  }
  ${stores.join("\n  ")}
}`;
}

export interface Launch {
  kernel: Kernel;
  workgroups: [number, number, number];
  splits: number;
}

const launches = new Map<string, Launch>();

/** Compiles a GEMM once per geometry; `make` builds the spec only on a cache miss. */
export function gemmLaunch(key: string, make: () => GemmSpec): Launch {
  let l = launches.get(key);
  if (!l) {
    const g = make();
    const MT = Math.ceil(g.M / g.tile.BM), CT = Math.ceil(g.C / g.tile.BN);
    const x = Math.min(MT, 65535);
    l = {
      kernel: kernel({ name: g.name, wgsl: gemmWgsl(g), storage: g.storage }),
      workgroups: [x, Math.ceil(MT / x), CT * g.splits],
      splits: g.splits,
    };
    launches.set(key, l);
  }
  return l;
}

export function runGemm(l: Launch, buffers: PooledBuffer[]): void {
  dispatch({ kernel: l.kernel, buffers, workgroups: l.workgroups });
}

/**
 * Tile for a GEMM with `C` output columns: narrow tiles for few channels so threads are not wasted. Slab
 * depth 16 measured ~3% faster than 8 on the H200 (28 vs 27 TFLOP/s forward at batch 256, 64->64, 28x28);
 * on a CPU adapter 8 keeps lavapipe's shader compiles ~10x shorter.
 */
export function pickTile(C: number, BK = gpu().adapter.tuning === "cpu" ? 8 : 16): Tile {
  const forced = tileOverride();
  if (forced) return forced;
  if (C > 32) return { BM: 128, BN: 64, BK, TM: 8, TN: 8 };
  if (C > 16) return { BM: 128, BN: 32, BK, TM: 8, TN: 4 };
  return { BM: 128, BN: 16, BK, TM: 4, TN: 4 };
}

let override: Tile | null | undefined;

/**
 * The tile that `LZN_CONV_TILE=BMxBNxBKxTMxTN` (e.g. `128x32x16x8x4`) forces on every convolution GEMM, for
 * the tile experiments of `bench/gpu_conv.ts`; null when unset or when env access is not granted (checked
 * without a prompt). A value the generator or the device cannot take throws at the first convolution,
 * naming the rule it breaks.
 */
function tileOverride(): Tile | null {
  if (override !== undefined) return override;
  let text: string | undefined;
  try {
    if (Deno.permissions.querySync({ name: "env", variable: "LZN_CONV_TILE" }).state === "granted") {
      text = Deno.env.get("LZN_CONV_TILE");
    }
  } catch { /* no permissions API: no override */ }
  const { limits } = gpu().device;
  override = text
    ? parseTile(text, {
      invocations: limits.maxComputeInvocationsPerWorkgroup,
      storageBytes: limits.maxComputeWorkgroupStorageSize,
    })
    : null;
  return override;
}

/**
 * Parses `BMxBNxBKxTMxTN` and checks what the generator needs: TM and TN multiples of 4 dividing BM and BN,
 * and the workgroup's (BM/TM)(BN/TN) threads divisible by BK and by BM/4; with `limits`, also the device's
 * threads per workgroup and its workgroup memory, (BM + BN) BK floats.
 *
 * @example
 * ```ts ignore
 * import { parseTile } from "./conv_gemm.ts";
 * parseTile("128x32x16x8x4"); // { BM: 128, BN: 32, BK: 16, TM: 8, TN: 4 }
 * parseTile("128x64x32x8x8", { invocations: 256, storageBytes: 16384 }); // throws: 24576 bytes of workgroup memory
 * ```
 */
export function parseTile(text: string, limits?: { invocations: number; storageBytes: number }): Tile {
  const v = text.split("x").map(Number);
  const fail = (why: string): never => {
    throw new Error(`lzn: LZN_CONV_TILE=${text}: ${why}`);
  };
  if (v.length !== 5 || !v.every((n) => Number.isInteger(n) && n > 0)) {
    fail("expected BMxBNxBKxTMxTN, positive integers");
  }
  const [BM, BN, BK, TM, TN] = v;
  if (TM % 4 || TN % 4 || BM % TM || BN % TN) fail("TM and TN must be multiples of 4 dividing BM and BN");
  const T = (BM / TM) * (BN / TN);
  if (T % BK || T % (BM / 4)) fail(`${T} threads: the count must be divisible by BK and by BM/4`);
  if (limits && T > limits.invocations) {
    fail(`${T} threads: the device allows ${limits.invocations} per workgroup`);
  }
  const bytes = (BM + BN) * BK * 4;
  if (limits && bytes > limits.storageBytes) {
    fail(`${bytes} bytes of workgroup memory: the device allows ${limits.storageBytes}`);
  }
  return { BM, BN, BK, TM, TN };
}
