/**
 * Would Winograd F(2x2, 3x3) close the gap to cuDNN on the RF decoder's 3x3 convolutions (issue 10)? A
 * feasibility measurement, not a library path: the Winograd convolution written with the library's own
 * differentiable ops, timed against `conv2d` on the decoder's 3x3 shapes, forward and forward + backward, with
 * its batched GEMM timed alone.
 *
 *   deno run -A bench/winograd.ts OUT.json [--small] [--only NAME] [--target-ms 100] [--samples 5]
 *
 * The composite: the input transform `V = Bᵀ d B` of every 4x4 tile (stride 2) is a `conv2d` of the padded
 * input, one channel at a time, with 16 fixed 4x4 filters; the weight transform `U = G g Gᵀ` a matmul by a
 * 9x16 matrix; the 16 products `M[ξ] = U[ξ] V[ξ]` one batched `matmul` ([16, Cout, Cin] @ [16, Cin, tiles]);
 * the output transform `Aᵀ M A` a matmul by a 16x4 matrix and a depth-to-space permute. Autograd gives dx and
 * dw through the same pieces. Its GEMM does 16 Cout Cin per 2x2 outputs where the direct convolution does
 * 36: 2.25x fewer multiplies. The copies between the pieces (permutes, 4x the input in transformed tiles)
 * are what a fused kernel would avoid, so the composite's time is an upper bound and its GEMM's time alone a
 * lower bound of what a Winograd kernel of this library could reach. Each shape's output, dx and dw (for one
 * random upstream gradient) are checked against `conv2d`'s (max abs difference relative to the max; the run
 * fails above 1e-4).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { conv2d, gpu, matmul, pad, scope, slice, type Tensor, tensor } from "../tensor/mod.ts";
import { type ConvCase, decoderCases, median, random } from "./gpu_conv.ts";
import { launchTimes } from "./timing.ts";

const BT = [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]];
const G = [[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]];
const AT = [[1, 1, 1, 0], [0, 1, -1, -1]];

/** The 16 input-transform filters [16, 1, 4, 4]: filter (u, v) at (a, b) is Bᵀ[u][a] Bᵀ[v][b]. */
function inputFilters(): Tensor {
  const f = new Float32Array(256);
  for (let u = 0; u < 4; u++) {
    for (let v = 0; v < 4; v++) {
      for (let a = 0; a < 4; a++) {
        for (let b = 0; b < 4; b++) f[(u * 4 + v) * 16 + a * 4 + b] = BT[u][a] * BT[v][b];
      }
    }
  }
  return tensor(f, [16, 1, 4, 4]);
}

/** The weight transform [9, 16]: entry ((r, s), (u, v)) is G[u][r] G[v][s]. */
function weightTransform(): Tensor {
  const t = new Float32Array(144);
  for (let r = 0; r < 3; r++) {
    for (let s = 0; s < 3; s++) {
      for (let u = 0; u < 4; u++) {
        for (let v = 0; v < 4; v++) t[(r * 3 + s) * 16 + u * 4 + v] = G[u][r] * G[v][s];
      }
    }
  }
  return tensor(t, [9, 16]);
}

/** The output transform [16, 4]: entry ((u, v), (a, b)) is Aᵀ[a][u] Aᵀ[b][v]. */
function outputTransform(): Tensor {
  const t = new Float32Array(64);
  for (let u = 0; u < 4; u++) {
    for (let v = 0; v < 4; v++) {
      for (let a = 0; a < 2; a++) {
        for (let b = 0; b < 2; b++) t[(u * 4 + v) * 4 + a * 2 + b] = AT[a][u] * AT[b][v];
      }
    }
  }
  return tensor(t, [16, 4]);
}

interface Transforms {
  fin: Tensor;
  tw: Tensor;
  tout: Tensor;
}

/** The transformed input V [16, Cin, N·tiles] of x [N, Cin, H, W] (3x3, stride 1, padding 1). */
function inputTiles(x: Tensor, t: Transforms): Tensor {
  const [N, CI, H, W] = x.shape, TH = Math.ceil(H / 2), TW = Math.ceil(W / 2);
  const xr = x.reshape([N * CI, 1, H, W]);
  const xp = pad(pad(xr, 2, 1, 2 * TH + 1 - H), 3, 1, 2 * TW + 1 - W);
  const v0 = conv2d(xp, t.fin, undefined, { stride: 2 }); // [N·Cin, 16, TH, TW]
  return v0.reshape([N, CI, 16, TH * TW]).permute([2, 1, 0, 3]).reshape([16, CI, N * TH * TW]);
}

/** The transformed weights U [16, Cout, Cin] of w [Cout, Cin, 3, 3]. */
function weightTiles(w: Tensor, t: Transforms): Tensor {
  const [CO, CI] = w.shape;
  return w.reshape([CO * CI, 9]).matmul(t.tw).reshape([CO, CI, 16]).permute([2, 0, 1]);
}

/** y [N, Cout, H, W] from the products M [16, Cout, N·tiles]. */
function outputTiles(m: Tensor, N: number, H: number, W: number, t: Transforms): Tensor {
  const CO = m.shape[1], TH = Math.ceil(H / 2), TW = Math.ceil(W / 2);
  const y4 = matmul(m.reshape([16, CO * N * TH * TW]), t.tout, { transA: true }); // [Cout·N·tiles, 4]
  const y = y4.reshape([CO, N, TH, TW, 2, 2]).permute([1, 0, 2, 4, 3, 5]).reshape([N, CO, 2 * TH, 2 * TW]);
  return 2 * TH === H && 2 * TW === W ? y : slice(slice(y, 2, 0, H), 3, 0, W);
}

/** The Winograd F(2x2, 3x3) convolution (3x3, stride 1, padding 1) as a composite of differentiable ops. */
function winogradConv(x: Tensor, w: Tensor, t: Transforms): Tensor {
  const [N, , H, W] = x.shape;
  return outputTiles(matmul(weightTiles(w, t), inputTiles(x, t)), N, H, W, t);
}

/** Median ms per launch (`bench/timing.ts`, as `gpu_conv.ts`); each launch runs in a `scope`, freeing its tensors. */
async function time(launch: () => void, samples: number, targetMs: number): Promise<number> {
  return median(await launchTimes(() => scope(launch), { reps: 0, samples, targetMs }));
}

/** One row of the table: a shape's times (ms) and the forward check. */
export interface WinogradRow {
  name: string;
  directFwd: number;
  winogradFwd: number;
  gemmFwd: number;
  directFwdBwd: number;
  winogradFwdBwd: number;
  /** max |winograd - direct| / max |direct| over every output. */
  relErr: number;
  /** The same for the input gradient, for one random upstream gradient. */
  dxRelErr: number;
  /** The same for the weight gradient. */
  dwRelErr: number;
}

/** max |a - b| / max |b|. */
function relErr(a: Float32Array, b: Float32Array): number {
  let err = 0, mag = 0;
  for (let i = 0; i < b.length; i++) {
    err = Math.max(err, Math.abs(a[i] - b[i]));
    mag = Math.max(mag, Math.abs(b[i]));
  }
  return err / Math.max(mag, 1e-30);
}

/**
 * Times the direct and the Winograd convolution of each 3x3 case, and checks the Winograd output.
 *
 * @example
 * ```ts ignore
 * import { decoderCases } from "./gpu_conv.ts";
 * import { benchWinograd } from "./winograd.ts";
 * const rows = await benchWinograd(decoderCases(2).filter((c) => c.k === 3), { samples: 3, targetMs: 20 });
 * console.log(rows.map((r) => `${r.name} ${r.relErr.toExponential(1)}`).join("\n"));
 * ```
 */
export async function benchWinograd(
  cases: ConvCase[],
  opts: { samples: number; targetMs: number },
): Promise<WinogradRow[]> {
  const t: Transforms = { fin: inputFilters(), tw: weightTransform(), tout: outputTransform() };
  const rows: WinogradRow[] = [];
  for (const c of cases) {
    // Every tensor of a case (inputs, intermediates, gradients) is freed when its scope ends.
    rows.push(
      await scope(async (): Promise<WinogradRow> => {
        const x = tensor(random(c.N * c.CI * c.H * c.W, 1), [c.N, c.CI, c.H, c.W]);
        const w = tensor(random(c.CO * c.CI * 9, 2, 1 / Math.sqrt(c.CI * 9)), [c.CO, c.CI, 3, 3]);
        const yd = conv2d(x, w, undefined, { padding: 1 }), yw = winogradConv(x, w, t);
        const direct = await yd.toArray(), wino = await yw.toArray();
        // The gradients too: both convolutions' dx and dw for one random upstream gradient.
        const seed = tensor(random(direct.length, 3), [...yd.shape]);
        const grads = async (f: (xg: Tensor, wg: Tensor) => Tensor) => {
          const xg = x.detach().requireGrad(), wg = w.detach().requireGrad();
          const y = f(xg, wg);
          y.backward(seed);
          return [await xg.grad!.toArray(), await wg.grad!.toArray()];
        };
        const [dxD, dwD] = await grads((xg, wg) => conv2d(xg, wg, undefined, { padding: 1 }));
        const [dxW, dwW] = await grads((xg, wg) => winogradConv(xg, wg, t));
        const u = weightTiles(w, t), v = inputTiles(x, t);
        const fwdBwd = (f: (xg: Tensor, wg: Tensor) => Tensor) => {
          const xg = x.detach().requireGrad(), wg = w.detach().requireGrad();
          return () => {
            const y = f(xg, wg);
            y.sum().backward();
            for (const g of [xg.grad, wg.grad]) g?.dispose();
            xg.grad = wg.grad = undefined;
          };
        };
        return {
          name: c.name,
          directFwd: await time(
            () => void conv2d(x, w, undefined, { padding: 1 }),
            opts.samples,
            opts.targetMs,
          ),
          winogradFwd: await time(() => void winogradConv(x, w, t), opts.samples, opts.targetMs),
          gemmFwd: await time(() => void matmul(u, v), opts.samples, opts.targetMs),
          directFwdBwd: await time(
            fwdBwd((xg, wg) => conv2d(xg, wg, undefined, { padding: 1 })),
            opts.samples,
            opts.targetMs,
          ),
          winogradFwdBwd: await time(
            fwdBwd((xg, wg) => winogradConv(xg, wg, t)),
            opts.samples,
            opts.targetMs,
          ),
          relErr: relErr(wino, direct),
          dxRelErr: relErr(dxW, dxD),
          dwRelErr: relErr(dwW, dwD),
        };
      }),
    );
  }
  for (const a of [t.fin, t.tw, t.tout]) a.dispose();
  return rows;
}

if (import.meta.main) {
  const { values, positionals } = parseArgs({
    args: Deno.args,
    allowPositionals: true,
    options: {
      small: { type: "boolean", default: false },
      only: { type: "string" },
      samples: { type: "string" },
      "target-ms": { type: "string" },
    },
  });
  const cases = decoderCases(values.small ? 2 : 256)
    .filter((c) => c.k === 3 && c.CI > 1 && (!values.only || c.name.includes(values.only)));
  const rows = await benchWinograd(cases, {
    samples: Number(values.samples ?? (values.small ? 3 : 5)),
    targetMs: Number(values["target-ms"] ?? (values.small ? 20 : 100)),
  });
  console.log(`Winograd F(2x2,3x3) as composite ops against conv2d on ${gpu().adapter.name} (ms per call)`);
  console.log(
    `${"case".padEnd(22)} ${"direct fwd".padStart(11)} ${"wino fwd".padStart(9)} ${"its GEMM".padStart(9)} ${
      "direct f+b".padStart(11)
    } ${"wino f+b".padStart(9)}  rel err y / dx / dw`,
  );
  for (const r of rows) {
    const f = (v: number, w: number) => v.toFixed(3).padStart(w);
    console.log(
      `${r.name.padEnd(22)} ${f(r.directFwd, 11)} ${f(r.winogradFwd, 9)} ${f(r.gemmFwd, 9)} ${
        f(r.directFwdBwd, 11)
      } ${f(r.winogradFwdBwd, 9)}  ${
        [r.relErr, r.dxRelErr, r.dwRelErr].map((e) => e.toExponential(1)).join(" / ")
      }`,
    );
  }
  const out = positionals[0] ?? "winograd.json";
  await Deno.writeTextFile(
    out,
    JSON.stringify({ adapter: gpu().adapter.name, date: new Date().toISOString(), rows }, null, 2) + "\n",
  );
  if (rows.some((r) => !(Math.max(r.relErr, r.dxRelErr, r.dwRelErr) < 1e-4))) {
    console.error(
      "error: a Winograd output or gradient differs from conv2d's by more than 1e-4 of its scale",
    );
    Deno.exit(1);
  }
}
