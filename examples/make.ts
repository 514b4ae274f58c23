/**
 * Writes the example inputs of `deno task classify` and `embed` (README, "Commands"): the first two held-out
 * MNIST digits of each class — the demo's test split, which it never trains on — as `digits.npy` (uint8
 * [20, 28, 28], labels 0 0 1 1 ... 9 9) and the first of each as `digit-<label>.png`.
 *
 *   deno run --allow-read --allow-write=examples,.cache --allow-env examples/make.ts
 *
 * @module
 */
import { encodePng, loadMnist } from "@lzn/data";
import { encodeNpy } from "@lzn/tasks";

const { test } = await loadMnist({ log: null });
const px = test.rows * test.cols, perClass = test.count / 10;
const images = new Uint8Array(20 * px);
for (let c = 0; c < 10; c++) {
  for (let j = 0; j < 2; j++) {
    const i = c * perClass + j;
    if (test.labels[i] !== c) {
      throw new Error(`examples/make.ts: test image ${i} is a ${test.labels[i]}, not ${c}`);
    }
    images.set(test.images.subarray(i * px, (i + 1) * px), (2 * c + j) * px);
  }
  const png = await encodePng({
    pixels: images.slice(2 * c * px, (2 * c + 1) * px),
    width: test.cols,
    height: test.rows,
    channels: 1,
  });
  await Deno.writeFile(`examples/digit-${c}.png`, png);
}
await Deno.writeFile("examples/digits.npy", encodeNpy({ dtype: "uint8", shape: [20, 28, 28], data: images }));
console.log(
  "wrote examples/digits.npy (20 digits, labels 0 0 1 1 ... 9 9) and examples/digit-0.png ... digit-9.png",
);
