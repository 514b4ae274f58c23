/**
 * The lzn command line, run through `deno task <command>`:
 *
 * ```
 * deno task demo                                     train + evaluate an LZN classifier on MNIST, write a PNG
 * deno task train --config cfg.json [--fresh]        train (or resume) a run into runs/<name>
 * deno task eval --run runs/<name>                   accuracy: tau sweep x eval batch sizes (spec §7.5)
 * deno task classify --run runs/<name> digits.npy    labels of images (.npy uint8 [n,28,28] or 28x28 PNGs)
 * deno task embed --run runs/<name> --out runs/e.npy digits.npy   latents (or anchors) as float32 NPY
 * deno task train-reference --dataset mnist --out runs/reference-mnist   the metrics' reference classifier
 * deno task train-joint --config joint.json         joint generation + classification (or the RF / classifier baselines)
 * deno task sample --checkpoint runs/<name> --out runs/<name>/samples.png   generated images, one row per class
 * ```
 *
 * Every command takes `--help`. This is the one place that parses arguments (`node:util` `parseArgs`).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { ConfigError } from "@lzn/encoders";
import {
  CheckpointError,
  classifyCommand,
  demoCommand,
  embedCommand,
  evalCommand,
  readConfigFile,
  readJointConfigFile,
  sampleCommand,
  trainCommand,
  trainJointCommand,
  trainReferenceCommand,
} from "@lzn/tasks";

const HELP: Record<string, string> = {
  main: `lzn — Latent Zoning Networks on WebGPU

usage: deno task <command> [options]      (each command: --help)

commands:
  demo       train an LZN classifier on the bundled MNIST digits, print held-out accuracy, write a PNG
  train      train (or resume) a classifier from a JSON config
  eval       evaluate a trained run: accuracy over tau x eval batch size (spec §7.5)
  classify   labels of images (.npy or PNG files)
  embed      latents or anchors of images, as a float32 .npy
  train-reference   train the reference classifier of a dataset (generation accuracy and FID features)
  train-joint  train joint generation + classification (case study 3), or its RF / classifier baselines
  sample       generate images from a train-joint run: a PNG grid, one row per class`,
  demo: `usage: deno task demo [--steps N] [--resume] [--run-dir DIR]

Trains the demo recipe (MNIST 9,000 train / 1,000 test, q=32, batch 256, 320 steps) from scratch into runs/demo,
evaluates the EMA weights on the held-out digits (tau 0 ... 1.2, eval batches of 1000 and 500), writes
runs/demo/predictions.png and ends with one JSON line of metrics ("accuracy" = tau 0, eval batch 1000).

  --steps N       training steps (default 320)
  --resume        continue runs/demo from its checkpoint instead of starting fresh
  --run-dir DIR   run directory (default runs/demo; must be under runs/ or .cache/)`,
  train: `usage: deno task train --config FILE [--fresh] [--stop-after N] [--run-dir DIR] [--no-eval]

Trains the classification recipe of a JSON config (every field optional; see tasks/config.ts and
tasks/README.md), checkpointing into runs/<name>. If that directory already holds a checkpoint of the same
model, training resumes from it; a checkpoint of another model is an error (use --fresh or another name).

  --config FILE     JSON config (required)
  --fresh           discard an existing checkpoint in the run directory
  --stop-after N    stop after N steps (checkpointing there); resume later with the same command
  --run-dir DIR     run directory (default runs/<name>)
  --no-eval         skip the evaluation at the end`,
  eval: `usage: deno task eval --run DIR [--taus 0,0.2,...] [--batch-sizes 1000,500] [--raw] [--config FILE]

Accuracy of a trained run on its test split (spec §7.5): the test set in a fixed shuffled order is cut into
eval batches (each batch is the anchor set of its latents), latents at each tau go through the reverse
label flow (uniform weights), nearest label anchor = prediction.

  --run DIR           run directory (required)
  --taus LIST         prior-noise scales (default: the run's config, 0,0.2,...,1.2)
  --batch-sizes LIST  eval batch sizes (default: the run's config, 1000,500)
  --raw               evaluate the training weights instead of the EMA
  --config FILE       refuse the checkpoint unless it has this config's model architecture`,
  classify: `usage: deno task classify --run DIR [--tau T] [--batch-size N] [--seed S] [--json] IMAGES...

IMAGES: one .npy file (uint8 0..255 [n,28,28] or [n,784], or float in [0,1]) or 28x28 PNG files (white
digit on black, as MNIST). Prints "name<TAB>label" per image (or one JSON line with --json). The images
of one batch are the anchor set of their latents: classify many together (e.g. 1000) for best accuracy.

  --run DIR         run directory (required)
  --tau T           prior-noise scale (default 0, the zone centre)
  --batch-size N    images per anchor set (default: all)
  --seed S          noise seed (default 0)
  --json            one JSON line {"labels": [...]}`,
  embed:
    `usage: deno task embed --run DIR --out FILE.npy [--kind latents|anchors] [--tau T] [--batch-size N] IMAGES...

Writes a float32 NPY [n, q] of the images' latents (default; computed over each batch as anchor set) or
raw anchors. IMAGES as for classify. FILE must be under runs/ or .cache/ (the task's write permission).

  --run DIR         run directory (required)
  --out FILE        output .npy (required)
  --kind K          latents (default) or anchors
  --tau T           prior-noise scale of the latents (default 0)
  --batch-size N    images per anchor set (default: all)
  --seed S          noise seed (default 0)`,
  "train-joint":
    `usage: deno task train-joint --config FILE [--fresh] [--stop-after N] [--run-dir DIR] [--no-eval]

Case study 3 (spec §7): trains a JSON config's "mode" (every field optional; see tasks/joint_config.ts):
  "joint"       RF image decoder + image encoder + label anchors, loss = label alignment + RF loss
  "rf"          the same decoder, class-conditional, with no latent input (the baseline)
  "classifier"  the classification recipe (as \`deno task train\`) with the config's shared fields
Checkpoints go to runs/<name> (a checkpoint of the same model there is resumed). At the end the EMA weights
are evaluated on the test split (accuracy, held-out RF loss, reconstruction error) into runs/<name>/eval.json.

  --config FILE     JSON config (required)
  --fresh           discard an existing checkpoint in the run directory
  --stop-after N    stop after N steps (checkpointing there); resume later with the same command
  --run-dir DIR     run directory (default runs/<name>)
  --no-eval         skip the evaluation at the end`,
  sample: `usage: deno task sample --checkpoint DIR --out FILE.png [--per-class N] [--seed S] [--tau T]
                        [--sampler euler:N|rk45[:RTOL,ATOL]] [--prior] [--raw]

Writes a PNG grid of images generated by a train-joint run (EMA weights), one row per class: each image's
latent is a sample of its class's latent zone (label -> image; the RF baseline samples per class directly).
With --prior the latents are z ~ N(0, I) and the label decoder picks each image's class (its row).

  --checkpoint DIR  run directory of a joint or rf run (required; --run is the same)
  --out FILE        output PNG (required; under runs/ or .cache/)
  --per-class N     images per class = grid columns (default 8)
  --seed S          noise seed (default 0)
  --tau T           latent noise scale (default 1; 0 = zone centres)
  --sampler S       euler:N (N Euler steps) or rk45[:RTOL,ATOL] (default: the run's eval.sampler, euler:10)
  --prior           unconditional generation from the Gaussian prior
  --raw             the training weights instead of the EMA`,
  "train-reference":
    `usage: deno task train-reference --dataset mnist|fashion-mnist --out DIR [--steps N] [--batch B] [--seed S] [--force]

Trains the reference classifier of a dataset: a supervised CNN (six conv-GroupNorm-SiLU blocks, global average
pooling, a 128-wide feature layer, a linear head) with cross-entropy and Adam, then prints and stores its test
accuracy. Its predictions give generation accuracy and its 128-d penultimate features the FID of generated
images. Writes DIR/reference.safetensors and DIR/reference.json (dataset, config, test accuracy).

  --dataset NAME  mnist or fashion-mnist (required)
  --out DIR       checkpoint directory (required; under runs/ or .cache/), e.g. runs/reference-mnist
  --steps N       optimizer steps (default 3000)
  --batch B       images per step (default 128)
  --seed S        seed of the init, the data order and the shifts (default 0)
  --force         replace a reference classifier already in DIR`,
};

class UsageError extends Error {}

/** `euler:N` or `rk45[:RTOL,ATOL]` (default tolerances 1e-5, the release's). */
function samplerArg(
  text: string | undefined,
): { kind: "euler"; steps: number } | { kind: "rk45"; rtol: number; atol: number } | undefined {
  if (text === undefined) return undefined;
  const [kind, arg] = text.split(":");
  if (kind === "euler") {
    const steps = Number(arg);
    if (Number.isInteger(steps) && steps >= 1) return { kind, steps };
  } else if (kind === "rk45") {
    const [rtol, atol] = arg === undefined ? [1e-5, 1e-5] : arg.split(",").map(Number);
    if (rtol > 0 && atol > 0) return { kind, rtol, atol };
  }
  throw new UsageError(`--sampler: expected euler:N or rk45[:RTOL,ATOL], got "${text}"`);
}

function numberList(text: string | undefined, what: string): number[] | undefined {
  if (text === undefined) return undefined;
  const values = text.split(",").map((s) => Number(s.trim()));
  if (!values.length || values.some((v) => !Number.isFinite(v))) {
    throw new UsageError(`${what}: expected numbers like 0,0.5,1`);
  }
  return values;
}

function int(text: string | undefined, what: string): number | undefined {
  if (text === undefined) return undefined;
  const v = Number(text);
  if (!Number.isInteger(v) || v < 0) {
    throw new UsageError(`${what}: expected a non-negative integer, got "${text}"`);
  }
  return v;
}

function num(text: string | undefined, what: string, fallback: number): number {
  if (text === undefined) return fallback;
  const v = Number(text);
  if (!Number.isFinite(v)) throw new UsageError(`${what}: expected a number, got "${text}"`);
  return v;
}

function required(value: string | undefined, flag: string): string {
  if (!value) throw new UsageError(`${flag} is required`);
  return value;
}

async function run(command: string | undefined, args: string[]): Promise<void> {
  if (!command || command === "--help" || command === "-h" || command === "help") {
    console.log(HELP.main);
    return;
  }
  if (!(command in HELP) || command === "main") {
    throw new UsageError(`unknown command "${command}"\n\n${HELP.main}`);
  }
  const common = { help: { type: "boolean", short: "h" } } as const;
  const parse = <O extends Record<string, { type: "string" | "boolean"; short?: string }>>(options: O) => {
    const parsed = parseArgs({
      args,
      options: { ...common, ...options },
      allowPositionals: true,
      strict: true,
    });
    return parsed;
  };
  switch (command) {
    case "demo": {
      const { values } = parse({
        steps: { type: "string" },
        resume: { type: "boolean" },
        "run-dir": { type: "string" },
      });
      if (values.help) return console.log(HELP.demo);
      await demoCommand({
        steps: int(values.steps, "--steps"),
        resume: values.resume,
        runDir: values["run-dir"],
      });
      return;
    }
    case "train": {
      const { values } = parse({
        config: { type: "string" },
        fresh: { type: "boolean" },
        "stop-after": { type: "string" },
        "run-dir": { type: "string" },
        "no-eval": { type: "boolean" },
      });
      if (values.help) return console.log(HELP.train);
      const config = await readConfigFile(required(values.config, "--config"));
      await trainCommand(config, {
        runDir: values["run-dir"],
        fresh: values.fresh,
        stopAfter: int(values["stop-after"], "--stop-after"),
        noEval: values["no-eval"],
      });
      return;
    }
    case "eval": {
      const { values } = parse({
        run: { type: "string" },
        taus: { type: "string" },
        "batch-sizes": { type: "string" },
        raw: { type: "boolean" },
        config: { type: "string" },
      });
      if (values.help) return console.log(HELP.eval);
      await evalCommand(required(values.run, "--run"), {
        taus: numberList(values.taus, "--taus"),
        batchSizes: numberList(values["batch-sizes"], "--batch-sizes"),
        raw: values.raw,
        config: values.config ? await readConfigFile(values.config) : undefined,
      });
      return;
    }
    case "classify": {
      const { values, positionals } = parse({
        run: { type: "string" },
        tau: { type: "string" },
        "batch-size": { type: "string" },
        seed: { type: "string" },
        json: { type: "boolean" },
      });
      if (values.help) return console.log(HELP.classify);
      await classifyCommand(required(values.run, "--run"), positionals, {
        tau: num(values.tau, "--tau", 0),
        batchSize: int(values["batch-size"], "--batch-size"),
        seed: int(values.seed, "--seed") ?? 0,
        json: values.json,
      });
      return;
    }
    case "embed": {
      const { values, positionals } = parse({
        run: { type: "string" },
        out: { type: "string" },
        kind: { type: "string" },
        tau: { type: "string" },
        "batch-size": { type: "string" },
        seed: { type: "string" },
      });
      if (values.help) return console.log(HELP.embed);
      const kind = values.kind ?? "latents";
      if (kind !== "latents" && kind !== "anchors") {
        throw new UsageError(`--kind must be latents or anchors, got "${kind}"`);
      }
      await embedCommand(required(values.run, "--run"), positionals, {
        out: required(values.out, "--out"),
        kind,
        tau: num(values.tau, "--tau", 0),
        batchSize: int(values["batch-size"], "--batch-size"),
        seed: int(values.seed, "--seed") ?? 0,
      });
      return;
    }
    case "train-joint": {
      const { values } = parse({
        config: { type: "string" },
        fresh: { type: "boolean" },
        "stop-after": { type: "string" },
        "run-dir": { type: "string" },
        "no-eval": { type: "boolean" },
      });
      if (values.help) return console.log(HELP["train-joint"]);
      const config = await readJointConfigFile(required(values.config, "--config"));
      await trainJointCommand(config, {
        runDir: values["run-dir"],
        fresh: values.fresh,
        stopAfter: int(values["stop-after"], "--stop-after"),
        noEval: values["no-eval"],
      });
      return;
    }
    case "sample": {
      const { values, positionals } = parse({
        checkpoint: { type: "string" },
        run: { type: "string" },
        out: { type: "string" },
        "per-class": { type: "string" },
        seed: { type: "string" },
        tau: { type: "string" },
        sampler: { type: "string" },
        prior: { type: "boolean" },
        raw: { type: "boolean" },
      });
      if (values.help) return console.log(HELP.sample);
      if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0]}"`);
      const perClass = int(values["per-class"], "--per-class");
      if (perClass === 0) throw new UsageError("--per-class must be at least 1");
      await sampleCommand(required(values.checkpoint ?? values.run, "--checkpoint"), {
        out: required(values.out, "--out"),
        perClass,
        seed: int(values.seed, "--seed"),
        tau: num(values.tau, "--tau", 1),
        sampler: samplerArg(values.sampler),
        prior: values.prior,
        raw: values.raw,
      });
      return;
    }
    case "train-reference": {
      const { values } = parse({
        dataset: { type: "string" },
        out: { type: "string" },
        steps: { type: "string" },
        batch: { type: "string" },
        seed: { type: "string" },
        force: { type: "boolean" },
      });
      if (values.help) return console.log(HELP["train-reference"]);
      const dataset = required(values.dataset, "--dataset");
      if (dataset !== "mnist" && dataset !== "fashion-mnist") {
        throw new UsageError(`--dataset must be mnist or fashion-mnist, got "${dataset}"`);
      }
      const positive = (text: string | undefined, flag: string) => {
        const v = int(text, flag);
        if (v === 0) throw new UsageError(`${flag} must be at least 1`);
        return v;
      };
      await trainReferenceCommand({
        dataset,
        out: required(values.out, "--out"),
        steps: positive(values.steps, "--steps"),
        batchSize: positive(values.batch, "--batch"),
        seed: int(values.seed, "--seed"),
        force: values.force,
      });
      return;
    }
  }
}

if (import.meta.main) {
  const [command, ...rest] = Deno.args;
  try {
    await run(command, rest);
  } catch (e) {
    const error = e as Error & { code?: string };
    if (e instanceof UsageError || error.code?.startsWith("ERR_PARSE_ARGS")) {
      console.error(`error: ${error.message}${command && command in HELP ? `\n\n${HELP[command]}` : ""}`);
      Deno.exit(2);
    }
    if (e instanceof ConfigError || e instanceof CheckpointError) console.error(`error: ${error.message}`);
    else if (e instanceof Deno.errors.NotFound) console.error(`error: file not found: ${error.message}`);
    else if (e instanceof Deno.errors.NotCapable || e instanceof Deno.errors.PermissionDenied) {
      console.error(
        `error: ${error.message}\n(the deno tasks may write only under runs/ and .cache/; choose an output path there)`,
      );
    } else console.error(`error: ${error.stack ?? error.message}`);
    Deno.exit(1);
  }
}
