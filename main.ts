/**
 * The lzn command line, run through `deno task <command>` (`deno task help` lists the commands, each takes
 * `--help`). The commands live in one table in `@lzn/tasks/cli`; this file only hands it the arguments.
 *
 * @module
 */
import { runCli } from "@lzn/tasks/cli";

if (import.meta.main) Deno.exit(await runCli(Deno.args));
