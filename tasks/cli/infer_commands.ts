/**
 * Inference commands on a trained run: `classify` (labels of images) and `embed` (latents, anchors or
 * representations as NPY). By default every image's latent is computed against the run's anchor bank and
 * itself, so an answer never depends on the other images of the call; `--batch-relative` uses each batch as
 * its own anchor set instead (the minibatch approximation of training).
 *
 * @module
 */
import { dirname } from "node:path";
import { noGrad, scope, type Tensor } from "@lzn/tensor";
import { hashSeed } from "@lzn/data";
import type { ImageBatch, Labels } from "@lzn/encoders";
import { type ClassifyingSpace, classifyWithBank } from "../evaluation/accuracy.ts";
import { loadBank } from "../bank.ts";
import { type LoadedRun, loadRun } from "../run.ts";
import { readImages } from "../image_input.ts";
import { writeNpy } from "../npy.ts";
import { CheckpointError } from "../run_dir.ts";
import type { LatentSpace } from "../space.ts";
import type { Modality } from "../space_types.ts";

/**
 * Flags shared by the inference commands.
 *
 * @example
 * ```ts ignore
 * import type { InferenceOptions } from "@lzn/tasks/cli/commands";
 * const opts: InferenceOptions = { runDir: "runs/demo", inputs: ["examples/digits.npy"], tau: 0, seed: 0, batchRelative: false };
 * ```
 */
export interface InferenceOptions {
  /** The run directory. */
  runDir: string;
  /** A .npy file or PNG files. */
  inputs: string[];
  /** Prior-noise scale of the latents. */
  tau: number;
  /** Noise seed. */
  seed: number;
  /** Latents over each batch as its own anchor set instead of the anchor bank. */
  batchRelative: boolean;
  /** Images per batch with `batchRelative` (default: all). */
  batchSize?: number;
}

function* chunks(batch: ImageBatch, size: number): Generator<ImageBatch> {
  const per = batch.images.length / batch.count;
  for (let start = 0; start < batch.count; start += size) {
    const count = Math.min(size, batch.count - start);
    yield { images: batch.images.subarray(start * per, (start + count) * per), count };
  }
}

// deno-lint-ignore no-explicit-any
function spaceOf(run: LoadedRun, needs: "label" | "image"): LatentSpace<Record<string, Modality>> & any {
  const space = (run.model as { space?: LatentSpace<Record<string, Modality>> }).space;
  const ok = space && space.modalities.includes("image") &&
    (needs === "image" ||
      (space.modalities.includes("label") && space.modality("label").decoder !== undefined));
  if (!ok) {
    const what = needs === "label"
      ? "classify images (it has no image -> label composition)"
      : "embed images";
    throw new CheckpointError(`${run.runDir} is a ${run.recipe.name} run, which cannot ${what}`);
  }
  return space;
}

async function bankOf(run: LoadedRun): Promise<Tensor> {
  const { bank, reason } = await loadBank(run.runDir, run.state, run.weights);
  const size = (run.config as { eval?: { bank?: number } }).eval?.bank;
  if (!bank && !(typeof size === "number" && size > 0)) {
    // Its evaluation stores none, so `eval` would not help.
    throw new CheckpointError(
      `${run.runDir}: its ${run.recipe.name} config stores no anchor bank (${
        size === 0 ? "eval.bank is 0" : "the recipe has none"
      }); pass --batch-relative to compute latents over the images of the call`,
    );
  }
  if (!bank) {
    throw new CheckpointError(
      `${reason}: run \`deno task eval --run ${run.runDir}\` to store the bank of its current checkpoint, or pass ` +
        `--batch-relative`,
    );
  }
  return bank;
}

/**
 * `classify`: labels of images, one `name<TAB>label` line each (or one JSON line).
 *
 * @example
 * ```ts ignore
 * import { classifyCommand } from "@lzn/tasks/cli/commands";
 * await classifyCommand({ runDir: "runs/demo", inputs: ["examples/digits.npy"], tau: 0, seed: 0, batchRelative: false, json: true });
 * ```
 */
export async function classifyCommand(opts: InferenceOptions & { json?: boolean }): Promise<void> {
  const { batch, names } = await readImages(opts.inputs);
  const run = await loadRun(opts.runDir);
  try {
    const space = spaceOf(run, "label") as ClassifyingSpace;
    let labels: Labels;
    if (opts.batchRelative) {
      labels = new Int32Array(batch.count);
      const task = space.task({ from: "image", to: "label" });
      let at = 0, k = 0;
      for (const part of chunks(batch, opts.batchSize ?? batch.count)) {
        labels.set(await task.run(part, { tau: opts.tau, seed: hashSeed(opts.seed, k++) }), at);
        at += part.count;
      }
      if ((opts.batchSize ?? batch.count) < 100) {
        console.error(
          "note: with --batch-relative, each batch is the anchor set of its own latents; small batches give worse " +
            "labels (spec §8) — drop --batch-relative to use the run's anchor bank",
        );
      }
    } else {
      const bank = await bankOf(run);
      try {
        labels = await classifyWithBank(space, batch, bank, { tau: opts.tau, seed: opts.seed });
      } finally {
        bank.dispose();
      }
    }
    if (opts.json) console.log(JSON.stringify({ labels: [...labels] }));
    else names.forEach((n, i) => console.log(`${n}\t${labels[i]}`));
  } finally {
    run.dispose();
  }
}

/**
 * `embed`: latents (default), anchors or representations of images, written as a float32 NPY `[n, d]`.
 *
 * @example
 * ```ts ignore
 * import { embedCommand } from "@lzn/tasks/cli/commands";
 * await embedCommand({ runDir: "runs/demo", inputs: ["examples/digits.npy"], out: "runs/z.npy", kind: "latents", tau: 0, seed: 0, batchRelative: false });
 * ```
 */
export async function embedCommand(
  opts: InferenceOptions & { out: string; kind: "latents" | "anchors" | "representation" },
): Promise<void> {
  const { batch } = await readImages(opts.inputs);
  const run = await loadRun(opts.runDir);
  try {
    const space = spaceOf(run, "image");
    const rowsOf = (part: ImageBatch, k: number, bank?: Tensor): Tensor =>
      noGrad(() => {
        switch (opts.kind) {
          case "anchors":
            return space.anchors("image", part);
          case "representation": {
            const enc = space.modality("image").encoder as {
              representation?: (x: Tensor) => Tensor;
              toTensor?: (b: ImageBatch) => Tensor;
            };
            if (!enc.representation || !enc.toTensor) {
              throw new CheckpointError(
                `${run.runDir}: the ${run.recipe.name} run's image encoder has no representation layer`,
              );
            }
            return enc.representation(enc.toTensor(part));
          }
          case "latents":
            return space.latents("image", part, { tau: opts.tau, seed: hashSeed(opts.seed, k), bank });
        }
      });
    const bank = opts.kind === "latents" && !opts.batchRelative ? await bankOf(run) : undefined;
    const parts: Float32Array[] = [];
    let dim = 0, k = 0;
    try {
      // Without --batch-relative the chunks only bound memory: with a bank, rows do not interact.
      for (const part of chunks(batch, opts.batchRelative ? (opts.batchSize ?? batch.count) : 256)) {
        const rows = scope(() => rowsOf(part, k++, bank));
        dim = rows.shape[1];
        parts.push(await rows.toArray());
        rows.dispose();
      }
    } finally {
      bank?.dispose();
    }
    const data = new Float32Array(batch.count * dim);
    parts.reduce((at, p) => (data.set(p, at), at + p.length), 0);
    await Deno.mkdir(dirname(opts.out), { recursive: true }); // as `sample` does
    await writeNpy(opts.out, { dtype: "float32", shape: [batch.count, dim], data });
    console.log(
      JSON.stringify({ out: opts.out, shape: [batch.count, dim], kind: opts.kind, bank: bank !== undefined }),
    );
  } finally {
    run.dispose();
  }
}
