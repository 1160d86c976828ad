/**
 * One server process's link to Redis: a command connection, a subscriber connection, Lua scripts
 * by SHA, and direct messages between processes over pub/sub. The stores of `server/redis/`
 * talk to Redis only through this class. Made with `npm:ioredis` (pinned in `deno.json`).
 *
 * Every process gets a random {@linkcode RedisConnection.instanceId} and subscribes to its own
 * channel, `<prefix>instance:<id>`. A store that needs to reach the process holding the other
 * side of an exchange (a waiting gday client, a broker receiver, a waiting mediator peer, a chat
 * user) records that process's id in Redis beside the state, and {@linkcode
 * RedisConnection.send}s it a JSON message tagged with the service name (`{"s":"gday",...}`);
 * the receiving process hands it to the handler that service registered with
 * {@linkcode RedisConnection.handle}.
 *
 * When Redis goes away the connection says so at once: {@linkcode RedisConnection.ready} turns
 * false, listeners of {@linkcode RedisConnection.onReadyChange} are told (the stores fail the
 * waits they hold, since pub/sub messages sent meanwhile are lost), and commands reject with
 * {@linkcode RedisUnavailableError} instead of queueing; services answer those with their
 * "try again later" reply. The connection reconnects by itself (backing off to
 * `reconnectMaxDelayMs`), re-subscribes, turns ready again and logs each change
 * (`redis_ready`, `redis_unavailable`). It never throws from an event.
 *
 * @example Connect, run a script, close
 * ```ts ignore
 * import { connectRedis, defineRedisScript } from "./connection.ts";
 * await using redis = await connectRedis({ url: "redis://127.0.0.1:6379" });
 * const incr = defineRedisScript("return redis.call('INCR', KEYS[1])", 1);
 * const n = await redis.run(incr, [redis.key("demo")], []);
 * console.log(n, redis.ready);
 * ```
 *
 * @module
 */

import { Redis, type RedisOptions } from "ioredis";
import type { Logger } from "../logger.ts";
import { StateUnavailableError } from "../state_errors.ts";
import type { RedisScript } from "./script.ts";
import { type RedisKeys, redisKeys } from "./keys.ts";

export { defineRedisScript, type RedisScript } from "./script.ts";
/** The plain commands {@linkcode RedisConnection.command} offers (the stores need no others). */
export interface RedisCommands {
  /** `GET key`. */
  get(key: string): Promise<string | null>;
  /** `SET key value` (`NX`: only when the key is absent). */
  set(key: string, value: string, mode?: "NX"): Promise<"OK" | null>;
  /** `DEL key...`. */
  del(...keys: string[]): Promise<number>;
  /** `EXISTS key...`. */
  exists(...keys: string[]): Promise<number>;
  /** `HGET key field`. */
  hget(key: string, field: string): Promise<string | null>;
  /** `HMGET key field...`. */
  hmget(key: string, ...fields: string[]): Promise<(string | null)[]>;
  /** `PTTL key`. */
  pttl(key: string): Promise<number>;
  /** `PUBLISH channel message`. */
  publish(channel: string, message: string): Promise<number>;
}

/** Key and channel prefix unless told otherwise (every key of peerlink starts with it). */
export const DEFAULT_REDIS_PREFIX = "peerlink:";

/** How long one Redis command may take before it fails, unless told otherwise: 2 s. */
export const DEFAULT_REDIS_COMMAND_TIMEOUT_MS = 2_000;

/** The longest pause between reconnection attempts unless told otherwise: 2 s. */
export const DEFAULT_REDIS_RECONNECT_MAX_DELAY_MS = 2_000;

/** How long {@linkcode connectRedis} waits for the first connection unless told otherwise: 5 s. */
export const DEFAULT_REDIS_CONNECT_WAIT_MS = 5_000;

/**
 * Redis cannot be reached (or did not answer in time): the request should be retried later.
 *
 * @example
 * ```ts
 * import { RedisUnavailableError } from "./connection.ts";
 * const error = new RedisUnavailableError("Redis is unreachable", { cause: new Error("ECONNREFUSED") });
 * if (error.name !== "RedisUnavailableError" || !(error.cause instanceof Error)) throw new Error("Bad error");
 * ```
 */
export class RedisUnavailableError extends StateUnavailableError {
  /**
   * Make the error.
   *
   * @example
   * ```ts
   * import { RedisUnavailableError } from "./connection.ts";
   * if (!new RedisUnavailableError().message.includes("Redis")) throw new Error("Bad message");
   * ```
   */
  constructor(message = "Redis is unavailable; try again later", options?: ErrorOptions) {
    super(message, options);
    this.name = "RedisUnavailableError";
  }
}

/** A message from another process, as a service receives it (JSON, `s` names the service). */
export type RedisMessage = Record<string, unknown> & { s: string };

/** Handles the messages sent to this process for one service. */
export type RedisMessageHandler = (message: RedisMessage) => void;

/** Options for {@linkcode connectRedis}. */
export interface RedisConnectionOptions {
  /** `redis://[user:password@]host[:port][/db]` or `rediss://...` for TLS. */
  url: string;
  /** Prefix of every key and channel. @default {"peerlink:"} */
  prefix?: string;
  /** Where connectivity changes are logged. @default {no logging} */
  logger?: Logger;
  /** How long one command may take before it fails, in ms. @default {2000} */
  commandTimeoutMs?: number;
  /** The longest pause between reconnection attempts, in ms. @default {2000} */
  reconnectMaxDelayMs?: number;
  /**
   * How long {@linkcode connectRedis} waits for the first connection, in ms; the server starts
   * anyway after it (not ready, still retrying).
   * @default {5000}
   */
  connectWaitMs?: number;
  /** This process's id in Redis. @default {16 random hex digits} */
  instanceId?: string;
}

/**
 * The URL with any password replaced by `***`, for logs.
 *
 * @example
 * ```ts
 * import { redactRedisUrl } from "./connection.ts";
 * if (redactRedisUrl("redis://:hunter2@db:6379/0") !== "redis://:***@db:6379/0") throw new Error("Leaked");
 * ```
 */
export function redactRedisUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== "") parsed.password = "***";
    return parsed.toString();
  } catch {
    return "(invalid URL)";
  }
}

/**
 * A process's connection to Redis. Make one with {@linkcode connectRedis}.
 *
 * @example
 * ```ts ignore
 * import { connectRedis } from "./connection.ts";
 * const redis = await connectRedis({ url: "redis://127.0.0.1:6379" });
 * const stop = redis.onReadyChange((ready) => console.log("Redis ready:", ready));
 * stop();
 * await redis.close();
 * ```
 */
export class RedisConnection implements AsyncDisposable {
  /** The prefix of every key and channel. */
  readonly prefix: string;
  /** This process's id: the name of its channel and the owner id it records in Redis. */
  readonly instanceId: string;
  /** The URL, password redacted. */
  readonly url: string;
  /** Every key name under {@linkcode RedisConnection.prefix} (see `keys.ts`). */
  readonly keys: RedisKeys;

  #cmd: Redis;
  #sub: Redis;
  #logger: Logger | null;
  #handlers = new Map<string, RedisMessageHandler>();
  #listeners = new Set<(ready: boolean) => void>();
  #ready = false;
  #closing = false;
  #everReady = false;
  #errorLogged = false;
  /** Resolved when each client has ended, by its "end" event or by {@linkcode close}. */
  #ended = new Map<Redis, PromiseWithResolvers<void>>();

  /**
   * Open the two connections (they connect in the background). Prefer {@linkcode connectRedis}.
   *
   * @example
   * ```ts ignore
   * import { RedisConnection } from "./connection.ts";
   * const redis = new RedisConnection({ url: "redis://127.0.0.1:6379" });
   * await redis.waitReady(AbortSignal.timeout(5000));
   * await redis.close();
   * ```
   */
  constructor(options: RedisConnectionOptions) {
    let parsed: URL;
    try {
      parsed = new URL(options.url);
    } catch (error) {
      throw new RangeError(`Redis URL "${options.url}" is not a URL`, { cause: error });
    }
    if (parsed.protocol !== "redis:" && parsed.protocol !== "rediss:") {
      throw new RangeError(
        `Redis URL "${redactRedisUrl(options.url)}" must start with redis:// or rediss://`,
      );
    }
    const commandTimeout = options.commandTimeoutMs ?? DEFAULT_REDIS_COMMAND_TIMEOUT_MS;
    const maxDelay = options.reconnectMaxDelayMs ?? DEFAULT_REDIS_RECONNECT_MAX_DELAY_MS;
    if (!(commandTimeout > 0) || !(maxDelay > 0)) {
      throw new RangeError(
        `Redis timeouts must be > 0 (command ${commandTimeout} ms, reconnect ${maxDelay} ms)`,
      );
    }
    this.prefix = options.prefix ?? DEFAULT_REDIS_PREFIX;
    this.instanceId = options.instanceId ??
      crypto.getRandomValues(new Uint8Array(8)).toHex();
    this.url = redactRedisUrl(options.url);
    this.keys = redisKeys(this.prefix);
    this.#logger = options.logger ?? null;
    const base: RedisOptions = {
      lazyConnect: true,
      connectTimeout: Math.max(commandTimeout, 1000),
      retryStrategy: (times: number) => Math.min(50 * 2 ** Math.min(times, 10), maxDelay),
      // A command while disconnected fails at once: clients get "try again later".
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout,
      enableReadyCheck: true,
    };
    this.#cmd = new Redis(options.url, { ...base, connectionName: `peerlink-${this.instanceId}` });
    // The subscriber queues its SUBSCRIBE until connected and re-subscribes after reconnecting.
    this.#sub = new Redis(options.url, {
      ...base,
      enableOfflineQueue: true,
      maxRetriesPerRequest: null,
      commandTimeout: undefined,
      connectionName: `peerlink-${this.instanceId}-sub`,
    });
    for (const client of [this.#cmd, this.#sub]) {
      client.on("ready", () => this.#update());
      client.on("close", () => this.#update());
      client.on("end", () => this.#update());
      client.on("error", (error: Error) => this.#onError(error));
    }
    this.#sub.on("message", (_channel: string, text: string) => this.#onMessage(text));
    for (const client of [this.#cmd, this.#sub]) {
      const ended = Promise.withResolvers<void>();
      client.once("end", () => ended.resolve());
      this.#ended.set(client, ended);
    }
    this.#cmd.connect().catch(() => {/* retried; reported by the error event */});
    this.#sub.connect().catch(() => {});
    this.#sub.subscribe(this.channel(this.instanceId)).catch(() => {});
  }

  /**
   * Whether commands can run and messages arrive now.
   *
   * @example
   * ```ts ignore
   * if (!redis.ready) return new Response("Redis unavailable", { status: 503 });
   * ```
   */
  get ready(): boolean {
    return this.#ready;
  }

  /**
   * Call `listener` each time {@linkcode RedisConnection.ready} changes; returns the function
   * that stops it.
   *
   * @example
   * ```ts ignore
   * const stop = redis.onReadyChange((ready) => console.log(ready ? "up" : "down"));
   * stop();
   * ```
   */
  onReadyChange(listener: (ready: boolean) => void): () => void {
    this.#listeners.add(listener);
    return () => void this.#listeners.delete(listener);
  }

  /**
   * Resolve once ready (at once when ready now); rejects with `signal.reason` when it aborts.
   *
   * @example
   * ```ts ignore
   * await redis.waitReady(AbortSignal.timeout(5000));
   * ```
   */
  waitReady(signal?: AbortSignal): Promise<void> {
    if (this.#ready) return Promise.resolve();
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise((resolve, reject) => {
      const stop = this.onReadyChange((ready) => {
        if (!ready) return;
        done();
        resolve();
      });
      const onAbort = (): void => {
        done();
        reject(signal!.reason);
      };
      const done = (): void => {
        stop();
        signal?.removeEventListener("abort", onAbort);
      };
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  }

  /**
   * A key: the prefix, then the parts joined by `:`.
   *
   * @example
   * ```ts ignore
   * redis.key("gday", "room", "ab12"); // "peerlink:gday:room:ab12"
   * ```
   */
  key(...parts: string[]): string {
    return this.prefix + parts.join(":");
  }

  /**
   * The pub/sub channel of process `instanceId`.
   *
   * @example
   * ```ts ignore
   * redis.channel(redis.instanceId); // "peerlink:instance:<id>"
   * ```
   */
  channel(instanceId: string): string {
    return this.keys.instance(instanceId);
  }

  /**
   * Run a script (by SHA; loaded when Redis does not know it yet).
   *
   * @throws {RedisUnavailableError} when Redis is down, slow, or the script fails.
   *
   * @example
   * ```ts ignore
   * const value = await redis.run(script, [redis.key("x")], ["1"]);
   * ```
   */
  async run(
    script: RedisScript,
    keys: readonly string[],
    args: readonly (string | number)[],
  ): Promise<unknown> {
    if (keys.length !== script.keys) {
      throw new RangeError(`Script wants ${script.keys} keys, got ${keys.length}`);
    }
    return await this.#raw(async (client) => {
      try {
        return await client.evalsha(script.sha, script.keys, ...keys, ...args);
      } catch (error) {
        if (!String((error as Error)?.message).startsWith("NOSCRIPT")) throw error;
        return await client.eval(script.lua, script.keys, ...keys, ...args);
      }
    });
  }

  /**
   * Run commands on the command connection, turning any failure into
   * {@linkcode RedisUnavailableError}.
   *
   * @example
   * ```ts ignore
   * const ttl = await redis.command((client) => client.pttl(redis.key("x")));
   * ```
   */
  command<T>(fn: (client: RedisCommands) => Promise<T>): Promise<T> {
    return this.#raw((client) => fn(client as unknown as RedisCommands));
  }

  async #raw<T>(fn: (client: Redis) => Promise<T>): Promise<T> {
    if (this.#closing) throw new RedisUnavailableError("The Redis connection is closed");
    if (!this.#ready) throw new RedisUnavailableError();
    try {
      return await fn(this.#cmd);
    } catch (error) {
      if (error instanceof RedisUnavailableError) throw error;
      throw new RedisUnavailableError(
        `Redis failed: ${(error as Error)?.message ?? String(error)}`,
        { cause: error },
      );
    }
  }

  /**
   * Receive the messages sent to this process for `service`; returns the function that stops.
   *
   * @example
   * ```ts ignore
   * const stop = redis.handle("gday", (message) => console.log(message));
   * stop();
   * ```
   */
  handle(service: string, handler: RedisMessageHandler): () => void {
    if (this.#handlers.has(service)) {
      throw new RangeError(`Redis messages for "${service}" already have a handler`);
    }
    this.#handlers.set(service, handler);
    return () => {
      if (this.#handlers.get(service) === handler) this.#handlers.delete(service);
    };
  }

  /**
   * Send `payload` to the `service` handler of process `instanceId` (possibly this one). Messages
   * from one process arrive in the order sent; a process that is gone never gets them.
   *
   * @throws {RedisUnavailableError} when Redis is down.
   *
   * @example
   * ```ts ignore
   * await redis.send(otherInstance, "gday", { wait: "abc", ok: true });
   * ```
   */
  async send(instanceId: string, service: string, payload: Record<string, unknown>): Promise<void> {
    const text = JSON.stringify({ ...payload, s: service });
    await this.command((client) => client.publish(this.channel(instanceId), text));
  }

  /**
   * Close both connections (pending commands fail); resolves when both sockets are closed.
   *
   * @example
   * ```ts ignore
   * await redis.close();
   * ```
   */
  async close(): Promise<void> {
    if (!this.#closing) {
      this.#closing = true;
      for (const client of [this.#cmd, this.#sub]) {
        // ioredis 5 never emits "end" for a client waiting to reconnect: it has no socket then,
        // and disconnect() only clears its timer. Such a client is closed once disconnected.
        const waiting = client.status === "reconnecting";
        client.disconnect();
        if (waiting) this.#ended.get(client)!.resolve();
      }
    }
    await Promise.all([...this.#ended.values()].map((ended) => ended.promise));
    this.#update();
  }

  /**
   * Same as {@linkcode RedisConnection.close}.
   *
   * @example
   * ```ts ignore
   * { await using redis = await connectRedis({ url }); }
   * ```
   */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #update(): void {
    const ready = !this.#closing && this.#cmd.status === "ready" &&
      this.#sub.status === "ready";
    if (ready === this.#ready) return;
    this.#ready = ready;
    if (ready) {
      this.#errorLogged = false;
      this.#logger?.log("info", this.#everReady ? "redis_reconnected" : "redis_ready", {
        url: this.url,
        instance: this.instanceId,
      });
      this.#everReady = true;
    } else if (!this.#closing) {
      this.#logger?.log("warn", "redis_unavailable", { url: this.url });
    }
    for (const listener of [...this.#listeners]) {
      try {
        listener(ready);
      } catch (error) {
        this.#logger?.log("error", "redis_listener_failed", { error: String(error) });
      }
    }
  }

  #onError(error: Error): void {
    this.#update();
    if (this.#errorLogged || this.#closing) return;
    this.#errorLogged = true;
    this.#logger?.log("warn", "redis_error", { url: this.url, error: error.message });
  }

  #onMessage(text: string): void {
    let message: RedisMessage;
    try {
      message = JSON.parse(text);
    } catch {
      this.#logger?.log("warn", "redis_bad_message", { bytes: text.length });
      return;
    }
    const handler = typeof message?.s === "string" ? this.#handlers.get(message.s) : undefined;
    if (handler === undefined) return;
    try {
      handler(message);
    } catch (error) {
      this.#logger?.log("error", "redis_handler_failed", {
        service: message.s,
        error: String(error),
      });
    }
  }
}

/**
 * Open a connection and wait (at most `connectWaitMs`) until it is ready. When Redis cannot be
 * reached in that time the connection is returned anyway, not ready and still retrying, so that
 * a server can start and serve once Redis is back.
 *
 * @throws {RangeError} for a URL that is not `redis://` or `rediss://`.
 *
 * @example
 * ```ts ignore
 * import { connectRedis } from "./connection.ts";
 * await using redis = await connectRedis({ url: "redis://127.0.0.1:6379", connectWaitMs: 1000 });
 * console.log(redis.ready);
 * ```
 */
export async function connectRedis(options: RedisConnectionOptions): Promise<RedisConnection> {
  const connection = new RedisConnection(options);
  const waitMs = options.connectWaitMs ?? DEFAULT_REDIS_CONNECT_WAIT_MS;
  const timeout = new AbortController();
  const timer = setTimeout(() => timeout.abort(new Error("Timed out")), waitMs);
  try {
    await connection.waitReady(timeout.signal);
  } catch {
    options.logger?.log("warn", "redis_not_ready", {
      url: connection.url,
      waited_ms: waitMs,
    });
  } finally {
    clearTimeout(timer);
  }
  return connection;
}
