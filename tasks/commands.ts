/**
 * The CLI commands (`main.ts` parses the arguments and calls these): `demo`, `train`, `eval`, `classify`,
 * `embed`. Results go to stdout (the demo ends with one JSON line), progress and notices to stderr.
 *
 * @module
 */
import { join } from "node:path";
import { gpu } from "@lzn/tensor";
import { type ClassifierConfig, parseClassifierConfig } from "./config.ts";
import { trainClassifier } from "./train.ts";
import { type EvalReport, evaluateClassifier, formatEvalTable } from "./evaluate.ts";
import { loadRunData } from "./data.ts";
import { loadClassifier } from "./trained.ts";
import { classify, embed } from "./compose.ts";
import { readImages } from "./image_input.ts";
import { writeNpy } from "./npy.ts";
import { writePredictionGrid } from "./visualize.ts";
import { formatDuration } from "./progress.ts";
import type { LznClassifier } from "./classifier.ts";
import type { Split } from "@lzn/data";

/**
 * The demo's recipe: the config defaults on MNIST (9,000 train / 1,000 test): q = 32, batch 256, 320 steps,
 * sized to finish inside 10 minutes on a 2-core CPU WebGPU adapter (lavapipe). Measurements in
 * `tasks/README.md`.
 *
 * @example
 * ```ts
 * import { DEMO_CONFIG } from "@lzn/tasks";
 * console.log(DEMO_CONFIG.train.steps);
 * ```
 */
export const DEMO_CONFIG: ClassifierConfig = parseClassifierConfig({
  name: "demo",
  model: { latentDim: 32, classes: 10 },
  data: { dataset: "mnist" },
  train: { checkpointEvery: 100, logEvery: 10 },
  eval: {
    batchSizes: [1000, 500],
    taus: [0, 0.2, 0.4, 0.6, 0.8, 1, 1.2],
    headline: { tau: 0, batchSize: 1000 },
  },
}, "demo config");

const err = (line: string) => console.error(line);

/**
 * Reads and validates a JSON config file (readable errors for a missing file, bad JSON or bad fields).
 *
 * @example
 * ```ts
 * import { readConfigFile } from "@lzn/tasks";
 * const config = await readConfigFile("cfg.json");
 * console.log(config.name, config.train.steps);
 * ```
 */
export async function readConfigFile(path: string): Promise<ClassifierConfig> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw new Error(`config file not found: ${path}`);
    throw e;
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new Error(`config file ${path} is not valid JSON: ${(e as Error).message}`);
  }
  return parseClassifierConfig(value, `config ${path}`);
}

async function evaluateWithEma(
  model: LznClassifier,
  test: Split,
  config: ClassifierConfig,
): Promise<EvalReport> {
  const e = config.eval;
  const sizes = e.batchSizes.filter((b) => b <= test.count);
  if (!sizes.length) sizes.push(test.count);
  const headline = e.headline.batchSize <= test.count
    ? e.headline
    : { tau: e.headline.tau, batchSize: test.count };
  const total = Math.max(1, sizes.reduce((n, b) => n + Math.floor(test.count / b), 0));
  const t0 = performance.now();
  const report = await evaluateClassifier(model, test, {
    batchSizes: sizes,
    taus: e.taus,
    seed: e.seed,
    headline,
    onBatch: (done) => err(`eval batch ${done}/${total}  ${formatDuration((performance.now() - t0) / 1000)}`),
  });
  return report;
}

/**
 * `train`: trains a config, checkpointing into `runs/<name>` (or `runDir`), then evaluates it.
 *
 * @example
 * ```ts
 * import { readConfigFile, trainCommand } from "@lzn/tasks";
 * const config = await readConfigFile("cfg.json");
 * await trainCommand(config, { runDir: "runs/mnist", fresh: true });
 * ```
 */
export async function trainCommand(
  config: ClassifierConfig,
  opts: { runDir?: string; fresh?: boolean; stopAfter?: number; noEval?: boolean },
): Promise<void> {
  const runDir = opts.runDir ?? join("runs", config.name);
  err(`train: ${config.name} -> ${runDir} on ${gpu().adapter.name}`);
  const run = await trainClassifier(config, {
    runDir,
    start: opts.fresh ? "fresh" : "resume",
    stopAfter: opts.stopAfter,
  });
  try {
    const summary: Record<string, unknown> = {
      run: runDir,
      step: run.state.step,
      trainSeconds: run.state.seconds,
    };
    if (!opts.noEval && run.state.step >= config.train.steps) {
      if (config.eval.ema) run.ema.swapIn();
      const report = await evaluateWithEma(run.model, run.data.test, config);
      if (config.eval.ema) run.ema.swapOut();
      console.log(formatEvalTable(report.results));
      await Deno.writeTextFile(join(runDir, "eval.json"), JSON.stringify(report.results, null, 2) + "\n");
      summary.accuracy = report.headline.accuracy;
    }
    console.log(JSON.stringify(summary));
  } finally {
    run.dispose();
  }
}

/**
 * `eval`: evaluates a trained run (tau sweep x eval batch sizes).
 *
 * @example
 * ```ts
 * import { evalCommand } from "@lzn/tasks";
 * await evalCommand("runs/demo", { taus: [0, 0.4], batchSizes: [1000] });
 * ```
 */
export async function evalCommand(
  runDir: string,
  opts: { taus?: number[]; batchSizes?: number[]; raw?: boolean; config?: ClassifierConfig },
): Promise<void> {
  const { model, state } = await loadClassifier(runDir, {
    weights: opts.raw ? "raw" : "ema",
    expect: opts.config,
  });
  try {
    const config = {
      ...state.config,
      eval: {
        ...state.config.eval,
        taus: opts.taus ?? state.config.eval.taus,
        batchSizes: opts.batchSizes ?? state.config.eval.batchSizes,
      },
    };
    if (opts.taus || opts.batchSizes) {
      config.eval.headline = { tau: config.eval.taus[0], batchSize: config.eval.batchSizes[0] };
    }
    const { test } = await loadRunData(config);
    const report = await evaluateWithEma(model, test, config);
    console.log(formatEvalTable(report.results));
    console.log(JSON.stringify({
      run: runDir,
      step: state.step,
      weights: opts.raw ? "raw" : "ema",
      accuracy: report.headline.accuracy,
      headline: { tau: report.headline.tau, batchSize: report.headline.batchSize },
      results: report.results,
    }));
  } finally {
    model.dispose();
  }
}

/**
 * `classify`: labels of images from a .npy file or PNG files, one `name<TAB>label` line each.
 *
 * @example
 * ```ts
 * import { classifyCommand } from "@lzn/tasks";
 * await classifyCommand("runs/demo", ["digits.npy"], { tau: 0, seed: 0, json: true });
 * ```
 */
export async function classifyCommand(
  runDir: string,
  inputs: string[],
  opts: { tau: number; batchSize?: number; seed: number; json?: boolean },
): Promise<void> {
  const { batch, names } = await readImages(inputs);
  const { model } = await loadClassifier(runDir);
  try {
    const labels = await classify(model, batch, {
      tau: opts.tau,
      batchSize: opts.batchSize,
      seed: opts.seed,
    });
    if (opts.json) console.log(JSON.stringify({ labels: [...labels] }));
    else names.forEach((n, i) => console.log(`${n}\t${labels[i]}`));
    if (batch.count < 100) {
      err(
        `note: ${batch.count} image(s) form the anchor set of their own latents; accuracy is lower for small ` +
          `sets (the minibatch approximation, spec §8) — classify many images together when you can`,
      );
    }
  } finally {
    model.dispose();
  }
}

/**
 * `embed`: anchors or latents of images, written as a float32 NPY `[n, q]`.
 *
 * @example
 * ```ts
 * import { embedCommand } from "@lzn/tasks";
 * await embedCommand("runs/demo", ["digits.npy"], { out: "latents.npy", kind: "latents", tau: 0, seed: 0 });
 * ```
 */
export async function embedCommand(
  runDir: string,
  inputs: string[],
  opts: { out: string; kind: "anchors" | "latents"; tau: number; batchSize?: number; seed: number },
): Promise<void> {
  const { batch } = await readImages(inputs);
  const { model } = await loadClassifier(runDir);
  try {
    const e = await embed(model, batch, opts);
    await writeNpy(opts.out, { dtype: "float32", shape: [e.count, e.dim], data: e.data });
    console.log(JSON.stringify({ out: opts.out, shape: [e.count, e.dim], kind: opts.kind }));
  } finally {
    model.dispose();
  }
}

/**
 * `demo`: trains the demo recipe on MNIST, evaluates, writes a PNG, ends with one JSON line of metrics.
 *
 * @example
 * ```ts
 * import { demoCommand } from "@lzn/tasks";
 * await demoCommand({ steps: 20, runDir: "runs/demo-short" });
 * ```
 */
export async function demoCommand(
  opts: { steps?: number; runDir?: string; resume?: boolean },
): Promise<void> {
  const started = performance.now();
  const config: ClassifierConfig = opts.steps
    ? { ...DEMO_CONFIG, train: { ...DEMO_CONFIG.train, steps: opts.steps } }
    : DEMO_CONFIG;
  const runDir = opts.runDir ?? join("runs", config.name);
  const adapter = gpu().adapter;
  err(
    `demo: LZN classifier on MNIST (9,000 train / 1,000 held-out), adapter: ${adapter.name}${
      adapter.isCpu ? " (CPU)" : ""
    }`,
  );
  err(
    `demo: q=${config.model.latentDim}, batch ${config.train.batchSize}, ${config.train.steps} steps, run dir ${runDir}`,
  );
  const run = await trainClassifier(config, { runDir, start: opts.resume ? "resume" : "fresh" });
  try {
    run.ema.swapIn();
    const report = await evaluateWithEma(run.model, run.data.test, config);
    run.ema.swapOut();
    console.log(formatEvalTable(report.results));
    const png = join(runDir, "predictions.png");
    await writePredictionGrid(png, run.data.test, report.predictions, { classes: config.model.classes });
    await Deno.writeTextFile(join(runDir, "eval.json"), JSON.stringify(report.results, null, 2) + "\n");
    const h = report.headline;
    console.log(
      `held-out accuracy ${
        (h.accuracy * 100).toFixed(2)
      }% (${h.correct}/${h.total}; tau ${h.tau}, eval batch ${h.batchSize}, EMA weights)`,
    );
    console.log(`wrote ${png} (test digits in columns by predicted class; red frames are mistakes)`);
    console.log(JSON.stringify({
      accuracy: h.accuracy,
      tau: h.tau,
      evalBatch: h.batchSize,
      steps: run.state.step,
      batchSize: config.train.batchSize,
      trainSeconds: Math.round(run.state.seconds),
      totalSeconds: Math.round((performance.now() - started) / 1000),
      adapter: adapter.name,
      png,
      sweep: Object.fromEntries(report.results.map((r) => [`b${r.batchSize}_tau${r.tau}`, r.accuracy])),
    }));
  } finally {
    run.dispose();
  }
}
