/**
 * Generation accuracy of a conditional generator: the share of samples generated for class c that the
 * reference classifier labels c, overall and per class.
 *
 * @module
 */

/**
 * Counts and accuracy of one class (or of all samples).
 *
 * @example
 * ```ts
 * import { type ClassTally, generationAccuracy } from "@lzn/metrics";
 * const tally: ClassTally = generationAccuracy([0, 1, 1], [0, 1, 0], 2).perClass[0];
 * console.log(tally); // { correct: 1, total: 2, accuracy: 0.5 }
 * ```
 */
export interface ClassTally {
  /** Samples whose predicted class equals the intended one. */
  correct: number;
  /** Samples generated for this class. */
  total: number;
  /** `correct / total` (NaN when `total` is 0: no samples were asked for). */
  accuracy: number;
}

/**
 * Generation accuracy overall and per intended class.
 *
 * @example
 * ```ts
 * import type { GenerationAccuracy } from "@lzn/metrics";
 * const report: GenerationAccuracy = {
 *   overall: { correct: 3, total: 4, accuracy: 0.75 },
 *   perClass: [{ correct: 2, total: 2, accuracy: 1 }, { correct: 1, total: 2, accuracy: 0.5 }],
 *   confusion: [[2, 0], [1, 1]],
 * };
 * console.log(report.overall.accuracy);
 * ```
 */
export interface GenerationAccuracy {
  /** Over every sample. */
  overall: ClassTally;
  /** Index c: the samples generated for class c. */
  perClass: ClassTally[];
  /** `confusion[intended][predicted]`: sample counts. */
  confusion: number[][];
}

/**
 * Compares the classes a reference classifier predicted for generated samples with the classes they were
 * generated for.
 *
 * @example
 * ```ts
 * import { generationAccuracy } from "@lzn/metrics";
 * const r = generationAccuracy([0, 1, 1, 2], [0, 1, 2, 2], 3);
 * console.log(r.overall.accuracy, r.perClass[2].accuracy); // 0.75 0.5
 * ```
 */
export function generationAccuracy(
  predicted: ArrayLike<number>,
  intended: ArrayLike<number>,
  classes: number,
): GenerationAccuracy {
  if (predicted.length !== intended.length) {
    throw new RangeError(
      `generationAccuracy: ${predicted.length} predictions for ${intended.length} intended labels`,
    );
  }
  if (!Number.isInteger(classes) || classes < 1) {
    throw new RangeError(`generationAccuracy: classes must be a positive integer, got ${classes}`);
  }
  const confusion = Array.from({ length: classes }, () => new Array<number>(classes).fill(0));
  for (let i = 0; i < intended.length; i++) {
    const want = intended[i], got = predicted[i];
    for (const [what, c] of [["intended", want], ["predicted", got]] as const) {
      if (!Number.isInteger(c) || c < 0 || c >= classes) {
        throw new RangeError(
          `generationAccuracy: ${what} label ${c} of sample ${i} is outside 0..${classes - 1}`,
        );
      }
    }
    confusion[want][got]++;
  }
  const tally = (correct: number, total: number): ClassTally => ({
    correct,
    total,
    accuracy: total ? correct / total : NaN,
  });
  const perClass = confusion.map((row, c) => tally(row[c], row.reduce((s, x) => s + x, 0)));
  const overall = tally(
    perClass.reduce((s, t) => s + t.correct, 0),
    intended.length,
  );
  return { overall, perClass, confusion };
}
