/**
 * Config validation with readable errors: every config of lzn is a zod schema, and a bad value fails with
 * one {@link ConfigError} that lists every problem with its path, not with the first exception deep inside
 * model construction.
 *
 * @module
 */
import { z } from "zod";

/**
 * A config that failed validation. `message` lists every issue, one per line, with its path.
 *
 * @example
 * ```ts
 * import { ConfigError, parseConfig } from "@lzn/tensor";
 * import { z } from "zod";
 * try {
 *   parseConfig(z.object({ q: z.number().int() }), { q: 1.5 }, "demo config");
 * } catch (e) {
 *   if (e instanceof ConfigError) console.log(e.message);
 * }
 * ```
 */
export class ConfigError extends Error {
  /** The zod issues behind the message. */
  readonly issues: z.core.$ZodIssue[];

  /** Wraps a zod error; `what` names the config in the first line. */
  constructor(what: string, error: z.ZodError) {
    super(`invalid ${what}:\n${z.prettifyError(error)}`);
    this.name = "ConfigError";
    this.issues = error.issues;
  }
}

/**
 * Validates `value` against `schema` and returns the parsed value (defaults filled in), or throws a
 * {@link ConfigError} naming `what` and every issue.
 *
 * @example
 * ```ts
 * import { parseConfig } from "@lzn/tensor";
 * import { z } from "zod";
 * const cfg = parseConfig(z.object({ q: z.number().default(32) }), {}, "encoder config");
 * console.log(cfg.q); // 32
 * ```
 */
export function parseConfig<S extends z.ZodType>(schema: S, value: unknown, what: string): z.output<S> {
  const result = schema.safeParse(value);
  if (!result.success) throw new ConfigError(what, result.error);
  return result.data;
}
