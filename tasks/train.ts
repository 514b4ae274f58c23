/**
 * The LZN classification recipe (spec §7.2 without the generation loss): per step,
 *
 * 1. `anchors = ImageEncoder(images)`; `z = computeLatents(anchors)` (DPM-Solver++, K = 20, τ = 1, fresh
 *    noise from a seed that is a pure function of the step);
 * 2. `loss = Align(label anchors, z)` (reverse Euler K = 100, cut-off 0.2, class-frequency weights of the
 *    batch);
 * 3. backward; global gradient-norm clip; Adam with one learning rate for the encoder and one for the label
 *    anchors, linear warm-up; EMA of every parameter. A non-finite loss or gradient norm skips the update on
 *    the GPU (no readback needed).
 *
 * The data order is a pure function of (seed, epoch) and the step's noise of (seed, step), so a run resumed
 * from a checkpoint continues exactly the sequence it would have followed; checkpoints hold parameters, EMA
 * shadows and Adam moments (see `checkpoint.ts`).
 *
 * @module
 */
import { join } from "node:path";
import {
  Adam,
  clipGradNorm,
  EMA,
  finiteFlag,
  linearWarmup,
  loadState,
  readTensors,
  scope,
  type Tensor,
  tensor,
} from "@lzn/tensor";
import { epochOrder, hashSeed, randomCrop, type Split } from "@lzn/data";
import { architectureHash, type ClassifierConfig } from "./config.ts";
import { LznClassifier } from "./classifier.ts";
import {
  CheckpointError,
  hasCheckpoint,
  loadCheckpoint,
  readRunState,
  type RunState,
  writeCheckpoint,
} from "./checkpoint.ts";
import { gatherBatch, loadRunData } from "./data.ts";
import { formatProgress, type ProgressReport } from "./progress.ts";

/**
 * What to do when the run directory already holds a checkpoint.
 *
 * @example
 * ```ts
 * import { parseClassifierConfig, type StartMode, trainClassifier } from "@lzn/tasks";
 * const start: StartMode = Deno.args.includes("--fresh") ? "fresh" : "resume";
 * const run = await trainClassifier(parseClassifierConfig({}), { start });
 * run.dispose();
 * ```
 */
export type StartMode = "resume" | "fresh";

/**
 * Options of {@link trainClassifier}.
 *
 * @example
 * ```ts
 * import { parseClassifierConfig, trainClassifier, type TrainOptions } from "@lzn/tasks";
 * const opts: TrainOptions = {
 *   runDir: ".cache/runs/example",
 *   start: "fresh",
 *   stopAfter: 50,
 *   onProgress: (r) => console.log(r.step, r.loss),
 *   log: null,
 * };
 * const run = await trainClassifier(parseClassifierConfig({ train: { steps: 100 } }), opts);
 * run.dispose();
 * ```
 */
export interface TrainOptions {
  /** Run directory (default `runs/<config.name>`). */
  runDir?: string;
  /** `"resume"` (default): continue from the directory's checkpoint if there is one; `"fresh"`: discard it. */
  start?: StartMode;
  /** Stop once this many steps are done (after checkpointing there), as if the run were killed right after. */
  stopAfter?: number;
  /** Called at every progress report (default: the progress line on stderr). */
  onProgress?: (report: ProgressReport) => void;
  /** Notices (resume, config changes, checkpoints); default stderr. `null` silences them. */
  log?: ((line: string) => void) | null;
  /** Pre-loaded data (default: {@link loadRunData}). */
  data?: { train: Split; test: Split };
}

/**
 * A trained (or partly trained) classifier with its optimizer state.
 *
 * @example
 * ```ts
 * import { classify, parseClassifierConfig, trainClassifier, type TrainedClassifier } from "@lzn/tasks";
 * const run: TrainedClassifier = await trainClassifier(parseClassifierConfig({ train: { steps: 20 } }));
 * run.ema.swapIn(); // evaluate with the EMA weights
 * const { images, labels, count } = run.data.test;
 * console.log(run.state.step, run.history.length, count, labels.length, images.length);
 * run.ema.swapOut();
 * run.dispose();
 * ```
 */
export interface TrainedClassifier {
  /** The modules (training weights are in the parameters). */
  model: LznClassifier;
  /** EMA shadows of every parameter (`ema.swapIn()` to evaluate with them). */
  ema: EMA;
  /** The state of the last checkpoint written. */
  state: RunState;
  /** Every progress report of this session. */
  history: ProgressReport[];
  /** Data the run used. */
  data: { train: Split; test: Split };
  /** Frees the model, the EMA and the optimizer. */
  dispose(): void;
}

/**
 * The learning-rate factor at a step: linear warm-up, times a cosine decay to 0 at `steps` if asked.
 *
 * @example
 * ```ts
 * import { lrFactor, TrainConfig } from "@lzn/tasks";
 * console.log(lrFactor(TrainConfig.parse({ steps: 100, lrSchedule: "cosine" }), 50)); // 0.5
 * ```
 */
export function lrFactor(
  t: { warmupSteps: number; steps: number; lrSchedule: "constant" | "cosine" },
  step: number,
): number {
  const warm = linearWarmup(step, t.warmupSteps);
  return t.lrSchedule === "cosine"
    ? warm * 0.5 * (1 + Math.cos(Math.PI * Math.min(step, t.steps) / t.steps))
    : warm;
}

/**
 * Per-class frequencies of a batch's labels (spec §4.7): absent classes get weight 0.
 *
 * @example
 * ```ts
 * import { classFrequencies } from "@lzn/tasks";
 * console.log(classFrequencies(Int32Array.from([0, 0, 2, 1]), 3)); // [0.5, 0.25, 0.25]
 * ```
 */
export function classFrequencies(labels: Int32Array, classes: number): Float32Array {
  const w = new Float32Array(classes);
  for (const c of labels) w[c] += 1 / labels.length;
  return w;
}

/**
 * Trains (or resumes training of) an LZN classifier, checkpointing into the run directory.
 *
 * @example
 * ```ts
 * import { parseClassifierConfig, trainClassifier } from "@lzn/tasks";
 * const config = parseClassifierConfig({ name: "tiny", data: { trainPerClass: 50 }, model: { classes: 3 },
 *   train: { steps: 20, batchSize: 50 } });
 * const run = await trainClassifier(config, { runDir: ".cache/runs/tiny", start: "fresh" });
 * console.log(run.state.step); // 20
 * run.dispose();
 * ```
 */
export async function trainClassifier(
  config: ClassifierConfig,
  opts: TrainOptions = {},
): Promise<TrainedClassifier> {
  const log = opts.log === undefined ? (line: string) => console.error(line) : opts.log;
  const dir = opts.runDir ?? join("runs", config.name);
  const t = config.train;
  const data = opts.data ?? await loadRunData(config);
  const batchesPerEpoch = Math.floor(data.train.count / t.batchSize);
  if (batchesPerEpoch < 1) {
    throw new Error(
      `train.batchSize ${t.batchSize} is larger than the training set (${data.train.count} images)`,
    );
  }
  const arch = await architectureHash(config.model);
  let previous: RunState | undefined;
  if (await hasCheckpoint(dir)) {
    if ((opts.start ?? "resume") === "fresh") await discardCheckpoints(dir);
    else previous = await readRunState(dir);
  }

  const model = new LznClassifier(config.model);
  const named = model.namedParameters();
  const params = named.map(([, p]) => p);
  const adam = new Adam([
    { params: model.image.parameters(), lr: t.encoderLr },
    { params: [model.label.anchorSet], lr: t.anchorLr },
  ]);
  const ema = new EMA(params, { decay: t.emaDecay });
  const seeds = {
    data: t.seed,
    noise: hashSeed(t.seed, 0x6e6f6973),
    encoderInit: config.model.encoder.seed,
    labelInit: config.model.labelSeed,
  };
  let step = 0, skipped = 0, seconds = 0;
  if (previous) {
    if (previous.architectureHash !== arch) {
      model.dispose();
      throw new CheckpointError(
        `${dir} holds a checkpoint of another model (architecture ${previous.architectureHash}, this config ` +
          `${arch}); use another run name, or --fresh to discard it`,
      );
    }
    const changed = diffPaths(previous.config, config).filter((p) => !p.startsWith("eval."));
    if (changed.length) log?.(`resume: config changed since the checkpoint: ${changed.join(", ")}`);
    const { tensors } = await loadCheckpoint(dir, arch);
    restore(tensors, named, ema, adam);
    for (const x of Object.values(tensors)) x.dispose();
    ({ step, skipped, seconds } = previous);
    log?.(`resume: ${dir} at step ${step}`);
  }

  const align = model.space.alignment({ from: "image", to: "label" });
  const stopAt = Math.min(t.steps, opts.stopAfter ?? Infinity);
  const history: ProgressReport[] = [];
  const onProgress = opts.onProgress ?? ((r: ProgressReport) => console.error(formatProgress(r)));
  const pending: { loss: Tensor; finite: Tensor }[] = [];
  let order: Int32Array | undefined, orderEpoch = -1;
  let windowStart = performance.now(), windowSteps = 0;
  let state: RunState | undefined = previous;

  const checkpoint = async () => {
    const tensors: Record<string, Tensor> = {};
    for (const [n, p] of named) tensors[`model.${n}`] = p;
    for (const [k, v] of Object.entries(ema.stateDict())) tensors[`ema.${k}`] = v;
    for (const [k, v] of Object.entries(adam.stateDict())) tensors[`adam.${k}`] = v;
    state = await writeCheckpoint(dir, tensors, {
      step,
      data: { epoch: Math.floor(step / batchesPerEpoch), batch: step % batchesPerEpoch, batchesPerEpoch },
      seeds,
      skipped,
      seconds,
      config,
    });
  };
  const report = async () => {
    const host = await readTensors(
      Object.fromEntries(pending.flatMap(({ loss, finite }, i) => [[`l${i}`, loss], [`f${i}`, finite]])),
    );
    let sum = 0, ok = 0;
    pending.forEach((_, i) => {
      if (host[`f${i}`].data[0] === 1) {
        sum += host[`l${i}`].data[0];
        ok++;
      } else skipped++;
    });
    for (const { loss, finite } of pending.splice(0)) {
      loss.dispose();
      finite.dispose();
    }
    const now = performance.now();
    seconds += (now - windowStart) / 1000;
    const r: ProgressReport = {
      step,
      total: t.steps,
      loss: ok ? sum / ok : NaN,
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
    if (t.shift > 0) {
      batch.images = randomCrop(batch.images, {
        seed: hashSeed(seeds.data, 0x73686674, step),
        pad: t.shift,
        rows: data.train.rows,
        cols: data.train.cols,
      });
    }
    const out = scope(() => {
      const weights = t.classWeights
        ? tensor(classFrequencies(labels, config.model.classes), [config.model.classes])
        : undefined;
      const loss = align.loss(batch, labels, {
        seed: hashSeed(seeds.noise, step),
        tau: t.tau,
        steps: t.alignment.steps,
        cutoff: t.alignment.cutoff,
        log: t.alignment.log,
        weights,
      });
      loss.backward();
      const norm = clipGradNorm(params, t.clipNorm);
      const finite = finiteFlag(loss, norm);
      adam.step({ finite, lrScale: lrFactor(t, step) });
      ema.update({ finite });
      adam.zeroGrad();
      return { loss, finite };
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
  if (!state) await checkpoint(); // nothing to train (stopAt <= step of a fresh run)
  return {
    model,
    ema,
    state: state!,
    history,
    data,
    dispose() {
      adam.dispose();
      ema.dispose();
      model.dispose();
    },
  };
}

/**
 * Copies checkpoint tensors into the live parameters, EMA shadows and Adam moments (GPU copies).
 *
 * @example
 * ```ts
 * import { EMA } from "@lzn/tensor";
 * import { loadCheckpoint, LznClassifier, restore } from "@lzn/tasks";
 * const { state, tensors } = await loadCheckpoint("runs/demo");
 * const model = new LznClassifier(state.config.model);
 * const named = model.namedParameters();
 * const ema = new EMA(named.map(([, p]) => p), { decay: state.config.train.emaDecay });
 * restore(tensors, named, ema); // raw weights into the model, shadows into the EMA (Adam omitted)
 * ```
 */
export function restore(
  tensors: Record<string, Tensor>,
  named: [string, Tensor][],
  ema?: EMA,
  adam?: Adam,
): void {
  const pick = (prefix: string) =>
    Object.fromEntries(
      Object.entries(tensors).filter(([k]) => k.startsWith(prefix)).map((
        [k, v],
      ) => [k.slice(prefix.length), v]),
    );
  try {
    loadState(Object.fromEntries(named), pick("model."), { what: "classifier parameters" });
    ema?.loadStateDict(pick("ema."));
    adam?.loadStateDict(pick("adam."));
  } catch (e) {
    throw new CheckpointError(`the checkpoint does not fit this model: ${(e as Error).message}`);
  }
}

async function discardCheckpoints(dir: string): Promise<void> {
  for await (const entry of Deno.readDir(dir)) {
    if (entry.name === "state.json" || /^checkpoint-\d+\.safetensors$/.test(entry.name)) {
      await Deno.remove(join(dir, entry.name));
    }
  }
}

/** Dotted paths of the leaves that differ between two JSON values. */
function diffPaths(a: unknown, b: unknown, prefix = ""): string[] {
  if (a && b && typeof a === "object" && typeof b === "object" && !Array.isArray(a) && !Array.isArray(b)) {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    return [...keys].flatMap((k) =>
      diffPaths(
        (a as Record<string, unknown>)[k],
        (b as Record<string, unknown>)[k],
        prefix ? `${prefix}.${k}` : k,
      )
    );
  }
  return JSON.stringify(a) === JSON.stringify(b)
    ? []
    : [`${prefix} ${JSON.stringify(a)} -> ${JSON.stringify(b)}`];
}
