/**
 * Config validation with readable errors: every config of lzn is a zod schema, and a bad value fails with
 * one {@link ConfigError} that lists every problem with its path, not with the first exception deep inside
 * model construction.
 *
 * @module
 */
import { z } from "zod";

/**
 * A config that failed validation. `message` lists every issue, one per line, with its path; an unknown key
 * names the nearest key the schema has there (`Unrecognized key: "trian" (did you mean "train"?)`).
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

  /**
   * Wraps a zod error; `what` names the config in the first line. With the `schema` that failed, an unknown
   * key's line suggests the nearest key allowed at its path.
   */
  constructor(what: string, error: z.ZodError, schema?: z.ZodType) {
    const issues = schema ? error.issues.map((issue) => withSuggestion(issue, schema)) : error.issues;
    super(`invalid ${what}:\n${z.prettifyError(new z.ZodError(issues))}`);
    this.name = "ConfigError";
    this.issues = error.issues;
  }
}

/**
 * An unrecognized-keys issue with "did you mean" for each key that is a near miss of an allowed one (with
 * several unknown keys, each hint names its key).
 */
function withSuggestion(issue: z.core.$ZodIssue, schema: z.ZodType): z.core.$ZodIssue {
  if (issue.code !== "unrecognized_keys") return issue;
  const allowed = keysAt(schema, issue.path).filter((k) => !issue.keys.includes(k));
  const hints = issue.keys.map((k) => [k, closest(k, allowed)] as const).filter(([, near]) => near);
  if (hints.length === 0) return issue;
  const said = hints.map(([k, near]) => `"${k}" -> "${near}"`).join(", ");
  return {
    ...issue,
    message: `${issue.message} (did you mean ${issue.keys.length === 1 ? `"${hints[0][1]}"` : said}?)`,
  };
}

// deno-lint-ignore no-explicit-any
type Def = any;

/** The schemas a value at this node may be checked against, wrappers (default, optional, ...) removed. */
function unwrap(node: z.core.$ZodType): z.core.$ZodType[] {
  const def: Def = node._zod.def;
  if ("innerType" in def) return unwrap(def.innerType);
  if (def.type === "pipe") return unwrap(def.in);
  if (def.type === "union") return (def.options as z.core.$ZodType[]).flatMap(unwrap);
  return [node];
}

/** The object keys a config may hold at `path` of `schema` (every option of a union). */
function keysAt(schema: z.core.$ZodType, path: PropertyKey[]): string[] {
  let nodes = unwrap(schema);
  for (const seg of path) {
    nodes = nodes.flatMap((n) => {
      const def: Def = n._zod.def;
      if (def.type === "object") return seg in def.shape ? unwrap(def.shape[seg]) : [];
      if (def.type === "array") return unwrap(def.element);
      if (def.type === "record") return unwrap(def.valueType);
      return [];
    });
  }
  return [
    ...new Set(
      nodes.flatMap((n) => n._zod.def.type === "object" ? Object.keys((n._zod.def as Def).shape) : []),
    ),
  ];
}

/**
 * The candidate nearest to `word` by edit distance (case-insensitive), if it is close enough to be a typo (at
 * most 2 edits, and fewer than half the word), for "did you mean" hints.
 *
 * @example
 * ```ts
 * import { closest } from "@lzn/tensor";
 * console.log(closest("clasify", ["classify", "embed"])); // "classify"
 * console.log(closest("xyz", ["classify", "embed"])); // undefined
 * ```
 */
export function closest(word: string, candidates: string[]): string | undefined {
  let best: string | undefined, bestDistance = Infinity;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [c, d];
  }
  return bestDistance <= Math.min(2, Math.ceil(word.length / 2) - 1) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) {
      next[j] = Math.min(row[j] + 1, next[j - 1] + 1, row[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    row = next;
  }
  return row[b.length];
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
  if (!result.success) throw new ConfigError(what, result.error, schema);
  return result.data;
}
