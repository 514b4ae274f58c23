/**
 * Runs the whole test suite with `deno test` — the test files and every JSDoc and README example (`--doc`),
 * two test modules at a time (`--parallel`, as many as the machine's cores) — and ends with the line
 * `N passed, N failed` that CI reads. Exit status is deno test's.
 *
 * @module
 */
if (Deno.args.includes("--help") || Deno.args.includes("-h")) {
  console.log(`usage: deno task test [DENO TEST OPTIONS] [FILES...]

Runs deno test --doc --parallel on the test files and every documentation example, and ends with the line
"N passed, N failed". Options go to deno test (--filter NAME, --fail-fast, ...); FILES replace the default
set (tests/ and every package's examples), as in: deno task test tests/cli_test.ts`);
  Deno.exit(0);
}
/** An argument that names an existing file or folder (not the value of an option such as `--filter NAME`). */
function isPath(arg: string): boolean {
  if (arg.startsWith("-")) return false;
  try {
    Deno.statSync(arg);
    return true;
  } catch {
    return false;
  }
}
const dirs = [
  "tests/",
  "tensor/",
  "latent/",
  "encoders/",
  "decoders/",
  "metrics/",
  "tasks/",
  "data/",
  "README.md",
  "mod.ts",
];
const args = [
  "test",
  "--doc",
  "--parallel",
  "--allow-read",
  "--allow-write=.cache,/tmp",
  "--allow-env",
  "--allow-run",
  ...Deno.args,
  ...(Deno.args.some(isPath) ? [] : dirs),
];
// The Vulkan loader warns on every process start when XDG_RUNTIME_DIR is unset (headless CI); give it one.
const env: Record<string, string> = {};
if (!Deno.env.get("XDG_RUNTIME_DIR")) {
  env.XDG_RUNTIME_DIR = await Deno.makeTempDir({ prefix: "lzn-xdg-" });
}
const child = new Deno.Command(Deno.execPath(), { args, env, stdout: "piped", stderr: "inherit" }).spawn();
const decoder = new TextDecoder();
let tail = "";
for await (const chunk of child.stdout) {
  await Deno.stdout.write(chunk);
  tail = (tail + decoder.decode(chunk, { stream: true })).slice(-4000);
}
const { code } = await child.status;
// deno test's summary: "ok | 61 passed (3 steps) | 0 failed (12s)"
// deno-lint-ignore no-control-regex -- strips the ANSI colour codes of deno test
const clean = tail.replace(/\x1b\[[0-9;]*m/g, "");
const m = [...clean.matchAll(/(\d+) passed(?: \((\d+) steps?\))? \| (\d+) failed/g)].pop();
if (m) console.log(`${m[1]} passed, ${m[3]} failed`);
else console.log(`0 passed, ${code === 0 ? 0 : 1} failed`);
Deno.exit(code);
