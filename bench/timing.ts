/**
 * The launch timer of the kernel benchmarks (`gpu_core.ts`, `gpu_conv.ts`, `winograd.ts`): one method, so
 * that their tables can be compared row by row.
 *
 * @module
 */
import { synchronize } from "../tensor/mod.ts";

/** How a launch is timed. */
export interface LaunchTiming {
  /** Launches per sample; 0 calibrates it so that one sample's launches take about `targetMs`. */
  reps: number;
  /** Samples returned. */
  samples: number;
  /** The calibration target in ms (default 250). */
  targetMs?: number;
  /** The launch count calibration starts from (default 2); it doubles until the target is met. */
  start?: number;
}

/**
 * Milliseconds per launch, one value per sample. A sample records `r` launches, waits for the queue, then
 * `2r` launches and waits again, and takes the difference over `r`: Deno's completion wait (~11 ms, a
 * sleep in its poll loop) is in both and cancels, so sub-millisecond kernels are not charged for it. One
 * warm-up sample first (pipelines, buffer pool, clocks).
 *
 * @example
 * ```ts
 * import { tensor } from "../tensor/mod.ts";
 * import { launchTimes } from "./timing.ts";
 * const x = tensor(new Float32Array(1024), [1024]);
 * const ms = await launchTimes(() => x.add(x).dispose(), { reps: 2, samples: 3 });
 * console.log(ms.length); // 3
 * x.dispose();
 * ```
 */
export async function launchTimes(launch: () => void, opts: LaunchTiming): Promise<number[]> {
  const run = async (n: number) => {
    await synchronize();
    const t0 = performance.now();
    for (let i = 0; i < n; i++) launch();
    await synchronize();
    return performance.now() - t0;
  };
  const targetMs = opts.targetMs ?? 250;
  let r = opts.reps || Math.max(1, opts.start ?? 2);
  await run(r);
  if (!opts.reps) {
    const idle = await run(0);
    while (r < 100000 && (await run(r)) - idle < targetMs) r *= 2;
  }
  const out: number[] = [];
  for (let i = 0; i < opts.samples; i++) {
    const one = await run(r), two = await run(2 * r);
    out.push(Math.max(0, two - one) / r);
  }
  return out;
}
