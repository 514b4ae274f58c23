/**
 * End to end: a full training step (forward, backward, clip, finite flag, Adam, EMA) inside `scope()` leaks
 * no buffers, and a small MLP learns a two-class spiral.
 */
import { strict as assert } from "node:assert";
import { bufferPool, recorderStats, scope, type Tensor, tensor } from "../tensor/mod.ts";
import { Linear } from "../tensor/nn/linear.ts";
import { SiLU } from "../tensor/nn/activations.ts";
import { Sequential } from "../tensor/nn/sequential.ts";
import { InitRng } from "../tensor/nn/init.ts";
import { Adam } from "../tensor/optim/adam.ts";
import { clipGradNorm } from "../tensor/optim/clip.ts";
import { EMA } from "../tensor/optim/ema.ts";
import { finiteFlag } from "../tensor/optim/finite.ts";
import { linearWarmup } from "../tensor/optim/schedule.ts";
import { rng } from "./util.ts";

/** Two interleaved spirals (one and a quarter turns each), with small noise. */
function spiral(perClass: number, seed: number): { x: Float32Array; y: Int32Array } {
  const r = rng(seed);
  const x = new Float32Array(2 * perClass * 2), y = new Int32Array(2 * perClass);
  for (let c = 0; c < 2; c++) {
    for (let i = 0; i < perClass; i++) {
      const t = 0.15 + 0.85 * i / perClass;
      const a = 2.5 * Math.PI * t + c * Math.PI;
      const k = c * perClass + i;
      x[2 * k] = t * Math.cos(a) * 2 + 0.02 * (r() - 0.5);
      x[2 * k + 1] = t * Math.sin(a) * 2 + 0.02 * (r() - 0.5);
      y[k] = c;
    }
  }
  return { x, y };
}

/** Mean cross-entropy of logits [n, 2] against one-hot targets. */
function crossEntropy(logits: Tensor, onehot: Tensor): Tensor {
  return logits.logSoftmax(1).mul(onehot).sum(1).mean().neg();
}

function setup(hidden: number, seed: number) {
  const r = new InitRng(seed);
  const model = new Sequential(
    new Linear(2, hidden, { rng: r }),
    new SiLU(),
    new Linear(hidden, 2, { rng: r }),
  );
  const opt = new Adam([{ params: model.layers[0].parameters(), lr: 0.03 }, {
    params: model.layers[2].parameters(),
    lr: 0.03,
  }]);
  const ema = new EMA(model, { decay: 0.99 });
  return { model, opt, ema };
}

function trainStep(
  s: ReturnType<typeof setup>,
  x: Tensor,
  onehot: Tensor,
  step: number,
): Tensor {
  return scope(() => {
    const loss = crossEntropy(s.model.forward(x), onehot);
    loss.backward();
    const norm = clipGradNorm(s.model.parameters(), 1.0);
    const finite = finiteFlag(loss, norm);
    s.opt.step({ finite, lrScale: linearWarmup(step, 20) });
    s.opt.zeroGrad();
    s.ema.update({ finite });
    return loss;
  });
}

Deno.test("training step: the live buffer count returns to its start value (forward, backward, clip, Adam, EMA)", () => {
  const s = setup(16, 1);
  const { x, y } = spiral(16, 2);
  const xt = tensor(x, [32, 2]);
  const oh = tensor(Array.from(y).flatMap((c) => (c === 0 ? [1, 0] : [0, 1])), [32, 2]);
  const start = bufferPool.live;
  for (let k = 0; k < 3; k++) {
    trainStep(s, xt, oh, k).dispose();
    assert.equal(bufferPool.live, start, `step ${k} leaked ${bufferPool.live - start} buffers`);
  }
  // The step reads nothing back: everything stays queued until a value is needed.
  const readbacks = recorderStats.readbacks;
  trainStep(s, xt, oh, 3).dispose();
  assert.equal(recorderStats.readbacks, readbacks, "a training step does no readback");
  for (const t of [xt, oh]) t.dispose();
  s.model.dispose();
  s.opt.dispose();
  s.ema.dispose();
});

Deno.test("Linear-SiLU-Linear learns a two-class spiral to >= 95% training accuracy", async () => {
  const s = setup(64, 3);
  const { x, y } = spiral(100, 4);
  const n = y.length;
  const xt = tensor(x, [n, 2]);
  const oh = tensor(Array.from(y).flatMap((c) => (c === 0 ? [1, 0] : [0, 1])), [n, 2]);
  const accuracy = async () => {
    const logits = await scope(() => s.model.forward(xt)).toArray();
    let ok = 0;
    for (let i = 0; i < n; i++) if ((logits[2 * i + 1] > logits[2 * i] ? 1 : 0) === y[i]) ok++;
    return ok / n;
  };
  const losses: number[] = [];
  const steps = 400;
  for (let k = 0; k < steps; k++) {
    const loss = trainStep(s, xt, oh, k);
    if (k % 100 === 0 || k === steps - 1) losses.push(await loss.item()); // read back rarely
    loss.dispose();
  }
  const acc = await accuracy();
  s.ema.swapIn();
  const emaAcc = await accuracy();
  s.ema.swapOut();
  console.log(
    `spiral: losses ${losses.map((l) => l.toFixed(3)).join(" -> ")}, accuracy ${acc}, EMA ${emaAcc}`,
  );
  assert.ok(losses[losses.length - 1] < losses[0] * 0.5, `loss did not fall enough: ${losses}`);
  assert.ok(acc >= 0.95, `training accuracy ${acc} < 0.95`);
  assert.ok(emaAcc >= 0.9, `EMA accuracy ${emaAcc} < 0.9`);
  for (const t of [xt, oh]) t.dispose();
  s.model.dispose();
  s.opt.dispose();
  s.ema.dispose();
});
