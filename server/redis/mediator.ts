/**
 * A mediator mode's waiting registrations in Redis, shared by every server process: a peer
 * waiting on one process is paired with the peer that names it on another, with the semantics
 * of {@linkcode MediatorRegistry} (both must name each other; a key registering again replaces
 * its earlier registration).
 *
 * A waiting registration is one hash, `peerlink:mediator:<mode>:wait:<fingerprint>` (fields:
 * `w` the fingerprint it wants, `t` its ticket, `i` its process, `v` its data as JSON), expiring
 * after the wait timeout. Registering runs one Lua script: when the wanted key waits for this
 * one, its entry is taken (so one pairing happens, whoever registers at the same instant) and
 * the newcomer pairs at once; otherwise the newcomer's entry is written, replacing (and
 * returning) an earlier one of the same key. Cancelling deletes the entry only when its ticket is
 * still the one written.
 *
 * The pairing reaches the waiter's process as a message on its channel
 * (`{"s":"mediator:<mode>","op":"paired","t":<ticket>,"v":<peer data>}`), and the newcomer's
 * handoff result follows (`op: "handoff"`); a replaced waiter gets `op: "replaced"`. When the
 * Redis connection drops, every wait of this process ends `unavailable` (messages sent meanwhile
 * would be lost) and the services answer "try again later". A waiter whose entry was taken but
 * whose pairing message never comes (the other process died) ends `unavailable` after
 * `lostPairingMs`.
 *
 * @module
 */

import type { MediatorStore, RegisterResult, WaitOutcome } from "../services/mediator_registry.ts";
import type { RedisConnection, RedisMessage } from "./connection.ts";
import { defineRedisScript } from "./script.ts";

/** How long a waiter whose entry was taken waits for the pairing message: 5 s. */
export const DEFAULT_LOST_PAIRING_MS = 5_000;

/** KEYS: wanted's entry, own entry. ARGV: own, wants, ticket, instance, data, ttlMs. */
const REGISTER = defineRedisScript(
  `
if ARGV[1] ~= ARGV[2] and redis.call('HGET', KEYS[1], 'w') == ARGV[1] then
  local peer = redis.call('HMGET', KEYS[1], 't', 'i', 'v')
  redis.call('DEL', KEYS[1])
  return {'matched', peer[1], peer[2], peer[3]}
end
local old = redis.call('HMGET', KEYS[2], 't', 'i')
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[2], 'w', ARGV[2], 't', ARGV[3], 'i', ARGV[4], 'v', ARGV[5])
redis.call('PEXPIRE', KEYS[2], ARGV[6])
return {'waiting', old[1], old[2]}
`,
  2,
);

/** KEYS: own entry. ARGV: ticket. */
const CANCEL = defineRedisScript(
  `
if redis.call('HGET', KEYS[1], 't') == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
`,
  1,
);

/** How a value crosses processes. */
export interface MediatorValueCodec<T> {
  /** To JSON-safe data. */
  encode(value: T): unknown;
  /** Back from it. */
  decode(data: unknown): T;
}

/** Options for {@linkcode RedisMediatorStore}. */
export interface RedisMediatorStoreOptions<T> {
  /** The connection (shared with the other stores of this process). */
  redis: RedisConnection;
  /** The mode, part of the keys and message tags: `"native"` or `"p2psc"`. */
  mode: string;
  /** Registrations waiting in this process at most. */
  maxPending: number;
  /** How long an entry lives in Redis, in ms (the wait timeout, plus a margin). */
  ttlMs: number;
  /** How values cross processes. @default {JSON as is} */
  codec?: MediatorValueCodec<T>;
  /** See the module notes. @default {5000} */
  lostPairingMs?: number;
}

interface Waiting<T> {
  own: string;
  token: string;
  resolve: (outcome: WaitOutcome<T>) => void;
  timer: ReturnType<typeof setTimeout> | undefined;
}

/**
 * Waiting registrations of one mediator mode, in Redis (see the module notes).
 *
 * @example
 * ```ts ignore
 * import { RedisMediatorStore } from "./mediator.ts";
 * const store = new RedisMediatorStore<string>({ redis, mode: "native", maxPending: 100, ttlMs: 125_000 });
 * const result = await store.register("alice", "bob", "alice's address");
 * ```
 */
export class RedisMediatorStore<T> implements MediatorStore<T> {
  #redis: RedisConnection;
  #mode: string;
  #max: number;
  #ttlMs: number;
  #codec: MediatorValueCodec<T>;
  #lostMs: number;
  /** Waiting here, by ticket token. */
  #waiting = new Map<string, Waiting<T>>();
  #tokens = new Map<symbol, string>();
  /** Paired waiters whose handoff result has not come, by ticket token. */
  #handoffs = new Map<string, (ok: boolean) => void>();
  #next = 1;
  #stop: (() => void)[] = [];

  /**
   * A store on `redis` for one mode (one store per mode and connection).
   *
   * @example
   * ```ts ignore
   * const store = new RedisMediatorStore({ redis, mode: "p2psc", maxPending: 10_000, ttlMs: 125_000 });
   * ```
   */
  constructor(options: RedisMediatorStoreOptions<T>) {
    if (!Number.isInteger(options.maxPending) || options.maxPending < 1) {
      throw new RangeError(
        `Mediator maxPending is ${options.maxPending}, it must be an integer >= 1`,
      );
    }
    this.#redis = options.redis;
    this.#mode = options.mode;
    this.#max = options.maxPending;
    this.#ttlMs = Math.ceil(options.ttlMs);
    this.#codec = options.codec ??
      { encode: (value: T) => value, decode: (data: unknown) => data as T };
    this.#lostMs = options.lostPairingMs ?? DEFAULT_LOST_PAIRING_MS;
    this.#stop.push(
      this.#redis.handle(`mediator:${this.#mode}`, (message) => this.#onMessage(message)),
      this.#redis.onReadyChange((ready) => {
        if (!ready) this.#failAll({ kind: "unavailable" });
      }),
    );
  }

  /**
   * Registrations waiting in this process.
   *
   * @example
   * ```ts ignore
   * console.log(store.size);
   * ```
   */
  get size(): number {
    return this.#waiting.size;
  }

  /**
   * Register `own` wanting `wants`: pair at once with a peer waiting on any process, or wait.
   *
   * @throws {RedisUnavailableError} when Redis cannot be reached.
   *
   * @example
   * ```ts ignore
   * const result = await store.register("alice", "bob", value);
   * if (result.kind === "matched") result.settle(true);
   * ```
   */
  async register(own: string, wants: string, value: T): Promise<RegisterResult<T>> {
    if (
      this.#waiting.size >= this.#max && ![...this.#waiting.values()].some((w) => w.own === own)
    ) {
      return { kind: "full" };
    }
    const token = `${this.#redis.instanceId}|${this.#next++}`;
    const ticket = Symbol(own);
    let resolve!: (outcome: WaitOutcome<T>) => void;
    const outcome = new Promise<WaitOutcome<T>>((r) => (resolve = r));
    // Known before the script runs: a pairing message may come right after it.
    const waiting: Waiting<T> = {
      own,
      token,
      timer: undefined,
      resolve: (result) => {
        if (!this.#waiting.delete(token)) return;
        this.#tokens.delete(ticket);
        clearTimeout(waiting.timer);
        resolve(result);
      },
    };
    this.#waiting.set(token, waiting);
    this.#tokens.set(ticket, token);
    const keys = this.#redis.keys;
    let result: (string | null)[];
    try {
      result = await this.#redis.run(
        REGISTER,
        [keys.mediatorWait(this.#mode, wants), keys.mediatorWait(this.#mode, own)],
        [
          own,
          wants,
          token,
          this.#redis.instanceId,
          JSON.stringify(this.#codec.encode(value)),
          this.#ttlMs,
        ],
      ) as (string | null)[];
    } catch (error) {
      this.#waiting.delete(token);
      this.#tokens.delete(ticket);
      throw error;
    }
    if (result[0] === "matched") {
      this.#waiting.delete(token);
      this.#tokens.delete(ticket);
      const peerToken = result[1]!;
      const peerInstance = result[2]!;
      const peer = this.#codec.decode(JSON.parse(result[3]!));
      await this.#tell(peerInstance, { op: "paired", t: peerToken, v: this.#codec.encode(value) });
      let settled = false;
      return {
        kind: "matched",
        peer,
        settle: (ok) => {
          if (settled) return;
          settled = true;
          this.#tell(peerInstance, { op: "handoff", t: peerToken, ok }).catch(() => {});
        },
      };
    }
    const oldToken = result[1] ?? null;
    const oldInstance = result[2] ?? null;
    if (oldToken !== null && oldInstance !== null && oldToken !== token) {
      await this.#tell(oldInstance, { op: "replaced", t: oldToken }).catch(() => {});
    }
    if (!this.#redis.ready) waiting.resolve({ kind: "unavailable" });
    return { kind: "waiting", outcome, ticket };
  }

  /**
   * Withdraw a waiting registration; false when it was paired or replaced meanwhile (its
   * outcome then follows). While Redis is down it answers true (the entry expires by itself).
   *
   * @example
   * ```ts ignore
   * await store.cancel("alice", result.ticket);
   * ```
   */
  async cancel(own: string, ticket: symbol): Promise<boolean> {
    const token = this.#tokens.get(ticket);
    if (token === undefined) return false;
    const waiting = this.#waiting.get(token);
    if (waiting === undefined || waiting.own !== own) return false;
    let removed: boolean;
    try {
      removed = (await this.#redis.run(
        CANCEL,
        [this.#redis.keys.mediatorWait(this.#mode, own)],
        [token],
      )) === 1;
    } catch {
      removed = true;
    }
    if (removed) {
      this.#waiting.delete(token);
      this.#tokens.delete(ticket);
      clearTimeout(waiting.timer);
      return true;
    }
    if (!this.#waiting.has(token)) return false; // the outcome came meanwhile
    // Taken by a pairing (or replaced) on another process: its message is on the way.
    waiting.timer = setTimeout(() => waiting.resolve({ kind: "unavailable" }), this.#lostMs);
    return false;
  }

  /**
   * End every wait of this process (`closed`) and stop handling messages; the entries in Redis
   * expire by themselves.
   *
   * @example
   * ```ts ignore
   * store.clear();
   * ```
   */
  clear(): void {
    for (const stop of this.#stop.splice(0)) stop();
    this.#failAll({ kind: "closed" });
  }

  #failAll(outcome: WaitOutcome<T>): void {
    for (const waiting of [...this.#waiting.values()]) waiting.resolve(outcome);
    for (const handoff of [...this.#handoffs.values()]) handoff(false);
  }

  async #tell(instance: string, payload: Record<string, unknown>): Promise<void> {
    if (instance === this.#redis.instanceId) {
      this.#onMessage({ ...payload, s: `mediator:${this.#mode}` });
      return;
    }
    await this.#redis.send(instance, `mediator:${this.#mode}`, payload);
  }

  #onMessage(message: RedisMessage): void {
    const token = message.t;
    if (typeof token !== "string") return;
    switch (message.op) {
      case "paired": {
        const waiting = this.#waiting.get(token);
        if (waiting === undefined) return;
        let settle!: (ok: boolean) => void;
        const handoff = new Promise<boolean>((resolve) => (settle = resolve));
        const timer = setTimeout(() => finish(false), this.#lostMs * 2);
        const finish = (ok: boolean): void => {
          if (this.#handoffs.get(token) !== finish) return;
          this.#handoffs.delete(token);
          clearTimeout(timer);
          settle(ok);
        };
        this.#handoffs.set(token, finish);
        let peer: T;
        try {
          peer = this.#codec.decode(message.v);
        } catch {
          finish(false);
          waiting.resolve({ kind: "unavailable" });
          return;
        }
        waiting.resolve({ kind: "paired", peer, handoff });
        return;
      }
      case "handoff":
        this.#handoffs.get(token)?.(message.ok === true);
        return;
      case "replaced":
        this.#waiting.get(token)?.resolve({ kind: "replaced" });
        return;
    }
  }
}
