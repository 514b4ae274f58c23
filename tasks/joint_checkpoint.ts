/**
 * Run directories of joint (and RF-baseline) runs: the same commit protocol as the classification recipe
 * (`checkpoint.ts`): a new `checkpoint-<step>.safetensors` (parameters, the three EMAs, Adam moments),
 * then `state.json` atomically, then the old tensor file is removed, so a run killed at any moment leaves a
 * consistent pair. Only the state's format and config differ, hence this file.
 *
 * @module
 */
import { join } from "node:path";
import { loadSafetensors, saveSafetensors, type Tensor, writeFileAtomic } from "@lzn/tensor";
import { stableHash } from "./config.ts";
import { CheckpointError, hasCheckpoint } from "./checkpoint.ts";
import { jointArchitectureHash, type JointConfig, parseJointConfig } from "./joint_config.ts";

/**
 * Format tag of a joint run's `state.json`.
 *
 * @example
 * ```ts
 * import { JOINT_STATE_FORMAT } from "@lzn/tasks";
 * console.log(JOINT_STATE_FORMAT); // "lzn-joint-run/1"
 * ```
 */
export const JOINT_STATE_FORMAT = "lzn-joint-run/1";

/**
 * The JSON state of a joint run at a checkpoint.
 *
 * @example
 * ```ts
 * import { readJointState } from "@lzn/tasks";
 * const state = await readJointState("runs/lzn-joint");
 * console.log(state.step, state.config.mode);
 * ```
 */
export interface JointRunState {
  /** Always {@link JOINT_STATE_FORMAT}. */
  format: typeof JOINT_STATE_FORMAT;
  /** Optimizer steps done. */
  step: number;
  /** Data position of the next step (epoch order = f(seed, epoch)). */
  data: { epoch: number; batch: number; batchesPerEpoch: number };
  /** Seeds every random stream is derived from. */
  seeds: { data: number; latentNoise: number; rfNoise: number };
  /** Steps whose loss or gradient norm was not finite (skipped on the GPU). */
  skipped: number;
  /** Training wall time so far, seconds. */
  seconds: number;
  /** Tensor file of this checkpoint. */
  tensors: string;
  /** Hash of `config`. */
  configHash: string;
  /** Hash of the architecture (mode, modules, q, classes). */
  architectureHash: string;
  /** The full config. */
  config: JointConfig;
}

/**
 * Reads and validates `dir/state.json` of a joint run.
 *
 * @example
 * ```ts
 * import { readJointState } from "@lzn/tasks";
 * const { step } = await readJointState("runs/lzn-joint");
 * ```
 */
export async function readJointState(dir: string): Promise<JointRunState> {
  const path = join(dir, "state.json");
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new CheckpointError(
        `no checkpoint in ${dir} (missing ${path}); train one first with \`deno task train-joint\``,
      );
    }
    throw e;
  }
  let raw: Partial<JointRunState>;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new CheckpointError(`${path} is not valid JSON (${(e as Error).message})`);
  }
  if (raw.format !== JOINT_STATE_FORMAT) {
    throw new CheckpointError(
      `${path} is not a joint run (format ${JSON.stringify(raw.format)}); ` +
        `classifier runs are read by \`deno task eval\` / \`classify\``,
    );
  }
  const config = parseJointConfig(raw.config, `config stored in ${path}`);
  if (await jointArchitectureHash(config) !== raw.architectureHash) {
    throw new CheckpointError(
      `${path}: its architecture hash does not match its own config; the file was edited`,
    );
  }
  return { ...raw, config } as JointRunState;
}

/**
 * Writes a joint checkpoint: tensors, then `state.json`, then removes the previous tensor file.
 *
 * @example
 * ```ts
 * import { writeJointCheckpoint } from "@lzn/tasks";
 * // await writeJointCheckpoint("runs/lzn-joint", tensors, stateWithoutFileAndHashes);
 * ```
 */
export async function writeJointCheckpoint(
  dir: string,
  tensors: Record<string, Tensor>,
  state: Omit<JointRunState, "tensors" | "configHash" | "architectureHash" | "format">,
): Promise<JointRunState> {
  await Deno.mkdir(dir, { recursive: true });
  let previous: string | undefined;
  if (await hasCheckpoint(dir)) {
    try {
      previous = JSON.parse(await Deno.readTextFile(join(dir, "state.json"))).tensors;
    } catch { /* an unreadable old state is simply replaced */ }
  }
  const arch = await jointArchitectureHash(state.config);
  const file = `checkpoint-${String(state.step).padStart(8, "0")}.safetensors`;
  await saveSafetensors(join(dir, file), tensors, { architecture: arch, step: String(state.step) });
  const full: JointRunState = {
    format: JOINT_STATE_FORMAT,
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
 * Loads a joint run's state and tensors; refuses a tensor file from another architecture or step.
 *
 * @example
 * ```ts
 * import { loadJointCheckpoint } from "@lzn/tasks";
 * const { state, tensors } = await loadJointCheckpoint("runs/lzn-joint");
 * ```
 */
export async function loadJointCheckpoint(
  dir: string,
): Promise<{ state: JointRunState; tensors: Record<string, Tensor> }> {
  const state = await readJointState(dir);
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
    throw new CheckpointError(`${path} does not belong to ${dir}/state.json (another model or step)`);
  }
  return { state, tensors };
}
