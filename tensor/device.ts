/**
 * WebGPU device acquisition: the one place that asks `navigator.gpu` for an adapter and a device.
 *
 * The device is acquired once, when this module is first imported (top-level await), so that the rest of
 * the tensor core can record work synchronously. A missing adapter does not throw at import time: the
 * failure is stored and reported, with instructions, on the first use of {@link gpu}. That keeps
 * `--help` and pure-CPU paths working on machines without WebGPU.
 *
 * @module
 */

/**
 * What we know about the adapter that runs the kernels.
 *
 * @example
 * ```ts
 * import { type AdapterReport, gpu } from "@lzn/tensor";
 * const report: AdapterReport = gpu().adapter;
 * if (report.isCpu) console.warn(`software adapter (${report.name}): expect slow kernels`);
 * ```
 */
export interface AdapterReport {
  /** Human-readable adapter name (e.g. "NVIDIA H200" or "llvmpipe (LLVM 15.0.6, 256 bits)"). */
  name: string;
  /** Vendor string as reported by the adapter. */
  vendor: string;
  /** True for software adapters such as Mesa lavapipe (llvmpipe) or SwiftShader. */
  isCpu: boolean;
  /** Optional features that were requested because the adapter lists them. */
  features: string[];
  /**
   * Which kernel tunings run: "cpu" on a CPU adapter (shallow k slabs, few workgroups), else "gpu". The
   * environment variable `LZN_TUNING=cpu|gpu` overrides it, read only where env access is already granted;
   * the suite uses it to run the GPU tunings on lavapipe. The tunings sum in different orders, so results
   * differ in the last bits between them: a run resumed on another kind of adapter is not bit-identical.
   */
  tuning: "cpu" | "gpu";
  /**
   * The wgpu backends Deno was asked to start (its `DENO_WEBGPU_BACKEND`): "vulkan" where lzn chose the Vulkan
   * backend alone (Linux with a Vulkan driver installed, see {@link acquireDevice}), the caller's own value where
   * it was set, else "all" (Deno's default, which on Linux also starts the OpenGL ES backend through EGL).
   */
  backends: string;
}

/** `LZN_TUNING` if set to cpu or gpu and readable without a permission prompt. */
function tuningOverride(): "cpu" | "gpu" | undefined {
  try {
    if (Deno.permissions.querySync({ name: "env", variable: "LZN_TUNING" }).state !== "granted") {
      return undefined;
    }
    const v = Deno.env.get("LZN_TUNING");
    return v === "cpu" || v === "gpu" ? v : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The acquired device and its adapter report.
 *
 * @example
 * ```ts
 * import { gpu, type GpuContext } from "@lzn/tensor";
 * const { device, adapter }: GpuContext = gpu();
 * console.log(adapter.name, device.limits.maxStorageBufferBindingSize);
 * ```
 */
export interface GpuContext {
  /** The logical device every kernel runs on. */
  device: GPUDevice;
  /** Facts about the adapter, read before the device was requested. */
  adapter: AdapterReport;
}

/** Features the kernels can use when present; only those listed by `adapter.features` are requested. */
const WANTED_FEATURES: GPUFeatureName[] = ["timestamp-query", "shader-f16", "subgroups" as GPUFeatureName];

const HOW_TO_GET_AN_ADAPTER = [
  "lzn needs a WebGPU adapter and found none.",
  "  - On a machine with a GPU: install its Vulkan (Linux), Metal (macOS) or D3D12 (Windows) driver.",
  "  - On headless Linux without a GPU: install Mesa's CPU Vulkan driver (lavapipe):",
  "      sudo apt-get install mesa-vulkan-drivers",
  "    then run again (it is slow, a few GFLOP/s, but runs every kernel).",
].join("\n");

/**
 * Requests a high-performance adapter and a device with the adapter's maximum buffer limits.
 *
 * @example
 * ```ts
 * import { acquireDevice } from "@lzn/tensor";
 * const { device, adapter } = await acquireDevice(navigator.gpu);
 * console.log(adapter.name, adapter.isCpu);
 * device.destroy();
 * ```
 */
export async function acquireDevice(gpuApi: GPU | undefined): Promise<GpuContext> {
  if (!gpuApi) throw new Error(`${HOW_TO_GET_AN_ADAPTER}\n(navigator.gpu is undefined in this runtime.)`);
  const { result: adapter, backends, driver } = await withBackendChoice(() =>
    withQuietWsi(() => gpuApi.requestAdapter({ powerPreference: "high-performance" }))
  );
  if (!adapter) {
    throw new Error(
      driver
        ? `${HOW_TO_GET_AN_ADAPTER}\n(lzn asked only for the Vulkan backend because a Vulkan driver is installed ` +
          `(${driver}), and it offered no adapter. Set DENO_WEBGPU_BACKEND=vulkan,gl to let Deno try OpenGL too.)`
        : HOW_TO_GET_AN_ADAPTER,
    );
  }
  if (instanceBackends?.noVulkan) {
    // Linux without a Vulkan driver: Deno's wgpu falls back to OpenGL ES, where some kernels fail to build
    // (seen: the fused alignment backward on Mesa's llvmpipe) and `deno test` can abort at exit.
    console.error(
      "lzn: no Vulkan driver found, so WebGPU likely runs on OpenGL ES, where some lzn kernels fail; install one " +
        "(headless: sudo apt-get install mesa-vulkan-drivers, or `deno task setup` as root)",
    );
  }
  // Read the info before requestDevice: wgpu in Deno does not allow it afterwards.
  const info = adapter.info;
  const name = info.description || info.device || info.vendor || "unknown adapter";
  const isCpu = Boolean((info as GPUAdapterInfo & { isFallbackAdapter?: boolean }).isFallbackAdapter) ||
    /llvmpipe|lavapipe|swiftshader|software/i.test(name);
  const features = WANTED_FEATURES.filter((f) => adapter.features.has(f));
  const lim = adapter.limits;
  const device = await adapter.requestDevice({
    requiredFeatures: features,
    requiredLimits: {
      maxStorageBufferBindingSize: lim.maxStorageBufferBindingSize,
      maxBufferSize: lim.maxBufferSize,
      maxComputeWorkgroupStorageSize: lim.maxComputeWorkgroupStorageSize,
      maxComputeInvocationsPerWorkgroup: lim.maxComputeInvocationsPerWorkgroup,
      maxComputeWorkgroupSizeX: lim.maxComputeWorkgroupSizeX,
      maxComputeWorkgroupSizeY: lim.maxComputeWorkgroupSizeY,
      maxStorageBuffersPerShaderStage: lim.maxStorageBuffersPerShaderStage,
    },
  });
  device.lost.then((lost) => {
    // Reported, not swallowed: a lost device invalidates every tensor, so say so loudly.
    if (lost.reason !== "destroyed") {
      console.error(`lzn: WebGPU device lost (${lost.reason}): ${lost.message}`);
    }
  });
  device.addEventListener("uncapturederror", (ev) => {
    const message = (ev as GPUUncapturedErrorEvent).error.message;
    console.error(`lzn: uncaptured WebGPU error: ${message}`);
    firstGpuError ??= message;
  });
  const tuning = tuningOverride() ?? (isCpu ? "cpu" : "gpu");
  return { device, adapter: { name, vendor: info.vendor, isCpu, features, tuning, backends } };
}

/** The first WebGPU error that no error scope caught since {@link takeGpuError} last looked. */
let firstGpuError: string | undefined;

/**
 * Returns (and forgets) the first uncaptured WebGPU error since the last call: work recorded after such an
 * error may have run on nothing, so a readback checks this before it hands data to the caller.
 *
 * @example
 * ```ts
 * import { takeGpuError } from "./device.ts";
 * const pending = takeGpuError(); // undefined while the device has reported nothing
 * ```
 */
export function takeGpuError(): string | undefined {
  const e = firstGpuError;
  firstGpuError = undefined;
  return e;
}

/**
 * The backend set of this isolate's wgpu instance, fixed by the first request: Deno reads DENO_WEBGPU_BACKEND
 * only when it creates the instance, at the first `requestAdapter`, and keeps it for the life of the isolate.
 */
let instanceBackends: { backends: string; driver?: string; noVulkan?: boolean } | undefined;

/**
 * Runs `fn` (the first `requestAdapter`) with DENO_WEBGPU_BACKEND=vulkan on Linux when a Vulkan driver is
 * installed and the caller has not chosen backends; the variable is removed again afterwards, so child processes
 * see the caller's environment.
 *
 * Why: Deno's default starts every wgpu backend, and on Linux that includes OpenGL ES through EGL even when the
 * Vulkan adapter is the one used. libglvnd's libEGL then keeps per-thread state, with a thread-specific-data
 * destructor, for the thread that runs JavaScript. `deno test` and `deno bench` run each module on a worker
 * thread that Deno shuts down while its main thread is already in `exit()`; libEGL's exit-time destructor frees
 * every thread's state (without clearing the threads' slots) while the exiting worker's destructor frees its own
 * again. That double free aborts the process after every test has passed ("double free or corruption",
 * "corrupted size vs. prev_size", status 134, or 139), in some runs out of ten. With the Vulkan backend alone
 * libEGL is never initialised and the race cannot happen. (`deno run` is not affected: JavaScript runs on the
 * main thread, whose thread-specific destructors do not run at exit.)
 *
 * Left as Deno's default: other systems, a caller's own DENO_WEBGPU_BACKEND, no permission to read the
 * environment or the driver directories (nothing is prompted for), and a machine without a Vulkan driver, where
 * OpenGL is the only adapter and the abort at exit remains possible: install Mesa's lavapipe
 * (`apt-get install mesa-vulkan-drivers`) there.
 */
async function withBackendChoice<T>(
  fn: () => Promise<T>,
): Promise<{ result: T; backends: string; driver?: string }> {
  if (instanceBackends) return { result: await fn(), ...instanceBackends };
  const name = "DENO_WEBGPU_BACKEND";
  let set = false, driver: string | undefined, backends = "all", noVulkan = false;
  try {
    if (Deno.build.os === "linux" && envGranted(name)) {
      const own = Deno.env.get(name);
      if (own !== undefined) backends = own;
      else if ((driver = vulkanDriver()) !== undefined) {
        Deno.env.set(name, "vulkan");
        set = true;
        backends = "vulkan";
      } else noVulkan = readable("/"); // conclusive only where every path the search looks at is readable
    }
  } catch { /* no permission API (another runtime): leave the environment alone */ }
  instanceBackends = { backends, driver: set ? driver : undefined, noVulkan };
  try {
    return { result: await fn(), ...instanceBackends };
  } finally {
    if (set) Deno.env.delete(name);
  }
}

/** True when the environment variable `variable` may be read and set without a permission prompt. */
function envGranted(variable: string): boolean {
  return Deno.permissions.querySync({ name: "env", variable }).state === "granted";
}

/** True when `path` may be read without a permission prompt. */
function readable(path: string): boolean {
  return Deno.permissions.querySync({ name: "read", path }).state === "granted";
}

/** `Deno.env.get(name)` where readable without a prompt, else undefined. */
function env(name: string): string | undefined {
  return envGranted(name) ? Deno.env.get(name) : undefined;
}

/**
 * Where an installed Vulkan driver was found (its ICD manifest), or undefined. Needs both what the Vulkan loader
 * needs to offer an adapter: a driver manifest on the loader's search path (or named by VK_DRIVER_FILES /
 * VK_ICD_FILENAMES / VK_ADD_DRIVER_FILES) and the loader library itself, libvulkan.so.1. Looks only where reading
 * is already permitted; anything it cannot see counts as absent, which keeps Deno's default.
 */
function vulkanDriver(): string | undefined {
  if (!vulkanLoader()) return undefined;
  const listed = [env("VK_DRIVER_FILES") ?? env("VK_ICD_FILENAMES"), env("VK_ADD_DRIVER_FILES")]
    .flatMap((v) => (v ?? "").split(":")).filter((p) => p !== "");
  for (const p of listed) {
    if (readable(p) && exists(p)) return p;
  }
  // An explicit driver list replaces the search path.
  if (env("VK_DRIVER_FILES") ?? env("VK_ICD_FILENAMES")) return undefined;
  const home = env("HOME");
  const dirs = [
    env("XDG_CONFIG_HOME") ?? (home ? `${home}/.config` : ""),
    ...(env("XDG_CONFIG_DIRS") || "/etc/xdg").split(":"),
    "/usr/local/etc",
    "/etc",
    env("XDG_DATA_HOME") ?? (home ? `${home}/.local/share` : ""),
    ...(env("XDG_DATA_DIRS") || "/usr/local/share:/usr/share").split(":"),
  ].filter((d) => d !== "").map((d) => `${d}/vulkan/icd.d`);
  for (const dir of dirs) {
    if (!readable(dir)) continue;
    try {
      for (const e of Deno.readDirSync(dir)) if (e.name.endsWith(".json")) return `${dir}/${e.name}`;
    } catch { /* absent or unreadable directory */ }
  }
  return undefined;
}

/** True when the Vulkan loader library is on LD_LIBRARY_PATH or in a standard library directory. */
function vulkanLoader(): boolean {
  const triple = `${Deno.build.arch}-linux-gnu`;
  const dirs = [
    ...(env("LD_LIBRARY_PATH") ?? "").split(":"),
    `/usr/lib/${triple}`,
    `/lib/${triple}`,
    "/usr/lib64",
    "/lib64",
    "/usr/lib",
    "/lib",
    "/usr/local/lib",
  ].filter((d) => d !== "");
  return dirs.some((d) => readable(`${d}/libvulkan.so.1`) && exists(`${d}/libvulkan.so.1`));
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Runs `fn` with `XDG_RUNTIME_DIR` set when it is unset on Linux. Vulkan drivers load their window-system
 * layer while enumerating adapters, and libwayland prints "error: XDG_RUNTIME_DIR is invalid or not set" twice
 * on a headless machine although nothing is wrong; any absolute path silences it (no display is used). The
 * variable is removed again afterwards, and left alone without the permission to change it.
 */
async function withQuietWsi<T>(fn: () => Promise<T>): Promise<T> {
  const name = "XDG_RUNTIME_DIR";
  let set = false;
  try {
    if (
      Deno.build.os === "linux" &&
      Deno.permissions.querySync({ name: "env", variable: name }).state === "granted" &&
      !Deno.env.get(name)
    ) {
      Deno.env.set(name, "/nonexistent-lzn-headless");
      set = true;
    }
  } catch { /* no permission API (another runtime): leave the environment alone */ }
  try {
    return await fn();
  } finally {
    if (set) Deno.env.delete(name);
  }
}

let acquired: GpuContext | undefined;
let acquireError: Error | undefined;
try {
  acquired = await acquireDevice((globalThis.navigator as Navigator | undefined)?.gpu);
} catch (err) {
  acquireError = err instanceof Error ? err : new Error(String(err));
}

/**
 * The process-wide GPU context. Throws the acquisition error (with how to get an adapter) if there is none.
 *
 * @example
 * ```ts
 * import { gpu } from "@lzn/tensor";
 * const { device, adapter } = gpu();
 * console.log(`running on ${adapter.name}`);
 * ```
 */
export function gpu(): GpuContext {
  if (!acquired) throw acquireError ?? new Error(HOW_TO_GET_AN_ADAPTER);
  return acquired;
}

/**
 * True when a WebGPU device was acquired at import time.
 *
 * @example
 * ```ts
 * import { hasGpu } from "@lzn/tensor";
 * if (!hasGpu()) console.log("no WebGPU adapter");
 * ```
 */
export function hasGpu(): boolean {
  return acquired !== undefined;
}
