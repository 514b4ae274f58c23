/**
 * The shipped recipes, in one table keyed by the `recipe` field of a config: a recipe missing from the
 * table, or one whose config type does not match its name, is a compile error.
 *
 * @module
 */
import { z } from "zod";
import { parseConfig } from "@lzn/tensor";
import type {
  ClassificationConfig,
  CrossEntropyConfig,
  GenerationConfig,
  RepresentationConfig,
} from "./config_types.ts";
import type { Recipe } from "./recipe.ts";
import { classification } from "./recipes/classification.ts";
import { generation } from "./recipes/generation.ts";
import { crossEntropyRecipe } from "./recipes/cross_entropy.ts";
import { representation } from "./recipes/representation.ts";
import { InputError } from "./errors.ts";

/**
 * The config type of each shipped recipe, by name.
 *
 * @example
 * ```ts
 * import type { RecipeConfigs } from "@lzn/tasks";
 * const steps = (c: RecipeConfigs["classification"]) => c.train.steps;
 * ```
 */
export interface RecipeConfigs {
  /** Classification by latent alignment. */
  classification: ClassificationConfig;
  /** RF generation: case studies 1 and 3 and their baselines. */
  generation: GenerationConfig;
  /** Supervised classification with cross-entropy (baseline, reference network). */
  "cross-entropy": CrossEntropyConfig;
  /** Unsupervised representation learning from two views: case study 2 and SimCLR. */
  representation: RepresentationConfig;
}

/**
 * A shipped recipe's name.
 *
 * @example
 * ```ts
 * import type { RecipeName } from "@lzn/tasks";
 * const name: RecipeName = "classification";
 * ```
 */
export type RecipeName = keyof RecipeConfigs;

/**
 * Any shipped recipe's config.
 *
 * @example
 * ```ts
 * import type { AnyRecipeConfig } from "@lzn/tasks";
 * const name = (c: AnyRecipeConfig) => c.recipe;
 * ```
 */
export type AnyRecipeConfig = RecipeConfigs[RecipeName];

/**
 * The shipped recipes by name.
 *
 * @example
 * ```ts
 * import { RECIPES } from "@lzn/tasks";
 * for (const r of Object.values(RECIPES)) console.log(`${r.name}: ${r.summary}`);
 * ```
 */
// deno-lint-ignore no-explicit-any
export const RECIPES: { readonly [R in RecipeName]: Recipe<RecipeConfigs[R], any> } = {
  classification,
  generation,
  "cross-entropy": crossEntropyRecipe,
  representation,
};

const RecipeField = z.object({
  recipe: z.enum(Object.keys(RECIPES) as [RecipeName, ...RecipeName[]])
    .describe("The recipe this config trains"),
}).loose();

/**
 * Validates a config (a parsed JSON value) with the schema of the recipe it names; throws a `ConfigError`
 * listing every problem with its path (an unknown or missing `recipe` lists the recipes).
 *
 * @example
 * ```ts
 * import { parseRecipeConfig } from "@lzn/tasks";
 * const config = parseRecipeConfig({ recipe: "classification", train: { steps: 50 } }, "demo.json");
 * console.log(config.train.batchSize); // 256
 * ```
 */
export function parseRecipeConfig<R extends RecipeName>(
  value: { recipe: R } & Record<string, unknown>,
  source: string,
): RecipeConfigs[R];
/** Validates a config whose recipe is not known statically. */
export function parseRecipeConfig(value: unknown, source: string): AnyRecipeConfig;
export function parseRecipeConfig(value: unknown, source: string): AnyRecipeConfig {
  const { recipe } = parseConfig(RecipeField, value, source);
  return parseConfig(RECIPES[recipe].schema, value, source) as AnyRecipeConfig;
}

/**
 * The recipe of a config.
 *
 * @example
 * ```ts
 * import { parseRecipeConfig, recipeOf } from "@lzn/tasks";
 * const recipe = recipeOf(parseRecipeConfig({ recipe: "classification" }, "example"));
 * ```
 */
// deno-lint-ignore no-explicit-any
export function recipeOf(config: AnyRecipeConfig): Recipe<AnyRecipeConfig, any> {
  // deno-lint-ignore no-explicit-any
  return RECIPES[config.recipe] as Recipe<any, any>;
}

/**
 * Reads and validates a JSON config file. A missing or unreadable file or bad JSON is an `InputError`, a bad
 * field a `ConfigError`: one line each that says what to fix.
 *
 * @example
 * ```ts ignore
 * import { readConfigFile } from "@lzn/tasks";
 * const config = await readConfigFile("tasks/recipes/cpu/classification.json");
 * console.log(config.recipe, config.name);
 * ```
 */
export async function readConfigFile(path: string): Promise<AnyRecipeConfig> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw new InputError(`config file not found: ${path}`);
    if (e instanceof Deno.errors.IsADirectory) {
      throw new InputError(`config ${path} is a directory, not a JSON file`);
    }
    throw e;
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new InputError(`config file ${path} is not valid JSON: ${(e as Error).message}`);
  }
  return parseRecipeConfig(value, `config ${path}`);
}
