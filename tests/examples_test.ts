/**
 * The example inputs in `examples/` (README, "Commands") are what `examples/make.ts` writes from the bundled
 * MNIST test split, and valid inputs of `classify` / `embed`: the NPY's 20 digits and each PNG read back as
 * the same images.
 *
 * @module
 */
import { strict as assert } from "node:assert";
import { loadMnist } from "@lzn/data";
import { readImages } from "@lzn/tasks";

Deno.test("examples: digits.npy and digit-<c>.png are the first held-out MNIST digits of each class", async () => {
  const { test } = await loadMnist({ log: null });
  const px = 28 * 28, perClass = test.count / 10;
  const npy = await readImages(["examples/digits.npy"]);
  assert.equal(npy.batch.count, 20);
  const pixels = npy.batch.images;
  for (let c = 0; c < 10; c++) {
    for (let j = 0; j < 2; j++) {
      const i = c * perClass + j;
      assert.equal(test.labels[i], c);
      const row = pixels.subarray((2 * c + j) * px, (2 * c + j + 1) * px);
      for (let p = 0; p < px; p++) {
        assert.equal(
          Math.round((row[p] + 1) * 127.5),
          test.images[i * px + p],
          `digit ${2 * c + j}, pixel ${p}`,
        );
      }
    }
  }
  const pngs = await readImages([...Array(10).keys()].map((c) => `examples/digit-${c}.png`));
  for (let c = 0; c < 10; c++) {
    assert.deepEqual(
      pngs.batch.images.subarray(c * px, (c + 1) * px),
      pixels.subarray(2 * c * px, (2 * c + 1) * px),
    );
  }
});
