/**
 * The relay service: joins the byte streams of two peers that present the same circuit token
 * (protocol: `protocol/relay.ts`), over TCP, TLS and WebSocket (`GET /relay` on the HTTP(S)
 * service), in any mix.
 *
 * - **Pairing.** The first connection with a token waits (`waiting`), the second is joined to
 *   it (`paired` to both), a third is refused (`busy`). A token is forgotten when its circuit
 *   ends, so it can be used again afterwards.
 * - **Joining.** Each direction is a loop that reads one chunk, waits for the rate limit, writes
 *   it to the other side and only then reads again, so nothing is buffered beyond one chunk per
 *   direction (64 KiB over TCP, the flow-control window over WebSocket) and a slow reader slows
 *   its sender down. The end of one direction is passed on as a half-close; when both
 *   directions have ended, or either side fails, both connections are closed.
 * - **Limits** ({@linkcode RelayLimits}, each a `server.ts` flag): bytes per circuit, circuit
 *   duration, bytes per second per circuit and direction (a token bucket that delays the next
 *   read, never drops), circuits per client IP (IPv6 per /64), the wait for the second peer,
 *   and the server's idle timeout for the hello. Each hello also counts as one request of the
 *   server's per-client rate limit (`--rate-limit`, shared with gday).
 * - **Counters**: `relay_circuits{opened|closed|refused}`, `relay_refused{<code>}`,
 *   `relay_bytes`, `relay_circuit_end{<reason>}`, `relay_waits{timeout|left}`,
 *   `relay_rate_limited`; the number of
 *   open circuits is {@linkcode RelayState.activeCircuits}. Logs never carry tokens.
 *
 * The relay never sees plaintext as long as the peers encrypt end to end (peerlink runs its PAKE
 * handshake over the circuit); the `tap` option lets tests check that.
 *
 * @module
 */

import {
  decodeRelayHello,
  DEFAULT_RELAY_PORT,
  DEFAULT_RELAY_WS_WINDOW,
  encodeRelayStatusFrame,
  MAX_RELAY_HELLO_BYTES,
  RELAY_PROTOCOL_VERSION,
  RELAY_SUPPORTED_VERSIONS,
  RELAY_WS_CLOSE,
  RELAY_WS_PATH,
  type RelayErrorCode,
  RelayProtocolError,
  type RelayStatus,
} from "../../protocol/relay.ts";
import { pause } from "../../async/delay.ts";
import type { SocketAddr } from "../../protocol/socket_addr.ts";
import { websocketDuplex } from "../../net/websocket.ts";
import { writeAll } from "../../net/write.ts";
import { clientKey } from "../limits.ts";
import type { Logger } from "../logger.ts";
import type { ServiceFactory } from "../plugin.ts";
import type { ServiceConnection } from "../service.ts";
import type { Counters } from "../stats.ts";
import type { HttpRequestInfo, HttpRoutes } from "./http.ts";

/** Limits of the relay; each is a `server.ts` flag. 0 turns a limit off where it says so. */
export interface RelayLimits {
  /** Bytes relayed per circuit, both directions together; 0: no limit. */
  maxCircuitBytes: number;
  /** A circuit's lifetime from pairing, in ms; 0: no limit. */
  maxCircuitDurationMs: number;
  /** Bytes per second per circuit, in each direction; 0: no limit. */
  bytesPerSecond: number;
  /** Circuits (waiting or open) one client IP address (IPv6: /64) takes part in at once. */
  maxCircuitsPerIp: number;
  /** How long the first peer waits for the second, in ms. */
  waitTimeoutMs: number;
}

/**
 * The limits used when none are given: 1 GiB and one hour per circuit, 4 MB/s each way (32
 * Mbit/s, enough for video calls and most transfers), 16 circuits per client IP, 30 s to wait
 * for the peer (the peers start their relay attempts within a few seconds of each other).
 */
export const DEFAULT_RELAY_LIMITS: Readonly<RelayLimits> = Object.freeze({
  maxCircuitBytes: 1024 * 1024 * 1024,
  maxCircuitDurationMs: 3_600_000,
  bytesPerSecond: 4_000_000,
  maxCircuitsPerIp: 16,
  waitTimeoutMs: 30_000,
});

/** Bytes read from a TCP or TLS connection at a time. */
const READ_CHUNK_BYTES = 64 * 1024;
/** The smallest burst of the rate limiter's token bucket. */
const MIN_BURST_BYTES = 16 * 1024;
/** How long a refusal may take to write before the connection is closed anyway. */
const REFUSAL_WRITE_MS = 1000;

/** One observation of relayed bytes (tests only). */
export interface RelayTapEvent {
  /** The circuit's sequence number. */
  circuit: number;
  /** `"a-to-b"` from the first (waiting) peer to the second, `"b-to-a"` the other way. */
  direction: "a-to-b" | "b-to-a";
  /** A copy of the bytes, as the relay forwards them. */
  bytes: Uint8Array;
}

/** A circuit in {@linkcode RelayState}. */
export interface RelayCircuit {
  /** Sequence number, for logs (never the token). */
  readonly id: number;
  /** `"waiting"` for its second peer, `"open"`, or `"closed"` (released). */
  readonly state: "waiting" | "open" | "closed";
}

/** What {@linkcode RelayState.admit} decided. */
export type RelayAdmission<T> =
  | { kind: "waiting"; circuit: RelayCircuit }
  | { kind: "paired"; circuit: RelayCircuit; waiter: T }
  | { kind: "refused"; code: "busy" | "limit" };

interface Entry<T> {
  circuit: { id: number; state: "waiting" | "open" | "closed" };
  token: string;
  waiter: T;
  keys: string[];
}

/**
 * The relay's tables, with no I/O: circuits by token and the circuits each client takes part in.
 * The plugin makes one; pass your own to look at it (tests).
 *
 * @example Two peers pair, a third is refused, the token is forgotten at the end
 * ```ts
 * import { RelayState } from "./relay.ts";
 * const state = new RelayState<string>();
 * const first = state.admit("t", "192.0.2.1", 16, "alice");
 * const second = state.admit("t", "198.51.100.7", 16, "bob");
 * if (first.kind !== "waiting" || second.kind !== "paired" || second.waiter !== "alice") throw new Error("Not paired");
 * if (state.admit("t", "203.0.113.9", 16, "eve").kind !== "refused") throw new Error("Third admitted");
 * state.release(second.circuit);
 * if (state.size !== 0 || state.activeCircuits !== 0) throw new Error("Not forgotten");
 * ```
 */
export class RelayState<T = unknown> {
  #entries = new Map<string, Entry<T>>();
  #byCircuit = new Map<RelayCircuit, Entry<T>>();
  #perClient = new Map<string, number>();
  #open = 0;
  #nextId = 1;

  /**
   * A new connection from `ip` presents `token`: wait, pair with the waiter, or refuse (`busy`:
   * the token's circuit is open; `limit`: the client takes part in `maxPerIp` circuits already).
   * A circuit counts once per client even when both peers share an address.
   *
   * @example
   * ```ts
   * import { RelayState } from "./relay.ts";
   * const state = new RelayState();
   * state.admit("a", "2001:db8::1", 1, null);
   * const second = state.admit("b", "2001:db8::2", 1, null);
   * if (second.kind !== "refused" || second.code !== "limit") throw new Error("Same /64 not limited");
   * ```
   */
  admit(token: string, ip: string, maxPerIp: number, waiter: T): RelayAdmission<T> {
    const key = clientKey(ip);
    const entry = this.#entries.get(token);
    if (entry !== undefined && entry.circuit.state === "open") {
      return { kind: "refused", code: "busy" };
    }
    const needsSlot = entry === undefined || !entry.keys.includes(key);
    if (needsSlot && (this.#perClient.get(key) ?? 0) >= maxPerIp) {
      return { kind: "refused", code: "limit" };
    }
    if (needsSlot) this.#perClient.set(key, (this.#perClient.get(key) ?? 0) + 1);
    if (entry === undefined) {
      const created: Entry<T> = {
        circuit: { id: this.#nextId++, state: "waiting" },
        token,
        waiter,
        keys: [key],
      };
      this.#entries.set(token, created);
      this.#byCircuit.set(created.circuit, created);
      return { kind: "waiting", circuit: created.circuit };
    }
    if (needsSlot) entry.keys.push(key);
    entry.circuit.state = "open";
    this.#open++;
    return { kind: "paired", circuit: entry.circuit, waiter: entry.waiter };
  }

  /**
   * End a circuit (waiting or open): forget its token and give back its clients' slots. Safe to
   * call twice.
   *
   * @example
   * ```ts
   * import { RelayState } from "./relay.ts";
   * const state = new RelayState();
   * const admission = state.admit("t", "192.0.2.1", 1, null);
   * if (admission.kind !== "waiting") throw new Error("Not waiting");
   * state.release(admission.circuit);
   * state.release(admission.circuit);
   * if (state.admit("u", "192.0.2.1", 1, null).kind !== "waiting") throw new Error("Slot not returned");
   * ```
   */
  release(circuit: RelayCircuit): void {
    const entry = this.#byCircuit.get(circuit);
    if (entry === undefined) return;
    this.#byCircuit.delete(circuit);
    this.#entries.delete(entry.token);
    if (entry.circuit.state === "open") this.#open--;
    entry.circuit.state = "closed";
    for (const key of entry.keys) {
      const left = (this.#perClient.get(key) ?? 1) - 1;
      if (left <= 0) this.#perClient.delete(key);
      else this.#perClient.set(key, left);
    }
  }

  /**
   * Open circuits (both peers joined): the relay's gauge.
   *
   * @example
   * ```ts
   * import { RelayState } from "./relay.ts";
   * if (new RelayState().activeCircuits !== 0) throw new Error("Not empty");
   * ```
   */
  get activeCircuits(): number {
    return this.#open;
  }

  /**
   * Circuits whose first peer waits for the second.
   *
   * @example
   * ```ts
   * import { RelayState } from "./relay.ts";
   * const state = new RelayState();
   * state.admit("t", "192.0.2.1", 1, null);
   * if (state.waitingCircuits !== 1) throw new Error("Not counted");
   * ```
   */
  get waitingCircuits(): number {
    return this.#entries.size - this.#open;
  }

  /**
   * Tokens held (waiting and open circuits).
   *
   * @example
   * ```ts
   * import { RelayState } from "./relay.ts";
   * if (new RelayState().size !== 0) throw new Error("Not empty");
   * ```
   */
  get size(): number {
    return this.#entries.size;
  }

  /**
   * Clients (IPv4 addresses, IPv6 /64s) taking part in a circuit now.
   *
   * @example
   * ```ts
   * import { RelayState } from "./relay.ts";
   * const state = new RelayState();
   * state.admit("t", "192.0.2.1", 1, null);
   * state.admit("t", "192.0.2.1", 1, null);
   * if (state.clients !== 1) throw new Error("Counted twice");
   * ```
   */
  get clients(): number {
    return this.#perClient.size;
  }

  /**
   * Forget everything (shutdown).
   *
   * @example
   * ```ts
   * import { RelayState } from "./relay.ts";
   * const state = new RelayState();
   * state.admit("t", "192.0.2.1", 1, null);
   * state.clear();
   * if (state.size !== 0 || state.clients !== 0) throw new Error("Not cleared");
   * ```
   */
  clear(): void {
    for (const entry of [...this.#byCircuit.values()]) this.release(entry.circuit);
  }
}

/** Options for {@linkcode relayPlugin}. */
export interface RelayServiceOptions {
  /** The plain-TCP port (0 lets the OS choose); `null` turns it off. @default {2316} */
  port?: number | null;
  /** The TLS port (0 lets the OS choose), used when the server has a certificate; `null` turns it off. @default {null} */
  tlsPort?: number | null;
  /** The HTTP service's routes, to serve the WebSocket relay at `GET /relay`. @default {null} */
  routes?: HttpRoutes | null;
  /** Limits; missing fields take {@linkcode DEFAULT_RELAY_LIMITS}. */
  limits?: Partial<RelayLimits>;
  /** How long a client may take to send its hello, in ms. @default {the server's idleTimeoutMs} */
  helloTimeoutMs?: number;
  /** The WebSocket flow-control window offered in `paired`, in bytes. @default {1048576} */
  wsWindow?: number;
  /** The tables to use, e.g. to read the gauges in tests. @default {a new RelayState} */
  state?: RelayState;
  /** Sees every relayed chunk (tests only: it copies every byte). */
  tap?: (event: RelayTapEvent) => void;
}

function checkLimits(limits: RelayLimits): void {
  const check = (name: keyof RelayLimits, min: number): void => {
    const value = limits[name];
    if (!(Number.isFinite(value) && value >= min)) {
      throw new RangeError(`Relay limit ${name} is ${value}, it must be a number >= ${min}`);
    }
  };
  check("maxCircuitBytes", 0);
  check("maxCircuitDurationMs", 0);
  check("bytesPerSecond", 0);
  check("maxCircuitsPerIp", 1);
  check("waitTimeoutMs", 1);
  if (!Number.isInteger(limits.maxCircuitsPerIp)) {
    throw new RangeError(
      `Relay limit maxCircuitsPerIp is ${limits.maxCircuitsPerIp}, it must be an integer`,
    );
  }
}

/** Why a link's hello was refused. */
class HelloError extends Error {
  constructor(readonly code: RelayErrorCode, message: string) {
    super(message);
    this.name = "HelloError";
  }
}

/** How a lone waiter's wait ended, short of pairing. */
type WaitEnd = "left" | "early-data";

/** A connection's byte stream once its circuit is open. */
interface DataLink {
  /** The next chunk (valid until the next call), or `null` at the end of this direction. */
  read(): Promise<Uint8Array | null>;
  /** Write every byte. */
  write(bytes: Uint8Array): Promise<void>;
  /** End this direction (half-close). */
  closeWrite(): Promise<void>;
}

/** One client connection of the relay, whatever its transport. */
interface Link {
  readonly id: number;
  readonly remote: SocketAddr;
  readonly transport: "tcp" | "tls" | "ws" | "wss";
  /** The hello's body; throws {@linkcode HelloError} (or anything when the connection fails). */
  readHello(timeoutMs: number): Promise<Uint8Array>;
  /** Send a status frame (in order with the others). */
  send(status: RelayStatus): Promise<void>;
  /** While waiting: resolves when the client leaves or sends bytes early; never once open. */
  watch(): Promise<WaitEnd>;
  /** Switch to data mode and send `paired`; data written afterwards follows it. */
  open(window: number): DataLink;
  /** Close now; `code` and `reason` for WebSockets. */
  close(code?: number, reason?: string): void;
}

/** A token bucket: `take(n)` debits `n` bytes and waits off any debt, pausing the reader. */
class TokenBucket {
  readonly burst: number;
  #tokens: number;
  #last = performance.now();
  constructor(readonly rate: number) {
    this.burst = Math.max(MIN_BURST_BYTES, Math.floor(rate / 4));
    this.#tokens = this.burst;
  }
  async take(n: number, signal: AbortSignal): Promise<void> {
    const now = performance.now();
    this.#tokens = Math.min(this.burst, this.#tokens + ((now - this.#last) * this.rate) / 1000);
    this.#last = now;
    this.#tokens -= n;
    if (this.#tokens < 0) await pause((-this.#tokens / this.rate) * 1000, signal);
  }
}

/**
 * Parse the hello out of the bytes read so far: the body once complete, `null` when more are
 * needed. Throws a {@linkcode HelloError} for an oversize prefix or bytes after the hello.
 */
function helloBody(bytes: Uint8Array): Uint8Array | null {
  if (bytes.length < 4) return null;
  const length = new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0, false);
  if (length > MAX_RELAY_HELLO_BYTES) {
    throw new HelloError(
      "bad-hello",
      `Not a relay hello: a frame of ${length} bytes (at most ${MAX_RELAY_HELLO_BYTES})`,
    );
  }
  if (bytes.length < 4 + length) return null;
  if (bytes.length > 4 + length) {
    throw new HelloError("bad-hello", "Bytes after the hello, before paired");
  }
  return bytes.slice(4, 4 + length);
}

/**
 * Race `promise` against a timeout: after `ms`, settle with `onTimeout()` instead (its value, or
 * what it throws). The timer is always cleared.
 */
async function within<T>(promise: Promise<T>, ms: number, onTimeout: () => T): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<T>((resolve, reject) => {
        timer = setTimeout(() => {
          try {
            resolve(onTimeout());
          } catch (error) {
            reject(error);
          }
        }, ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** A TCP or TLS connection. */
class ConnLink implements Link {
  readonly id: number;
  readonly remote: SocketAddr;
  readonly transport: "tcp" | "tls";
  #conn: Deno.Conn;
  #buf = new Uint8Array(READ_CHUNK_BYTES);
  #pending: Promise<number | null> | null = null;
  #chain: Promise<void> = Promise.resolve();
  #mode: "hello" | "waiting" | "open" = "hello";
  #closed = false;

  constructor(c: ServiceConnection) {
    this.id = c.id;
    this.remote = c.remote;
    this.transport = c.transport;
    this.#conn = c.conn;
  }

  async readHello(timeoutMs: number): Promise<Uint8Array> {
    let bytes = new Uint8Array(0);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const body = helloBody(bytes);
      if (body !== null) {
        this.#mode = "waiting";
        return body;
      }
      const read = this.#conn.read(this.#buf);
      const n = await within(read, Math.max(0, deadline - Date.now()), () => {
        read.catch(() => {});
        throw new HelloError("bad-hello", `No hello within ${timeoutMs} ms`);
      });
      if (n === null) throw new Error("The client closed the connection before its hello");
      const more = new Uint8Array(bytes.length + n);
      more.set(bytes);
      more.set(this.#buf.subarray(0, n), bytes.length);
      bytes = more;
    }
  }

  send(status: RelayStatus): Promise<void> {
    const frame = encodeRelayStatusFrame(status);
    this.#chain = this.#chain.then(() => writeAll(this.#conn, frame));
    return this.#chain;
  }

  watch(): Promise<WaitEnd> {
    this.#pending ??= this.#conn.read(this.#buf);
    return this.#pending.then(
      (n): Promise<WaitEnd> | WaitEnd =>
        this.#mode !== "waiting"
          ? new Promise<never>(() => {})
          : n === null
          ? "left"
          : "early-data",
      (): Promise<WaitEnd> | WaitEnd =>
        this.#mode !== "waiting" ? new Promise<never>(() => {}) : "left",
    );
  }

  open(): DataLink {
    this.#mode = "open";
    const ready = this.send({ status: "paired" });
    // Awaited by the first write or half-close. A circuit that ends before either (the other
    // side failed first) must not leave this rejection unhandled: that crashed the server
    // (found by the fuzz suite).
    ready.catch(() => {});
    const conn = this.#conn;
    return {
      read: async () => {
        const pending = this.#pending ?? conn.read(this.#buf);
        this.#pending = null;
        const n = await pending;
        return n === null ? null : this.#buf.subarray(0, n);
      },
      write: async (bytes) => {
        await ready;
        await writeAll(conn, bytes);
      },
      closeWrite: async () => {
        await ready;
        await conn.closeWrite();
      },
    };
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#conn.close();
    } catch { /* already closed */ }
  }
}

/** A WebSocket from `GET /relay`. */
class WsLink implements Link {
  readonly id: number;
  readonly remote: SocketAddr;
  readonly transport: "ws" | "wss";
  #ws: WebSocket;
  #messages: (string | Uint8Array)[] = [];
  #ended = false;
  #wake: (() => void) | null = null;
  #mode: "hello" | "waiting" | "open" = "hello";
  #duplex: ReturnType<typeof websocketDuplex> | null = null;
  #onMessage = (event: MessageEvent): void => {
    const data = event.data;
    this.#messages.push(typeof data === "string" ? data : new Uint8Array(data as ArrayBuffer));
    this.#notify();
  };
  #onClose = (): void => {
    this.#ended = true;
    this.#notify();
  };

  constructor(id: number, ws: WebSocket, remote: SocketAddr, transport: "ws" | "wss") {
    this.id = id;
    this.remote = remote;
    this.transport = transport;
    this.#ws = ws;
    ws.binaryType = "arraybuffer";
    ws.addEventListener("message", this.#onMessage);
    ws.addEventListener("close", this.#onClose);
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = null;
    wake?.();
  }

  async #next(): Promise<string | Uint8Array | null> {
    while (this.#messages.length === 0 && !this.#ended) {
      await new Promise<void>((resolve) => (this.#wake = resolve));
    }
    return this.#messages.shift() ?? null;
  }

  async readHello(timeoutMs: number): Promise<Uint8Array> {
    const message = await within(this.#next(), timeoutMs, () => {
      throw new HelloError("bad-hello", `No hello within ${timeoutMs} ms`);
    });
    if (message === null) throw new Error("The client closed the WebSocket before its hello");
    if (typeof message === "string") {
      throw new HelloError("bad-hello", "Not a relay hello: a text message (send binary)");
    }
    const body = helloBody(message);
    if (body === null) throw new HelloError("bad-hello", "Not a relay hello: a truncated frame");
    if (this.#messages.length > 0) {
      throw new HelloError("bad-hello", "Messages after the hello, before paired");
    }
    this.#mode = "waiting";
    return body;
  }

  send(status: RelayStatus): Promise<void> {
    if (this.#ws.readyState !== WebSocket.OPEN) {
      return Promise.reject(new Error("The WebSocket is closed"));
    }
    this.#ws.send(encodeRelayStatusFrame(status));
    return Promise.resolve();
  }

  async watch(): Promise<WaitEnd> {
    const message = await this.#next();
    if (this.#mode !== "waiting") return await new Promise<never>(() => {});
    return message === null ? "left" : "early-data";
  }

  open(window: number): DataLink {
    this.#mode = "open";
    this.#ws.removeEventListener("message", this.#onMessage);
    this.#ws.removeEventListener("close", this.#onClose);
    // A message still queued came before `paired`: a protocol error (see watch()).
    if (this.#ws.readyState !== WebSocket.OPEN || this.#messages.length > 0) {
      const failed = Promise.reject(new Error("The WebSocket is closed or sent data early"));
      failed.catch(() => {});
      return { read: () => failed, write: () => failed, closeWrite: () => failed };
    }
    // The adapter listens from now on; `paired` goes out before any data it sends.
    const duplex = websocketDuplex(this.#ws, { halfClose: true, window });
    this.#duplex = duplex;
    this.#ws.send(encodeRelayStatusFrame({ status: "paired", window }));
    const reader = duplex.readable.getReader();
    const writer = duplex.writable.getWriter();
    return {
      read: async () => {
        const { value, done } = await reader.read();
        return done ? null : value;
      },
      write: (bytes) => writer.write(bytes),
      closeWrite: () => writer.close(),
    };
  }

  close(code: number = RELAY_WS_CLOSE.normal, reason = ""): void {
    this.#ended = true;
    this.#notify();
    if (this.#duplex !== null) return this.#duplex.close(code, reason);
    if (this.#ws.readyState === WebSocket.OPEN || this.#ws.readyState === WebSocket.CONNECTING) {
      try {
        this.#ws.close(code, reason);
      } catch { /* closing */ }
    }
  }
}

/** Why a circuit ended (a `relay_circuit_end` label). */
type EndReason = "done" | "error" | "bytes-limit" | "duration-limit" | "shutdown";

const WS_CLOSE_FOR: Record<EndReason, [number, string]> = {
  "done": [RELAY_WS_CLOSE.normal, ""],
  "error": [RELAY_WS_CLOSE.peerError, "peer-error"],
  "bytes-limit": [RELAY_WS_CLOSE.limit, "limit"],
  "duration-limit": [RELAY_WS_CLOSE.limit, "limit"],
  "shutdown": [RELAY_WS_CLOSE.shutdown, "shutdown"],
};

/** A waiting peer, as the second peer finds it. */
interface Waiter {
  link: Link;
  /** Hand the waiter its circuit's end (called once, when paired). */
  pair(done: Promise<void>): void;
  /** End the wait (timeout, shutdown). */
  end(reason: "timeout" | "shutdown"): void;
}

/**
 * The relay as a server plugin (`service: "relay"`): TCP and TLS listeners, and `GET /relay` on
 * the HTTP(S) service when `routes` is given.
 *
 * @throws {RangeError} for a bad port or limit.
 *
 * @example Two peers meet on a free port
 * ```ts
 * import { relayPlugin, RelayState } from "./relay.ts";
 * import { startServer } from "../server.ts";
 * import { silentLogger } from "../logger.ts";
 * import { relayConnect } from "../../client/relay.ts";
 * const state = new RelayState();
 * await using server = await startServer({
 *   hostname: "127.0.0.1", gdayPort: null, logger: silentLogger,
 *   services: [relayPlugin({ port: 0, state })],
 * });
 * const relay = `127.0.0.1:${server.listeners[0]!.addr.port}`;
 * const token = new Uint8Array(32).fill(1);
 * const [a, b] = await Promise.all([relayConnect({ server: relay, token }), relayConnect({ server: relay, token })]);
 * if (state.activeCircuits !== 1) throw new Error("No circuit");
 * a.close();
 * b.close();
 * ```
 */
export function relayPlugin(options: RelayServiceOptions = {}): ServiceFactory {
  const port = options.port === undefined ? DEFAULT_RELAY_PORT : options.port;
  const tlsPort = options.tlsPort ?? null;
  for (const [name, value] of [["port", port], ["tlsPort", tlsPort]] as const) {
    if (value !== null && !(Number.isInteger(value) && value >= 0 && value <= 65535)) {
      throw new RangeError(`Relay ${name} is ${value}, it must be an integer from 0 to 65535`);
    }
  }
  const limits: RelayLimits = { ...DEFAULT_RELAY_LIMITS, ...options.limits };
  checkLimits(limits);
  const wsWindow = options.wsWindow ?? DEFAULT_RELAY_WS_WINDOW;
  if (!(Number.isInteger(wsWindow) && wsWindow >= 4 && wsWindow <= 0xffffffff)) {
    throw new RangeError(`Relay wsWindow is ${wsWindow}, it must be an integer from 4 to 2^32-1`);
  }
  const tap = options.tap;
  const routes = options.routes ?? null;

  return (ctx) => {
    const logger: Logger = ctx.logger;
    const counters: Counters = ctx.counters;
    const state = (options.state ?? new RelayState()) as RelayState<Waiter>;
    const helloTimeoutMs = options.helloTimeoutMs ?? ctx.limits.idleTimeoutMs;
    const links = new Set<Link>();
    const waiters = new Set<Waiter>();
    const circuits = new Set<(reason: EndReason) => void>();
    const tasks = new Set<Promise<void>>();
    let closing = false;
    let nextWsId = 1;

    const refuse = async (link: Link, code: RelayErrorCode, message: string): Promise<void> => {
      counters.inc("relay_circuits", "refused");
      counters.inc("relay_refused", code);
      logger.log("info", "relay_refused", {
        conn: link.id,
        transport: link.transport,
        ip: link.remote.ip,
        code,
        reason: message,
      });
      const status: RelayStatus = code === "version"
        ? { status: "error", code, message, versions: [...RELAY_SUPPORTED_VERSIONS] }
        : { status: "error", code, message };
      await within(link.send(status).catch(() => {}), REFUSAL_WRITE_MS, () => {});
    };

    /** Join two links until the circuit ends; resolves when both are closed. */
    const runCircuit = async (
      circuit: RelayCircuit,
      a: Link,
      b: Link,
    ): Promise<void> => {
      const started = Date.now();
      const stop = new AbortController();
      let reason: EndReason | null = null;
      let bytes = 0;
      const end = (why: EndReason): void => {
        if (reason !== null) return;
        reason = why;
        stop.abort();
        const [code, text] = WS_CLOSE_FOR[why];
        a.close(code, text);
        b.close(code, text);
      };
      circuits.add(end);
      counters.inc("relay_circuits", "opened");
      logger.log("info", "relay_circuit_opened", {
        circuit: circuit.id,
        a: `${a.transport} ${a.remote.ip}`,
        b: `${b.transport} ${b.remote.ip}`,
      });
      const timer = limits.maxCircuitDurationMs > 0
        ? setTimeout(() => end("duration-limit"), limits.maxCircuitDurationMs)
        : undefined;

      const pump = async (
        from: DataLink,
        to: DataLink,
        direction: RelayTapEvent["direction"],
      ): Promise<void> => {
        const bucket = limits.bytesPerSecond > 0 ? new TokenBucket(limits.bytesPerSecond) : null;
        for (;;) {
          let chunk = await from.read();
          if (stop.signal.aborted) return;
          if (chunk === null) return await to.closeWrite();
          while (chunk.length > 0) {
            let piece = chunk;
            if (limits.maxCircuitBytes > 0) {
              const left = limits.maxCircuitBytes - bytes;
              if (left <= 0) return end("bytes-limit");
              piece = piece.subarray(0, left);
            }
            if (bucket !== null) {
              piece = piece.subarray(0, bucket.burst);
              await bucket.take(piece.length, stop.signal);
              if (stop.signal.aborted) return;
            }
            // Counted before the write, so the two directions never overshoot the limit together.
            bytes += piece.length;
            tap?.({ circuit: circuit.id, direction, bytes: piece.slice() });
            await to.write(piece);
            counters.inc("relay_bytes", undefined, piece.length);
            chunk = chunk.subarray(piece.length);
          }
        }
      };

      try {
        const da = a.open(wsWindow);
        const db = b.open(wsWindow);
        const pumps = [pump(da, db, "a-to-b"), pump(db, da, "b-to-a")].map((p) =>
          p.catch((error) => {
            if (reason === null) {
              logger.log("info", "relay_circuit_error", {
                circuit: circuit.id,
                error: (error as Error)?.message ?? String(error),
              });
            }
            end("error");
          })
        );
        await Promise.all(pumps);
        end("done");
      } finally {
        clearTimeout(timer);
        circuits.delete(end);
        state.release(circuit);
        counters.inc("relay_circuits", "closed");
        counters.inc("relay_circuit_end", reason ?? "done");
        logger.log("info", "relay_circuit_closed", {
          circuit: circuit.id,
          reason: reason ?? "done",
          bytes,
          ms: Date.now() - started,
        });
      }
    };

    /** A first peer waits for the second; resolves when its connection is done. */
    const wait = async (link: Link, circuit: RelayCircuit, waiter: Waiter): Promise<void> => {
      type Outcome =
        | { kind: "paired"; done: Promise<void> }
        | { kind: WaitEnd | "timeout" | "shutdown" };
      let settle!: (outcome: Outcome) => void;
      const settled = new Promise<Outcome>((resolve) => (settle = resolve));
      waiter.pair = (done) => settle({ kind: "paired", done });
      waiter.end = (kind) => {
        if (circuit.state !== "waiting") return;
        state.release(circuit);
        settle({ kind });
      };
      waiters.add(waiter);
      const timer = setTimeout(() => waiter.end("timeout"), limits.waitTimeoutMs);
      try {
        link.send({ status: "waiting", timeoutMs: limits.waitTimeoutMs }).catch(() => {});
        link.watch().then((kind) => {
          if (circuit.state !== "waiting") return;
          state.release(circuit);
          settle({ kind });
        });
        const outcome = await settled;
        switch (outcome.kind) {
          case "paired":
            return await outcome.done;
          case "timeout":
            counters.inc("relay_waits", "timeout");
            logger.log("info", "relay_wait_timeout", { circuit: circuit.id, conn: link.id });
            return await refuse(link, "timeout", `No peer came within ${limits.waitTimeoutMs} ms`);
          case "shutdown":
            return await refuse(link, "shutdown", "The server is shutting down");
          case "early-data":
            return await refuse(link, "bad-hello", "Bytes after the hello, before paired");
          case "left":
            counters.inc("relay_waits", "left");
            return;
        }
      } finally {
        clearTimeout(timer);
        waiters.delete(waiter);
      }
    };

    const serveLink = async (link: Link): Promise<void> => {
      links.add(link);
      try {
        let token: string;
        try {
          token = decodeRelayHello(await link.readHello(helloTimeoutMs)).token.toHex();
        } catch (error) {
          if (error instanceof HelloError || error instanceof RelayProtocolError) {
            const code = error.code === "version" ? "version" : "bad-hello";
            if (!closing) await refuse(link, code, error.message);
          }
          return;
        }
        if (closing) return await refuse(link, "shutdown", "The server is shutting down");
        if (!ctx.rateLimiter.take(link.remote.ip)) {
          counters.inc("relay_rate_limited");
          return await refuse(link, "limit", "Too many requests from this address; try later");
        }
        const waiter: Waiter = { link, pair: () => {}, end: () => {} };
        const admission = state.admit(token, link.remote.ip, limits.maxCircuitsPerIp, waiter);
        switch (admission.kind) {
          case "refused":
            return await refuse(
              link,
              admission.code,
              admission.code === "busy"
                ? "Two peers already hold a circuit with this token"
                : `This address takes part in ${limits.maxCircuitsPerIp} relay circuits already`,
            );
          case "waiting":
            return await wait(link, admission.circuit, waiter);
          case "paired": {
            const done = runCircuit(admission.circuit, admission.waiter.link, link);
            admission.waiter.pair(done);
            return await done;
          }
        }
      } finally {
        links.delete(link);
        link.close();
      }
    };

    const track = (task: Promise<void>): Promise<void> => {
      const tracked = task.catch((error) => {
        logger.log("error", "relay_failed", { error: String(error) });
      });
      tasks.add(tracked);
      tracked.finally(() => tasks.delete(tracked));
      return tracked;
    };

    const upgrade = (request: Request, info: HttpRequestInfo): Response => {
      if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") {
        return new Response("The relay speaks WebSocket here (protocol/relay.ts)\n", {
          status: 426,
          headers: { upgrade: "websocket" },
        });
      }
      if (closing) return new Response("Shutting down\n", { status: 503 });
      let upgraded: { socket: WebSocket; response: Response };
      try {
        upgraded = Deno.upgradeWebSocket(request);
      } catch (error) {
        // `Upgrade: websocket` without a valid handshake (found by the fuzz suite; it used to
        // be a 500 logged at error level).
        counters.inc("relay_refused", "bad-upgrade");
        return new Response(`Not a WebSocket handshake: ${(error as Error).message}\n`, {
          status: 400,
        });
      }
      const { socket, response } = upgraded;
      const link = new WsLink(
        nextWsId++,
        socket,
        info.remote,
        info.transport === "https" ? "wss" : "ws",
      );
      counters.inc("connections", "relay");
      track(serveLink(link));
      return response;
    };
    const unroute = routes?.add("GET", RELAY_WS_PATH, upgrade);
    ctx.gauges.add("relay_circuits_open", undefined, () => state.activeCircuits);
    ctx.gauges.add("relay_circuits_waiting", undefined, () => state.waitingCircuits);
    // WebSocket links are the relay's own (TCP and TLS ones are counted by the server).
    ctx.gauges.add("connections_open", "relay", () => {
      let n = 0;
      for (const link of links) if (link.transport === "ws" || link.transport === "wss") n++;
      return n;
    });

    const listeners = [];
    if (port !== null) listeners.push({ transport: "tcp" as const, port });
    if (tlsPort !== null) listeners.push({ transport: "tls" as const, port: tlsPort });
    logger.log("info", "relay_ready", {
      version: RELAY_PROTOCOL_VERSION,
      websocket: routes === null ? "off" : RELAY_WS_PATH,
    });

    return {
      name: "relay",
      listeners,
      handleConnection: (c) => track(serveLink(new ConnLink(c))),
      close: async () => {
        closing = true;
        unroute?.();
        // Waiters are told (`shutdown`), open circuits closed, hello readers cut off.
        const waiting = new Set([...waiters].map((waiter) => waiter.link));
        for (const waiter of [...waiters]) waiter.end("shutdown");
        for (const end of [...circuits]) end("shutdown");
        for (const link of [...links]) {
          if (!waiting.has(link)) link.close(RELAY_WS_CLOSE.shutdown, "shutdown");
        }
        await Promise.allSettled([...tasks]);
        state.clear();
      },
    };
  };
}
