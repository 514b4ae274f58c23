/**
 * How many compute pipelines a recipe's first training steps build, by kernel, and how long creating them
 * took: on a fresh machine every one is a shader compile (on NVIDIA's Vulkan driver, until its disk cache
 * holds it), and the first window of a run pays for all of them. Wraps `device.createComputePipeline` to count
 * and time; lavapipe compiles lazily at the first dispatch, so its creation times understate the cost there.
 *
 *   deno run -A bench/pipeline_count.ts [CONFIG] [--steps 2] [--batch N] [--train-per-class 200]
 *
 * CONFIG defaults to tasks/recipes/fashion-joint-q128.json; `--batch` overrides `train.batchSize` (default:
 * the config's). Prints one line per kernel name (pipelines, seconds) and a JSON line with the totals.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { gpu } from "@lzn/tensor";
import { parseRecipeConfig, readConfigFile, recipeOf, train } from "@lzn/tasks";

const { values: args, positionals } = parseArgs({
  args: Deno.args,
  allowPositionals: true,
  options: { steps: { type: "string" }, batch: { type: "string" }, "train-per-class": { type: "string" } },
});
const path = positionals[0] ?? "tasks/recipes/fashion-joint-q128.json";
// A missing file, bad JSON or a bad field is one line, as in the CLI.
const raw = structuredClone(
  await readConfigFile(path).catch((e: Error) => {
    console.error(`error: ${e.message}`);
    Deno.exit(1);
  }),
);
const steps = Number(args.steps ?? 2);
raw.train = {
  ...raw.train,
  steps,
  logEvery: 1,
  checkpointEvery: 0,
  ...(args.batch ? { batchSize: Number(args.batch) } : {}),
};
raw.data = { ...raw.data, trainPerClass: Number(args["train-per-class"] ?? 200), testPerClass: 10 };
const config = parseRecipeConfig(raw, path);

const device = gpu().device;
const create = device.createComputePipeline.bind(device);
const byName = new Map<string, { pipelines: number; ms: number }>();
device.createComputePipeline = (descriptor: GPUComputePipelineDescriptor) => {
  const t0 = performance.now();
  const pipeline = create(descriptor);
  const entry = byName.get(descriptor.label ?? "?") ?? { pipelines: 0, ms: 0 };
  entry.pipelines++;
  entry.ms += performance.now() - t0;
  byName.set(descriptor.label ?? "?", entry);
  return pipeline;
};

const t0 = performance.now();
const reported: number[] = []; // seconds since the start at each step's progress line
const run = await train(recipeOf(config), config, {
  runDir: ".cache/pipeline-count",
  start: "fresh",
  log: null,
  onProgress: () => void reported.push((performance.now() - t0) / 1000),
});
run.dispose();
const rows = [...byName].sort((a, b) => b[1].ms - a[1].ms);
for (const [name, { pipelines, ms }] of rows) {
  console.log(
    `${name.padEnd(28)} ${String(pipelines).padStart(4)} pipelines ${(ms / 1000).toFixed(2).padStart(7)} s`,
  );
}
const total = rows.reduce((a, [, e]) => ({ pipelines: a.pipelines + e.pipelines, ms: a.ms + e.ms }), {
  pipelines: 0,
  ms: 0,
});
console.log(JSON.stringify({
  config: path,
  adapter: gpu().adapter.name,
  batch: config.train.batchSize,
  steps,
  pipelines: total.pipelines,
  createSeconds: Number((total.ms / 1000).toFixed(2)),
  secondsAtStep: reported.map((s) => Number(s.toFixed(2))),
}));
