/**
 * The command line as a user meets it: every command's help, and for each mistake of issue 13 one line that
 * says what is wrong (exit 2 for a usage error, 1 otherwise), no stack trace, no Vulkan loader noise, checked
 * before any work, and no file lost.
 */
import { strict as assert } from "node:assert";
import { encodeNpy, isRunFile, RUN_FORMAT } from "@lzn/tasks";
import { COMMANDS } from "@lzn/tasks/cli";
import { lockHeldBy, runMain, spawnTrain, writeLongConfig } from "./cli_util.ts";

const ROOT = ".cache/test-runs/cli";
const cli = (...args: string[]) => runMain(args, { headless: true });

function oneLine(err: string, what: string): void {
  const lines = err.trim().split("\n").filter((l) => l.startsWith("error:"));
  assert.equal(lines.length, 1, `${what}: one error line, got:\n${err}`);
  assert.doesNotMatch(
    err,
    /\n\s+at |Stack backtrace|XDG_RUNTIME_DIR/,
    `${what}: no stack trace, no loader noise:\n${err}`,
  );
}

Deno.test("cli: every command has --help; the list names them all", async () => {
  const main = await cli("help");
  assert.equal(main.code, 0);
  for (const name of Object.keys(COMMANDS)) {
    assert.match(main.out, new RegExp(`\\n  ${name} `));
    const help = await cli(name, "--help");
    assert.equal(help.code, 0, `${name} --help`);
    assert.match(help.out, new RegExp(`^usage: deno task ${name}`));
    assert.doesNotMatch(help.err, /XDG_RUNTIME_DIR/);
  }
  assert.match(
    (await cli("train", "--help")).out,
    /--stop-after N {4}stop once the run has done N steps in total \(an absolute step/,
  );
});

Deno.test("cli: bad flags are usage errors named before any work (exit 2)", async () => {
  const cases: [string[], RegExp][] = [
    [["demo", "--steps", "0"], /--steps: expected an integer >= 1, got "0"/],
    [["classify", "--run", "runs/x", "--tau=-1", "a.png"], /--tau: expected a number >= 0, got "-1"/],
    [["classify", "--run", "runs/x", "--tau", "0x10", "a.png"], /--tau: expected a number >= 0, got "0x10"/],
    [["demo", "--steps", "Infinity"], /--steps: expected an integer >= 1, got "Infinity"/],
    [
      ["classify", "--run", "runs/x", "--batch-relative", "--batch-size", "0", "a.png"],
      /--batch-size: expected an integer >= 1, got "0"/,
    ],
    [
      ["classify", "--run", "runs/x", "--batch-size", "10", "a.png"],
      /--batch-size applies with --batch-relative only/,
    ],
    [["eval", "--run", "runs/x", "--batch-sizes", "0"], /--batch-sizes: expected an integer >= 1, got "0"/],
    [["eval", "--run", "runs/x", "--taus", "0,,1"], /--taus: expected a comma-separated list/],
    [
      ["sample", "--run", "runs/x", "--out", `${ROOT}/s.png`, "--sampler", "rk99"],
      /--sampler: expected euler:N or rk45/,
    ],
    [["train", "--stop-after", "5"], /--config is required/],
    [["eval", "--bogus"], /^error: unknown option --bogus \(--help lists the options\)$/m],
    [
      ["eval", "--run", "runs/x", "--tau", "0"],
      /^error: unknown option --tau; did you mean --taus\? \(--help/m,
    ],
    [
      ["embed", "--run", "runs/x", "--out", `${ROOT}/e.npy`, "--kind", "pixels", "a.png"],
      /--kind must be latents, anchors or representation/,
    ],
    [["fly"], /unknown command "fly"$/m],
    [["clasify", "--run", "runs/x"], /unknown command "clasify"; did you mean classify\?$/m],
    [["test"], /^error: the test suite runs as `deno task test`$/m],
    [
      ["classify", "--run", "runs/x", "-digit.png"],
      /unknown option -digit\.png \(--help .*; a file name that starts with "-" goes after --, as in -- -digit\.png$/m,
    ],
    [
      ["classify", "--run", "runs/x", "--tau", "-0.5", "a.png"],
      /--tau: a value that starts with "-" needs "=", as in --tau=-0\.5/,
    ],
    [["classify", "--run", "runs/x"], /no input images given/],
    [["classify", "--run", "runs/x", "a.npy", "b.png"], /either one \.npy file or PNG files/],
    [["embed", "--run", "runs/x", "--out", `${ROOT}/e.npy`], /no input images given/],
    [
      ["sample", "--run", "runs/x", "--out", `${ROOT}/g.txt`],
      /--out .*g\.txt: the output is png; name it \*\.png/,
    ],
    [["embed", "--run", "runs/x", "--out", `${ROOT}/e.bin`, "a.png"], /the output is npy/],
  ];
  for (const [args, message] of cases) {
    const r = await cli(...args);
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.err}`);
    assert.match(r.err, message, args.join(" "));
    oneLine(r.err, args.join(" "));
  }
});

Deno.test("cli: bad configs, files and run directories are one line each (exit 1), checked before training", async () => {
  await Deno.mkdir(ROOT, { recursive: true });
  for (const dir of ["no-run", "big"]) {
    await Deno.remove(`${ROOT}/${dir}`, { recursive: true }).catch(() => {});
  }
  await Deno.writeTextFile(
    `${ROOT}/bad.json`,
    JSON.stringify({ recipe: "classification", train: { batchSize: -4, steps: "many" } }),
  );
  await Deno.writeTextFile(`${ROOT}/broken.json`, "{ not json");
  await Deno.writeTextFile(
    `${ROOT}/big.json`,
    JSON.stringify({ recipe: "classification", name: "big", train: { batchSize: 100000 } }),
  );
  await Deno.writeFile(
    `${ROOT}/empty.npy`,
    encodeNpy({ dtype: "uint8", shape: [0, 784], data: new Uint8Array(0) }),
  );
  const cases: [string[], RegExp][] = [
    [
      ["train", "--config", `${ROOT}/bad.json`],
      /invalid config .*bad\.json:(?=[\s\S]*→ at train\.batchSize)(?=[\s\S]*→ at train\.steps)/,
    ],
    [["train", "--config", `${ROOT}/broken.json`], /config file .*broken\.json is not valid JSON/],
    [["train", "--config", `${ROOT}/nope.json`], /config file not found: .*nope\.json/],
    [
      ["train", "--config", `${ROOT}/big.json`, "--run", `${ROOT}/big`],
      /train\.batchSize 100000 is larger than the training set/,
    ],
    [["classify", "--run", `${ROOT}/no-run`, `${ROOT}/empty.npy`], /empty\.npy holds no images/],
    [["classify", "--run", `${ROOT}/no-run`, `${ROOT}/missing.npy`], /input file not found/],
    [["eval", "--run", `${ROOT}/no-run`], /no checkpoint in .*no-run/],
    [["eval", "--run", `${ROOT}/bad.json`], /bad\.json is a file: name the run directory/],
    [["classify", "--run", `${ROOT}/bad.json`, "examples/digit-3.png"], /bad\.json is a file: name the run/],
  ];
  for (const [args, message] of cases) {
    const r = await cli(...args);
    assert.equal(r.code, 1, `${args.join(" ")}: ${r.err}`);
    const errorLines = r.err.split("\n").filter((l) => l.startsWith("error:")).join("\n");
    assert.match(r.err, message, args.join(" "));
    // A config error lists its issues under its one error line.
    assert.equal(errorLines.split("\n").length, 1, r.err);
    assert.doesNotMatch(r.err, /\n\s+at |XDG_RUNTIME_DIR/, r.err);
  }
  // A run directory the task may not write is a usage error, named before the data is even loaded.
  const denied = await cli("train", "--config", `${ROOT}/big.json`, "--run", "/tmp/lzn-not-allowed");
  assert.equal(denied.code, 2, denied.err);
  assert.match(
    denied.err,
    /^error: --run \/tmp\/lzn-not-allowed: no permission to write there .*deno run -A main\.ts <command> \.\.\.`\)$/m,
  );
  await assert.rejects(Deno.stat("/tmp/lzn-not-allowed/run.lock"), Deno.errors.NotFound);
  // A command that fails on its inputs leaves nothing behind: no run directory for a run that is not there,
  // none for a config that cannot train.
  for (const dir of ["no-run", "big"]) {
    await assert.rejects(Deno.stat(`${ROOT}/${dir}`), Deno.errors.NotFound, `${dir} was created`);
  }
});

Deno.test("cli: outputs never replace a run's files, an input, or an existing file without --force", async () => {
  const run = `${ROOT}/fake-run`;
  await Deno.mkdir(run, { recursive: true });
  const state = JSON.stringify({ format: "lzn-run/2", note: "must survive" });
  await Deno.writeTextFile(`${run}/state.json`, state);
  await Deno.writeFile(
    `${ROOT}/in.npy`,
    encodeNpy({ dtype: "uint8", shape: [1, 784], data: new Uint8Array(784) }),
  );
  await Deno.writeTextFile(`${ROOT}/mine.npy`, "a file of the user's");
  const cases: [string[], RegExp][] = [
    [
      ["embed", "--run", run, "--out", `${run}/state.json`, `${ROOT}/in.npy`],
      /would overwrite a file of the run/,
    ],
    [["embed", "--run", run, "--out", `${ROOT}/in.npy`, `${ROOT}/in.npy`], /is also an input/],
    [
      ["embed", "--run", run, "--out", `${ROOT}/mine.npy`, `${ROOT}/in.npy`],
      /exists; choose another name, or pass --force/,
    ],
    [["sample", "--run", run, "--out", `${run}/eval.json`], /would overwrite a file of the run/],
    [["embed", "--run", run, "--out", "/tmp/x.npy", `${ROOT}/in.npy`], /may not write there/],
  ];
  for (const [args, message] of cases) {
    const r = await cli(...args);
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.err}`);
    assert.match(r.err, message, args.join(" "));
  }
  assert.equal(await Deno.readTextFile(`${run}/state.json`), state);
  assert.equal(await Deno.readTextFile(`${ROOT}/mine.npy`), "a file of the user's");
  // A PNG name the run does not write is the user's to choose (this fake run then fails on its state).
  const own = await cli("sample", "--run", run, "--out", `${run}/my-grid.png`);
  assert.doesNotMatch(own.err, /would overwrite a file of the run/);
});

Deno.test("cli: the demo starts fresh only over a demo: a directory holding another run is refused, untouched", async () => {
  const dir = `${ROOT}/not-a-demo`;
  await Deno.mkdir(dir, { recursive: true });
  const state = JSON.stringify({ format: RUN_FORMAT, recipe: "generation", config: { name: "my-joint" } });
  await Deno.writeTextFile(`${dir}/state.json`, state);
  const r = await cli("demo", "--run", dir, "--steps", "1");
  assert.equal(r.code, 2, r.err);
  oneLine(r.err, "demo over another run");
  assert.match(
    r.err,
    /holds the generation run "my-joint", not a demo; the demo starts fresh and would remove it/,
  );
  assert.equal(await Deno.readTextFile(`${dir}/state.json`), state);
  assert.ok(isRunFile("samples.png") && !isRunFile("my-grid.png") && !isRunFile("digit.png"));
});

Deno.test("cli: two train processes on one run: the second is refused with the first one's pid", async () => {
  await Deno.mkdir(ROOT, { recursive: true });
  const config = `${ROOT}/long.json`;
  await writeLongConfig(config, "long");
  const dir = `${ROOT}/long`;
  const first = spawnTrain(config, dir, ["--fresh"]);
  try {
    await lockHeldBy(dir, first.pid);
    const second = await cli("train", "--config", config, "--run", dir);
    assert.equal(second.code, 1, second.err);
    assert.match(
      second.err,
      new RegExp(`in use by another lzn process \\(pid ${first.pid}, training or evaluating`),
    );
    oneLine(second.err, "second train");
  } finally {
    first.kill("SIGKILL");
    await Promise.all([first.status, first.stderr.cancel()]);
  }
});

Deno.test("cli: Ctrl-C stops the training after the step in flight, with a checkpoint there and a line saying so", async () => {
  await Deno.mkdir(ROOT, { recursive: true });
  const config = `${ROOT}/interrupted.json`;
  await writeLongConfig(config, "interrupted");
  const dir = `${ROOT}/interrupted`;
  const proc = spawnTrain(config, dir, ["--fresh"]);
  // The lock is taken after the handler is installed; then give it some steps.
  await lockHeldBy(dir, proc.pid);
  await new Promise((r) => setTimeout(r, 3000));
  proc.kill("SIGINT");
  const [{ code }, err] = await Promise.all([proc.status, new Response(proc.stderr).text()]);
  assert.equal(code, 130, err);
  assert.match(err, /stopping after this step to write a checkpoint/);
  const said = /train: interrupted; checkpoint at step (\d+) of 100000 \(the same command resumes from it\)/
    .exec(err);
  assert.ok(said, err);
  const state = JSON.parse(await Deno.readTextFile(`${dir}/state.json`));
  assert.equal(state.step, Number(said[1]));
});
