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
  const adapter = await gpuApi.requestAdapter({ powerPreference: "high-performance" });
  if (!adapter) throw new Error(HOW_TO_GET_AN_ADAPTER);
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
    console.error(`lzn: uncaptured WebGPU error: ${(ev as GPUUncapturedErrorEvent).error.message}`);
  });
  const tuning = tuningOverride() ?? (isCpu ? "cpu" : "gpu");
  return { device, adapter: { name, vendor: info.vendor, isCpu, features, tuning } };
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
