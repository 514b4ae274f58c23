/**
 * Evaluation of a joint or RF-baseline run (with whatever weights are in the modules; callers swap the EMAs
 * in first, as the release evaluates): the classification accuracy of spec §7.5 (joint only, reusing the
 * classification recipe's evaluation), the held-out RF loss (a likelihood proxy: lower is a better velocity
 * field), and the reconstruction error of spec §5.7 (inverse ODE, then forward, same latent and class).
 * Latents are computed over each eval batch as anchor set, at the training τ.
 *
 * @module
 */
import { noGrad, scope, type Tensor, tensor } from "@lzn/tensor";
import { epochOrder, hashSeed, type Split } from "@lzn/data";
import { gatherBatch } from "./data.ts";
import { type EvalReport, evaluateClassifier } from "./evaluate.ts";
import type { JointConfig } from "./joint_config.ts";
import type { JointModel } from "./joint_model.ts";
import { generateFromLabels } from "./generate.ts";
import { evaluateGeneration } from "./metrics/generation_metrics.ts";
import { readReferenceInfo } from "./metrics/reference_checkpoint.ts";
import { CheckpointError } from "./checkpoint.ts";

/**
 * What {@link evaluateJoint} measures.
 *
 * @example
 * ```ts
 * import type { JointEvalReport } from "@lzn/tasks";
 * const row = (r: JointEvalReport) => [r.classification?.headline.accuracy, r.rfLoss, r.reconstructionError];
 * ```
 */
export interface JointEvalReport {
  /** Classification (joint mode; the first eval batch size and τ are the headline). */
  classification?: EvalReport;
  /** Mean RF loss over `rfImages` test images (fixed times and noise). */
  rfLoss: number;
  /** Mean per-image L2 reconstruction error over `reconstructionImages` images and the repetitions. */
  reconstructionError: number;
  /** Velocity evaluations of one reconstruction (inverse + forward). */
  reconstructionNfe: number;
  /** With `eval.reference`: FID of `generationImages` label-conditional images against the test split. */
  fid?: number;
  /** With `eval.reference`: the share of generated images the reference classifier gives their class. */
  generationAccuracy?: number;
}

/**
 * Checks the config's `eval.reference` (if any) before anything expensive runs: it must hold a reference
 * classifier trained on the config's dataset. Throws a `CheckpointError` that says how to make one.
 *
 * @example
 * ```ts
 * import { checkJointReference, parseJointConfig } from "@lzn/tasks";
 * const config = parseJointConfig({ data: { dataset: "fashion-mnist" }, eval: { reference: "runs/ref" } });
 * await checkJointReference(config).catch((e) => console.error(e.message)); // no reference classifier in runs/ref ...
 * ```
 */
export async function checkJointReference(config: JointConfig): Promise<void> {
  const dir = config.eval.reference;
  if (!dir) return;
  const info = await readReferenceInfo(dir);
  if (info.dataset !== config.data.dataset) {
    throw new CheckpointError(
      `eval.reference ${dir} was trained on ${info.dataset}, not ${config.data.dataset}; train one with ` +
        `\`deno task train-reference --dataset ${config.data.dataset} --out <dir>\``,
    );
  }
}

/**
 * Evaluates a model on a test split with the config's `eval` settings.
 *
 * @example
 * ```ts
 * import { evaluateJoint, JointModel, loadRunData, classifierConfigOf, parseJointConfig } from "@lzn/tasks";
 * const config = parseJointConfig({ data: { testPerClass: 10 }, eval: { batchSizes: [100] } });
 * const { test } = await loadRunData(classifierConfigOf(config));
 * const model = new JointModel(config);
 * const report = await evaluateJoint(model, test, config);
 * ```
 */
export async function evaluateJoint(
  model: JointModel,
  test: Split,
  config: JointConfig,
  onStage?: (line: string) => void,
): Promise<JointEvalReport> {
  await checkJointReference(config); // fail before minutes of sampling, not after
  const e = config.eval;
  const tau = config.train.tau;
  const batchSizes = e.batchSizes.map((b) => Math.min(b, test.count));
  const order = epochOrder(test.count, e.seed, 0);
  const classifier = model.classifier;
  const latentsOf = (images: Tensor, seed: number) =>
    classifier ? classifier.image.latentsOf(classifier.image.forward(images), { tau, seed }) : undefined;

  let classification: EvalReport | undefined;
  if (classifier) {
    classification = await evaluateClassifier(classifier, test, {
      batchSizes,
      taus: e.taus,
      seed: e.seed,
      headline: { tau: e.taus[0], batchSize: batchSizes[0] },
    });
    onStage?.(`eval: accuracy ${classification.headline.accuracy.toFixed(4)}`);
  }

  const rfCount = Math.min(e.rfImages, test.count);
  let rfSum = 0;
  for (let start = 0, k = 0; start < rfCount; start += batchSizes[0], k++) {
    const { batch, labels } = gatherBatch(
      test,
      order.subarray(start, Math.min(rfCount, start + batchSizes[0])),
    );
    const loss = scope(() =>
      noGrad(() => {
        const images = tensor(batch.images, [batch.count, ...model.decoder.imageShape]);
        const latents = latentsOf(images, hashSeed(e.seed, 1, k));
        return model.decoder.loss(images, { latents, labels, seed: hashSeed(e.seed, 2, k) });
      })
    );
    rfSum += (await loss.item()) * batch.count;
    loss.dispose();
  }
  const rfLoss = rfCount ? rfSum / rfCount : NaN;
  onStage?.(`eval: RF loss ${rfLoss.toFixed(4)} over ${rfCount} test images`);

  const recCount = Math.min(e.reconstructionImages, test.count);
  let recSum = 0, nfe = 0;
  if (recCount > 0) {
    const { batch, labels } = gatherBatch(test, order.subarray(0, recCount));
    const images = tensor(batch.images, [batch.count, ...model.decoder.imageShape]);
    for (let r = 0; r < e.reconstructionRepeats; r++) {
      // Repetition r has its own latent noise n^(r); the images are one anchor set (spec §5.7).
      const latents = noGrad(() => scope(() => latentsOf(images, hashSeed(e.seed, 3, r))));
      const rec = await model.decoder.reconstructionError(images, { latents, labels }, e.sampler);
      latents?.dispose();
      recSum += rec.error;
      nfe = rec.nfe;
    }
    images.dispose();
  }
  const reconstructionError = recCount ? recSum / e.reconstructionRepeats : NaN;
  onStage?.(`eval: reconstruction error ${reconstructionError.toFixed(4)} over ${recCount} test images`);
  const report: JointEvalReport = { classification, rfLoss, reconstructionError, reconstructionNfe: nfe };
  if (e.reference) {
    const { classes } = config.model;
    const per = model.decoder.imageShape.reduce((a, b) => a * b, 1);
    const intended = Int32Array.from({ length: e.generationImages }, (_, i) => i % classes);
    const images = new Float32Array(e.generationImages * per);
    for (let start = 0, k = 0; start < intended.length; start += batchSizes[0], k++) {
      const labels = intended.subarray(start, Math.min(intended.length, start + batchSizes[0]));
      const out = await generateFromLabels(model, labels, {
        seed: hashSeed(e.seed, 4, k),
        tau, // the training τ: the decoder learned from latents of that noise scale
        sampler: e.sampler,
      });
      images.set(out.images, start * per);
    }
    const m = await evaluateGeneration(e.reference, { images, count: intended.length }, intended, test, {
      dataset: config.data.dataset,
    });
    report.fid = m.fid;
    report.generationAccuracy = m.accuracy.overall.accuracy;
    onStage?.(
      `eval: FID ${m.fid.toFixed(3)}, generation accuracy ${report.generationAccuracy.toFixed(4)} over ` +
        `${intended.length} generated images`,
    );
  }
  return report;
}
