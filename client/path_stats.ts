/**
 * Counters of connection attempts and outcomes per path, kept by the library so a program (or
 * the server's metrics endpoint) can report them.
 *
 * @module
 */

/** The paths a connection can take. */
export type ConnectionPath = "direct-tcp" | "direct-udp" | "relay";

/** What happened to one path of one connection. */
export type PathOutcome = "attempted" | "won" | "lost" | "failed";

/**
 * Attempt and outcome counters per path: `attempted` when a path starts, then one of `won` (it
 * carried the connection), `lost` (it worked, but another path was first) or `failed`.
 *
 * @example
 * ```ts
 * import { PathStats } from "./path_stats.ts";
 * const stats = new PathStats();
 * stats.record("direct-tcp", "attempted");
 * stats.record("direct-tcp", "won");
 * if (stats.get("direct-tcp", "won") !== 1) throw new Error("Not counted");
 * ```
 */
export class PathStats {
  #counts = new Map<string, number>();

  /**
   * Count one outcome.
   *
   * @example
   * ```ts
   * import { PathStats } from "./path_stats.ts";
   * new PathStats().record("relay", "failed");
   * ```
   */
  record(path: ConnectionPath, outcome: PathOutcome): void {
    const key = `${path} ${outcome}`;
    this.#counts.set(key, (this.#counts.get(key) ?? 0) + 1);
  }

  /**
   * One counter's value.
   *
   * @example
   * ```ts
   * import { PathStats } from "./path_stats.ts";
   * if (new PathStats().get("relay", "won") !== 0) throw new Error("Not zero");
   * ```
   */
  get(path: ConnectionPath, outcome: PathOutcome): number {
    return this.#counts.get(`${path} ${outcome}`) ?? 0;
  }

  /**
   * Every counter, as `{ path, outcome, count }` rows.
   *
   * @example
   * ```ts
   * import { PathStats } from "./path_stats.ts";
   * const stats = new PathStats();
   * stats.record("direct-udp", "attempted");
   * if (stats.snapshot()[0]?.count !== 1) throw new Error("Missing row");
   * ```
   */
  snapshot(): { path: ConnectionPath; outcome: PathOutcome; count: number }[] {
    return [...this.#counts].map(([key, count]) => {
      const [path, outcome] = key.split(" ") as [ConnectionPath, PathOutcome];
      return { path, outcome, count };
    });
  }
}
