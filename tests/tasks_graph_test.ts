/**
 * The typed latent graph: compile-time errors (via `deno check tests/typed_graph_check.ts`), the runtime
 * errors for names only known at run time, and the composed tasks running end to end on tiny inputs.
 */
import { strict as assert } from "node:assert";
import { ImageEncoder, LabelEncoder } from "@lzn/encoders";
import { LabelDecoder } from "@lzn/decoders";
import { tensor } from "@lzn/tensor";
import { ClassificationModel, LatentSpace, parseRecipeConfig } from "@lzn/tasks";

// Colour codes of deno's output (ESC [ ... m).
const ANSI = new RegExp(String.fromCharCode(27) + "\\[[0-9;]*m", "g");

Deno.test("typed graph: every @ts-expect-error in typed_graph_check.ts is a compile error, the rest type-checks", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["check", "tests/typed_graph_check.ts"],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stderr).replace(ANSI, "");
  // An unused @ts-expect-error is itself error TS2578, so success proves each marked line is an error.
  assert.equal(out.code, 0, `deno check failed:\n${text}`);
  const marked = (await Deno.readTextFile("tests/typed_graph_check.ts")).match(/^\s*\/\/ @ts-expect-error/gm);
  assert.ok(marked && marked.length >= 10, "the check file should hold the expected-error cases");
});

function smallSpace() {
  const image = new ImageEncoder({ latentDim: 8, channels: [4, 8], strides: [2, 2], headHidden: 8 });
  const label = new LabelEncoder({ classes: 3, latentDim: 8 });
  const space = new LatentSpace(8)
    .register("image", { encoder: image })
    .register("label", { encoder: label, decoder: new LabelDecoder(label) });
  return { image, label, space };
}

Deno.test("typed graph: unknown names, missing parts, wrong stages and bad registrations are clear runtime errors", () => {
  const { image, label, space } = smallSpace();
  const name = (s: string) => s; // a plain string: not checked at compile time
  assert.throws(
    () => space.task({ from: name("audio"), to: name("label") }),
    /no modality "audio"; registered: "image" \(encoder\), "label" \(encoder \+ decoder\)/,
  );
  assert.throws(
    () => space.task({ from: name("label"), to: name("image") }),
    /modality "image" has no decoder; with decoders: "label"/,
  );
  assert.throws(() => space.task({ from: name("image"), to: name("text") }), /no modality "text"/);
  assert.throws(
    () => space.task({ from: name("image"), output: "representation" as never }),
    /^Error: LatentSpace.task: output must be "latents" or "anchors", got "representation"$/,
  );
  const decoderOnly = new LatentSpace(8).register("label", { decoder: new LabelDecoder(label) });
  assert.throws(
    () => decoderOnly.task({ from: name("label") }),
    /modality "label" has no encoder; with encoders: none/,
  );
  const a = tensor(new Float32Array(16), [2, 8]);
  assert.throws(() => space.latentsOf(name("label"), a), /computes latents over a fixed anchor set/);
  assert.throws(() => space.decoderLoss(name("label"), a, { seed: 0 }), /has no training loss/);
  assert.throws(
    () => space.align(a, "label", Int32Array.from([0, 1]), { pairs: Int32Array.from([0, 0]) }),
    /fixed anchor set and pairs by its items/,
  );
  assert.throws(
    () =>
      space.align(a, "image", { anchors: tensor(new Float32Array(24), [3, 8]) }, {
        pairs: Int32Array.from([0, 5]),
      }),
    /2 latents need 2 pairs into the 3 anchors of "image"/,
  );
  assert.throws(
    () => space.align(a, "image", { anchors: tensor(new Float32Array(24), [3, 8]) }),
    /default pairs i <-> i/,
  );
  assert.throws(() => space.register("image", { encoder: image }), /"image" is already registered/);
  assert.throws(
    () => new LatentSpace(16).register("image", { encoder: image }),
    /latent dimension 8, the space has 16/,
  );
  assert.throws(() => new LatentSpace(8).register("empty", {}), /needs an encoder, a decoder, or both/);
  assert.deepEqual(space.modalities, ["image", "label"]);
  a.dispose();
  image.dispose();
  label.dispose();
});

Deno.test("typed graph: tasks are built from the stages (classify = anchors -> latents -> decode), and run", async () => {
  const model = new ClassificationModel(parseRecipeConfig({
    recipe: "classification",
    model: { latentDim: 8, classes: 3, encoder: { channels: [4, 8], strides: [2, 2], headHidden: 8 } },
  }, "test"));
  try {
    const images = { images: new Float32Array(5 * 784).map((_, i) => Math.sin(i) * 0.9), count: 5 };
    const labels = await model.space.task({ from: "image", to: "label" }).run(images);
    const z = model.space.latents("image", images, { tau: 0, seed: 0 });
    assert.deepEqual(labels, await model.space.decode("label", z), "the task is exactly its stages");
    z.dispose();
    const anchors = await model.space.task({ from: "image", output: "anchors" }).run(images);
    assert.deepEqual([anchors.count, anchors.dim], [5, 8]);
    assert.ok(anchors.data.every(Number.isFinite));
    // A label's zone sample decodes back to that label (zones of N(0,1) anchors in 8-D barely overlap).
    const wanted = Int32Array.from([0, 1, 2, 2, 1, 0]);
    const back = await model.space.task({ from: "label", to: "label" }).run(wanted, { tau: 1, seed: 3 });
    assert.deepEqual([...back], [...wanted]);
  } finally {
    model.dispose();
  }
});
