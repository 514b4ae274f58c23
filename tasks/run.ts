/**
 * Using a trained run: loading its model from the run directory (EMA weights by default, as the release
 * evaluates and samples) and evaluating it with its recipe, writing `eval.json`.
 *
 * @module
 */
import { join } from "node:path";
import type { Split } from "@lzn/data";
import type { EvalContext, Metrics, Recipe, RecipeConfig, RecipeModel } from "./recipe.ts";
import { CheckpointError, loadCheckpointTensors, readRunState, type RunState } from "./run_dir.ts";
import { buildOptimizers, disposeOptimizers, loadStateDict, type Optimizers, pickState } from "./state.ts";
import { RECIPES } from "./registry.ts";
import { loadRunData } from "./run_data.ts";
import { swapEma } from "./trainer.ts";

/**
 * A run loaded for evaluation or inference.
 *
 * @example
 * ```ts ignore
 * import { loadRun } from "@lzn/tasks";
 * const run = await loadRun("runs/demo");
 * console.log(run.recipe.name, run.state.step);
 * run.dispose();
 * ```
 */
export interface LoadedRun<C extends RecipeConfig = RecipeConfig, M extends RecipeModel = RecipeModel> {
  /** The run's recipe. */
  recipe: Recipe<C, M>;
  /** Its stored config. */
  config: C;
  /** The model, with the EMA weights (default) or the training weights in its parameters. */
  model: M;
  /** The stored state. */
  state: RunState;
  /** The run directory. */
  runDir: string;
  /** Which weights the parameters hold. */
  weights: "ema" | "raw";
  /** Frees the model. */
  dispose(): void;
}

/**
 * Resolves a recipe name of a stored run to a shipped recipe (a `CheckpointError` for an unknown one).
 *
 * @example
 * ```ts
 * import { shippedRecipe } from "@lzn/tasks";
 * console.log(shippedRecipe("classification").summary);
 * ```
 */
export function shippedRecipe(name: string): Recipe {
  const recipe = (RECIPES as Record<string, Recipe>)[name];
  if (!recipe) {
    throw new CheckpointError(`the run's recipe "${name}" is not one of ${Object.keys(RECIPES).join(", ")}`);
  }
  return recipe;
}

/**
 * Rebuilds the model stored in a run directory and loads its weights: the EMA shadows (default) or the raw
 * training weights. With `recipe` the run must be of that recipe, and the result is typed by it (its model's
 * `space`, ...); without, the stored recipe name picks a shipped recipe. A recipe that is not shipped (one
 * defined in a test) must be given.
 *
 * @example
 * ```ts ignore
 * import { classification, loadRun, readImages } from "@lzn/tasks";
 * const run = await loadRun("runs/demo", { recipe: classification, weights: "raw" });
 * const { batch } = await readImages(["examples/digits.npy"]);
 * const labels = await run.model.space.task({ from: "image", to: "label" }).run(batch);
 * run.dispose();
 * ```
 */
export async function loadRun<C extends RecipeConfig = RecipeConfig, M extends RecipeModel = RecipeModel>(
  dir: string,
  opts: { weights?: "ema" | "raw"; recipe?: Recipe<C, M> } = {},
): Promise<LoadedRun<C, M>> {
  const resolve = (name: string) => {
    if (opts.recipe && opts.recipe.name !== name) {
      throw new CheckpointError(`${dir} holds a run of recipe ${name}, not ${opts.recipe.name}`);
    }
    return opts.recipe ?? shippedRecipe(name);
  };
  const state = await readRunState(dir, resolve);
  const recipe = resolve(state.recipe);
  const weights = opts.weights ?? "ema";
  const tensors = await loadCheckpointTensors(dir, state);
  const model = recipe.build(state.config);
  let optimizers: Optimizers | undefined;
  try {
    optimizers = buildOptimizers(model, state.config.train.emaDecay);
    const emas = { emas: optimizers.emas };
    loadStateDict(model, pickState(tensors, ["model.", "ema."]), emas, `the checkpoint in ${dir}`);
    if (weights === "ema") { for (const ema of optimizers.emas.values()) ema.copyTo(); }
  } catch (e) {
    model.dispose();
    throw e instanceof CheckpointError ? e : new CheckpointError(`${dir}: ${(e as Error).message}`);
  } finally {
    if (optimizers) disposeOptimizers(optimizers);
    for (const t of Object.values(tensors)) t.dispose();
  }
  return {
    recipe: recipe as Recipe<C, M>,
    config: state.config as C,
    model: model as M,
    state,
    runDir: dir,
    weights,
    dispose: () => model.dispose(),
  };
}

/**
 * Evaluates a model with its recipe and writes the metrics to `<run dir>/eval.json`. With `optimizers` (a
 * run still training) the EMA weights are swapped in for the evaluation and out again; a loaded run already
 * holds the weights to evaluate.
 *
 * @example
 * ```ts ignore
 * import { evaluateRun, loadRun } from "@lzn/tasks";
 * const run = await loadRun("runs/demo");
 * const metrics = await evaluateRun(run.recipe, run.config, run.model, {
 *   run: { dir: run.runDir, step: run.state.step, architectureHash: run.state.architectureHash, weights: run.weights },
 * });
 * ```
 */
export async function evaluateRun<C extends RecipeConfig, M extends RecipeModel>(
  recipe: Recipe<C, M>,
  config: C,
  model: M,
  opts: {
    run?: EvalContext["run"];
    data?: { train: Split; test: Split };
    optimizers?: Optimizers;
    log?: (line: string) => void;
  },
): Promise<Metrics> {
  const ctx: EvalContext = {
    data: opts.data ?? await loadRunData(config.data, recipe.classes(config)),
    run: opts.run,
    log: opts.log ?? ((line) => console.error(line)),
  };
  if (opts.optimizers) swapEma(opts.optimizers, true);
  let metrics: Metrics;
  try {
    metrics = await recipe.evaluate(model, config, ctx);
  } finally {
    if (opts.optimizers) swapEma(opts.optimizers, false);
  }
  if (opts.run) {
    await Deno.writeTextFile(join(opts.run.dir, "eval.json"), JSON.stringify(metrics, null, 2) + "\n");
  }
  return metrics;
}
