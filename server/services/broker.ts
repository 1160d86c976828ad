/**
 * The connection broker: the p2prs twelve-step keep-alive flow (spec: p2prs.md §2; wire format:
 * `protocol/broker.ts`).
 *
 * Receivers keep a registration connection open and send a keep-alive every 30 s; the broker
 * answers each one (so a receiver notices a dead broker) and drops a receiver after 65 s of
 * silence, when its connection closes, or on `kill`. A UID is held by whoever registered it
 * first; registering it again needs the same secret (only an HMAC of it is kept, under a key
 * drawn per broker), and replaces the old registration.
 *
 * A sender's connection request runs the twelve steps in order. The broker links the step-3
 * (R1) and step-9 (R2) connections to the pending request by its id and token, records each
 * step in the request's step log ({@linkcode BrokerService.steps}; steps 6–8 as the receiver
 * reports them in step 9, step 12 as the receiver or the sender reports it), gives every wait
 * a timeout (`stepTimeoutMs`), and forgets the request when it ends: every table is empty once
 * nothing is pending. Beyond p2prs:
 *
 * - before step 10 the broker waits until R1 is closed (step 5), so the log is in order;
 * - when step 12 fails the sender asks for the simultaneous-open fallback on a new connection
 *   (S2), and the broker relays its new public address to the receiver (see the protocol);
 * - errors reach the side that waits: the sender gets `error` on S1 (unknown UID, busy,
 *   receiver gone, step timed out, ...), the receiver gets `abort` on its registration;
 * - registrations and connection requests count against the server's per-IP rate limit.
 *
 * Timers run on an injectable {@linkcode BrokerClock}, so tests can drive 65 s in no time.
 *
 * @module
 */

import { hmac } from "@noble/hashes/hmac.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { FrameTooLargeError, TruncatedFrameError } from "../../framing/errors.ts";
import { LengthPrefixedDecoder } from "../../framing/length_prefixed.ts";
import { writeAll } from "../../net/write.ts";
import {
  type BrokerAcceptMsg,
  type BrokerConnectMsg,
  type BrokerDeclineMsg,
  type BrokerDoneMsg,
  type BrokerErrorCode,
  type BrokerFallbackMsg,
  type BrokerMessage,
  BrokerProtocolError,
  type BrokerPunchedMsg,
  type BrokerRegisterMsg,
  BrokerVersionError,
  type BrokerVia,
  decodeBrokerMessage,
  DEFAULT_BROKER_DROP_TIMEOUT_MS,
  DEFAULT_BROKER_KEEPALIVE_MS,
  DEFAULT_BROKER_PORT,
  encodeBrokerFrame,
  encodeBrokerMessage,
  MAX_BROKER_MESSAGE_BYTES,
  randomBrokerToken,
} from "../../protocol/broker.ts";
import { formatSocketAddr, type SocketAddr } from "../../protocol/socket_addr.ts";
import type { RateLimiter } from "../limits.ts";
import type { Logger } from "../logger.ts";
import type { ServiceFactory } from "../plugin.ts";
import type { ServiceConnection } from "../service.ts";
import type { Counters } from "../stats.ts";
import { StateUnavailableError } from "../state_errors.ts";
import type { RedisConnection, RedisMessage } from "../redis/connection.ts";
import { RedisBrokerDirectory } from "../redis/broker.ts";
import type { BrokerDirectory, BrokerHolder } from "./broker_directory.ts";
import { equalBytes } from "../../bytes/mod.ts";

/** How long the broker waits for each step of a request unless told otherwise: 10 s. */
export const DEFAULT_BROKER_STEP_TIMEOUT_MS = 10_000;

/** Receivers registered at once unless told otherwise. */
export const DEFAULT_BROKER_MAX_RECEIVERS = 100_000;

/** Requests pending per receiver before senders get `busy`, unless told otherwise. */
export const DEFAULT_BROKER_MAX_PENDING = 4;

/** Finished requests whose step logs are kept for {@linkcode BrokerService.history}. */
export const DEFAULT_BROKER_HISTORY = 64;

/** Bytes read from a connection at a time: small, as each idle receiver holds one (a message may take several reads). */
const READ_BUFFER_BYTES = 512;

/** Timers and time for the broker; tests inject a fake one. */
export interface BrokerClock {
  /** Milliseconds since some fixed point. */
  now(): number;
  /** Run `fn` after `ms` milliseconds; returns a handle for {@linkcode BrokerClock.clearTimeout}. */
  setTimeout(fn: () => void, ms: number): number;
  /** Cancel a timer (unknown or fired handles are ignored). */
  clearTimeout(handle: number): void;
}

/**
 * The real clock: `Date.now`, `setTimeout`, `clearTimeout`.
 *
 * @example
 * ```ts
 * import { systemBrokerClock } from "./broker.ts";
 * const handle = systemBrokerClock.setTimeout(() => {}, 1000);
 * systemBrokerClock.clearTimeout(handle);
 * if (systemBrokerClock.now() <= 0) throw new Error("Bad clock");
 * ```
 */
export const systemBrokerClock: BrokerClock = Object.freeze({
  now: () => Date.now(),
  setTimeout: (fn: () => void, ms: number) => setTimeout(fn, ms) as unknown as number,
  clearTimeout: (handle: number) => clearTimeout(handle),
});

/** A step of a request's log: 1–12 of p2prs, then the fallback. */
export type BrokerStepName =
  | 1
  | 2
  | 3
  | 4
  | 5
  | 6
  | 7
  | 8
  | 9
  | 10
  | 11
  | 12
  | "fallback"
  | "simultaneous-open"
  | "failed";

/** One entry of a request's step log. */
export interface BrokerStepEntry {
  /** The step. */
  readonly step: BrokerStepName;
  /** Milliseconds since step 1. */
  readonly atMs: number;
  /** What happened, for people (addresses, outcomes, who reported it). */
  readonly detail: string;
}

/** A finished request, as {@linkcode BrokerService.history} keeps it. */
export interface BrokerRequestRecord {
  /** The request id. */
  readonly req: number;
  /** Its step log, in order. */
  readonly steps: readonly BrokerStepEntry[];
  /** How the connection formed, or `null` when it failed. */
  readonly via: BrokerVia | null;
  /** Why it failed, or `null`. */
  readonly error: BrokerErrorCode | null;
  /** How long it took, in milliseconds. */
  readonly durationMs: number;
}

/** Options for {@linkcode BrokerService}. */
export interface BrokerServiceOptions {
  /** The TCP port to listen on (0: any free port). @default {2314} */
  port?: number;
  /** The keep-alive interval told to receivers (p2prs: 30 s). @default {30000} */
  keepAliveMs?: number;
  /** Drop a receiver silent for this long (p2prs: 65 s). @default {65000} */
  dropTimeoutMs?: number;
  /** How long to wait for each step of a request. @default {10000} */
  stepTimeoutMs?: number;
  /** Receivers registered at once. @default {100000} */
  maxReceivers?: number;
  /** Requests pending per receiver before senders get `busy`. @default {4} */
  maxPendingPerReceiver?: number;
  /** Finished requests kept for {@linkcode BrokerService.history}. @default {64} */
  historySize?: number;
  /** Timers and time. @default {systemBrokerClock} */
  clock?: BrokerClock;
  /** Where log lines go. @default {the server's logger} */
  logger?: Logger;
  /** Counters to update. @default {the server's counters} */
  counters?: Counters;
  /** Per-client request limit for `register` and `connect`. @default {the server's} */
  rateLimiter?: RateLimiter;
  /**
   * Share receivers and requests with the brokers of other processes. @default {with the
   * server's `redis`, a Redis directory on it; else none: everything stays in this process}
   */
  cluster?: BrokerCluster | null;
}

/** How brokers of several processes reach one another: one message channel per process. */
export type BrokerBus = Pick<
  RedisConnection,
  "instanceId" | "ready" | "onReadyChange" | "handle" | "send"
>;

/**
 * What a broker shares with the brokers of other processes: the directory of receivers and
 * requests, and the channel that tunnels connections to the process that runs their request.
 */
export interface BrokerCluster {
  /** Receivers and pending requests. */
  readonly directory: BrokerDirectory;
  /** Messages between processes. */
  readonly bus: BrokerBus;
}

/** A pending request lives in the directory this many step timeouts at most. */
const REQUEST_TTL_STEPS = 6;

/** A tunnelled connection is closed after this many step timeouts at most. */
const TUNNEL_LIFETIME_STEPS = 6;

/** The message of `busy` when the shared state (Redis) cannot be reached. */
const UNAVAILABLE_TEXT = "The broker's shared state is unavailable; try again in a moment";

/** A one-shot timer on the broker clock whose deadline can move without re-arming. */
class Deadline {
  #clock: BrokerClock;
  #ms: number;
  #at: number;
  #handle: number;
  #onExpire: () => void;
  #stopped = false;

  constructor(clock: BrokerClock, ms: number, onExpire: () => void) {
    this.#clock = clock;
    this.#ms = ms;
    this.#at = clock.now() + ms;
    this.#onExpire = onExpire;
    this.#handle = clock.setTimeout(this.#check, ms);
  }

  touch(): void {
    this.#at = this.#clock.now() + this.#ms;
  }

  stop(): void {
    this.#stopped = true;
    this.#clock.clearTimeout(this.#handle);
  }

  #check = (): void => {
    if (this.#stopped) return;
    const left = this.#at - this.#clock.now();
    if (left > 0) {
      this.#handle = this.#clock.setTimeout(this.#check, left);
      return;
    }
    this.#stopped = true;
    this.#onExpire();
  };
}

/** A connection as the broker's steps use it: here, or tunnelled from another process. */
interface BrokerLink {
  readonly remote: SocketAddr;
  readonly id: number;
  readonly closed: boolean;
  read(): Promise<BrokerMessage | null>;
  send(msg: BrokerMessage): Promise<boolean>;
  close(): void;
}

/** One connection: framed reads with a small buffer and queued writes. */
class Link implements BrokerLink {
  readonly conn: Deno.Conn;
  readonly remote: SocketAddr;
  readonly id: number;
  #decoder = new LengthPrefixedDecoder({ maxFrameBytes: MAX_BROKER_MESSAGE_BYTES });
  #buf: Uint8Array | null = null;
  #writing: Promise<void> = Promise.resolve();
  #closed = false;

  constructor(c: ServiceConnection) {
    this.conn = c.conn;
    this.remote = c.remote;
    this.id = c.id;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** The next message, or `null` at the end of the stream (or once closed). */
  async read(): Promise<BrokerMessage | null> {
    for (;;) {
      const frame = this.#decoder.next();
      if (frame !== undefined) return decodeBrokerMessage(frame);
      if (this.#closed) return null;
      this.#buf ??= new Uint8Array(READ_BUFFER_BYTES);
      let n: number | null;
      try {
        n = await this.conn.read(this.#buf);
      } catch {
        n = null;
      }
      if (n === null) {
        if (this.#decoder.buffered > 0 && !this.#closed) {
          throw new TruncatedFrameError(this.#decoder.buffered);
        }
        return null;
      }
      this.#decoder.push(this.#buf.slice(0, n));
    }
  }

  /** Send a message after those already queued; resolves false when the connection failed. */
  send(msg: BrokerMessage): Promise<boolean> {
    const frame = encodeBrokerFrame(msg);
    const result = this.#writing.then(async () => {
      if (this.#closed) return false;
      try {
        await writeAll(this.conn, frame);
        return true;
      } catch {
        return false;
      }
    });
    this.#writing = result.then(() => {});
    return result;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.conn.close();
    } catch { /* already closed */ }
  }
}

/**
 * A connection that reached another process and is tunnelled here over the cluster's bus: the
 * other process forwards what it reads (`data`, `end`) and writes what this one sends.
 */
class RemoteLink implements BrokerLink {
  readonly remote: SocketAddr;
  readonly id: number;
  #post: (payload: Record<string, unknown>) => Promise<void>;
  #queue: (BrokerMessage | null | Error)[] = [];
  #reader: ((item: BrokerMessage | null | Error) => void) | null = null;
  #closed = false;
  #ended = false;

  constructor(
    remote: SocketAddr,
    id: number,
    post: (payload: Record<string, unknown>) => Promise<void>,
  ) {
    this.remote = remote;
    this.id = id;
    this.#post = post;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** What the other process read (a message, the end, or a broken frame). */
  push(item: BrokerMessage | null | Error): void {
    if (this.#ended) return;
    if (item === null || item instanceof Error) this.#ended = true;
    const reader = this.#reader;
    this.#reader = null;
    if (reader !== null) reader(item);
    else this.#queue.push(item);
  }

  read(): Promise<BrokerMessage | null> {
    const item = this.#queue.shift();
    if (item !== undefined) {
      return item instanceof Error ? Promise.reject(item) : Promise.resolve(item);
    }
    if (this.#ended || this.#closed) return Promise.resolve(null);
    return new Promise((resolve, reject) => {
      this.#reader = (next) => (next instanceof Error ? reject(next) : resolve(next));
    });
  }

  send(msg: BrokerMessage): Promise<boolean> {
    if (this.#closed) return Promise.resolve(false);
    return this.#post({ op: "send", m: messageText(msg) }).then(() => true, () => false);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#post({ op: "close" }).catch(() => {});
    this.push(null);
  }
}

function messageText(msg: BrokerMessage): string {
  return new TextDecoder().decode(encodeBrokerMessage(msg));
}

function messageOf(text: unknown): BrokerMessage {
  if (typeof text !== "string") throw new BrokerProtocolError("A tunnelled message is missing");
  return decodeBrokerMessage(new TextEncoder().encode(text));
}

interface Registration {
  readonly uid: string;
  readonly link: Link;
  readonly secretHash: Uint8Array | null;
  /** The registration's name in the cluster's directory, or `null` without a cluster. */
  readonly holder: BrokerHolder | null;
  readonly requests: Set<Request>;
  deadline: Deadline;
  reason: string;
}

type RequestState = "requested" | "accepted" | "connecting" | "fallback" | "finished";

interface Request {
  readonly id: number;
  readonly token: string;
  readonly uid: string;
  readonly registration: Registration;
  readonly sender: BrokerLink;
  readonly senderAddr: SocketAddr;
  readonly startedAt: number;
  readonly steps: BrokerStepEntry[];
  state: RequestState;
  receiverAddr: SocketAddr | null;
  r1: BrokerLink | null;
  r1Closed: Promise<void>;
  markR1Closed: () => void;
  releaseSender: () => void;
  senderReleased: Promise<void>;
  timer: number | null;
}

interface Waiter {
  predicate: () => boolean;
  resolve: () => void;
}

function equalText(a: string, b: string): boolean {
  const encoder = new TextEncoder();
  return equalBytes(encoder.encode(a), encoder.encode(b));
}

const ERROR_TEXT: Record<BrokerErrorCode, string> = {
  unknown_uid: "No receiver is registered under that name",
  busy: "The receiver is busy with other connections; try again in a moment",
  receiver_gone: "The receiver went away while the connection was being set up",
  sender_gone: "The sender went away while the connection was being set up",
  timeout: "A step of the connection setup timed out",
  version: "This broker speaks broker protocol version 1",
  uid_held: "That name is registered by another receiver; give the secret it was registered with",
  replaced: "Another receiver registered this name with its secret",
  bad_message: "The broker could not understand a message",
  unknown_request: "The broker has no such pending request (it ended or timed out)",
  family_mismatch: "The receiver reaches the broker over another IP family",
  rate_limited: "Too many requests from this address; wait a minute",
  limit: "The broker holds as many receivers as it may",
  no_path: "No direct path formed between the peers",
  shutdown: "The broker is shutting down",
};

/**
 * The broker service: tables, timers and the connection handler. Plug it into a server with
 * {@linkcode BrokerService.factory} (or use {@linkcode brokerPlugin}); read its tables and step
 * logs in tests.
 *
 * @example Run a broker on a free port and check it is empty
 * ```ts
 * import { BrokerService } from "./broker.ts";
 * import { startServer } from "../server.ts";
 * import { silentLogger } from "../logger.ts";
 * const broker = new BrokerService({ port: 0 });
 * await using server = await startServer({
 *   hostname: "127.0.0.1", gdayPort: null, logger: silentLogger, services: [broker.factory],
 * });
 * if (server.listeners[0]?.service !== "broker") throw new Error("Not listening");
 * if (broker.receiverCount !== 0 || broker.requestCount !== 0) throw new Error("Not empty");
 * ```
 */
export class BrokerService {
  /** The port asked for. */
  readonly port: number;
  /** The keep-alive interval told to receivers, in ms. */
  readonly keepAliveMs: number;
  /** Receivers silent this long are dropped, in ms. */
  readonly dropTimeoutMs: number;
  /** Each step of a request must happen within this, in ms. */
  readonly stepTimeoutMs: number;

  #maxReceivers: number;
  #maxPending: number;
  #historySize: number;
  #clock: BrokerClock;
  #logger: Logger | null;
  #counters: Counters | null;
  #rateLimiter: RateLimiter | null;
  #secretKey = crypto.getRandomValues(new Uint8Array(32));
  #receivers = new Map<string, Registration>();
  #requests = new Map<number, Request>();
  #links = new Set<BrokerLink>();
  #cluster: BrokerCluster | null;
  /** Connections here tunnelled to the process running their request, by tunnel id. */
  #tunnels = new Map<string, { link: Link; sent: Promise<unknown> }>();
  /** Connections of other processes tunnelled here, by tunnel id. */
  #remote = new Map<string, RemoteLink>();
  #nextTunnel = 1;
  #clusterStops: (() => void)[] = [];
  #history: BrokerRequestRecord[] = [];
  #waiters = new Set<Waiter>();
  #nextRequest = 1;
  #closed = false;

  /**
   * Make a broker.
   *
   * @example
   * ```ts
   * import { BrokerService } from "./broker.ts";
   * const broker = new BrokerService({ keepAliveMs: 1000, dropTimeoutMs: 2500 });
   * if (broker.dropTimeoutMs !== 2500) throw new Error("Option lost");
   * ```
   */
  constructor(options: BrokerServiceOptions = {}) {
    const {
      port = DEFAULT_BROKER_PORT,
      keepAliveMs = DEFAULT_BROKER_KEEPALIVE_MS,
      dropTimeoutMs = DEFAULT_BROKER_DROP_TIMEOUT_MS,
      stepTimeoutMs = DEFAULT_BROKER_STEP_TIMEOUT_MS,
      maxReceivers = DEFAULT_BROKER_MAX_RECEIVERS,
      maxPendingPerReceiver = DEFAULT_BROKER_MAX_PENDING,
      historySize = DEFAULT_BROKER_HISTORY,
    } = options;
    const positive = (name: string, value: number): void => {
      if (!Number.isInteger(value) || value < 1 || value > 2 ** 31 - 1) {
        throw new RangeError(
          `Cannot make a broker: ${name} is ${value}, it must be an integer from 1 to 2^31-1`,
        );
      }
    };
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      throw new RangeError(`Cannot make a broker: port is ${port}, it must be 0 to 65535`);
    }
    positive("keepAliveMs", keepAliveMs);
    positive("dropTimeoutMs", dropTimeoutMs);
    positive("stepTimeoutMs", stepTimeoutMs);
    positive("maxReceivers", maxReceivers);
    positive("maxPendingPerReceiver", maxPendingPerReceiver);
    if (!Number.isInteger(historySize) || historySize < 0) {
      throw new RangeError(`Cannot make a broker: historySize is ${historySize}, it must be >= 0`);
    }
    if (keepAliveMs >= dropTimeoutMs) {
      throw new RangeError(
        `Cannot make a broker: the keep-alive interval (${keepAliveMs} ms) must be shorter than ` +
          `the drop timeout (${dropTimeoutMs} ms)`,
      );
    }
    this.port = port;
    this.keepAliveMs = keepAliveMs;
    this.dropTimeoutMs = dropTimeoutMs;
    this.stepTimeoutMs = stepTimeoutMs;
    this.#maxReceivers = maxReceivers;
    this.#maxPending = maxPendingPerReceiver;
    this.#historySize = historySize;
    this.#clock = options.clock ?? systemBrokerClock;
    this.#logger = options.logger ?? null;
    this.#counters = options.counters ?? null;
    this.#rateLimiter = options.rateLimiter ?? null;
    this.#cluster = options.cluster ?? null;
    if (this.#cluster !== null) this.#joinCluster(this.#cluster);
  }

  /**
   * The service for `startServer({ services: [broker.factory] })`: one TCP listener named
   * `"broker"`. It takes the logger, counters and rate limiter from the server unless the
   * options gave them.
   *
   * @example
   * ```ts
   * import { BrokerService } from "./broker.ts";
   * if (typeof new BrokerService().factory !== "function") throw new Error("No factory");
   * ```
   */
  get factory(): ServiceFactory {
    return (ctx) => {
      this.#logger ??= ctx.logger;
      this.#counters ??= ctx.counters;
      this.#rateLimiter ??= ctx.rateLimiter;
      if (this.#cluster === null && ctx.redis !== null) {
        this.#cluster = { directory: new RedisBrokerDirectory(ctx.redis), bus: ctx.redis };
        this.#joinCluster(this.#cluster);
      }
      ctx.gauges.add("broker_receivers", undefined, () => this.#receivers.size);
      ctx.gauges.add("broker_pending_requests", undefined, () => this.#requests.size);
      return {
        name: "broker",
        listeners: [{ transport: "tcp", port: this.port }],
        handleConnection: (c) => this.handleConnection(c),
        close: () => this.close(),
      };
    };
  }

  /**
   * Receivers registered now.
   *
   * @example
   * ```ts
   * import { BrokerService } from "./broker.ts";
   * if (new BrokerService().receiverCount !== 0) throw new Error("Not empty");
   * ```
   */
  get receiverCount(): number {
    return this.#receivers.size;
  }

  /**
   * Requests pending now.
   *
   * @example
   * ```ts
   * import { BrokerService } from "./broker.ts";
   * if (new BrokerService().requestCount !== 0) throw new Error("Not empty");
   * ```
   */
  get requestCount(): number {
    return this.#requests.size;
  }

  /**
   * Connections the broker is handling now (registrations, S1, R1, R2, S2).
   *
   * @example
   * ```ts
   * import { BrokerService } from "./broker.ts";
   * if (new BrokerService().connectionCount !== 0) throw new Error("Not empty");
   * ```
   */
  get connectionCount(): number {
    return this.#links.size;
  }

  /**
   * Is `uid` registered now?
   *
   * @example
   * ```ts
   * import { BrokerService } from "./broker.ts";
   * if (new BrokerService().isRegistered("alice")) throw new Error("Registered?");
   * ```
   */
  isRegistered(uid: string): boolean {
    return this.#receivers.has(uid);
  }

  /**
   * The step log of request `req`, pending or recently finished; `undefined` when unknown.
   *
   * @example
   * ```ts
   * import { BrokerService } from "./broker.ts";
   * if (new BrokerService().steps(1) !== undefined) throw new Error("Unexpected log");
   * ```
   */
  steps(req: number): readonly BrokerStepEntry[] | undefined {
    return this.#requests.get(req)?.steps ?? this.#history.find((r) => r.req === req)?.steps;
  }

  /**
   * Finished requests, oldest first (at most `historySize`).
   *
   * @example
   * ```ts
   * import { BrokerService } from "./broker.ts";
   * if (new BrokerService().history.length !== 0) throw new Error("Unexpected history");
   * ```
   */
  get history(): readonly BrokerRequestRecord[] {
    return this.#history;
  }

  /**
   * Resolve once `predicate` holds; it is checked now and after every change of the tables.
   *
   * @example
   * ```ts
   * import { BrokerService } from "./broker.ts";
   * const broker = new BrokerService();
   * await broker.waitFor((b) => b.receiverCount === 0);
   * ```
   */
  waitFor(predicate: (broker: BrokerService) => boolean, signal?: AbortSignal): Promise<void> {
    if (predicate(this)) return Promise.resolve();
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        predicate: () => predicate(this),
        resolve: () => {
          signal?.removeEventListener("abort", onAbort);
          resolve();
        },
      };
      const onAbort = (): void => {
        this.#waiters.delete(waiter);
        reject(signal!.reason);
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#waiters.add(waiter);
    });
  }

  /**
   * Resolve with the record of request `req` once it has finished.
   *
   * @example
   * ```ts ignore
   * const record = await broker.finished(conn.requestId);
   * console.log(record.steps.map((s) => s.step));
   * ```
   */
  async finished(req: number, signal?: AbortSignal): Promise<BrokerRequestRecord> {
    await this.waitFor(() => this.#history.some((r) => r.req === req), signal);
    return this.#history.find((r) => r.req === req)!;
  }

  /**
   * Handle one accepted connection until it is done (the server closes the socket afterwards).
   *
   * @example
   * ```ts ignore
   * await broker.handleConnection(serviceConnection);
   * ```
   */
  async handleConnection(c: ServiceConnection): Promise<void> {
    const link = new Link(c);
    if (this.#closed) return;
    this.#links.add(link);
    this.#changed();
    try {
      const firstTimer = this.#clock.setTimeout(() => link.close(), this.stepTimeoutMs);
      let first: BrokerMessage | null;
      try {
        first = await link.read();
      } catch (error) {
        await this.#refuse(link, error);
        return;
      } finally {
        this.#clock.clearTimeout(firstTimer);
      }
      if (first === null) return;
      const home = await this.#homeOf(link, first);
      if (home === undefined) return;
      if (home !== null) return await this.#tunnel(link, first, home);
      await this.#dispatch(link, first);
    } catch (error) {
      this.#logger?.log("info", "broker_connection_error", {
        conn: link.id,
        error: (error as Error)?.message ?? String(error),
      });
    } finally {
      link.close();
      this.#links.delete(link);
      this.#changed();
    }
  }

  /** Serve a connection's first message and what follows, here. */
  async #dispatch(link: BrokerLink, first: BrokerMessage): Promise<void> {
    {
      switch (first.type) {
        case "register":
          if (!(link instanceof Link)) {
            return await this.#sendError(link, "bad_message", { message: "Not tunnelled" });
          }
          return await this.#serveRegistration(link, first);
        case "connect":
          return await this.#serveSender(link, first);
        case "accept":
          return await this.#serveAccept(link, first);
        case "punched":
          return await this.#servePunched(link, first);
        case "fallback":
          return await this.#serveFallback(link, first);
        default:
          await this.#sendError(link, "bad_message", {
            message: `A connection must start with register, connect, accept, punched or ` +
              `fallback, not ${first.type}`,
          });
      }
    }
  }

  // ---- several processes (a cluster) ----

  #joinCluster(cluster: BrokerCluster): void {
    this.#clusterStops.push(
      cluster.bus.handle("broker", (message) => this.#onClusterMessage(message)),
      cluster.bus.onReadyChange((ready) => {
        if (ready) return;
        // Messages are lost while the bus is down: end every tunnel both ways.
        for (const { link } of this.#tunnels.values()) link.close();
        for (const link of this.#remote.values()) link.push(null);
      }),
    );
  }

  /**
   * Where a connection's request runs: `null` here, an instance id there, `undefined` when an
   * error was sent. Without a cluster, always here.
   */
  async #homeOf(link: Link, first: BrokerMessage): Promise<string | null | undefined> {
    const cluster = this.#cluster;
    if (cluster === null) return null;
    try {
      if (first.type === "connect") {
        if (this.#receivers.has(first.uid)) return null;
        const holder = await cluster.directory.lookup(first.uid);
        return holder === null || holder.instance === cluster.bus.instanceId
          ? null
          : holder.instance;
      }
      if (first.type === "accept" || first.type === "punched" || first.type === "fallback") {
        if (this.#requests.has(first.req)) return null;
        const instance = await cluster.directory.routeRequest(first.req);
        return instance === null || instance === cluster.bus.instanceId ? null : instance;
      }
      return null;
    } catch (error) {
      if (!(error instanceof StateUnavailableError)) throw error;
      await this.#sendError(link, "busy", { message: UNAVAILABLE_TEXT });
      return undefined;
    }
  }

  /** Forward a connection that landed here to the process `home` that runs its request. */
  async #tunnel(link: Link, first: BrokerMessage, home: string): Promise<void> {
    const bus = this.#cluster!.bus;
    const tunnel = `${bus.instanceId}/${this.#nextTunnel++}`;
    const post = (payload: Record<string, unknown>): Promise<void> =>
      bus.send(home, "broker", { ...payload, tunnel });
    this.#tunnels.set(tunnel, { link, sent: Promise.resolve() });
    const lifetime = this.#clock.setTimeout(
      () => link.close(),
      this.stepTimeoutMs * TUNNEL_LIFETIME_STEPS,
    );
    this.#counters?.inc("broker_tunnels");
    try {
      await post({
        op: "open",
        from: bus.instanceId,
        remote: link.remote,
        conn: link.id,
        m: messageText(first),
      });
      for (;;) {
        let msg: BrokerMessage | null;
        try {
          msg = await link.read();
        } catch (error) {
          await post({ op: "end", bad: String((error as Error)?.message ?? error).slice(0, 200) });
          return;
        }
        if (msg === null) {
          if (!link.closed) await post({ op: "end" });
          return;
        }
        await post({ op: "data", m: messageText(msg) });
      }
    } catch (error) {
      if (!(error instanceof StateUnavailableError)) throw error;
      await this.#sendError(link, "busy", { message: UNAVAILABLE_TEXT });
    } finally {
      this.#clock.clearTimeout(lifetime);
      this.#tunnels.delete(tunnel);
    }
  }

  /** Serve a connection tunnelled here from another process. */
  async #serveTunnelled(tunnel: string, from: string, message: RedisMessage): Promise<void> {
    const bus = this.#cluster!.bus;
    const post = (payload: Record<string, unknown>): Promise<void> =>
      bus.send(from, "broker", { ...payload, tunnel });
    let first: BrokerMessage;
    try {
      first = messageOf(message.m);
    } catch {
      await post({ op: "close" }).catch(() => {});
      return;
    }
    const link = new RemoteLink(message.remote as SocketAddr, Number(message.conn), post);
    this.#remote.set(tunnel, link);
    this.#links.add(link);
    this.#changed();
    try {
      await this.#dispatch(link, first);
    } catch (error) {
      this.#logger?.log("info", "broker_connection_error", {
        conn: link.id,
        tunnel,
        error: (error as Error)?.message ?? String(error),
      });
    } finally {
      link.close();
      this.#remote.delete(tunnel);
      this.#links.delete(link);
      this.#changed();
    }
  }

  #onClusterMessage(message: RedisMessage): void {
    const tunnel = typeof message.tunnel === "string" ? message.tunnel : null;
    switch (message.op) {
      case "open":
        if (tunnel === null || typeof message.from !== "string" || this.#closed) return;
        this.#serveTunnelled(tunnel, message.from, message).catch(() => {});
        return;
      case "data": {
        const link = tunnel === null ? undefined : this.#remote.get(tunnel);
        if (link === undefined) return;
        try {
          link.push(messageOf(message.m));
        } catch (error) {
          link.push(error as Error);
        }
        return;
      }
      case "end": {
        const link = tunnel === null ? undefined : this.#remote.get(tunnel);
        if (link === undefined) return;
        link.push(
          typeof message.bad === "string" ? new BrokerProtocolError(message.bad) : null,
        );
        return;
      }
      case "send": {
        const entry = tunnel === null ? undefined : this.#tunnels.get(tunnel);
        if (entry === undefined) return;
        try {
          entry.sent = entry.link.send(messageOf(message.m));
        } catch { /* a bad message from a peer process: drop it */ }
        return;
      }
      case "close": {
        // After the writes asked for before it (the "receiver" message before S1 closes).
        const entry = tunnel === null ? undefined : this.#tunnels.get(tunnel);
        entry?.sent.finally(() => entry.link.close());
        return;
      }
      case "replaced": {
        const registration = this.#receivers.get(String(message.uid));
        if (registration === undefined || registration.holder?.reg !== message.reg) return;
        this.#replace(registration);
        return;
      }
    }
  }

  /** Another registration took this one's name with its secret: tell it and close it. */
  #replace(held: Registration): void {
    held.reason = "replaced";
    this.#unregister(held);
    held.link.send({ type: "error", error: "replaced", message: ERROR_TEXT.replaced })
      .finally(() => held.link.close());
  }

  /**
   * Claim `msg.uid` in the cluster's directory: the holder, or `null` when an error was sent.
   * A registration it replaces is told, here or on its process.
   */
  async #claim(link: Link, msg: BrokerRegisterMsg): Promise<BrokerHolder | null> {
    const { directory, bus } = this.#cluster!;
    const local = this.#receivers.get(msg.uid);
    if (local === undefined && this.#receivers.size >= this.#maxReceivers) {
      await this.#sendError(link, "limit");
      return null;
    }
    const holder: BrokerHolder = { instance: bus.instanceId, reg: String(link.id) };
    let claim;
    try {
      const hash = msg.secret === undefined
        ? null
        : hmac(sha256, await directory.secretKey(), encode(msg.secret)).toHex();
      claim = await directory.claim(msg.uid, holder, hash, this.dropTimeoutMs);
    } catch (error) {
      if (!(error instanceof StateUnavailableError)) throw error;
      await this.#sendError(link, "busy", { message: UNAVAILABLE_TEXT });
      return null;
    }
    if (claim.kind === "held") {
      this.#counters?.inc("broker_errors", "uid_held");
      await this.#sendError(link, "uid_held", {
        message: `The name "${msg.uid}" is registered by another receiver; pick another name, ` +
          "or give the secret it was registered with",
      });
      return null;
    }
    const replaced = claim.replaced;
    if (replaced !== null && replaced.instance !== bus.instanceId) {
      bus.send(replaced.instance, "broker", { op: "replaced", uid: msg.uid, reg: replaced.reg })
        .catch(() => {});
    }
    // A registration here under this name (replaced, or stale after Redis lost it) goes.
    const current = this.#receivers.get(msg.uid);
    if (current !== undefined) this.#replace(current);
    return holder;
  }

  /** After a keep-alive: keep the claim, or close the registration when it was taken. */
  #refreshClaim(registration: Registration): void {
    const holder = registration.holder;
    if (holder === null || this.#cluster === null) return;
    this.#cluster.directory.refresh(registration.uid, holder, this.dropTimeoutMs).then(
      (result) => {
        if (result === "lost" && this.#receivers.get(registration.uid) === registration) {
          this.#replace(registration);
        }
      },
      () => {/* Redis is down: the claim is renewed at the next keep-alive */},
    );
  }

  /**
   * Stop: every pending request fails with `shutdown`, every receiver is told and closed, every
   * timer is cleared.
   *
   * @example
   * ```ts
   * import { BrokerService } from "./broker.ts";
   * const broker = new BrokerService();
   * await broker.close();
   * ```
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const stop of this.#clusterStops.splice(0)) stop();
    for (const { link } of this.#tunnels.values()) link.close();
    for (const link of this.#remote.values()) link.close();
    for (const request of [...this.#requests.values()]) this.#fail(request, "shutdown");
    const sends: Promise<boolean>[] = [];
    for (const registration of [...this.#receivers.values()]) {
      registration.reason = "shutdown";
      sends.push(registration.link.send({ type: "error", error: "shutdown" }));
    }
    await Promise.race([
      Promise.all(sends),
      new Promise((resolve) => {
        const handle = this.#clock.setTimeout(() => resolve(undefined), 500);
        Promise.all(sends).finally(() => this.#clock.clearTimeout(handle));
      }),
    ]);
    for (const registration of [...this.#receivers.values()]) {
      registration.deadline.stop();
      registration.link.close();
      this.#receivers.delete(registration.uid);
    }
    for (const link of this.#links) link.close();
    this.#changed();
  }

  // ---- registration (I1–I4) ----

  async #serveRegistration(link: Link, msg: BrokerRegisterMsg): Promise<void> {
    if (!this.#take(link, "register")) {
      return await this.#sendError(link, "rate_limited");
    }
    const hash = msg.secret === undefined
      ? null
      : hmac(sha256, this.#secretKey, encode(msg.secret));
    const held = this.#receivers.get(msg.uid);
    let holder: BrokerHolder | null = null;
    if (this.#cluster !== null) {
      // Several processes: the directory decides who holds the name (see #claim).
      holder = await this.#claim(link, msg);
      if (holder === null) return;
    } else if (held !== undefined) {
      if (held.secretHash === null || hash === null || !equalBytes(held.secretHash, hash)) {
        this.#counters?.inc("broker_errors", "uid_held");
        return await this.#sendError(link, "uid_held", {
          message: `The name "${msg.uid}" is registered by another receiver; pick another name, ` +
            "or give the secret it was registered with",
        });
      }
      held.reason = "replaced";
      this.#unregister(held);
      held.link.send({ type: "error", error: "replaced", message: ERROR_TEXT.replaced })
        .finally(() => held.link.close());
    } else if (this.#receivers.size >= this.#maxReceivers) {
      return await this.#sendError(link, "limit");
    }
    const registration: Registration = {
      uid: msg.uid,
      link,
      secretHash: hash,
      holder,
      requests: new Set(),
      deadline: null as unknown as Deadline,
      reason: "closed",
    };
    registration.deadline = new Deadline(this.#clock, this.dropTimeoutMs, () => {
      registration.reason = "timeout";
      this.#counters?.inc("broker_dropped");
      link.close();
    });
    this.#receivers.set(msg.uid, registration);
    this.#counters?.inc("broker_registrations");
    this.#logger?.log("info", "broker_registered", {
      conn: link.id,
      receivers: this.#receivers.size,
    });
    this.#changed();
    try {
      await link.send({
        type: "registered",
        uid: msg.uid,
        keepaliveMs: this.keepAliveMs,
        timeoutMs: this.dropTimeoutMs,
        addr: link.remote,
      });
      for (;;) {
        let next: BrokerMessage | null;
        try {
          next = await link.read();
        } catch (error) {
          registration.reason = "bad_message";
          await this.#refuse(link, error);
          return;
        }
        if (next === null) return;
        registration.deadline.touch();
        switch (next.type) {
          case "keepalive":
            this.#refreshClaim(registration);
            await link.send({ type: "keepalive_ack" });
            break;
          case "kill":
            registration.reason = "kill";
            return;
          case "done":
            this.#onDone(registration, next);
            break;
          case "decline":
            this.#onDecline(registration, next);
            break;
          default:
            registration.reason = "bad_message";
            await this.#sendError(link, "bad_message", {
              message: `A registration connection may send keepalive, kill, done or decline, ` +
                `not ${next.type}`,
            });
            return;
        }
      }
    } finally {
      this.#unregister(registration);
    }
  }

  #unregister(registration: Registration): void {
    registration.deadline.stop();
    if (this.#receivers.get(registration.uid) !== registration) return;
    this.#receivers.delete(registration.uid);
    if (registration.holder !== null) {
      this.#cluster?.directory.release(registration.uid, registration.holder).catch(() => {});
    }
    for (const request of [...registration.requests]) this.#fail(request, "receiver_gone");
    this.#logger?.log("info", "broker_unregistered", {
      conn: registration.link.id,
      reason: registration.reason,
      receivers: this.#receivers.size,
    });
    this.#changed();
  }

  // ---- the twelve steps ----

  /** Steps 1, 2 (and 10, 11 from `#servePunched`): the sender's S1. */
  async #serveSender(link: BrokerLink, msg: BrokerConnectMsg): Promise<void> {
    if (!this.#take(link, "connect")) return await this.#sendError(link, "rate_limited");
    const registration = this.#receivers.get(msg.uid);
    if (registration === undefined) {
      return await this.#sendError(link, "unknown_uid", {
        message: `No receiver is registered as "${msg.uid}" on this broker: check the name, and ` +
          "that the receiver is running",
      });
    }
    if (registration.link.remote.family !== link.remote.family) {
      const family = registration.link.remote.family;
      return await this.#sendError(link, "family_mismatch", {
        family,
        message: `The receiver is registered over ${family === "v4" ? "IPv4" : "IPv6"}; reach ` +
          `the broker over ${family === "v4" ? "IPv4" : "IPv6"} too`,
      });
    }
    if (registration.requests.size >= this.#maxPending) {
      return await this.#sendError(link, "busy");
    }
    let id: number;
    if (this.#cluster === null) {
      id = this.#nextRequest++;
    } else {
      // Several processes: an id unique across them, routed here (where the receiver is).
      const { directory, bus } = this.#cluster;
      try {
        id = await directory.openRequest(
          msg.uid,
          bus.instanceId,
          this.stepTimeoutMs * REQUEST_TTL_STEPS,
        );
      } catch (error) {
        if (!(error instanceof StateUnavailableError)) throw error;
        return await this.#sendError(link, "busy", { message: UNAVAILABLE_TEXT });
      }
      const gone = this.#receivers.get(msg.uid) !== registration;
      if (gone || registration.requests.size >= this.#maxPending) {
        directory.closeRequest(id).catch(() => {});
        return await this.#sendError(link, gone ? "receiver_gone" : "busy");
      }
    }
    let releaseSender!: () => void;
    let markR1Closed!: () => void;
    const request: Request = {
      id,
      token: randomBrokerToken(),
      uid: msg.uid,
      registration,
      sender: link,
      senderAddr: link.remote,
      startedAt: this.#clock.now(),
      steps: [],
      state: "requested",
      receiverAddr: null,
      r1: null,
      r1Closed: new Promise((resolve) => (markR1Closed = resolve)),
      markR1Closed: () => markR1Closed(),
      releaseSender: () => releaseSender(),
      senderReleased: new Promise((resolve) => (releaseSender = resolve)),
      timer: null,
    };
    this.#requests.set(request.id, request);
    registration.requests.add(request);
    this.#counters?.inc("broker_requests");
    this.#step(request, 1, `connection request from ${formatSocketAddr(link.remote)}`);
    this.#changed();
    if (
      !(await registration.link.send({ type: "request", req: request.id, token: request.token }))
    ) {
      this.#fail(request, "receiver_gone");
    } else if (request.state === "requested") {
      this.#step(request, 2, "connection request sent to the receiver");
      this.#arm(request, 3);
    }
    // S1 stays open until step 11; anything from the sender before then ends the request.
    const watch = link.read().then(() => "gone" as const, () => "gone" as const);
    const outcome = await Promise.race([
      request.senderReleased.then(() => "released" as const),
      watch,
    ]);
    if (outcome === "gone" && (request.state === "requested" || request.state === "accepted")) {
      this.#fail(request, "sender_gone");
    }
    await request.senderReleased;
  }

  /** Steps 3, 4, 5: the receiver's R1 from `PORT_RECEIVER`. */
  async #serveAccept(link: BrokerLink, msg: BrokerAcceptMsg): Promise<void> {
    const request = this.#requests.get(msg.req);
    if (request === undefined || !equalText(request.token, msg.token)) {
      return await this.#sendError(link, "unknown_request", { req: msg.req });
    }
    if (request.state !== "requested" || request.r1 !== null) {
      return await this.#sendError(link, "unknown_request", {
        req: msg.req,
        message: "This request is past step 3",
      });
    }
    if (link.remote.family !== request.senderAddr.family) {
      this.#fail(request, "family_mismatch");
      return await this.#sendError(link, "family_mismatch", { req: msg.req });
    }
    request.state = "accepted";
    request.r1 = link;
    request.receiverAddr = link.remote;
    this.#step(request, 3, `acknowledged from ${formatSocketAddr(link.remote)} (PORT_RECEIVER)`);
    this.#arm(request, 9);
    const sent = await link.send({
      type: "sender",
      req: request.id,
      addr: request.senderAddr,
      you: link.remote,
    });
    if (request.state !== "accepted") return;
    if (!sent) return this.#fail(request, "receiver_gone");
    this.#step(request, 4, `sender's address ${formatSocketAddr(request.senderAddr)} sent`);
    // Step 5: the receiver closes R1.
    let extra: BrokerMessage | null = null;
    try {
      extra = await link.read();
    } catch { /* a broken frame: treat as closed */ }
    if (request.state === "accepted" && request.r1 === link) {
      this.#step(request, 5, extra === null ? "closed by the receiver" : "closed by the broker");
      request.markR1Closed();
    }
  }

  /** Steps 6–9 (reported), then 10 and 11: "finished hole punch" on the receiver's R2. */
  async #servePunched(link: BrokerLink, msg: BrokerPunchedMsg): Promise<void> {
    const request = this.#requests.get(msg.req);
    if (
      request === undefined || !equalText(request.token, msg.token) ||
      request.state !== "accepted"
    ) {
      return await this.#sendError(link, "unknown_request", { req: msg.req });
    }
    await request.r1Closed; // step 5 first (bounded by the step timer, which closes R1)
    if (request.state !== "accepted") {
      return await this.#sendError(link, "unknown_request", { req: msg.req });
    }
    const seen = {
      timeout: "no answer, aborted quickly",
      refused: "refused (a RST came back)",
      connected: "connected (unexpected), closed",
      error: "failed locally",
    }[msg.step6];
    this.#step(request, 6, `connect from PORT_RECEIVER to the sender (reported by the receiver)`);
    this.#step(request, 7, `the connect ended: ${seen} (reported by the receiver)`);
    this.#step(request, 8, "listening on PORT_RECEIVER (reported by the receiver)");
    this.#step(request, 9, `finished hole punch, from ${formatSocketAddr(link.remote)}`);
    request.state = "connecting";
    this.#arm(request, 12);
    const sent = await request.sender.send({
      type: "receiver",
      req: request.id,
      token: request.token,
      addr: request.receiverAddr!,
      you: request.senderAddr,
      step6: msg.step6,
    });
    if (!sent || request.sender.closed) return this.#fail(request, "sender_gone");
    this.#step(request, 10, `receiver's address ${formatSocketAddr(request.receiverAddr!)} sent`);
    request.sender.close();
    request.releaseSender();
    this.#step(request, 11, "S1 closed by the broker");
  }

  /** The fallback: the sender's S2 after a failed step 12. */
  async #serveFallback(link: BrokerLink, msg: BrokerFallbackMsg): Promise<void> {
    const request = this.#requests.get(msg.req);
    if (
      request === undefined || !equalText(request.token, msg.token) ||
      request.state !== "connecting"
    ) {
      return await this.#sendError(link, "unknown_request", { req: msg.req });
    }
    this.#step(request, 12, `failed: ${msg.step12} (reported by the sender)`);
    const registration = this.#receivers.get(request.uid);
    if (registration !== request.registration) {
      await this.#sendError(link, "receiver_gone", { req: msg.req });
      return this.#fail(request, "receiver_gone");
    }
    request.state = "fallback";
    this.#step(request, "fallback", `simultaneous open with ${formatSocketAddr(link.remote)}`);
    this.#arm(request, "simultaneous-open");
    const told = await registration.link.send({
      type: "fallback_start",
      req: request.id,
      addr: link.remote,
    });
    if (!told) {
      await this.#sendError(link, "receiver_gone", { req: msg.req });
      return this.#fail(request, "receiver_gone");
    }
    await link.send({
      type: "fallback_ready",
      req: request.id,
      addr: request.receiverAddr!,
      you: link.remote,
    });
  }

  /** The receiver's report: step 12 (or the fallback) connected, or failed. */
  #onDone(registration: Registration, msg: BrokerDoneMsg): void {
    const request = this.#requests.get(msg.req);
    if (request === undefined || request.uid !== registration.uid) return;
    if (msg.error !== undefined) return this.#fail(request, msg.error, { tellReceiver: false });
    if (request.state !== "connecting" && request.state !== "fallback") {
      return this.#fail(request, "bad_message", { tellReceiver: false });
    }
    if (request.state === "connecting" || msg.via === "twelve-step") {
      this.#step(request, 12, "connected (reported by the receiver)");
    } else {
      this.#step(request, "simultaneous-open", "connected (reported by the receiver)");
    }
    this.#finish(request, msg.via ?? null, null);
  }

  #onDecline(registration: Registration, msg: BrokerDeclineMsg): void {
    const request = this.#requests.get(msg.req);
    if (request === undefined || request.uid !== registration.uid) return;
    if (request.state !== "requested") return;
    this.#fail(request, "busy", { tellReceiver: false });
  }

  // ---- request bookkeeping ----

  #step(request: Request, step: BrokerStepName, detail: string): void {
    request.steps.push({ step, atMs: this.#clock.now() - request.startedAt, detail });
  }

  /** (Re)arm the request's timer for the step it waits for. */
  #arm(request: Request, waitingFor: BrokerStepName): void {
    if (request.timer !== null) this.#clock.clearTimeout(request.timer);
    request.timer = this.#clock.setTimeout(() => {
      request.timer = null;
      if (request.state === "finished") return;
      this.#counters?.inc("broker_step_timeouts", String(waitingFor));
      this.#fail(request, "timeout", {
        step: typeof waitingFor === "number" ? waitingFor : 12,
        message: waitingFor === 12 || waitingFor === "simultaneous-open"
          ? `The peers did not report a connection within ${this.stepTimeoutMs} ms`
          : `The receiver did not complete step ${waitingFor} within ${this.stepTimeoutMs} ms`,
      });
    }, this.stepTimeoutMs);
  }

  /** End a request with an error: tell the sender (if S1 is open) and the receiver. */
  #fail(
    request: Request,
    code: BrokerErrorCode,
    options: { message?: string; step?: number; tellReceiver?: boolean } = {},
  ): void {
    if (request.state === "finished") return;
    const before = request.state;
    this.#step(request, "failed", options.message ?? ERROR_TEXT[code]);
    this.#finish(request, null, code);
    if (before === "requested" || before === "accepted") {
      const sender = request.sender;
      sender.send({
        type: "error",
        error: code,
        req: request.id,
        message: options.message ?? ERROR_TEXT[code],
        ...(options.step !== undefined ? { step: options.step } : {}),
      }).finally(() => {
        sender.close();
        request.releaseSender();
      });
    } else {
      request.releaseSender();
    }
    request.r1?.close();
    request.markR1Closed();
    const registration = this.#receivers.get(request.uid);
    if (options.tellReceiver !== false && registration === request.registration) {
      registration.link.send({ type: "abort", req: request.id, error: code });
    }
  }

  #finish(request: Request, via: BrokerVia | null, error: BrokerErrorCode | null): void {
    if (request.state === "finished") return;
    request.state = "finished";
    if (request.timer !== null) this.#clock.clearTimeout(request.timer);
    request.timer = null;
    this.#requests.delete(request.id);
    this.#cluster?.directory.closeRequest(request.id).catch(() => {});
    request.registration.requests.delete(request);
    const record: BrokerRequestRecord = {
      req: request.id,
      steps: request.steps,
      via,
      error,
      durationMs: this.#clock.now() - request.startedAt,
    };
    if (this.#historySize > 0) {
      this.#history.push(record);
      if (this.#history.length > this.#historySize) this.#history.shift();
    }
    this.#counters?.inc("broker_outcomes", via ?? error ?? "unknown");
    this.#logger?.log(error === null ? "info" : "warn", "broker_request", {
      req: request.id,
      steps: request.steps.map((s) => s.step).join(","),
      via: via ?? undefined,
      error: error ?? undefined,
      ms: record.durationMs,
    });
    this.#changed();
  }

  // ---- helpers ----

  #take(link: BrokerLink, what: string): boolean {
    if (this.#rateLimiter === null || this.#rateLimiter.take(link.remote.ip, 1)) return true;
    this.#counters?.inc("broker_rate_limited", what);
    this.#logger?.log("warn", "rate_limited", { service: "broker", conn: link.id });
    return false;
  }

  async #sendError(
    link: BrokerLink,
    code: BrokerErrorCode,
    extra: { req?: number; message?: string; family?: "v4" | "v6" } = {},
  ): Promise<void> {
    this.#counters?.inc("broker_errors", code);
    await link.send({ type: "error", error: code, message: ERROR_TEXT[code], ...extra });
  }

  /** Answer a frame that could not be read (then the caller closes). */
  async #refuse(link: BrokerLink, error: unknown): Promise<void> {
    if (error instanceof BrokerVersionError) {
      await this.#sendError(link, "version", {
        message: `This broker speaks broker protocol version 1, not ${error.version}`,
      });
    } else if (
      error instanceof BrokerProtocolError || error instanceof FrameTooLargeError ||
      error instanceof TruncatedFrameError
    ) {
      this.#logger?.log("info", "broker_bad_message", { conn: link.id, error: error.message });
      await this.#sendError(link, "bad_message", {
        message: error.message.slice(0, 200),
      });
    } else {
      throw error;
    }
  }

  #changed(): void {
    for (const waiter of [...this.#waiters]) {
      if (waiter.predicate()) {
        this.#waiters.delete(waiter);
        waiter.resolve();
      }
    }
  }
}

function encode(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

/**
 * A broker as a server service (what `server.ts --broker-port` runs).
 *
 * @example
 * ```ts
 * import { brokerPlugin } from "./broker.ts";
 * import { startServer } from "../server.ts";
 * import { silentLogger } from "../logger.ts";
 * await using server = await startServer({
 *   hostname: "127.0.0.1", gdayPort: null, logger: silentLogger,
 *   services: [brokerPlugin({ port: 0 })],
 * });
 * if (server.listeners[0]?.service !== "broker") throw new Error("No broker");
 * ```
 */
export function brokerPlugin(options: BrokerServiceOptions = {}): ServiceFactory {
  return (ctx) => new BrokerService(options).factory(ctx);
}
