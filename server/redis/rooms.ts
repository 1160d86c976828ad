/**
 * gday rooms in Redis, shared by every server process on the same Redis: a room created on one
 * process is joined, filled and finished on any other, with the semantics of
 * {@linkcode MemoryRoomStore} (see `../rooms.ts`).
 *
 * Each room is one hash, `peerlink:gday:room:<h>` (layout in `keys.ts`), that expires with the
 * room's lifetime and is never extended. Every change runs as one Lua script that first checks
 * the room exists, so two processes creating the same code get one `created` and one `taken`,
 * two sides finishing at once pair exactly once, and a late write never recreates an expired
 * room. `peerlink:gday:rooms` (a sorted set by expiry) bounds the rooms held across processes
 * (`maxRooms`).
 *
 * A side that waits for its peer (`DoneSending`) leaves its waiter id (`<process>|<n>`) in the
 * room. Whoever ends the wait (the peer finishing, the peer's last connection closing, the same
 * role finishing again) gets the waiter back from the script and sends the outcome to the
 * waiter's process on its channel (`{"s":"gday","wait":...}`); the PeerContact travels that way.
 * Each waiter also runs a local timer to the room's expiry, and every wait fails with
 * `unavailable` when the Redis connection drops (messages sent meanwhile would be lost); the
 * gday service answers that `ErrorInternal`.
 *
 * Room events (`created`, `exchanged`, `abandoned`, `expired`) are reported by one process each:
 * `created` by the creator's, `exchanged`/`abandoned` by the one whose script ended the room
 * (which tells the creator's process), `expired` by the creator's when the lifetime passes and
 * it heard of no end. {@linkcode RedisRoomStore.size} counts the rooms this process created that
 * are still live.
 *
 * @module
 */

import type { FullContact } from "../../protocol/gday.ts";
import type { SocketAddr } from "../../protocol/socket_addr.ts";
import type {
  DoneResult,
  OwnerId,
  PeerFailure,
  PeerOutcome,
  Role,
  RoomEvent,
  RoomStore,
} from "../rooms.ts";
import type { RedisConnection, RedisMessage } from "./connection.ts";
import { gdayRoomKeyPart } from "./keys.ts";
import { defineRedisScript } from "./script.ts";

/** Extra time a waiter's local expiry timer allows past the room's TTL, for clock skew: 100 ms. */
const EXPIRY_GRACE_MS = 100;

/** Shared Lua helpers: `attach(room, r, owner)` records an owner of role `r`. */
const LUA_ATTACH = `
local function attach(room, r, owner)
  if redis.call('HSETNX', room, r .. 'o:' .. owner, 1) == 1 then
    redis.call('HINCRBY', room, r .. 'n', 1)
  end
  redis.call('HDEL', room, r .. 'd')
end
`;

/** KEYS: room, rooms, seq. ARGV: ttlMs, maxRooms, instance, owner, part. */
const CREATE = defineRedisScript(
  `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if redis.call('EXISTS', KEYS[1]) == 1 then return {'taken'} end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[2]) then return {'full'} end
local id = redis.call('INCR', KEYS[3])
redis.call('HSET', KEYS[1], 'id', id, 'inst', ARGV[3], 'cn', 1, 'co:' .. ARGV[4], 1)
redis.call('PEXPIRE', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[1]), ARGV[5])
return {'created', id}
`,
  3,
);

/** KEYS: room. ARGV: role, owner, public family, public JSON, private family or '', private JSON. */
const SEND_ADDR = defineRedisScript(
  LUA_ATTACH + `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local r = ARGV[1]
attach(KEYS[1], r, ARGV[2])
redis.call('HSET', KEYS[1], r .. ARGV[3] .. 'p', ARGV[4])
if ARGV[5] ~= '' then redis.call('HSET', KEYS[1], r .. ARGV[5] .. 'r', ARGV[6]) end
return 1
`,
  1,
);

/**
 * KEYS: room, rooms. ARGV: role, other role, owner, waiter id, part.
 * Returns {status, own x4, replaced waiter, peer x4, peer waiter, creator process, id, pttl}.
 */
const DONE = defineRedisScript(
  LUA_ATTACH + `
local room = KEYS[1]
if redis.call('EXISTS', room) == 0 then return {'none'} end
local r, o = ARGV[1], ARGV[2]
attach(room, r, ARGV[3])
local own = redis.call('HMGET', room, r .. '4p', r .. '6p', r .. '4r', r .. '6r')
local replaced = redis.call('HGET', room, r .. 'w')
local peer = redis.call('HMGET', room, o .. '4p', o .. '6p', o .. '4r', o .. '6r')
local peerWaiter = redis.call('HGET', room, o .. 'w')
local departed = redis.call('HGET', room, o .. 'd')
local meta = redis.call('HMGET', room, 'inst', 'id')
local status
if departed == '1' then
  status = 'abandoned'
elseif peerWaiter then
  status = 'exchanged'
else
  status = 'waiting'
end
if status == 'waiting' then
  redis.call('HSET', room, r .. 'w', ARGV[4], r .. 'wo', ARGV[3])
else
  redis.call('DEL', room)
  redis.call('ZREM', KEYS[2], ARGV[5])
end
local pttl = redis.call('PTTL', room)
return {status, own[1], own[2], own[3], own[4], replaced, peer[1], peer[2], peer[3], peer[4],
  peerWaiter, meta[1], meta[2], pttl}
`,
  2,
);

/**
 * KEYS: room, rooms. ARGV: owner, part.
 * Returns {'kept'} or {'abandoned', creator waiter, joiner waiter, creator process, id}.
 */
const RELEASE = defineRedisScript(
  `
local room = KEYS[1]
if redis.call('EXISTS', room) == 0 then return {'none'} end
local owner = ARGV[1]
local other = {c = 'j', j = 'c'}
for _, r in ipairs({'c', 'j'}) do
  if redis.call('HDEL', room, r .. 'o:' .. owner) == 1 then
    if redis.call('HGET', room, r .. 'wo') == owner then
      redis.call('HDEL', room, r .. 'w', r .. 'wo')
    end
    if redis.call('HINCRBY', room, r .. 'n', -1) <= 0 then
      redis.call('HSET', room, r .. 'd', 1)
      if redis.call('HEXISTS', room, other[r] .. 'w') == 1 then
        local w = redis.call('HMGET', room, 'cw', 'jw', 'inst', 'id')
        redis.call('DEL', room)
        redis.call('ZREM', KEYS[2], ARGV[2])
        return {'abandoned', w[1], w[2], w[3], w[4]}
      end
    end
  end
end
return {'kept'}
`,
  2,
);

/** Options for {@linkcode RedisRoomStore}. */
export interface RedisRoomStoreOptions {
  /** The connection (shared with the other stores of this process). */
  redis: RedisConnection;
  /** A room's lifetime from its creation, in milliseconds. @default {600000} */
  ttlMs?: number;
  /** Rooms held at most, across every process on this Redis. @default {100000} */
  maxRooms?: number;
  /** Told about the room events this process reports (see the module notes). */
  onEvent?: (event: RoomEvent) => void;
}

interface Waiter {
  token: string;
  owner: OwnerId;
  part: string;
  resolve: (outcome: PeerOutcome) => void;
  timer: ReturnType<typeof setTimeout> | undefined;
}

type Field = string | null;

function parseAddr(field: Field): SocketAddr | null {
  return field === null || field === undefined ? null : JSON.parse(field) as SocketAddr;
}

function contactOf(fields: readonly Field[], offset: number): FullContact {
  return {
    public: { v4: parseAddr(fields[offset]!), v6: parseAddr(fields[offset + 1]!) },
    private: { v4: parseAddr(fields[offset + 2]!), v6: parseAddr(fields[offset + 3]!) },
  } as FullContact;
}

/**
 * gday rooms in Redis (see the module notes).
 *
 * @example Two processes share a room
 * ```ts ignore
 * import { connectRedis } from "./connection.ts";
 * import { RedisRoomStore } from "./rooms.ts";
 * const a = new RedisRoomStore({ redis: await connectRedis({ url }) });
 * const b = new RedisRoomStore({ redis: await connectRedis({ url }) });
 * await a.create(7n, 1);
 * await b.sendAddr(7n, "joiner", 1, { family: "v4", ip: "192.0.2.2", port: 2 }, null);
 * ```
 */
export class RedisRoomStore implements RoomStore {
  #redis: RedisConnection;
  #ttlMs: number;
  #maxRooms: number;
  #onEvent: (event: RoomEvent) => void;
  #owner: (owner: OwnerId) => string;
  #waiters = new Map<string, Waiter>();
  #owned = new Map<OwnerId, Set<string>>();
  /** Rooms created here and live, by key part: log id and lifetime timer. */
  #created = new Map<string, { id: number; timer: ReturnType<typeof setTimeout> }>();
  #nextWait = 1;
  #stopHandling: () => void;
  #stopWatching: () => void;
  #closed = false;

  /**
   * A store on `redis`. It handles the `gday` messages of this process: one store per connection.
   *
   * @example
   * ```ts ignore
   * const rooms = new RedisRoomStore({ redis, ttlMs: 600_000, maxRooms: 100_000 });
   * ```
   */
  constructor(options: RedisRoomStoreOptions) {
    const { redis, ttlMs = 600_000, maxRooms = 100_000, onEvent = () => {} } = options;
    if (!(ttlMs > 0)) throw new RangeError(`Room lifetime is ${ttlMs} ms, it must be > 0`);
    if (!(Number.isInteger(maxRooms) && maxRooms > 0)) {
      throw new RangeError(`Max rooms is ${maxRooms}, it must be an integer > 0`);
    }
    this.#redis = redis;
    this.#ttlMs = Math.ceil(ttlMs);
    this.#maxRooms = maxRooms;
    this.#onEvent = onEvent;
    this.#owner = (owner) => `${redis.instanceId}:${owner}`;
    this.#stopHandling = redis.handle("gday", (message) => this.#onMessage(message));
    this.#stopWatching = redis.onReadyChange((ready) => {
      if (!ready) this.#failWaiters("unavailable");
    });
  }

  /**
   * Rooms this process created that are still live.
   *
   * @example
   * ```ts ignore
   * await rooms.create(1n, 1);
   * console.log(rooms.size); // 1
   * ```
   */
  get size(): number {
    return this.#created.size;
  }

  /**
   * Reserve `code` across every process.
   *
   * @throws {RedisUnavailableError} when Redis cannot be reached.
   *
   * @example
   * ```ts ignore
   * if (await rooms.create(5n, 1) !== "created") throw new Error("Taken");
   * ```
   */
  async create(code: bigint, owner: OwnerId): Promise<"created" | "taken" | "full"> {
    const part = gdayRoomKeyPart(code);
    const keys = this.#redis.keys;
    const result = await this.#redis.run(
      CREATE,
      [keys.gdayRoom(part), keys.gdayRooms, keys.gdaySeq],
      [this.#ttlMs, this.#maxRooms, this.#redis.instanceId, this.#owner(owner), part],
    ) as [string, number?];
    if (result[0] !== "created") return result[0] as "taken" | "full";
    const id = Number(result[1]);
    this.#track(owner, part);
    const earlier = this.#created.get(part);
    if (earlier !== undefined) clearTimeout(earlier.timer);
    this.#created.set(part, {
      id,
      timer: setTimeout(() => {
        if (this.#created.get(part)?.id !== id) return;
        this.#created.delete(part);
        this.#onEvent({ kind: "expired", roomId: id });
      }, this.#ttlMs),
    });
    this.#onEvent({ kind: "created", roomId: id });
    return "created";
  }

  /**
   * Does a room with this code exist (on any process)?
   *
   * @example
   * ```ts ignore
   * if (await rooms.has(1n)) console.log("live");
   * ```
   */
  async has(code: bigint): Promise<boolean> {
    const key = this.#redis.keys.gdayRoom(gdayRoomKeyPart(code));
    return (await this.#redis.command((client) => client.exists(key))) === 1;
  }

  /**
   * Record one side's addresses; false when there is no such room (an expired one stays gone).
   *
   * @example
   * ```ts ignore
   * await rooms.sendAddr(1n, "joiner", 2, { family: "v4", ip: "192.0.2.2", port: 2 }, null);
   * ```
   */
  async sendAddr(
    code: bigint,
    role: Role,
    owner: OwnerId,
    publicAddr: SocketAddr,
    privateAddr: SocketAddr | null,
  ): Promise<boolean> {
    const part = gdayRoomKeyPart(code);
    const found = await this.#redis.run(SEND_ADDR, [this.#redis.keys.gdayRoom(part)], [
      role === "creator" ? "c" : "j",
      this.#owner(owner),
      publicAddr.family === "v4" ? "4" : "6",
      JSON.stringify(publicAddr),
      privateAddr === null ? "" : privateAddr.family === "v4" ? "4" : "6",
      privateAddr === null ? "" : JSON.stringify(privateAddr),
    ]);
    if (found !== 1) return false;
    this.#track(owner, part);
    return true;
  }

  /**
   * Mark one side done; the peer's contact follows, from whichever process the peer is on.
   *
   * @example
   * ```ts ignore
   * const result = await rooms.done(1n, "creator", 1);
   * const outcome = await result?.peer;
   * ```
   */
  async done(code: bigint, role: Role, owner: OwnerId): Promise<DoneResult | null> {
    const part = gdayRoomKeyPart(code);
    const token = `${this.#redis.instanceId}|${this.#nextWait++}`;
    // Registered before the script runs: a peer finishing right after must find it.
    let resolve!: (outcome: PeerOutcome) => void;
    const peer = new Promise<PeerOutcome>((r) => (resolve = r));
    let settled: PeerOutcome | null = null;
    const waiter: Waiter = {
      token,
      owner,
      part,
      timer: undefined,
      resolve: (outcome) => {
        if (!this.#waiters.delete(token)) return;
        clearTimeout(waiter.timer);
        settled = outcome;
        resolve(outcome);
      },
    };
    this.#waiters.set(token, waiter);
    const keys = this.#redis.keys;
    let result: Field[];
    try {
      result = await this.#redis.run(DONE, [keys.gdayRoom(part), keys.gdayRooms], [
        role === "creator" ? "c" : "j",
        role === "creator" ? "j" : "c",
        this.#owner(owner),
        token,
        part,
      ]) as Field[];
    } catch (error) {
      this.#waiters.delete(token);
      throw error;
    }
    const status = result[0];
    if (status === "none") {
      this.#waiters.delete(token);
      return null;
    }
    this.#track(owner, part);
    const own = contactOf(result, 1);
    const replaced = result[5] ?? null;
    if (replaced !== null) await this.#deliver(replaced, { ok: false, reason: "replaced" });
    const creator = result[11] as string;
    const id = Number(result[12]);
    if (status === "waiting") {
      const pttl = Number(result[13]);
      if (!this.#waiters.has(token)) return { own, peer, settled }; // already told
      waiter.timer = setTimeout(
        () => waiter.resolve({ ok: false, reason: "expired" }),
        (pttl > 0 ? pttl : this.#ttlMs) + EXPIRY_GRACE_MS,
      );
      if (this.#closed) waiter.resolve({ ok: false, reason: "closed" });
      else if (!this.#redis.ready) waiter.resolve({ ok: false, reason: "unavailable" });
      return { own, peer, settled };
    }
    if (status === "abandoned") {
      waiter.resolve({ ok: false, reason: "peer-left" });
      await this.#ended(part, creator, id, "abandoned");
      return { own, peer, settled };
    }
    // Exchanged: the peer was waiting.
    const peerContact = contactOf(result, 6);
    waiter.resolve({ ok: true, contact: peerContact });
    await this.#deliver(result[10] as string, { ok: true, contact: own });
    await this.#ended(part, creator, id, "exchanged");
    return { own, peer, settled };
  }

  /**
   * The connection `owner` closed: release it from every room it touched (a waiting peer left
   * alone is answered `peer-left`). Runs in the background; failures are ignored (the rooms
   * expire anyway).
   *
   * @example
   * ```ts ignore
   * rooms.release(1);
   * ```
   */
  release(owner: OwnerId): void {
    for (const waiter of [...this.#waiters.values()]) {
      if (waiter.owner === owner) this.#waiters.delete(waiter.token);
    }
    const parts = this.#owned.get(owner);
    if (parts === undefined) return;
    this.#owned.delete(owner);
    const keys = this.#redis.keys;
    for (const part of parts) {
      this.#redis.run(RELEASE, [keys.gdayRoom(part), keys.gdayRooms], [this.#owner(owner), part])
        .then(async (value) => {
          const result = value as Field[];
          if (result[0] !== "abandoned") return;
          for (const waiter of [result[1], result[2]]) {
            if (waiter) await this.#deliver(waiter, { ok: false, reason: "peer-left" });
          }
          await this.#ended(part, result[3] as string, Number(result[4]), "abandoned");
        })
        .catch(() => {/* Redis is down: the room expires by itself */});
    }
  }

  /**
   * Stop: every wait of this process ends (`closed`) and every timer is cleared. The rooms stay
   * in Redis (other processes may still finish them) until they expire.
   *
   * @example
   * ```ts ignore
   * rooms.close();
   * ```
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#stopHandling();
    this.#stopWatching();
    this.#failWaiters("closed");
    for (const room of this.#created.values()) clearTimeout(room.timer);
    this.#created.clear();
    this.#owned.clear();
  }

  #track(owner: OwnerId, part: string): void {
    let parts = this.#owned.get(owner);
    if (parts === undefined) this.#owned.set(owner, parts = new Set());
    parts.add(part);
  }

  #failWaiters(reason: PeerFailure): void {
    for (const waiter of [...this.#waiters.values()]) waiter.resolve({ ok: false, reason });
  }

  /** Tell a waiter (here or on its process) how its wait ended; lost when Redis is down. */
  async #deliver(token: string, outcome: PeerOutcome): Promise<void> {
    const instance = token.slice(0, token.indexOf("|"));
    if (instance === this.#redis.instanceId) {
      this.#waiters.get(token)?.resolve(outcome);
      return;
    }
    await this.#redis.send(instance, "gday", { wait: token, outcome }).catch(() => {
      // The waiter's process fails its waits when it loses Redis; otherwise its timer ends it.
    });
  }

  /** A room ended here: report it, and tell the creator's process to stop its expiry timer. */
  async #ended(part: string, creator: string, id: number, kind: "exchanged" | "abandoned") {
    this.#onEvent({ kind, roomId: id });
    if (creator === this.#redis.instanceId) {
      const room = this.#created.get(part);
      if (room?.id === id) {
        clearTimeout(room.timer);
        this.#created.delete(part);
      }
      return;
    }
    await this.#redis.send(creator, "gday", { ended: part, id }).catch(() => {});
  }

  #onMessage(message: RedisMessage): void {
    if (typeof message.wait === "string") {
      const outcome = message.outcome as PeerOutcome;
      this.#waiters.get(message.wait)?.resolve(outcome);
    }
    if (typeof message.ended === "string") {
      const room = this.#created.get(message.ended);
      if (room !== undefined && room.id === message.id) {
        clearTimeout(room.timer);
        this.#created.delete(message.ended);
      }
    }
  }
}
