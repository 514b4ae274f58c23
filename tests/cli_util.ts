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
