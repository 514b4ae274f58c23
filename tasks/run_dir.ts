/**
 * The run directory: one protocol for every recipe.
 *
 * ```
 * runs/<name>/state.json                   the commit point: recipe, step, data position, config and hashes,
 *                                          and the name of the current tensor file (format RUN_FORMAT)
 * runs/<name>/checkpoint-<step>.safetensors  the state walk (state.ts) with architecture, step and a CRC-32
 *                                          of the tensor data in its header
 * runs/<name>/eval.json, bank.safetensors, and the images of RUN_IMAGES   what evaluation writes
 * runs/<name>/run.lock                     held by the training process (pid inside)
 * ```
 *
 * A checkpoint is written as: new tensor file (atomically), then `state.json` (atomically), then the old
 * tensor file is removed, so a process killed at any moment leaves the last consistent pair. Directories of
 * older formats are refused with a message that says so. Only the files named above belong to the run:
 * `--fresh` removes exactly those, and nothing the run did not create is ever overwritten.
 *
 * @module
 */
import { join } from "node:path";
import { loadSafetensors, saveSafetensors, type Tensor, writeFileAtomic } from "@lzn/tensor";
import { pngText, withPngText } from "@lzn/data";
import { type Recipe, type RecipeConfig, RUN_IMAGES, type RunImage } from "./recipe.ts";
import { parseWith } from "./config/hash.ts";

/**
 * Format tag of `state.json`.
 *
 * @example
 * ```ts ignore
 * import { readRunState, RUN_FORMAT } from "@lzn/tasks";
 * const state = await readRunState("runs/demo");
 * console.log(state.format === RUN_FORMAT); // true
 * ```
 */
export const RUN_FORMAT = "lzn-run/2";

/** Formats of earlier lzn versions, refused with a message (their tensor names differ). */
const OLD_FORMATS = ["lzn-classifier-run/1", "lzn-joint-run/1"];

/**
 * The JSON state of a run at a checkpoint.
 *
 * @example
 * ```ts ignore
 * import { readRunState } from "@lzn/tasks";
 * const state = await readRunState("runs/demo");
 * console.log(state.recipe, state.step, state.config.train.steps);
 * ```
 */
export interface RunState {
  /** Always {@link RUN_FORMAT}. */
  format: typeof RUN_FORMAT;
  /** The recipe (also `config.recipe`). */
  recipe: string;
  /** Optimizer steps done. */
  step: number;
  /** Data position of the next step: epoch and batch within it (epoch order = f(seed, epoch)). */
  data: { epoch: number; batch: number; batchesPerEpoch: number };
  /** Steps whose loss or gradient norm was not finite (skipped on the GPU). */
  skipped: number;
  /** Training wall time so far, seconds (all sessions). */
  seconds: number;
  /** Tensor file of this checkpoint (in the run directory). */
  tensors: string;
  /** Hash of `config` (all fields). */
  configHash: string;
  /** Hash of the architecture; the tensor file carries the same. */
  architectureHash: string;
  /** The full config the run trains with (validated by its recipe's schema when read). */
  config: RecipeConfig;
  /**
   * True when the run's images carry {@link RUN_IMAGE_MARK} (every run started since the mark). Absent in
   * runs from an lzn before it, which keep owning their image names whatever their content.
   */
  imageMarks?: true;
}

/**
 * Thrown when a run directory cannot be used: no checkpoint, a corrupt or edited one, another model's, an
 * older format, or a directory another process holds.
 *
 * @example
 * ```ts
 * import { CheckpointError, readRunState } from "@lzn/tasks";
 * try {
 *   await readRunState("runs/none");
 * } catch (e) {
 *   if (!(e instanceof CheckpointError)) throw e;
 *   console.error(e.message); // no checkpoint in runs/none ...
 * }
 * ```
 */
export class CheckpointError extends Error {
  /** Wraps a message. */
  constructor(message: string) {
    super(message);
    this.name = "CheckpointError";
  }
}

/**
 * The `tEXt` entry every image of {@link RUN_IMAGES} carries: in a run started since the mark, an image under
 * one of those names without it is not the run's (a user's file), so no command overwrites or removes it.
 *
 * @example
 * ```ts
 * import { RUN_IMAGE_MARK } from "@lzn/tasks";
 * console.log(RUN_IMAGE_MARK.Software); // lzn run image
 * ```
 */
export const RUN_IMAGE_MARK = { Software: "lzn run image" } as const;

/** Whether a file's bytes are a run image (a PNG carrying {@link RUN_IMAGE_MARK}). */
function marked(bytes: Uint8Array): boolean {
  return pngText(bytes).Software === RUN_IMAGE_MARK.Software;
}

/**
 * Whether the run in `dir` predates the mark: its `state.json` lacks `imageMarks`. Such a run owns its image
 * names whatever their content, as before the mark, so its images need no mark to be rewritten or removed.
 */
async function unmarkedRun(dir: string): Promise<boolean> {
  try {
    return JSON.parse(await Deno.readTextFile(join(dir, "state.json")))?.imageMarks !== true;
  } catch {
    return false; // no run there yet (or no readable state): images must carry the mark
  }
}

/**
 * Why the run must not write `dir/name` (in one line), or undefined when it may: nothing is there, or a
 * regular file that is the run's image. A directory, a symbolic link or a special file is never the run's,
 * nor a file it cannot read.
 */
async function imageProblem(dir: string, name: RunImage, legacy: boolean): Promise<string | undefined> {
  const path = join(dir, name);
  let info: Deno.FileInfo;
  try {
    info = await Deno.lstat(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    return `cannot inspect ${path} (${(e as Error).message}); move it out of ${dir}`;
  }
  const kind = info.isSymlink ? "a symbolic link" : info.isDirectory ? "a directory" : "a special file";
  if (!info.isFile) return `${path} is ${kind}, where runs write their images; move it out of ${dir}`;
  if (legacy) return undefined;
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (e) {
    return `cannot read ${path} to check that the run wrote it (${
      (e as Error).message
    }); move it out of ${dir}`;
  }
  if (marked(bytes)) return undefined;
  return `${path} has no lzn run-image mark, so this run did not write it (a file of yours, or one saved or ` +
    `copied there); move it out of ${dir}`;
}

/**
 * Throws a {@link CheckpointError} naming the first of `names` (default: every name of `RUN_IMAGES`) in
 * `dir` that is not the run's: a regular file without {@link RUN_IMAGE_MARK} (in runs made since the mark), a directory, a symbolic
 * link, a special file or an unreadable file. `train` and `eval` call it with their recipe's images
 * (`Recipe.images`) before their work starts.
 *
 * @example
 * ```ts
 * import { checkRunImages } from "@lzn/tasks";
 * await checkRunImages("runs/none", ["predictions.png"]); // nothing there: passes
 * ```
 */
export async function checkRunImages(dir: string, names: readonly RunImage[] = RUN_IMAGES): Promise<void> {
  const legacy = await unmarkedRun(dir);
  for (const name of names) {
    const problem = await imageProblem(dir, name, legacy);
    if (problem) throw new CheckpointError(problem);
  }
}

/**
 * Writes a run image (PNG bytes) into the run directory with {@link RUN_IMAGE_MARK}, atomically, and returns
 * its path. An image missing from {@link RUN_IMAGES} is a type error; a file under that name that is not the
 * run's ({@link checkRunImages}) is refused, never overwritten.
 *
 * @example
 * ```ts ignore
 * import { encodePng } from "@lzn/data";
 * import { writeRunImage } from "./run_dir.ts";
 * const png = await encodePng({ pixels: new Uint8Array(1), width: 1, height: 1, channels: 1 });
 * console.log(await writeRunImage("runs/demo", "samples.png", png)); // runs/demo/samples.png
 * ```
 */
export async function writeRunImage(dir: string, name: RunImage, png: Uint8Array): Promise<string> {
  const problem = await imageProblem(dir, name, await unmarkedRun(dir));
  if (problem) throw new CheckpointError(problem);
  const path = join(dir, name);
  await writeFileAtomic(path, withPngText(png, RUN_IMAGE_MARK));
  return path;
}

/** Names of the files a run owns (and `--fresh` removes). */
const OWNED = /^(state\.json|eval\.json|bank\.safetensors|checkpoint-\d+\.safetensors)$/;

function owned(name: string): boolean {
  return OWNED.test(name) || (RUN_IMAGES as readonly string[]).includes(name);
}

/**
 * True if `dir` holds a `state.json`.
 *
 * @example
 * ```ts
 * import { hasCheckpoint } from "@lzn/tasks";
 * console.log(await hasCheckpoint("runs/none")); // false
 * ```
 */
export async function hasCheckpoint(dir: string): Promise<boolean> {
  try {
    return (await Deno.stat(join(dir, "state.json"))).isFile;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

/**
 * Reads `dir/state.json` and checks its format. With `resolve` (the recipe of a recipe name; it throws for
 * an unknown one), the stored config is validated by its recipe's schema and its architecture hash
 * recomputed, so an edited file is refused.
 *
 * @example
 * ```ts ignore
 * import { RECIPES, readRunState } from "@lzn/tasks";
 * const { step, recipe } = await readRunState("runs/demo", (name) => RECIPES[name as "classification"]);
 * ```
 */
export async function readRunState(dir: string, resolve?: (recipe: string) => Recipe): Promise<RunState> {
  const path = join(dir, "state.json");
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new CheckpointError(
        `no checkpoint in ${dir} (missing ${path}); train one first with \`deno task train\``,
      );
    }
    if (e instanceof Deno.errors.IsADirectory) {
      throw new CheckpointError(`${path} is a directory, not a run state`);
    }
    if (e instanceof Deno.errors.NotADirectory) {
      throw new CheckpointError(`${dir} is a file: name the run directory (the one holding state.json)`);
    }
    throw e;
  }
  let raw: Partial<RunState>;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new CheckpointError(
      `${path} is not valid JSON (${(e as Error).message}): not an lzn run, or a damaged one`,
    );
  }
  if (OLD_FORMATS.includes(String(raw?.format))) {
    throw new CheckpointError(
      `${dir} was written by an earlier lzn (format ${raw.format}); this version reads ${RUN_FORMAT} only: ` +
        `train it again (or use another run directory)`,
    );
  }
  if (raw?.format !== RUN_FORMAT) {
    throw new CheckpointError(`${path} is not an lzn run (format ${JSON.stringify(raw?.format)})`);
  }
  if (!resolve) return raw as RunState;
  const check = parseWith(resolve(String(raw.recipe)));
  const config = check.parse(raw.config, `config stored in ${path}`);
  if (await check.architecture(config) !== raw.architectureHash) {
    throw new CheckpointError(
      `${path}: its architecture hash does not match its own config; the file was edited`,
    );
  }
  return { ...raw, config } as RunState;
}

/**
 * Writes a checkpoint: the tensors to a new safetensors file (with the architecture hash, the step and a
 * data checksum in its header), then `state.json`, then removes the previous tensor file.
 *
 * @example
 * ```ts ignore
 * import { loadCheckpointTensors, readRunState, writeCheckpoint } from "@lzn/tasks";
 * // Copy a run's latest checkpoint into another run directory.
 * const state = await readRunState("runs/demo");
 * const tensors = await loadCheckpointTensors("runs/demo", state);
 * const { tensors: _file, format: _format, ...rest } = state;
 * await writeCheckpoint("runs/demo-copy", tensors, rest);
 * ```
 */
export async function writeCheckpoint(
  dir: string,
  tensors: Record<string, Tensor>,
  state: Omit<RunState, "tensors" | "format">,
): Promise<RunState> {
  let previous: string | undefined;
  let imageMarks = true; // a run started since the mark; one from before it stays as it was
  if (await hasCheckpoint(dir)) {
    try {
      const old = JSON.parse(await Deno.readTextFile(join(dir, "state.json")));
      previous = old.tensors;
      imageMarks = old.imageMarks === true;
    } catch { /* an unreadable old state is simply replaced */ }
  }
  const file = `checkpoint-${String(state.step).padStart(8, "0")}.safetensors`;
  await saveSafetensors(join(dir, file), tensors, {
    format: RUN_FORMAT,
    architecture: state.architectureHash,
    step: String(state.step),
  });
  const { imageMarks: _, ...rest } = state; // the mark status is the directory's, not the caller's
  const full: RunState = {
    format: RUN_FORMAT,
    ...rest,
    ...(imageMarks ? { imageMarks } : {}),
    tensors: file,
  };
  await writeFileAtomic(
    join(dir, "state.json"),
    new TextEncoder().encode(JSON.stringify(full, null, 2) + "\n"),
  );
  if (previous && previous !== file && /^checkpoint-\d+\.safetensors$/.test(previous)) {
    await Deno.remove(join(dir, previous)).catch(() => {});
  }
  return full;
}

/**
 * Loads the tensors of a run's checkpoint. Refuses a tensor file whose header names another architecture or
 * step than `state`, and (through `loadSafetensors`) one whose data does not match its checksum.
 *
 * @example
 * ```ts ignore
 * import { loadCheckpointTensors, readRunState } from "@lzn/tasks";
 * const state = await readRunState("runs/demo");
 * const tensors = await loadCheckpointTensors("runs/demo", state);
 * ```
 */
export async function loadCheckpointTensors(dir: string, state: RunState): Promise<Record<string, Tensor>> {
  const path = join(dir, state.tensors);
  let loaded;
  try {
    loaded = await loadSafetensors(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new CheckpointError(`${dir}/state.json names ${path}, which is missing`);
    }
    throw new CheckpointError(`cannot read ${path}: ${(e as Error).message}`);
  }
  const { tensors, metadata } = loaded;
  if (metadata.architecture !== state.architectureHash || metadata.step !== String(state.step)) {
    for (const t of Object.values(tensors)) t.dispose();
    throw new CheckpointError(
      `${path} is from another model or run (architecture ${metadata.architecture ?? "?"}, step ` +
        `${metadata.step ?? "?"}; state.json says ${state.architectureHash}, step ${state.step})`,
    );
  }
  return tensors;
}

/**
 * Removes the files a run owns (state, checkpoints, evaluation outputs, bank and the images of
 * {@link RUN_IMAGES} that carry {@link RUN_IMAGE_MARK}) and leaves everything else in the directory alone.
 * Returns the removed names.
 *
 * @example
 * ```ts ignore
 * import { discardRun } from "@lzn/tasks";
 * console.log(await discardRun("runs/demo")); // ["state.json", "checkpoint-00000320.safetensors", ...]
 * ```
 */
export async function discardRun(dir: string): Promise<string[]> {
  const removed: string[] = [];
  const legacy = await unmarkedRun(dir);
  try {
    for await (const entry of Deno.readDir(dir)) {
      if (entry.isFile && owned(entry.name)) {
        const image = (RUN_IMAGES as readonly string[]).includes(entry.name);
        if (image && await imageProblem(dir, entry.name as RunImage, legacy)) continue; // not the run's
        await Deno.remove(join(dir, entry.name));
        removed.push(entry.name);
      }
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return removed.sort();
}

/**
 * True if `name` (a file name inside a run directory) is one the run owns, which outputs must not overwrite.
 *
 * @example
 * ```ts
 * import { isRunFile } from "@lzn/tasks";
 * console.log(isRunFile("state.json"), isRunFile("notes.txt")); // true false
 * ```
 */
export function isRunFile(name: string): boolean {
  return owned(name) || name === "run.lock";
}
