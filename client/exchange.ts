/**
 * The gday contact-exchange client (spec: gday-0.1.1.md §4.1): connect to the server over IPv6
 * and IPv4 (plain TCP or TLS), each connection from a local port that stays reusable for hole
 * punching, create or join a room, report every connection's local address, and wait for both
 * contacts. The connections stay open (gday keeps them open during hole punching) until the
 * result is closed.
 *
 * @module
 */

import { resolveHost } from "../net/resolve.ts";
import { abortable } from "../async/abortable.ts";
import { FrameReader } from "../framing/length_prefixed.ts";
import {
  type ClientMsg,
  decodeServerMsg,
  DEFAULT_GDAY_TCP_PORT,
  DEFAULT_GDAY_TLS_PORT,
  encodeClientFrame,
  type FullContact,
  MAX_GDAY_MESSAGE_BYTES,
  type ServerMsg,
} from "../protocol/gday.ts";
import { parseIpv4, parseIpv6 } from "../protocol/socket_addr.ts";
import type { ClientTlsOptions, TcpConnection } from "../net/tcp.ts";
import { connectTcp } from "../net/tcp.ts";
import {
  ExchangeError,
  NoSuchRoomError,
  PeerTimedOutError,
  RateLimitedError,
  RoomTakenError,
  ServerProtocolError,
  ServerUnreachableError,
} from "./errors.ts";
import { randomRoomCode } from "./room_code.ts";
import { formatServerAddress, parseServerAddress, type ServerAddress } from "./server_address.ts";

/** An IP family. */
export type Family = "v4" | "v6";

/** One server, named by one or several addresses. */
export type ServerSpec = string | ServerAddress | readonly (string | ServerAddress)[];

/** Where to reach the server in one family. */
interface Target {
  address: string;
  port: number;
  /** The name dialled (for TLS server-name checks). */
  hostname: string;
}

/** Options for {@linkcode exchangeContacts}. */
export interface ExchangeOptions {
  /**
   * The server, as `host[:port]` text or an address; the default port is 2310 (2311 with TLS).
   * A list names the same server by several addresses (e.g. its IPv4 and IPv6 literals): the
   * first address of each family is used.
   */
  server: ServerSpec;
  /** Use TLS (`true` for the system's trust store, or options such as extra CA certificates). */
  tls?: boolean | ClientTlsOptions;
  /** `true` to create the room (gday's `is_creator`), `false` to join it. */
  create: boolean;
  /** The room code. Required to join; when creating, a random code is chosen if absent. */
  roomCode?: bigint;
  /** IP families to connect over, in order (the first is "stream 0"). @default {["v6", "v4"]} */
  families?: readonly Family[];
  /** Per-address connection timeout in ms (gday: 5 s). @default {5000} */
  connectTimeoutMs?: number;
  /** Give up waiting for the peer after this many ms. @default {600000} */
  timeoutMs?: number;
  /** Largest server frame accepted. @default {65536} */
  maxFrameBytes?: number;
  /** Cancels everything; the connections are closed. */
  signal?: AbortSignal;
  /** Called once the room exists (after `RoomCreated`, or at once when joining), with its code. */
  onRoom?: (roomCode: bigint) => void;
}

/** One open connection to the server. */
export interface ServerConnection {
  /** Its IP family. */
  readonly family: Family;
  /** The socket; its `localAddr` port can be bound again for hole punching. */
  readonly conn: TcpConnection;
}

/** The result of a completed exchange. Close it when hole punching is over. */
export interface ContactExchange extends Disposable {
  /** The room code used. */
  readonly roomCode: bigint;
  /** Whether this side created the room. */
  readonly isCreator: boolean;
  /** This side's contact as the server recorded it (`ClientContact`). */
  readonly own: FullContact;
  /** The peer's contact (`PeerContact`). */
  readonly peer: FullContact;
  /** The server connections, still open, stream 0 first. */
  readonly connections: readonly ServerConnection[];
  /** Close every server connection. */
  close(): void;
}

/** Options for {@linkcode openRoomSession}: as for {@linkcode exchangeContacts}, without the role. */
export type SessionOptions = Omit<ExchangeOptions, "create" | "roomCode" | "timeoutMs" | "onRoom">;

/** Local ports tried before giving up on binding one. */
const BIND_ATTEMPTS = 8;

function randomEphemeralPort(): number {
  const span = 60999 - 32768 + 1;
  return 32768 + (crypto.getRandomValues(new Uint32Array(1))[0]! % span);
}

async function resolveFamilies(
  servers: readonly ServerAddress[],
  families: readonly Family[],
): Promise<Map<Family, Target>> {
  const found = new Map<Family, Target>();
  for (const { hostname, port } of servers) {
    for (const { ip, family } of await resolveHost(hostname)) {
      if (families.includes(family) && !found.has(family)) {
        found.set(family, { address: ip, port, hostname });
      }
    }
  }
  return found;
}

/**
 * The server addresses named by a {@linkcode ServerSpec}.
 *
 * @example
 * ```ts
 * import { serverAddresses } from "./exchange.ts";
 * const list = serverAddresses(["198.51.100.10", "[2001:db8::10]:2310"], false);
 * if (list.length !== 2 || list[1]!.hostname !== "2001:db8::10") throw new Error("Bad list");
 * ```
 */
export function serverAddresses(spec: ServerSpec, tls: boolean): ServerAddress[] {
  const items = typeof spec === "string" || !Array.isArray(spec)
    ? [spec as string | ServerAddress]
    : spec;
  return items.map((item) =>
    typeof item === "string"
      ? parseServerAddress(item, tls ? DEFAULT_GDAY_TLS_PORT : DEFAULT_GDAY_TCP_PORT)
      : item
  );
}

async function connectFrom(
  family: Family,
  { address, port, hostname: serverName }: Target,
  tls: ClientTlsOptions | null,
  timeoutMs: number,
  signal: AbortSignal | undefined,
): Promise<TcpConnection> {
  let lastError: unknown;
  for (let attempt = 0; attempt < BIND_ATTEMPTS; attempt++) {
    try {
      return await connectTcp({
        hostname: address,
        port,
        localAddress: family === "v4" ? "0.0.0.0" : "::",
        localPort: randomEphemeralPort(),
        tls: tls &&
          {
            ...tls,
            serverName: tls.serverName ??
              (parseIpv4(serverName) || parseIpv6(serverName) ? undefined : serverName),
          },
        timeoutMs,
        signal,
      });
    } catch (error) {
      lastError = error;
      const code = ((error as Error).cause as { code?: string } | undefined)?.code;
      if (code !== "EADDRINUSE" && code !== "EADDRNOTAVAIL") break;
    }
  }
  throw lastError;
}

/**
 * Open connections to a gday server (IPv6 first, then IPv4, in parallel), each from a reusable
 * local port. At least one must succeed.
 *
 * @throws {ServerUnreachableError} when no connection can be opened.
 *
 * @example
 * ```ts ignore
 * import { openRoomSession } from "./exchange.ts";
 * using session = await openRoomSession({ server: "localhost:2310" });
 * ```
 */
export async function openRoomSession(options: SessionOptions): Promise<RoomSession> {
  const tls = options.tls === true ? {} : options.tls || null;
  const servers = serverAddresses(options.server, tls !== null);
  const families = options.families ?? ["v6", "v4"];
  const where = servers.map(formatServerAddress).join(", ");
  const addresses = await abortable(resolveFamilies(servers, families), options.signal);
  if (addresses.size === 0) {
    throw new ServerUnreachableError(where, { cause: new Error("Name does not resolve") });
  }
  const order = families.filter((f) => addresses.has(f));
  const results = await Promise.allSettled(
    order.map((family) =>
      connectFrom(
        family,
        addresses.get(family)!,
        tls,
        options.connectTimeoutMs ?? 5000,
        options.signal,
      )
    ),
  );
  const connections: ServerConnection[] = [];
  const errors: unknown[] = [];
  results.forEach((result, i) => {
    if (result.status === "fulfilled") connections.push({ family: order[i]!, conn: result.value });
    else errors.push(result.reason);
  });
  if (connections.length === 0) {
    options.signal?.throwIfAborted();
    throw new ServerUnreachableError(where, {
      cause: errors.length === 1 ? errors[0] : new AggregateError(errors),
    });
  }
  return new RoomSession(connections, options.maxFrameBytes ?? MAX_GDAY_MESSAGE_BYTES);
}

/**
 * Open connections to a gday server, speaking the protocol message by message. Most callers use
 * {@linkcode exchangeContacts}; this is for those who drive the steps themselves.
 *
 * @example
 * ```ts ignore
 * import { openRoomSession } from "./exchange.ts";
 * using session = await openRoomSession({ server: "localhost:2310" });
 * await session.createRoom(1234n);
 * ```
 */
export class RoomSession implements Disposable {
  /** The open connections, stream 0 first. */
  readonly connections: readonly ServerConnection[];
  #readers: FrameReader[];
  #writers: WritableStreamDefaultWriter<Uint8Array>[];

  /**
   * Wrap open connections (see {@linkcode openRoomSession}).
   *
   * @example
   * ```ts ignore
   * import { RoomSession } from "./exchange.ts";
   * new RoomSession([], 65536).close();
   * ```
   */
  constructor(connections: ServerConnection[], maxFrameBytes: number) {
    this.connections = connections;
    this.#readers = connections.map((c) => new FrameReader(c.conn.readable, { maxFrameBytes }));
    this.#writers = connections.map((c) => c.conn.writable.getWriter());
  }

  /**
   * Send one message on connection `index` and read one reply.
   *
   * @example
   * ```ts ignore
   * const reply = await session.request(0, { type: "CreateRoom", roomCode: 1n });
   * ```
   */
  async request(index: number, msg: ClientMsg, signal?: AbortSignal): Promise<ServerMsg> {
    await abortable(this.#writers[index]!.write(encodeClientFrame(msg)), signal);
    return await this.read(index, signal);
  }

  /**
   * Read one message from connection `index`.
   *
   * @throws {ServerProtocolError} when the server closes the connection or sends something invalid.
   *
   * @example
   * ```ts ignore
   * const reply = await session.read(0);
   * ```
   */
  async read(index: number, signal?: AbortSignal): Promise<ServerMsg> {
    let frame: Uint8Array | null;
    try {
      frame = await this.#readers[index]!.read(signal);
    } catch (error) {
      if (signal?.aborted) throw error;
      throw new ServerProtocolError(
        `Lost the connection to the server: ${(error as Error).message}`,
        { cause: error },
      );
    }
    if (frame === null) throw new ServerProtocolError("The server closed the connection");
    try {
      return decodeServerMsg(frame);
    } catch (error) {
      throw new ServerProtocolError(
        `The server sent an invalid message: ${(error as Error).message}`,
        { cause: error },
      );
    }
  }

  /**
   * `CreateRoom`; resolves when the server answers `RoomCreated`.
   *
   * @throws {RoomTakenError} when the code is taken.
   *
   * @example
   * ```ts ignore
   * await session.createRoom(1234n);
   * ```
   */
  async createRoom(roomCode: bigint, signal?: AbortSignal): Promise<void> {
    expect(await this.request(0, { type: "CreateRoom", roomCode }, signal), "RoomCreated");
  }

  /**
   * `SendAddr` on every connection with its own local address, then `DoneSending` on stream 0;
   * resolves with this side's contact (`ClientContact`).
   *
   * @example
   * ```ts ignore
   * const own = await session.sendAddresses(1234n, true);
   * ```
   */
  async sendAddresses(
    roomCode: bigint,
    isCreator: boolean,
    signal?: AbortSignal,
  ): Promise<FullContact> {
    for (let i = 0; i < this.connections.length; i++) {
      const privateAddr = this.connections[i]!.conn.localAddr;
      expect(
        await this.request(i, { type: "SendAddr", roomCode, isCreator, privateAddr }, signal),
        "ReceivedAddr",
      );
    }
    const reply = await this.request(0, { type: "DoneSending", roomCode, isCreator }, signal);
    expect(reply, "ClientContact");
    return (reply as { contact: FullContact }).contact;
  }

  /**
   * Wait on stream 0 for the peer's contact.
   *
   * @throws {PeerTimedOutError} when the peer never finishes or leaves.
   *
   * @example
   * ```ts ignore
   * const peer = await session.waitForPeer();
   * ```
   */
  async waitForPeer(signal?: AbortSignal): Promise<FullContact> {
    const reply = await this.read(0, signal);
    expect(reply, "PeerContact");
    return (reply as { contact: FullContact }).contact;
  }

  /**
   * Close every connection.
   *
   * @example
   * ```ts ignore
   * session.close();
   * ```
   */
  close(): void {
    for (const c of this.connections) c.conn.close();
  }

  /**
   * Same as {@linkcode close}.
   *
   * @example
   * ```ts ignore
   * session[Symbol.dispose]();
   * ```
   */
  [Symbol.dispose](): void {
    this.close();
  }
}

function expect(reply: ServerMsg, wanted: ServerMsg["type"]): void {
  if (reply.type === wanted) return;
  switch (reply.type) {
    case "ErrorRoomTaken":
      throw new RoomTakenError();
    case "ErrorNoSuchRoomID":
      throw new NoSuchRoomError();
    case "ErrorPeerTimedOut":
      throw new PeerTimedOutError();
    case "ErrorTooManyRequests":
      throw new RateLimitedError();
    case "ErrorSyntax":
      throw new ServerProtocolError(
        "The server did not understand a request (ErrorSyntax): is it a gday 0.1.1 server?",
      );
    case "ErrorConnection":
    case "ErrorInternal":
      throw new ServerProtocolError(
        `The server reported an internal problem (${reply.type}): try again later`,
      );
    default:
      throw new ServerProtocolError(
        `The server answered ${reply.type} where ${wanted} was expected`,
      );
  }
}

/** Random codes tried when creating a room before giving up. */
const CREATE_ATTEMPTS = 5;

/**
 * Exchange contacts through a gday server: connect (v6 and v4), create or join the room, send
 * every connection's local address, and wait for the peer. The server connections stay open in
 * the result, so their local ports can be reused for hole punching; close the result after.
 *
 * @throws {ServerUnreachableError} when the server cannot be reached.
 * @throws {RoomTakenError} when creating with a code in use.
 * @throws {NoSuchRoomError} when joining a room that does not exist.
 * @throws {PeerTimedOutError} when the peer leaves or does not come in time.
 * @throws {RateLimitedError} when the server refuses because of its limits.
 * @throws {ServerProtocolError} when the server misbehaves.
 *
 * @example Create on one side, join on the other
 * ```ts ignore
 * import { exchangeContacts } from "./exchange.ts";
 * const [a, b] = await Promise.all([
 *   exchangeContacts({ server: "localhost:2310", create: true, roomCode: 77n }),
 *   exchangeContacts({ server: "localhost:2310", create: false, roomCode: 77n }),
 * ]);
 * console.log(a.peer.public, b.peer.public);
 * a.close();
 * b.close();
 * ```
 */
export async function exchangeContacts(options: ExchangeOptions): Promise<ContactExchange> {
  if (!options.create && options.roomCode === undefined) {
    throw new TypeError("Joining a room needs its room code");
  }
  const timeout = new AbortController();
  const timer = setTimeout(
    () =>
      timeout.abort(
        new PeerTimedOutError(
          `The exchange did not finish within ${
            Math.round((options.timeoutMs ?? 600_000) / 1000)
          } s`,
        ),
      ),
    options.timeoutMs ?? 600_000,
  );
  const signal = options.signal
    ? AbortSignal.any([options.signal, timeout.signal])
    : timeout.signal;
  let session: RoomSession | undefined;
  try {
    session = await openRoomSession({ ...options, signal });
    let roomCode = options.roomCode ?? randomRoomCode();
    if (options.create) {
      for (let attempt = 1;; attempt++) {
        try {
          await session.createRoom(roomCode, signal);
          break;
        } catch (error) {
          if (
            !(error instanceof RoomTakenError) || options.roomCode !== undefined ||
            attempt >= CREATE_ATTEMPTS
          ) {
            throw error;
          }
          roomCode = randomRoomCode();
        }
      }
    }
    options.onRoom?.(roomCode);
    const own = await session.sendAddresses(roomCode, options.create, signal);
    const peer = await session.waitForPeer(signal);
    const done = session;
    session = undefined;
    return {
      roomCode,
      isCreator: options.create,
      own,
      peer,
      connections: done.connections,
      close: () => done.close(),
      [Symbol.dispose]: () => done.close(),
    };
  } catch (error) {
    if (signal.aborted && !(error instanceof ExchangeError)) {
      throw signal.reason instanceof Error ? signal.reason : error;
    }
    throw error;
  } finally {
    clearTimeout(timer);
    session?.close();
  }
}
