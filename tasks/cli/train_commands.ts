/**
 * The commands that train and evaluate: `train` (any recipe from a config file), `demo` (the classification
 * demo config) and `eval`. Progress and notices go to stderr; the last stdout line is one JSON object.
 *
 * @module
 */
import { join } from "node:path";
import { freeCachedMemory, gpu, parseConfig } from "@lzn/tensor";
import { type AnyRecipeConfig, parseRecipeConfig, readConfigFile, recipeOf, RECIPES } from "../registry.ts";
import { train } from "../trainer.ts";
import { evaluateRun, loadRun } from "../run.ts";
import { lockRun } from "../run_lock.ts";
import { checkRunWritable, UsageError } from "./args.ts";
import { checkRunImages, hasCheckpoint, readRunState } from "../run_dir.ts";
import type { Metrics, Recipe } from "../recipe.ts";
import { formatDuration } from "../progress.ts";

const err = (line: string) => console.error(line);

/**
 * The demo: recipe classification with its defaults on MNIST (9,000 train / 1,000 test): q = 32, batch 256,
 * 320 steps, sized to finish inside 10 minutes on a 2-core CPU WebGPU adapter. Measurements in
 * `tasks/README.md`.
 *
 * @example
 * ```ts ignore
 * import { DEMO_CONFIG } from "@lzn/tasks/cli/commands";
 * console.log(DEMO_CONFIG.train.steps); // 320
 * ```
 */
export const DEMO_CONFIG: AnyRecipeConfig = parseRecipeConfig({
  recipe: "classification",
  name: "demo",
  data: { dataset: "mnist" },
  train: { checkpointEvery: 100, logEvery: 10 },
}, "demo config");

/** Trains, then (unless skipped or stopped early) evaluates; returns the summary that is printed. */
async function trainAndEvaluate(
  config: AnyRecipeConfig,
  opts: { runDir?: string; fresh?: boolean; stopAfter?: number; noEval?: boolean },
): Promise<Record<string, unknown>> {
  const recipe = recipeOf(config);
  const runDir = opts.runDir ?? join("runs", config.name);
  checkRunWritable(runDir, "--run");
  err(`train: recipe ${config.recipe}, run ${config.name} -> ${runDir} on ${gpu().adapter.name}`);
  // Ctrl-C stops after the step in flight with a checkpoint; a second Ctrl-C quits at once.
  const interrupt = new AbortController();
  const onInterrupt = () => {
    if (interrupt.signal.aborted) Deno.exit(130);
    err("train: stopping after this step to write a checkpoint (Ctrl-C again to quit without it)");
    interrupt.abort();
  };
  Deno.addSignalListener("SIGINT", onInterrupt);
  let run;
  try {
    run = await train(recipe, config, {
      runDir,
      start: opts.fresh ? "fresh" : "resume",
      stopAfter: opts.stopAfter,
      signal: interrupt.signal,
    });
  } finally {
    Deno.removeSignalListener("SIGINT", onInterrupt);
  }
  if (interrupt.signal.aborted) Deno.exitCode = 130;
  try {
    const summary: Record<string, unknown> = {
      recipe: config.recipe,
      run: runDir,
      step: run.state.step,
      trainSeconds: Math.round(run.state.seconds * 10) / 10,
    };
    if (!opts.noEval && run.state.step >= config.train.steps) {
      freeCachedMemory(); // the training step's buffers: the evaluation allocates its own sizes
      const t0 = performance.now();
      const metrics = await evaluateRun(recipe, config, run.model, {
        run: {
          dir: runDir,
          step: run.state.step,
          architectureHash: run.state.architectureHash,
          weights: "ema",
        },
        data: run.data,
        optimizers: run.optimizers,
      });
      err(`eval: ${formatDuration((performance.now() - t0) / 1000)}, wrote ${join(runDir, "eval.json")}`);
      Object.assign(summary, metrics);
    }
    return summary;
  } finally {
    run.dispose();
  }
}

/**
 * `train`: trains (or resumes) the recipe a config file names, then evaluates the EMA weights. While it
 * trains, Ctrl-C (SIGINT) stops it after the step in flight with a checkpoint and sets `Deno.exitCode` to 130;
 * a second Ctrl-C exits at once.
 *
 * @example
 * ```ts ignore
 * import { trainCommand } from "@lzn/tasks/cli/commands";
 * await trainCommand({ config: "tasks/recipes/cpu/classification.json", fresh: true });
 * ```
 */
export async function trainCommand(
  opts: { config: string; runDir?: string; fresh?: boolean; stopAfter?: number; noEval?: boolean },
): Promise<void> {
  const config = await readConfigFile(opts.config);
  console.log(JSON.stringify(await trainAndEvaluate(config, opts)));
}

/**
 * `demo`: trains the demo config from scratch (or resumes it), evaluates, writes a PNG, ends with one JSON
 * line of metrics.
 *
 * @example
 * ```ts ignore
 * import { demoCommand } from "@lzn/tasks/cli/commands";
 * await demoCommand({ steps: 20, runDir: "runs/demo-short" });
 * ```
 */
export async function demoCommand(
  opts: { steps?: number; runDir?: string; resume?: boolean },
): Promise<void> {
  const started = performance.now();
  const config = opts.steps === undefined ? DEMO_CONFIG : parseRecipeConfig(
    { ...DEMO_CONFIG, train: { ...DEMO_CONFIG.train, steps: opts.steps } },
    "demo config",
  );
  const runDir = opts.runDir ?? "runs/demo";
  if (!opts.resume && await hasCheckpoint(runDir)) {
    // The demo starts fresh: it may discard an earlier demo, never another run.
    const held = await readRunState(runDir).catch(() => undefined);
    if (held?.config?.name !== DEMO_CONFIG.name || held?.recipe !== DEMO_CONFIG.recipe) {
      throw new UsageError(
        `--run ${runDir} holds ${
          held ? `the ${held.recipe} run "${held.config?.name}"` : "a run"
        }, not a demo; the demo starts fresh and would remove it: choose another directory`,
      );
    }
  }
  const adapter = gpu().adapter;
  err(
    `demo: LZN classifier on MNIST (9,000 train / 1,000 held-out), adapter: ${adapter.name}${
      adapter.isCpu ? " (CPU)" : ""
    }`,
  );
  const summary = await trainAndEvaluate(config, { runDir, fresh: !opts.resume });
  if (typeof summary.accuracy === "number") {
    err(
      `held-out accuracy ${
        (summary.accuracy * 100).toFixed(2)
      }% (tau ${summary.tau}, eval batch ${summary.evalBatch}, EMA weights)`,
    );
  }
  console.log(JSON.stringify({
    ...summary,
    batchSize: config.train.batchSize,
    totalSeconds: Math.round((performance.now() - started) / 1000),
    adapter: adapter.name,
  }));
}

/**
 * `eval`: evaluates a trained run with its recipe (EMA weights unless `raw`), optionally overriding the
 * accuracy sweep; rewrites `eval.json` and prints the metrics as one JSON line.
 *
 * @example
 * ```ts ignore
 * import { evalCommand } from "@lzn/tasks/cli/commands";
 * await evalCommand({ runDir: "runs/demo", taus: [0, 0.4] });
 * ```
 */
export async function evalCommand(
  opts: { runDir: string; raw?: boolean; taus?: number[]; batchSizes?: number[] },
): Promise<void> {
  const state = await readRunState(opts.runDir); // a missing run fails here, before the lock creates its directory
  checkRunWritable(opts.runDir, "--run"); // eval.json and the lock
  await checkRunImages(opts.runDir, (RECIPES as Record<string, Recipe>)[state.recipe]?.images);
  const lock = await lockRun(opts.runDir, err);
  try {
    const run = await loadRun(opts.runDir, { weights: opts.raw ? "raw" : "ema" });
    try {
      let config = run.config;
      if (opts.taus || opts.batchSizes) {
        const evalBlock = { ...(config as unknown as { eval: Record<string, unknown> }).eval };
        for (const [key, value] of [["taus", opts.taus], ["batchSizes", opts.batchSizes]] as const) {
          if (!value) continue;
          const flag = key === "taus" ? "--taus" : "--batch-sizes";
          if (key === "batchSizes" && !(key in evalBlock) && "batchSize" in evalBlock) {
            // A joint model evaluates at one eval batch (also the chunk of its generation).
            if (value.length !== 1) {
              throw new UsageError(
                `${flag}: recipe ${run.recipe.name} evaluates at one eval batch; give one size`,
              );
            }
            evalBlock.batchSize = value[0];
            continue;
          }
          if (!(key in evalBlock)) {
            throw new UsageError(`${flag}: recipe ${run.recipe.name} has no such eval setting`);
          }
          evalBlock[key] = value;
        }
        // A classifier's headline setting stays (evaluateAccuracy adds it to the sweep), so `accuracy` and
        // the anchor bank's accuracy in eval.json keep their meaning.
        config = parseConfig(run.recipe.schema, { ...config, eval: evalBlock }, "eval overrides");
      }
      const metrics: Metrics = await evaluateRun(run.recipe, config, run.model, {
        run: {
          dir: opts.runDir,
          step: run.state.step,
          architectureHash: run.state.architectureHash,
          weights: run.weights,
        },
      });
      console.log(
        JSON.stringify({
          recipe: run.recipe.name,
          run: opts.runDir,
          step: run.state.step,
          weights: run.weights,
          ...metrics,
        }),
      );
    } finally {
      run.dispose();
    }
  } finally {
    lock.release();
  }
}
