/**
 * Hashes and comparisons of configs: a stable (key-order independent) hash, the architecture hash that
 * guards a checkpoint against another model, and the dotted paths of the fields two configs differ in.
 *
 * @module
 */
import { parseConfig } from "@lzn/tensor";
import type { Recipe, RecipeConfig } from "../recipe.ts";

/**
 * A short stable hash (hex) of a JSON value, independent of key order.
 *
 * @example
 * ```ts
 * import { stableHash } from "@lzn/tasks";
 * console.log(await stableHash({ b: 1, a: 2 }) === await stableHash({ a: 2, b: 1 })); // true
 * ```
 */
export async function stableHash(value: unknown): Promise<string> {
  const bytes = new TextEncoder().encode(canonicalJson(value));
  const digest = await crypto.subtle.digest("SHA-256", bytes);
  return [...new Uint8Array(digest).slice(0, 8)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
    entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

/**
 * The hash of every field of a config.
 *
 * @example
 * ```ts
 * import { configHash, parseRecipeConfig } from "@lzn/tasks";
 * const h = await configHash(parseRecipeConfig({ recipe: "classification" }, "example"));
 * ```
 */
export function configHash(config: RecipeConfig): Promise<string> {
  return stableHash(config);
}

/**
 * The architecture hash of a config under its recipe: equal hashes mean the same parameter names and shapes.
 *
 * @example
 * ```ts
 * import { architectureHash, classification, parseRecipeConfig } from "@lzn/tasks";
 * const h = await architectureHash(classification, parseRecipeConfig({ recipe: "classification" }, "example"));
 * ```
 */
export function architectureHash<C extends RecipeConfig>(recipe: Recipe<C>, config: C): Promise<string> {
  return stableHash({ recipe: recipe.name, architecture: recipe.architecture(config) });
}

/**
 * What reading a stored run needs of its recipe: parse its config, recompute its architecture hash.
 *
 * @example
 * ```ts
 * import { classification, parseWith } from "@lzn/tasks";
 * const { parse, architecture } = parseWith(classification);
 * const config = parse({ recipe: "classification", model: { latentDim: 16 } }, "an example");
 * console.log(await architecture(config)); // the hash a checkpoint of this model is stored with
 * ```
 */
export function parseWith<C extends RecipeConfig>(recipe: Recipe<C>): {
  parse(config: unknown, source: string): RecipeConfig;
  architecture(config: RecipeConfig): Promise<string>;
} {
  return {
    parse: (config, source) => parseConfig(recipe.schema, config, source),
    architecture: (config) => architectureHash(recipe, config as C),
  };
}

/**
 * Dotted paths of the leaves that differ between two JSON values, with both values.
 *
 * @example
 * ```ts
 * import { diffPaths } from "@lzn/tasks";
 * console.log(diffPaths({ train: { steps: 10 } }, { train: { steps: 20 } })); // ["train.steps 10 -> 20"]
 * ```
 */
export function diffPaths(a: unknown, b: unknown, prefix = ""): string[] {
  if (a && b && typeof a === "object" && typeof b === "object" && !Array.isArray(a) && !Array.isArray(b)) {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    return [...keys].flatMap((k) =>
      diffPaths(
        (a as Record<string, unknown>)[k],
        (b as Record<string, unknown>)[k],
        prefix ? `${prefix}.${k}` : k,
      )
    );
  }
  return JSON.stringify(a) === JSON.stringify(b)
    ? []
    : [`${prefix} ${JSON.stringify(a)} -> ${JSON.stringify(b)}`];
}
