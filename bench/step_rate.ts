/**
 * Steps/s of a recipe's training loop and what its recording costs, in one process: a warm-up run (kernels
 * compiled, buffers and bind groups made), then a timed run of the same config from a fresh start, with the
 * dispatches and the bind groups created per step (recorderStats). At a small batch the step is bound by
 * recording and dispatch, not by the GPU's arithmetic, on any adapter.
 *
 *   deno run -A bench/step_rate.ts [CONFIG] [--steps 60] [--batch 16] [--log-every 20]
 *
 * CONFIG defaults to tasks/recipes/fashion-classification.json (200 training images per class are loaded).
 * Prints the progress lines and one JSON line.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { recorderStats } from "@lzn/tensor";
import {
  type AnyRecipeConfig,
  parseRecipeConfig,
  readConfigFile,
  recipeOf,
  train,
  type TrainOptions,
} from "@lzn/tasks";

const { values: args, positionals } = parseArgs({
  args: Deno.args,
  allowPositionals: true,
  options: { steps: { type: "string" }, batch: { type: "string" }, "log-every": { type: "string" } },
});
const path = positionals[0] ?? "tasks/recipes/fashion-classification.json";
const steps = Number(args.steps ?? 60),
  batch = Number(args.batch ?? 16),
  logEvery = Number(args["log-every"] ?? 20);
// A missing file, bad JSON or a bad field is one line, as in the CLI.
const raw = structuredClone(
  await readConfigFile(path).catch((e: Error) => {
    console.error(`error: ${e.message}`);
    Deno.exit(1);
  }),
);
raw.train = { ...raw.train, steps, batchSize: batch, logEvery, checkpointEvery: 0 };
raw.data = { ...raw.data, trainPerClass: 200, testPerClass: 10 };
const config = parseRecipeConfig(raw, path);
const recipe = recipeOf(config);
const runDir = ".cache/step-rate";
const quiet = { log: null, onProgress: () => {} };

const run = (cfg: AnyRecipeConfig, opts: TrainOptions) =>
  train(recipe, cfg, { runDir, start: "fresh", ...opts });
const warmUp = parseRecipeConfig({ ...raw, train: { ...raw.train, steps: logEvery } }, path);
(await run(warmUp, quiet)).dispose();
const d0 = recorderStats.dispatches, g0 = recorderStats.bindGroups;
const t0 = performance.now();
const r = await run(config, {
  log: null,
  onProgress: (p) =>
    console.error(
      `step ${p.step}: ${p.itPerSec.toFixed(2)} steps/s, ${recorderStats.bindGroups - g0} bind groups so far`,
    ),
});
const seconds = (performance.now() - t0) / 1000;
r.dispose();
console.log(JSON.stringify({
  config: path,
  batch,
  steps,
  seconds: Number(seconds.toFixed(2)),
  stepsPerSecond: Number((steps / seconds).toFixed(2)),
  dispatchesPerStep: (recorderStats.dispatches - d0) / steps,
  bindGroupsPerStep: (recorderStats.bindGroups - g0) / steps,
}));
