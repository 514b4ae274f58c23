/**
 * Configs, checkpoints and the CLI's inputs and errors: readable zod errors, refusal of a checkpoint from
 * another model, NPY / PNG input, and the CLI's messages for a bad config, a missing file or a bad option.
 */
import { strict as assert } from "node:assert";
import { encodePng } from "@lzn/data";
import { ConfigError, ImageEncoder, LabelEncoder } from "@lzn/encoders";
import { LabelDecoder } from "@lzn/decoders";
import {
  architectureHash,
  CheckpointError,
  decodeNpy,
  decodePngGray,
  encodeNpy,
  loadCheckpoint,
  loadClassifier,
  LznClassifier,
  parseClassifierConfig,
  readImages,
  trainClassifier,
  writeCheckpoint,
} from "@lzn/tasks";

// Colour codes of deno's output (ESC [ ... m).
const ANSI = new RegExp(String.fromCharCode(27) + "\\[[0-9;]*m", "g");

const ROOT = ".cache/test-runs/config";

Deno.test("config: a bad config lists every problem with its path", () => {
  let error: unknown;
  try {
    parseClassifierConfig({
      name: "bad name!",
      model: { latentDim: 0, encoder: { channels: [16, 30], strides: [2] } },
      train: { batchSize: 1.5, lr: 3 },
    }, "bad.json");
  } catch (e) {
    error = e;
  }
  assert.ok(error instanceof ConfigError);
  const msg = error.message;
  assert.match(msg, /^invalid bad\.json:/);
  for (
    const part of [
      /→ at name/,
      /→ at model\.latentDim/,
      /→ at train\.batchSize/,
      /Unrecognized key: "lr"/,
      /→ at model\.encoder\.strides/,
      /30 is not divisible by groups \(4\)/,
    ]
  ) assert.match(msg, part);
  assert.ok(error.issues.length >= 6);
});

Deno.test("config: encoders and decoders validate their own configs", () => {
  assert.throws(
    () => new ImageEncoder({ latentDim: 8, channels: [8], strides: [2], headLevels: [3] }),
    /level 3 does not exist \(1 levels\)\n {2}→ at headLevels\[0\]/,
  );
  assert.throws(
    () => new LabelEncoder({ classes: 1, latentDim: 8 }),
    /invalid label encoder config[\s\S]*classes/,
  );
  const label = new LabelEncoder({ classes: 3, latentDim: 4 });
  assert.throws(() => new LabelDecoder(label, { steps: 0 }), /invalid label decoder config[\s\S]*steps/);
  label.dispose();
  // Spelling out a default does not change the architecture; changing a shape does.
  const a = parseClassifierConfig({});
  const b = parseClassifierConfig({ model: { encoder: { channels: [16, 32, 32], seed: 5 } } });
  const c = parseClassifierConfig({ model: { latentDim: 16 } });
  return Promise.all([architectureHash(a.model), architectureHash(b.model), architectureHash(c.model)]).then(
    ([ha, hb, hc]) => {
      assert.equal(ha, hb);
      assert.notEqual(ha, hc);
    },
  );
});

Deno.test("checkpoint: a checkpoint from another model is refused with a clear error", async () => {
  const small = parseClassifierConfig({
    name: "a",
    model: { latentDim: 8, classes: 3, encoder: { channels: [4, 8], headHidden: 8, strides: [2, 2] } },
  });
  const other = parseClassifierConfig({ ...small, model: { ...small.model, latentDim: 12 } });
  const dirA = `${ROOT}/a`, dirB = `${ROOT}/b`;
  for (const [dir, config] of [[dirA, small], [dirB, other]] as const) {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    const model = new LznClassifier(config.model);
    await writeCheckpoint(
      dir,
      Object.fromEntries(model.namedParameters().map(([n, p]) => [`model.${n}`, p])),
      {
        step: 0,
        data: { epoch: 0, batch: 0, batchesPerEpoch: 1 },
        seeds: { data: 0, noise: 0, encoderInit: 0, labelInit: 1 },
        skipped: 0,
        seconds: 0,
        config,
      },
    );
    model.dispose();
  }
  // Training another model into A's directory.
  await assert.rejects(
    trainClassifier(other, { runDir: dirA, log: null }),
    (e: Error) => e instanceof CheckpointError && /another model/.test(e.message),
  );
  // Evaluating A's checkpoint while asking for B's architecture.
  await assert.rejects(loadClassifier(dirA, { expect: other }), /from another model/);
  // B's tensor file copied into A's run: the file's own architecture tag gives it away.
  const stateA = JSON.parse(await Deno.readTextFile(`${dirA}/state.json`));
  const stateB = JSON.parse(await Deno.readTextFile(`${dirB}/state.json`));
  await Deno.copyFile(`${dirB}/${stateB.tensors}`, `${dirA}/${stateA.tensors}`);
  await assert.rejects(loadCheckpoint(dirA), /is from another model or run/);
  // No checkpoint at all.
  await assert.rejects(loadCheckpoint(`${ROOT}/none`), /no checkpoint in .*none.*train one first/);
});

Deno.test("inputs: NPY round trip and errors; PNG decoding; image files to a batch", async () => {
  const a = { dtype: "float32" as const, shape: [2, 3], data: new Float32Array([1, 2, 3, 4, 5, 6.5]) };
  const back = decodeNpy(encodeNpy(a));
  assert.deepEqual(back, a);
  assert.equal((encodeNpy(a).length - 24) % 64, 0, "the header is padded to 64 bytes");
  assert.throws(
    () => decodeNpy(new Uint8Array([1, 2, 3]), "x.npy"),
    /x\.npy is not a readable \.npy file: no NPY magic/,
  );
  const i32 = String.fromCharCode(...encodeNpy({ dtype: "int32", shape: [1], data: new Int32Array([1]) }));
  const i64 = Uint8Array.from(i32.replace("'<i4'", "'<i8'"), (c) => c.charCodeAt(0)); // an int64 array
  assert.throws(() => decodeNpy(i64, "y.npy"), /element type <i8/);

  const pixels = new Uint8Array(784).map((_, i) => (i * 7) % 256);
  const png = await encodePng({ pixels, width: 28, height: 28, channels: 1 });
  assert.deepEqual((await decodePngGray(png)).pixels, pixels);
  const rgb = await encodePng({
    pixels: new Uint8Array([255, 0, 0, 0, 0, 255]),
    width: 2,
    height: 1,
    channels: 3,
  });
  assert.deepEqual([...(await decodePngGray(rgb)).pixels], [76, 29]);

  await Deno.mkdir(ROOT, { recursive: true });
  await Deno.writeFile(`${ROOT}/d.png`, png);
  await Deno.writeFile(
    `${ROOT}/d.npy`,
    encodeNpy({ dtype: "uint8", shape: [2, 28, 28], data: new Uint8Array(2 * 784).fill(255) }),
  );
  const fromPng = await readImages([`${ROOT}/d.png`, `${ROOT}/d.png`]);
  assert.equal(fromPng.batch.count, 2);
  assert.ok(Math.abs(fromPng.batch.images[1] - (7 * 2 / 255 - 1)) < 1e-6);
  const fromNpy = await readImages([`${ROOT}/d.npy`]);
  assert.deepEqual([fromNpy.batch.count, fromNpy.batch.images[0], fromNpy.names[1]], [
    2,
    1,
    `${ROOT}/d.npy[1]`,
  ]);
  await Deno.writeFile(
    `${ROOT}/bad.npy`,
    encodeNpy({ dtype: "uint8", shape: [2, 27], data: new Uint8Array(54) }),
  );
  await assert.rejects(
    readImages([`${ROOT}/bad.npy`]),
    /expected shape \[n, 28, 28\] or \[n, 784\], got \[2, 27\]/,
  );
  await assert.rejects(readImages([`${ROOT}/missing.png`]), Deno.errors.NotFound);
});

async function cli(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const o = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-read", "--allow-write=.cache,runs", "--allow-env", "main.ts", ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = (b: Uint8Array) => new TextDecoder().decode(b).replace(ANSI, "");
  return { code: o.code, out: dec(o.stdout), err: dec(o.stderr) };
}

Deno.test("cli: --help, a bad config, a missing file, a bad option and a missing checkpoint give clear messages", async () => {
  await Deno.mkdir(ROOT, { recursive: true });
  await Deno.writeTextFile(`${ROOT}/bad.json`, JSON.stringify({ train: { batchSize: -4, steps: "many" } }));
  await Deno.writeTextFile(`${ROOT}/broken.json`, "{ not json");
  const help = await cli("train", "--help");
  assert.equal(help.code, 0);
  assert.match(help.out, /usage: deno task train --config FILE/);
  const bad = await cli("train", "--config", `${ROOT}/bad.json`);
  assert.equal(bad.code, 1);
  assert.match(bad.err, /error: invalid config .*bad\.json:\n✖ /);
  assert.match(bad.err, /✖ Too small: expected number to be >=2\n {2}→ at train\.batchSize/);
  assert.match(bad.err, /→ at train\.steps/);
  const broken = await cli("train", "--config", `${ROOT}/broken.json`);
  assert.match(broken.err, /is not valid JSON/);
  const missing = await cli("train", "--config", `${ROOT}/nope.json`);
  assert.match(missing.err, /config file not found: .*nope\.json/);
  const option = await cli("eval", "--bogus");
  assert.equal(option.code, 2);
  assert.match(option.err, /error: .*bogus[\s\S]*usage: deno task eval/);
  const noRun = await cli("classify", "--run", `${ROOT}/no-run`, `${ROOT}/d.png`);
  assert.equal(noRun.code, 1);
  assert.match(noRun.err, /error: (no checkpoint in|file not found)/);
  const unknown = await cli("fly");
  assert.equal(unknown.code, 2);
  assert.match(unknown.err, /unknown command "fly"/);
});
