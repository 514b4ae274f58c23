/**
 * The documentation examples that cannot run in the suite (marked `ts ignore`: they need a trained run, a
 * GPU-sized benchmark or the CLI's output files) are still type-checked: each is written to a temporary
 * module, its relative imports pointed at the file it documents, and `deno check` runs over all of them with
 * the workspace's config. So an example that names a missing export, a wrong option or an undefined
 * variable fails here, as `deno test --doc` fails the examples that run.
 */
import { strict as assert } from "node:assert";
import { dirname, join, relative } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const PACKAGES = ["tensor", "latent", "encoders", "decoders", "metrics", "tasks", "data", "bench", "scripts"];

/** Every `ts ignore` block under the packages, with the file and line it comes from. */
async function ignoredExamples(): Promise<{ file: string; line: number; code: string }[]> {
  const found: { file: string; line: number; code: string }[] = [];
  const walk = async (dir: string) => {
    for await (const e of Deno.readDir(dir)) {
      const path = join(dir, e.name);
      if (e.isDirectory && e.name !== "node_modules" && e.name !== "results") await walk(path);
      else if (e.isFile && e.name.endsWith(".ts")) {
        const text = await Deno.readTextFile(path);
        for (const m of text.matchAll(/```ts ignore\n([\s\S]*?)```/g)) {
          const code = m[1].split("\n").map((l) => l.replace(/^\s*\* ?/, "")).join("\n");
          const line = text.slice(0, m.index).split("\n").length;
          found.push({ file: path, line, code });
        }
      }
    }
  };
  for (const p of PACKAGES) await walk(join(ROOT, p));
  return found;
}

Deno.test("documentation examples marked `ts ignore` type-check against the code they document", async () => {
  const examples = await ignoredExamples();
  assert.ok(examples.length >= 40, `found only ${examples.length} examples: is the pattern still right?`);
  const dir = await Deno.makeTempDir({ prefix: "lzn-doc-check-" });
  try {
    const names: string[] = [];
    for (const [i, ex] of examples.entries()) {
      // A relative import names a module next to the documented file.
      const code = ex.code.replace(
        /from "(\.{1,2}\/[^"]+)"/g,
        (_, spec) => `from "${pathToFileURL(join(dirname(ex.file), spec)).href}"`,
      );
      const name = join(dir, `example_${i}.ts`);
      await Deno.writeTextFile(name, `// ${relative(ROOT, ex.file)}:${ex.line}\n${code}\nexport {};\n`);
      names.push(name);
    }
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["check", "--quiet", "--config", join(ROOT, "deno.json"), ...names],
      stdout: "piped",
      stderr: "piped",
    }).output();
    // Name each failing example by the file and line it documents.
    // deno-lint-ignore no-control-regex -- strips the ANSI colour codes of deno check
    const text = new TextDecoder().decode(out.stderr).replace(/\x1b\[[0-9;]*m/g, "");
    const failing = [...new Set([...text.matchAll(/example_(\d+)\.ts/g)].map((m) => Number(m[1])))]
      .map((i) => `${relative(ROOT, examples[i].file)}:${examples[i].line}`);
    assert.ok(out.success, `examples that do not type-check: ${failing.join(", ")}\n${text}`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
