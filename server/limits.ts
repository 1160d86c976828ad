/**
 * Per-client limits: a fixed-window request counter per IP and a connection counter (total and
 * per IP). Pure bookkeeping with an injected clock, no timers; the server sweeps old windows.
 *
 * IPv6 clients are counted per /64 (one subscriber usually holds a whole /64); IPv4 clients per
 * address.
 *
 * @module
 */

import { parseIpv6 } from "../protocol/socket_addr.ts";

/**
 * The key a client is counted under: the IPv4 address, or the IPv6 /64 prefix.
 *
 * @example
 * ```ts
 * import { clientKey } from "./limits.ts";
 * if (clientKey("2001:db8::1") !== clientKey("2001:db8::2")) throw new Error("Same /64 differs");
 * if (clientKey("192.0.2.1") !== "192.0.2.1") throw new Error("Bad v4 key");
 * ```
 */
export function clientKey(ip: string): string {
  if (!ip.includes(":")) return ip;
  const bytes = parseIpv6(ip);
  return bytes === null ? ip : `${bytes.subarray(0, 8).toHex()}/64`;
}

/** Options for {@linkcode RateLimiter}. */
export interface RateLimiterOptions {
  /** Requests allowed per client per window; 0 turns the limit off. @default {60} */
  limit?: number;
  /** The window length in milliseconds. @default {60000} */
  windowMs?: number;
  /** The clock. @default {Date.now} */
  now?: () => number;
}

/**
 * Counts requests per client in fixed windows that start at each client's first request. gday
 * 0.1.1 lets `limit + 1` requests through per global window; peerlink lets exactly `limit`.
 *
 * @example
 * ```ts
 * import { RateLimiter } from "./limits.ts";
 * let t = 0;
 * const limiter = new RateLimiter({ limit: 2, windowMs: 1000, now: () => t });
 * if (!limiter.take("1.2.3.4") || !limiter.take("1.2.3.4")) throw new Error("Refused too early");
 * if (limiter.take("1.2.3.4")) throw new Error("Third request allowed");
 * t = 1000;
 * if (!limiter.take("1.2.3.4")) throw new Error("New window refused");
 * ```
 */
export class RateLimiter {
  #limit: number;
  #windowMs: number;
  #now: () => number;
  #windows = new Map<string, { start: number; count: number }>();

  /**
   * Make a rate limiter.
   *
   * @example
   * ```ts
   * import { RateLimiter } from "./limits.ts";
   * const limiter = new RateLimiter({ limit: 0 });
   * if (!limiter.take("1.2.3.4", 1000)) throw new Error("Unlimited refused");
   * ```
   */
  constructor(options: RateLimiterOptions = {}) {
    const { limit = 60, windowMs = 60_000, now = Date.now } = options;
    if (!(Number.isInteger(limit) && limit >= 0)) {
      throw new RangeError(`Rate limit is ${limit}, it must be an integer >= 0`);
    }
    if (!(windowMs > 0)) throw new RangeError(`Rate window is ${windowMs} ms, it must be > 0`);
    this.#limit = limit;
    this.#windowMs = windowMs;
    this.#now = now;
  }

  /**
   * Count `cost` requests for the client at `ip`; false (and nothing counted) when over the limit.
   *
   * @example
   * ```ts
   * import { RateLimiter } from "./limits.ts";
   * const limiter = new RateLimiter({ limit: 3 });
   * if (!limiter.take("::1", 2) || limiter.take("::1", 2)) throw new Error("Wrong cost handling");
   * ```
   */
  take(ip: string, cost = 1): boolean {
    if (this.#limit === 0) return true;
    const key = clientKey(ip);
    const now = this.#now();
    let window = this.#windows.get(key);
    if (window === undefined || now - window.start >= this.#windowMs) {
      window = { start: now, count: 0 };
      this.#windows.set(key, window);
    }
    if (window.count + cost > this.#limit) return false;
    window.count += cost;
    return true;
  }

  /**
   * Forget windows that have ended, so memory stays bounded by active clients.
   *
   * @example
   * ```ts
   * import { RateLimiter } from "./limits.ts";
   * let t = 0;
   * const limiter = new RateLimiter({ windowMs: 10, now: () => t });
   * limiter.take("1.2.3.4");
   * t = 10;
   * limiter.sweep();
   * if (limiter.size !== 0) throw new Error("Not swept");
   * ```
   */
  sweep(): void {
    const now = this.#now();
    for (const [key, window] of this.#windows) {
      if (now - window.start >= this.#windowMs) this.#windows.delete(key);
    }
  }

  /**
   * How many clients have an open window.
   *
   * @example
   * ```ts
   * import { RateLimiter } from "./limits.ts";
   * if (new RateLimiter().size !== 0) throw new Error("Not empty");
   * ```
   */
  get size(): number {
    return this.#windows.size;
  }
}

/** Options for {@linkcode ConnectionLimiter}. */
export interface ConnectionLimiterOptions {
  /** Open connections allowed in all. @default {10000} */
  maxTotal?: number;
  /** Open connections allowed per client (IPv4 address or IPv6 /64). @default {100} */
  maxPerIp?: number;
}

/**
 * Counts open connections in all and per client.
 *
 * @example
 * ```ts
 * import { ConnectionLimiter } from "./limits.ts";
 * const limiter = new ConnectionLimiter({ maxTotal: 10, maxPerIp: 1 });
 * const release = limiter.acquire("1.2.3.4");
 * if (release === null || limiter.acquire("1.2.3.4") !== null) throw new Error("Per-IP limit broken");
 * release();
 * if (limiter.total !== 0) throw new Error("Not released");
 * ```
 */
export class ConnectionLimiter {
  #maxTotal: number;
  #maxPerIp: number;
  #total = 0;
  #perIp = new Map<string, number>();

  /**
   * Make a connection limiter.
   *
   * @example
   * ```ts
   * import { ConnectionLimiter } from "./limits.ts";
   * if (new ConnectionLimiter().total !== 0) throw new Error("Not empty");
   * ```
   */
  constructor(options: ConnectionLimiterOptions = {}) {
    const { maxTotal = 10_000, maxPerIp = 100 } = options;
    if (!(Number.isInteger(maxTotal) && maxTotal > 0)) {
      throw new RangeError(`Max connections is ${maxTotal}, it must be an integer > 0`);
    }
    if (!(Number.isInteger(maxPerIp) && maxPerIp > 0)) {
      throw new RangeError(`Max connections per IP is ${maxPerIp}, it must be an integer > 0`);
    }
    this.#maxTotal = maxTotal;
    this.#maxPerIp = maxPerIp;
  }

  /**
   * Take a slot for a new connection from `ip`: a function that gives it back (call it once, when
   * the connection closes), or `null` when a limit is reached.
   *
   * @example
   * ```ts
   * import { ConnectionLimiter } from "./limits.ts";
   * const limiter = new ConnectionLimiter({ maxTotal: 1 });
   * limiter.acquire("1.1.1.1");
   * if (limiter.acquire("2.2.2.2") !== null) throw new Error("Total limit broken");
   * ```
   */
  acquire(ip: string): (() => void) | null {
    const key = clientKey(ip);
    const count = this.#perIp.get(key) ?? 0;
    if (this.#total >= this.#maxTotal || count >= this.#maxPerIp) return null;
    this.#total++;
    this.#perIp.set(key, count + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#total--;
      const left = (this.#perIp.get(key) ?? 1) - 1;
      if (left === 0) this.#perIp.delete(key);
      else this.#perIp.set(key, left);
    };
  }

  /**
   * Open connections counted now.
   *
   * @example
   * ```ts
   * import { ConnectionLimiter } from "./limits.ts";
   * const limiter = new ConnectionLimiter();
   * limiter.acquire("1.1.1.1");
   * if (limiter.total !== 1) throw new Error("Not counted");
   * ```
   */
  get total(): number {
    return this.#total;
  }
}
