/**
 * The anchor bank of a trained run: the anchors of a fixed set of training images, computed with the weights
 * that were evaluated and stored as `bank.safetensors` beside the checkpoint. Inference (`classify`, `embed`,
 * `space.task(..., { bank })`) computes each new image's latent against the bank plus the image itself, so an
 * answer does not depend on what else is in the call.
 *
 * @module
 */
import { join } from "node:path";
import { concat, loadSafetensors, noGrad, saveSafetensors, scope, type Tensor } from "@lzn/tensor";
import { epochOrder, type Split } from "@lzn/data";
import type { ImageBatch, Labels } from "@lzn/encoders";
import { imageBatch } from "./run_data.ts";
import type { RunState } from "./run_dir.ts";

/**
 * Anchors `[min(size, n), q]` of the first `size` training images (all `n` when there are fewer) in the order of `seed` (EMA weights if swapped in).
 *
 * @example
 * ```ts ignore
 * import { classification, computeBank, loadRun, loadRunData } from "@lzn/tasks";
 * const run = await loadRun("runs/demo", { recipe: classification });
 * const { train } = await loadRunData(run.config.data, run.config.model.classes);
 * const { bank, labels } = computeBank((b) => run.model.space.anchors("image", b), train, 1000, 0);
 * ```
 */
export function computeBank(
  anchorsOf: (batch: ImageBatch) => Tensor,
  train: Split,
  size: number,
  seed: number,
): { bank: Tensor; labels: Labels } {
  const n = Math.min(size, train.count);
  const order = epochOrder(train.count, seed, 0).subarray(0, n);
  const chunk = 500, parts: Tensor[] = [];
  const labels = new Int32Array(n);
  for (let start = 0; start < n; start += chunk) {
    const { batch, labels: l } = imageBatch(train, order.subarray(start, Math.min(n, start + chunk)));
    labels.set(l, start);
    parts.push(scope(() => noGrad(() => anchorsOf(batch))));
  }
  const bank = parts.length === 1 ? parts[0] : concat(parts, 0);
  if (parts.length > 1) { for (const p of parts) p.dispose(); }
  return { bank, labels };
}

/**
 * Writes a run's bank with the step and weights it was computed from.
 *
 * @example
 * ```ts ignore
 * import { classification, computeBank, loadRun, loadRunData, saveBank } from "@lzn/tasks";
 * const run = await loadRun("runs/demo", { recipe: classification });
 * const { train } = await loadRunData(run.config.data, run.config.model.classes);
 * const { bank } = computeBank((b) => run.model.space.anchors("image", b), train, 1000, 0);
 * await saveBank(run.runDir, bank, { ...run.state, weights: run.weights });
 * ```
 */
export async function saveBank(
  dir: string,
  bank: Tensor,
  meta: { step: number; weights: "ema" | "raw"; architectureHash: string },
): Promise<void> {
  await saveSafetensors(join(dir, "bank.safetensors"), { bank }, {
    step: String(meta.step),
    weights: meta.weights,
    architecture: meta.architectureHash,
  });
}

/**
 * Loads a run's bank if it belongs to the run's current checkpoint and the given weights; otherwise says why
 * not (`reason`), so a caller can tell the user how to refresh it.
 *
 * @example
 * ```ts ignore
 * import { loadBank, readRunState } from "@lzn/tasks";
 * const state = await readRunState("runs/demo");
 * const { bank, reason } = await loadBank("runs/demo", state, "ema");
 * ```
 */
export async function loadBank(
  dir: string,
  state: RunState,
  weights: "ema" | "raw",
): Promise<{ bank?: Tensor; reason?: string }> {
  const path = join(dir, "bank.safetensors");
  let loaded;
  try {
    loaded = await loadSafetensors(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return { reason: `${dir} has no anchor bank (${path})` };
    return { reason: `${path} is unreadable (${(e as Error).message})` };
  }
  const { tensors, metadata } = loaded;
  const problem = !tensors.bank
    ? "holds no bank tensor"
    : metadata.architecture !== state.architectureHash
    ? "is from another model"
    : metadata.step !== String(state.step)
    ? `is from step ${metadata.step}, the checkpoint from step ${state.step}`
    : metadata.weights !== weights
    ? `was computed with the ${metadata.weights} weights, not the ${weights} ones`
    : undefined;
  if (problem) {
    for (const t of Object.values(tensors)) t.dispose();
    return { reason: `${path} ${problem}` };
  }
  for (const [k, t] of Object.entries(tensors)) if (k !== "bank") t.dispose();
  return { bank: tensors.bank };
}
