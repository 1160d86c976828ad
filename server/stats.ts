/**
 * Counters and gauges a server keeps for logs, tests and its metrics endpoint (`metrics.ts`).
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

/** Reads a gauge's current value (called at each scrape; keep it cheap and never throw). */
export type GaugeReader = () => number;

/**
 * Named gauges, read when asked: each is a function the owner of the value registers (a table's
 * size, open connections). Several readers under one name and label add up, so two parts of the
 * server can each contribute to, say, `connections_open{relay}`.
 *
 * @example
 * ```ts
 * import { Gauges } from "./stats.ts";
 * const gauges = new Gauges();
 * const rooms = new Set([1, 2]);
 * const remove = gauges.add("rooms", undefined, () => rooms.size);
 * gauges.add("connections_open", "relay", () => 3);
 * gauges.add("connections_open", "relay", () => 1);
 * const values = gauges.snapshot();
 * if (values.rooms !== 2 || values["connections_open{relay}"] !== 4) throw new Error("Bad gauges");
 * remove();
 * if ("rooms" in gauges.snapshot()) throw new Error("Not removed");
 * ```
 */
export class Gauges {
  #readers = new Map<string, Set<GaugeReader>>();

  /**
   * Register a reader for `name` (with an optional label); returns a function that removes it.
   *
   * @example
   * ```ts
   * import { Gauges } from "./stats.ts";
   * const gauges = new Gauges();
   * gauges.add("chat_users", undefined, () => 5);
   * if (gauges.get("chat_users") !== 5) throw new Error("Not read");
   * ```
   */
  add(name: string, label: string | undefined, read: GaugeReader): () => void {
    const key = label === undefined ? name : `${name}{${label}}`;
    let readers = this.#readers.get(key);
    if (readers === undefined) this.#readers.set(key, readers = new Set());
    // A wrapper, so the same function registered twice counts twice and is removed once.
    const entry: GaugeReader = () => read();
    readers.add(entry);
    return () => {
      readers.delete(entry);
      if (readers.size === 0 && this.#readers.get(key) === readers) this.#readers.delete(key);
    };
  }

  /**
   * A gauge's value now: the sum of its readers (0 when none is registered). A reader that
   * throws or returns a non-finite number counts as 0.
   *
   * @example
   * ```ts
   * import { Gauges } from "./stats.ts";
   * if (new Gauges().get("nothing") !== 0) throw new Error("Not zero");
   * ```
   */
  get(name: string, label?: string): number {
    const readers = this.#readers.get(label === undefined ? name : `${name}{${label}}`);
    return readers === undefined ? 0 : sum(readers);
  }

  /**
   * Every registered gauge, as `name` or `name{label}` → value.
   *
   * @example
   * ```ts
   * import { Gauges } from "./stats.ts";
   * const gauges = new Gauges();
   * gauges.add("a", "x", () => 1);
   * if (gauges.snapshot()["a{x}"] !== 1) throw new Error("Missing");
   * ```
   */
  snapshot(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [key, readers] of this.#readers) out[key] = sum(readers);
    return out;
  }
}

function sum(readers: Iterable<GaugeReader>): number {
  let total = 0;
  for (const read of readers) {
    let value: number;
    try {
      value = read();
    } catch {
      value = 0;
    }
    if (Number.isFinite(value)) total += value;
  }
  return total;
}
