/**
 * `data.holdOut`: training images set aside, never trained on, from which the anchor bank is drawn (a bank of
 * trained-on images classified 14 of 200 digits differently from batch evaluation on the H200 joint run, while
 * another batch of test digits changed none). The split is a fixed, disjoint partition of the training split;
 * too large a hold-out is a one-line error; a run with one builds its bank from the held-out images.
 */
import { strict as assert } from "node:assert";
import { loadSafetensors } from "@lzn/tensor";
import { classification, evaluateRun, loadRunData, parseRecipeConfig, train } from "@lzn/tasks";

const DATA = { dataset: "mnist", trainPerClass: 50, testPerClass: 20, shift: 0 } as const;

/** Each image of a split as a string key, so splits can be compared as multisets of images. */
function keys(split: { images: Uint8Array; count: number; rows: number; cols: number }): string[] {
  const px = split.rows * split.cols;
  return Array.from({ length: split.count }, (_, i) => split.images.subarray(i * px, (i + 1) * px).join(","));
}

Deno.test("data.holdOut: a fixed partition of the training split; train keeps its order; the test split is untouched", async () => {
  const all = await loadRunData(DATA, 3);
  assert.equal(all.heldOut, undefined, "no hold-out without data.holdOut");
  const a = await loadRunData({ ...DATA, holdOut: 30 }, 3);
  const b = await loadRunData({ ...DATA, holdOut: 30 }, 3);
  assert.deepEqual([a.train.count, a.heldOut?.count, a.test.count], [120, 30, 60]);
  assert.deepEqual(a.heldOut, b.heldOut, "the same draw every time");
  assert.deepEqual(a.test, all.test);
  const full = keys(all.train), kept = keys(a.train), out = keys(a.heldOut!);
  assert.deepEqual([...kept, ...out].sort(), [...full].sort(), "train + held-out = the training split");
  const outSet = new Set(out);
  assert.ok(kept.every((k) => !outSet.has(k)), "no held-out image is trained on");
  assert.deepEqual(kept, full.filter((k) => !outSet.has(k)), "the kept images keep their order");
  assert.ok(new Set(a.heldOut!.labels).size === 3, "a shuffled draw, not the first class");
});

Deno.test("data.holdOut: holding out every training image is a one-line RangeError; 0 is refused by the schema", async () => {
  await assert.rejects(
    () => loadRunData({ ...DATA, holdOut: 150 }, 3),
    (e: Error) =>
      e.name === "RangeError" &&
      /^data\.holdOut is 150 but the run has 150 training images: hold out fewer/.test(e.message) &&
      !e.message.includes("\n"),
  );
  assert.throws(
    () => parseRecipeConfig({ recipe: "classification", data: { holdOut: 0 } }, "test"),
    /holdOut/,
  );
});

Deno.test("data.holdOut: the run's anchor bank comes from the held-out images", async () => {
  const config = parseRecipeConfig({
    recipe: "classification",
    name: "hold-out",
    model: { latentDim: 8, classes: 3, encoder: { channels: [4, 8], strides: [2, 2], headHidden: 8 } },
    data: { ...DATA, holdOut: 40 },
    train: { steps: 4, batchSize: 20, warmupSteps: 1, logEvery: 2, checkpointEvery: 0 },
    eval: { batchSizes: [60], taus: [0], headline: { tau: 0, batchSize: 60 }, bank: 100 },
  }, "test");
  const data = await loadRunData(config.data, 3);
  const dir = ".cache/test-runs/hold-out";
  const run = await train(classification, config, {
    log: null,
    onProgress: () => {},
    runDir: dir,
    start: "fresh",
  });
  try {
    const lines: string[] = [];
    const m = await evaluateRun(classification, config, run.model, {
      run: { dir, step: 4, architectureHash: run.state.architectureHash, weights: "ema" },
      data,
      optimizers: run.optimizers,
      log: (line: string) => lines.push(line),
    });
    assert.equal(m.bankSize, 40, "min(eval.bank, held-out images)");
    assert.ok(lines.some((l) => /with the anchor bank \(40 held-out anchors/.test(l)), lines.join("\n"));
    const stored = await loadSafetensors(`${dir}/bank.safetensors`);
    try {
      assert.deepEqual(stored.tensors.bank.shape, [40, 8]);
    } finally {
      for (const t of Object.values(stored.tensors)) t.dispose();
    }
  } finally {
    run.dispose();
  }
});
