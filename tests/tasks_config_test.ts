/**
 * Configs, run directories and the inputs of inference: readable zod errors at every level (recipes,
 * encoders, decoders — one `ConfigError`), generated config types in sync with their schemas, refusal of a
 * checkpoint of another model or recipe, of an earlier format and of damaged data, and NPY / PNG input.
 */
import { strict as assert } from "node:assert";
import { ConfigError, tensor } from "@lzn/tensor";
import { encodePng, pngText, withPngText } from "@lzn/data";
import { ImageEncoder, LabelEncoder } from "@lzn/encoders";
import { LabelDecoder, RfImageDecoder } from "@lzn/decoders";
import {
  architectureHash,
  CheckpointError,
  checkRunImages,
  classification,
  decodeNpy,
  discardRun,
  encodeNpy,
  generation,
  InputError,
  loadRun,
  parseRecipeConfig,
  readImages,
  type RecipeConfig,
  RUN_IMAGE_MARK,
  train,
  writeCheckpoint,
} from "@lzn/tasks";

const ROOT = ".cache/test-runs/config";
const quiet = { log: null, onProgress: () => {} };
const SMALL = { latentDim: 8, classes: 3, encoder: { channels: [4, 8], headHidden: 8, strides: [2, 2] } };

Deno.test("config: a bad config lists every problem with its path; an unknown recipe lists the recipes", () => {
  let error: unknown;
  try {
    parseRecipeConfig({
      recipe: "classification",
      name: "bad name!",
      model: { latentDim: 0, encoder: { channels: [16, 30], strides: [2] } },
      train: { batchSize: 1.5, shiftt: 3 },
    }, "bad.json");
  } catch (e) {
    error = e;
  }
  assert.ok(error instanceof ConfigError);
  for (
    const part of [
      /^invalid bad\.json:/,
      /→ at name/,
      /→ at model\.latentDim/,
      /→ at train\.batchSize/,
      /Unrecognized key: "shiftt"/,
      /→ at model\.encoder\.strides/,
      /30 is not divisible by groups \(4\)/,
    ]
  ) assert.match(error.message, part);
  assert.throws(
    () => parseRecipeConfig({ recipe: "clasification" }, "typo.json"),
    /invalid typo\.json:[\s\S]*"classification"\|"generation"\|"cross-entropy"[\s\S]*→ at recipe/,
  );
  assert.throws(() => parseRecipeConfig({ train: {} }, "norecipe.json"), /→ at recipe/);
  assert.throws(
    () => parseRecipeConfig({ recipe: "generation", train: { steps: 10, decoderSteps: 20 } }, "g.json"),
    /the decoder cannot train longer \(20\) than the run \(10 steps\)/,
  );
});

Deno.test("config: an unknown key names the nearest key allowed at its path, in objects, unions and nowhere else", () => {
  const message = (value: Record<string, unknown>) => {
    try {
      parseRecipeConfig(value, "typo.json");
    } catch (e) {
      assert.ok(e instanceof ConfigError);
      return e.message;
    }
    assert.fail("the config parsed");
  };
  const m = message({
    recipe: "generation",
    trian: { steps: 3 },
    model: { latentDm: 8, encoder: { chanels: [4, 8] } },
    eval: { generation: { sampler: { kind: "euler", step: 3 } } },
    data: { zzzz: 1 },
  });
  assert.match(m, /Unrecognized key: "trian" \(did you mean "train"\?\)/);
  assert.match(m, /Unrecognized key: "latentDm" \(did you mean "latentDim"\?\)\n {2}→ at model\n/);
  assert.match(m, /Unrecognized key: "chanels" \(did you mean "channels"\?\)\n {2}→ at model\.encoder\n/);
  // A key of one option of a discriminated union.
  assert.match(
    m,
    /Unrecognized key: "step" \(did you mean "steps"\?\)\n {2}→ at eval\.generation\.sampler\n/,
  );
  // Nothing near: the plain message.
  assert.match(m, /Unrecognized key: "zzzz"\n {2}→ at data\n/);
  // Several unknown keys, one near miss: the hint names its key.
  assert.match(
    message({ recipe: "classification", train: { zzzz: 1, step: 3 } }),
    /Unrecognized keys: "zzzz", "step" \(did you mean "step" -> "steps"\?\)/,
  );
  // Two near misses in one object: each named.
  assert.match(
    message({ recipe: "classification", train: { step: 3, batchSise: 4 } }),
    /Unrecognized keys: "step", "batchSise" \(did you mean "step" -> "steps", "batchSise" -> "batchSize"\?\)/,
  );
});

Deno.test("config: encoders and decoders throw the same ConfigError; architecture hashes ignore spelled-out defaults", async () => {
  const bad: [string, () => unknown, RegExp][] = [
    [
      "image encoder",
      () => new ImageEncoder({ latentDim: 8, channels: [8], strides: [2], headLevels: [3] }),
      /level 3 does not exist/,
    ],
    [
      "label encoder",
      () => new LabelEncoder({ classes: 1, latentDim: 8 }),
      /invalid label encoder config[\s\S]*classes/,
    ],
    [
      "RF decoder",
      () => new RfImageDecoder({ channels: [6, 8] }),
      /invalid RF decoder config[\s\S]*channels/,
    ],
  ];
  for (const [what, make, message] of bad) {
    assert.throws(make, (e: Error) => e instanceof ConfigError && message.test(e.message), what);
  }
  const label = new LabelEncoder({ classes: 3, latentDim: 4 });
  assert.throws(
    () => new LabelDecoder(label, { steps: 0 }),
    (e: Error) => e instanceof ConfigError && /steps/.test(e.message),
  );
  label.dispose();
  const hash = (v: Record<string, unknown>) =>
    architectureHash(classification, parseRecipeConfig({ recipe: "classification", ...v }, "t"));
  const base = await hash({});
  assert.equal(await hash({ model: { encoder: { channels: [16, 32, 32], seed: 5 } } }), base);
  assert.notEqual(await hash({ model: { latentDim: 16 } }), base);
});

Deno.test("config: tasks/config_types.ts is what the schemas generate (deno task gen-config-types --check)", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-read", "--allow-env", "--allow-run", "scripts/gen_config_types.ts", "--check"],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
});

Deno.test("run directory: another model, another recipe, an earlier format and damaged data are refused by name", async () => {
  const config = parseRecipeConfig({
    recipe: "classification",
    name: "a",
    model: SMALL,
    data: { trainPerClass: 10, testPerClass: 5 },
    train: { steps: 1, batchSize: 10, checkpointEvery: 0 },
  }, "test");
  const dir = `${ROOT}/a`;
  (await train(classification, config, { ...quiet, runDir: dir, start: "fresh" })).dispose();

  const wider = { ...config, model: { ...config.model, latentDim: 12 } };
  await assert.rejects(
    train(classification, wider, { ...quiet, runDir: dir }),
    (e: Error) =>
      e instanceof CheckpointError &&
      /another model \(changed: latentDim 8 -> 12\); use another run name, or --fresh/.test(e.message),
  );
  const gen = parseRecipeConfig({ recipe: "generation", eval: { reference: "none" } }, "test");
  await assert.rejects(
    train(generation, gen, { ...quiet, runDir: dir }),
    /holds a run of recipe classification, not generation/,
  );

  // The tensor file's data no longer matches its checksum: refused with the file named.
  const state = JSON.parse(await Deno.readTextFile(`${dir}/state.json`));
  const path = `${dir}/${state.tensors}`;
  const bytes = await Deno.readFile(path);
  const flipped = bytes.slice();
  flipped[flipped.length - 3] ^= 0x40;
  await Deno.writeFile(path, flipped);
  await assert.rejects(
    loadRun(dir),
    (e: Error) => e instanceof CheckpointError && /checksum|crc/i.test(e.message),
  );
  await Deno.writeFile(path, bytes);
  (await loadRun(dir)).dispose();

  // A run of an earlier lzn: refused with a message that says so.
  const old = `${ROOT}/old`;
  await Deno.mkdir(old, { recursive: true });
  await Deno.writeTextFile(`${old}/state.json`, JSON.stringify({ format: "lzn-classifier-run/1", step: 3 }));
  await assert.rejects(
    loadRun(old),
    /written by an earlier lzn \(format lzn-classifier-run\/1\)[\s\S]*train it again/,
  );
  await assert.rejects(loadRun(`${ROOT}/none`), /no checkpoint in .*none.*train one first/);
});

Deno.test("run images: only the run's are rewritten or removed; runs from before the mark keep their names", async () => {
  const dir = `${ROOT}/images`;
  await Deno.remove(dir, { recursive: true }).catch(() => {});
  await Deno.mkdir(dir, { recursive: true });
  const png = await encodePng({ pixels: new Uint8Array(4), width: 2, height: 2, channels: 1 });
  const state = (imageMarks: boolean) =>
    Deno.writeTextFile(
      `${dir}/state.json`,
      JSON.stringify({ format: "lzn-run/2", ...(imageMarks ? { imageMarks } : {}) }),
    );
  const refused = (pattern: RegExp) =>
    assert.rejects(
      () => checkRunImages(dir),
      (e: Error) => e instanceof CheckpointError && pattern.test(e.message),
    );

  // A run made since the mark: an unmarked file under an image name is someone else's.
  await state(true);
  await Deno.writeFile(`${dir}/samples.png`, png);
  await refused(
    /^\S+\/samples\.png has no lzn run-image mark, so this run did not write it .*; move it out of /,
  );
  await checkRunImages(dir, ["predictions.png"]); // a recipe that writes no samples.png is not held up by it
  assert.deepEqual(await discardRun(dir), ["state.json"]); // --fresh leaves it
  assert.deepEqual(await Deno.readFile(`${dir}/samples.png`), png);
  await Deno.writeFile(`${dir}/samples.png`, withPngText(png, RUN_IMAGE_MARK));
  await checkRunImages(dir); // marked: the run's (no state.json either: a run not yet checkpointed)
  await state(true);
  assert.deepEqual(await discardRun(dir), ["samples.png", "state.json"]);

  // A directory, a symbolic link (even to a marked image) or a special file is never the run's, in any run.
  await state(false);
  await Deno.mkdir(`${dir}/predictions.png`);
  await refused(/predictions\.png is a directory, where runs write their images; move it out of /);
  await Deno.remove(`${dir}/predictions.png`);
  await Deno.writeFile(`${dir}/marked.png`, withPngText(png, RUN_IMAGE_MARK));
  // `ln`, since Deno.symlink needs unscoped write permission and the suite grants .cache and /tmp only.
  assert.ok(
    (await new Deno.Command("ln", { args: ["-s", "marked.png", `${dir}/views.png`] }).output()).success,
  );
  await refused(/views\.png is a symbolic link, where runs write their images/);
  assert.ok(!(await discardRun(dir)).includes("views.png"));
  await Deno.remove(`${dir}/views.png`);

  // A run from before the mark owns its image names, as it did: its unmarked images pass and --fresh removes
  // them; its next checkpoint keeps it that way (writeCheckpoint reads the old state).
  await state(false);
  await Deno.writeFile(`${dir}/predictions.png`, png);
  await checkRunImages(dir);
  assert.deepEqual(pngText(png), {});
  const fields = {
    recipe: "classification",
    step: 1,
    data: { epoch: 0, batch: 1, batchesPerEpoch: 2 },
    skipped: 0,
    seconds: 0,
    configHash: "c",
    architectureHash: "a",
    config: {} as RecipeConfig,
  };
  const x = tensor(new Float32Array([1]), [1]);
  const marks = async () => JSON.parse(await Deno.readTextFile(`${dir}/state.json`)).imageMarks;
  await Deno.writeTextFile(`${dir}/state.json`, JSON.stringify({ format: "lzn-run/2", tensors: "none" }));
  await writeCheckpoint(dir, { x }, { ...fields, imageMarks: true });
  assert.equal(await marks(), undefined, "a run from before the mark stays one");
  assert.deepEqual(await discardRun(dir), [
    "checkpoint-00000001.safetensors",
    "predictions.png",
    "state.json",
  ]);
  await writeCheckpoint(dir, { x }, fields);
  assert.equal(await marks(), true, "a run started now marks its images");
  x.dispose();
});

Deno.test("inputs: NPY round trip and errors; PNG files of other colour types; every bad input is an InputError", async () => {
  const a = { dtype: "float32" as const, shape: [2, 3], data: new Float32Array([1, 2, 3, 4, 5, 6.5]) };
  assert.deepEqual(decodeNpy(encodeNpy(a)), a);
  assert.equal((encodeNpy(a).length - 24) % 64, 0, "the header is padded to 64 bytes");
  assert.throws(
    () => decodeNpy(new Uint8Array([1, 2, 3]), "x.npy"),
    /x\.npy is not a readable \.npy file: no NPY magic/,
  );
  // float16 (NumPy's '<f2') is widened to float32: normal, negative, largest, subnormal, ±0, infinities, NaN.
  const halves = [0x3c00, 0xc100, 0x7bff, 0x0001, 0x3555, 0x8000, 0xfc00, 0x7e00];
  const f16 = encodeNpy({ dtype: "float32", shape: [8], data: new Float32Array(8) });
  const head = new TextDecoder().decode(f16).indexOf("<f4");
  f16.set(new TextEncoder().encode("<f2"), head);
  f16.set(new Uint8Array(Uint16Array.from(halves).buffer), f16.length - 32);
  const widened = decodeNpy(f16, "half.npy");
  const big = f16.slice();
  big.set(new TextEncoder().encode(">f2"), head);
  assert.throws(
    () => decodeNpy(big, "big.npy"),
    /element type >f2 \(supported: .*, little-endian: save with \.astype\('<f2'\)\)/,
  );
  assert.equal(widened.dtype, "float32");
  assert.deepStrictEqual(Array.from(widened.data as Float32Array), [
    1,
    -2.5,
    65504,
    2 ** -24,
    0.333251953125,
    -0,
    -Infinity,
    NaN,
  ]);

  await Deno.mkdir(ROOT, { recursive: true });
  const pixels = new Uint8Array(784).map((_, i) => (i * 7) % 256);
  await Deno.writeFile(`${ROOT}/d.png`, await encodePng({ pixels, width: 28, height: 28, channels: 1 }));
  const rgb = new Uint8Array(784 * 3).map((_, i) => (i % 3 === 0 ? 255 : 0)); // pure red: grey 76
  await Deno.writeFile(
    `${ROOT}/red.png`,
    await encodePng({ pixels: rgb, width: 28, height: 28, channels: 3 }),
  );
  const fromPng = await readImages([`${ROOT}/d.png`, `${ROOT}/red.png`]);
  assert.equal(fromPng.batch.count, 2);
  assert.ok(Math.abs(fromPng.batch.images[1] - (7 * 2 / 255 - 1)) < 1e-6);
  assert.ok(Math.abs(fromPng.batch.images[784] - (76 * 2 / 255 - 1)) < 1e-6);

  const write = (name: string, arr: Parameters<typeof encodeNpy>[0]) =>
    Deno.writeFile(`${ROOT}/${name}`, encodeNpy(arr));
  await write("ok.npy", { dtype: "uint8", shape: [2, 28, 28], data: new Uint8Array(2 * 784).fill(255) });
  const fromNpy = await readImages([`${ROOT}/ok.npy`]);
  assert.deepEqual([fromNpy.batch.count, fromNpy.batch.images[0], fromNpy.names[1]], [
    2,
    1,
    `${ROOT}/ok.npy[1]`,
  ]);
  // Integer arrays (int64 is numpy's default, int32) read as 0..255, like uint8; outside that range, an error.
  await write("int.npy", { dtype: "int32", shape: [1, 784], data: new Int32Array(784).fill(255) });
  assert.equal((await readImages([`${ROOT}/int.npy`])).batch.images[0], 1);
  await write("int64.npy", { dtype: "int64", shape: [1, 784], data: BigInt64Array.from(pixels, BigInt) });
  assert.deepEqual(decodeNpy(await Deno.readFile(`${ROOT}/int64.npy`)).dtype, "int64");
  assert.deepEqual(
    (await readImages([`${ROOT}/int64.npy`])).batch.images,
    fromPng.batch.images.subarray(0, 784),
  );
  const wide64 = new BigInt64Array(784);
  wide64[5] = -1n;
  await write("wide64.npy", { dtype: "int64", shape: [1, 784], data: wide64 });
  const wide = new Int32Array(784);
  wide[3] = 300;
  await write("wide.npy", { dtype: "int32", shape: [1, 784], data: wide });
  const nan = new Float32Array(2 * 784).fill(0.5);
  nan[784 + 17] = NaN;
  await write("nan.npy", { dtype: "float32", shape: [2, 784], data: nan });
  await write("empty.npy", { dtype: "uint8", shape: [0, 28, 28], data: new Uint8Array(0) });
  await write("shape.npy", { dtype: "uint8", shape: [2, 27], data: new Uint8Array(54) });
  await Deno.writeFile(`${ROOT}/notpng.png`, new TextEncoder().encode("hello"));
  const cases: [string[], RegExp][] = [
    [[`${ROOT}/nan.npy`], /nan\.npy: image 1, pixel 17 is NaN; float images must be finite/],
    [[`${ROOT}/empty.npy`], /empty\.npy holds no images/],
    [[`${ROOT}/wide.npy`], /wide\.npy: image 0, pixel 3 is 300; integer images must be 0\.\.255$/],
    [[`${ROOT}/wide64.npy`], /wide64\.npy: image 0, pixel 5 is -1; integer images must be 0\.\.255$/],
    [[`${ROOT}/shape.npy`], /expected shape \[n, 28, 28\] or \[n, 784\], got \[2, 27\]/],
    [[`${ROOT}/missing.png`], /input file not found: .*missing\.png/],
    [[`${ROOT}/notpng.png`], /notpng\.png: .*not a PNG/],
    [[`${ROOT}/ok.npy`, `${ROOT}/d.png`], /either one \.npy file or PNG files/],
    [[], /no input images given/],
  ];
  for (const [paths, message] of cases) {
    await assert.rejects(
      readImages(paths),
      (e: Error) => e instanceof InputError && message.test(e.message),
      String(paths),
    );
  }
});

Deno.test("every shipped config parses with its recipe's schema", () => {
  let count = 0;
  for (const dir of ["tasks/recipes", "tasks/recipes/cpu"]) {
    for (const entry of Deno.readDirSync(dir)) {
      if (!entry.isFile || !entry.name.endsWith(".json")) continue;
      const path = `${dir}/${entry.name}`;
      const raw = JSON.parse(Deno.readTextFileSync(path));
      const cfg = parseRecipeConfig(raw, path);
      assert.equal(cfg.recipe, raw.recipe, path);
      count++;
    }
  }
  assert.ok(count >= 15, `${count} configs`);
});
