/**
 * The joint recipe of case study 3 (spec §7.2): per step,
 *
 * 1. `A = ImageEncoder(images)`; `z = DPM-Solver++(A)` (K = 20, τ from the config, fresh noise from a seed
 *    that is a pure function of the step) — one latent per image, shared by both losses;
 * 2. `L_label = Align(A^L, z)` (reverse Euler K = 100, cut-off 0.2, class-frequency weights, no log);
 * 3. `L_RF` = the RF loss of the decoder conditioned on `[z, one-hot(label), t]` (spec §5.4);
 * 4. `total = w_label·L_label + w_RF·L_RF`; backward; global clip; Adam with one learning rate per module;
 *    one EMA per module. A non-finite loss or norm skips the update on the GPU.
 *
 * From `decoderSteps` on the decoder is frozen (no gradient, no Adam or EMA update), while the RF loss still
 * back-propagates through it into the encoder (spec §7.3). `mode: "rf"` trains the decoder alone with no
 * latent input (the baseline). Data order and noise are pure functions of (seed, epoch) and (seed, step), so
 * a resumed run continues the exact sequence of an uninterrupted one, as in `train.ts`.
 *
 * @module
 */
import { join } from "node:path";
import {
  Adam,
  clipGradNorm,
  EMA,
  finiteFlag,
  loadState,
  readTensors,
  scope,
  type Tensor,
  tensor,
} from "@lzn/tensor";
import { alignmentLoss } from "@lzn/latent";
import { epochOrder, hashSeed, type Split } from "@lzn/data";
import { classFrequencies, lrFactor, type TrainOptions } from "./train.ts";
import { gatherBatch, loadRunData } from "./data.ts";
import { CheckpointError, hasCheckpoint } from "./checkpoint.ts";
import { stableHash } from "./config.ts";
import { formatProgress, type ProgressReport } from "./progress.ts";
import { classifierConfigOf, jointArchitectureHash, type JointConfig } from "./joint_config.ts";
import { JointModel } from "./joint_model.ts";
import {
  type JointRunState,
  loadJointCheckpoint,
  readJointState,
  writeJointCheckpoint,
} from "./joint_checkpoint.ts";

/**
 * One progress report of a joint run: the total loss and its two parts (means since the last report).
 *
 * @example
 * ```ts
 * import type { JointProgress } from "@lzn/tasks";
 * const show = (r: JointProgress) => console.log(r.step, r.labelLoss, r.rfLoss);
 * ```
 */
export interface JointProgress extends ProgressReport {
  /** Mean label alignment loss (NaN in `rf` mode). */
  labelLoss: number;
  /** Mean RF loss. */
  rfLoss: number;
}

/**
 * Options of {@link trainJoint} (as the classification recipe's, with joint progress reports).
 *
 * @example
 * ```ts
 * import type { JointTrainOptions } from "@lzn/tasks";
 * const opts: JointTrainOptions = { runDir: "runs/j", start: "fresh", stopAfter: 100 };
 * ```
 */
export type JointTrainOptions = Omit<TrainOptions, "onProgress"> & {
  /** Called at every progress report (default: the progress line on stderr). */
  onProgress?: (report: JointProgress) => void;
};

/**
 * One EMA per module; the decoder's stops updating once the decoder is frozen.
 *
 * @example
 * ```ts
 * import type { JointEmas } from "@lzn/tasks";
 * const updates = (emas: JointEmas) => emas.decoder.stateDict().num_updates;
 * ```
 */
export interface JointEmas {
  /** The decoder's EMA. */
  decoder: EMA;
  /** The image encoder's EMA (`joint` mode). */
  encoder: EMA | undefined;
  /** The label anchors' EMA (`joint` mode). */
  anchors: EMA | undefined;
}

/**
 * A trained (or partly trained) joint run.
 *
 * @example
 * ```ts
 * import { parseJointConfig, trainJoint, type TrainedJoint } from "@lzn/tasks";
 * const run: TrainedJoint = await trainJoint(parseJointConfig({ train: { steps: 2 } }));
 * run.dispose();
 * ```
 */
export interface TrainedJoint {
  /** The modules (training weights in the parameters). */
  model: JointModel;
  /** The EMAs (`swapEma` to evaluate with them). */
  emas: JointEmas;
  /** The state of the last checkpoint written. */
  state: JointRunState;
  /** Every progress report of this session. */
  history: JointProgress[];
  /** The data the run used. */
  data: { train: Split; test: Split };
  /** Frees the model, EMAs and optimizer. */
  dispose(): void;
}

/**
 * Swaps every EMA in (`true`) or out (`false`): the modules compute with the averaged weights in between.
 *
 * @example
 * ```ts
 * import { swapEma, type TrainedJoint } from "@lzn/tasks";
 * function withEma(run: TrainedJoint) {
 *   swapEma(run.emas, true);
 *   // ... evaluate ...
 *   swapEma(run.emas, false);
 * }
 * ```
 */
export function swapEma(emas: JointEmas, on: boolean): void {
  for (const ema of [emas.decoder, emas.encoder, emas.anchors]) {
    if (ema) on ? ema.swapIn() : ema.swapOut();
  }
}

/** Checkpoint names of the EMA and Adam state, as the classification recipe's with a module prefix. */
function stateTensors(model: JointModel, emas: JointEmas, adam: Adam): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  for (const [n, p] of model.namedParameters()) out[`model.${n}`] = p;
  for (const [name, ema] of Object.entries(emas) as [string, EMA | undefined][]) {
    if (ema) { for (const [k, v] of Object.entries(ema.stateDict())) out[`ema.${name}.${k}`] = v; }
  }
  for (const [k, v] of Object.entries(adam.stateDict())) out[`adam.${k}`] = v;
  return out;
}

/**
 * Copies a joint checkpoint's tensors into the parameters, EMAs and (if given) Adam.
 *
 * @example
 * ```ts
 * import { JointModel, loadJointCheckpoint, restoreJoint } from "@lzn/tasks";
 * const { state, tensors } = await loadJointCheckpoint("runs/lzn-joint");
 * const model = new JointModel(state.config);
 * restoreJoint(tensors, model);
 * ```
 */
export function restoreJoint(
  tensors: Record<string, Tensor>,
  model: JointModel,
  emas?: JointEmas,
  adam?: Adam,
): void {
  const pick = (prefix: string) =>
    Object.fromEntries(
      Object.entries(tensors).filter(([k]) => k.startsWith(prefix)).map((
        [k, v],
      ) => [k.slice(prefix.length), v]),
    );
  try {
    loadState(Object.fromEntries(model.namedParameters()), pick("model."), { what: "joint parameters" });
    if (emas) {
      for (const [name, ema] of Object.entries(emas) as [string, EMA | undefined][]) {
        ema?.loadStateDict(pick(`ema.${name}.`));
      }
    }
    adam?.loadStateDict(pick("adam."));
  } catch (e) {
    throw new CheckpointError(`the checkpoint does not fit this model: ${(e as Error).message}`);
  }
}

/**
 * Trains (or resumes) a joint or RF-baseline run, checkpointing into the run directory.
 *
 * @example
 * ```ts
 * import { parseJointConfig, trainJoint } from "@lzn/tasks";
 * const config = parseJointConfig({ name: "tiny-joint", data: { trainPerClass: 20 },
 *   model: { latentDim: 8, decoder: { channels: [8, 8, 8] } }, train: { steps: 5, batchSize: 20 } });
 * const run = await trainJoint(config, { runDir: ".cache/runs/tiny-joint", start: "fresh" });
 * run.dispose();
 * ```
 */
export async function trainJoint(config: JointConfig, opts: JointTrainOptions = {}): Promise<TrainedJoint> {
  if (config.mode === "classifier") {
    throw new Error(
      'trainJoint: mode "classifier" is the classification recipe; run trainClassifier(classifierConfigOf(config))',
    );
  }
  const log = opts.log === undefined ? (line: string) => console.error(line) : opts.log;
  const dir = opts.runDir ?? join("runs", config.name);
  const t = config.train;
  const data = opts.data ?? await loadRunData(classifierConfigOf(config));
  const batchesPerEpoch = Math.floor(data.train.count / t.batchSize);
  if (batchesPerEpoch < 1) {
    throw new Error(
      `train.batchSize ${t.batchSize} is larger than the training set (${data.train.count} images)`,
    );
  }
  const arch = await jointArchitectureHash(config);
  let previous: JointRunState | undefined;
  if (await hasCheckpoint(dir)) {
    if ((opts.start ?? "resume") === "fresh") await discardCheckpoints(dir);
    else previous = await readJointState(dir);
  }
  if (previous && previous.architectureHash !== arch) {
    throw new CheckpointError(
      `${dir} holds a checkpoint of another model (architecture ${previous.architectureHash}, this config ` +
        `${arch}); use another run name, or --fresh to discard it`,
    );
  }

  const model = new JointModel(config);
  const groups = model.groups();
  const params = [...groups.decoder, ...groups.encoder, ...groups.anchors];
  const adam = new Adam([
    { params: groups.decoder, lr: t.decoderLr },
    ...(groups.encoder.length ? [{ params: groups.encoder, lr: t.encoderLr }] : []),
    ...(groups.anchors.length ? [{ params: groups.anchors, lr: t.anchorLr }] : []),
  ]);
  const emas: JointEmas = {
    decoder: new EMA(groups.decoder, { decay: t.emaDecay }),
    encoder: groups.encoder.length ? new EMA(groups.encoder, { decay: t.emaDecay }) : undefined,
    anchors: groups.anchors.length ? new EMA(groups.anchors, { decay: t.emaDecay }) : undefined,
  };
  const dispose = () => {
    adam.dispose();
    for (const ema of [emas.decoder, emas.encoder, emas.anchors]) ema?.dispose();
    model.dispose();
  };
  const seeds = {
    data: t.seed,
    latentNoise: hashSeed(t.seed, 0x6e6f6973),
    rfNoise: hashSeed(t.seed, 0x72660000),
  };
  let step = 0, skipped = 0, seconds = 0;
  if (previous) {
    if (previous.configHash !== await stableHash(config)) {
      log?.("resume: the config changed since the checkpoint");
    }
    const { tensors } = await loadJointCheckpoint(dir);
    try {
      restoreJoint(tensors, model, emas, adam);
    } catch (e) {
      dispose();
      throw e;
    } finally {
      for (const x of Object.values(tensors)) x.dispose();
    }
    ({ step, skipped, seconds } = previous);
    log?.(`resume: ${dir} at step ${step}`);
  }

  const { classes } = config.model;
  const imageShape = model.decoder.imageShape;
  const stopAt = Math.min(t.steps, opts.stopAfter ?? Infinity);
  const history: JointProgress[] = [];
  const onProgress = opts.onProgress ??
    ((r: JointProgress) =>
      console.error(
        `${formatProgress(r)}${Number.isNaN(r.labelLoss) ? "" : `  label ${r.labelLoss.toFixed(4)}`}` +
          `  rf ${r.rfLoss.toFixed(4)}`,
      ));
  const pending: { loss: Tensor; label?: Tensor; rf: Tensor; finite: Tensor }[] = [];
  let order: Int32Array | undefined, orderEpoch = -1;
  let windowStart = performance.now(), windowSteps = 0;
  let state: JointRunState | undefined = previous;

  const checkpoint = async () => {
    state = await writeJointCheckpoint(dir, stateTensors(model, emas, adam), {
      step,
      data: { epoch: Math.floor(step / batchesPerEpoch), batch: step % batchesPerEpoch, batchesPerEpoch },
      seeds,
      skipped,
      seconds,
      config,
    });
  };
  const report = async () => {
    const named: Record<string, Tensor> = {};
    pending.forEach((p, i) => {
      named[`t${i}`] = p.loss;
      named[`r${i}`] = p.rf;
      named[`f${i}`] = p.finite;
      if (p.label) named[`l${i}`] = p.label;
    });
    const host = await readTensors(named);
    let total = 0, label = 0, rf = 0, ok = 0;
    pending.forEach((_, i) => {
      if (host[`f${i}`].data[0] !== 1) return void skipped++;
      total += host[`t${i}`].data[0];
      rf += host[`r${i}`].data[0];
      label += host[`l${i}`]?.data[0] ?? NaN;
      ok++;
    });
    for (const p of pending.splice(0)) for (const x of [p.loss, p.label, p.rf, p.finite]) x?.dispose();
    const now = performance.now();
    seconds += (now - windowStart) / 1000;
    const r: JointProgress = {
      step,
      total: t.steps,
      loss: ok ? total / ok : NaN,
      labelLoss: ok ? label / ok : NaN,
      rfLoss: ok ? rf / ok : NaN,
      itPerSec: windowSteps / ((now - windowStart) / 1000),
      skipped,
    };
    history.push(r);
    onProgress(r);
    windowStart = performance.now();
    windowSteps = 0;
  };

  while (step < stopAt) {
    const epoch = Math.floor(step / batchesPerEpoch), b = step % batchesPerEpoch;
    if (epoch !== orderEpoch) {
      order = epochOrder(data.train.count, seeds.data, epoch);
      orderEpoch = epoch;
    }
    const { batch, labels } = gatherBatch(
      data.train,
      order!.subarray(b * t.batchSize, (b + 1) * t.batchSize),
    );
    // The staggered schedule: a frozen decoder gets no gradient, so Adam and its EMA leave it alone.
    const decoderOn = t.decoderSteps === undefined || step < t.decoderSteps;
    model.decoder.requireGrad(decoderOn);
    const out = scope(() => {
      const images = tensor(batch.images, [batch.count, ...imageShape]);
      let label: Tensor | undefined, latents: Tensor | undefined;
      const classifier = model.classifier;
      if (classifier) {
        const anchors = classifier.image.forward(images);
        latents = classifier.image.latentsOf(anchors, {
          tau: t.tau,
          seed: hashSeed(seeds.latentNoise, step),
        });
        const weights = t.classWeights ? tensor(classFrequencies(labels, classes), [classes]) : undefined;
        label = alignmentLoss(classifier.label.anchorSet, latents, labels, {
          steps: t.alignment.steps,
          cutoff: t.alignment.cutoff,
          log: t.alignment.log,
          weights,
        });
      }
      const rf = model.decoder.loss(images, { latents, labels, seed: hashSeed(seeds.rfNoise, step) });
      const weightedRf = rf.mul(t.rfWeight);
      const loss = label ? label.mul(t.labelWeight).add(weightedRf) : weightedRf;
      loss.backward();
      const norm = clipGradNorm(params, t.clipNorm);
      const finite = finiteFlag(loss, norm);
      adam.step({ finite, lrScale: lrFactor(t, step) });
      if (decoderOn) emas.decoder.update({ finite });
      emas.encoder?.update({ finite });
      emas.anchors?.update({ finite });
      adam.zeroGrad();
      return { loss, label, rf, finite };
    });
    pending.push(out);
    step++;
    windowSteps++;
    if (step % t.logEvery === 0 || step === stopAt) await report();
    if ((t.checkpointEvery > 0 && step % t.checkpointEvery === 0) || step === stopAt) {
      await checkpoint();
      windowStart = performance.now();
    }
  }
  if (!state) await checkpoint();
  model.decoder.requireGrad(true);
  return { model, emas, state: state!, history, data, dispose };
}

async function discardCheckpoints(dir: string): Promise<void> {
  for await (const entry of Deno.readDir(dir)) {
    if (entry.name === "state.json" || /^checkpoint-\d+\.safetensors$/.test(entry.name)) {
      await Deno.remove(join(dir, entry.name));
    }
  }
}
