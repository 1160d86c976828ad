/**
 * Readiness: a list of named checks that must all pass before the server should get traffic
 * (`GET /readyz`). The server registers `listeners` (every listener bound, not shutting down);
 * other parts register theirs, e.g. a shared store registers `redis` (its connection is up).
 * Liveness (`GET /healthz`) needs no checks: answering at all is the proof.
 *
 * @module
 */

/**
 * One readiness check: resolves (or returns) `true` when ready. `false`, a throw or a rejection
 * means not ready. The signal aborts when the check takes too long.
 */
export type ReadinessCheck = (signal: AbortSignal) => boolean | Promise<boolean>;

/** The outcome of one check. */
export interface ReadinessResult {
  /** The check's name, e.g. `"listeners"` or `"redis"`. */
  name: string;
  /** Whether it passed. */
  ok: boolean;
  /** Why it failed (`"timed out after 2000 ms"`, an error's message), when it did. */
  detail?: string;
  /** How long it took, in ms. */
  ms: number;
}

/** The outcome of every check. */
export interface ReadinessReport {
  /** Every check passed (also true when there are none). */
  ready: boolean;
  /** Each check's result, in the order they were added. */
  checks: ReadinessResult[];
}

/** Options for {@linkcode ReadinessChecks.run}. */
export interface ReadinessRunOptions {
  /** How long one check may take before it counts as failed, in ms. @default {2000} */
  timeoutMs?: number;
}

/** How long a readiness check may take unless told otherwise: 2 s (below common probe timeouts). */
export const DEFAULT_READINESS_TIMEOUT_MS = 2_000;

/** The longest failure detail reported (error messages are cut to it). */
const MAX_DETAIL_LENGTH = 200;

/**
 * Named readiness checks, run together on demand.
 *
 * @example
 * ```ts
 * import { ReadinessChecks } from "./health.ts";
 * const checks = new ReadinessChecks();
 * let up = false;
 * checks.add("store", () => up);
 * if ((await checks.run()).ready) throw new Error("Ready too early");
 * up = true;
 * const report = await checks.run();
 * if (!report.ready || report.checks[0]?.name !== "store") throw new Error("Not ready");
 * ```
 */
export class ReadinessChecks {
  #checks = new Map<string, ReadinessCheck>();

  /**
   * Add a check; returns a function that removes it.
   *
   * @throws {RangeError} when a check of that name exists or the name is empty.
   *
   * @example
   * ```ts
   * import { ReadinessChecks } from "./health.ts";
   * const checks = new ReadinessChecks();
   * const remove = checks.add("redis", () => true);
   * remove();
   * if (checks.names.length !== 0) throw new Error("Not removed");
   * ```
   */
  add(name: string, check: ReadinessCheck): () => void {
    if (name.length === 0) throw new RangeError("A readiness check needs a name");
    if (this.#checks.has(name)) throw new RangeError(`Readiness check "${name}" already exists`);
    this.#checks.set(name, check);
    return () => {
      if (this.#checks.get(name) === check) this.#checks.delete(name);
    };
  }

  /**
   * The names of the checks, in the order they were added.
   *
   * @example
   * ```ts
   * import { ReadinessChecks } from "./health.ts";
   * const checks = new ReadinessChecks();
   * checks.add("a", () => true);
   * if (checks.names[0] !== "a") throw new Error("Missing");
   * ```
   */
  get names(): string[] {
    return [...this.#checks.keys()];
  }

  /**
   * Run every check at once, each bounded by `timeoutMs`. Never throws.
   *
   * @example A check that hangs fails after the timeout
   * ```ts
   * import { ReadinessChecks } from "./health.ts";
   * const checks = new ReadinessChecks();
   * checks.add("slow", (signal) => new Promise((resolve) => signal.addEventListener("abort", () => resolve(true))));
   * const report = await checks.run({ timeoutMs: 10 });
   * if (report.ready || !report.checks[0]?.detail?.includes("timed out")) throw new Error("Not timed out");
   * ```
   */
  async run(options: ReadinessRunOptions = {}): Promise<ReadinessReport> {
    const timeoutMs = options.timeoutMs ?? DEFAULT_READINESS_TIMEOUT_MS;
    if (!(Number.isFinite(timeoutMs) && timeoutMs > 0)) {
      throw new RangeError(`Readiness timeout is ${timeoutMs} ms, it must be > 0`);
    }
    const checks = await Promise.all(
      [...this.#checks].map(([name, check]) => runOne(name, check, timeoutMs)),
    );
    return { ready: checks.every((c) => c.ok), checks };
  }
}

async function runOne(
  name: string,
  check: ReadinessCheck,
  timeoutMs: number,
): Promise<ReadinessResult> {
  const started = performance.now();
  const controller = new AbortController();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const elapsed = (): number => Math.round(performance.now() - started);
  try {
    const timedOut = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), timeoutMs);
    });
    const outcome = await Promise.race([
      Promise.resolve().then(() => check(controller.signal)),
      timedOut,
    ]);
    if (outcome === "timeout") {
      return { name, ok: false, detail: `timed out after ${timeoutMs} ms`, ms: elapsed() };
    }
    return outcome === true
      ? { name, ok: true, ms: elapsed() }
      : { name, ok: false, detail: "not ready", ms: elapsed() };
  } catch (error) {
    const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    return { name, ok: false, detail: text.slice(0, MAX_DETAIL_LENGTH), ms: elapsed() };
  } finally {
    clearTimeout(timer);
    controller.abort();
  }
}
