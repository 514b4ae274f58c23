/**
 * How much a trained model's labels depend on the anchor set, in one process (issue 13): `count` held-out
 * images (the shuffled draw of `bench/bank_agreement.ts`) classified at τ 0
 *
 * - in the batch evaluation of spec §7.5 (eval batches of `batch` test images, the draw's first batch),
 * - among `batch - count` other test images none of which was in that batch (where the split has them: the
 *   floor, what the batch evaluation itself changes when only the batch-mates change),
 * - one at a time against anchor banks of each size in `banks` (training images, as `classify` does),
 * - and, with `--whole`, the whole test split against each bank and in eval batches.
 *
 *   deno run -A bench/bank_sweep.ts RUN_DIR [--count 200] [--batch 1000] [--banks 1000,4000] [--whole]
 *
 * Prints one JSON line per measurement, then a summary line.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { epochOrder } from "@lzn/data";
import {
  type ClassifyingSpace,
  classifyWithBank,
  computeBank,
  imageBatch,
  loadRun,
  loadRunData,
} from "@lzn/tasks";

const { values: args, positionals } = parseArgs({
  args: Deno.args,
  allowPositionals: true,
  options: {
    count: { type: "string" },
    batch: { type: "string" },
    banks: { type: "string" },
    whole: { type: "boolean" },
  },
});
const runDir = positionals[0] ?? "";
if (!runDir) {
  throw new Error("usage: bench/bank_sweep.ts RUN_DIR [--count N] [--batch E] [--banks M,M] [--whole]");
}
const count = Number(args.count ?? 200), batch = Number(args.batch ?? 1000);
const banks = String(args.banks ?? "1000,4000").split(",").map(Number);
if (!(count >= 1 && count <= batch) || banks.some((m) => !(m >= 1))) {
  throw new Error(`need 1 <= count <= batch and banks >= 1 (count ${count}, batch ${batch}, banks ${banks})`);
}

const run = await loadRun(runDir);
const space = (run.model as unknown as { space: ClassifyingSpace }).space;
const classes = (run.config as unknown as { model: { classes: number } }).model.classes;
const { train, test } = await loadRunData(run.config.data, classes);
const order = [...epochOrder(test.count, 12345, 0)];
const pool = order.slice(0, count);
const truth = (idx: number[]) => idx.map((i) => test.labels[i]);
const acc = (pred: ArrayLike<number>, labels: number[]) =>
  labels.filter((l, k) => pred[k] === l).length / labels.length;
const differ = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let n = 0;
  for (let k = 0; k < a.length; k++) if (a[k] !== b[k]) n++;
  return n;
};
const emit = (o: Record<string, unknown>) => console.log(JSON.stringify(o));

/** Labels of the images `idx` classified together, as one anchor set (τ 0), as `classify --batch-relative`. */
const toLabel = space.task({ from: "image", to: "label" });
const together = async (idx: number[]) =>
  await toLabel.run(imageBatch(test, Int32Array.from(idx)).batch, { tau: 0, seed: 0 });

const t0 = performance.now();
const batchLabels = await together(order.slice(0, batch));
const poolBatch = batchLabels.subarray(0, count);
const poolTruth = truth(pool);
emit({ what: "batch", images: count, batch, accuracy: acc(poolBatch, poolTruth) });
const spare = order.slice(batch);
let floor: number | null = null;
if (spare.length >= 2 * (batch - count)) {
  // Two other batches of test mates, disjoint from each other and from the first batch.
  for (
    const [name, mates] of [["otherMatesA", spare.slice(0, batch - count)], [
      "otherMatesB",
      spare.slice(batch - count, 2 * (batch - count)),
    ]] as const
  ) {
    const labels = (await together([...pool, ...mates])).subarray(0, count);
    const changed = differ(labels, poolBatch);
    if (name === "otherMatesA") floor = changed;
    emit({ what: name, images: count, accuracy: acc(labels, poolTruth), differFromBatch: changed });
  }
}
let wholeBatch: { accuracy: number; labels: Int32Array; idx: number[] } | null = null;
if (args.whole) {
  const usable = Math.floor(order.length / batch) * batch, labels = new Int32Array(usable);
  for (let s = 0; s < usable; s += batch) labels.set(await together(order.slice(s, s + batch)), s);
  const idx = order.slice(0, usable);
  wholeBatch = { accuracy: acc(labels, truth(idx)), labels, idx };
  emit({ what: "batchWholeSplit", images: usable, batch, accuracy: wholeBatch.accuracy });
}
const summary: Record<string, unknown>[] = [];
for (const m of banks) {
  const t = performance.now();
  const { bank } = computeBank((b) => space.anchors("image", b), train, m, 0);
  try {
    const pred = await classifyWithBank(space, imageBatch(test, Int32Array.from(pool)).batch, bank, {
      tau: 0,
    });
    const row: Record<string, unknown> = {
      what: "bank",
      bank: bank.shape[0],
      images: count,
      accuracy: acc(pred, poolTruth),
      accuracyMinusBatch: acc(pred, poolTruth) - acc(poolBatch, poolTruth),
      differFromBatch: differ(pred, poolBatch),
    };
    if (wholeBatch) {
      const all = await classifyWithBank(
        space,
        imageBatch(test, Int32Array.from(wholeBatch.idx)).batch,
        bank,
        {
          tau: 0,
        },
      );
      row.wholeSplitAccuracy = acc(all, truth(wholeBatch.idx));
      row.wholeSplitDifferFromBatch = differ(all, wholeBatch.labels);
    }
    row.seconds = +((performance.now() - t) / 1000).toFixed(1);
    emit(row);
    summary.push(row);
  } finally {
    bank.dispose();
  }
}
emit({
  what: "summary",
  run: runDir,
  step: run.state.step,
  images: count,
  batch,
  batchAccuracy: acc(poolBatch, poolTruth),
  otherTestMatesDiffer: floor,
  banks: summary.map((r) => ({ bank: r.bank, accuracy: r.accuracy, differ: r.differFromBatch })),
  seconds: +((performance.now() - t0) / 1000).toFixed(1),
});
run.dispose();
