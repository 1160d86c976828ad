/**
 * Internal: an idle timeout. Its signal aborts with a `TransferTimeoutError` when
 * {@linkcode IdleWatchdog.touch} was not called for `idleMs`, or with the parent's reason when
 * the parent aborts.
 *
 * @module
 */

import { TransferTimeoutError } from "./errors.ts";

/**
 * Aborts its signal after `idleMs` without activity.
 *
 * @example
 * ```ts ignore
 * using watchdog = new IdleWatchdog(60_000, options.signal);
 * await abortable(reader.read(), watchdog.signal);
 * watchdog.touch();
 * ```
 */
export class IdleWatchdog implements Disposable {
  /** Aborts on idleness or when the parent aborts. */
  readonly signal: AbortSignal;
  #controller = new AbortController();
  #idleMs: number;
  #last = performance.now();
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(idleMs: number, parent?: AbortSignal) {
    if (!(idleMs > 0)) throw new RangeError(`idleTimeoutMs ${idleMs} must be positive`);
    this.#idleMs = idleMs;
    this.signal = parent
      ? AbortSignal.any([parent, this.#controller.signal])
      : this.#controller.signal;
    // Longer than setTimeout can wait (about 24.8 days): never time out.
    if (idleMs <= 0x7fff_ffff) this.#timer = setTimeout(() => this.#check(), idleMs);
  }

  /** Note activity. */
  touch(): void {
    this.#last = performance.now();
  }

  #check(): void {
    const left = this.#last + this.#idleMs - performance.now();
    if (left > 0) {
      this.#timer = setTimeout(() => this.#check(), left);
      return;
    }
    this.#timer = undefined;
    this.#controller.abort(new TransferTimeoutError(this.#idleMs));
  }

  /** Stop the timer. */
  [Symbol.dispose](): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
