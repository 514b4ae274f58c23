/**
 * Flag values checked at the boundary, before any work: every command's numbers, lists and paths go through
 * these, so a bad value is one line naming the flag and what it accepts.
 *
 * @module
 */
import { basename, dirname, resolve } from "node:path";

/**
 * A mistake in how a command was called: the CLI prints the message and the command's usage, exit code 2.
 *
 * @example
 * ```ts
 * import { UsageError } from "@lzn/tasks/cli";
 * const e = new UsageError("--tau: expected a number >= 0, got \"-1\"");
 * console.log(e.message);
 * ```
 */
export class UsageError extends Error {
  /** Wraps a message. */
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** Numbers as a user writes them: decimal, optionally with an exponent. */
const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;

/**
 * Parses a number flag with bounds; `undefined` stays `undefined` (the caller's default applies).
 *
 * @example
 * ```ts
 * import { numberFlag } from "@lzn/tasks/cli";
 * console.log(numberFlag("0.5", "--tau", { min: 0 })); // 0.5
 * ```
 */
export function numberFlag(
  text: string | undefined,
  flag: string,
  opts: { min?: number; integer?: boolean } = {},
): number | undefined {
  if (text === undefined) return undefined;
  // Decimal notation only: Number() would also take "0x10" (16), "0b1" and "Infinity".
  const v = DECIMAL.test(text.trim()) ? Number(text) : NaN;
  const kind = opts.integer ? "an integer" : "a number";
  const bound = opts.min === undefined ? "" : ` >= ${opts.min}`;
  if (
    !Number.isFinite(v) || (opts.integer && !Number.isInteger(v)) || (opts.min !== undefined && v < opts.min)
  ) {
    throw new UsageError(`${flag}: expected ${kind}${bound}, got "${text}"`);
  }
  return v;
}

/**
 * A comma-separated list of numbers with bounds (e.g. `--taus 0,0.5,1`).
 *
 * @example
 * ```ts
 * import { listFlag } from "@lzn/tasks/cli";
 * console.log(listFlag("1000,500", "--batch-sizes", { min: 1, integer: true })); // [1000, 500]
 * ```
 */
export function listFlag(
  text: string | undefined,
  flag: string,
  opts: { min?: number; integer?: boolean } = {},
): number[] | undefined {
  if (text === undefined) return undefined;
  const parts = text.split(",");
  if (!parts.length || parts.some((p) => p.trim() === "")) {
    throw new UsageError(`${flag}: expected a comma-separated list like 0,0.5,1, got "${text}"`);
  }
  return parts.map((p) => numberFlag(p.trim(), flag, opts)!);
}

/**
 * A required flag's value.
 *
 * @example
 * ```ts
 * import { required } from "@lzn/tasks/cli";
 * console.log(required("runs/demo", "--run")); // "runs/demo"
 * ```
 */
export function required(value: string | undefined, flag: string): string {
  if (value === undefined || value === "") throw new UsageError(`${flag} is required`);
  return value;
}

/**
 * Checks before any work that the process may write the run directory `dir` (given by `flag`; an interactive
 * run is asked): the deno tasks may write only under `runs/` and `.cache/`, and the error says how to use
 * another place.
 *
 * @example
 * ```ts ignore
 * import { checkRunWritable } from "@lzn/tasks/cli";
 * checkRunWritable("runs/demo", "--run");
 * ```
 */
export function checkRunWritable(dir: string, flag: string): void {
  const descriptor = { name: "write", path: resolve(dir) } as const;
  let state = Deno.permissions.querySync(descriptor).state;
  if (state === "prompt") state = Deno.permissions.requestSync(descriptor).state; // an interactive run asks
  if (state === "granted") return;
  throw new UsageError(
    `${flag} ${dir}: no permission to write there (the deno tasks write only under runs/ and .cache/; ` +
      "for another place run `deno run -A main.ts <command> ...`)",
  );
}

/**
 * Checks an output file path before any work: it must not be one of the inputs, must not replace a file a
 * run owns (state, checkpoints, evaluation) or an existing file unless `force`, and the process must be
 * allowed to write it. Returns the path.
 *
 * @example
 * ```ts ignore
 * import { checkOutput } from "@lzn/tasks/cli";
 * await checkOutput("runs/emb.npy", {
 *   inputs: ["examples/digits.npy"],
 *   flag: "--out",
 *   isRunFile: (name) => name === "state.json" || name.endsWith(".safetensors"),
 *   extension: ".npy",
 * });
 * ```
 */
export async function checkOutput(
  path: string,
  opts: {
    inputs?: string[];
    force?: boolean;
    flag: string;
    isRunFile: (name: string) => boolean;
    /** The extension the file's format needs (".png", ".npy"), checked case-insensitively. */
    extension?: string;
  },
): Promise<string> {
  const target = resolve(path);
  if ((opts.inputs ?? []).some((input) => resolve(input) === target)) {
    throw new UsageError(`${opts.flag} ${path} is also an input; write the output to another file`);
  }
  let exists = false;
  try {
    const stat = await Deno.stat(path);
    if (stat.isDirectory) throw new UsageError(`${opts.flag} ${path} is a directory; give a file name`);
    exists = true;
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  const inRun = await Deno.stat(resolve(dirname(target), "state.json")).then(() => true, () => false);
  if (inRun && opts.isRunFile(basename(target))) {
    throw new UsageError(
      `${opts.flag} ${path} would overwrite a file of the run in ${dirname(path)}; choose another name`,
    );
  }
  if (exists && !opts.force) {
    throw new UsageError(`${opts.flag} ${path} exists; choose another name, or pass --force to replace it`);
  }
  const status = await Deno.permissions.query({ name: "write", path: target });
  if (status.state !== "granted") {
    throw new UsageError(
      `${opts.flag} ${path}: this task may not write there (the deno tasks write only under runs/ and .cache/)`,
    );
  }
  if (opts.extension && !path.toLowerCase().endsWith(opts.extension)) {
    throw new UsageError(
      `${opts.flag} ${path}: the output is ${opts.extension.slice(1)}; name it *${opts.extension}`,
    );
  }
  return path;
}

/** The "did you mean" helper of `@lzn/tensor` (config keys use it too), re-exported for the CLI's callers. */
export { closest } from "@lzn/tensor";
