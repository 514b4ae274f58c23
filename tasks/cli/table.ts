/**
 * The command table of the CLI: one entry per command with its help, its flags and how it runs. The table
 * and the argument checks import nothing that touches the GPU, so `--help` and a mistyped flag answer at
 * once; a command's implementation (and the WebGPU adapter) is loaded only when it runs. A flag means one
 * thing in every command that has it.
 *
 * @module
 */
import { checkOutput, listFlag, numberFlag, required, UsageError } from "./args.ts";

/** A flag of `node:util` `parseArgs`. */
type Flag = { type: "string" | "boolean"; short?: string };

/**
 * One command: help text, flags, whether it takes positional arguments, and its run function (which gets
 * the parsed flags and positionals; every value is checked before work starts).
 *
 * @example
 * ```ts
 * import { COMMANDS } from "@lzn/tasks/cli";
 * console.log(COMMANDS.classify.summary);
 * ```
 */
export interface Command {
  /** One line for the command list. */
  summary: string;
  /** The full `--help` text. */
  help: string;
  /** Flags (besides `--help` and `--debug`, which every command has). */
  flags: Record<string, Flag>;
  /** Positional arguments: their name in the usage line, or none. */
  positionals?: string;
  /** Runs the command. */
  run(values: Record<string, string | boolean | undefined>, positionals: string[]): Promise<void>;
}

/**
 * The commands' names.
 *
 * @example
 * ```ts
 * import type { CommandName } from "@lzn/tasks/cli";
 * const name: CommandName = "train";
 * ```
 */
export type CommandName = "demo" | "train" | "eval" | "classify" | "embed" | "sample";

const str = { type: "string" } as const, bool = { type: "boolean" } as const;
const s = (v: string | boolean | undefined) => (typeof v === "string" ? v : undefined);
const b = (v: string | boolean | undefined) => v === true;

const RUN = "  --run DIR         the run directory (default for train: runs/<name>)";
const DEBUG = "  --debug\tprint the stack trace of an error";

/** A command's help with the `--debug` line's description in the column of the other flags'. */
function help(text: string): string {
  const column = text.match(/^ {2}--\S+(?: [A-Z][\w.]*)? +(?=\S)/m)?.[0].length ?? 20;
  return text.replace(DEBUG, "  --debug".padEnd(column) + DEBUG.split("\t")[1]);
}

/** Files a run owns; loaded lazily so that the table itself imports nothing GPU-bound. */
async function runFile(): Promise<(name: string) => boolean> {
  return (await import("../run_dir.ts")).isRunFile;
}

/**
 * The CLI's commands.
 *
 * @example
 * ```ts
 * import { COMMANDS } from "@lzn/tasks/cli";
 * for (const [name, c] of Object.entries(COMMANDS)) console.log(`${name}: ${c.summary}`);
 * ```
 */
export const COMMANDS: { readonly [N in CommandName]: Command } = {
  demo: {
    summary: "train an LZN classifier on the bundled MNIST digits, print held-out accuracy, write a PNG",
    help: help(`usage: deno task demo [--steps N] [--resume] [--run DIR]

Trains the demo config (recipe classification; MNIST 9,000 train / 1,000 test, q=32, batch 256, 320 steps)
from scratch into runs/demo, evaluates the EMA weights on the held-out digits (tau 0 ... 1.2, eval batches
of 1000 and 500, and one digit at a time against the stored anchor bank), writes runs/demo/predictions.png
and ends with one JSON line of metrics ("accuracy" = tau 0, eval batch 1000). Starting fresh replaces an
earlier demo in that directory; a directory holding any other run is refused.

  --steps N         training steps, >= 1 (default 320)
  --resume          continue runs/demo from its checkpoint instead of starting fresh
${RUN.replace("(default for train: runs/<name>)", "(default runs/demo)")}
${DEBUG}`),
    flags: { steps: str, resume: bool, run: str },
    async run(v) {
      const steps = numberFlag(s(v.steps), "--steps", { min: 1, integer: true });
      await (await import("./train_commands.ts")).demoCommand({
        steps,
        resume: b(v.resume),
        runDir: s(v.run),
      });
    },
  },
  train: {
    summary: "train (or resume) any recipe from a JSON config, then evaluate it",
    help: help(`usage: deno task train --config FILE [--fresh] [--stop-after N] [--run DIR] [--no-eval]

Trains the recipe a JSON config names ("recipe": classification | generation | cross-entropy |
representation; every other field optional, see tasks/README.md and tasks/recipes/), checkpointing into
runs/<name>. A checkpoint of the same model there is resumed; one of another model is an error (--fresh
discards it). The run directory is locked while training. At the end the EMA weights are evaluated into
runs/<name>/eval.json and the last output line is one JSON object of metrics.

  --config FILE     JSON config (required)
  --fresh           discard the run's files (state, checkpoints, eval.json, PNGs, bank) and start over
  --stop-after N    stop once the run has done N steps in total (an absolute step, >= 1), checkpointing
                    there; the same command without it resumes
${RUN}
  --no-eval         skip the evaluation at the end
${DEBUG}`),
    flags: { config: str, fresh: bool, "stop-after": str, run: str, "no-eval": bool },
    async run(v) {
      const config = required(s(v.config), "--config");
      const stopAfter = numberFlag(s(v["stop-after"]), "--stop-after", { min: 1, integer: true });
      await (await import("./train_commands.ts")).trainCommand({
        config,
        runDir: s(v.run),
        fresh: b(v.fresh),
        stopAfter,
        noEval: b(v["no-eval"]),
      });
    },
  },
  eval: {
    summary: "evaluate a trained run with its recipe's metrics (writes eval.json)",
    help: help(`usage: deno task eval --run DIR [--raw] [--taus LIST] [--batch-sizes LIST]

Evaluates a trained run with its recipe's evaluation and the run's eval settings (EMA weights), rewrites
DIR/eval.json (and, with the EMA weights, the anchor bank) and prints one JSON line of metrics.

  --run DIR           run directory (required)
  --raw               evaluate the training weights instead of the EMA (the anchor bank is left as it was)
  --taus LIST         prior-noise scales >= 0 of the accuracy sweep, e.g. 0,0.5,1 (classifying recipes; a
                      classifier's headline "accuracy" stays at its config's setting, evaluated too)
  --batch-sizes LIST  eval batch sizes >= 1, e.g. 1000,500 (classifiers; a joint model evaluates at one
                      eval batch: give one size)
${DEBUG}`),
    flags: { run: str, raw: bool, taus: str, "batch-sizes": str },
    async run(v) {
      const runDir = required(s(v.run), "--run");
      const taus = listFlag(s(v.taus), "--taus", { min: 0 });
      const batchSizes = listFlag(s(v["batch-sizes"]), "--batch-sizes", { min: 1, integer: true });
      await (await import("./train_commands.ts")).evalCommand({ runDir, raw: b(v.raw), taus, batchSizes });
    },
  },
  classify: {
    summary: "labels of images (.npy or PNG files) from a classifying run",
    help: help(
      `usage: deno task classify --run DIR [--tau T] [--seed S] [--json] [--batch-relative [--batch-size N]] IMAGES...

IMAGES: one .npy file (integers 0..255 [n,28,28] or [n,784], or float in [0,1]) or 28x28 PNG files (grey,
RGB, palette, 8/16-bit, interlaced; white ink on black, as MNIST). Prints "name<TAB>label" per image (or one
JSON line with --json). Each image's latent is computed against the run's anchor bank (training anchors
stored by its evaluation) and itself, so a label does not depend on the other images given. Inputs to try:
examples/digits.npy (20 held-out MNIST digits) or examples/digit-7.png, e.g. after the demo:
deno task classify --run runs/demo examples/digits.npy

  --run DIR          run directory of a classification or joint generation run (required)
  --tau T            prior-noise scale >= 0 (default 0, the zone centre)
  --seed S           noise seed, an integer >= 0 (default 0; only matters for tau > 0)
  --json             one JSON line {"labels": [...]}
  --batch-relative   no bank: the images of each batch are the anchor set of their own latents (spec §8's
                     minibatch approximation; labels then depend on the batch, so use large batches)
  --batch-size N     images per batch, >= 1, with --batch-relative (default: all)
${DEBUG}`,
    ),
    flags: { run: str, tau: str, seed: str, json: bool, "batch-relative": bool, "batch-size": str },
    positionals: "IMAGES...",
    async run(v, inputs) {
      const opts = inferenceFlags(v, inputs);
      await (await import("./infer_commands.ts")).classifyCommand({ ...opts, inputs, json: b(v.json) });
    },
  },
  embed: {
    summary: "latents, anchors or representations of images, as a float32 .npy",
    help: help(`usage: deno task embed --run DIR --out FILE.npy [--kind K] [--tau T] [--seed S] [--force]
                       [--batch-relative [--batch-size N]] IMAGES...

Writes a float32 NPY [n, d] of the images' latents (default; against the run's anchor bank, as classify),
raw anchors, or (representation runs) the encoder's pooled representation. IMAGES as for classify.

  --run DIR          run directory (required)
  --out FILE         output .npy (required; under runs/ or .cache/; never one of the run's own files or an
                     input; an existing file only with --force)
  --kind K           latents (default), anchors, or representation
  --tau T            prior-noise scale >= 0 of the latents (default 0)
  --seed S           noise seed, an integer >= 0 (default 0)
  --force            replace an existing output file
  --batch-relative   latents over each batch as its own anchor set (no bank)
  --batch-size N     images per batch, >= 1, with --batch-relative (default: all)
${DEBUG}`),
    flags: {
      run: str,
      out: str,
      kind: str,
      tau: str,
      seed: str,
      force: bool,
      "batch-relative": bool,
      "batch-size": str,
    },
    positionals: "IMAGES...",
    async run(v, inputs) {
      const opts = inferenceFlags(v, inputs);
      const kind = s(v.kind) ?? "latents";
      if (kind !== "latents" && kind !== "anchors" && kind !== "representation") {
        throw new UsageError(`--kind must be latents, anchors or representation, got "${kind}"`);
      }
      const out = await checkOutput(required(s(v.out), "--out"), {
        inputs,
        force: b(v.force),
        flag: "--out",
        extension: ".npy",
        isRunFile: await runFile(),
      });
      await (await import("./infer_commands.ts")).embedCommand({ ...opts, inputs, out, kind });
    },
  },
  sample: {
    summary: "generate images from a generation run: a PNG grid, one row per class",
    help: help(`usage: deno task sample --run DIR --out FILE.png [--per-class N] [--seed S] [--tau T]
                        [--sampler euler:N|rk45[:RTOL,ATOL]] [--prior] [--raw] [--force]

Writes a PNG grid of images generated by a generation run (EMA weights). Class-conditional runs: one row
per class; each image's latent is a sample of its class's latent zone (label -> image; the RF baseline samples
per class directly). With --prior (and for unconditional runs) the latents are z ~ N(0, I); a joint run's
label decoder then gives each image's class (its row; C x N samples, a row shows at most N of its class, the
JSON's perClassCounts says how many fell into each). An unconditional run's grid is N x N.

  --run DIR         run directory of a generation run (required)
  --out FILE        output PNG (required; under runs/ or .cache/; not a run's own file; --force to replace)
  --per-class N     images per class = grid columns, >= 1 (default 8)
  --seed S          noise seed, an integer >= 0 (default 0)
  --tau T           latent noise scale >= 0 (default 1; 0 = zone centres)
  --sampler S       euler:N (N Euler steps) or rk45[:RTOL,ATOL] (default: the run's eval sampler)
  --prior           unconditional generation from the Gaussian prior
  --raw             the training weights instead of the EMA
  --force           replace an existing output file
${DEBUG}`),
    flags: {
      run: str,
      out: str,
      "per-class": str,
      seed: str,
      tau: str,
      sampler: str,
      prior: bool,
      raw: bool,
      force: bool,
    },
    async run(v, positionals) {
      if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0]}"`);
      const runDir = required(s(v.run), "--run");
      const out = await checkOutput(required(s(v.out), "--out"), {
        force: b(v.force),
        flag: "--out",
        extension: ".png",
        isRunFile: await runFile(),
      });
      await (await import("./sample_command.ts")).sampleCommand({
        runDir,
        out,
        perClass: numberFlag(s(v["per-class"]), "--per-class", { min: 1, integer: true }) ?? 8,
        seed: numberFlag(s(v.seed), "--seed", { min: 0, integer: true }) ?? 0,
        tau: numberFlag(s(v.tau), "--tau", { min: 0 }) ?? 1,
        sampler: samplerFlag(s(v.sampler)),
        prior: b(v.prior),
        raw: b(v.raw),
      });
    },
  },
};

function inferenceFlags(v: Record<string, string | boolean | undefined>, inputs: string[]) {
  if (!inputs.length) throw new UsageError("no input images given (one .npy file or PNG files)");
  if (inputs.length > 1 && inputs.some((p) => p.toLowerCase().endsWith(".npy"))) {
    throw new UsageError("give either one .npy file or PNG files, not both or several .npy files");
  }
  const batchRelative = b(v["batch-relative"]);
  const batchSize = numberFlag(s(v["batch-size"]), "--batch-size", { min: 1, integer: true });
  if (batchSize !== undefined && !batchRelative) {
    throw new UsageError(
      "--batch-size applies with --batch-relative only (with the anchor bank, images do not interact)",
    );
  }
  return {
    runDir: required(s(v.run), "--run"),
    tau: numberFlag(s(v.tau), "--tau", { min: 0 }) ?? 0,
    seed: numberFlag(s(v.seed), "--seed", { min: 0, integer: true }) ?? 0,
    batchRelative,
    batchSize,
  };
}

/** `euler:N` or `rk45[:RTOL,ATOL]` (default tolerances 1e-5, the release's). */
function samplerFlag(
  text: string | undefined,
): { kind: "euler"; steps: number } | { kind: "rk45"; rtol: number; atol: number } | undefined {
  if (text === undefined) return undefined;
  const [kind, arg] = text.split(":");
  if (kind === "euler" && arg !== undefined) {
    return { kind, steps: numberFlag(arg, "--sampler euler:N", { min: 1, integer: true })! };
  }
  if (kind === "rk45") {
    if (arg === undefined) return { kind, rtol: 1e-5, atol: 1e-5 };
    const [rtol, atol] = listFlag(arg, "--sampler rk45:RTOL,ATOL", { min: 0 })!;
    if (rtol > 0 && atol > 0) return { kind, rtol, atol };
  }
  throw new UsageError(`--sampler: expected euler:N or rk45[:RTOL,ATOL] with positive values, got "${text}"`);
}
