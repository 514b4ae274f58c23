/**
 * Accuracy of inference with the anchor bank (each test image classified against the bank and itself, as
 * `classify` does), and the bank itself, stored with the run: the evaluation that makes a run usable one
 * image at a time.
 *
 * @module
 */
import { type ClassifyingSpace, classifyWithBank } from "./accuracy.ts";
import type { EvalContext } from "../recipe.ts";
import { computeBank, saveBank } from "../bank.ts";
import { imageBatch } from "../run_data.ts";

/**
 * Builds the bank from `eval.bank` training images, classifies every test image against it at `tau`, saves
 * the bank into the run directory (when there is one, and the weights are the EMA ones that inference uses)
 * and returns the accuracy.
 *
 * @example
 * ```ts ignore
 * import { bankAccuracy, classification, loadRun, loadRunData } from "@lzn/tasks";
 * const run = await loadRun("runs/demo", { recipe: classification });
 * const data = await loadRunData(run.config.data, run.config.model.classes);
 * const ctx = { data, log: console.error };
 * const { bankAccuracy: acc } = await bankAccuracy(run.model.space, { eval: { bank: 1000, seed: 0 } }, ctx, 0);
 * ```
 */
export async function bankAccuracy(
  space: ClassifyingSpace,
  config: { eval: { bank: number; seed: number } },
  ctx: EvalContext,
  tau: number,
): Promise<{ bankAccuracy: number; bankSize: number }> {
  const { train, test } = ctx.data;
  const { bank } = computeBank((b) => space.anchors("image", b), train, config.eval.bank, config.eval.seed);
  try {
    const { batch, labels } = imageBatch(test, Int32Array.from({ length: test.count }, (_, i) => i));
    const pred = await classifyWithBank(space, batch, bank, { tau, seed: config.eval.seed });
    const correct = pred.reduce((n, p, i) => n + (p === labels[i] ? 1 : 0), 0);
    const accuracy = correct / test.count;
    ctx.log(
      `eval: ${(accuracy * 100).toFixed(2)}% with the anchor bank (${
        bank.shape[0]
      } training anchors, one image at a time)`,
    );
    // Inference (`classify`, `embed`) uses the EMA weights: an evaluation of the raw ones leaves their bank.
    if (ctx.run?.weights === "ema") await saveBank(ctx.run.dir, bank, ctx.run);
    else if (ctx.run) {
      ctx.log("eval: raw weights: the stored anchor bank (EMA weights, for inference) is left as it was");
    }
    return { bankAccuracy: accuracy, bankSize: bank.shape[0] };
  } finally {
    bank.dispose();
  }
}
