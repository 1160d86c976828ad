/**
 * Connect to a peer: one call from a peer code to an authenticated, encrypted byte stream.
 *
 * 1. **Rendezvous**: exchange contacts through a gday server (`./exchange.ts`); the side without
 *    a code creates the room and gets a fresh {@linkcode PeerCode} to hand to the other person.
 * 2. **Hole punching**: TCP simultaneous open from every server connection's local address to
 *    every peer address of the same family (`punch/tcp.ts`).
 * 3. **Authentication**: on every connection that forms, the PAKE handshake of the chosen mode
 *    (`secure/`). Native mode binds the session to the room; `gday` mode is gday 0.1.1's.
 * 4. **Agreement** (native mode): several connections may form (private and public addresses,
 *    IPv4 and IPv6), so both peers must settle on one. The room's creator decides: on the first
 *    connection it authenticates it sends one encrypted byte `0x01` ("this one") and closes the
 *    others; the joiner takes the connection that carries it. (gday 0.1.1 has no such step: in
 *    `gday` mode, the first connection whose seed exchange completes wins, as in gday.)
 *
 * @module
 */

import { handshake } from "../secure/handshake.ts";
import { gdayAuthenticate, gdayPassword } from "../secure/gday_handshake.ts";
import type { SecureConnection } from "../secure/duplex.ts";
import { HandshakeError } from "../secure/errors.ts";
import type { TcpConnection } from "../net/tcp.ts";
import type { SocketAddr } from "../protocol/socket_addr.ts";
import { punchPairs } from "../punch/candidates.ts";
import { punchTcp } from "../punch/tcp.ts";
import { type ContactExchange, exchangeContacts, type ExchangeOptions } from "./exchange.ts";
import { RoomTakenError } from "./errors.ts";
import { formatPeerCode, parsePeerCode, type PeerCode, randomPeerCode } from "./peer_code.ts";

/** How the two peers are connected. */
export type ConnectionPath = "direct-tcp" | "direct-udp" | "relay";

/** The authentication and encryption in use: peerlink's own, or gday 0.1.1's (for gday peers). */
export type SecureMode = "native" | "gday";

/** Progress of {@linkcode connectPeer}, for status lines. */
export type ConnectEvent =
  | { kind: "room"; code: string }
  | { kind: "contacts"; exchange: ContactExchange }
  | { kind: "connected"; path: ConnectionPath; remote: SocketAddr };

/** Options for {@linkcode connectPeer}. */
export interface ConnectOptions
  extends Pick<ExchangeOptions, "server" | "tls" | "families" | "connectTimeoutMs"> {
  /** The code to join. Leave it out to create a room; the new code goes to `onCode`. */
  code?: string | PeerCode;
  /** Called with the new code once the room exists (creator only). */
  onCode?: (code: string) => void;
  /** Told about each step (optional). */
  onEvent?: (event: ConnectEvent) => void;
  /** Authentication and encryption. @default {"native"} */
  mode?: SecureMode;
  /** How long to wait for the other person to join. @default {600000} */
  rendezvousTimeoutMs?: number;
  /** How long to punch (gday: 10 s). @default {10000} */
  punchTimeoutMs?: number;
  /** Cancels everything. */
  signal?: AbortSignal;
}

/** An authenticated, encrypted connection to the peer. */
export interface PeerConnection extends AsyncDisposable {
  /** Plaintext from the peer; ends when the peer closes its writable. */
  readonly readable: ReadableStream<Uint8Array>;
  /** Plaintext to the peer; closing it ends this direction (native mode; gday has no half-close). */
  readonly writable: WritableStream<Uint8Array>;
  /** The peer's address on this connection. */
  readonly remoteAddr: SocketAddr;
  /** This side's address on this connection. */
  readonly localAddr: SocketAddr;
  /** How the peers are connected. */
  readonly path: ConnectionPath;
  /** The secure mode in use. */
  readonly mode: SecureMode;
  /** Whether this side created the room. */
  readonly isCreator: boolean;
  /** The peer code of the session. */
  readonly code: string;
  /** Close both directions at once. */
  close(): Promise<void>;
}

/** The byte a creator sends on the connection it picked (native mode). */
export const SELECT_BYTE = 0x01;

/** Codes tried when the server says a fresh room code is taken. */
const CREATE_ATTEMPTS = 5;

const encoder = new TextEncoder();

function u64Bytes(value: bigint): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, value);
  return out;
}

/** Put `first` back in front of the rest of `readable`. */
function unshift(
  first: Uint8Array,
  reader: ReadableStreamDefaultReader<Uint8Array>,
): ReadableStream<Uint8Array> {
  let pending: Uint8Array | null = first.length > 0 ? first : null;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (pending !== null) {
        controller.enqueue(pending);
        pending = null;
        return;
      }
      const { value, done } = await reader.read();
      if (done) controller.close();
      else controller.enqueue(value);
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  });
}

/** Read the creator's selection byte (joiner, native mode); returns the remaining stream. */
async function awaitSelection(
  secure: SecureConnection,
  signal: AbortSignal,
): Promise<ReadableStream<Uint8Array>> {
  const reader = secure.readable.getReader();
  const onAbort = (): void => void reader.cancel(signal.reason).catch(() => {});
  signal.addEventListener("abort", onAbort, { once: true });
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) throw new HandshakeError("The peer closed this connection (it picked another)");
      if (value.length === 0) continue;
      if (value[0] !== SELECT_BYTE) {
        throw new HandshakeError("The peer sent an unexpected selection byte");
      }
      return unshift(value.subarray(1), reader);
    }
  } finally {
    signal.removeEventListener("abort", onAbort);
  }
}

/**
 * Connect to a peer through a server, by peer code.
 *
 * @throws `ExchangeError`s from the rendezvous (server unreachable, no such room, peer timed
 *   out, ...), `NoDirectPathError` when no direct path forms in time, `WrongCodeError` when the
 *   peers' codes differ.
 *
 * @example The creator prints the code; the other side joins with it
 * ```ts ignore
 * import { connectPeer } from "./connect.ts";
 * await using conn = await connectPeer({ server: "example.org", onCode: (code) => console.log(code) });
 * // elsewhere: await using conn = await connectPeer({ server: "example.org", code: "0.3F2A9C.7D2E91B4.5" });
 * ```
 */
export async function connectPeer(options: ConnectOptions): Promise<PeerConnection> {
  const mode = options.mode ?? "native";
  const create = options.code === undefined;
  let code = options.code === undefined
    ? randomPeerCode()
    : typeof options.code === "string"
    ? parsePeerCode(options.code)
    : options.code;

  let exchange!: ContactExchange;
  for (let attempt = 1;; attempt++) {
    try {
      const current = code;
      exchange = await exchangeContacts({
        server: options.server,
        tls: options.tls,
        families: options.families,
        connectTimeoutMs: options.connectTimeoutMs,
        create,
        roomCode: current.roomCode,
        timeoutMs: options.rendezvousTimeoutMs ?? 600_000,
        signal: options.signal,
        onRoom: () => {
          if (!create) return;
          const text = formatPeerCode(current);
          options.onCode?.(text);
          options.onEvent?.({ kind: "room", code: text });
        },
      });
      break;
    } catch (error) {
      if (!(error instanceof RoomTakenError) || !create || attempt >= CREATE_ATTEMPTS) throw error;
      code = randomPeerCode(code.serverId);
    }
  }
  const codeText = formatPeerCode(code);
  options.onEvent?.({ kind: "contacts", exchange });

  try {
    const pairs = punchPairs(exchange.connections.map((c) => c.conn.localAddr), exchange.peer);
    const context = encoder.encode(`peerlink/connect room=${code.roomCode}`);
    const secret = u64Bytes(code.secret);
    const result = await punchTcp<
      { secure: SecureConnection; readable: ReadableStream<Uint8Array> }
    >({
      pairs,
      timeoutMs: options.punchTimeoutMs ?? 10_000,
      signal: options.signal,
      authenticate: async (conn: TcpConnection, _pair, { signal, claim }) => {
        const timeoutMs = 10_000;
        if (mode === "gday") {
          const authed = await gdayAuthenticate(conn, gdayPassword(code.secret), {
            signal,
            timeoutMs,
          });
          const secure = await authed.encrypt({ signal, timeoutMs });
          if (!claim()) {
            await secure.close();
            throw new Error("Another connection won");
          }
          return { secure, readable: secure.readable };
        }
        const secure = await handshake(conn, secret, { context, signal, timeoutMs });
        try {
          if (create) {
            if (!claim()) throw new Error("Another connection won");
            const writer = secure.writable.getWriter();
            await writer.write(new Uint8Array([SELECT_BYTE]));
            writer.releaseLock();
            return { secure, readable: secure.readable };
          }
          const readable = await awaitSelection(secure, signal);
          if (!claim()) throw new Error("Another connection won");
          return { secure, readable };
        } catch (error) {
          await secure.close().catch(() => {});
          throw error;
        }
      },
    });
    const { secure, readable } = result.value;
    const tcp = result.conn;
    options.onEvent?.({ kind: "connected", path: "direct-tcp", remote: result.pair.remote });
    const close = async (): Promise<void> => {
      await secure.close().catch(() => {});
      tcp.close();
    };
    return {
      readable,
      writable: secure.writable,
      remoteAddr: result.pair.remote,
      localAddr: tcp.localAddr,
      path: "direct-tcp",
      mode,
      isCreator: create,
      code: codeText,
      close,
      [Symbol.asyncDispose]: close,
    };
  } finally {
    exchange.close();
  }
}
