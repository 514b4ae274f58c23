/**
 * One-time machine setup run before `deno task demo` and `deno task test`: makes sure a Vulkan WebGPU adapter
 * exists. On headless Linux without a Vulkan driver it installs Mesa's CPU Vulkan driver (lavapipe) through
 * apt-get when running as root, otherwise it says exactly what to install. An OpenGL-only adapter (Deno's GL
 * backend on Mesa llvmpipe) is not enough: libEGL's thread clean-up can abort `deno test` at exit with a
 * double free after every test passed (see tensor/device.ts), so such a machine gets lavapipe too.
 *
 * @module
 */

const ICD_DIRS = ["/usr/share/vulkan/icd.d", "/etc/vulkan/icd.d", "/usr/local/share/vulkan/icd.d"];

/** True if a Vulkan driver manifest is installed (what the Vulkan loader looks for). */
function hasVulkanDriver(): boolean {
  for (const dir of ICD_DIRS) {
    try {
      for (const entry of Deno.readDirSync(dir)) if (entry.name.endsWith(".json")) return true;
    } catch { /* no such directory */ }
  }
  return Boolean(Deno.env.get("VK_DRIVER_FILES") || Deno.env.get("VK_ICD_FILENAMES"));
}

async function hasAdapter(): Promise<string | null> {
  // A child process: the adapter list of this process is fixed once WebGPU initialised.
  const probe = new Deno.Command(Deno.execPath(), {
    args: [
      "eval",
      "const a = await navigator.gpu?.requestAdapter(); console.log(a ? a.info.description || a.info.vendor || 'adapter' : '')",
    ],
    stdout: "piped",
    stderr: "null",
  });
  const out = await probe.output();
  const name = new TextDecoder().decode(out.stdout).trim();
  return name ? name : null;
}

/** Runs a command quietly (apt's progress lines are noise); its output is shown only when it fails. */
async function run(cmd: string, args: string[]): Promise<boolean> {
  try {
    const out = await new Deno.Command(cmd, {
      args,
      env: { DEBIAN_FRONTEND: "noninteractive" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!out.success) {
      const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
      console.error(`setup: ${cmd} ${args.join(" ")} failed (exit ${out.code}):\n${text.trim()}`);
    }
    return out.success;
  } catch (e) {
    console.error(`setup: cannot run ${cmd}: ${(e as Error).message}`);
    return false;
  }
}

// Read before anything else, so that every run (not only the one that must install) needs the permission.
const isRoot = Deno.build.os === "linux" && Deno.uid() === 0;
const name = Deno.build.os !== "linux" || hasVulkanDriver() ? await hasAdapter() : null;
if (name) {
  console.log(`setup: WebGPU adapter: ${name}`);
} else if (isRoot) {
  console.log(
    "setup: no Vulkan WebGPU adapter; installing Mesa's CPU Vulkan driver (mesa-vulkan-drivers) ...",
  );
  const ok = await run("apt-get", ["update", "-qq"]) &&
    await run("apt-get", ["install", "-y", "-qq", "mesa-vulkan-drivers", "libvulkan1"]);
  const after = ok ? await hasAdapter() : null;
  if (!after) {
    console.error(
      "setup: still no WebGPU adapter. Install a GPU driver, or `apt-get install mesa-vulkan-drivers`.",
    );
    Deno.exit(1);
  }
  console.log(`setup: WebGPU adapter: ${after}`);
} else {
  console.error(
    "setup: no WebGPU adapter found. Install your GPU's Vulkan/Metal/D3D12 driver, or on headless Linux\n" +
      "       Mesa's CPU driver: sudo apt-get install mesa-vulkan-drivers",
  );
  Deno.exit(1);
}
