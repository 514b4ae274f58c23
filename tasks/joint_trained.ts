/**
 * Loading a trained joint (or RF-baseline) run for sampling and evaluation.
 *
 * @module
 */
import { EMA } from "@lzn/tensor";
import { CheckpointError } from "./checkpoint.ts";
import { type JointRunState, loadJointCheckpoint } from "./joint_checkpoint.ts";
import { JointModel } from "./joint_model.ts";
import { type JointEmas, restoreJoint } from "./joint_train.ts";

/**
 * Rebuilds the model stored in a run directory (from its saved config) with its EMA weights (default, as
 * the release samples and evaluates) or its raw training weights.
 *
 * @example
 * ```ts
 * import { generateFromLabels, loadJoint } from "@lzn/tasks";
 * const { model } = await loadJoint("runs/lzn-joint");
 * const out = await generateFromLabels(model, Int32Array.from([7, 7]));
 * model.dispose();
 * ```
 */
export async function loadJoint(
  dir: string,
  opts: { weights?: "ema" | "raw" } = {},
): Promise<{ model: JointModel; state: JointRunState }> {
  const { state, tensors } = await loadJointCheckpoint(dir);
  const model = new JointModel(state.config);
  const groups = model.groups();
  const decay = state.config.train.emaDecay;
  const emas: JointEmas = {
    decoder: new EMA(groups.decoder, { decay }),
    encoder: groups.encoder.length ? new EMA(groups.encoder, { decay }) : undefined,
    anchors: groups.anchors.length ? new EMA(groups.anchors, { decay }) : undefined,
  };
  try {
    restoreJoint(tensors, model, emas);
    if ((opts.weights ?? "ema") === "ema") { for (const ema of Object.values(emas)) ema?.copyTo(); }
  } catch (e) {
    model.dispose();
    throw e instanceof CheckpointError ? e : new CheckpointError(`${dir}: ${(e as Error).message}`);
  } finally {
    for (const ema of Object.values(emas)) ema?.dispose();
    for (const t of Object.values(tensors)) t.dispose();
  }
  return { model, state };
}
