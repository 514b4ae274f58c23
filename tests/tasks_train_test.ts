/**
 * The one trainer on small real data: a tiny classification run beats chance by a stated margin, the state
 * walk names every tensor one way for every recipe, the data block's shift augmentation reaches every recipe,
 * a failed restore frees everything and releases the run, and a run directory is owned by one process.
 */
import { strict as assert } from "node:assert";
import { bufferPool, onesFlag, recorderStats } from "@lzn/tensor";
import {
  buildOptimizers,
  CheckpointError,
  classification,
  crossEntropyRecipe,
  disposeOptimizers,
  evaluateAccuracy,
  evaluateRun,
  generation,
  loadRunData,
  lockRun,
  parseRecipeConfig,
  RUN_IMAGE_MARK,
  RUN_IMAGES,
  stateDict,
  train,
} from "@lzn/tasks";
import { pngText } from "@lzn/data";
import { snapshot } from "./resume_util.ts";

const ROOT = ".cache/test-runs/train";
const quiet = { log: null, onProgress: () => {} };
const ENCODER = { channels: [8, 16], strides: [2, 2], headHidden: 32 } as const;

/** 3 MNIST classes x 50 training digits (chance: 1/3), a small encoder, K = 100 label flows as the release. */
const TINY = parseRecipeConfig({
  recipe: "classification",
  name: "tiny",
  model: { latentDim: 16, classes: 3, encoder: ENCODER },
  data: { dataset: "mnist", trainPerClass: 50, testPerClass: 100 },
  train: { steps: 40, batchSize: 30, warmupSteps: 5, emaDecay: 0.9, logEvery: 10, checkpointEvery: 0 },
  eval: { batchSizes: [300], taus: [0, 1], headline: { tau: 0, batchSize: 300 }, bank: 150 },
}, "test");

Deno.test("classification: 3 classes x 50 MNIST digits, 40 steps -> held-out accuracy >= 0.75 (chance 0.33), also one image at a time with the bank", async () => {
  const data = await loadRunData(TINY.data, 3);
  assert.deepEqual([data.train.count, data.test.count], [150, 300]);
  const dir = `${ROOT}/tiny`;
  const run = await train(classification, TINY, { ...quiet, runDir: dir, start: "fresh", data });
  try {
    assert.equal(run.state.step, 40);
    const losses = run.history.map((r) => r.loss);
    assert.ok(losses.at(-1)! < losses[0], `loss should fall: ${losses.map((l) => l.toFixed(3)).join(" ")}`);
    const m = await evaluateRun(classification, TINY, run.model, {
      run: { dir, step: 40, architectureHash: run.state.architectureHash, weights: "ema" },
      data,
      optimizers: run.optimizers,
      log: () => {},
    });
    console.log(`tiny run: loss ${losses.map((l) => l.toFixed(3)).join(" -> ")}, ${JSON.stringify(m)}`);
    assert.ok((m.accuracy as number) >= 0.75, `accuracy ${m.accuracy} should beat chance (0.33) by 0.42`);
    assert.ok((m.bankAccuracy as number) >= 0.75, `bank accuracy ${m.bankAccuracy} (one image at a time)`);
    assert.deepEqual(JSON.parse(await Deno.readTextFile(`${dir}/eval.json`)), m);
    for (const f of ["bank.safetensors", "predictions.png"]) {
      assert.ok((await Deno.stat(`${dir}/${f}`)).isFile, f);
    }
    assert.deepEqual(pngText(await Deno.readFile(`${dir}/predictions.png`)), RUN_IMAGE_MARK);
    const images = [...Deno.readDirSync(dir)].map((e) => e.name)
      .filter((n) => (RUN_IMAGES as readonly string[]).includes(n));
    assert.deepEqual(images, [...classification.images], "the recipe lists the images it writes");
    // An evaluation of the raw weights leaves the bank that inference (EMA weights) reads.
    const bank = await Deno.readFile(`${dir}/bank.safetensors`);
    const said: string[] = [];
    await evaluateRun(classification, TINY, run.model, {
      run: { dir, step: 40, architectureHash: run.state.architectureHash, weights: "raw" },
      data,
      log: (line) => said.push(line),
    });
    assert.deepEqual(await Deno.readFile(`${dir}/bank.safetensors`), bank);
    assert.ok(
      said.some((l) => /raw weights: the stored anchor bank .* is left as it was/.test(l)),
      said.join("\n"),
    );
    // A setting's accuracy does not depend on what else is swept (its noise follows τ's value).
    const at = async (taus: number[]) =>
      (await evaluateAccuracy(run.model.space, data.test, { batchSizes: [100], taus, seed: 3 })).results
        .find((r) => r.tau === 0.5)!.accuracy;
    assert.equal(await at([0, 1, 0.5]), await at([0.5]));
  } finally {
    run.dispose();
  }
  // --fresh removes every file the run wrote (its evaluation's too) and nothing else: not the user's PNGs.
  await Deno.writeTextFile(`${dir}/notes.txt`, "the user's own file");
  await Deno.copyFile("examples/digit-7.png", `${dir}/my-digit.png`);
  // Not even one under a run image's name: training refuses before it touches the directory.
  const before = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
  await Deno.rename(`${dir}/predictions.png`, `${ROOT}/predictions-of-tiny.png`);
  await Deno.copyFile("examples/digit-7.png", `${dir}/predictions.png`);
  await assert.rejects(
    () => train(classification, TINY, { ...quiet, runDir: dir, start: "fresh" }),
    (e: Error) =>
      e instanceof CheckpointError &&
      e.message ===
        `${dir}/predictions.png has no lzn run-image mark, so this run did not write it (a file of ` +
          `yours, or one saved or copied there); move it out of ${dir}`,
  );
  assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name).sort(), before);
  assert.deepEqual(
    await Deno.readFile(`${dir}/predictions.png`),
    await Deno.readFile("examples/digit-7.png"),
  );
  await Deno.remove(`${dir}/predictions.png`);
  await Deno.rename(`${ROOT}/predictions-of-tiny.png`, `${dir}/predictions.png`);
  const lines: string[] = [];
  const fresh = await train(classification, { ...TINY, train: { ...TINY.train, steps: 1 } }, {
    ...quiet,
    log: (line) => lines.push(line),
    runDir: dir,
    start: "fresh",
  });
  fresh.dispose();
  assert.match(lines[0], /^fresh start: removed /);
  // The last line says where the wall clock went: loading, the steps, the checkpoints (here the final one).
  assert.match(
    lines.at(-1)!,
    /^train: step 1; this session [\d.]+ s to load and build, [\d.]+ s of steps, 1 checkpoint \([\d.]+ MiB\) in [\d.]+ s$/,
  );
  const left = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
  assert.deepEqual(left, ["checkpoint-00000001.safetensors", "my-digit.png", "notes.txt", "state.json"]);
});

Deno.test("state walk: one naming of parameters, EMA shadows and Adam moments for every recipe", () => {
  const configs = [
    [
      classification,
      parseRecipeConfig({ recipe: "classification", model: { latentDim: 8, encoder: ENCODER } }, "t"),
    ],
    [
      generation,
      parseRecipeConfig({
        recipe: "generation",
        model: { latentDim: 8, encoder: ENCODER, decoder: { channels: [8, 8, 8] } },
      }, "t"),
    ],
    [
      crossEntropyRecipe,
      parseRecipeConfig({ recipe: "cross-entropy", model: { network: "reference" } }, "t"),
    ],
  ] as const;
  for (const [recipe, config] of configs) {
    // deno-lint-ignore no-explicit-any
    const model = (recipe as any).build(config);
    const opt = buildOptimizers(model, 0.99);
    try {
      const keys = Object.keys(stateDict(model, opt));
      const params = keys.filter((k) => k.startsWith("model."));
      for (const p of params) {
        const name = p.slice("model.".length);
        assert.ok(keys.includes(`ema.${name}`), `${recipe.name}: ema.${name}`);
        assert.ok(
          keys.includes(`adam.${name}.m`) && keys.includes(`adam.${name}.v`),
          `${recipe.name}: adam.${name}`,
        );
      }
      for (const part of Object.keys(model.parts)) assert.ok(keys.includes(`ema.${part}.num_updates`));
      assert.equal(
        keys.length,
        params.length * 4 + Object.keys(model.parts).length + 1,
        `${recipe.name}: nothing else`,
      );
    } finally {
      disposeOptimizers(opt);
      model.dispose();
    }
  }
});

Deno.test("shift augmentation (the data block) changes what every recipe trains, reproducibly", async () => {
  const gen = (shift: number) =>
    parseRecipeConfig({
      recipe: "generation",
      name: `shift${shift}`,
      model: {
        latentDim: 8,
        classes: 3,
        encoder: ENCODER,
        decoder: { channels: [8, 8, 8], attention: false },
      },
      data: { trainPerClass: 10, testPerClass: 5, shift },
      train: { steps: 2, batchSize: 15, logEvery: 1, checkpointEvery: 0 },
      eval: { reference: "none" },
    }, "test");
  const runs = [];
  for (const [shift, name] of [[0, "a"], [2, "b"], [2, "c"]] as const) {
    runs.push(
      await train(generation, gen(shift), { ...quiet, runDir: `${ROOT}/shift-${name}`, start: "fresh" }),
    );
  }
  try {
    const [plain, shifted, again] = await Promise.all(runs.map(snapshot));
    const encoder = Object.keys(plain).filter((k) => k.startsWith("model.encoder."));
    assert.ok(
      encoder.some((k) => plain[k].some((v, i) => v !== shifted[k][i])),
      "a 2-pixel shift must change the updates",
    );
    assert.deepEqual(again, shifted, "the same seed must give the same shifts");
  } finally {
    for (const r of runs) r.dispose();
  }
  assert.throws(
    () => parseRecipeConfig({ recipe: "classification", data: { shift: 9 } }, "t"),
    /data\.shift/,
  );
});

Deno.test("a checkpoint that does not fit frees every buffer and releases the run directory", async () => {
  onesFlag();
  const config = parseRecipeConfig({
    recipe: "classification",
    name: "leak",
    model: { latentDim: 8, classes: 3, encoder: ENCODER },
    data: { trainPerClass: 10, testPerClass: 5 },
    train: { steps: 1, batchSize: 15, checkpointEvery: 0 },
  }, "test");
  const dir = `${ROOT}/leak`;
  (await train(classification, config, { ...quiet, runDir: dir, start: "fresh" })).dispose();
  // Damage the walk: drop one tensor's name from state.json's tensor file by renaming the file's key.
  const state = JSON.parse(await Deno.readTextFile(`${dir}/state.json`));
  const path = `${dir}/${state.tensors}`;
  const bytes = await Deno.readFile(path);
  const text = new TextDecoder("latin1").decode(
    bytes.subarray(8, 8 + Number(new DataView(bytes.buffer).getBigUint64(0, true))),
  );
  const renamed = text.replace('"model.anchors.anchorSet"', '"model.anchors.anchorSeX"');
  bytes.set(new TextEncoder().encode(renamed), 8);
  await Deno.writeFile(path, bytes);
  const live = bufferPool.live;
  await assert.rejects(
    train(classification, { ...config, train: { ...config.train, steps: 2 } }, { ...quiet, runDir: dir }),
    (e: Error) =>
      e instanceof CheckpointError &&
      /missing key "model\.anchors\.anchorSet"[\s\S]*unexpected key/.test(e.message),
  );
  assert.equal(bufferPool.live, live, "the model, EMAs, Adam and the loaded tensors are freed");
  (await lockRun(dir)).release(); // the lock was released: taking it again works
});

Deno.test("a run directory is owned by one process: a second lock is refused with the holder's pid; a stale one is taken over", async () => {
  const dir = `${ROOT}/owned`;
  const lock = await lockRun(dir);
  try {
    await assert.rejects(lockRun(dir), new RegExp(`in use by another lzn process \\(pid ${Deno.pid}`));
  } finally {
    lock.release();
  }
  // A lock file left by a process that is gone (no file lock held on it): taken over, with a notice.
  await Deno.writeTextFile(`${dir}/run.lock`, JSON.stringify({ pid: 999999 }));
  const notices: string[] = [];
  const again = await lockRun(dir, (l) => notices.push(l));
  again.release();
  assert.match(notices.join("\n"), /taking over the stale lock of pid 999999/);
  await assert.rejects(Deno.stat(`${dir}/run.lock`), Deno.errors.NotFound, "release removes the lock file");
});

Deno.test("a training step in steady state records from cached bind groups: none created after the first windows", async () => {
  // The pool hands out the free buffer with the smallest id, so a step that frees what it made gets the same
  // buffers every step; with a last-released-first pool about half of a step's dispatches created a bind group.
  const created: number[] = [];
  const config = parseRecipeConfig({
    ...TINY,
    name: "bind-groups",
    train: { ...TINY.train, steps: 24, logEvery: 4 },
    data: { ...TINY.data, shift: 2 },
  }, "test");
  const r = await train(classification, config, {
    log: null,
    runDir: `${ROOT}/bind-groups`,
    start: "fresh",
    onProgress: () => created.push(recorderStats.bindGroups),
  });
  r.dispose();
  const perWindow = created.slice(1).map((c, i) => c - created[i]);
  assert.equal(perWindow.length, 5);
  assert.deepEqual(perWindow.slice(2), [0, 0, 0], `bind groups created per window of 4 steps: ${perWindow}`);
});
