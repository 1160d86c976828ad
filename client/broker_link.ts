/**
 * Pieces the broker's receiver and sender share: finding the broker, connections from reusable
 * local ports, framed message I/O, the `hello` on a direct connection, and turning the broker's
 * `error` replies into typed errors.
 *
 * @module
 */

import { resolveHost } from "../net/resolve.ts";
import { prependStream } from "../net/prepend.ts";
import { deadline, DeadlineError } from "../async/deadline.ts";
import { FrameReader, LENGTH_PREFIX_BYTES } from "../framing/length_prefixed.ts";
import { connectTcp, type TcpConnection } from "../net/tcp.ts";
import {
  type BrokerErrorCode,
  type BrokerErrorMsg,
  type BrokerFamily,
  type BrokerHelloMsg,
  type BrokerMessage,
  BrokerProtocolError,
  type BrokerRole,
  BrokerVersionError,
  type BrokerVia,
  decodeBrokerMessage,
  DEFAULT_BROKER_PORT,
  encodeBrokerFrame,
  MAX_BROKER_MESSAGE_BYTES,
} from "../protocol/broker.ts";
import type { SocketAddr } from "../protocol/socket_addr.ts";
import {
  BrokerError,
  BrokerRefusedError,
  BrokerStepTimeoutError,
  BrokerUnreachableError,
  BrokerVersionMismatchError,
  ReceiverBusyError,
  ReceiverGoneError,
  SenderGoneError,
  UidHeldError,
  UidReplacedError,
  UnknownUidError,
} from "./broker_errors.ts";
import { formatServerAddress, parseServerAddress, type ServerAddress } from "./server_address.ts";

/** A direct connection to a peer, formed through a broker. */
export interface BrokerConnection extends Disposable {
  /** Bytes from the peer (after the `hello`); ends when the peer closes its writable. */
  readonly readable: ReadableStream<Uint8Array>;
  /** Bytes to the peer; closing it half-closes the connection. */
  readonly writable: WritableStream<Uint8Array>;
  /** This side's address on the connection. */
  readonly localAddr: SocketAddr;
  /** The peer's address on the connection (its public address behind NAT). */
  readonly remoteAddr: SocketAddr;
  /** How it formed: the faithful twelve steps, or the simultaneous-open fallback. */
  readonly via: BrokerVia;
  /** The broker's request id (links the step logs of both sides and the broker). */
  readonly requestId: number;
  /** The receiver's UID. */
  readonly uid: string;
  /** Which side this is. */
  readonly role: BrokerRole;
  /** Close both directions at once (safe to call twice). */
  close(): void;
}

/** One address of the broker to dial. */
export interface BrokerTarget {
  /** An IP literal. */
  readonly ip: string;
  /** The TCP port. */
  readonly port: number;
  /** Its family. */
  readonly family: BrokerFamily;
  /** `host:port` as given, for messages. */
  readonly label: string;
}

/**
 * The broker's addresses: the IP literal, or every address a name resolves to (IPv4 first, as
 * NAT traversal is the point), limited to `family` when given. The default port is 2314.
 *
 * @throws {TypeError} for an unparsable `host[:port]`.
 * @throws {BrokerUnreachableError} when the name resolves to nothing usable.
 *
 * @example
 * ```ts
 * import { resolveBroker } from "./broker_link.ts";
 * const [target] = await resolveBroker("127.0.0.1");
 * if (target?.port !== 2314 || target.family !== "v4") throw new Error("Bad target");
 * ```
 */
export async function resolveBroker(
  server: string | ServerAddress,
  family?: BrokerFamily,
): Promise<BrokerTarget[]> {
  const address = typeof server === "string"
    ? parseServerAddress(server, DEFAULT_BROKER_PORT)
    : server;
  const label = formatServerAddress(address);
  const { hostname, port } = address;
  const records = await resolveHost(hostname);
  // IPv4 addresses are tried first.
  records.sort((a, b) => (a.family === b.family ? 0 : a.family === "v4" ? -1 : 1));
  const targets = records
    .filter((r) => family === undefined || r.family === family)
    .map((r) => ({ ...r, port, label }));
  if (targets.length === 0) {
    throw new BrokerUnreachableError(label, {
      cause: new Error(`No ${family ?? "IPv4 or IPv6"} address for ${hostname}`),
    });
  }
  return targets;
}

function randomEphemeralPort(): number {
  const span = 60999 - 32768 + 1;
  return 32768 + (crypto.getRandomValues(new Uint32Array(1))[0]! % span);
}

/** Options for {@linkcode connectBroker}. */
export interface ConnectBrokerOptions {
  /** Bind a random local port that stays reusable (`SO_REUSEADDR`) for hole punching. */
  reusable?: boolean;
  /** Give up after this long. @default {5000} */
  timeoutMs?: number;
  /** Cancels the attempt. */
  signal?: AbortSignal;
}

/**
 * Open a TCP connection to the broker, optionally from a random local port that can be bound
 * again (the sender's S1 and S2, the receiver's R1).
 *
 * @throws {BrokerUnreachableError} when it cannot be opened.
 *
 * @example
 * ```ts
 * import { connectBroker } from "./broker_link.ts";
 * using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * const target = { ip: "127.0.0.1", port: listener.addr.port, family: "v4" as const, label: "test" };
 * using conn = await connectBroker(target, { reusable: true });
 * (await listener.accept()).close();
 * if (conn.remoteAddr.port !== listener.addr.port) throw new Error("Wrong remote");
 * ```
 */
export async function connectBroker(
  target: BrokerTarget,
  options: ConnectBrokerOptions = {},
): Promise<TcpConnection> {
  const { reusable = false, timeoutMs = 5000, signal } = options;
  let lastError: unknown;
  for (let attempt = 0; attempt < (reusable ? 8 : 1); attempt++) {
    try {
      return await connectTcp({
        hostname: target.ip,
        port: target.port,
        ...(reusable
          ? {
            localAddress: target.family === "v4" ? "0.0.0.0" : "::",
            localPort: randomEphemeralPort(),
          }
          : {}),
        timeoutMs,
        signal,
      });
    } catch (error) {
      lastError = error;
      if (signal?.aborted) throw signal.reason;
      const code = ((error as Error).cause as { code?: string } | undefined)?.code;
      if (code !== "EADDRINUSE" && code !== "EADDRNOTAVAIL") break;
    }
  }
  throw new BrokerUnreachableError(target.label, { cause: lastError });
}

/**
 * Framed broker messages over a TCP connection: `send` writes one frame, `read` returns the next
 * message or `null` at the end (a reset counts as the end).
 *
 * @example
 * ```ts
 * import { BrokerChannel } from "./broker_link.ts";
 * import { encodeBrokerFrame } from "../protocol/broker.ts";
 * const stream = ReadableStream.from([encodeBrokerFrame({ type: "keepalive_ack" })]);
 * const channel = new BrokerChannel({ readable: stream, writable: new WritableStream() });
 * if ((await channel.read())?.type !== "keepalive_ack") throw new Error("Bad read");
 * if ((await channel.read()) !== null) throw new Error("Expected the end");
 * ```
 */
export class BrokerChannel {
  #reader: FrameReader;
  #writer: WritableStreamDefaultWriter<Uint8Array>;

  /**
   * Lock both streams of `conn`.
   *
   * @example
   * ```ts
   * import { BrokerChannel } from "./broker_link.ts";
   * new BrokerChannel({ readable: new ReadableStream(), writable: new WritableStream() });
   * ```
   */
  constructor(
    conn: { readable: ReadableStream<Uint8Array>; writable: WritableStream<Uint8Array> },
  ) {
    this.#reader = new FrameReader(conn.readable, { maxFrameBytes: MAX_BROKER_MESSAGE_BYTES });
    this.#writer = conn.writable.getWriter();
  }

  /**
   * Send one message; resolves false when the connection is gone.
   *
   * @example
   * ```ts
   * import { BrokerChannel } from "./broker_link.ts";
   * const chunks: Uint8Array[] = [];
   * const channel = new BrokerChannel({
   *   readable: new ReadableStream(), writable: new WritableStream({ write: (c) => void chunks.push(c) }),
   * });
   * if (!(await channel.send({ type: "keepalive" })) || chunks.length !== 1) throw new Error("Not sent");
   * ```
   */
  async send(msg: BrokerMessage): Promise<boolean> {
    try {
      await this.#writer.write(encodeBrokerFrame(msg));
      return true;
    } catch {
      return false;
    }
  }

  /**
   * The next message, or `null` at the end of the stream (or a reset).
   *
   * @throws {BrokerProtocolError} for a malformed message ({@linkcode BrokerVersionError} for
   *   another version).
   * @throws the signal's reason when it aborts.
   *
   * @example
   * ```ts
   * import { BrokerChannel } from "./broker_link.ts";
   * const channel = new BrokerChannel({ readable: ReadableStream.from([]), writable: new WritableStream() });
   * if ((await channel.read()) !== null) throw new Error("Expected the end");
   * ```
   */
  async read(signal?: AbortSignal): Promise<BrokerMessage | null> {
    let frame: Uint8Array | null;
    try {
      frame = await this.#reader.read(signal);
    } catch (error) {
      if (signal?.aborted) throw signal.reason;
      if (error instanceof Error && error.name === "FrameTooLargeError") {
        throw new BrokerProtocolError(error.message, { cause: error });
      }
      return null;
    }
    return frame === null ? null : decodeBrokerMessage(frame);
  }
}

/**
 * The typed error for a broker `error` (or `abort`) reply.
 *
 * @example
 * ```ts
 * import { brokerErrorFor } from "./broker_link.ts";
 * import { UnknownUidError } from "./broker_errors.ts";
 * const error = brokerErrorFor({ type: "error", error: "unknown_uid" }, { uid: "alice" });
 * if (!(error instanceof UnknownUidError)) throw new Error("Wrong class");
 * ```
 */
export function brokerErrorFor(
  msg: BrokerErrorMsg | { type: "abort"; error: BrokerErrorCode; req: number },
  context: { uid: string; req?: number; step?: number | null },
): BrokerError {
  const req = msg.req ?? context.req ?? 0;
  const detail = msg.type === "error" ? msg.message : undefined;
  switch (msg.error) {
    case "unknown_uid":
      return new UnknownUidError(context.uid);
    case "busy":
      return new ReceiverBusyError(context.uid);
    case "receiver_gone":
      return new ReceiverGoneError(context.uid);
    case "sender_gone":
      return new SenderGoneError(req);
    case "timeout":
      return new BrokerStepTimeoutError(
        (msg.type === "error" ? msg.step : undefined) ?? context.step ?? null,
        detail ?? "the broker gave up waiting for the other side",
      );
    case "uid_held":
      return new UidHeldError(context.uid);
    case "replaced":
      return new UidReplacedError(context.uid);
    case "version":
      return new BrokerVersionMismatchError(msg.type === "error" ? msg.version ?? null : null);
    default:
      return new BrokerRefusedError(
        msg.error,
        `The broker refused (${msg.error})${detail ? `: ${detail}` : ""}`,
      );
  }
}

/**
 * The typed error for a message that could not be read.
 *
 * @example
 * ```ts
 * import { protocolErrorFor } from "./broker_link.ts";
 * import { BrokerVersionError } from "../protocol/broker.ts";
 * if (protocolErrorFor(new BrokerVersionError(2)).code !== "version") throw new Error("Bad code");
 * ```
 */
export function protocolErrorFor(error: unknown): BrokerError {
  if (error instanceof BrokerError) return error;
  if (error instanceof BrokerVersionError) {
    return new BrokerVersionMismatchError(error.version, { cause: error });
  }
  return new BrokerRefusedError(
    "protocol",
    `The broker sent something this peerlink cannot read: ${(error as Error)?.message ?? error}`,
    { cause: error },
  );
}

/** Options for {@linkcode exchangeHello}. */
export interface HelloOptions {
  /** Give up after this long. @default {5000} */
  timeoutMs?: number;
  /** Cancels the exchange. */
  signal?: AbortSignal;
}

/**
 * Send our `hello` and read the peer's, as the first frame of a direct connection. Resolves with
 * the readable that carries everything after the peer's `hello`.
 *
 * @throws {BrokerError} (code `peer`) when the peer sends anything but the expected `hello`,
 *   closes, or is too slow.
 *
 * @example Two ends of one connection greet each other
 * ```ts
 * import { exchangeHello } from "./broker_link.ts";
 * import { duplexPair } from "../secure/duplex_pair.ts";
 * const [a, b] = duplexPair();
 * const token = "00112233445566778899aabbccddeeff";
 * const [ra] = await Promise.all([
 *   exchangeHello(a, { type: "hello", req: 1, token, role: "sender" }),
 *   exchangeHello(b, { type: "hello", req: 1, token, role: "receiver" }),
 * ]);
 * if (!(ra instanceof ReadableStream)) throw new Error("No stream");
 * ```
 */
export async function exchangeHello(
  conn: { readable: ReadableStream<Uint8Array>; writable: WritableStream<Uint8Array> },
  mine: BrokerHelloMsg,
  options: HelloOptions = {},
): Promise<ReadableStream<Uint8Array>> {
  const { timeoutMs = 5000, signal } = options;
  const peerRole: BrokerRole = mine.role === "sender" ? "receiver" : "sender";
  const writer = conn.writable.getWriter();
  const reader = conn.readable.getReader();
  const write = writer.write(encodeBrokerFrame(mine)).finally(() => writer.releaseLock());
  const read = (async (): Promise<Uint8Array> => {
    let buffered = new Uint8Array(0);
    for (;;) {
      if (buffered.length >= LENGTH_PREFIX_BYTES) {
        const length = new DataView(buffered.buffer, buffered.byteOffset).getUint32(0);
        if (length > MAX_BROKER_MESSAGE_BYTES) throw new Error(`a frame of ${length} bytes`);
        if (buffered.length >= LENGTH_PREFIX_BYTES + length) return buffered;
      }
      const { value, done } = await reader.read();
      if (done) throw new Error("the connection closed");
      const merged = new Uint8Array(buffered.length + value.length);
      merged.set(buffered);
      merged.set(value, buffered.length);
      buffered = merged;
    }
  })();
  let bytes: Uint8Array;
  try {
    [, bytes] = await deadline(Promise.all([write, read]), timeoutMs, { signal });
  } catch (error) {
    read.catch(() => {});
    write.catch(() => {});
    reader.releaseLock();
    if (signal?.aborted) throw signal.reason;
    const why = error instanceof DeadlineError
      ? `no hello within ${timeoutMs} ms`
      : (error as Error)?.message ?? String(error);
    throw new BrokerError("peer", `The peer did not greet properly: ${why}`, { cause: error });
  }
  const length = new DataView(bytes.buffer, bytes.byteOffset).getUint32(0);
  const end = LENGTH_PREFIX_BYTES + length;
  let hello: BrokerMessage;
  try {
    hello = decodeBrokerMessage(bytes.subarray(LENGTH_PREFIX_BYTES, end));
  } catch (error) {
    reader.releaseLock();
    throw new BrokerError("peer", `The peer did not greet properly: ${(error as Error).message}`, {
      cause: error,
    });
  }
  if (
    hello.type !== "hello" || hello.req !== mine.req || hello.token !== mine.token ||
    hello.role !== peerRole
  ) {
    reader.releaseLock();
    throw new BrokerError(
      "peer",
      "The peer that answered is not the one the broker introduced (wrong hello)",
    );
  }
  return prependStream(bytes.slice(end), reader);
}

/**
 * Make the {@linkcode BrokerConnection} for a greeted connection.
 *
 * @example
 * ```ts ignore
 * const conn = brokerConnection(tcp, readable, { via: "twelve-step", requestId: 7, uid: "alice", role: "sender" });
 * ```
 */
export function brokerConnection(
  tcp: TcpConnection,
  readable: ReadableStream<Uint8Array>,
  info: { via: BrokerVia; requestId: number; uid: string; role: BrokerRole },
): BrokerConnection {
  const close = (): void => tcp.close();
  return {
    readable,
    writable: tcp.writable,
    localAddr: tcp.localAddr,
    remoteAddr: tcp.remoteAddr,
    ...info,
    close,
    [Symbol.dispose]: close,
  };
}

/**
 * Race `promise` against a timeout that raises {@linkcode BrokerStepTimeoutError} for `step`.
 *
 * @example
 * ```ts
 * import { stepDeadline } from "./broker_link.ts";
 * import { BrokerStepTimeoutError } from "./broker_errors.ts";
 * const error = await stepDeadline(new Promise(() => {}), 1, 3, "no answer").catch((e) => e);
 * if (!(error instanceof BrokerStepTimeoutError) || error.step !== 3) throw new Error("No timeout");
 * ```
 */
export async function stepDeadline<T>(
  promise: Promise<T>,
  ms: number,
  step: number,
  detail: string,
  signal?: AbortSignal,
): Promise<T> {
  try {
    return await deadline(promise, ms, { signal });
  } catch (error) {
    if (error instanceof DeadlineError) {
      promise.catch(() => {});
      throw new BrokerStepTimeoutError(step, detail, { cause: error });
    }
    throw error;
  }
}

/**
 * Which way a connect failed: `timeout`, `refused`, `cancelled` or `error`.
 *
 * @example
 * ```ts
 * import { connectFailure } from "./broker_link.ts";
 * if (connectFailure(new Error("Cannot connect to x: timed out after 5 ms")) !== "timeout") throw new Error("Wrong");
 * ```
 */
export function connectFailure(error: unknown): "timeout" | "refused" | "cancelled" | "error" {
  const message = (error as Error)?.message ?? "";
  const code = ((error as Error)?.cause as { code?: string } | undefined)?.code;
  if (code === "ECONNREFUSED" || message.includes("refused")) return "refused";
  if (message.includes("timed out")) return "timeout";
  if (message.includes("cancelled")) return "cancelled";
  return "error";
}
