/**
 * A picture of what a classifier learned: test digits sorted into one column per predicted class, each
 * column headed by its class number, correct predictions framed green and mistakes framed red (mistakes
 * first, so they are never cut off).
 *
 * @module
 */
import { encodePng, type RasterImage, type Split } from "@lzn/data";

// 3x5 bitmaps of the digits 0-9, one string per row ("#" = ink), for the column headers.
const DIGITS = [
  ["###", "#.#", "#.#", "#.#", "###"],
  [".#.", "##.", ".#.", ".#.", "###"],
  ["###", "..#", "###", "#..", "###"],
  ["###", "..#", "###", "..#", "###"],
  ["#.#", "#.#", "###", "..#", "..#"],
  ["###", "#..", "###", "..#", "###"],
  ["###", "#..", "###", "#.#", "###"],
  ["###", "..#", "..#", "..#", "..#"],
  ["###", "#.#", "###", "#.#", "###"],
  ["###", "#.#", "###", "..#", "###"],
];

const FRAME = 2, GAP = 2, SCALE = 3;
const GREEN = [40, 170, 60], RED = [220, 40, 40];

/**
 * Options of {@link predictionGrid}.
 *
 * @example
 * ```ts
 * import { type PredictionGridOptions, writePredictionGrid } from "@lzn/tasks";
 * const split = { images: new Uint8Array(4 * 784), labels: new Uint8Array([0, 1, 2, 1]), count: 4, rows: 28, cols: 28 };
 * const opts: PredictionGridOptions = { perClass: 4, classes: 3 };
 * await writePredictionGrid(".cache/grid.png", split, Int32Array.from([0, 1, 1, -1]), opts);
 * ```
 */
export interface PredictionGridOptions {
  /** Digits shown per column (default 12). */
  perClass?: number;
  /** Number of classes C (default: 1 + the largest label). */
  classes?: number;
}

/**
 * Renders predictions of a test split as an RGB image (see the module doc). `predictions[i]` is the class
 * predicted for image i, or -1 for images that were not classified.
 *
 * @example
 * ```ts
 * import { predictionGrid } from "@lzn/tasks";
 * const split = { images: new Uint8Array(2 * 784), labels: new Uint8Array([0, 1]), count: 2, rows: 28, cols: 28 };
 * const image = predictionGrid(split, Int32Array.from([0, 0]));
 * console.log(image.channels); // 3
 * ```
 */
export function predictionGrid(
  split: Split,
  predictions: Int32Array,
  opts: PredictionGridOptions = {},
): RasterImage {
  const classes = opts.classes ?? Math.max(...split.labels) + 1;
  const perClass = opts.perClass ?? 12;
  const { rows: h, cols: w } = split;
  const cellW = w + 2 * FRAME + GAP, cellH = h + 2 * FRAME + GAP;
  const header = 5 * SCALE + 2 * GAP;
  const width = classes * cellW + GAP, height = header + perClass * cellH + GAP;
  const pixels = new Uint8Array(width * height * 3).fill(255);
  const put = (x: number, y: number, rgb: number[]) => pixels.set(rgb, (y * width + x) * 3);
  for (let c = 0; c < classes; c++) {
    const left = GAP + c * cellW;
    const text = String(c);
    const textW = text.length * 4 * SCALE - SCALE;
    let x0 = left + Math.floor((cellW - GAP - textW) / 2);
    for (const ch of text) {
      DIGITS[Number(ch)].forEach((row, ry) =>
        [...row].forEach((px, rx) => {
          if (px !== "#") return;
          for (let dy = 0; dy < SCALE; dy++) {
            for (let dx = 0; dx < SCALE; dx++) put(x0 + rx * SCALE + dx, GAP + ry * SCALE + dy, [0, 0, 0]);
          }
        })
      );
      x0 += 4 * SCALE;
    }
    const members: number[] = [];
    predictions.forEach((p, i) => p === c && members.push(i));
    members.sort((a, b) => Number(split.labels[a] === c) - Number(split.labels[b] === c) || a - b);
    members.slice(0, perClass).forEach((i, k) => {
      const top = header + k * cellH;
      const rgb = split.labels[i] === c ? GREEN : RED;
      for (let y = 0; y < h + 2 * FRAME; y++) {
        for (let x = 0; x < w + 2 * FRAME; x++) {
          const inside = y >= FRAME && y < h + FRAME && x >= FRAME && x < w + FRAME;
          if (!inside) put(left + x, top + y, rgb);
          else {
            // MNIST is white ink on black; show dark ink on white paper.
            const v = 255 - split.images[i * h * w + (y - FRAME) * w + (x - FRAME)];
            put(left + x, top + y, [v, v, v]);
          }
        }
      }
    });
  }
  return { pixels, width, height, channels: 3 };
}

/**
 * Writes {@link predictionGrid} as a PNG file.
 *
 * @example
 * ```ts
 * import { writePredictionGrid } from "@lzn/tasks";
 * // await writePredictionGrid("my-predictions.png", test, report.predictions);
 * ```
 */
export async function writePredictionGrid(
  path: string,
  split: Split,
  predictions: Int32Array,
  opts: PredictionGridOptions = {},
): Promise<void> {
  await Deno.writeFile(path, await encodePng(predictionGrid(split, predictions, opts)));
}
