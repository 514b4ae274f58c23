/**
 * Learning-rate schedules as pure factors of the scheduler step, multiplied into each group's lr through
 * `Adam.step({ lrScale })` (a uniform, so no recompilation).
 *
 * @module
 */

/**
 * PyTorch `LinearLR(start_factor, end_factor = 1, total_iters = warmupSteps)` at scheduler step `step`:
 * `startFactor + (1 - startFactor) * min(step, warmupSteps) / warmupSteps` (lzn-spec §5.5 uses
 * warmupSteps = 5000 and startFactor = 1/5000). With `warmupSteps <= 0` the factor is 1.
 *
 * The spec advances the scheduler only after a finite update; a caller that skips steps on the GPU
 * (`finiteFlag`) without reading the flag counts every step, which differs only on non-finite steps.
 *
 * @example
 * ```ts
 * import { linearWarmup } from "@lzn/tensor";
 * linearWarmup(0, 5000); // 0.0002
 * linearWarmup(2500, 5000); // 0.5001
 * linearWarmup(9999, 5000); // 1
 * ```
 */
export function linearWarmup(step: number, warmupSteps: number, startFactor?: number): number {
  if (warmupSteps <= 0) return 1;
  const s = startFactor ?? 1 / warmupSteps;
  return s + (1 - s) * Math.min(Math.max(step, 0), warmupSteps) / warmupSteps;
}

/**
 * The learning-rate factor at scheduler step `step`: the {@link linearWarmup}, times a cosine decay to 0 at
 * `steps` when `kind` is `"cosine"` (constant after warm-up otherwise, as the release).
 *
 * @example
 * ```ts
 * import { lrFactor } from "@lzn/tensor";
 * console.log(lrFactor(50, { warmupSteps: 0, steps: 100, kind: "cosine" })); // 0.5
 * console.log(lrFactor(10, { warmupSteps: 20, steps: 100, kind: "constant" })); // 0.525
 * ```
 */
export function lrFactor(
  step: number,
  schedule: { warmupSteps: number; steps: number; kind: "constant" | "cosine" },
): number {
  const warm = linearWarmup(step, schedule.warmupSteps);
  if (schedule.kind === "constant") return warm;
  return warm * 0.5 * (1 + Math.cos(Math.PI * Math.min(step, schedule.steps) / schedule.steps));
}
