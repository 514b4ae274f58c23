/**
 * Compute kernels: WGSL source -> pipeline, cached by source text, with explicit bind-group layouts so that
 * the per-dispatch uniform block can use a dynamic offset into one shared arena.
 *
 * Binding convention (group 0): bindings `0..n-1` are the storage buffers in the order of
 * {@link KernelSpec.storage}; when {@link KernelSpec.uniform} is set, binding `n` is a uniform block
 * (`var<uniform> u: Params`) read from the params arena at a dynamic offset.
 *
 * @module
 */
import { gpu } from "./device.ts";

/**
 * How a kernel binds its storage buffers and whether it reads a uniform params block.
 *
 * @example
 * ```ts
 * import { bindings, kernel, type KernelSpec } from "@lzn/tensor";
 * const spec: KernelSpec = {
 *   name: "scale",
 *   storage: ["read_write"],
 *   uniform: 16,
 *   wgsl: `${bindings([["y", "read_write", "f32"]])}
 *   struct Params { s: f32, n: u32, a: u32, b: u32 }
 *   @group(0) @binding(1) var<uniform> u: Params;
 *   @compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3u) {
 *     if (g.x < u.n) { y[g.x] = y[g.x] * u.s; } }`,
 * };
 * const k = kernel(spec);
 * ```
 */
export interface KernelSpec {
  /** A label for errors and profiling. */
  name: string;
  /** Full WGSL source, entry point `main`. */
  wgsl: string;
  /** Access mode of each storage binding, in binding order. */
  storage: ("read" | "read_write")[];
  /** Byte size of the uniform params block at binding `storage.length`, if any (at most 256). */
  uniform?: number;
}

/**
 * A compiled kernel ready to dispatch.
 *
 * @example
 * ```ts
 * import { type Kernel, kernel } from "@lzn/tensor";
 * const k: Kernel = kernel({
 *   name: "zero",
 *   storage: ["read_write"],
 *   wgsl: `@group(0) @binding(0) var<storage, read_write> y: array<f32>;
 *   @compute @workgroup_size(1) fn main() { y[0] = 0.0; }`,
 * });
 * console.log(k.spec.name, k.layout.label);
 * ```
 */
export interface Kernel {
  /** The spec it was compiled from. */
  readonly spec: KernelSpec;
  /** The compute pipeline. */
  readonly pipeline: GPUComputePipeline;
  /** The bind-group layout (group 0). */
  readonly layout: GPUBindGroupLayout;
}

const cache = new Map<string, Kernel>();

/**
 * Number of distinct kernels compiled so far (diagnostics; tests keep it bounded).
 *
 * @example
 * ```ts
 * import { compiledKernelCount, tensor } from "@lzn/tensor";
 * const before = compiledKernelCount();
 * tensor([1, 2], [2]).add(1);
 * console.log(compiledKernelCount() - before); // kernels compiled by the first `add` on this shape
 * ```
 */
export function compiledKernelCount(): number {
  return cache.size;
}

/**
 * Compiles (or returns the cached) kernel for a spec. A WGSL error throws with the compiler's messages and
 * the numbered source.
 *
 * @example
 * ```ts
 * import { kernel } from "@lzn/tensor";
 * const k = kernel({
 *   name: "fill",
 *   storage: ["read_write"],
 *   wgsl: `@group(0) @binding(0) var<storage, read_write> y: array<f32>;
 *   @compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3u) {
 *     if (g.x < arrayLength(&y)) { y[g.x] = 1.0; } }`,
 * });
 * console.log(k.spec.name);
 * ```
 */
export function kernel(spec: KernelSpec): Kernel {
  const key = `${spec.storage.join(",")}|${spec.uniform ?? 0}|${spec.wgsl}`;
  const hit = cache.get(key);
  if (hit) return hit;
  const { device } = gpu();
  device.pushErrorScope("validation");
  const module = device.createShaderModule({ label: spec.name, code: spec.wgsl });
  const entries: GPUBindGroupLayoutEntry[] = spec.storage.map((mode, binding) => ({
    binding,
    visibility: GPUShaderStage.COMPUTE,
    buffer: { type: mode === "read" ? "read-only-storage" : "storage" },
  }));
  if (spec.uniform) {
    entries.push({
      binding: spec.storage.length,
      visibility: GPUShaderStage.COMPUTE,
      buffer: { type: "uniform", hasDynamicOffset: true, minBindingSize: spec.uniform },
    });
  }
  const layout = device.createBindGroupLayout({ label: spec.name, entries });
  const pipeline = device.createComputePipeline({
    label: spec.name,
    layout: device.createPipelineLayout({ bindGroupLayouts: [layout] }),
    compute: { module, entryPoint: "main" },
  });
  // Validation errors surface asynchronously; report them with the source so a bad generator is debuggable.
  device.popErrorScope().then(async (err) => {
    if (!err) return;
    const info = await module.getCompilationInfo();
    const msgs = info.messages.map((m) => `  ${m.type} at ${m.lineNum}:${m.linePos}: ${m.message}`).join(
      "\n",
    );
    console.error(
      `lzn: kernel "${spec.name}" failed to compile: ${err.message}\n${msgs}\n${numbered(spec.wgsl)}`,
    );
  });
  const k: Kernel = { spec, pipeline, layout };
  cache.set(key, k);
  return k;
}

function numbered(src: string): string {
  return src.split("\n").map((l, i) => `${String(i + 1).padStart(4)}| ${l}`).join("\n");
}

/**
 * WGSL declarations of storage bindings in the kernel convention.
 *
 * @example
 * ```ts
 * import { bindings } from "@lzn/tensor";
 * const decl = bindings([["x", "read", "f32"], ["y", "read_write", "f32"]]);
 * // @group(0) @binding(0) var<storage, read> x: array<f32>; ...
 * console.log(decl);
 * ```
 */
export function bindings(list: [name: string, mode: "read" | "read_write", elem: string][]): string {
  return list.map(([name, mode, elem], i) =>
    `@group(0) @binding(${i}) var<storage, ${mode}> ${name}: array<${elem}>;`
  )
    .join("\n");
}

/**
 * Formats a number as a WGSL f32 literal (always with a decimal point or exponent).
 *
 * @example
 * ```ts
 * import { f32Lit } from "@lzn/tensor";
 * console.log(f32Lit(2), f32Lit(0.5)); // "f32(2.0)" "f32(0.5)"
 * const wgsl = `let eps = ${f32Lit(1e-5)};`;
 * ```
 */
export function f32Lit(v: number): string {
  if (Number.isNaN(v)) return "bitcast<f32>(0x7fc00000u)";
  if (v === Infinity) return "bitcast<f32>(0x7f800000u)";
  if (v === -Infinity) return "bitcast<f32>(0xff800000u)";
  const s = String(Math.fround(v));
  return /[.eE]/.test(s) ? `f32(${s})` : `f32(${s}.0)`;
}

/**
 * WGSL `fn is_nan(x: f32) -> bool`, for kernels that must propagate NaN. It tests the bits: WGSL lets compilers
 * assume finite math, and Deno's (naga -> SPIR-V) compiles `x != x` as an ordered compare, false for NaN.
 * Include it once in a kernel's source.
 *
 * @example
 * ```ts
 * import { IS_NAN_WGSL } from "@lzn/tensor";
 * const wgsl = `${IS_NAN_WGSL}
 * fn nan_max(a: f32, b: f32) -> f32 { if (is_nan(a) || is_nan(b)) { return a + b; } return max(a, b); }`;
 * ```
 */
export const IS_NAN_WGSL =
  "fn is_nan(x: f32) -> bool { return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u; }";
