/**
 * The linear probe of spec §6.4 (the release's `LinearProbing`): a fresh `Linear(dim -> classes)` with bias
 * trained on frozen features with softmax cross-entropy and AdamW (lr 3e-4, weight decay 0 by default), the
 * training rows visited in a seeded shuffled order every epoch, and top-1 accuracy on the test features
 * after every epoch. Features are used as given (the release does not normalise them); standardisation with
 * the training set's per-dimension mean and standard deviation is an option.
 *
 * @module
 */
import {
  Adam,
  argmax,
  crossEntropy,
  gather,
  InitRng,
  Linear,
  noGrad,
  scope,
  type Tensor,
  tensor,
} from "@lzn/tensor";

/**
 * Features of a labelled set: `count` rows of `dim` floats, row after row, and one class index per row.
 *
 * @example
 * ```ts
 * import type { ProbeSet } from "@lzn/metrics";
 * const set: ProbeSet = { features: Float32Array.of(0, 1, 1, 0), labels: Int32Array.of(1, 0), count: 2, dim: 2 };
 * ```
 */
export interface ProbeSet {
  /** `count * dim` floats, row-major. */
  features: Float32Array;
  /** Class index in `[0, classes)` of every row. */
  labels: Int32Array;
  /** Number of rows. */
  count: number;
  /** Feature dimension. */
  dim: number;
}

/**
 * Options of {@link linearProbe}.
 *
 * @example
 * ```ts
 * import type { LinearProbeOptions } from "@lzn/metrics";
 * const release: LinearProbeOptions = { classes: 1000, epochs: 300, batchSize: 8192, lr: 3e-4, seed: 100 };
 * const quick: LinearProbeOptions = { classes: 10, epochs: 20, batchSize: 256, lr: 1e-3, standardize: true };
 * ```
 */
export interface LinearProbeOptions {
  /** Number of classes (the probe's outputs). */
  classes: number;
  /** Passes over the training set. */
  epochs: number;
  /** Rows per step; the last step of an epoch takes the remainder (nothing is dropped). */
  batchSize: number;
  /** AdamW learning rate (default 3e-4, as the release). */
  lr?: number;
  /** AdamW decoupled weight decay (default 0, as the release). */
  weightDecay?: number;
  /** Seed of the probe's initialisation and of the shuffled orders (default 0). */
  seed?: number;
  /**
   * Standardise every feature dimension with the training set's mean and standard deviation, applied to both
   * sets (default false: the release feeds raw features). A constant dimension is only centred.
   */
  standardize?: boolean;
}

/**
 * One epoch of {@link linearProbe}.
 *
 * @example
 * ```ts
 * import type { LinearProbeEpoch } from "@lzn/metrics";
 * const e: LinearProbeEpoch = { trainLoss: 0.42, testTop1: 0.87 };
 * ```
 */
export interface LinearProbeEpoch {
  /** Mean cross-entropy over the epoch's training rows, each taken before its step's update. */
  trainLoss: number;
  /** Test top-1 accuracy after the epoch. */
  testTop1: number;
}

/**
 * Result of {@link linearProbe}.
 *
 * @example
 * ```ts
 * import type { LinearProbeResult } from "@lzn/metrics";
 * const best = (r: LinearProbeResult) => Math.max(...r.perEpoch.map((e) => e.testTop1));
 * ```
 */
export interface LinearProbeResult {
  /** Test top-1 accuracy after the last epoch (the release logs every epoch and names none as reported). */
  top1: number;
  /** Every epoch, in order. */
  perEpoch: LinearProbeEpoch[];
}

function checkSet(set: ProbeSet, classes: number, what: string): void {
  if (!(Number.isInteger(set.count) && set.count >= 1 && Number.isInteger(set.dim) && set.dim >= 1)) {
    throw new Error(`linearProbe: ${what} needs count >= 1 and dim >= 1, got ${set.count} and ${set.dim}`);
  }
  if (set.features.length !== set.count * set.dim) {
    throw new Error(
      `linearProbe: ${what} has ${set.features.length} feature values, expected ${set.count} x ${set.dim}`,
    );
  }
  if (set.labels.length !== set.count) {
    throw new Error(`linearProbe: ${what} has ${set.labels.length} labels for ${set.count} rows`);
  }
  const bad = set.labels.findIndex((l) => !(l >= 0 && l < classes));
  if (bad >= 0) {
    throw new Error(`linearProbe: ${what} label ${set.labels[bad]} of row ${bad} is outside [0, ${classes})`);
  }
}

function positiveInt(value: number, name: string): void {
  if (!(Number.isInteger(value) && value >= 1)) {
    throw new Error(`linearProbe: ${name} must be an integer >= 1, got ${value}`);
  }
}

/** Per-dimension mean and 1/std of the training rows, in float64. */
function standardizer(set: ProbeSet): { mean: Float64Array; invStd: Float64Array } {
  const { count, dim, features } = set;
  const mean = new Float64Array(dim), sq = new Float64Array(dim);
  for (let i = 0; i < count; i++) for (let j = 0; j < dim; j++) mean[j] += features[i * dim + j];
  for (let j = 0; j < dim; j++) mean[j] /= count;
  for (let i = 0; i < count; i++) {
    for (let j = 0; j < dim; j++) sq[j] += (features[i * dim + j] - mean[j]) ** 2;
  }
  const invStd = sq.map((s) => (s > 0 ? 1 / Math.sqrt(s / count) : 1));
  return { mean, invStd };
}

function transform(set: ProbeSet, s: { mean: Float64Array; invStd: Float64Array }): Float32Array {
  return set.features.map((v, k) => (v - s.mean[k % set.dim]) * s.invStd[k % set.dim]);
}

/** Fisher–Yates with the probe's stream: a fresh order every epoch, reproducible from the seed. */
function shuffled(n: number, rng: InitRng): Int32Array {
  const order = Int32Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rng.uniform() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  return order;
}

/**
 * Trains a fresh linear probe on `train` and reports test top-1 accuracy after every epoch. Deterministic for
 * a seed. Runs on the GPU: the features are uploaded once, each step gathers its rows.
 *
 * @example
 * ```ts
 * import { linearProbe } from "@lzn/metrics";
 * const set = { features: Float32Array.of(1, 0, 0, 1, 2, 0, 0, 2), labels: Int32Array.of(0, 1, 0, 1), count: 4, dim: 2 };
 * const r = await linearProbe(set, set, { classes: 2, epochs: 50, batchSize: 2, lr: 0.05 });
 * console.log(r.top1); // 1
 * ```
 */
export async function linearProbe(
  train: ProbeSet,
  test: ProbeSet,
  opts: LinearProbeOptions,
): Promise<LinearProbeResult> {
  const { classes, epochs, batchSize, lr = 3e-4, weightDecay = 0, seed = 0, standardize = false } = opts;
  positiveInt(classes, "classes");
  positiveInt(epochs, "epochs");
  positiveInt(batchSize, "batchSize");
  checkSet(train, classes, "train set");
  checkSet(test, classes, "test set");
  if (test.dim !== train.dim) {
    throw new Error(`linearProbe: test features have dim ${test.dim}, train features ${train.dim}`);
  }
  const s = standardize ? standardizer(train) : undefined;
  const rng = new InitRng(seed);
  const probe = new Linear(train.dim, classes, { rng });
  const opt = new Adam([{ params: probe.parameters(), lr }], { weightDecay, decoupled: true });
  const owned: Tensor[] = [
    tensor(s ? transform(train, s) : train.features, [train.count, train.dim]).keep(),
    tensor(train.labels, [train.count], { dtype: "i32" }).keep(),
    tensor(s ? transform(test, s) : test.features, [test.count, test.dim]).keep(),
  ];
  const [trainX, trainY, testX] = owned;
  const perEpoch: LinearProbeEpoch[] = [];
  try {
    for (let epoch = 0; epoch < epochs; epoch++) {
      const order = shuffled(train.count, rng);
      let lossSum: Tensor | undefined;
      for (let start = 0; start < train.count; start += batchSize) {
        const rows = order.subarray(start, Math.min(start + batchSize, train.count));
        const next: Tensor = scope(() => {
          const index = tensor(rows, [rows.length], { dtype: "i32" });
          const loss = crossEntropy(probe.forward(gather(trainX, index)), gather(trainY, index));
          loss.backward();
          opt.step();
          opt.zeroGrad();
          const weighted = loss.detach().mul(rows.length);
          return lossSum ? lossSum.add(weighted) : weighted;
        });
        lossSum?.dispose();
        lossSum = next;
      }
      const trainLoss = await lossSum!.item() / train.count;
      lossSum!.dispose();
      perEpoch.push({ trainLoss, testTop1: await accuracy(probe, testX, test.labels, batchSize) });
    }
  } finally {
    for (const t of owned) t.dispose();
    opt.dispose();
    probe.dispose();
  }
  return { top1: perEpoch[perEpoch.length - 1].testTop1, perEpoch };
}

/** Top-1 accuracy of the probe on `x [n, dim]`, in chunks of `chunk` rows (bounded logits memory). */
async function accuracy(probe: Linear, x: Tensor, labels: Int32Array, chunk: number): Promise<number> {
  const n = x.shape[0];
  let correct = 0;
  for (let start = 0; start < n; start += chunk) {
    const end = Math.min(start + chunk, n);
    const predicted = noGrad(() => scope(() => argmax(probe.forward(x.slice(0, start, end)), 1)));
    const host = await predicted.toTypedArray();
    predicted.dispose();
    for (let i = 0; i < host.length; i++) if (host[i] === labels[start + i]) correct++;
  }
  return correct / n;
}
