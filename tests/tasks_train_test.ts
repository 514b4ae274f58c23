/**
 * The classification recipe end to end on small real data: a tiny run must beat chance by a stated margin,
 * and a run stopped or killed after a checkpoint resumes to exactly the parameters of an uninterrupted run.
 */
import { strict as assert } from "node:assert";
import { readTensors, type Tensor } from "@lzn/tensor";
import {
  type ClassifierConfig,
  evaluateClassifier,
  loadClassifier,
  loadRunData,
  parseClassifierConfig,
  readRunState,
  trainClassifier,
  type TrainedClassifier,
} from "@lzn/tasks";

const ROOT = ".cache/test-runs";

/** 3 MNIST classes x 50 training digits (chance: 1/3), a small encoder, K = 100 label flows as the release. */
const TINY = parseClassifierConfig({
  name: "tiny",
  model: { latentDim: 16, classes: 3, encoder: { channels: [8, 16], strides: [2, 2], headHidden: 32 } },
  data: { dataset: "mnist", trainPerClass: 50, testPerClass: 100 },
  train: { steps: 40, batchSize: 30, warmupSteps: 5, emaDecay: 0.9, logEvery: 10, checkpointEvery: 0 },
  eval: { batchSizes: [300], taus: [0, 1], headline: { tau: 0, batchSize: 300 } },
});

const quiet = { log: null, onProgress: () => {} };

async function snapshot(
  run: TrainedClassifier,
): Promise<Record<string, Float32Array | Int32Array | Uint32Array>> {
  const tensors: Record<string, Tensor> = Object.fromEntries(run.model.namedParameters());
  run.ema.shadow.forEach((s, i) => tensors[`ema.${i}`] = s);
  const host = await readTensors(tensors);
  return Object.fromEntries(Object.entries(host).map(([k, v]) => [k, v.data]));
}

Deno.test("train: 3 classes x 50 MNIST digits, 40 steps -> held-out accuracy >= 0.75 (chance 0.33)", async () => {
  const data = await loadRunData(TINY);
  assert.deepEqual([data.train.count, data.test.count], [150, 300]);
  const run = await trainClassifier(TINY, { ...quiet, runDir: `${ROOT}/tiny`, start: "fresh", data });
  try {
    assert.equal(run.state.step, 40);
    const losses = run.history.map((r) => r.loss);
    assert.ok(losses.at(-1)! < losses[0], `loss should fall: ${losses.map((l) => l.toFixed(3)).join(" ")}`);
    run.ema.swapIn();
    const report = await evaluateClassifier(run.model, data.test, {
      batchSizes: [300],
      taus: [0, 1],
      seed: 0,
    });
    run.ema.swapOut();
    const acc = report.headline.accuracy;
    console.log(
      `tiny run: loss ${losses.map((l) => l.toFixed(3)).join(" -> ")}, accuracy tau0 ${acc}, tau1 ${
        report.results[1].accuracy
      }`,
    );
    assert.ok(acc >= 0.75, `accuracy ${acc} should beat chance (0.33) by 0.42`);
  } finally {
    run.dispose();
  }
});

// Constant LR after warm-up, so that the schedule does not depend on the total step count (the killed
// child below is given 400 steps, and is killed long before it gets there). Shift augmentation on: its
// offsets are a function of (seed, step), so a resumed run must still match the uninterrupted one.
const RESUME: ClassifierConfig = {
  ...TINY,
  name: "resume",
  train: { ...TINY.train, steps: 8, checkpointEvery: 4, lrSchedule: "constant", shift: 1 },
};

Deno.test("train: shift augmentation changes what is trained, reproducibly; out-of-range shifts are refused", async () => {
  const data = await loadRunData(TINY);
  const twoSteps = (shift: number, name: string) =>
    trainClassifier(
      { ...TINY, name, train: { ...TINY.train, steps: 2, logEvery: 1, shift } },
      { ...quiet, runDir: `${ROOT}/${name}`, start: "fresh", data },
    );
  const runs = [await twoSteps(0, "shift0"), await twoSteps(2, "shift2"), await twoSteps(2, "shift2b")];
  try {
    const [plain, shifted, again] = await Promise.all(runs.map(snapshot));
    const encoderWeights = Object.keys(plain).filter((k) => k.startsWith("image."));
    assert.ok(encoderWeights.length > 0);
    assert.ok(
      encoderWeights.some((k) => plain[k].some((v, i) => v !== shifted[k][i])),
      "a 2-pixel shift must change the encoder's updates",
    );
    assert.deepEqual(again, shifted, "the same seed must give the same shifts");
    // The first step's loss differs too: the encoder saw other pixels.
    assert.notEqual(runs[1].history[0].loss, runs[0].history[0].loss);
  } finally {
    for (const r of runs) r.dispose();
  }
  assert.throws(() => parseClassifierConfig({ train: { shift: 9 } }), /train\.shift/);
  assert.throws(() => parseClassifierConfig({ train: { shift: 0.5 } }), /train\.shift/);
});

Deno.test("train: a run stopped after its checkpoint, or killed, resumes to the uninterrupted run's exact parameters", async () => {
  const data = await loadRunData(RESUME);
  const straight = await trainClassifier(RESUME, {
    ...quiet,
    runDir: `${ROOT}/straight`,
    start: "fresh",
    data,
  });
  const expected = await snapshot(straight);
  straight.dispose();

  // 1. Stopped right after the step-4 checkpoint (as if killed then), resumed by a new trainer.
  const first = await trainClassifier(RESUME, {
    ...quiet,
    runDir: `${ROOT}/stopped`,
    start: "fresh",
    stopAfter: 4,
    data,
  });
  assert.equal(first.state.step, 4);
  first.dispose();
  const state = await readRunState(`${ROOT}/stopped`);
  assert.deepEqual([state.step, state.data.epoch, state.data.batch], [4, 0, 4]);
  const resumed = await trainClassifier(RESUME, { ...quiet, runDir: `${ROOT}/stopped`, data });
  assert.equal(resumed.state.step, 8);
  assert.deepEqual(resumed.history.map((r) => r.step), [8], "the resumed session trains steps 5..8 only");
  const got = await snapshot(resumed);
  resumed.dispose();
  for (const [name, values] of Object.entries(expected)) {
    assert.deepEqual(got[name], values, `${name} differs after resume`);
  }

  // 2. A real process killed (SIGKILL) once its first checkpoint exists, then resumed here.
  const cfgPath = `${ROOT}/resume.json`;
  await Deno.mkdir(ROOT, { recursive: true });
  await Deno.writeTextFile(cfgPath, JSON.stringify({ ...RESUME, train: { ...RESUME.train, steps: 400 } }));
  const dir = `${ROOT}/killed`;
  await Deno.remove(dir, { recursive: true }).catch(() => {});
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-read",
      "--allow-write=.cache",
      "--allow-env",
      "main.ts",
      "train",
      "--config",
      cfgPath,
      "--run-dir",
      dir,
      "--no-eval",
    ],
    stdout: "null",
    stderr: "null",
  }).spawn();
  let killedAt = -1;
  for (let i = 0; i < 1200 && killedAt < 0; i++) {
    await new Promise((r) => setTimeout(r, 100));
    try {
      const s = JSON.parse(await Deno.readTextFile(`${dir}/state.json`));
      if (s.step >= 4) {
        try {
          child.kill("SIGKILL");
        } catch { /* it may have finished already */ }
        killedAt = s.step;
      }
    } catch { /* no checkpoint yet */ }
  }
  const status = await child.status;
  assert.ok(killedAt >= 4, "the child never wrote a checkpoint");
  assert.equal(status.signal, "SIGKILL", "the child should have been killed mid-run");
  const after = await readRunState(dir); // consistent state.json + tensor file, whatever moment the kill hit
  assert.ok(after.step % 4 === 0 && after.step >= 4, `checkpoint step ${after.step}`);
  console.log(`child killed (SIGKILL) with its last checkpoint at step ${after.step}`);
  if (after.step > 8) return; // a very fast machine passed step 8 before the kill: nothing left to compare
  const revived = await trainClassifier(RESUME, { ...quiet, runDir: dir, data });
  assert.equal(revived.state.step, 8);
  const got2 = await snapshot(revived);
  revived.dispose();
  for (const [name, values] of Object.entries(expected)) {
    assert.deepEqual(got2[name], values, `${name} differs after kill + resume`);
  }

  // The stored run loads for inference with its EMA weights.
  const { model, state: loaded } = await loadClassifier(dir);
  assert.equal(loaded.step, 8);
  const emaHost = await readTensors(Object.fromEntries(model.namedParameters()));
  model.namedParameters().forEach(([n], i) => assert.deepEqual(emaHost[n].data, expected[`ema.${i}`]));
  model.dispose();
});
