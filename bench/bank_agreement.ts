/**
 * Issue 13's check of batch-independent inference on a trained run: `count` held-out images (a fixed
 * shuffled draw of the test split) classified by the `classify` command with the run's anchor bank, once all
 * together and `singles` of them one per process, against the batch evaluation of spec §7.5 on the same
 * images (`classify --batch-relative` over the shuffled test split in eval batches of `batch`, tau 0).
 *
 *   deno run -A bench/bank_agreement.ts runs/demo [count=200] [singles=20] [batch=1000]
 *
 * Prints one JSON line: the accuracy on the images classified with the bank, the batch evaluation's
 * accuracy, and whether every single-image label equals its label in the batch call. For scale it also
 * classifies the same `count` images among other batch-mates, which is what changing the anchor set alone
 * does to their labels: `batch - count` other test images none of which was in the first batch (only where the
 * split has that many: not MNIST's 1,000 test digits), and `batch - count` of the run's training images.
 *
 * @module
 */
import { epochOrder, loadDataset } from "@lzn/data";
import { encodeNpy, loadRunData } from "@lzn/tasks";

const [runDir, countArg, singlesArg, batchArg] = Deno.args;
if (!runDir) throw new Error("usage: bench/bank_agreement.ts RUN_DIR [count] [singles] [batch]");
const count = Number(countArg ?? 200), singles = Number(singlesArg ?? 20), batch = Number(batchArg ?? 1000);
if (!(count >= 1 && count <= batch && singles >= 0 && singles <= count)) {
  throw new Error(
    `need 1 <= count <= batch and 0 <= singles <= count (count ${count}, singles ${singles}, batch ${batch})`,
  );
}
const state = JSON.parse(await Deno.readTextFile(`${runDir}/state.json`));
const evalJson = JSON.parse(await Deno.readTextFile(`${runDir}/eval.json`));
const { test } = await loadDataset(state.config.data.dataset, { log: null });
const classes = state.config.model.classes as number;
const order = [...epochOrder(test.count, 12345, 0)].filter((i) => test.labels[i] < classes);
const px = test.rows * test.cols;
const pixelsOf = (idx: number[]) => {
  const out = new Uint8Array(idx.length * px);
  idx.forEach((i, k) => out.set(test.images.subarray(i * px, (i + 1) * px), k * px));
  return out;
};
const pool = order.slice(0, count), pixels = pixelsOf(pool);
const labels = pool.map((i) => test.labels[i]);
await Deno.mkdir(".cache/bank-agreement", { recursive: true });

async function classify(file: string, ...flags: string[]): Promise<number[]> {
  const o = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-read",
      "--allow-write=.cache,runs",
      "--allow-env",
      "main.ts",
      "classify",
      "--run",
      runDir,
      "--json",
      ...flags,
      file,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (o.code !== 0) throw new Error(new TextDecoder().decode(o.stderr));
  return JSON.parse(new TextDecoder().decode(o.stdout).trim().split("\n").at(-1)!).labels;
}

const all = ".cache/bank-agreement/all.npy";
await Deno.writeFile(all, encodeNpy({ dtype: "uint8", shape: [count, test.rows, test.cols], data: pixels }));
const together = await classify(all);
let same = 0;
for (let k = 0; k < singles; k++) {
  const one = `.cache/bank-agreement/one-${k}.npy`;
  await Deno.writeFile(
    one,
    encodeNpy({
      dtype: "uint8",
      shape: [1, test.rows, test.cols],
      data: pixels.subarray(k * px, (k + 1) * px),
    }),
  );
  if ((await classify(one))[0] === together[k]) same++;
}
// The batch evaluation: the whole shuffled test split in eval batches of `batch` (each its own anchor set).
const whole = ".cache/bank-agreement/whole.npy";
const usable = Math.floor(order.length / batch) * batch;
await Deno.writeFile(
  whole,
  encodeNpy({
    dtype: "uint8",
    shape: [usable, test.rows, test.cols],
    data: pixelsOf(order.slice(0, usable)),
  }),
);
const batched = await classify(whole, "--batch-relative", "--batch-size", String(batch));
// The same images with other test images as batch-mates: none of the first batch's (order[count, batch)).
const spare = order.slice(batch);
let otherBatch: number[] | null = null;
if (spare.length >= batch - count) {
  const other = ".cache/bank-agreement/other.npy";
  await Deno.writeFile(
    other,
    encodeNpy({
      dtype: "uint8",
      shape: [batch, test.rows, test.cols],
      data: pixelsOf([...pool, ...spare.slice(0, batch - count)]),
    }),
  );
  otherBatch = (await classify(other, "--batch-relative", "--batch-size", String(batch))).slice(0, count);
}
// The same images with training images as batch-mates (the run's own training split).
const { train } = await loadRunData(state.config.data, classes);
const trainMates = [...epochOrder(train.count, 777, 0)].slice(0, batch - count);
const mixed = new Uint8Array(batch * px);
mixed.set(pixels, 0);
trainMates.forEach((i, k) => mixed.set(train.images.subarray(i * px, (i + 1) * px), (count + k) * px));
const mixedFile = ".cache/bank-agreement/train-mates.npy";
await Deno.writeFile(
  mixedFile,
  encodeNpy({ dtype: "uint8", shape: [batch, test.rows, test.cols], data: mixed }),
);
const trainBatch = await classify(mixedFile, "--batch-relative", "--batch-size", String(batch));
const acc = (pred: number[]) => pred.filter((p, k) => p === labels[k]).length / count;
console.log(JSON.stringify({
  run: runDir,
  images: count,
  bankAccuracy: acc(together),
  batchAccuracy: acc(batched.slice(0, count)),
  batchAccuracyOtherTestMates: otherBatch && acc(otherBatch),
  bankDiffersFromBatch: together.filter((p, k) => p !== batched[k]).length,
  otherTestMatesDifferFromBatch: otherBatch && otherBatch.filter((p, k) => p !== batched[k]).length,
  batchAccuracyTrainMates: acc(trainBatch.slice(0, count)),
  trainMatesDifferFromBatch: trainBatch.slice(0, count).filter((p, k) => p !== batched[k]).length,
  trainMatesDifferFromBank: trainBatch.slice(0, count).filter((p, k) => p !== together[k]).length,
  evalBatch: batch,
  batchAccuracyWholeSplit: batched.filter((p, k) => p === test.labels[order[k]]).length / usable,
  evalJsonAccuracy: evalJson.accuracy,
  singleImageCalls: singles,
  singleEqualsBatchCall: same,
}));
