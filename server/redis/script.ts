/**
 * Lua scripts for Redis, identified by SHA-1 so they run with `EVALSHA` (see
 * `connection.ts`). No I/O here, so the stores can import it without loading the Redis client.
 *
 * @module
 */

import { createHash } from "node:crypto";

/** A Lua script, run by SHA (loaded on first use). Make one with {@linkcode defineRedisScript}. */
export interface RedisScript {
  /** The Lua source. */
  readonly lua: string;
  /** How many of the arguments are keys. */
  readonly keys: number;
  /** The SHA-1 of the source, as `EVALSHA` wants it. */
  readonly sha: string;
}

/**
 * Define a Lua script taking `keys` keys.
 *
 * @example
 * ```ts
 * import { defineRedisScript } from "./script.ts";
 * const script = defineRedisScript("return 1", 0);
 * if (script.sha !== "e0e1f9fabfc9d4800c877a703b823ac0578ff8db") throw new Error("Bad SHA");
 * ```
 */
export function defineRedisScript(lua: string, keys: number): RedisScript {
  return Object.freeze({ lua, keys, sha: createHash("sha1").update(lua).digest("hex") });
}
