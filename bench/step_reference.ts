/**
 * The reference that `bench/peers/torch_steps.py --against` checks its port against: lzn's DPM-Solver++(3M)
 * latents (20 steps, τ 0.25, eps 1e-3) of 64 random anchors and the log alignment loss (K 100, class weights
 * = label frequencies) of those latents into 10 random label anchors, as JSON.
 *
 *     deno run -A bench/step_reference.ts .cache/step_reference.json
 *
 * @module
 */
import { randn, tensor } from "../tensor/mod.ts";
import { alignmentLoss, computeLatents } from "../latent/mod.ts";

const out = Deno.args[0] ?? ".cache/step_reference.json";
const b = 64, q = 32;
const a = randn([b, q], { seed: 1 }),
  noise = randn([b, q], { seed: 2 }),
  anchors = randn([10, q], { seed: 3 });
const labels = Int32Array.from({ length: b }, (_, i) => (i * 7) % 10 === 3 ? 5 : (i * 7) % 10); // class 3 absent
const counts = new Float32Array(10);
for (const l of labels) counts[l]++;
const z = computeLatents(a, { noise, steps: 20, solver: "dpm++3m", tau: 0.25 });
const loss = alignmentLoss(anchors, z, tensor(labels, [b], { dtype: "i32" }), {
  steps: 100,
  weights: tensor(counts.map((c) => c / b), [10]),
  log: true,
});
const list = async (t: { toArray(): Promise<Float32Array> }) => [...await t.toArray()];
await Deno.writeTextFile(
  out,
  JSON.stringify({
    anchors: await list(a),
    noise: await list(noise),
    labelAnchors: await list(anchors),
    labels: [...labels],
    latents: await list(z),
    loss: (await loss.toArray())[0],
  }),
);
console.log(`wrote ${out}`);
