/**
 * The CLI commands of case study 3 (`main.ts` parses the arguments): `train-joint` trains a joint, RF-baseline
 * or classification-only run from one JSON config and evaluates it; `sample` writes a PNG grid of generated
 * images, one row per class. Results go to stdout (one JSON line), progress to stderr.
 *
 * @module
 */
import { dirname, join } from "node:path";
import { gpu } from "@lzn/tensor";
import { encodePng, imageGrid } from "@lzn/data";
import { trainCommand } from "./commands.ts";
import {
  classifierConfigOf,
  type JointConfig,
  parseJointConfig,
  type SamplerConfig,
} from "./joint_config.ts";
import { swapEma, trainJoint } from "./joint_train.ts";
import { checkJointReference, evaluateJoint } from "./joint_eval.ts";
import { loadJoint } from "./joint_trained.ts";
import { generateFromLabels, generateFromPrior } from "./generate.ts";

const err = (line: string) => console.error(line);

/**
 * Reads and validates a joint JSON config file (readable errors for a missing file, bad JSON or bad fields).
 *
 * @example
 * ```ts
 * import { readJointConfigFile } from "@lzn/tasks";
 * const config = await readJointConfigFile("runs/joint.json");
 * ```
 */
export async function readJointConfigFile(path: string): Promise<JointConfig> {
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
  return parseJointConfig(value, `config ${path}`);
}

/**
 * `train-joint`: trains a config's mode into `runs/<name>` (or `runDir`), then evaluates the EMA weights and
 * writes `eval.json`. `mode: "classifier"` runs the classification recipe (`train`) with the shared fields.
 *
 * @example
 * ```ts
 * import { parseJointConfig, trainJointCommand } from "@lzn/tasks";
 * await trainJointCommand(parseJointConfig({ name: "j", train: { steps: 10 } }), { runDir: "runs/j" });
 * ```
 */
export async function trainJointCommand(
  config: JointConfig,
  opts: { runDir?: string; fresh?: boolean; stopAfter?: number; noEval?: boolean },
): Promise<void> {
  if (config.mode === "classifier") return trainCommand(classifierConfigOf(config), opts);
  const runDir = opts.runDir ?? join("runs", config.name);
  if (!opts.noEval) await checkJointReference(config); // a bad eval.reference must not cost a whole run
  err(`train-joint: ${config.name} (${config.mode}) -> ${runDir} on ${gpu().adapter.name}`);
  const run = await trainJoint(config, {
    runDir,
    start: opts.fresh ? "fresh" : "resume",
    stopAfter: opts.stopAfter,
  });
  try {
    const summary: Record<string, unknown> = {
      run: runDir,
      mode: config.mode,
      step: run.state.step,
      trainSeconds: run.state.seconds,
    };
    if (!opts.noEval && run.state.step >= config.train.steps) {
      swapEma(run.emas, true);
      const report = await evaluateJoint(run.model, run.data.test, config, err);
      swapEma(run.emas, false);
      await Deno.writeTextFile(join(runDir, "eval.json"), JSON.stringify(report, null, 2) + "\n");
      summary.accuracy = report.classification?.headline.accuracy;
      summary.rfLoss = report.rfLoss;
      summary.reconstructionError = report.reconstructionError;
      summary.reconstructionNfe = report.reconstructionNfe;
      if (report.fid !== undefined) {
        summary.fid = report.fid;
        summary.generationAccuracy = report.generationAccuracy;
      }
    }
    console.log(JSON.stringify(summary));
  } finally {
    run.dispose();
  }
}

/**
 * Options of {@link sampleCommand}.
 *
 * @example
 * ```ts
 * import type { SampleCommandOptions } from "@lzn/tasks";
 * const opts: SampleCommandOptions = { out: "runs/j/samples.png", perClass: 8, prior: false };
 * ```
 */
export interface SampleCommandOptions {
  /** The PNG to write. */
  out: string;
  /** Images per class (grid columns; default 8). */
  perClass?: number;
  /** Seed of all noise (default 0). */
  seed?: number;
  /** Latent noise scale (default 1). */
  tau?: number;
  /** Solver (default: the run's `eval.sampler`). */
  sampler?: SamplerConfig;
  /** Unconditional: `z ~ N(0, I)`, class from the label decoder (rows are the decoded classes). */
  prior?: boolean;
  /** Use the raw training weights instead of the EMA. */
  raw?: boolean;
}

/**
 * `sample`: a PNG grid of generated images, one row per class, from a joint or RF-baseline run.
 *
 * @example
 * ```ts
 * import { sampleCommand } from "@lzn/tasks";
 * await sampleCommand("runs/lzn-joint", { out: "runs/lzn-joint/samples.png", perClass: 8 });
 * ```
 */
export async function sampleCommand(runDir: string, opts: SampleCommandOptions): Promise<void> {
  const perClass = opts.perClass ?? 8;
  if (!(Number.isInteger(perClass) && perClass >= 1)) {
    throw new Error(`perClass must be >= 1, got ${perClass}`);
  }
  const { model, state } = await loadJoint(runDir, { weights: opts.raw ? "raw" : "ema" });
  try {
    const { classes } = state.config.model;
    const [channels, rows, cols] = model.decoder.imageShape;
    if (channels !== 1) {
      throw new Error(`sample: PNG grids need 1-channel images, the decoder makes ${channels}`);
    }
    const per = rows * cols;
    const sampler = opts.sampler ?? state.config.eval.sampler;
    const gen = { seed: opts.seed ?? 0, tau: opts.tau ?? 1, sampler };
    const cells = new Float32Array(classes * perClass * per).fill(1); // empty cells stay white
    const counts = new Array(classes).fill(0);
    if (opts.prior) {
      const { images, labels } = await generateFromPrior(model, classes * perClass, gen);
      labels.forEach((c, i) => {
        if (counts[c] < perClass) {
          cells.set(images.images.subarray(i * per, (i + 1) * per), (c * perClass + counts[c]) * per);
        }
        counts[c]++;
      });
    } else {
      const labels = Int32Array.from({ length: classes * perClass }, (_, i) => Math.floor(i / perClass));
      const images = await generateFromLabels(model, labels, gen);
      cells.set(images.images);
      counts.fill(perClass);
    }
    const png = await encodePng(imageGrid(cells, classes * perClass, rows, cols, { columns: perClass }));
    await Deno.mkdir(dirname(opts.out), { recursive: true });
    await Deno.writeFile(opts.out, png);
    console.log(JSON.stringify({
      out: opts.out,
      run: runDir,
      step: state.step,
      mode: state.config.mode,
      rows: classes,
      perClass,
      source: opts.prior ? "prior" : "label",
      sampler,
      perClassCounts: counts,
    }));
  } finally {
    model.dispose();
  }
}
