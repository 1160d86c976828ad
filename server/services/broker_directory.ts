/**
 * The broker's directory for several server processes: who holds each receiver name (UID), and
 * which process runs each pending request. A broker given one (with `server.ts --redis`: the
 * Redis one in `server/redis/broker.ts`) registers receivers in it and routes the connections
 * that land on the wrong process to the right one; without one, the broker keeps its tables in
 * its own memory, as a single process always did.
 *
 * {@linkcode MemoryBrokerDirectory} holds the same thing in memory (one object shared by the
 * brokers of one process, e.g. in tests); it defines the semantics the Redis directory follows.
 *
 * @module
 */

/** A registration, as the directory names it: its process and its id there. */
export interface BrokerHolder {
  /** The process (its instance id). */
  readonly instance: string;
  /** The registration's id in that process. */
  readonly reg: string;
}

/** The answer to {@linkcode BrokerDirectory.claim}. */
export type BrokerClaim =
  | {
    /** The name is now this registration's. */
    kind: "claimed";
    /** The registration it replaced (same secret), to be told and closed; or `null`. */
    replaced: BrokerHolder | null;
  }
  | {
    /** Another registration holds the name, and the secrets do not match. */
    kind: "held";
  };

/** Where brokers of several processes share registrations and pending requests. */
export interface BrokerDirectory {
  /** The key for HMACs of registration secrets: the same for every process. */
  secretKey(): Promise<Uint8Array>;
  /**
   * Claim `uid` for `holder`, for `ttlMs`. A name held by another registration is taken over
   * only when both gave a secret and the HMACs (hex) match.
   */
  claim(
    uid: string,
    holder: BrokerHolder,
    secretHash: string | null,
    ttlMs: number,
  ): Promise<BrokerClaim>;
  /**
   * Keep `holder`'s claim for another `ttlMs`: `ok`; `restored` when the name was free (the
   * directory lost it) and is `holder`'s again; `lost` when another registration holds it.
   */
  refresh(uid: string, holder: BrokerHolder, ttlMs: number): Promise<"ok" | "restored" | "lost">;
  /** Drop `holder`'s claim (a no-op when another registration holds the name). */
  release(uid: string, holder: BrokerHolder): Promise<void>;
  /** Who holds `uid`, or `null`. */
  lookup(uid: string): Promise<BrokerHolder | null>;
  /** A new request id, unique across processes, routed to `instance` for `ttlMs`. */
  openRequest(uid: string, instance: string, ttlMs: number): Promise<number>;
  /** The process running request `req`, or `null` when it ended or never was. */
  routeRequest(req: number): Promise<string | null>;
  /** Forget request `req`. */
  closeRequest(req: number): Promise<void>;
}

interface Claim {
  holder: BrokerHolder;
  hash: string | null;
  until: number;
}

/**
 * A {@linkcode BrokerDirectory} in memory: expiry is checked on each read (no timers).
 *
 * @example
 * ```ts
 * import { MemoryBrokerDirectory } from "./broker_directory.ts";
 * const directory = new MemoryBrokerDirectory();
 * const a = { instance: "p1", reg: "1" };
 * if ((await directory.claim("alice", a, null, 1000)).kind !== "claimed") throw new Error("Not claimed");
 * if ((await directory.claim("alice", { instance: "p2", reg: "2" }, null, 1000)).kind !== "held") throw new Error("Taken over");
 * if ((await directory.lookup("alice"))?.instance !== "p1") throw new Error("Wrong holder");
 * ```
 */
export class MemoryBrokerDirectory implements BrokerDirectory {
  #claims = new Map<string, Claim>();
  #requests = new Map<number, { instance: string; until: number }>();
  #key = crypto.getRandomValues(new Uint8Array(32));
  #next = 1;
  #now: () => number;

  /**
   * An empty directory on the clock `now`.
   *
   * @example
   * ```ts
   * import { MemoryBrokerDirectory } from "./broker_directory.ts";
   * let t = 0;
   * const directory = new MemoryBrokerDirectory(() => t);
   * await directory.claim("a", { instance: "p", reg: "1" }, null, 10);
   * t = 10;
   * if (await directory.lookup("a") !== null) throw new Error("Not expired");
   * ```
   */
  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  /**
   * The HMAC key (random, made once).
   *
   * @example
   * ```ts
   * import { MemoryBrokerDirectory } from "./broker_directory.ts";
   * const directory = new MemoryBrokerDirectory();
   * if ((await directory.secretKey()).length !== 32) throw new Error("Bad key");
   * ```
   */
  secretKey(): Promise<Uint8Array> {
    return Promise.resolve(this.#key);
  }

  /**
   * Claim a name (see {@linkcode BrokerDirectory.claim}).
   *
   * @example
   * ```ts
   * import { MemoryBrokerDirectory } from "./broker_directory.ts";
   * const directory = new MemoryBrokerDirectory();
   * await directory.claim("a", { instance: "p1", reg: "1" }, "ff", 1000);
   * const again = await directory.claim("a", { instance: "p2", reg: "2" }, "ff", 1000);
   * if (again.kind !== "claimed" || again.replaced?.instance !== "p1") throw new Error("Not replaced");
   * ```
   */
  claim(
    uid: string,
    holder: BrokerHolder,
    secretHash: string | null,
    ttlMs: number,
  ): Promise<BrokerClaim> {
    const current = this.#live(uid);
    if (
      current !== null &&
      (current.hash === null || secretHash === null || current.hash !== secretHash)
    ) {
      return Promise.resolve({ kind: "held" });
    }
    this.#claims.set(uid, { holder, hash: secretHash, until: this.#now() + ttlMs });
    return Promise.resolve({ kind: "claimed", replaced: current?.holder ?? null });
  }

  /**
   * Keep a claim alive (see {@linkcode BrokerDirectory.refresh}).
   *
   * @example
   * ```ts
   * import { MemoryBrokerDirectory } from "./broker_directory.ts";
   * const directory = new MemoryBrokerDirectory();
   * if (await directory.refresh("a", { instance: "p", reg: "1" }, 1000) !== "restored") throw new Error("Not restored");
   * ```
   */
  refresh(uid: string, holder: BrokerHolder, ttlMs: number): Promise<"ok" | "restored" | "lost"> {
    const current = this.#live(uid);
    if (current === null) {
      this.#claims.set(uid, { holder, hash: null, until: this.#now() + ttlMs });
      return Promise.resolve("restored");
    }
    if (!same(current.holder, holder)) return Promise.resolve("lost");
    current.until = this.#now() + ttlMs;
    return Promise.resolve("ok");
  }

  /**
   * Drop a claim if it is `holder`'s.
   *
   * @example
   * ```ts
   * import { MemoryBrokerDirectory } from "./broker_directory.ts";
   * const directory = new MemoryBrokerDirectory();
   * const holder = { instance: "p", reg: "1" };
   * await directory.claim("a", holder, null, 1000);
   * await directory.release("a", holder);
   * if (await directory.lookup("a") !== null) throw new Error("Not released");
   * ```
   */
  release(uid: string, holder: BrokerHolder): Promise<void> {
    const current = this.#live(uid);
    if (current !== null && same(current.holder, holder)) this.#claims.delete(uid);
    return Promise.resolve();
  }

  /**
   * Who holds a name.
   *
   * @example
   * ```ts
   * import { MemoryBrokerDirectory } from "./broker_directory.ts";
   * if (await new MemoryBrokerDirectory().lookup("nobody") !== null) throw new Error("Phantom");
   * ```
   */
  lookup(uid: string): Promise<BrokerHolder | null> {
    return Promise.resolve(this.#live(uid)?.holder ?? null);
  }

  /**
   * Open a request.
   *
   * @example
   * ```ts
   * import { MemoryBrokerDirectory } from "./broker_directory.ts";
   * const directory = new MemoryBrokerDirectory();
   * const req = await directory.openRequest("a", "p1", 1000);
   * if (await directory.routeRequest(req) !== "p1") throw new Error("Not routed");
   * ```
   */
  openRequest(_uid: string, instance: string, ttlMs: number): Promise<number> {
    const req = this.#next++;
    this.#requests.set(req, { instance, until: this.#now() + ttlMs });
    return Promise.resolve(req);
  }

  /**
   * Route a request.
   *
   * @example
   * ```ts
   * import { MemoryBrokerDirectory } from "./broker_directory.ts";
   * if (await new MemoryBrokerDirectory().routeRequest(1) !== null) throw new Error("Phantom");
   * ```
   */
  routeRequest(req: number): Promise<string | null> {
    const entry = this.#requests.get(req);
    if (entry === undefined) return Promise.resolve(null);
    if (entry.until <= this.#now()) {
      this.#requests.delete(req);
      return Promise.resolve(null);
    }
    return Promise.resolve(entry.instance);
  }

  /**
   * Close a request.
   *
   * @example
   * ```ts
   * import { MemoryBrokerDirectory } from "./broker_directory.ts";
   * const directory = new MemoryBrokerDirectory();
   * const req = await directory.openRequest("a", "p1", 1000);
   * await directory.closeRequest(req);
   * if (await directory.routeRequest(req) !== null) throw new Error("Not closed");
   * ```
   */
  closeRequest(req: number): Promise<void> {
    this.#requests.delete(req);
    return Promise.resolve();
  }

  #live(uid: string): Claim | null {
    const claim = this.#claims.get(uid);
    if (claim === undefined) return null;
    if (claim.until <= this.#now()) {
      this.#claims.delete(uid);
      return null;
    }
    return claim;
  }
}

function same(a: BrokerHolder, b: BrokerHolder): boolean {
  return a.instance === b.instance && a.reg === b.reg;
}
