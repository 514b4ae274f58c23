/**
 * The resume check every recipe must pass: a run stopped right after a checkpoint, and a real training
 * process killed with SIGKILL once a checkpoint exists, both resume to exactly the parameters and EMA shadows
 * of an uninterrupted run (bit for bit).
 *
 * @module
 */
import { strict as assert } from "node:assert";
import { readTensors } from "@lzn/tensor";
import { spawnTrain } from "./cli_util.ts";
import {
  loadRunData,
  readRunState,
  type Recipe,
  type RecipeConfig,
  stateDict,
  train,
  type TrainedRun,
} from "@lzn/tasks";

const quiet = { log: null, onProgress: () => {} };

/** Parameters and EMA shadows of a run, read back. */
export async function snapshot(
  run: TrainedRun,
): Promise<Record<string, Float32Array | Int32Array | Uint32Array>> {
  const walk = stateDict(run.model, { emas: run.optimizers.emas });
  const host = await readTensors(walk);
  return Object.fromEntries(Object.entries(host).map(([k, v]) => [k, v.data]));
}

function assertSame(
  got: Record<string, ArrayLike<number>>,
  expected: Record<string, ArrayLike<number>>,
  what: string,
) {
  assert.deepEqual(Object.keys(got).sort(), Object.keys(expected).sort(), `${what}: the state walks differ`);
  for (const [name, values] of Object.entries(expected)) {
    assert.deepEqual(got[name], values, `${name} differs ${what}`);
  }
}

/**
 * Runs the check for `config` (8 steps, checkpoints every 4, a constant learning rate after warm-up so that
 * the killed child's longer run follows the same schedule). `cliConfig` is the config the child trains
 * from `main.ts`; omit it for a recipe that is not shipped (the CLI cannot name it).
 */
export async function checkResume<C extends RecipeConfig>(
  recipe: Recipe<C>,
  config: C,
  root: string,
  opts: { child?: boolean } = {},
): Promise<void> {
  assert.equal(config.train.steps, 8);
  assert.equal(config.train.checkpointEvery, 4);
  const data = await loadRunData(config.data, recipe.classes(config));
  const straight = await train(recipe, config, {
    ...quiet,
    runDir: `${root}/straight`,
    start: "fresh",
    data,
  });
  const expected = await snapshot(straight);
  straight.dispose();

  const first = await train(recipe, config, {
    ...quiet,
    runDir: `${root}/stopped`,
    start: "fresh",
    stopAfter: 4,
    data,
  });
  assert.equal(first.state.step, 4);
  first.dispose();
  const state = await readRunState(`${root}/stopped`);
  assert.deepEqual([state.step, state.recipe], [4, recipe.name]);
  const resumed = await train(recipe, config, { ...quiet, runDir: `${root}/stopped`, data });
  assert.equal(resumed.state.step, 8);
  assert.ok(resumed.history.every((r) => r.step > 4), "the resumed session trains steps 5..8 only");
  assertSame(await snapshot(resumed), expected, "after a stop and resume");
  resumed.dispose();
  if (opts.child === false) return;

  const cfgPath = `${root}/child.json`;
  await Deno.mkdir(root, { recursive: true });
  await Deno.writeTextFile(cfgPath, JSON.stringify({ ...config, train: { ...config.train, steps: 400 } }));
  const dir = `${root}/killed`;
  await Deno.remove(dir, { recursive: true }).catch(() => {});
  const child = spawnTrain(cfgPath, dir, ["--no-eval"]);
  let killedAt = -1;
  for (let i = 0; i < 3000 && killedAt < 0; i++) {
    await new Promise((r) => setTimeout(r, 100));
    try {
      const s = JSON.parse(await Deno.readTextFile(`${dir}/state.json`));
      if (s.step >= 4) {
        try {
          child.kill("SIGKILL");
        } catch { /* it may have finished already */ }
        killedAt = s.step;
      }
    } catch { /* no checkpoint yet */ }
  }
  const status = await child.status;
  const stderr = new TextDecoder().decode(await new Response(child.stderr).arrayBuffer());
  assert.ok(killedAt >= 4, `the child never wrote a checkpoint: ${stderr}`);
  assert.equal(status.signal, "SIGKILL", `the child should have been killed mid-run: ${stderr}`);
  const after = await readRunState(dir); // consistent state.json + tensor file, whatever moment the kill hit
  assert.ok(after.step % 4 === 0 && after.step >= 4, `checkpoint step ${after.step}`);
  if (after.step > 8) return; // a very fast machine passed step 8 before the kill: nothing left to compare
  // The killed process left its lock behind: the resume detects it as stale and takes over.
  const revived = await train(recipe, config, { ...quiet, runDir: dir, data });
  assert.equal(revived.state.step, 8);
  assertSame(await snapshot(revived), expected, `after SIGKILL at step ${after.step} and resume`);
  revived.dispose();
}
