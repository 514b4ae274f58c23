/**
 * Every shipped recipe, through the one trainer: a run stopped after a checkpoint, and a training process
 * killed with SIGKILL, resume to the uninterrupted run's exact parameters and EMA shadows.
 */
import { classification, crossEntropyRecipe, generation, parseRecipeConfig } from "@lzn/tasks";
import { checkResume } from "./resume_util.ts";

const ROOT = ".cache/test-runs/resume";
const RUN = {
  steps: 8,
  checkpointEvery: 4,
  logEvery: 4,
  lrSchedule: "constant",
  warmupSteps: 2,
  emaDecay: 0.9,
} as const;
const ENCODER = { channels: [8, 16], strides: [2, 2], headHidden: 16 } as const;
const DECODER = { channels: [8, 8, 8], attention: false, condDim: 16, timeEmbedDim: 8 } as const;

Deno.test("resume: classification (shift augmentation on)", async () => {
  const config = parseRecipeConfig({
    recipe: "classification",
    name: "resume-classification",
    model: { latentDim: 16, classes: 3, encoder: ENCODER },
    data: { dataset: "mnist", trainPerClass: 50, testPerClass: 10, shift: 1 },
    train: { ...RUN, batchSize: 30 },
  }, "test");
  await checkResume(classification, config, `${ROOT}/classification`);
});

Deno.test("resume: generation, joint (label alignment + RF, the decoder frozen from step 6 on)", async () => {
  const config = parseRecipeConfig({
    recipe: "generation",
    name: "resume-joint",
    model: { latentDim: 8, classes: 3, encoder: ENCODER, decoder: DECODER, labelSteps: 20 },
    data: { dataset: "mnist", trainPerClass: 20, testPerClass: 10, shift: 1 },
    train: { ...RUN, batchSize: 20, decoderSteps: 6 },
    eval: { reference: "none" },
  }, "test");
  await checkResume(generation, config, `${ROOT}/joint`);
});

Deno.test("resume: generation, unconditional RF + LZN (case study 1)", async () => {
  const config = parseRecipeConfig({
    recipe: "generation",
    name: "resume-rf-lzn",
    model: { latentDim: 8, classes: 0, encoder: ENCODER, decoder: DECODER },
    data: { dataset: "mnist", trainPerClass: 10, testPerClass: 10 },
    train: { ...RUN, batchSize: 20 },
    eval: { reference: "none" },
  }, "test");
  await checkResume(generation, config, `${ROOT}/rf-lzn`, { child: false });
});

Deno.test("resume: cross-entropy (the LZN encoder with a linear head)", async () => {
  const config = parseRecipeConfig({
    recipe: "cross-entropy",
    name: "resume-ce",
    model: { network: "encoder", latentDim: 8, classes: 3, encoder: ENCODER },
    data: { dataset: "mnist", trainPerClass: 20, testPerClass: 10 },
    train: { ...RUN, batchSize: 20 },
  }, "test");
  await checkResume(crossEntropyRecipe, config, `${ROOT}/ce`);
});
