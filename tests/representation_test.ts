/**
 * Case study 2's objective (spec §6.3) as the representation recipe composes it from the latent space's
 * stages — view-1 latents by the Euler forward flow over view 1's anchors (τ = 0.45, K = 20, eps = 1e-4),
 * aligned into the zones of view 2's anchors through the reverse flow, pairs i <-> i, cut-off 4 of 20, log —
 * against a float64 reference, value and gradient; wrong shapes are clear errors; the recipe's runs resume
 * bit-identically and embed their representations.
 */
import { strict as assert } from "node:assert";
import { randn } from "@lzn/tensor";
import { type BatchEncoder, type ImageBatch, ResNetEncoder } from "@lzn/encoders";
import { augmentViews } from "@lzn/data";
import { encodeNpy, LatentSpace, parseRecipeConfig, readNpy, representation } from "@lzn/tasks";
import { checkGrad, randnArray } from "./util.ts";
import { alignmentRef, eulerForwardRef } from "./latent_reference.ts";
import { checkResume } from "./resume_util.ts";
import { runMain } from "./cli_util.ts";

const b = 5, q = 3, K = 20, TAU = 0.45, SEED = 11;

Deno.test("representation objective: align(view-1 latents -> view-2 anchors) matches float64, value and gradient", async () => {
  // An encoder whose anchors are given: the stages under test are latentsOf and align.
  const enc = new ResNetEncoder({ latentDim: q, groups: 1, channels: [2], blocks: [1], strides: [1] });
  const space = new LatentSpace(q).register("image", { encoder: enc as BatchEncoder<ImageBatch> });
  const noise = Float64Array.from(await randn([b, q], { seed: SEED }).toArray());
  const A1 = randnArray(b * q, 1), A2 = randnArray(b * q, 2);
  await checkGrad(
    ([a1, a2]) => {
      const z = space.latentsOf("image", a1, { tau: TAU, seed: SEED });
      return space.align(z, "image", { anchors: a2 }, { steps: K, cutoff: 0.2, log: true }).reshape([1]);
    },
    ([a1, a2]) => {
      const z = eulerForwardRef(a1, noise, b, q, K, 1e-4, TAU);
      return [
        alignmentRef(a2, z, Int32Array.from({ length: b }, (_, i) => i), b, b, q, K, {
          cutoff: 0.2,
          log: true,
        }).loss,
      ];
    },
    [{ shape: [b, q], data: A1 }, { shape: [b, q], data: A2 }],
    { rtol: 1e-4, atol: 1e-5, h: 1e-6, gradRtol: 5e-3, gradAtol: 1e-4 },
  );
  enc.dispose();
});

Deno.test("representation: wrong input shapes are clear errors", () => {
  const enc = new ResNetEncoder({ latentDim: 8, channels: [8], blocks: [1], strides: [2] });
  assert.throws(
    () => enc.anchors({ images: new Float32Array(100), count: 2 }),
    /2 images of 1x28x28 needs 1568 values, got 100/,
  );
  assert.throws(
    () => augmentViews(randn([2, 3, 28, 28], { seed: 1 }), { seed: 0, step: 0 }),
    /\[B, 1, H, W\]|1 channel/,
  );
  enc.dispose();
});

Deno.test("resume: representation (LZN objective; two views per step)", async () => {
  const config = parseRecipeConfig({
    recipe: "representation",
    name: "resume-representation",
    data: { dataset: "mnist", trainPerClass: 6, testPerClass: 5 },
    model: { latentDim: 8, encoder: { channels: [4, 8], blocks: [1, 1], strides: [2, 2], groups: 4 } },
    train: {
      steps: 8,
      batchSize: 20,
      checkpointEvery: 4,
      logEvery: 4,
      lrSchedule: "constant",
      warmupSteps: 2,
      emaDecay: 0.9,
    },
  }, "test");
  const root = ".cache/test-runs/resume/representation";
  await checkResume(representation, config, root);
  // `embed` works on the run: its representations (pooled features) and anchors as NPY.
  const input = encodeNpy({ dtype: "uint8", shape: [2, 784], data: new Uint8Array(2 * 784).fill(90) });
  await Deno.writeFile(`${root}/in.npy`, input);
  for (const kind of ["representation", "anchors"]) {
    const out = `${root}/${kind}.npy`;
    await Deno.remove(out).catch(() => {});
    const o = await runMain([
      "embed",
      "--run",
      `${root}/straight`,
      "--out",
      out,
      "--kind",
      kind,
      `${root}/in.npy`,
    ]);
    assert.equal(o.code, 0, o.err);
    assert.deepEqual((await readNpy(out)).shape, [2, 8]);
  }
  // Latents need an anchor bank, which this recipe does not store: the error says what works instead (not
  // "run eval", which would not make one); --batch-relative works, into a folder that does not exist yet.
  const noBank = await runMain([
    "embed",
    "--run",
    `${root}/straight`,
    "--out",
    `${root}/z.npy`,
    `${root}/in.npy`,
  ]);
  assert.equal(noBank.code, 1, noBank.err);
  assert.match(noBank.err, /config stores no anchor bank \(the recipe has none\); pass --batch-relative/);
  const out = `${root}/new-folder/z.npy`;
  await Deno.remove(`${root}/new-folder`, { recursive: true }).catch(() => {});
  const rel = await runMain([
    "embed",
    "--run",
    `${root}/straight`,
    "--out",
    out,
    "--batch-relative",
    `${root}/in.npy`,
  ]);
  assert.equal(rel.code, 0, rel.err);
  assert.deepEqual((await readNpy(out)).shape, [2, 8]);
  // A run without labels cannot classify: one line saying so, not an internal error.
  const cls = await runMain(["classify", "--run", `${root}/straight`, `${root}/in.npy`]);
  assert.equal(cls.code, 1, cls.err);
  assert.match(cls.err, /is a representation run, which cannot classify images/);
  assert.doesNotMatch(cls.err, /bug in lzn/);
});
