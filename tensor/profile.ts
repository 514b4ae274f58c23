/**
 * Where the GPU time of a piece of work goes, kernel by kernel: runs a function with every dispatch timed by
 * timestamp queries and sums the times per kernel name and grid. For diagnosis (each dispatch gets a pass of
 * its own), not for benchmarks.
 *
 * @module
 */
import { beginDispatchTiming, type DispatchTime, endDispatchTiming } from "./recorder.ts";

/**
 * The GPU time of one kernel (same name and workgroup grid) within a profile.
 *
 * @example
 * ```ts
 * import type { KernelTime } from "@lzn/tensor";
 * const line = (k: KernelTime) => `${k.name} [${k.workgroups}] x${k.calls}: ${k.ms.toFixed(3)} ms`;
 * ```
 */
export interface KernelTime {
  /** Kernel name. */
  name: string;
  /** Workgroup counts of its dispatches. */
  workgroups: [number, number, number];
  /** Dispatches of this kernel and grid. */
  calls: number;
  /** Their summed GPU time in milliseconds. */
  ms: number;
}

/**
 * What {@link profileKernels} measured.
 *
 * @example
 * ```ts
 * import type { KernelProfile } from "@lzn/tensor";
 * const top = (p: KernelProfile) => p.kernels.slice(0, 5).map((k) => k.name);
 * ```
 */
export interface KernelProfile {
  /** Number of dispatches timed. */
  dispatches: number;
  /** Summed GPU time of every dispatch, milliseconds. */
  totalMs: number;
  /** Per kernel and grid, slowest first. */
  kernels: KernelTime[];
  /** Every dispatch in recording order. */
  timeline: DispatchTime[];
}

/**
 * Runs `work` (which should free what it allocates; it may be async) with every dispatch timed on the GPU and
 * returns the time per kernel, slowest first. Needs an adapter with `timestamp-query`. Timing is global: any
 * other work recorded meanwhile is timed too.
 *
 * @example
 * ```ts
 * import { profileKernels, randn, scope } from "@lzn/tensor";
 * const x = randn([512, 512], { seed: 1 });
 * const p = await profileKernels(() => scope(() => void x.matmul(x).relu()));
 * for (const k of p.kernels) console.log(k.name, k.ms.toFixed(3), "ms");
 * x.dispose();
 * ```
 */
export async function profileKernels(work: () => void | Promise<void>): Promise<KernelProfile> {
  beginDispatchTiming();
  try {
    await work();
  } catch (e) {
    await endDispatchTiming();
    throw e;
  }
  const timeline = await endDispatchTiming();
  const byKey = new Map<string, KernelTime>();
  let totalNs = 0;
  for (const t of timeline) {
    totalNs += t.ns;
    const key = `${t.name}|${t.workgroups.join(",")}`;
    const k = byKey.get(key) ?? { name: t.name, workgroups: t.workgroups, calls: 0, ms: 0 };
    k.calls++;
    k.ms += t.ns / 1e6;
    byKey.set(key, k);
  }
  const kernels = [...byKey.values()].sort((a, b) => b.ms - a.ms);
  return { dispatches: timeline.length, totalMs: totalNs / 1e6, kernels, timeline };
}
