/**
 * The relay client: meet a peer at a relay server when no direct path exists
 * (protocol: `protocol/relay.ts`). Both peers derive the same circuit token from their shared
 * secret with {@linkcode relayToken}, call {@linkcode relayConnect}, and get a byte stream to
 * each other once the server has paired them. The stream is the relay's, not the peer's: run the
 * PAKE handshake (`handshake` in `secure/`) over it, so the relay sees only ciphertext and a
 * relay that pairs you with someone else is caught.
 *
 * @example Two peers meet through a local relay and run the handshake over it
 * ```ts
 * import { relayConnect, relayToken } from "./relay.ts";
 * import { handshake } from "../secure/handshake.ts";
 * import { relayPlugin } from "../server/services/relay.ts";
 * import { silentLogger, startServer } from "../server/mod.ts";
 * await using server = await startServer({
 *   hostname: "127.0.0.1", gdayPort: null, logger: silentLogger, services: [relayPlugin({ port: 0 })],
 * });
 * const relay = `127.0.0.1:${server.listeners[0]!.addr.port}`;
 * const secret = new TextEncoder().encode("7-crossover-clockwork");
 * const token = relayToken(secret, new TextEncoder().encode("room 42"));
 * const [a, b] = await Promise.all([relayConnect({ server: relay, token }), relayConnect({ server: relay, token })]);
 * const [alice, bob] = await Promise.all([handshake(a, secret), handshake(b, secret)]);
 * const writer = alice.writable.getWriter();
 * await writer.write(new TextEncoder().encode("hello through the relay"));
 * await writer.close();
 * if ((await new Response(bob.readable).text()) !== "hello through the relay") throw new Error("Lost");
 * await Promise.all([alice.close(), bob.close()]);
 * ```
 *
 * @module
 */

import { prependStream } from "../net/prepend.ts";
import { hkdf } from "@noble/hashes/hkdf.js";
import { sha256 } from "@noble/hashes/sha2.js";
import {
  decodeRelayStatus,
  DEFAULT_RELAY_PORT,
  DEFAULT_RELAY_TLS_PORT,
  encodeRelayHelloFrame,
  MAX_RELAY_STATUS_BYTES,
  RELAY_PROTOCOL_VERSION,
  RELAY_TOKEN_BYTES,
  RELAY_WS_PATH,
  RelayProtocolError,
  type RelayStatus,
} from "../protocol/relay.ts";
import { type SocketAddr, toSocketAddr } from "../protocol/socket_addr.ts";
import type { Duplex } from "../net/duplex.ts";
import { ConnectError } from "../net/errors.ts";
import { type ClientTlsOptions, connectTcp } from "../net/tcp.ts";
import { connectWebSocket, websocketDuplex } from "../net/websocket.ts";
import { denoConnStreams } from "../net/deno_conn.ts";
import { formatServerAddress, parseServerAddress } from "./server_address.ts";

/** How to reach the relay: plain TCP, TLS, WebSocket or WebSocket over TLS. */
export type RelayTransport = "tcp" | "tls" | "ws" | "wss";

/** The HKDF salt of {@linkcode relayToken}: the domain of the derivation. */
export const RELAY_TOKEN_SALT = "peerlink/1 relay token";

/** The default time from the call to `paired`, in ms. */
export const DEFAULT_RELAY_TIMEOUT_MS = 60_000;

const encoder = new TextEncoder();

/**
 * The circuit token for a shared secret: `HKDF-SHA256(ikm = secret, salt = "peerlink/1 relay
 * token", info = context)`, 32 bytes. Both peers pass the same secret and context (for example
 * the room or session it is for, so a token is never reused across sessions).
 *
 * The server learns the token, never the secret. The token is a one-way function of the secret,
 * so it is as hard to guess as the secret for anyone who does not know it; but a relay
 * operator who also knows `context` can test candidate secrets against it offline, so a
 * low-entropy secret (such as a short code) can be found by brute force. The PAKE run over the
 * circuit stays safe against third parties; against a malicious relay it is only as strong as
 * the secret's entropy versus the time the relay has before the handshake ends.
 *
 * @example Same inputs, same token; another context, another token
 * ```ts
 * import { relayToken } from "./relay.ts";
 * const secret = new TextEncoder().encode("s3cret");
 * const a = relayToken(secret, new TextEncoder().encode("room 1"));
 * if (a.length !== 32) throw new Error("Wrong size");
 * if (relayToken(secret, new TextEncoder().encode("room 1")).toHex() !== a.toHex()) throw new Error("Not stable");
 * if (relayToken(secret, new TextEncoder().encode("room 2")).toHex() === a.toHex()) throw new Error("Context ignored");
 * ```
 */
export function relayToken(secret: Uint8Array, context: Uint8Array): Uint8Array {
  return hkdf(sha256, secret, encoder.encode(RELAY_TOKEN_SALT), context, RELAY_TOKEN_BYTES);
}

/** Base class of the relay client's errors. */
export class RelayError extends Error {
  /**
   * Make the error.
   *
   * @example
   * ```ts
   * import { RelayError } from "./relay.ts";
   * if (new RelayError("x").name !== "RelayError") throw new Error("Bad name");
   * ```
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "RelayError";
  }
}

/** The relay server refused the circuit (`busy`, `limit`, `bad-hello`, `version`, `shutdown`, ...). */
export class RelayRefusedError extends RelayError {
  /** The server's error code (see `RELAY_ERROR_CODES` in `protocol/relay.ts`). */
  readonly reason: string;
  /** The server's message. */
  readonly serverMessage: string;
  /**
   * Make the error.
   *
   * @example
   * ```ts
   * import { RelayRefusedError } from "./relay.ts";
   * const error = new RelayRefusedError("busy", "Taken");
   * if (error.reason !== "busy" || !error.message.includes("busy")) throw new Error("Bad error");
   * ```
   */
  constructor(reason: string, serverMessage: string, options?: ErrorOptions) {
    const hint = reason === "busy"
      ? " (two peers already use this token)"
      : reason === "limit"
      ? " (a server limit; try again later)"
      : reason === "version"
      ? " (run a peerlink version that speaks the server's relay protocol)"
      : "";
    super(
      `The relay refused the circuit: ${reason}${hint}${serverMessage ? `: ${serverMessage}` : ""}`,
      options,
    );
    this.name = "RelayRefusedError";
    this.reason = reason;
    this.serverMessage = serverMessage;
  }
}

/** The peer did not come in time (the client's timeout, or the server's wait). */
export class RelayTimeoutError extends RelayError {
  /** Whose clock ran out: `"client"` (`timeoutMs`) or `"server"` (its wait timeout). */
  readonly by: "client" | "server";
  /**
   * Make the error.
   *
   * @example
   * ```ts
   * import { RelayTimeoutError } from "./relay.ts";
   * if (new RelayTimeoutError("server", 30000).by !== "server") throw new Error("Bad error");
   * ```
   */
  constructor(by: "client" | "server", ms: number, options?: ErrorOptions) {
    super(
      by === "server"
        ? `The peer did not come to the relay within the server's ${ms} ms`
        : `No relay circuit within ${ms} ms (the peer did not come, or the relay is slow)`,
      options,
    );
    this.name = "RelayTimeoutError";
    this.by = by;
  }
}

/** No connection to the relay server could be opened. */
export class RelayUnreachableError extends RelayError {
  /** What was dialled. */
  readonly server: string;
  /**
   * Make the error.
   *
   * @example
   * ```ts
   * import { RelayUnreachableError } from "./relay.ts";
   * if (!new RelayUnreachableError("h:1").message.includes("h:1")) throw new Error("No server");
   * ```
   */
  constructor(server: string, options?: ErrorOptions) {
    const reason = (options?.cause as Error | undefined)?.message;
    super(`Cannot reach the relay at ${server}${reason ? ` (${reason})` : ""}`, options);
    this.name = "RelayUnreachableError";
    this.server = server;
  }
}

/** Options for {@linkcode relayConnect}. */
export interface RelayConnectOptions {
  /**
   * The relay server. For `tcp` and `tls`: `host[:port]` (ports 2316 and 2317 by default). For
   * `ws` and `wss`: a URL (`wss://relay.example/relay`), or `host[:port]` for
   * `ws(s)://host:port/relay` (ports 80 and 443 by default).
   */
  server: string;
  /** How to reach it. @default {"tcp", or the scheme of a ws:// or wss:// URL} */
  transport?: RelayTransport;
  /** The 32-byte circuit token, from {@linkcode relayToken}. */
  token: Uint8Array;
  /**
   * TLS settings for `tls` and `wss`. Over `wss` only `caCerts` is supported (the WebSocket
   * client has no switch to skip verification).
   */
  tls?: ClientTlsOptions;
  /** Give up when this aborts (rejects with its reason). */
  signal?: AbortSignal;
  /** Give up when not paired within this many ms. @default {60000} */
  timeoutMs?: number;
  /** Give up opening the connection after this many ms. @default {10000} */
  connectTimeoutMs?: number;
  /** Told when the server says the peer is not there yet (with how long it will wait). */
  onWaiting?: (serverTimeoutMs: number) => void;
}

/** A circuit through the relay, open to the peer. */
export interface RelayConnection extends Duplex, Disposable {
  /** Bytes from the peer (ciphertext, if the peers encrypt as they should). */
  readonly readable: ReadableStream<Uint8Array>;
  /** Bytes to the peer; closing it half-closes the circuit. */
  readonly writable: WritableStream<Uint8Array>;
  /** How the relay was reached. */
  readonly transport: RelayTransport;
  /** The relay as dialled: `host:port` or the WebSocket URL. */
  readonly server: string;
  /** This side's socket address (TCP and TLS; `null` over WebSocket, which hides it). */
  readonly localAddr: SocketAddr | null;
  /** The relay server's socket address (TCP and TLS; `null` over WebSocket). */
  readonly remoteAddr: SocketAddr | null;
  /** Close both directions at once (safe to call twice). */
  close(): void;
  /**
   * Resolves once the transport has really closed. Over WebSocket the close (and any data
   * queued before it) goes out asynchronously, so a program about to exit should wait for it.
   */
  readonly finished: Promise<void>;
}

/** Resolve the transport and the address to dial. */
function target(options: RelayConnectOptions): { transport: RelayTransport; where: string } {
  const text = options.server.trim();
  const scheme = /^(wss?):\/\//i.exec(text)?.[1]?.toLowerCase() as "ws" | "wss" | undefined;
  const transport = options.transport ?? scheme ?? "tcp";
  if (scheme !== undefined && scheme !== transport) {
    throw new RangeError(
      `Relay server "${text}" is a ${scheme}:// URL but transport is ${transport}`,
    );
  }
  if (transport === "tcp" || transport === "tls") {
    const addr = parseServerAddress(
      text,
      transport === "tls" ? DEFAULT_RELAY_TLS_PORT : DEFAULT_RELAY_PORT,
    );
    return { transport, where: formatServerAddress(addr) };
  }
  if (scheme !== undefined) return { transport, where: new URL(text).href };
  const addr = parseServerAddress(text, transport === "wss" ? 443 : 80);
  return { transport, where: `${transport}://${formatServerAddress(addr)}${RELAY_WS_PATH}` };
}

/** Turn a status other than `waiting` / `paired` into the error to throw. */
function statusError(status: RelayStatus & { status: "error" }, waitMs: number): RelayError {
  return status.code === "timeout"
    ? new RelayTimeoutError("server", waitMs)
    : new RelayRefusedError(status.code, status.message);
}

function frameBody(bytes: Uint8Array): Uint8Array | null {
  if (bytes.length < 4) return null;
  const length = new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0, false);
  if (length > MAX_RELAY_STATUS_BYTES) {
    throw new RelayProtocolError(
      "bad-status",
      `The relay sent a frame of ${length} bytes (at most ${MAX_RELAY_STATUS_BYTES})`,
    );
  }
  return bytes.length < 4 + length ? null : bytes.subarray(4, 4 + length);
}

function netAddr(addr: Deno.Addr): SocketAddr | null {
  return addr.transport === "tcp" ? toSocketAddr(addr.hostname, addr.port) : null;
}

/**
 * Open the TCP or TLS connection. Deno's own sockets are used (Deno's `node:tls` loses the end of
 * a stream that arrives while the socket is paused by backpressure, which would break
 * half-close); `node:tls` only for what they cannot do (`insecure`, `serverName`).
 */
async function dialStream(
  hostname: string,
  port: number,
  transport: "tcp" | "tls",
  tls: ClientTlsOptions | undefined,
  signal: AbortSignal,
  timeoutMs: number,
): Promise<
  Duplex & { close(): void; localAddr: SocketAddr | null; remoteAddr: SocketAddr | null }
> {
  if (transport === "tls" && (tls?.insecure || tls?.serverName !== undefined)) {
    const conn = await connectTcp({ hostname, port, tls, signal, timeoutMs });
    return conn;
  }
  const target = `${hostname}:${port}`;
  const stop = new AbortController();
  const timer = setTimeout(
    () => stop.abort(new ConnectError(target, `timed out after ${timeoutMs} ms`)),
    timeoutMs,
  );
  const onAbort = (): void => stop.abort(signal.reason);
  signal.addEventListener("abort", onAbort, { once: true });
  const opening = transport === "tls"
    ? Deno.connectTls({ hostname, port, caCerts: tls?.caCerts })
    : Deno.connect({ hostname, port, signal: stop.signal });
  try {
    const conn = await new Promise<Deno.Conn>((resolve, reject) => {
      const give = (): void => reject(stop.signal.reason);
      stop.signal.addEventListener("abort", give, { once: true });
      opening.then(
        (c) => {
          stop.signal.removeEventListener("abort", give);
          if (stop.signal.aborted) c.close();
          else resolve(c);
        },
        (error) => {
          stop.signal.removeEventListener("abort", give);
          reject(
            stop.signal.aborted ? stop.signal.reason : new ConnectError(
              target,
              error instanceof Deno.errors.ConnectionRefused
                ? "connection refused (is the server running?)"
                : (error as Error).message,
              { cause: error },
            ),
          );
        },
      );
    });
    if (transport === "tcp") (conn as Deno.TcpConn).setNoDelay(true);
    return {
      ...denoConnStreams(conn),
      localAddr: netAddr(conn.localAddr),
      remoteAddr: netAddr(conn.remoteAddr),
    };
  } finally {
    clearTimeout(timer);
    signal.removeEventListener("abort", onAbort);
  }
}

async function overTcp(
  where: string,
  transport: "tcp" | "tls",
  options: RelayConnectOptions,
  signal: AbortSignal,
): Promise<RelayConnection> {
  const { hostname, port } = parseServerAddress(where, 0);
  let conn: Awaited<ReturnType<typeof dialStream>>;
  try {
    conn = await dialStream(
      hostname,
      port,
      transport,
      options.tls,
      signal,
      options.connectTimeoutMs ?? 10_000,
    );
  } catch (error) {
    if (signal.aborted) throw signal.reason;
    throw new RelayUnreachableError(where, { cause: error });
  }
  const reader = conn.readable.getReader();
  const onAbort = (): void => conn.close();
  signal.addEventListener("abort", onAbort, { once: true });
  try {
    const writer = conn.writable.getWriter();
    try {
      await writer.write(
        encodeRelayHelloFrame({ version: RELAY_PROTOCOL_VERSION, token: options.token }),
      );
    } catch (error) {
      if (signal.aborted) throw signal.reason;
      throw new RelayError("The relay connection failed before pairing", { cause: error });
    }
    writer.releaseLock();
    let buffered = new Uint8Array(0);
    let waitMs = 0;
    for (;;) {
      const body = frameBody(buffered);
      if (body === null) {
        let result: ReadableStreamReadResult<Uint8Array>;
        try {
          result = await reader.read();
        } catch (error) {
          if (signal.aborted) throw signal.reason;
          throw new RelayError("The relay connection failed before pairing", { cause: error });
        }
        if (result.done) {
          throw new RelayError("The relay closed the connection before pairing");
        }
        const more = new Uint8Array(buffered.length + result.value.length);
        more.set(buffered);
        more.set(result.value, buffered.length);
        buffered = more;
        continue;
      }
      const status = decodeRelayStatus(body);
      buffered = buffered.subarray(4 + body.length);
      if (status.status === "waiting") {
        waitMs = status.timeoutMs;
        options.onWaiting?.(status.timeoutMs);
        continue;
      }
      if (status.status === "error") throw statusError(status, waitMs);
      // Paired: hand over the stream, with any bytes of the peer that came with the status.
      return {
        readable: prependStream(buffered.length > 0 ? buffered.slice() : null, reader),
        writable: conn.writable,
        transport,
        server: where,
        localAddr: conn.localAddr,
        remoteAddr: conn.remoteAddr,
        close: () => conn.close(),
        finished: Promise.resolve(),
        [Symbol.dispose]: () => conn.close(),
      };
    }
  } catch (error) {
    conn.close();
    if (signal.aborted) throw signal.reason;
    if (error instanceof RelayProtocolError) {
      throw new RelayError(`The relay sent an invalid status: ${error.message}`, { cause: error });
    }
    throw error;
  } finally {
    signal.removeEventListener("abort", onAbort);
  }
}

async function overWebSocket(
  where: string,
  transport: "ws" | "wss",
  options: RelayConnectOptions,
  signal: AbortSignal,
): Promise<RelayConnection> {
  if (transport === "wss" && options.tls?.insecure) {
    throw new RangeError(
      "The WebSocket client cannot skip certificate checks: pass the certificate in tls.caCerts",
    );
  }
  let ws: WebSocket;
  try {
    ws = await connectWebSocket(where, {
      caCerts: options.tls?.caCerts,
      signal,
      timeoutMs: options.connectTimeoutMs ?? 10_000,
    });
  } catch (error) {
    if (signal.aborted) throw signal.reason;
    throw new RelayUnreachableError(where, { cause: error });
  }
  return await new Promise<RelayConnection>((resolve, reject) => {
    let waitMs = 0;
    const cleanup = (): void => {
      signal.removeEventListener("abort", onAbort);
      ws.removeEventListener("message", onMessage);
      ws.removeEventListener("close", onClose);
    };
    const fail = (error: unknown): void => {
      cleanup();
      try {
        ws.close();
      } catch { /* closing */ }
      reject(error);
    };
    const onAbort = (): void => fail(signal.reason);
    const onClose = (event: CloseEvent): void =>
      fail(new RelayError(`The relay closed the WebSocket before pairing (code ${event.code})`));
    // Statuses are handled inside the event, so the switch to the data stream loses nothing.
    const onMessage = (event: MessageEvent): void => {
      let status: RelayStatus;
      try {
        if (typeof event.data === "string") {
          throw new RelayProtocolError("bad-status", "a text message before paired");
        }
        const bytes = new Uint8Array(event.data as ArrayBuffer);
        const body = frameBody(bytes);
        if (body === null || bytes.length !== 4 + body.length) {
          throw new RelayProtocolError("bad-status", "a message that is not one whole frame");
        }
        status = decodeRelayStatus(body);
        if (status.status === "paired" && status.window === undefined) {
          throw new RelayProtocolError("bad-status", "paired without a window");
        }
      } catch (error) {
        return fail(
          new RelayError(`The relay sent an invalid status: ${(error as Error).message}`, {
            cause: error,
          }),
        );
      }
      if (status.status === "waiting") {
        waitMs = status.timeoutMs;
        options.onWaiting?.(status.timeoutMs);
        return;
      }
      if (status.status === "error") return fail(statusError(status, waitMs));
      cleanup();
      const duplex = websocketDuplex(ws, { halfClose: true, window: status.window });
      const close = (): void => duplex.close();
      resolve({
        readable: duplex.readable,
        writable: duplex.writable,
        transport,
        server: where,
        localAddr: null,
        remoteAddr: null,
        close,
        finished: duplex.closed.then(() => {}),
        [Symbol.dispose]: close,
      });
    };
    signal.addEventListener("abort", onAbort, { once: true });
    ws.addEventListener("message", onMessage);
    ws.addEventListener("close", onClose);
    try {
      ws.send(encodeRelayHelloFrame({ version: RELAY_PROTOCOL_VERSION, token: options.token }));
    } catch (error) {
      fail(new RelayUnreachableError(where, { cause: error }));
    }
  });
}

/**
 * Open a circuit to the peer through a relay server: connect, present the token, wait until the
 * server pairs this connection with the peer's, and resolve with the byte stream.
 *
 * @throws {RelayRefusedError} when the server refuses (its `reason`: `busy`, `limit`, ...).
 * @throws {RelayTimeoutError} when the peer does not come in time.
 * @throws {RelayUnreachableError} when the server cannot be reached.
 * @throws {RelayError} when the server breaks the protocol or closes before pairing.
 * @throws {RangeError} for a token that is not 32 bytes or contradictory options.
 * Rejects with `signal.reason` when `signal` aborts.
 *
 * @example A lone peer times out
 * ```ts
 * import { relayConnect, RelayTimeoutError } from "./relay.ts";
 * import { relayPlugin } from "../server/services/relay.ts";
 * import { silentLogger, startServer } from "../server/mod.ts";
 * await using server = await startServer({
 *   hostname: "127.0.0.1", gdayPort: null, logger: silentLogger,
 *   services: [relayPlugin({ port: 0, limits: { waitTimeoutMs: 50 } })],
 * });
 * const error = await relayConnect({
 *   server: `127.0.0.1:${server.listeners[0]!.addr.port}`,
 *   token: new Uint8Array(32),
 * }).catch((e) => e);
 * if (!(error instanceof RelayTimeoutError) || error.by !== "server") throw new Error("Expected a timeout");
 * ```
 */
export async function relayConnect(options: RelayConnectOptions): Promise<RelayConnection> {
  if (options.token.length !== RELAY_TOKEN_BYTES) {
    throw new RangeError(
      `Relay token is ${options.token.length} bytes, it must be ${RELAY_TOKEN_BYTES}`,
    );
  }
  const timeoutMs = options.timeoutMs ?? DEFAULT_RELAY_TIMEOUT_MS;
  if (!(timeoutMs > 0)) throw new RangeError(`Relay timeoutMs is ${timeoutMs}, it must be > 0`);
  const { transport, where } = target(options);
  options.signal?.throwIfAborted();
  const stop = new AbortController();
  const timer = setTimeout(
    () => stop.abort(new RelayTimeoutError("client", timeoutMs)),
    timeoutMs,
  );
  const onAbort = (): void => stop.abort(options.signal!.reason);
  options.signal?.addEventListener("abort", onAbort, { once: true });
  try {
    return transport === "tcp" || transport === "tls"
      ? await overTcp(where, transport, options, stop.signal)
      : await overWebSocket(where, transport, options, stop.signal);
  } catch (error) {
    if (error instanceof ConnectError) throw new RelayUnreachableError(where, { cause: error });
    throw error;
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener("abort", onAbort);
  }
}

/** What {@linkcode relayDialer}'s function resolves with. */
export interface RelayDialed {
  /** The byte stream to the peer (through the relay). */
  duplex: Duplex;
  /** The relay server's address (unspecified `0.0.0.0:0` over WebSocket, which hides it). */
  remoteAddr: SocketAddr;
  /** This side's address (unspecified `0.0.0.0:0` over WebSocket). */
  localAddr: SocketAddr;
  /**
   * Close the circuit; resolves once it has closed (over WebSocket, after the close handshake, at
   * most {@linkcode RELAY_CLOSE_LINGER_MS}), so what was written before has gone out.
   */
  close(): Promise<void>;
}

/** How long {@linkcode RelayDialed.close} waits for a WebSocket to finish closing. */
export const RELAY_CLOSE_LINGER_MS = 3000;

const UNSPECIFIED: SocketAddr = Object.freeze({ family: "v4", ip: "0.0.0.0", port: 0 });

/**
 * A dialler for path selection: given the shared secret and context, derive the token with
 * {@linkcode relayToken} and open the circuit with {@linkcode relayConnect}.
 *
 * @example
 * ```ts
 * import { relayDialer } from "./relay.ts";
 * import { relayPlugin } from "../server/services/relay.ts";
 * import { silentLogger, startServer } from "../server/mod.ts";
 * await using server = await startServer({
 *   hostname: "127.0.0.1", gdayPort: null, logger: silentLogger, services: [relayPlugin({ port: 0 })],
 * });
 * const dial = relayDialer({ server: `127.0.0.1:${server.listeners[0]!.addr.port}` });
 * const secret = { secret: new Uint8Array([1, 2, 3]), context: new Uint8Array([4]) };
 * const signal = new AbortController().signal;
 * const [a, b] = await Promise.all([dial(secret, signal), dial(secret, signal)]);
 * if (a.remoteAddr.port !== server.listeners[0]!.addr.port) throw new Error("Wrong address");
 * a.close();
 * b.close();
 * ```
 */
export function relayDialer(
  options: Omit<RelayConnectOptions, "token" | "signal">,
): (
  token: { secret: Uint8Array; context: Uint8Array },
  signal: AbortSignal,
) => Promise<RelayDialed> {
  return async ({ secret, context }, signal) => {
    const conn = await relayConnect({ ...options, token: relayToken(secret, context), signal });
    return {
      duplex: conn,
      remoteAddr: conn.remoteAddr ?? UNSPECIFIED,
      localAddr: conn.localAddr ?? UNSPECIFIED,
      close: async () => {
        conn.close();
        let timer: ReturnType<typeof setTimeout> | undefined;
        await Promise.race([
          conn.finished,
          new Promise((r) => (timer = setTimeout(r, RELAY_CLOSE_LINGER_MS))),
        ]);
        clearTimeout(timer);
      },
    };
  };
}
