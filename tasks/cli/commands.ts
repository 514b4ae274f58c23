/**
 * `@lzn/tasks/cli/commands`: the CLI's commands as functions, for scripts that want what `deno task train`
 * or `deno task classify` does (training then evaluating, the anchor bank, the output files) without a child
 * process. Unlike `@lzn/tasks/cli`, this imports the whole library up front.
 *
 * @example
 * ```ts ignore
 * import { classifyCommand, trainCommand } from "@lzn/tasks/cli/commands";
 * await trainCommand({ config: "tasks/recipes/cpu/classification.json", runDir: "runs/mine" });
 * await classifyCommand({ runDir: "runs/mine", inputs: ["examples/digits.npy"], tau: 0, seed: 0, batchRelative: false });
 * ```
 *
 * @module
 */
export { classifyCommand, embedCommand, type InferenceOptions } from "./infer_commands.ts";
export { sampleCommand, type SampleOptions } from "./sample_command.ts";
export { DEMO_CONFIG, demoCommand, evalCommand, trainCommand } from "./train_commands.ts";
