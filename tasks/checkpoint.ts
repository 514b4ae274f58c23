/**
 * Run directories and checkpoints of the classification recipe.
 *
 * A run directory holds `state.json` (the commit point: step, data position, seeds, config, hashes, and the
 * name of the current tensor file) and `checkpoint-<step>.safetensors` (parameters, EMA shadows and Adam
 * moments, with the architecture hash and step in its metadata). A checkpoint is written as: new tensor
 * file (atomically), then `state.json` (atomically), then the old tensor file is removed. A run killed at any
 * moment therefore leaves a consistent pair: the last one whose `state.json` was written.
 *
 * @module
 */
import { join } from "node:path";
import { loadSafetensors, saveSafetensors, type Tensor, writeFileAtomic } from "@lzn/tensor";
import { architectureHash, type ClassifierConfig, parseClassifierConfig, stableHash } from "./config.ts";

/**
 * Format tag of `state.json`.
 *
 * @example
 * ```ts
 * import { readRunState, STATE_FORMAT } from "@lzn/tasks";
 * const state = await readRunState("runs/demo");
 * console.log(state.format === STATE_FORMAT); // true
 * ```
 */
export const STATE_FORMAT = "lzn-classifier-run/1";

/**
 * The JSON state of a run at a checkpoint.
 *
 * @example
 * ```ts
 * import { readRunState } from "@lzn/tasks";
 * const state = await readRunState("runs/demo");
 * console.log(state.step, state.config.train.steps);
 * ```
 */
export interface RunState {
  /** Always {@link STATE_FORMAT}. */
  format: typeof STATE_FORMAT;
  /** Optimizer steps done. */
  step: number;
  /** Data position of the next step: epoch and batch within it (epoch order = f(seed, epoch)). */
  data: { epoch: number; batch: number; batchesPerEpoch: number };
  /** The seeds every random stream is derived from. */
  seeds: { data: number; noise: number; encoderInit: number; labelInit: number };
  /** Steps whose loss or gradient norm was not finite (skipped on the GPU). */
  skipped: number;
  /** Training wall time so far, seconds (all sessions). */
  seconds: number;
  /** Tensor file of this checkpoint (in the run directory). */
  tensors: string;
  /** Hash of `config` (all fields). */
  configHash: string;
  /** Hash of the model architecture; the tensor file carries the same. */
  architectureHash: string;
  /** The full config the run trains with. */
  config: ClassifierConfig;
}

/**
 * Thrown when a run directory's checkpoint cannot be used (missing, corrupt, or from another model).
 *
 * @example
 * ```ts
 * import { CheckpointError, loadClassifier } from "@lzn/tasks";
 * try {
 *   const { model } = await loadClassifier("runs/demo");
 *   model.dispose();
 * } catch (e) {
 *   if (!(e instanceof CheckpointError)) throw e;
 *   console.error(`no usable checkpoint: ${e.message}`);
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
 * Reads and validates `dir/state.json` (its config is re-validated too).
 *
 * @example
 * ```ts
 * import { readRunState } from "@lzn/tasks";
 * const { step } = await readRunState("runs/demo");
 * ```
 */
export async function readRunState(dir: string): Promise<RunState> {
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
    throw e;
  }
  let raw: Partial<RunState>;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new CheckpointError(`${path} is not valid JSON (${(e as Error).message})`);
  }
  if (raw.format !== STATE_FORMAT) {
    throw new CheckpointError(`${path} is not an lzn classifier run (format ${JSON.stringify(raw.format)})`);
  }
  const config = parseClassifierConfig(raw.config, `config stored in ${path}`);
  const arch = await architectureHash(config.model);
  if (arch !== raw.architectureHash) {
    throw new CheckpointError(
      `${path}: its architecture hash ${raw.architectureHash} does not match its own config (${arch}); the file was edited`,
    );
  }
  return { ...raw, config } as RunState;
}

/**
 * Writes a checkpoint: the tensors (names as given) to a new safetensors file, then `state.json`, then
 * removes the previous tensor file.
 *
 * @example
 * ```ts
 * import { writeCheckpoint } from "@lzn/tasks";
 * // await writeCheckpoint("runs/demo", tensors, stateWithoutFileName);
 * ```
 */
export async function writeCheckpoint(
  dir: string,
  tensors: Record<string, Tensor>,
  state: Omit<RunState, "tensors" | "configHash" | "architectureHash" | "format">,
): Promise<RunState> {
  await Deno.mkdir(dir, { recursive: true });
  let previous: string | undefined;
  if (await hasCheckpoint(dir)) {
    try {
      previous = JSON.parse(await Deno.readTextFile(join(dir, "state.json"))).tensors;
    } catch { /* an unreadable old state is simply replaced */ }
  }
  const arch = await architectureHash(state.config.model);
  const file = `checkpoint-${String(state.step).padStart(8, "0")}.safetensors`;
  await saveSafetensors(join(dir, file), tensors, { architecture: arch, step: String(state.step) });
  const full: RunState = {
    format: STATE_FORMAT,
    ...state,
    tensors: file,
    configHash: await stableHash(state.config),
    architectureHash: arch,
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
 * Loads a run's state and tensors. Refuses (with a {@link CheckpointError}) a tensor file whose metadata
 * names another architecture or step, or one that `expectArchitecture` (the hash of the model the caller
 * built) does not match.
 *
 * @example
 * ```ts
 * import { loadCheckpoint } from "@lzn/tasks";
 * const { state, tensors } = await loadCheckpoint("runs/demo");
 * ```
 */
export async function loadCheckpoint(
  dir: string,
  expectArchitecture?: string,
): Promise<{ state: RunState; tensors: Record<string, Tensor> }> {
  const state = await readRunState(dir);
  if (expectArchitecture && expectArchitecture !== state.architectureHash) {
    throw new CheckpointError(
      `the checkpoint in ${dir} is from another model (architecture ${state.architectureHash}, expected ` +
        `${expectArchitecture}); use another run directory or the same model config`,
    );
  }
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
  return { state, tensors };
}
