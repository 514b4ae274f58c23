/**
 * Generates `tasks/config_types.ts`: the TypeScript types of every recipe config, from the zod schemas that
 * define them (through `z.toJSONSchema`). Each field is therefore written once, in its schema, with its
 * description; its type and its documented default follow. Types inferred with `z.output<typeof schema>`
 * would be JSR "slow types", hence generated, and each recipe file checks at compile time that its schema's
 * inferred type equals the generated one.
 *
 *   deno task gen-config-types           rewrite tasks/config_types.ts
 *   deno task gen-config-types --check   exit 1 if it is out of date (the suite runs this)
 *
 * @module
 */
import { z } from "zod";
import { AlignmentBlock, DataBlock, SamplerBlock, TrainBlock } from "../tasks/config/blocks.ts";
import { RECIPES } from "../tasks/registry.ts";

const OUT = new URL("../tasks/config_types.ts", import.meta.url);

type Io = "input" | "output";
// deno-lint-ignore no-explicit-any
type Json = any;

/** Named types defined outside this file: how each appears as an output and as an input. */
const EXTERNAL: Record<string, { module: string; output: string; input: string }> = {
  ImageEncoderArchitecture: {
    module: "@lzn/encoders",
    output: "ImageEncoderArchitecture",
    input: "Partial<ImageEncoderArchitecture>",
  },
  RfDecoderArchitecture: {
    module: "@lzn/decoders",
    output: "RfDecoderArchitecture",
    input: "Partial<RfDecoderArchitecture>",
  },
  ResNetEncoderArchitecture: {
    module: "@lzn/encoders",
    output: "ResNetEncoderArchitecture",
    input: "Partial<ResNetEncoderArchitecture>",
  },
  ReferenceArchitecture: {
    module: "@lzn/metrics",
    output: "ReferenceArchitecture",
    input: "Partial<ReferenceArchitecture>",
  },
};

/** Shared blocks, generated as named interfaces (and `...Input` variants), with example values. */
const BLOCKS: [string, z.ZodType, string, { output: string; input: string }][] = [
  ["DataConfig", DataBlock, "Which data a run reads, and the augmentation of every training batch.", {
    output: `{ dataset: "fashion-mnist", trainPerClass: 100, shift: 2 }`,
    input: `{ dataset: "fashion-mnist" }`,
  }],
  [
    "TrainConfig",
    TrainBlock,
    "The optimisation and run bookkeeping every recipe shares (spec §5.5 mechanics).",
    {
      output: `parseRecipeConfig({ recipe: "classification" }, "example").train`,
      input: `{ steps: 1000, batchSize: 128 }`,
    },
  ],
  ["AlignmentConfig", AlignmentBlock, "The latent-alignment loss (spec §4).", {
    output: `{ steps: 100, cutoff: 0.2, log: false }`,
    input: `{ log: false }`,
  }],
  [
    "SamplerConfig",
    SamplerBlock,
    "An ODE solver of the RF decoder: Euler with a step count, or adaptive RK45.",
    {
      output: `{ kind: "euler", steps: 10 }`,
      input: `{ kind: "rk45", rtol: 1e-5, atol: 1e-5 }`,
    },
  ],
];

function pascal(name: string): string {
  return name.split(/[^A-Za-z0-9]/).map((w) => w[0].toUpperCase() + w.slice(1)).join("");
}

function typeName(id: string, io: Io): string {
  const ext = EXTERNAL[id];
  if (ext) return ext[io];
  return io === "input" ? `${id}Input` : id;
}

function doc(s: Json, indent: string): string {
  const parts: string[] = [];
  if (s.description) parts.push(s.description);
  else if (s.$ref) {
    // A field that is just a shared block (e.g. `data`) takes the block's own summary.
    const id = String(s.$ref).replace("#/$defs/", "");
    const block = BLOCKS.find(([name]) => name === id);
    if (block) parts.push(block[2]);
  }
  const empty = typeof s.default === "object" && s.default && !Array.isArray(s.default) &&
    Object.keys(s.default).length === 0;
  if (s.default !== undefined && !empty) {
    parts.push(`Default: \`${JSON.stringify(s.default)}\`.`);
  }
  if (!parts.length) return "";
  return `${indent}/** ${parts.join(" ")} */\n`;
}

function emit(s: Json, io: Io, indent: string, defs: Set<string>): string {
  if (s.$ref) {
    const id = String(s.$ref).replace("#/$defs/", "");
    defs.add(id);
    return typeName(id, io);
  }
  const alts = s.anyOf ?? s.oneOf;
  if (alts) return alts.map((a: Json) => emit(a, io, indent, defs)).join(" | ");
  if (s.const !== undefined) return JSON.stringify(s.const);
  if (s.enum) return s.enum.map((v: unknown) => JSON.stringify(v)).join(" | ");
  switch (s.type) {
    case "string":
      return "string";
    case "number":
    case "integer":
      return "number";
    case "boolean":
      return "boolean";
    case "array": {
      if (s.prefixItems) return `[${s.prefixItems.map((x: Json) => emit(x, io, indent, defs)).join(", ")}]`;
      const item = emit(s.items, io, indent, defs);
      return /[|&]/.test(item) ? `(${item})[]` : `${item}[]`;
    }
    case "object": {
      const required = new Set<string>(s.required ?? []);
      const inner = indent + "  ";
      const fields = Object.entries(s.properties ?? {}).map(([k, v]) =>
        `${doc(v, inner)}${inner}${k}${required.has(k) ? "" : "?"}: ${emit(v, io, inner, defs)};\n`
      );
      return `{\n${fields.join("")}${indent}}`;
    }
  }
  throw new Error(`gen-config-types: unsupported JSON schema ${JSON.stringify(s).slice(0, 200)}`);
}

function declare(
  name: string,
  schema: z.ZodType,
  io: Io,
  summary: string,
  example: string,
  defs: Set<string>,
): string {
  // "any": a transform inside an external named type (mapped to its TypeScript name, never expanded) is fine;
  // one in a recipe schema becomes `{}`, which `emit` refuses.
  const json: Json = z.toJSONSchema(schema, { io, unrepresentable: "any" });
  const typeId = io === "input" ? `${name}Input` : name;
  const what = io === "input"
    ? `What a config file may contain for {@link ${name}}: every defaulted field optional, at every level.`
    : `${summary} Defaults filled in.`;
  const usesParse = example.includes("parseRecipeConfig");
  const imports = usesParse ? `parseRecipeConfig, type ${typeId}` : `type ${typeId}`;
  const head =
    `/**\n * ${what}\n *\n * @example\n * \`\`\`ts\n * import { ${imports} } from "@lzn/tasks";\n` +
    ` * const value: ${typeId} = ${example};\n * \`\`\`\n */\n`;
  // A block's own schema comes back as a reference to itself: declare what it refers to.
  const root = json.$ref ? json.$defs[String(json.$ref).replace("#/$defs/", "")] : json;
  const body = emit(root, io, "", defs);
  return root.type === "object"
    ? `${head}export interface ${typeId} ${body}\n`
    : `${head}export type ${typeId} = ${body};\n`;
}

export function generate(): string {
  const defs = new Set<string>();
  const out: string[] = [];
  for (const [name, schema, summary, example] of BLOCKS) {
    for (const io of ["output", "input"] as const) {
      out.push(declare(name, schema, io, summary, example[io], defs));
    }
  }
  for (const { name: recipe, schema, summary } of Object.values(RECIPES)) {
    const name = `${pascal(recipe)}Config`;
    const example = {
      output: `parseRecipeConfig({ recipe: "${recipe}" }, "example")`,
      input: `{ recipe: "${recipe}", name: "my-run" }`,
    };
    const what = `The config of recipe \`${recipe}\`: ${summary}.`;
    for (const io of ["output", "input"] as const) {
      out.push(declare(name, schema, io, what, example[io], defs));
    }
  }
  const imports = Object.entries(EXTERNAL).filter(([id]) => defs.has(id)).map(([id, e]) =>
    `import type { ${id} } from "${e.module}";\n`
  ).join("");
  const unknown = [...defs].filter((id) => !EXTERNAL[id] && !BLOCKS.some(([n]) => n === id));
  // The recipe configs' examples parse a config, which needs the function (not only types).
  if (unknown.length) throw new Error(`gen-config-types: no type for $defs ${unknown.join(", ")}`);
  return `// Generated by \`deno task gen-config-types\` from the zod schemas in tasks/config/ and tasks/recipes/.
// Do not edit: change the schema and run the task again (the suite checks that this file is current).
/**
 * The types of every recipe config, generated from their zod schemas.
 *
 * @module
 */
${imports}
${out.join("\n")}`;
}

if (import.meta.main) {
  const text = generate();
  const fmt = new Deno.Command(Deno.execPath(), { args: ["fmt", "-"], stdin: "piped", stdout: "piped" })
    .spawn();
  const w = fmt.stdin.getWriter();
  await w.write(new TextEncoder().encode(text));
  await w.close();
  const { stdout, success } = await fmt.output();
  if (!success) throw new Error("gen-config-types: deno fmt failed on the generated text");
  const formatted = new TextDecoder().decode(stdout);
  if (Deno.args.includes("--check")) {
    const current = await Deno.readTextFile(OUT).catch(() => "");
    if (current !== formatted) {
      console.error("tasks/config_types.ts is out of date: run `deno task gen-config-types`");
      Deno.exit(1);
    }
    console.log("tasks/config_types.ts is current");
  } else {
    await Deno.writeTextFile(OUT, formatted);
    console.log(`wrote ${OUT.pathname}`);
  }
}
