/**
 * Chat usernames in Redis (see `../services/chat_names.ts`): `peerlink:chat:name:<username>` is
 * a hash `{addr, inst}` naming the address (canonical text) and process holding the name. It
 * expires after the chat idle timeout and is renewed while the user is heard. Claiming, renewing
 * and releasing are Lua scripts that compare the address first, so two processes registering one
 * name at once give it to one address, and a release never drops another holder's name.
 *
 * @module
 */

import type { ChatNameStore } from "../services/chat_names.ts";
import type { RedisConnection } from "./connection.ts";
import { defineRedisScript } from "./script.ts";

/** KEYS: name. ARGV: addr, inst, ttlMs. */
const CLAIM = defineRedisScript(
  `
local cur = redis.call('HGET', KEYS[1], 'addr')
if cur and cur ~= ARGV[1] then return 'taken' end
redis.call('HSET', KEYS[1], 'addr', ARGV[1], 'inst', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 'claimed'
`,
  1,
);

/** KEYS: name. ARGV: addr. */
const RELEASE = defineRedisScript(
  `
if redis.call('HGET', KEYS[1], 'addr') == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 0
`,
  1,
);

/**
 * Chat usernames in Redis.
 *
 * @example
 * ```ts ignore
 * import { RedisChatNames } from "./chat.ts";
 * const names = new RedisChatNames(redis);
 * await names.claim("alice", "192.0.2.1:4000", 120_000);
 * ```
 */
export class RedisChatNames implements ChatNameStore {
  #redis: RedisConnection;

  /**
   * A store on `redis`.
   *
   * @example
   * ```ts ignore
   * const names = new RedisChatNames(redis);
   * ```
   */
  constructor(redis: RedisConnection) {
    this.#redis = redis;
  }

  /**
   * Take a name.
   *
   * @example
   * ```ts ignore
   * if (await names.claim("alice", addr, 120_000) === "taken") console.log("taken");
   * ```
   */
  async claim(username: string, addr: string, ttlMs: number): Promise<"claimed" | "taken"> {
    return await this.#redis.run(CLAIM, [this.#redis.keys.chatName(username)], [
      addr,
      this.#redis.instanceId,
      Math.ceil(ttlMs),
    ]) as "claimed" | "taken";
  }

  /**
   * Keep a name (restored when Redis lost it; `lost` when another address took it).
   *
   * @example
   * ```ts ignore
   * await names.refresh("alice", addr, 120_000);
   * ```
   */
  async refresh(username: string, addr: string, ttlMs: number): Promise<"ok" | "lost"> {
    return (await this.claim(username, addr, ttlMs)) === "claimed" ? "ok" : "lost";
  }

  /**
   * Give a name up.
   *
   * @example
   * ```ts ignore
   * await names.release("alice", addr);
   * ```
   */
  async release(username: string, addr: string): Promise<void> {
    await this.#redis.run(RELEASE, [this.#redis.keys.chatName(username)], [addr]);
  }

  /**
   * Who holds a name.
   *
   * @example
   * ```ts ignore
   * const addr = await names.holder("alice");
   * ```
   */
  async holder(username: string): Promise<string | null> {
    const key = this.#redis.keys.chatName(username);
    return await this.#redis.command((client) => client.hget(key, "addr"));
  }
}
