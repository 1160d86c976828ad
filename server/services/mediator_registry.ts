/**
 * The mediator's pending registrations: who waits, under which key, for whom. Two registrations
 * are paired only when each names the other (p2psc's test mediator checks one direction only,
 * p2psc.md §1.10.11). Keys are compared by a canonical id (a fingerprint), never by their text.
 * The number of waiting registrations is bounded; a key registering again replaces its earlier
 * registration (the newcomer proved it holds the private key, so it is the same owner).
 *
 * No timers and no I/O: each waiter bounds its own wait and calls {@linkcode
 * MediatorRegistry.cancel} when it gives up.
 *
 * @module
 */

/** How a waiting registration ends. */
export type WaitOutcome<T> =
  | {
    /** The wanted peer registered. */
    kind: "paired";
    /** What the newcomer registered with. */
    peer: T;
    /**
     * Resolves `true` once the newcomer has been told (and, in p2psc mode, has closed its
     * mediator connection); `false` when that failed and the pairing is off.
     */
    handoff: Promise<boolean>;
  }
  | {
    /** The same key registered again on another connection. */
    kind: "replaced";
  }
  | {
    /** The registry was cleared (the server is shutting down). */
    kind: "closed";
  }
  | {
    /**
     * The store lost its shared state (Redis) while this registration waited; the peer should
     * register again later. {@linkcode MediatorRegistry} never says it.
     */
    kind: "unavailable";
  };

/** The result of {@linkcode MediatorRegistry.register}. */
export type RegisterResult<T> =
  | {
    /** The wanted peer was waiting for this key: pair now. */
    kind: "matched";
    /** What the waiting peer registered with. */
    peer: T;
    /** Settle with whether the handoff worked (the waiter's `handoff`). */
    settle: (ok: boolean) => void;
  }
  | {
    /** Registered; wait for the outcome. */
    kind: "waiting";
    /** Resolves when paired or replaced. */
    outcome: Promise<WaitOutcome<T>>;
    /** The handle to cancel the registration with. */
    ticket: symbol;
  }
  | {
    /** The registry holds its maximum number of registrations. */
    kind: "full";
  };

/**
 * Where a mediator mode keeps its waiting registrations: {@linkcode MediatorRegistry} in this
 * process, or `RedisMediatorStore` (`server/redis/mediator.ts`) shared by processes, whose
 * methods may reject with a `StateUnavailableError` (`server/state_errors.ts`).
 */
export interface MediatorStore<T> {
  /** See {@linkcode MediatorRegistry.register}. */
  register(own: string, wants: string, value: T): RegisterResult<T> | Promise<RegisterResult<T>>;
  /** See {@linkcode MediatorRegistry.cancel}. */
  cancel(own: string, ticket: symbol): boolean | Promise<boolean>;
  /** See {@linkcode MediatorRegistry.clear}. */
  clear(): void;
  /** Registrations waiting (in this process). */
  readonly size: number;
}

interface Entry<T> {
  wants: string;
  value: T;
  ticket: symbol;
  resolve: (outcome: WaitOutcome<T>) => void;
}

/**
 * Pending registrations of one mediator mode.
 *
 * @example Two keys that name each other are paired
 * ```ts
 * import { MediatorRegistry } from "./mediator_registry.ts";
 * const registry = new MediatorRegistry<string>({ maxPending: 10 });
 * const first = registry.register("alice", "bob", "alice's address");
 * if (first.kind !== "waiting") throw new Error("Alice should wait");
 * const second = registry.register("bob", "alice", "bob's address");
 * if (second.kind !== "matched" || second.peer !== "alice's address") throw new Error("Not matched");
 * second.settle(true);
 * const outcome = await first.outcome;
 * if (outcome.kind !== "paired" || outcome.peer !== "bob's address" || !(await outcome.handoff)) throw new Error("Bad outcome");
 * ```
 */
export class MediatorRegistry<T> implements MediatorStore<T> {
  #max: number;
  #entries = new Map<string, Entry<T>>();

  /**
   * Make a registry holding at most `maxPending` waiting registrations.
   *
   * @example
   * ```ts
   * import { MediatorRegistry } from "./mediator_registry.ts";
   * if (new MediatorRegistry({ maxPending: 1 }).size !== 0) throw new Error("Not empty");
   * ```
   */
  constructor(options: { maxPending: number }) {
    if (!Number.isInteger(options.maxPending) || options.maxPending < 1) {
      throw new RangeError(
        `Mediator maxPending is ${options.maxPending}, it must be an integer >= 1`,
      );
    }
    this.#max = options.maxPending;
  }

  /**
   * Registrations waiting now.
   *
   * @example
   * ```ts
   * import { MediatorRegistry } from "./mediator_registry.ts";
   * const registry = new MediatorRegistry<number>({ maxPending: 5 });
   * registry.register("a", "b", 1);
   * if (registry.size !== 1) throw new Error("Bad size");
   * ```
   */
  get size(): number {
    return this.#entries.size;
  }

  /**
   * Register `own` (wanting `wants`) with `value`. Pairs at once when `wants` waits for `own`;
   * otherwise waits, replacing an earlier registration of `own`.
   *
   * @example The registry is bounded
   * ```ts
   * import { MediatorRegistry } from "./mediator_registry.ts";
   * const registry = new MediatorRegistry<number>({ maxPending: 1 });
   * registry.register("a", "b", 1);
   * if (registry.register("c", "d", 2).kind !== "full") throw new Error("Not bounded");
   * ```
   */
  register(own: string, wants: string, value: T): RegisterResult<T> {
    const waiting = this.#entries.get(wants);
    if (waiting !== undefined && waiting.wants === own && own !== wants) {
      this.#entries.delete(wants);
      let settle!: (ok: boolean) => void;
      const handoff = new Promise<boolean>((resolve) => (settle = resolve));
      waiting.resolve({ kind: "paired", peer: value, handoff });
      return { kind: "matched", peer: waiting.value, settle };
    }
    const earlier = this.#entries.get(own);
    if (earlier === undefined && this.#entries.size >= this.#max) return { kind: "full" };
    if (earlier !== undefined) {
      this.#entries.delete(own);
      earlier.resolve({ kind: "replaced" });
    }
    const ticket = Symbol(own);
    let resolve!: (outcome: WaitOutcome<T>) => void;
    const outcome = new Promise<WaitOutcome<T>>((r) => (resolve = r));
    this.#entries.set(own, { wants, value, ticket, resolve });
    return { kind: "waiting", outcome, ticket };
  }

  /**
   * Withdraw the registration of `own` made with `ticket` (a no-op when it was already paired,
   * replaced or withdrawn). Returns whether it was still waiting.
   *
   * @example
   * ```ts
   * import { MediatorRegistry } from "./mediator_registry.ts";
   * const registry = new MediatorRegistry<number>({ maxPending: 5 });
   * const result = registry.register("a", "b", 1);
   * if (result.kind !== "waiting" || !registry.cancel("a", result.ticket)) throw new Error("Not cancelled");
   * if (registry.register("b", "a", 2).kind !== "waiting") throw new Error("Paired with a cancelled key");
   * ```
   */
  cancel(own: string, ticket: symbol): boolean {
    const entry = this.#entries.get(own);
    if (entry === undefined || entry.ticket !== ticket) return false;
    this.#entries.delete(own);
    return true;
  }

  /**
   * Drop every registration (at shutdown); each waiter's outcome becomes `closed`.
   *
   * @example
   * ```ts
   * import { MediatorRegistry } from "./mediator_registry.ts";
   * const registry = new MediatorRegistry<number>({ maxPending: 5 });
   * registry.register("a", "b", 1);
   * registry.clear();
   * if (registry.size !== 0) throw new Error("Not cleared");
   * ```
   */
  clear(): void {
    const entries = [...this.#entries.values()];
    this.#entries.clear();
    for (const entry of entries) entry.resolve({ kind: "closed" });
  }
}
