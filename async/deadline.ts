/**
 * Reject a promise that does not settle in time, like `@std/async/deadline`.
 *
 * @module
 */

import { abortable } from "./abortable.ts";

/** Options for {@linkcode deadline}. */
export interface DeadlineOptions {
  /** Also give up when this signal aborts. */
  signal?: AbortSignal;
}

/** Raised by {@linkcode deadline} when the time runs out. */
export class DeadlineError extends Error {
  /**
   * Make a deadline error.
   *
   * @example
   * ```ts
   * import { DeadlineError } from "./deadline.ts";
   * const error = new DeadlineError(100);
   * if (error.name !== "DeadlineError") throw new Error("Bad name");
   * ```
   */
  constructor(ms: number) {
    super(`Deadline of ${ms} ms passed`);
    this.name = "DeadlineError";
  }
}

/**
 * Resolve with `promise`'s value, or reject with {@linkcode DeadlineError} after `ms`
 * milliseconds (or with `signal.reason` when the caller's signal aborts first).
 *
 * @example A slow promise misses its deadline
 * ```ts
 * import { deadline, DeadlineError } from "./deadline.ts";
 * import { delay } from "./delay.ts";
 * const error = await deadline(delay(1000), 10).catch((e) => e);
 * if (!(error instanceof DeadlineError)) throw new Error("Expected a deadline error");
 * ```
 */
export function deadline<T>(
  promise: Promise<T>,
  ms: number,
  options: DeadlineOptions = {},
): Promise<T> {
  const timeout = new AbortController();
  const timer = setTimeout(() => timeout.abort(new DeadlineError(ms)), ms);
  const signal = options.signal
    ? AbortSignal.any([options.signal, timeout.signal])
    : timeout.signal;
  return abortable(promise, signal).finally(() => clearTimeout(timer));
}
