/**
 * The progress line of long commands: `step 120/600  loss 0.3124  1.85 it/s  ETA 3m49s`.
 *
 * @module
 */

/**
 * A duration in seconds as `1h02m`, `3m49s` or `12s`.
 *
 * @example
 * ```ts
 * import { formatDuration } from "@lzn/tasks";
 * console.log(formatDuration(229)); // "3m49s"
 * ```
 */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return "?";
  const s = Math.max(0, Math.round(seconds));
  if (s >= 3600) return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
  if (s >= 60) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${s}s`;
}

/**
 * One progress report.
 *
 * @example
 * ```ts
 * import { formatProgress, type ProgressReport } from "@lzn/tasks";
 * const report: ProgressReport = { step: 300, total: 600, loss: 0.25, terms: {}, itPerSec: 2, skipped: 1 };
 * console.log(formatProgress(report)); // step 300/600  loss 0.2500  2.00 it/s  ETA 2m30s  skipped 1
 * ```
 */
export interface ProgressReport {
  /** Steps done. */
  step: number;
  /** Steps in total. */
  total: number;
  /** Mean total loss (the weighted sum of the terms) over the finite steps since the last report. */
  loss: number;
  /** Mean of each objective term (unweighted) over the same steps; shown when there are several. */
  terms: Record<string, number>;
  /** Steps per second over the steps since the last report. */
  itPerSec: number;
  /** Steps skipped as non-finite so far. */
  skipped: number;
  /** GPU memory the tensor buffer pool holds at the report, in use or cached for reuse (bytes); optional. */
  gpuBytes?: number;
}

/**
 * Formats a {@link ProgressReport} as one line.
 *
 * @example
 * ```ts
 * import { formatProgress } from "@lzn/tasks";
 * console.log(formatProgress({ step: 120, total: 600, loss: 0.3, terms: { label: 0.1, rf: 0.2 }, itPerSec: 1.85, skipped: 0 }));
 * // step 120/600  loss 0.3000 (label 0.1000, rf 0.2000)  1.85 it/s  ETA 4m19s
 * console.log(formatProgress({ step: 5, total: 10, loss: 1, terms: {}, itPerSec: 5, skipped: 0, gpuBytes: 3 * 2 ** 29 }));
 * // step  5/10  loss 1.0000  5.00 it/s  ETA 1s  GPU 1.50 GiB
 * ```
 */
export function formatProgress(r: ProgressReport): string {
  const eta = r.itPerSec > 0 ? (r.total - r.step) / r.itPerSec : Infinity;
  const width = String(r.total).length;
  const names = Object.keys(r.terms);
  const parts = names.length > 1 ? ` (${names.map((n) => `${n} ${r.terms[n].toFixed(4)}`).join(", ")})` : "";
  return `step ${String(r.step).padStart(width)}/${r.total}  loss ${r.loss.toFixed(4)}${parts}  ` +
    `${r.itPerSec.toFixed(2)} it/s  ETA ${formatDuration(eta)}` +
    (r.gpuBytes !== undefined ? `  GPU ${formatBytes(r.gpuBytes)}` : "") +
    (r.skipped ? `  skipped ${r.skipped}` : "");
}

function formatBytes(bytes: number): string {
  return bytes >= 2 ** 30 ? `${(bytes / 2 ** 30).toFixed(2)} GiB` : `${(bytes / 2 ** 20).toFixed(0)} MiB`;
}
