/**
 * Counters a server keeps for logs, tests and (later) its metrics endpoint.
 *
 * @module
 */

/**
 * Named monotonic counters, optionally with one label (e.g. `errors{kind=ErrorSyntax}`).
 *
 * @example
 * ```ts
 * import { Counters } from "./stats.ts";
 * const counters = new Counters();
 * counters.inc("exchanges");
 * counters.inc("errors", "ErrorSyntax", 2);
 * if (counters.get("exchanges") !== 1 || counters.get("errors", "ErrorSyntax") !== 2) throw new Error("Bad counts");
 * ```
 */
export class Counters {
  #values = new Map<string, number>();

  /**
   * Add `by` (default 1) to a counter.
   *
   * @example
   * ```ts
   * import { Counters } from "./stats.ts";
   * const counters = new Counters();
   * counters.inc("connections", undefined, 3);
   * if (counters.get("connections") !== 3) throw new Error("Bad count");
   * ```
   */
  inc(name: string, label?: string, by = 1): void {
    const key = label === undefined ? name : `${name}{${label}}`;
    this.#values.set(key, (this.#values.get(key) ?? 0) + by);
  }

  /**
   * A counter's value (0 when never counted).
   *
   * @example
   * ```ts
   * import { Counters } from "./stats.ts";
   * if (new Counters().get("nothing") !== 0) throw new Error("Not zero");
   * ```
   */
  get(name: string, label?: string): number {
    return this.#values.get(label === undefined ? name : `${name}{${label}}`) ?? 0;
  }

  /**
   * Every counter as `name` or `name{label}` → value.
   *
   * @example
   * ```ts
   * import { Counters } from "./stats.ts";
   * const counters = new Counters();
   * counters.inc("a");
   * if (counters.snapshot().a !== 1) throw new Error("Missing");
   * ```
   */
  snapshot(): Record<string, number> {
    return Object.fromEntries(this.#values);
  }
}
