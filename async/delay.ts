/**
 * Wait for a number of milliseconds, like `@std/async/delay`.
 *
 * @module
 */

/** Options for {@linkcode delay}. */
export interface DelayOptions {
  /** Rejects the returned promise with `signal.reason` when aborted. */
  signal?: AbortSignal;
}

/**
 * Resolve after `ms` milliseconds, or reject with `signal.reason` when the signal aborts first.
 * The timer and the abort listener are always removed.
 *
 * @example Wait 10 ms
 * ```ts
 * import { delay } from "./delay.ts";
 * const start = Date.now();
 * await delay(10);
 * if (Date.now() - start < 9) throw new Error("Too early");
 * ```
 */
export function delay(ms: number, options: DelayOptions = {}): Promise<void> {
  const { signal } = options;
  if (signal?.aborted) return Promise.reject(signal.reason);
  return new Promise((resolve, reject) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * Resolve after `ms` milliseconds, or as soon as `signal` aborts; never rejects. For loops that
 * check the signal themselves after each pause. The timer and the abort listener are always
 * removed.
 *
 * @example A pause that ends when the work is cancelled
 * ```ts
 * import { pause } from "./delay.ts";
 * const controller = new AbortController();
 * const paused = pause(60_000, controller.signal);
 * controller.abort();
 * await paused; // at once, and without throwing
 * ```
 */
export function pause(ms: number, signal?: AbortSignal): Promise<void> {
  return delay(ms, { signal }).catch(() => {});
}
