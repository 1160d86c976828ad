/**
 * Make any promise give up when a signal aborts, like `@std/async/abortable`.
 *
 * @module
 */

/**
 * Race `promise` against `signal`: rejects with `signal.reason` as soon as the signal aborts.
 * The abort listener is always removed. The underlying operation is not cancelled; callers
 * close their resources in `finally`.
 *
 * @example Give up on a promise that never settles
 * ```ts
 * import { abortable } from "./abortable.ts";
 * const never = new Promise<number>(() => {});
 * const controller = new AbortController();
 * controller.abort(new Error("Stop"));
 * const result = await abortable(never, controller.signal).catch((e) => e.message);
 * if (result !== "Stop") throw new Error("Expected abort");
 * ```
 */
export function abortable<T>(promise: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted) {
    promise.catch(() => {});
    return Promise.reject(signal.reason);
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => {
      promise.catch(() => {});
      reject(signal.reason);
    };
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (error) => {
        signal.removeEventListener("abort", onAbort);
        reject(error);
      },
    );
  });
}
