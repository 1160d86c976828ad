/**
 * Retry an async function with exponential backoff, like `@std/async/retry`.
 *
 * @module
 */

import { delay } from "./delay.ts";

/** Options for {@linkcode retry}. */
export interface RetryOptions {
  /** How much the delay grows after each attempt. @default {2} */
  multiplier?: number;
  /** The longest delay between two attempts, in milliseconds. @default {60000} */
  maxTimeout?: number;
  /** How many attempts in all before giving up. @default {5} */
  maxAttempts?: number;
  /** The delay after the first failure, in milliseconds. @default {1000} */
  minTimeout?: number;
  /** Randomise each delay by up to this fraction (0 to 1). @default {1} */
  jitter?: number;
  /** Stop retrying (and reject with `signal.reason`) when this aborts. */
  signal?: AbortSignal;
  /** Return false to stop retrying on this error and reject with it at once. */
  shouldRetry?: (error: unknown) => boolean;
}

/** Raised by {@linkcode retry} when every attempt failed; the last failure is in `cause`. */
export class RetryError extends Error {
  /**
   * Make a retry error.
   *
   * @example
   * ```ts
   * import { RetryError } from "./retry.ts";
   * const error = new RetryError(new Error("Down"), 3);
   * if (!error.message.includes("3")) throw new Error("Bad message");
   * ```
   */
  constructor(cause: unknown, attempts: number) {
    super(`Retrying exceeded the maxAttempts (${attempts})`, { cause });
    this.name = "RetryError";
  }
}

/**
 * Call `fn` until it resolves, waiting longer after each failure.
 *
 * @example Succeeds on the third try
 * ```ts
 * import { retry } from "./retry.ts";
 * let calls = 0;
 * const value = await retry(() => {
 *   calls++;
 *   if (calls < 3) throw new Error("Not yet");
 *   return Promise.resolve("ok");
 * }, { minTimeout: 1 });
 * if (value !== "ok" || calls !== 3) throw new Error("Unexpected");
 * ```
 */
export async function retry<T>(fn: () => Promise<T>, options: RetryOptions = {}): Promise<T> {
  const {
    multiplier = 2,
    maxTimeout = 60000,
    maxAttempts = 5,
    minTimeout = 1000,
    jitter = 1,
    signal,
    shouldRetry = () => true,
  } = options;
  if (!(maxAttempts >= 1)) {
    throw new RangeError(`Cannot retry: maxAttempts is ${maxAttempts}, it must be at least 1`);
  }
  if (!(minTimeout >= 0)) {
    throw new RangeError(`Cannot retry: minTimeout is ${minTimeout}, it must be at least 0`);
  }
  if (!(jitter >= 0 && jitter <= 1)) {
    throw new RangeError(`Cannot retry: jitter is ${jitter}, it must be between 0 and 1`);
  }
  for (let attempt = 1;; attempt++) {
    signal?.throwIfAborted();
    try {
      return await fn();
    } catch (error) {
      if (signal?.aborted) throw signal.reason;
      if (!shouldRetry(error)) throw error;
      if (attempt >= maxAttempts) throw new RetryError(error, maxAttempts);
      const base = Math.min(maxTimeout, minTimeout * multiplier ** (attempt - 1));
      await delay(base * (1 - jitter * Math.random()), { signal });
    }
  }
}
