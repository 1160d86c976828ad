/**
 * The broker's directory in Redis (see `../services/broker_directory.ts`): receiver names and
 * pending requests shared by every server process.
 *
 * - `peerlink:broker:uid:<uid>`: a hash `{inst, reg, hash}` naming the process and registration
 *   holding the name and the HMAC (hex) of its secret; it expires after the drop timeout and each
 *   keep-alive renews it. Claiming, renewing and releasing are Lua scripts, so two processes
 *   registering one name at once get one `claimed` and one `held` (or a replacement, when both
 *   gave the same secret), and a release never deletes a newer holder's claim.
 * - `peerlink:broker:req:<req>`: a hash `{inst, uid}` routing a pending request to the process
 *   that runs it (the one holding the receiver's registration); ids come from
 *   `peerlink:broker:seq`, so they are unique across processes. It lives a few step timeouts and
 *   is deleted when the request ends.
 * - `peerlink:broker:hmac`: the HMAC key for secrets, drawn by the first process (`SET NX`).
 *
 * The connections themselves never move: the broker tunnels a connection that lands on another
 * process over pub/sub (see `BrokerService`).
 *
 * @module
 */

import type { BrokerClaim, BrokerDirectory, BrokerHolder } from "../services/broker_directory.ts";
import type { RedisConnection } from "./connection.ts";
import { defineRedisScript } from "./script.ts";

/** KEYS: uid. ARGV: inst, reg, hash or '', ttlMs. */
const CLAIM = defineRedisScript(
  `
local cur = redis.call('HMGET', KEYS[1], 'inst', 'reg', 'hash')
if cur[1] then
  if cur[3] == '' or ARGV[3] == '' or cur[3] ~= ARGV[3] then return {'held'} end
end
redis.call('HSET', KEYS[1], 'inst', ARGV[1], 'reg', ARGV[2], 'hash', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
if cur[1] then return {'claimed', cur[1], cur[2]} end
return {'claimed'}
`,
  1,
);

/** KEYS: uid. ARGV: inst, reg, ttlMs. */
const REFRESH = defineRedisScript(
  `
local cur = redis.call('HMGET', KEYS[1], 'inst', 'reg')
if not cur[1] then
  redis.call('HSET', KEYS[1], 'inst', ARGV[1], 'reg', ARGV[2], 'hash', '')
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  return 'restored'
end
if cur[1] ~= ARGV[1] or cur[2] ~= ARGV[2] then return 'lost' end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 'ok'
`,
  1,
);

/** KEYS: uid. ARGV: inst, reg. */
const RELEASE = defineRedisScript(
  `
local cur = redis.call('HMGET', KEYS[1], 'inst', 'reg')
if cur[1] == ARGV[1] and cur[2] == ARGV[2] then redis.call('DEL', KEYS[1]) end
return 0
`,
  1,
);

/** KEYS: seq, (request key prefix). ARGV: inst, uid, ttlMs. */
const OPEN = defineRedisScript(
  `
local req = redis.call('INCR', KEYS[1])
local key = KEYS[2] .. req
redis.call('HSET', key, 'inst', ARGV[1], 'uid', ARGV[2])
redis.call('PEXPIRE', key, ARGV[3])
return req
`,
  2,
);

/**
 * Broker registrations and pending requests in Redis.
 *
 * @example
 * ```ts ignore
 * import { RedisBrokerDirectory } from "./broker.ts";
 * const directory = new RedisBrokerDirectory(redis);
 * await directory.claim("alice", { instance: redis.instanceId, reg: "1" }, null, 65_000);
 * ```
 */
export class RedisBrokerDirectory implements BrokerDirectory {
  #redis: RedisConnection;
  #key: Uint8Array | null = null;

  /**
   * A directory on `redis`.
   *
   * @example
   * ```ts ignore
   * const directory = new RedisBrokerDirectory(redis);
   * ```
   */
  constructor(redis: RedisConnection) {
    this.#redis = redis;
  }

  /**
   * The shared HMAC key (made by the first process that asks).
   *
   * @example
   * ```ts ignore
   * const key = await directory.secretKey();
   * ```
   */
  async secretKey(): Promise<Uint8Array> {
    if (this.#key !== null) return this.#key;
    const name = this.#redis.keys.brokerHmac;
    const mine = crypto.getRandomValues(new Uint8Array(32)).toHex();
    const hex = await this.#redis.command(async (client) => {
      await client.set(name, mine, "NX");
      return await client.get(name);
    });
    if (hex === null || !/^[0-9a-f]{64}$/.test(hex)) {
      throw new RangeError(`The broker HMAC key in ${name} is not 64 hex digits`);
    }
    this.#key = Uint8Array.fromHex(hex);
    return this.#key;
  }

  /**
   * Claim a name.
   *
   * @example
   * ```ts ignore
   * const claim = await directory.claim("alice", holder, hashHex, 65_000);
   * ```
   */
  async claim(
    uid: string,
    holder: BrokerHolder,
    secretHash: string | null,
    ttlMs: number,
  ): Promise<BrokerClaim> {
    const result = await this.#redis.run(CLAIM, [this.#redis.keys.brokerUid(uid)], [
      holder.instance,
      holder.reg,
      secretHash ?? "",
      Math.ceil(ttlMs),
    ]) as (string | null)[];
    if (result[0] === "held") return { kind: "held" };
    const replaced = result[1] && result[2] ? { instance: result[1], reg: result[2] } : null;
    return { kind: "claimed", replaced };
  }

  /**
   * Keep a claim alive.
   *
   * @example
   * ```ts ignore
   * await directory.refresh("alice", holder, 65_000);
   * ```
   */
  async refresh(
    uid: string,
    holder: BrokerHolder,
    ttlMs: number,
  ): Promise<"ok" | "restored" | "lost"> {
    return await this.#redis.run(REFRESH, [this.#redis.keys.brokerUid(uid)], [
      holder.instance,
      holder.reg,
      Math.ceil(ttlMs),
    ]) as "ok" | "restored" | "lost";
  }

  /**
   * Drop a claim if it is `holder`'s.
   *
   * @example
   * ```ts ignore
   * await directory.release("alice", holder);
   * ```
   */
  async release(uid: string, holder: BrokerHolder): Promise<void> {
    await this.#redis.run(RELEASE, [this.#redis.keys.brokerUid(uid)], [
      holder.instance,
      holder.reg,
    ]);
  }

  /**
   * Who holds a name.
   *
   * @example
   * ```ts ignore
   * const holder = await directory.lookup("alice");
   * ```
   */
  async lookup(uid: string): Promise<BrokerHolder | null> {
    const key = this.#redis.keys.brokerUid(uid);
    const [instance, reg] = await this.#redis.command((client) => client.hmget(key, "inst", "reg"));
    return instance && reg ? { instance, reg } : null;
  }

  /**
   * Open a request routed to `instance`.
   *
   * @example
   * ```ts ignore
   * const req = await directory.openRequest("alice", redis.instanceId, 50_000);
   * ```
   */
  async openRequest(uid: string, instance: string, ttlMs: number): Promise<number> {
    const keys = this.#redis.keys;
    const prefix = keys.brokerReq(0).slice(0, -1);
    return Number(
      await this.#redis.run(OPEN, [keys.brokerSeq, prefix], [instance, uid, Math.ceil(ttlMs)]),
    );
  }

  /**
   * Route a request.
   *
   * @example
   * ```ts ignore
   * const instance = await directory.routeRequest(7);
   * ```
   */
  async routeRequest(req: number): Promise<string | null> {
    const key = this.#redis.keys.brokerReq(req);
    return await this.#redis.command((client) => client.hget(key, "inst"));
  }

  /**
   * Close a request.
   *
   * @example
   * ```ts ignore
   * await directory.closeRequest(7);
   * ```
   */
  async closeRequest(req: number): Promise<void> {
    const key = this.#redis.keys.brokerReq(req);
    await this.#redis.command((client) => client.del(key));
  }
}
