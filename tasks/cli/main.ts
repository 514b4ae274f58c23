/**
 * The CLI's entry: looks the command up in the table, parses and checks its flags, runs it, and turns a
 * user's mistake into one line (exit 2 for a usage error, 1 otherwise) — the stack trace only with `--debug`.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { type CommandName, COMMANDS } from "./table.ts";
import { closest, UsageError } from "./args.ts";

const MAIN_HELP = `lzn — Latent Zoning Networks on WebGPU

usage: deno task <command> [options]      (each command: --help)

commands:
${Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(10)} ${c.summary}`).join("\n")}
  test       the test suite`;

/** Error classes whose message is the whole story for a user (matched by name: loading them needs the GPU). */
const USER_ERRORS = new Set(["ConfigError", "CheckpointError", "InputError", "RangeError"]);

/**
 * Runs one command line (without the program name) and returns the exit code.
 *
 * @example
 * ```ts ignore
 * import { runCli } from "@lzn/tasks/cli";
 * const code = await runCli(["eval", "--run", "runs/demo"]);
 * ```
 */
export async function runCli(args: string[]): Promise<number> {
  const [name, ...rest] = args;
  if (!name || name === "--help" || name === "-h" || name === "help") {
    console.log(MAIN_HELP);
    return 0;
  }
  const command = Object.hasOwn(COMMANDS, name) ? COMMANDS[name as CommandName] : undefined;
  const debug = rest.includes("--debug");
  try {
    if (!command) {
      if (name.toLowerCase() === "test") throw new UsageError("the test suite runs as `deno task test`");
      const near = closest(name, [...Object.keys(COMMANDS), "test"]);
      throw new UsageError(`unknown command "${name}"${near ? `; did you mean ${near}?` : ""}`);
    }
    let parsed;
    try {
      parsed = parseArgs({
        args: rest,
        options: { ...command.flags, help: { type: "boolean", short: "h" }, debug: { type: "boolean" } },
        allowPositionals: command.positionals !== undefined,
        strict: true,
      });
    } catch (e) {
      throw new UsageError(
        flagError((e as Error).message, rest, Object.keys(command.flags), command.positionals !== undefined),
      );
    }
    if (parsed.values.help) {
      console.log(command.help);
      return 0;
    }
    await command.run(parsed.values, parsed.positionals);
    return Deno.exitCode; // 0, or what the command set (an interrupted training: 130)
  } catch (e) {
    const error = e as Error;
    if (e instanceof UsageError) {
      const usage = command
        ? command.help.split("\n")[0]
        : "usage: deno task <command> [options]  (deno task help)";
      console.error(`error: ${error.message}\n${usage}`);
      return 2;
    }
    if (debug) console.error(error.stack ?? error.message);
    else if (USER_ERRORS.has(error.name)) console.error(`error: ${error.message}`);
    else if (e instanceof Deno.errors.NotCapable || e instanceof Deno.errors.PermissionDenied) {
      console.error(`error: ${error.message} (the deno tasks may write only under runs/ and .cache/)`);
    } else if (e instanceof Deno.errors.NotFound) console.error(`error: file not found: ${error.message}`);
    else {console.error(
        `error: ${error.message}\n(this looks like a bug in lzn; run again with --debug for the stack trace)`,
      );}
    return 1;
  }
}

/**
 * One line from `parseArgs`'s message. Its several-line "argument is ambiguous" (a value that starts with a
 * dash, as in `--tau -1`) becomes the fix, with the value given: `--tau=-1`; an unknown option names the
 * nearest one the command has.
 */
function flagError(message: string, args: string[], flags: string[], positionals: boolean): string {
  const ambiguous = message.match(/^Option '(--[\w-]+)' argument is ambiguous/);
  if (ambiguous) {
    const flag = ambiguous[1], value = args[args.indexOf(flag) + 1] ?? "-VALUE";
    return `${flag}: a value that starts with "-" needs "=", as in ${flag}=${value}`;
  }
  // "Unknown option '--taus'. To specify a positional argument starting with a '-', ...": the option, and
  // the nearest one this command has.
  const unknown = message.match(/^Unknown option '(-{1,2}[^']*)'/);
  if (unknown) {
    // The whole word as typed: parseArgs names only the first letter of "-digit.png" ("-d").
    const word = (args.find((a) => a.startsWith(unknown[1])) ?? unknown[1]).split("=")[0];
    const near = closest(word.replace(/^-+/, ""), flags);
    const hint = near ? `; did you mean --${near}?` : "";
    const file = positionals ? `; a file name that starts with "-" goes after --, as in -- ${word}` : "";
    return `unknown option ${word}${hint} (--help lists the options)${file}`;
  }
  return message.split("\n")[0];
}
