/**
 * Errors that describe a user's mistake in what they gave a command (a file, a value), as opposed to a bug:
 * the CLI prints their message as one line, without a stack trace.
 *
 * @module
 */

/**
 * A bad input: a missing or unreadable file, a file in the wrong format, values out of range.
 *
 * @example
 * ```ts
 * import { InputError } from "@lzn/tasks";
 * try {
 *   throw new InputError("digits.npy: expected uint8 or float32 data, got int64");
 * } catch (e) {
 *   if (e instanceof InputError) console.error(`error: ${e.message}`);
 * }
 * ```
 */
export class InputError extends Error {
  /** Wraps a message. */
  constructor(message: string) {
    super(message);
    this.name = "InputError";
  }
}
