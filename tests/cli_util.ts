/**
 * Running the CLI (`main.ts`) as a user does, in a child process with the tasks' permissions.
 *
 * @module
 */

// Colour codes of deno's output (ESC [ ... m).
const ANSI = new RegExp(String.fromCharCode(27) + "\\[[0-9;]*m", "g");

/**
 * Runs `main.ts` with `args` and returns the exit code and the colour-free output. `headless` removes
 * XDG_RUNTIME_DIR from the environment, as on a fresh headless machine.
 */
export async function runMain(
  args: string[],
  opts: { headless?: boolean } = {},
): Promise<{ code: number; out: string; err: string }> {
  const env = { ...Deno.env.toObject() };
  if (opts.headless) delete env.XDG_RUNTIME_DIR;
  const o = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-read", "--allow-write=.cache,runs", "--allow-env", "main.ts", ...args],
    stdout: "piped",
    stderr: "piped",
    env,
    clearEnv: true,
  }).output();
  const dec = (b: Uint8Array) => new TextDecoder().decode(b).replace(ANSI, "");
  return { code: o.code, out: dec(o.stdout), err: dec(o.stderr) };
}

/**
 * Starts `main.ts train --config config --run dir ...extra` as a user would, in the background, with the
 * tasks' permissions; stdout is dropped, stderr piped.
 */
export function spawnTrain(config: string, dir: string, extra: string[] = []): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-read",
      "--allow-write=.cache",
      "--allow-env",
      "main.ts",
      "train",
      "--config",
      config,
      "--run",
      dir,
      ...extra,
    ],
    stdout: "null",
    stderr: "piped",
  }).spawn();
}

/** Waits (up to a minute) until `dir/run.lock` names `pid` as its holder. */
export async function lockHeldBy(dir: string, pid: number): Promise<void> {
  for (let i = 0; i < 600; i++) {
    const holder = await Deno.readTextFile(`${dir}/run.lock`).then((t) => JSON.parse(t).pid).catch(() =>
      undefined
    );
    if (holder === pid) return;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A classification config (3 classes, tiny model, 100,000 steps) that trains until it is stopped. */
export async function writeLongConfig(path: string, name: string): Promise<void> {
  await Deno.writeTextFile(
    path,
    JSON.stringify({
      recipe: "classification",
      name,
      model: { latentDim: 8, classes: 3, encoder: { channels: [4, 8], strides: [2, 2], headHidden: 8 } },
      data: { trainPerClass: 10, testPerClass: 5 },
      train: { steps: 100000, batchSize: 15, checkpointEvery: 0, logEvery: 1000 },
    }),
  );
}
