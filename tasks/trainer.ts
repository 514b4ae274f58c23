/**
 * The one trainer: runs any {@link Recipe} from a fresh start or from its run directory's checkpoint. Per
 * step it takes the batch at (epoch order = f(seed, epoch), position), applies the data block's shift
 * augmentation (seeded by (seed, step)), asks the recipe for its objective terms, and then does what every
 * recipe shares: backward of the weighted total, global gradient-norm clip, the non-finite skip on the GPU,
 * Adam with one group per part, warm-up and decay, one EMA per part, frozen parts after their `trainSteps`.
 * Losses are read back only at progress reports. Checkpoints follow the run-directory protocol (run_dir.ts)
 * and hold the state walk (state.ts), so a run stopped or killed resumes bit-identically.
 *
 * @module
 */
import { join } from "node:path";
import {
  bufferPool,
  clipGradNorm,
  finiteFlag,
  lrFactor,
  readTensors,
  scope,
  type Tensor,
  tensor,
} from "@lzn/tensor";
import { epochOrder, hashSeed, randomCrop, type Split } from "@lzn/data";
import type { Recipe, RecipeConfig, RecipeModel, StepContext, TrainBatch } from "./recipe.ts";
import { imageBatch, loadRunData } from "./run_data.ts";
import { buildOptimizers, disposeOptimizers, loadStateDict, type Optimizers, stateDict } from "./state.ts";
import {
  CheckpointError,
  checkRunImages,
  discardRun,
  hasCheckpoint,
  loadCheckpointTensors,
  readRunState,
  type RunState,
  writeCheckpoint,
} from "./run_dir.ts";
import { lockRun } from "./run_lock.ts";
import { formatProgress, type ProgressReport } from "./progress.ts";
import { architectureHash, configHash, diffPaths } from "./config/hash.ts";

/**
 * Options of {@link train}.
 *
 * @example
 * ```ts
 * import type { TrainOptions } from "@lzn/tasks";
 * const opts: TrainOptions = { runDir: ".cache/runs/example", start: "fresh", stopAfter: 50, log: null };
 * ```
 */
export interface TrainOptions {
  /** Run directory (default `runs/<config.name>`). */
  runDir?: string;
  /** `"resume"` (default): continue from the directory's checkpoint if there is one; `"fresh"`: discard it. */
  start?: "resume" | "fresh";
  /** Stop once the run has done this many steps in total (checkpointing there), as if killed right after. */
  stopAfter?: number;
  /**
   * Stops the training after the step in flight when aborted, with a progress line and a checkpoint there, so
   * nothing done is lost (the CLI aborts it on Ctrl-C).
   */
  signal?: AbortSignal;
  /** Called at every progress report (default: the progress line on stderr). */
  onProgress?: (report: ProgressReport) => void;
  /** Notices (resume, config changes, checkpoints); default stderr. `null` silences them. */
  log?: ((line: string) => void) | null;
  /** Pre-loaded data (default: the config's data block through `@lzn/data`). */
  data?: { train: Split; test: Split };
}

/**
 * A trained (or partly trained) run: its model with the training weights, the optimizers with the EMA
 * shadows, and the run directory's lock, held until `dispose()`.
 *
 * @example
 * ```ts ignore
 * import { classification, parseRecipeConfig, train } from "@lzn/tasks";
 * const config = parseRecipeConfig({ recipe: "classification", train: { steps: 20 } }, "example");
 * const run = await train(classification, config, { runDir: ".cache/runs/example" });
 * console.log(run.state.step, run.history.length);
 * run.dispose();
 * ```
 */
export interface TrainedRun<C extends RecipeConfig = RecipeConfig, M extends RecipeModel = RecipeModel> {
  /** The recipe. */
  recipe: Recipe<C, M>;
  /** The config trained with. */
  config: C;
  /** The model (training weights in its parameters). */
  model: M;
  /** Adam and the per-part EMAs. */
  optimizers: Optimizers;
  /** The state of the last checkpoint written. */
  state: RunState;
  /** Every progress report of this session. */
  history: ProgressReport[];
  /** The data the run used. */
  data: { train: Split; test: Split };
  /** The run directory. */
  runDir: string;
  /** Frees the model and optimizers and releases the run directory. */
  dispose(): void;
}

/** A named random stream as a number for `hashSeed` (FNV-1a of the name). */
function streamId(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

/**
 * Trains (or resumes training of) a recipe config, checkpointing into the run directory.
 *
 * @example
 * ```ts ignore
 * import { classification, parseRecipeConfig, train } from "@lzn/tasks";
 * const config = parseRecipeConfig(
 *   { recipe: "classification", data: { trainPerClass: 50 }, model: { classes: 3 }, train: { steps: 20, batchSize: 50 } },
 *   "example",
 * );
 * const run = await train(classification, config, { runDir: ".cache/runs/tiny", start: "fresh" });
 * console.log(run.state.step); // 20
 * run.dispose();
 * ```
 */
export async function train<C extends RecipeConfig, M extends RecipeModel>(
  recipe: Recipe<C, M>,
  config: C,
  opts: TrainOptions = {},
): Promise<TrainedRun<C, M>> {
  const started = performance.now();
  const log = opts.log === undefined ? (line: string) => console.error(line) : opts.log;
  const dir = opts.runDir ?? join("runs", config.name);
  if (opts.stopAfter !== undefined && !(Number.isInteger(opts.stopAfter) && opts.stopAfter >= 1)) {
    throw new RangeError(`stopAfter must be a step >= 1, got ${opts.stopAfter}`);
  }
  await recipe.check?.(config);
  await checkRunImages(dir, recipe.images); // a file under a run image's name that is not the run's stays
  // The inputs are checked before the lock creates the run directory: a config that cannot train leaves none.
  const t = config.train;
  const data = opts.data ?? await loadRunData(config.data, recipe.classes(config));
  const batchesPerEpoch = Math.floor(data.train.count / t.batchSize);
  if (batchesPerEpoch < 1) {
    throw new RangeError(
      `train.batchSize ${t.batchSize} is larger than the training set (${data.train.count} images)`,
    );
  }
  const lock = await lockRun(dir, log ?? undefined);
  let disposeAll = () => lock.release();
  try {
    const arch = await architectureHash(recipe, config);
    let previous: RunState | undefined;
    if (await hasCheckpoint(dir)) {
      if ((opts.start ?? "resume") === "fresh") {
        const removed = await discardRun(dir);
        log?.(`fresh start: removed ${removed.join(", ")} from ${dir}`);
      } else {
        previous = await readRunState(dir, (name) => {
          if (name === recipe.name) return recipe;
          throw new CheckpointError(
            `${dir} holds a run of recipe ${name}, not ${recipe.name}; use another run name, or --fresh to discard it`,
          );
        });
        if (previous.architectureHash !== arch) {
          // Name what changed in what the architecture hash covers; the hashes where that shows nothing.
          const changed = diffPaths(recipe.architecture(previous.config as C), recipe.architecture(config));
          const what = changed.length
            ? `changed: ${changed.join(", ")}`
            : `architecture ${previous.architectureHash}, this config ${arch}`;
          throw new CheckpointError(
            `${dir} holds a checkpoint of another model (${what}); use another run name, or --fresh to discard it`,
          );
        }
      }
    }

    const model = recipe.build(config);
    const optimizers = buildOptimizers(model, t.emaDecay);
    disposeAll = () => {
      disposeOptimizers(optimizers);
      model.dispose();
      lock.release();
    };
    let step = 0, skipped = 0, seconds = 0;
    if (previous) {
      const changed = diffPaths(previous.config, config).filter((p) => !p.startsWith("eval."));
      if (changed.length) log?.(`resume: config changed since the checkpoint: ${changed.join(", ")}`);
      const tensors = await loadCheckpointTensors(dir, previous);
      try {
        loadStateDict(model, tensors, optimizers, `the checkpoint in ${dir}`);
      } catch (e) {
        throw new CheckpointError((e as Error).message);
      } finally {
        for (const x of Object.values(tensors)) x.dispose();
      }
      ({ step, skipped, seconds } = previous);
      log?.(
        step >= t.steps
          ? `resume: ${dir} is at step ${step}, already at or past train.steps ${t.steps}: nothing to train`
          : `resume: ${dir} at step ${step} of ${t.steps} (its last checkpoint; any later steps run again)`,
      );
    }

    await recipe.start?.(model, config, { data, runDir: dir, step });
    const parts = Object.entries(model.parts);
    const params = parts.flatMap(([, p]) => p.module.parameters());
    const stopAt = Math.min(t.steps, opts.stopAfter ?? Infinity);
    const history: ProgressReport[] = [];
    const onProgress = opts.onProgress ?? ((r: ProgressReport) => console.error(formatProgress(r)));
    const pending: { total: Tensor; terms: Record<string, Tensor>; finite: Tensor }[] = [];
    const hash = await configHash(config);
    const { rows, cols } = data.train;
    let order: Int32Array | undefined, orderEpoch = -1;
    let windowStart = performance.now(), windowSteps = 0, lastYield = windowStart;
    const setupSeconds = (windowStart - started) / 1000;
    let state: RunState | undefined = previous;

    let saved = 0, savedSeconds = 0, savedBytes = 0;
    const checkpoint = async () => {
      const t0 = performance.now();
      const tensors = stateDict(model, optimizers);
      savedBytes = Object.values(tensors).reduce((a, x) => a + x.size * 4, 0);
      state = await writeCheckpoint(dir, tensors, {
        recipe: recipe.name,
        step,
        data: { epoch: Math.floor(step / batchesPerEpoch), batch: step % batchesPerEpoch, batchesPerEpoch },
        skipped,
        seconds,
        configHash: hash,
        architectureHash: arch,
        config,
      });
      saved++;
      savedSeconds += (performance.now() - t0) / 1000;
    };
    const report = async () => {
      const named: Record<string, Tensor> = {};
      pending.forEach((p, i) => {
        named[`t${i}`] = p.total;
        named[`f${i}`] = p.finite;
        for (const [k, v] of Object.entries(p.terms)) named[`${k}.${i}`] = v;
      });
      const host = await readTensors(named);
      let total = 0, ok = 0;
      const terms: Record<string, number> = {};
      pending.forEach((p, i) => {
        if (host[`f${i}`].data[0] !== 1) return void skipped++;
        total += host[`t${i}`].data[0];
        for (const k of Object.keys(p.terms)) terms[k] = (terms[k] ?? 0) + host[`${k}.${i}`].data[0];
        ok++;
      });
      for (const p of pending.splice(0)) {
        for (const x of [p.total, p.finite, ...Object.values(p.terms)]) x.dispose();
      }
      const now = performance.now();
      seconds += (now - windowStart) / 1000;
      for (const k of Object.keys(terms)) terms[k] /= ok;
      const r: ProgressReport = {
        step,
        total: t.steps,
        loss: ok ? total / ok : NaN,
        terms,
        itPerSec: windowSteps / ((now - windowStart) / 1000),
        skipped,
        gpuBytes: bufferPool.liveBytes + bufferPool.cachedBytes,
      };
      history.push(r);
      onProgress(r);
      windowStart = performance.now();
      windowSteps = 0;
    };

    while (step < stopAt && !opts.signal?.aborted) {
      const epoch = Math.floor(step / batchesPerEpoch), b = step % batchesPerEpoch;
      if (epoch !== orderEpoch) {
        order = epochOrder(data.train.count, t.seed, epoch);
        orderEpoch = epoch;
      }
      const { batch, labels } = imageBatch(
        data.train,
        order!.subarray(b * t.batchSize, (b + 1) * t.batchSize),
      );
      const pixels = config.data.shift > 0
        ? randomCrop(batch.images, {
          seed: hashSeed(t.seed, streamId("shift"), step),
          pad: config.data.shift,
          rows,
          cols,
        })
        : batch.images;
      const active = parts.map(([, p]) => p.trainSteps === undefined || step < p.trainSteps);
      parts.forEach(([, p], i) => p.trainSteps !== undefined && p.module.requireGrad(active[i]));
      const at = step;
      const ctx: StepContext = { step, seed: (stream) => hashSeed(t.seed, streamId(stream), at) };
      const out = scope(() => {
        const shape = [batch.count, 1, rows, cols];
        const images = tensor(pixels, shape);
        let original: Tensor | undefined;
        const trainBatch: TrainBatch = {
          images,
          labels,
          count: batch.count,
          get original() {
            return original ??= pixels === batch.images ? images : tensor(batch.images, shape);
          },
        };
        const objective = recipe.objective(model, trainBatch, ctx, config);
        let total: Tensor | undefined;
        for (const { loss, weight } of Object.values(objective)) {
          const term = weight === 1 ? loss : loss.mul(weight);
          total = total ? total.add(term) : term;
        }
        if (!total) throw new Error(`recipe ${recipe.name}: the objective has no terms`);
        total.backward();
        const norm = clipGradNorm(params, t.clipNorm);
        const finite = finiteFlag(total, norm);
        optimizers.adam.step({
          finite,
          lrScale: lrFactor(step, { warmupSteps: t.warmupSteps, steps: t.steps, kind: t.lrSchedule }),
        });
        parts.forEach(([name], i) => active[i] && optimizers.emas.get(name)!.update({ finite }));
        optimizers.adam.zeroGrad();
        return {
          total,
          finite,
          terms: Object.fromEntries(Object.entries(objective).map(([k, v]) => [k, v.loss])),
        };
      });
      pending.push(out);
      step++;
      windowSteps++;
      if (step % t.logEvery === 0 || step === stopAt) await report();
      else if (opts.signal && performance.now() - lastYield > 200) {
        // Recording steps never waits between progress reports: give the event loop (the abort) a turn.
        await new Promise((resolve) => setTimeout(resolve, 0));
        lastYield = performance.now();
      }
      if ((t.checkpointEvery > 0 && step % t.checkpointEvery === 0) || step === stopAt) {
        await checkpoint();
        windowStart = performance.now();
      }
    }
    for (const [, p] of parts) p.module.requireGrad(true);
    if (opts.signal?.aborted && (state as RunState | undefined)?.step !== step) {
      if (pending.length) await report();
      await checkpoint();
      log?.(
        `train: interrupted; checkpoint at step ${step} of ${t.steps} (the same command resumes from it)`,
      );
    }
    if (!state) await checkpoint(); // nothing left to train (stopAfter at or below a fresh run's step)
    // Where the wall clock went besides the steps (the progress windows leave the checkpoints out).
    log?.(
      `train: step ${step}; this session ${setupSeconds.toFixed(1)} s to load and build, ` +
        `${(seconds - (previous?.seconds ?? 0)).toFixed(1)} s of steps, ${saved} checkpoint${
          saved === 1 ? "" : "s"
        } ` +
        `(${(savedBytes / 2 ** 20).toFixed(1)} MiB) in ${savedSeconds.toFixed(1)} s`,
    );
    return {
      recipe,
      config,
      model,
      optimizers,
      state: state!,
      history,
      data,
      runDir: dir,
      dispose: disposeAll,
    };
  } catch (e) {
    disposeAll();
    throw e;
  }
}

/**
 * Swaps the EMA weights of every part in (`true`) or out (`false`).
 *
 * @example
 * ```ts ignore
 * import { swapEma, type TrainedRun } from "@lzn/tasks";
 * function withEma(run: TrainedRun) {
 *   swapEma(run.optimizers, true);
 *   // ... evaluate ...
 *   swapEma(run.optimizers, false);
 * }
 * ```
 */
export function swapEma(optimizers: Pick<Optimizers, "emas">, on: boolean): void {
  for (const ema of optimizers.emas.values()) on ? ema.swapIn() : ema.swapOut();
}
