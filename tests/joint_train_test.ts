/**
 * Case study 3 end to end on a small slice of MNIST: the joint recipe (label alignment + RF loss through a
 * shared latent) trains, checkpoints and resumes its state; generation runs through the typed graph; and
 * `sample` writes a PNG grid with one row per class from the checkpoint.
 */
import { strict as assert } from "node:assert";
import { readTensors } from "@lzn/tensor";
import {
  checkJointReference,
  classifierConfigOf,
  evaluateJoint,
  generateFromPrior,
  JointModel,
  loadRunData,
  parseJointConfig,
  parseReferenceConfig,
  readJointState,
  ReferenceClassifier,
  sampleCommand,
  saveReferenceClassifier,
  trainJoint,
} from "@lzn/tasks";

const ROOT = ".cache/test-runs";

/** 10 classes x 16 digits, batch 16, q = 8, a 3-level UNet of 8/16/16 channels; 12 steps. */
const TINY = parseJointConfig({
  name: "tiny-joint",
  mode: "joint",
  model: {
    latentDim: 8,
    encoder: { channels: [8, 16], strides: [2, 2], headHidden: 16 },
    decoder: { channels: [8, 16, 16], condDim: 32, timeEmbedDim: 16 },
  },
  data: { dataset: "mnist", trainPerClass: 16, testPerClass: 2 },
  train: {
    steps: 12,
    batchSize: 16,
    warmupSteps: 2,
    lrSchedule: "constant",
    decoderSteps: 10,
    logEvery: 4,
    checkpointEvery: 0,
  },
  eval: { sampler: { kind: "euler", steps: 2 } },
});

Deno.test("train-joint: 12 steps on 160 MNIST digits lower the loss; samples come out of the checkpoint", async () => {
  const data = await loadRunData(classifierConfigOf(TINY));
  assert.deepEqual([data.train.count, data.test.count], [160, 20]);
  const dir = `${ROOT}/tiny-joint`;
  const run = await trainJoint(TINY, { runDir: dir, start: "fresh", data, log: null, onProgress: () => {} });
  try {
    assert.equal(run.state.step, 12);
    assert.deepEqual(run.history.map((r) => r.step), [4, 8, 12]);
    const first = run.history[0], last = run.history.at(-1)!;
    console.log(
      `joint losses (total / label / rf): ${
        run.history.map((r) => `${r.loss.toFixed(3)} / ${r.labelLoss.toFixed(3)} / ${r.rfLoss.toFixed(3)}`)
          .join(
            " -> ",
          )
      }`,
    );
    for (const r of run.history) {
      assert.ok([r.loss, r.labelLoss, r.rfLoss].every(Number.isFinite), `non-finite loss at step ${r.step}`);
      assert.ok(
        r.labelLoss >= -1 && r.labelLoss <= 0,
        `the no-log label loss is -mean(p) in [-1, 0]: ${r.labelLoss}`,
      );
    }
    // The RF loss starts near E|x_data - noise|^2 ≈ 1.8 (zero-init decoder); learning the mean image alone
    // removes a large part of it within a dozen steps.
    assert.ok(
      last.loss < 0.85 * first.loss,
      `total loss should fall by >= 15%: ${first.loss} -> ${last.loss}`,
    );
    assert.ok(
      last.rfLoss < 0.85 * first.rfLoss,
      `RF loss should fall by >= 15%: ${first.rfLoss} -> ${last.rfLoss}`,
    );
    const state = await readJointState(dir);
    assert.equal(state.step, 12);
    assert.equal(state.config.mode, "joint");

    // The staggered schedule froze the decoder at step 10: its EMA saw 10 updates, the encoder's 12.
    const counts = await Promise.all(
      [run.emas.decoder, run.emas.encoder!].map((e) => e.stateDict().num_updates.toTypedArray()),
    );
    assert.deepEqual(counts.map((c) => c[0]), [10, 12]);

    // Typed graph: prior -> image (classes from the label decoder), shapes and finiteness.
    const { images, labels } = await generateFromPrior(run.model, 3, { seed: 4 });
    assert.equal(images.count, 3);
    assert.equal(images.images.length, 3 * 784);
    assert.ok(images.images.every(Number.isFinite));
    assert.ok(labels.every((c) => c >= 0 && c < 10));
  } finally {
    run.dispose();
  }

  const png = `${ROOT}/tiny-joint-samples.png`;
  await Deno.remove(png).catch(() => {});
  await sampleCommand(dir, { out: png, perClass: 2, seed: 1 });
  const bytes = await Deno.readFile(png);
  const view = new DataView(bytes.buffer);
  assert.deepEqual([...bytes.subarray(1, 4)], [0x50, 0x4e, 0x47], "PNG signature");
  // One row per class: 10 rows and 2 columns of 28x28 cells with 2 px padding.
  assert.deepEqual([view.getUint32(16), view.getUint32(20)], [2 * 30 + 2, 10 * 30 + 2]);
});

Deno.test("sample CLI: --help, and a clear error for a missing --out", async () => {
  const run = (args: string[]) =>
    new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-read", "--allow-write=.cache,runs", "--allow-env", "main.ts", "sample", ...args],
      stdout: "piped",
      stderr: "piped",
    }).output();
  const help = await run(["--help"]);
  assert.equal(help.code, 0);
  assert.match(new TextDecoder().decode(help.stdout), /one row per class/);
  const bad = await run(["--checkpoint", `${ROOT}/tiny-joint`]);
  assert.equal(bad.code, 2);
  assert.match(new TextDecoder().decode(bad.stderr), /--out is required/);
});

Deno.test("train-joint: a run stopped after its checkpoint resumes to the uninterrupted run's exact weights; rf mode has no latent path", async () => {
  const config = { ...TINY, train: { ...TINY.train, steps: 4, checkpointEvery: 2, decoderSteps: undefined } };
  const data = await loadRunData(classifierConfigOf(config));
  const quiet = { data, log: null, onProgress: () => {} };
  const snapshot = async (run: Awaited<ReturnType<typeof trainJoint>>) => {
    const host = await readTensors(Object.fromEntries(run.model.namedParameters()));
    return Object.fromEntries(Object.entries(host).map(([k, v]) => [k, v.data]));
  };
  const straight = await trainJoint(config, { ...quiet, runDir: `${ROOT}/joint-straight`, start: "fresh" });
  const expected = await snapshot(straight);
  straight.dispose();
  const first = await trainJoint(config, {
    ...quiet,
    runDir: `${ROOT}/joint-stopped`,
    start: "fresh",
    stopAfter: 2,
  });
  assert.equal(first.state.step, 2);
  first.dispose();
  const resumed = await trainJoint(config, { ...quiet, runDir: `${ROOT}/joint-stopped` });
  assert.equal(resumed.state.step, 4);
  const got = await snapshot(resumed);
  resumed.dispose();
  for (const [name, values] of Object.entries(expected)) {
    assert.deepEqual(got[name], values, `${name} after resume`);
  }

  const rf = await trainJoint({ ...config, mode: "rf", train: { ...config.train, steps: 2 } }, {
    ...quiet,
    runDir: `${ROOT}/rf-baseline`,
    start: "fresh",
  });
  try {
    assert.equal(rf.model.classifier, undefined);
    assert.equal(rf.model.decoder.latentDim, 0);
    assert.ok(rf.model.namedParameters().every(([n]) => n.startsWith("decoder.")));
    assert.ok(rf.history.every((r) => Number.isFinite(r.rfLoss) && Number.isNaN(r.labelLoss)));
  } finally {
    rf.dispose();
  }
});

Deno.test("train-joint config: the classifier baseline shares the joint run's hyperparameters; errors are readable", () => {
  const cls = classifierConfigOf(TINY);
  assert.deepEqual(
    [cls.model.latentDim, cls.train.batchSize, cls.train.steps, cls.train.tau, cls.train.alignment.log],
    [8, 16, 12, 1, false],
  );
  assert.deepEqual(cls.model.encoder, TINY.model.encoder);
  assert.throws(
    () => parseJointConfig({ mode: "gan" as never, model: { decoder: { channels: [6] } } }),
    (e: Error) => /mode/.test(e.message) && /decoder\.channels\[0\]/.test(e.message),
  );
  assert.throws(() => parseJointConfig({ train: { steps: 5, decoderSteps: 9 } }), /train\.decoderSteps/);
});

Deno.test("evaluateJoint: with eval.reference it adds FID and generation accuracy of label-conditional samples; a missing reference is named", async () => {
  // An untrained reference network is enough to check the wiring: its features are still a fixed map.
  const refConfig = parseReferenceConfig({
    model: { channels: [4, 8], strides: [2, 2], groups: 2, featureDim: 8 },
    data: { dataset: "mnist" },
  });
  const refDir = `${ROOT}/joint-eval-reference`;
  await Deno.remove(refDir, { recursive: true }).catch(() => {});
  const reference = new ReferenceClassifier(refConfig.model);
  await saveReferenceClassifier(refDir, reference, {
    testAccuracy: 0,
    testCount: 0,
    steps: 0,
    seconds: 0,
    finalLoss: 0,
    adapter: "test",
    config: refConfig,
  });
  reference.dispose();

  const evalCfg = { batchSizes: [20], rfImages: 4, reconstructionImages: 2, generationImages: 12 };
  const config = parseJointConfig({ ...TINY, eval: { ...TINY.eval, ...evalCfg, reference: refDir } });
  const { test } = await loadRunData(classifierConfigOf(config));
  const model = new JointModel(config);
  try {
    const report = await evaluateJoint(model, test, config);
    assert.ok(Number.isFinite(report.fid) && report.fid! >= 0, `FID ${report.fid}`);
    const acc = report.generationAccuracy!;
    assert.ok(
      acc >= 0 && acc <= 1 && Number.isInteger(acc * 12),
      `generation accuracy ${acc} over 12 images`,
    );
    assert.ok(Number.isFinite(report.rfLoss) && Number.isFinite(report.reconstructionError));

    // Without a reference the generation metrics are skipped, not faked.
    const plain = await evaluateJoint(
      model,
      test,
      parseJointConfig({ ...TINY, eval: { ...TINY.eval, ...evalCfg } }),
    );
    assert.equal(plain.fid, undefined);
    assert.equal(plain.generationAccuracy, undefined);

    const missing = parseJointConfig({
      ...TINY,
      eval: { ...TINY.eval, ...evalCfg, reference: `${ROOT}/nope` },
    });
    await assert.rejects(evaluateJoint(model, test, missing), /deno task train-reference/);
  } finally {
    model.dispose();
  }
});
