/**
 * Chat usernames shared by several server processes: a name registered on one process cannot be
 * taken from another address on any other. The chat introducer (`chat.ts`) uses a store only
 * with `server.ts --redis` (`RedisChatNames` in `server/redis/chat.ts`); alone, its own tables
 * keep names unique. {@linkcode MemoryChatNames} defines the semantics (and serves tests).
 *
 * @module
 */

/** Who may hold a name: its holder's address (canonical text) and process. */
export interface ChatNameStore {
  /** Take `username` for `addr` for `ttlMs`: `taken` when another address holds it. */
  claim(username: string, addr: string, ttlMs: number): Promise<"claimed" | "taken">;
  /** Keep `addr`'s name another `ttlMs`; `lost` when another address took it meanwhile. */
  refresh(username: string, addr: string, ttlMs: number): Promise<"ok" | "lost">;
  /** Give the name up (a no-op when another address holds it). */
  release(username: string, addr: string): Promise<void>;
  /** The address holding `username`, or `null`. */
  holder(username: string): Promise<string | null>;
}

/**
 * Chat names in memory, expiring on read.
 *
 * @example
 * ```ts
 * import { MemoryChatNames } from "./chat_names.ts";
 * const names = new MemoryChatNames();
 * if (await names.claim("alice", "192.0.2.1:1", 1000) !== "claimed") throw new Error("Not claimed");
 * if (await names.claim("alice", "192.0.2.2:1", 1000) !== "taken") throw new Error("Taken over");
 * ```
 */
export class MemoryChatNames implements ChatNameStore {
  #names = new Map<string, { addr: string; until: number }>();
  #now: () => number;

  /**
   * An empty store on the clock `now`.
   *
   * @example
   * ```ts
   * import { MemoryChatNames } from "./chat_names.ts";
   * if (await new MemoryChatNames(() => 0).holder("a") !== null) throw new Error("Not empty");
   * ```
   */
  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  /**
   * Take a name.
   *
   * @example
   * ```ts
   * import { MemoryChatNames } from "./chat_names.ts";
   * const names = new MemoryChatNames();
   * await names.claim("a", "x", 1000);
   * if (await names.claim("a", "x", 1000) !== "claimed") throw new Error("Not idempotent");
   * ```
   */
  claim(username: string, addr: string, ttlMs: number): Promise<"claimed" | "taken"> {
    const current = this.#live(username);
    if (current !== null && current.addr !== addr) return Promise.resolve("taken");
    this.#names.set(username, { addr, until: this.#now() + ttlMs });
    return Promise.resolve("claimed");
  }

  /**
   * Keep a name.
   *
   * @example
   * ```ts
   * import { MemoryChatNames } from "./chat_names.ts";
   * const names = new MemoryChatNames();
   * if (await names.refresh("a", "x", 1000) !== "ok") throw new Error("Not restored");
   * ```
   */
  refresh(username: string, addr: string, ttlMs: number): Promise<"ok" | "lost"> {
    const current = this.#live(username);
    if (current !== null && current.addr !== addr) return Promise.resolve("lost");
    this.#names.set(username, { addr, until: this.#now() + ttlMs });
    return Promise.resolve("ok");
  }

  /**
   * Give a name up.
   *
   * @example
   * ```ts
   * import { MemoryChatNames } from "./chat_names.ts";
   * const names = new MemoryChatNames();
   * await names.claim("a", "x", 1000);
   * await names.release("a", "x");
   * if (await names.holder("a") !== null) throw new Error("Not released");
   * ```
   */
  release(username: string, addr: string): Promise<void> {
    if (this.#live(username)?.addr === addr) this.#names.delete(username);
    return Promise.resolve();
  }

  /**
   * Who holds a name.
   *
   * @example
   * ```ts
   * import { MemoryChatNames } from "./chat_names.ts";
   * const names = new MemoryChatNames();
   * await names.claim("a", "x", 1000);
   * if (await names.holder("a") !== "x") throw new Error("Wrong holder");
   * ```
   */
  holder(username: string): Promise<string | null> {
    return Promise.resolve(this.#live(username)?.addr ?? null);
  }

  #live(username: string): { addr: string; until: number } | null {
    const entry = this.#names.get(username);
    if (entry === undefined) return null;
    if (entry.until <= this.#now()) {
      this.#names.delete(username);
      return null;
    }
    return entry;
  }
}
