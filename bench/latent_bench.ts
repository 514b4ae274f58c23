/**
 * `deno bench` for the latent operations at small sizes (runs on lavapipe; on a GPU use bench/gpu_latent.ts
 * for the large sizes, peers' conventions and JSON output).
 *
 *     deno bench -A bench/latent_bench.ts
 *
 * @module
 */
import { randn, synchronize, tensor } from "../tensor/mod.ts";
import { alignmentLoss, computeLatents, decodeLatents, velocity } from "../latent/mod.ts";

const n = 256, q = 32;
const anchors = randn([n, q], { seed: 1 });
const noise = randn([n, q], { seed: 2 });
const leaf = randn([n, q], { seed: 3 }).requireGrad();
const labels = randn([10, q], { seed: 4 });
const labelLeaf = randn([10, q], { seed: 5 }).requireGrad();
const pairs = tensor(Int32Array.from({ length: n }, (_, i) => i % 10), [n], { dtype: "i32" });

Deno.bench("velocity b=N=256 q=32", { group: "velocity" }, async () => {
  const v = velocity(anchors, anchors, 0.3);
  await synchronize();
  v.dispose();
});

Deno.bench("computeLatents euler n=256 q=32 r=20 fwd", { group: "latents", baseline: true }, async () => {
  const z = computeLatents(anchors, { noise });
  await synchronize();
  z.dispose();
});

Deno.bench("computeLatents dpm++3m n=256 q=32 r=20 fwd", { group: "latents" }, async () => {
  const z = computeLatents(anchors, { noise, solver: "dpm++3m" });
  await synchronize();
  z.dispose();
});

Deno.bench("computeLatents euler n=256 q=32 r=20 fwd+bwd", { group: "latents" }, async () => {
  const z = computeLatents(leaf, { noise });
  z.backward(noise);
  await synchronize();
  z.dispose();
  leaf.grad?.dispose();
  leaf.grad = undefined;
});

Deno.bench("alignmentLoss labels N=10 b=256 K=100 fwd+bwd", { group: "alignment" }, async () => {
  const loss = alignmentLoss(labelLeaf, anchors, pairs);
  loss.backward();
  await synchronize();
  loss.dispose();
  labelLeaf.grad?.dispose();
  labelLeaf.grad = undefined;
});

Deno.bench("decodeLatents N=10 b=256 K=100", { group: "alignment" }, async () => {
  const { endpoints } = await decodeLatents(labels, anchors);
  endpoints.dispose();
});
