/**
 * `@lzn/tasks/cli`: the command line behind `deno task <command>`: the command table and the one entry
 * point `runCli`, which `main.ts` calls. Importing it does not touch the GPU.
 *
 * @example
 * ```ts ignore
 * import { runCli } from "@lzn/tasks/cli";
 * Deno.exit(await runCli(["train", "--help"]));
 * ```
 *
 * @module
 */
export { type Command, type CommandName, COMMANDS } from "./table.ts";
export {
  checkOutput,
  checkRunWritable,
  closest,
  listFlag,
  numberFlag,
  required,
  UsageError,
} from "./args.ts";
export { runCli } from "./main.ts";
