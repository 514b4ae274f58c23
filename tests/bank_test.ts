/**
 * Inference with an anchor bank: an item's latent is computed against the bank plus its own anchor only, so
 * it is the same alone as inside any batch (bit for bit), for both solvers; a label from `classifyWithBank`
 * does not depend on the other images.
 */
import { strict as assert } from "node:assert";
import { randn, tensor } from "@lzn/tensor";
import { latentsWithBank } from "@lzn/latent";
import { ClassificationModel, classifyWithBank, parseRecipeConfig } from "@lzn/tasks";

Deno.test("latentsWithBank: a row alone equals the same row inside a batch, bit for bit (Euler and DPM-Solver++)", async () => {
  const q = 6, n = 5;
  const bank = randn([40, q], { seed: 1 }),
    anchors = randn([n, q], { seed: 2 }),
    noise = randn([n, q], { seed: 3 });
  for (const solver of ["euler", "dpm++3m"] as const) {
    const all = await latentsWithBank(anchors, bank, { solver, tau: 0.7, noise }).toArray();
    const host = await anchors.toArray(), hostNoise = await noise.toArray();
    for (const i of [0, 3]) {
      const one = tensor(host.subarray(i * q, (i + 1) * q), [1, q]);
      const oneNoise = tensor(hostNoise.subarray(i * q, (i + 1) * q), [1, q]);
      const alone = await latentsWithBank(one, bank, { solver, tau: 0.7, noise: oneNoise }).toArray();
      assert.deepEqual(alone, all.subarray(i * q, (i + 1) * q), `${solver}: row ${i}`);
      one.dispose();
      oneNoise.dispose();
    }
  }
  assert.throws(() => latentsWithBank(anchors, randn([4, q + 1], { seed: 4 })), /a bank \[M, q\]/);
});

Deno.test("classifyWithBank: an image gets the same label alone as inside a batch", async () => {
  const model = new ClassificationModel(parseRecipeConfig({
    recipe: "classification",
    model: {
      latentDim: 8,
      classes: 4,
      labelSteps: 30,
      encoder: { channels: [4, 8], strides: [2, 2], headHidden: 8 },
    },
  }, "test"));
  try {
    const count = 12, px = 784;
    const images = new Float32Array(count * px).map((_, i) => Math.sin(i * 0.37) * Math.cos(i * 0.011));
    const batch = { images, count };
    const bank = model.space.anchors("image", { images: images.map((v) => -v), count });
    const together = await classifyWithBank(model.space, batch, bank, { tau: 0 });
    for (const i of [0, 5, 11]) {
      const alone = await classifyWithBank(model.space, {
        images: images.subarray(i * px, (i + 1) * px),
        count: 1,
      }, bank);
      assert.equal(alone[0], together[i], `image ${i}: alone ${alone[0]}, in the batch ${together[i]}`);
    }
    bank.dispose();
  } finally {
    model.dispose();
  }
});
