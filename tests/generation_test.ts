/**
 * The generation recipe's variants end to end on tiny MNIST slices: the joint model (case study 3) and RF +
 * LZN (case study 1) train and report every metric of the protocol (classification at each τ, the bank,
 * held-out RF loss, reconstruction, FID with the reference's hash, generation accuracy with its confusion
 * matrix, the τ sweep, prior sampling), the RF baseline has no latent path, and `sample` writes grids.
 */
import { strict as assert } from "node:assert";
import { ReferenceClassifier, saveReference } from "@lzn/metrics";
import { runMain } from "./cli_util.ts";
import {
  encodeNpy,
  evaluateRun,
  generation,
  type GenerationConfig,
  GenerationModel,
  parseRecipeConfig,
  train,
} from "@lzn/tasks";

const ROOT = ".cache/test-runs/generation";
const quiet = { log: null, onProgress: () => {} };
const REF = `${ROOT}/reference.safetensors`;

async function reference(): Promise<void> {
  await Deno.mkdir(ROOT, { recursive: true });
  // Any fixed network defines a feature space; a small random one keeps the test fast.
  const net = new ReferenceClassifier({
    channels: [4, 8],
    strides: [2, 2],
    groups: 4,
    featureDim: 8,
    seed: 7,
  });
  await saveReference(REF, net, {
    dataset: "mnist",
    testAccuracy: 0.1,
    testImages: 0,
    source: "test (random weights)",
  });
  net.dispose();
}

function config(name: string, model: Record<string, unknown>, steps = 12): GenerationConfig {
  return parseRecipeConfig({
    recipe: "generation",
    name,
    model: {
      latentDim: 8,
      labelSteps: 20,
      encoder: { channels: [8, 16], strides: [2, 2], headHidden: 16 },
      decoder: { channels: [8, 8, 8], attention: false, condDim: 16, timeEmbedDim: 8 },
      ...model,
    },
    data: { dataset: "mnist", trainPerClass: 20, testPerClass: 10 },
    train: { steps, batchSize: 30, warmupSteps: 2, logEvery: 4, checkpointEvery: 0, emaDecay: 0.9 },
    eval: {
      batchSize: 30,
      taus: [1, 0],
      rfImages: 30,
      reconstruction: { images: 10, repeats: 2, sampler: { kind: "euler", steps: 4 } },
      generation: { images: 30, sampler: { kind: "euler", steps: 4 }, taus: [1, 0.5], grid: 2 },
      reference: REF,
      bank: 20,
    },
  }, "test");
}

async function run(cfg: GenerationConfig): Promise<Record<string, unknown>> {
  const dir = `${ROOT}/${cfg.name}`;
  const r = await train(generation, cfg, { ...quiet, runDir: dir, start: "fresh" });
  try {
    const losses = r.history.map((h) => h.loss);
    assert.ok(losses.every(Number.isFinite), `finite losses: ${losses}`);
    return await evaluateRun(generation, cfg, r.model, {
      run: { dir, step: r.state.step, architectureHash: r.state.architectureHash, weights: "ema" },
      data: r.data,
      optimizers: r.optimizers,
      log: () => {},
    });
  } finally {
    r.dispose();
  }
}

Deno.test("generation, joint (case study 3): label + RF losses train; every metric of the protocol is reported", async () => {
  await reference();
  const cfg = config("joint", { classes: 3 });
  const m = await run(cfg);
  console.log(
    `joint: ${JSON.stringify({ ...m, generationConfusion: undefined, generationSweep: undefined })}`,
  );
  for (
    const key of [
      "accuracy",
      "bankAccuracy",
      "rfLoss",
      "reconstruction",
      "fid",
      "generationAccuracy",
      "priorFid",
    ]
  ) {
    assert.ok(Number.isFinite(m[key]), `${key} = ${m[key]}`);
  }
  assert.deepEqual(Object.keys(m.accuracyByTau as object), ["tau1", "tau0"]);
  assert.equal(m.accuracyTau, 1, "the headline classification is at tau = 1, as the release's ClassAccuracy");
  assert.equal(m.generationTau, 1, "the headline generation is at tau = 1, as the paper samples");
  assert.equal((m.generationSweep as unknown[]).length, 2);
  assert.equal((m.generationConfusion as number[][]).flat().reduce((a, b) => a + b, 0), 30);
  assert.match(m.fidFeatures as string, /^reference network [0-9a-f]{16} \(mnist/);
  assert.equal(m.reconstructionRepeats, 2);
  assert.ok((await Deno.stat(`${ROOT}/joint/samples.png`)).size > 100);
});

Deno.test("generation, RF + LZN unconditional (case study 1) and the plain RF baseline", async () => {
  await reference();
  const lzn = await run(config("rf-lzn", { classes: 0 }, 6));
  const rf = await run(config("rf", { classes: 0, latent: false }, 6));
  for (const m of [lzn, rf]) {
    for (const key of ["rfLoss", "reconstruction", "fid"]) {
      assert.ok(Number.isFinite(m[key]), `${key} = ${m[key]}`);
    }
    assert.equal(m.accuracy, undefined, "no classes, no classification");
    assert.equal(m.generationAccuracy, undefined);
  }
  const model = new GenerationModel(config("x", { classes: 0, latent: false }));
  try {
    assert.equal(model.space, undefined, "the RF baseline has no latent space");
    assert.deepEqual(Object.keys(model.parts), ["decoder"]);
    assert.equal(model.decoder.latentDim, 0);
  } finally {
    model.dispose();
  }
});

Deno.test("sample CLI: a grid from a joint run, and from the prior; clear errors for a missing --out and a non-generation run", async () => {
  const cli = (...args: string[]) => runMain(["sample", ...args]);
  const out = `${ROOT}/grid.png`;
  await Deno.remove(out).catch(() => {});
  const ok = await cli("--run", `${ROOT}/joint`, "--out", out, "--per-class", "3", "--sampler", "euler:3");
  assert.equal(ok.code, 0, ok.err);
  const line = JSON.parse(ok.out.trim().split("\n").at(-1)!);
  assert.deepEqual([line.rows, line.perClass, line.source], [3, 3, "label"]);
  const again = await cli("--run", `${ROOT}/joint`, "--out", out, "--prior", "--sampler", "euler:3");
  assert.equal(again.code, 2, "an existing output is not replaced without --force");
  assert.match(again.err, /exists; choose another name, or pass --force/);
  const prior = await cli(
    "--run",
    `${ROOT}/joint`,
    "--out",
    out,
    "--prior",
    "--sampler",
    "euler:3",
    "--force",
  );
  assert.equal(prior.code, 0, prior.err);
  const drawn = JSON.parse(prior.out.trim().split("\n").at(-1)!);
  assert.equal(drawn.source, "prior");
  // 3 classes x 8: unless the prior fell into the classes exactly evenly, the grid says what it leaves out.
  const counts: number[] = drawn.perClassCounts;
  assert.equal(counts.reduce((a, k) => a + k, 0), 3 * 8);
  const hidden = counts.reduce((a, k) => a + Math.max(0, k - 8), 0);
  if (hidden > 0) {
    assert.match(
      prior.err,
      new RegExp(`note: the 24 prior samples .* ${hidden} not shown, ${hidden} cells left white`),
    );
  }
  const noOut = await cli("--run", `${ROOT}/joint`);
  assert.equal(noOut.code, 2);
  assert.match(noOut.err, /--out is required/);
  const ownFile = await cli("--run", `${ROOT}/joint`, "--out", `${ROOT}/joint/state.json`);
  assert.equal(ownFile.code, 2);
  assert.match(ownFile.err, /would overwrite a file of the run/);
});

Deno.test("classify CLI: a joint run classifies (image encoder + label decoder), with its anchor bank", async () => {
  const npy = `${ROOT}/digits.npy`;
  const data = new Uint8Array(3 * 784).map((_, i) => (i * 13) % 256);
  await Deno.writeFile(npy, encodeNpy({ dtype: "uint8", shape: [3, 28, 28], data }));
  const o = await runMain(["classify", "--run", `${ROOT}/joint`, "--json", npy]);
  assert.equal(o.code, 0, o.err);
  const labels: number[] = JSON.parse(o.out.trim()).labels;
  assert.equal(labels.length, 3);
  assert.ok(labels.every((c) => c >= 0 && c < 3), `labels ${labels}`);
});

Deno.test("generation, joint: train.alignTau aligns a second latent of the same noise; the RF term is unchanged", async () => {
  const { scope, tensor } = await import("@lzn/tensor");
  const base = config("align-tau", { classes: 3 });
  const withTau = (train: Record<string, unknown>) =>
    parseRecipeConfig({ ...base, train: { ...base.train, ...train } }, "test") as GenerationConfig;
  const model = new GenerationModel(base);
  const B = 12;
  const pixels = new Float32Array(B * 28 * 28).map((_, i) => Math.sin(i * 0.37));
  const images = tensor(pixels, [B, 1, 28, 28]);
  const batch = {
    images,
    original: images,
    labels: Int32Array.from({ length: B }, (_, i) => i % 3),
    count: B,
  };
  const ctx = { step: 3, seed: (s: string) => s.length * 101 + 7 };
  const losses = (cfg: GenerationConfig) =>
    scope(async () => {
      const terms = generation.objective(model, batch, ctx, cfg);
      return { label: (await terms.label.loss.toArray())[0], rf: (await terms.rf.loss.toArray())[0] };
    });
  try {
    const release = await losses(base); // tau 1: one latent for both terms
    const same = await losses(withTau({ alignTau: 1 }));
    const split = await losses(withTau({ alignTau: 0.25 }));
    const tau025 = await losses(withTau({ tau: 0.25 }));
    assert.deepEqual(same, release, "alignTau equal to tau is the release's objective, bit for bit");
    assert.equal(split.rf, release.rf, "the decoder still learns from the tau-scaled latents");
    assert.equal(split.label, tau025.label, "the alignment sees the latents of tau = alignTau, same noise");
    assert.notEqual(split.label, release.label);
  } finally {
    images.dispose();
    model.dispose();
  }
  assert.throws(
    () =>
      parseRecipeConfig({ ...base, model: { ...base.model, classes: 0 }, train: { alignTau: 0.5 } }, "test"),
    /applies to joint models only[^]*train\.alignTau/,
  );
});

Deno.test("generation, joint: train.augment = encoder feeds the decoder the original images; train.decoderBatch the first n", async () => {
  const { scope, tensor } = await import("@lzn/tensor");
  const base = config("augment", { classes: 3 });
  const withTrain = (train: Record<string, unknown>) =>
    parseRecipeConfig({ ...base, train: { ...base.train, ...train } }, "test") as GenerationConfig;
  const model = new GenerationModel(base);
  const B = 12, n = 5;
  const shifted = tensor(new Float32Array(B * 784).map((_, i) => Math.sin(i * 0.37)), [B, 1, 28, 28]);
  const original = tensor(new Float32Array(B * 784).map((_, i) => Math.cos(i * 0.11)), [B, 1, 28, 28]);
  const labels = Int32Array.from({ length: B }, (_, i) => i % 3);
  const ctx = { step: 3, seed: (s: string) => s.length * 101 + 7 };
  const read = async (t: { loss: { toArray(): Promise<Float32Array> } }) => (await t.loss.toArray())[0];
  const losses = (cfg: GenerationConfig, orig = original) =>
    scope(async () => {
      const terms = generation.objective(
        model,
        { images: shifted, original: orig, labels, count: B },
        ctx,
        cfg,
      );
      return { label: await read(terms.label), rf: await read(terms.rf) };
    });
  try {
    const all = await losses(base);
    const encoderOnly = await losses(withTrain({ augment: "encoder" }));
    assert.equal(
      encoderOnly.label,
      all.label,
      "the encoder (and so the alignment) sees the augmented images",
    );
    assert.notEqual(encoderOnly.rf, all.rf, "the decoder learns other images");
    assert.deepEqual(
      await losses(withTrain({ augment: "encoder" }), shifted),
      all,
      "with nothing augmented the two settings are one objective",
    );
    // decoderBatch: the RF loss of the first n images and their latents, the same noise stream.
    const part = await losses(withTrain({ decoderBatch: n }));
    assert.equal(part.label, all.label, "the alignment still sees the whole batch");
    const expected = await scope(async () => {
      const z = model.space!.latentsOf("image", model.image!.forward(shifted), {
        tau: base.train.tau,
        seed: ctx.seed("latents"),
      });
      const loss = model.space!.decoderLoss("image", shifted.slice(0, 0, n), {
        latents: z.slice(0, 0, n),
        labels: labels.subarray(0, n),
        seed: ctx.seed("rf"),
      });
      return (await loss.toArray())[0];
    });
    assert.equal(part.rf, expected);
    assert.deepEqual(await losses(withTrain({ decoderBatch: B })), all, "the whole batch is the default");
  } finally {
    shifted.dispose();
    original.dispose();
    model.dispose();
  }
  const bad = (model: Record<string, unknown>, train: Record<string, unknown>) => () =>
    parseRecipeConfig(
      { ...base, model: { ...base.model, ...model }, train: { ...base.train, ...train } },
      "t",
    );
  assert.throws(bad({}, { decoderBatch: 31 }), /cannot exceed the batch \(31 > train\.batchSize 30\)/);
  assert.throws(bad({ latent: false }, { decoderBatch: 10 }), /set train\.batchSize instead/);
  assert.throws(
    bad({ latent: false }, { augment: "encoder" }),
    /models with a latent only[^]*train\.augment/,
  );
});
