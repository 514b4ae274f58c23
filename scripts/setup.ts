/**
 * One-time machine setup run before `deno task demo` and `deno task test`: makes sure a WebGPU adapter
 * exists. On headless Linux without one it installs Mesa's CPU Vulkan driver (lavapipe) through apt-get
 * when running as root, otherwise it says exactly what to install.
 *
 * @module
 */

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

async function run(cmd: string, args: string[]): Promise<boolean> {
  try {
    const { success } = await new Deno.Command(cmd, { args, stdout: "inherit", stderr: "inherit" }).output();
    return success;
  } catch {
    return false;
  }
}

const name = await hasAdapter();
if (name) {
  console.log(`setup: WebGPU adapter: ${name}`);
} else if (Deno.build.os === "linux" && Deno.uid?.() === 0) {
  console.log("setup: no WebGPU adapter; installing Mesa's CPU Vulkan driver (mesa-vulkan-drivers) ...");
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
