/**
 * Reference-classifier checkpoints: a directory with `reference.safetensors` (the parameters; metadata names
 * the format and the architecture hash) and `reference.json` (format, dataset, config, test accuracy,
 * training facts). The JSON is written last and atomically, so it is the commit point: a directory without
 * it holds no usable checkpoint.
 *
 * @module
 */
import { join } from "node:path";
import { loadSafetensors, loadState, saveSafetensors, type Tensor, writeFileAtomic } from "@lzn/tensor";
import { CheckpointError } from "../checkpoint.ts";
import {
  parseReferenceConfig,
  referenceArchitectureHash,
  type ReferenceClassifierConfig,
} from "./reference_config.ts";
import { ReferenceClassifier } from "./reference_classifier.ts";

/**
 * Format tag of `reference.json` and of the tensor file's metadata.
 *
 * @example
 * ```ts
 * import { readReferenceInfo, REFERENCE_FORMAT } from "@lzn/tasks";
 * const info = await readReferenceInfo("runs/reference-mnist");
 * console.log(info.format === REFERENCE_FORMAT); // true
 * ```
 */
export const REFERENCE_FORMAT = "lzn-reference-classifier/1";

const JSON_FILE = "reference.json";
const TENSOR_FILE = "reference.safetensors";

/**
 * What `reference.json` holds.
 *
 * @example
 * ```ts
 * import { readReferenceInfo } from "@lzn/tasks";
 * const info = await readReferenceInfo("runs/reference-mnist");
 * console.log(info.dataset, info.testAccuracy);
 * ```
 */
export interface ReferenceInfo {
  /** Always {@link REFERENCE_FORMAT}. */
  format: typeof REFERENCE_FORMAT;
  /** The dataset it was trained on (the only one its metrics are meaningful for). */
  dataset: ReferenceClassifierConfig["data"]["dataset"];
  /** Accuracy on the dataset's test split. */
  testAccuracy: number;
  /** Test images that accuracy is over. */
  testCount: number;
  /** Optimizer steps trained. */
  steps: number;
  /** Training wall time, seconds. */
  seconds: number;
  /** Mean training loss of the last progress window. */
  finalLoss: number;
  /** The WebGPU adapter it was trained on. */
  adapter: string;
  /** When the checkpoint was written (ISO 8601). */
  created: string;
  /** Hash of `config.model` (init seed excluded); the tensor file carries the same. */
  architectureHash: string;
  /** The full config. */
  config: ReferenceClassifierConfig;
}

/**
 * Writes a trained reference classifier into `dir` (created if needed): tensors first, then the JSON.
 *
 * @example
 * ```ts
 * import { saveReferenceClassifier } from "@lzn/tasks";
 * // const run = await trainReferenceClassifier(config);
 * // await saveReferenceClassifier("runs/reference-mnist", run.model, { ...facts });
 * ```
 */
export async function saveReferenceClassifier(
  dir: string,
  model: ReferenceClassifier,
  facts: Omit<ReferenceInfo, "format" | "architectureHash" | "created" | "dataset">,
): Promise<ReferenceInfo> {
  const architectureHash = await referenceArchitectureHash(facts.config.model);
  await Deno.mkdir(dir, { recursive: true });
  await saveSafetensors(join(dir, TENSOR_FILE), model.stateDict(), {
    format: REFERENCE_FORMAT,
    architecture: architectureHash,
  });
  const info: ReferenceInfo = {
    format: REFERENCE_FORMAT,
    dataset: facts.config.data.dataset,
    ...facts,
    created: new Date().toISOString(),
    architectureHash,
  };
  await writeFileAtomic(join(dir, JSON_FILE), new TextEncoder().encode(JSON.stringify(info, null, 2) + "\n"));
  return info;
}

/**
 * True if `dir` holds a reference-classifier checkpoint (its `reference.json`).
 *
 * @example
 * ```ts
 * import { hasReferenceClassifier } from "@lzn/tasks";
 * console.log(await hasReferenceClassifier("runs/none")); // false
 * ```
 */
export async function hasReferenceClassifier(dir: string): Promise<boolean> {
  return await isFile(join(dir, JSON_FILE));
}

/**
 * Reads and validates `dir/reference.json` (format, config, architecture hash). A directory holding some
 * other lzn checkpoint is named as such.
 *
 * @example
 * ```ts
 * import { readReferenceInfo } from "@lzn/tasks";
 * const { testAccuracy, config } = await readReferenceInfo("runs/reference-fashion-mnist");
 * ```
 */
export async function readReferenceInfo(dir: string): Promise<ReferenceInfo> {
  const path = join(dir, JSON_FILE);
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
    const other = await isFile(join(dir, "state.json"))
      ? " (it holds an LZN classifier run, not a reference classifier)"
      : "";
    throw new CheckpointError(
      `no reference classifier in ${dir}${other}: missing ${path}; train one with ` +
        "`deno task train-reference --dataset mnist|fashion-mnist --out runs/<dir>`",
    );
  }
  let raw: Partial<ReferenceInfo>;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new CheckpointError(`${path} is not valid JSON (${(e as Error).message})`);
  }
  if (raw.format !== REFERENCE_FORMAT) {
    throw new CheckpointError(
      `${path} is not a reference-classifier checkpoint (format ${JSON.stringify(raw.format)})`,
    );
  }
  const config = parseReferenceConfig(raw.config, `config stored in ${path}`);
  const arch = await referenceArchitectureHash(config.model);
  if (arch !== raw.architectureHash) {
    throw new CheckpointError(
      `${path}: architecture hash ${raw.architectureHash} does not match its own config (${arch}); the file was edited`,
    );
  }
  return { ...raw, config } as ReferenceInfo;
}

/**
 * Options of {@link loadReferenceClassifier}.
 *
 * @example
 * ```ts
 * import { loadReferenceClassifier, type LoadReferenceOptions } from "@lzn/tasks";
 * const opts: LoadReferenceOptions = { dataset: "fashion-mnist" };
 * const { model } = await loadReferenceClassifier("runs/reference-fashion-mnist", opts);
 * model.dispose();
 * ```
 */
export interface LoadReferenceOptions {
  /** Refuse a classifier trained on another dataset (its features and labels would mean nothing here). */
  dataset?: ReferenceClassifierConfig["data"]["dataset"];
}

/**
 * Rebuilds the reference classifier stored in `dir` and loads its weights. Errors (as `CheckpointError`)
 * name what is wrong: no checkpoint, another kind of checkpoint, another architecture, another dataset.
 *
 * @example
 * ```ts
 * import { loadReferenceClassifier } from "@lzn/tasks";
 * const { model, info } = await loadReferenceClassifier("runs/reference-mnist", { dataset: "mnist" });
 * console.log(info.testAccuracy);
 * model.dispose();
 * ```
 */
export async function loadReferenceClassifier(
  dir: string,
  opts: LoadReferenceOptions = {},
): Promise<{ model: ReferenceClassifier; info: ReferenceInfo }> {
  const info = await readReferenceInfo(dir);
  if (opts.dataset && opts.dataset !== info.dataset) {
    throw new CheckpointError(
      `the reference classifier in ${dir} was trained on ${info.dataset}, not ${opts.dataset}; ` +
        `use one trained with --dataset ${opts.dataset}`,
    );
  }
  const path = join(dir, TENSOR_FILE);
  let loaded;
  try {
    loaded = await loadSafetensors(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new CheckpointError(`${dir}/${JSON_FILE} exists but ${path} is missing`);
    }
    throw new CheckpointError(`cannot read ${path}: ${(e as Error).message}`);
  }
  const { tensors, metadata } = loaded;
  const model = new ReferenceClassifier(info.config.model);
  try {
    if (metadata.format !== REFERENCE_FORMAT || metadata.architecture !== info.architectureHash) {
      throw new CheckpointError(
        `${path} is from another model (format ${metadata.format ?? "?"}, architecture ` +
          `${metadata.architecture ?? "?"}; ${JSON_FILE} says ${info.architectureHash})`,
      );
    }
    loadParameters(model, tensors, path);
  } catch (e) {
    model.dispose();
    throw e;
  } finally {
    for (const t of Object.values(tensors)) t.dispose();
  }
  return { model, info };
}

function loadParameters(model: ReferenceClassifier, tensors: Record<string, Tensor>, path: string): void {
  try {
    loadState(model.stateDict(), tensors, { what: "reference classifier parameters" });
  } catch (e) {
    throw new CheckpointError(`${path} does not fit its config's network: ${(e as Error).message}`);
  }
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isFile;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}
