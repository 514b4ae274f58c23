/**
 * Backend choice at device acquisition (tensor/device.ts). On Linux with a Vulkan driver installed, lzn asks Deno
 * for wgpu's Vulkan backend alone: with Deno's default (every backend) wgpu also starts OpenGL ES through EGL,
 * and libEGL's exit-time teardown then races the exit of the worker thread that `deno test` / `deno bench` run a
 * module on (a double free: status 134 after every test has passed). These run the choice in child processes
 * with a stand-in driver, so they do not depend on which drivers this machine has.
 */
import { strict as assert } from "node:assert";

const MOD = new URL("../tensor/mod.ts", import.meta.url).href;
const PROBE = `import { gpu, hasGpu } from ${JSON.stringify(MOD)};
let error = "";
try { gpu(); } catch (e) { error = String(e); }
console.log(JSON.stringify({
  backends: hasGpu() ? gpu().adapter.backends : null,
  error,
  envAfter: Deno.env.get("DENO_WEBGPU_BACKEND") ?? null,
}));`;

interface Probe {
  backends: string | null;
  error: string;
  envAfter: string | null;
  stderr: string;
}

/** Runs the probe in a child with `env` on top of ours, DENO_WEBGPU_BACKEND removed unless `env` sets it. */
async function probe(env: Record<string, string>): Promise<Probe> {
  const base = Deno.env.toObject();
  delete base.DENO_WEBGPU_BACKEND;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--ext=ts", PROBE],
    env: { ...base, ...env },
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout).trim();
  assert.ok(out.success, `probe failed (${out.code}):\n${text}\n${new TextDecoder().decode(out.stderr)}`);
  return { ...JSON.parse(text.split("\n").at(-1)!), stderr: new TextDecoder().decode(out.stderr) };
}

/** A directory holding a stand-in Vulkan loader and driver manifest (neither loads: no adapter comes of them). */
async function fakeVulkan(): Promise<{ dir: string; env: Record<string, string> }> {
  const dir = await Deno.makeTempDir({ prefix: "lzn-fake-vulkan-" });
  await Deno.writeTextFile(`${dir}/libvulkan.so.1`, "not a library\n");
  await Deno.writeTextFile(
    `${dir}/icd.json`,
    JSON.stringify({
      file_format_version: "1.0.0",
      ICD: { library_path: `${dir}/none.so`, api_version: "1.3.0" },
    }),
  );
  return { dir, env: { LD_LIBRARY_PATH: dir, VK_ICD_FILENAMES: `${dir}/icd.json` } };
}

Deno.test({
  name:
    "with a Vulkan driver installed, only the Vulkan backend is requested, and the environment is restored",
  ignore: Deno.build.os !== "linux",
  fn: async () => {
    const fake = await fakeVulkan();
    try {
      const p = await probe(fake.env);
      // The stand-in loader shadows any real one, so Vulkan offers nothing; had Deno also started OpenGL (the
      // default), an adapter could have come from it. No adapter, and an error naming the choice, shows that
      // Vulkan alone was requested.
      assert.equal(
        p.backends,
        null,
        `expected no adapter from the stand-in Vulkan driver, got ${p.backends}`,
      );
      assert.match(p.error, /asked only for the Vulkan backend/);
      assert.ok(
        p.error.includes(`${fake.dir}/icd.json`),
        `the error should name the driver found: ${p.error}`,
      );
      assert.equal(p.envAfter, null, "DENO_WEBGPU_BACKEND must be removed again after the request");
    } finally {
      await Deno.remove(fake.dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "a DENO_WEBGPU_BACKEND set by the caller is left alone",
  ignore: Deno.build.os !== "linux",
  fn: async () => {
    const fake = await fakeVulkan();
    try {
      // An empty list names no backend: no adapter, and no Vulkan-only note, because lzn chose nothing.
      const p = await probe({ ...fake.env, DENO_WEBGPU_BACKEND: "" });
      assert.equal(p.backends, null);
      assert.doesNotMatch(p.error, /asked only for the Vulkan backend/);
      assert.equal(p.envAfter, "", "the caller's value must stay as it was");
    } finally {
      await Deno.remove(fake.dir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "without a Vulkan driver, an adapter from OpenGL ES comes with a one-line warning that says what to install",
  ignore: Deno.build.os !== "linux",
  fn: async () => {
    // An explicit driver list naming nothing that exists: lzn finds no Vulkan driver and leaves Deno's default.
    const p = await probe({ VK_ICD_FILENAMES: "/nonexistent/lzn-icd.json" });
    const warning = p.stderr.split("\n").filter((l) => l.startsWith("lzn: no Vulkan driver found"));
    if (p.backends === null) {
      // No OpenGL adapter on this machine either: the error says what to install instead.
      assert.match(p.error, /mesa-vulkan-drivers/);
    } else {
      assert.equal(p.backends, "all");
      assert.equal(warning.length, 1, `one warning line expected, stderr:\n${p.stderr}`);
      assert.match(warning[0], /OpenGL ES.*apt-get install mesa-vulkan-drivers/);
    }
  },
});
