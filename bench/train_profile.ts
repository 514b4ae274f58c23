/**
 * Where a training step's time goes: times the pieces of the recipes' steps at their real shapes, each alone
 * on the GPU (median ms per call, the queue wait cancelled by timing r and 2r calls), and the JS time to
 * record them (the wall time of recording without waiting). A piece whose GPU time is far above its record
 * time is kernel-bound; one whose record time dominates is bound by the dispatch path.
 *
 *     deno run -A bench/train_profile.ts out.json [--batch 512] [--small] [--kernels]
 *
 * `--kernels` also times every dispatch of one training step of the reference classifier (batch 128, its
 * default network) and of the image encoder + alignment pieces, by timestamp queries, and lists the slowest
 * kernels: the tool to find a kernel that is slow on one GPU only.
 *
 * @module
 */
import { parseArgs } from "node:util";
import {
  Adam,
  conv2d,
  crossEntropy,
  gpu,
  groupNorm,
  type KernelProfile,
  profileKernels,
  randn,
  recorderStats,
  scope,
  synchronize,
  type Tensor,
  tensor,
} from "../tensor/mod.ts";
import { alignmentLoss, computeLatents } from "../latent/mod.ts";
import { ImageEncoder } from "../encoders/mod.ts";
import { RfImageDecoder } from "../decoders/mod.ts";
import { ReferenceClassifier } from "../metrics/mod.ts";

const { values, positionals } = parseArgs({
  args: Deno.args,
  allowPositionals: true,
  options: { batch: { type: "string" }, small: { type: "boolean" }, kernels: { type: "boolean" } },
});
const small = !!values.small;
const B = Number(values.batch ?? (small ? 16 : 512));
const outPath = positionals[0] ?? "bench/results/train_profile.json";

interface Row {
  name: string;
  /** GPU-inclusive ms per call (r vs 2r calls, one wait each). */
  ms: number;
  /** JS ms per call to record the work (no wait). */
  recordMs: number;
  dispatches: number;
}

/** Times `body` (which must free what it makes): r and 2r back-to-back calls, one wait each. */
async function time(name: string, body: () => void): Promise<Row> {
  body();
  await synchronize();
  body();
  await synchronize();
  const d0 = recorderStats.dispatches;
  const r0 = performance.now();
  body();
  const recordMs = performance.now() - r0;
  const dispatches = recorderStats.dispatches - d0;
  await synchronize();
  const single = performance.now() - r0;
  const run = async (n: number) => {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) body();
    await synchronize();
    return performance.now() - t0;
  };
  // Slow pieces get fewer repetitions so that a pathological one cannot eat the run.
  const r = small || single > 50 ? 1 : 5;
  const samples: number[] = [];
  for (let s = 0; s < (single > 200 ? 1 : 3); s++) {
    const one = await run(r), two = await run(2 * r);
    samples.push((two - one) / r);
  }
  samples.sort((a, b) => a - b);
  const row = { name, ms: samples[samples.length >> 1], recordMs, dispatches };
  console.log(
    `${name.padEnd(44)} ${row.ms.toFixed(2).padStart(9)} ms  record ${recordMs.toFixed(2).padStart(8)} ms  ` +
      `${dispatches} dispatches`,
  );
  return row;
}

/** A forward+backward body over fresh grads: runs `f`, back-propagates its sum, frees grads and outputs. */
function fwdBwd(params: Tensor[], f: () => Tensor): () => void {
  return () => {
    scope(() => {
      const y = f();
      y.sum().backward();
    });
    for (const p of params) {
      p.grad?.dispose();
      p.grad = undefined;
    }
  };
}

const rows: Row[] = [];
console.log(`# train_profile on ${gpu().adapter.name}, batch ${B}`);

// The image encoder of tasks/recipes/fashion-mnist.json.
const encoder = new ImageEncoder({
  latentDim: 32,
  channels: small ? [8, 8] : [32, 64, 64, 128],
  strides: small ? [2, 2] : [1, 2, 2, 1],
  groups: small ? 4 : 8,
  headChannels: 8,
  headHidden: small ? 16 : 256,
});
const images = randn([B, 1, 28, 28], { seed: 1 });
rows.push(await time("encoder fwd", () => scope(() => void encoder.forward(images))));
rows.push(await time("encoder fwd+bwd", fwdBwd(encoder.parameters(), () => encoder.forward(images))));

// Convolutions and group norms of that encoder, alone.
const convs = small ? [[1, 8, 28, 2], [8, 8, 14, 2]] : [[1, 32, 28, 1], [32, 64, 28, 2], [64, 64, 14, 2], [
  64,
  128,
  7,
  1,
]];
for (const [ci, co, hw, stride] of convs) {
  const x = randn([B, ci, hw, hw], { seed: 2 }).requireGrad();
  const w = randn([co, ci, 3, 3], { seed: 3 }).requireGrad();
  const tag = `conv ${ci}->${co} ${hw}x${hw} s${stride}`;
  rows.push(
    await time(`${tag} fwd`, () => scope(() => void conv2d(x, w, undefined, { stride, padding: 1 }))),
  );
  rows.push(
    await time(`${tag} fwd+bwd`, fwdBwd([x, w], () => conv2d(x, w, undefined, { stride, padding: 1 }))),
  );
  const ho = hw / stride;
  const g = randn([B, co, ho, ho], { seed: 4 }).requireGrad();
  rows.push(await time(`groupNorm [${B},${co},${ho},${ho}] fwd+bwd`, fwdBwd([g], () => groupNorm(g, 8))));
  for (const t of [x, w, g]) t.dispose();
}

// The latent operations at the step's sizes.
const anchors = randn([B, 32], { seed: 5 }).requireGrad();
const noise = randn([B, 32], { seed: 6 });
rows.push(
  await time(
    `latents DPM++ n=${B} q=32 K=20 fwd+bwd`,
    fwdBwd([anchors], () => computeLatents(anchors, { noise, steps: 20, solver: "dpm++3m" })),
  ),
);
const labelAnchors = randn([10, 32], { seed: 7 }).requireGrad();
const latents = randn([B, 32], { seed: 8 }).requireGrad();
const pairs = Int32Array.from({ length: B }, (_, i) => i % 10);
const pairT = tensor(pairs, [B], { dtype: "i32" });
rows.push(
  await time(
    `align label N=10 b=${B} q=32 K=100 fwd+bwd`,
    fwdBwd(
      [labelAnchors, latents],
      () => alignmentLoss(labelAnchors, latents, pairT, { steps: 100, log: true }),
    ),
  ),
);

// The RF decoder of tasks/recipes/fashion-joint.json at half the batch (its batch size).
const decoder = new RfImageDecoder({
  latentDim: 32,
  classes: 10,
  channels: small ? [8, 8, 8] : [32, 64, 64],
  resBlocks: small ? 1 : 2,
  condDim: small ? 16 : 128,
});
const half = Math.max(2, Math.floor(B / 2));
const decImages = randn([half, 1, 28, 28], { seed: 9 });
const decLatents = randn([half, 32], { seed: 10 });
const labels = Int32Array.from({ length: half }, (_, i) => i % 10);
rows.push(
  await time(
    `RF decoder loss b=${half} fwd`,
    () => scope(() => void decoder.loss(decImages, { latents: decLatents, labels, seed: 1 })),
  ),
);
rows.push(
  await time(
    `RF decoder loss b=${half} fwd+bwd`,
    fwdBwd(decoder.parameters(), () => decoder.loss(decImages, { latents: decLatents, labels, seed: 1 })),
  ),
);

/** Prints and returns the slowest kernels of one profiled run of `work` (after one untimed warm-up). */
async function kernelProfile(
  name: string,
  work: () => void,
): Promise<{ name: string; profile: KernelProfile }> {
  work();
  await synchronize();
  const profile = await profileKernels(work);
  console.log(`\n## ${name}: ${profile.dispatches} dispatches, ${profile.totalMs.toFixed(2)} ms of GPU time`);
  for (const k of profile.kernels.slice(0, 12)) {
    console.log(
      `  ${k.ms.toFixed(3).padStart(9)} ms  x${String(k.calls).padEnd(4)} ${k.name} [${
        k.workgroups.join(",")
      }]`,
    );
  }
  return { name, profile: { ...profile, timeline: [] } };
}

const profiles: { name: string; profile: KernelProfile }[] = [];
if (values.kernels) {
  const reference = new ReferenceClassifier(
    small ? { channels: [8, 8], strides: [2, 2], groups: 4, featureDim: 16 } : {},
  );
  const adam = new Adam([{ params: reference.parameters(), lr: 1e-3 }]);
  const rb = small ? 16 : 128;
  const refImages = randn([rb, 1, 28, 28], { seed: 11 });
  const refLabels = Int32Array.from({ length: rb }, (_, i) => i % 10);
  profiles.push(
    await kernelProfile(`reference classifier step, batch ${rb}`, () =>
      scope(() => {
        crossEntropy(reference.logits(refImages), refLabels).backward();
        adam.step();
        adam.zeroGrad();
      })),
  );
  profiles.push(
    await kernelProfile(
      `image encoder fwd+bwd, batch ${B}`,
      fwdBwd(encoder.parameters(), () => encoder.forward(images)),
    ),
  );
  profiles.push(
    await kernelProfile(
      `RF decoder loss fwd+bwd, batch ${half}`,
      fwdBwd(decoder.parameters(), () => decoder.loss(decImages, { latents: decLatents, labels, seed: 1 })),
    ),
  );
}

await Deno.writeTextFile(
  outPath,
  JSON.stringify(
    { adapter: gpu().adapter.name, date: new Date().toISOString(), batch: B, rows, kernelProfiles: profiles },
    null,
    2,
  ) + "\n",
);
console.log(`wrote ${outPath}`);
