/**
 * Connect to a peer: one call from a peer code to an authenticated, encrypted byte stream.
 *
 * 1. **Rendezvous**: exchange contacts through a gday server (`./exchange.ts`); the side without
 *    a code creates the room and gets a fresh {@linkcode PeerCode} to hand to the other person.
 * 2. **Paths**, raced (`./paths.ts`): direct TCP (simultaneous open, `punch/tcp.ts`) and direct
 *    UDP (probes, then QUIC on the punched port) start at once from the ports used toward the
 *    server; the relay starts after a grace period if nothing direct has succeeded. The first
 *    path that authenticates wins; the others are closed. Policies: `"auto"`, `"direct-only"`,
 *    `"relay-only"`.
 * 3. **Authentication** on every connection: the PAKE handshake of the chosen mode (`secure/`),
 *    then agreement on one connection (the room's creator decides).
 *
 * @module
 */

import { contactAddrs, punchPairs } from "../punch/candidates.ts";
import { NoDirectPathError } from "../punch/errors.ts";
import { punchTcp } from "../punch/tcp.ts";
import { detectMapping } from "../punch/mapping.ts";
import { stretchSecret } from "./stretch.ts";
import type { BirthdayOptions } from "../punch/udp.ts";
import type { SocketAddr } from "../protocol/socket_addr.ts";
import { WrongCodeError } from "../secure/errors.ts";
import { type ContactExchange, exchangeContacts, type ExchangeOptions } from "./exchange.ts";
import { RoomTakenError } from "./errors.ts";
import { formatPeerCode, parsePeerCode, type PeerCode, randomPeerCode } from "./peer_code.ts";
import { type ConnectionPath, PathStats } from "./path_stats.ts";
import type { RelayDialed } from "./relay.ts";
import {
  Arbiter,
  type Established,
  type PathContext,
  secureAndSelect,
  type SecureMode,
  udpPath,
} from "./paths.ts";

export type { ConnectionPath, SecureMode };
export { SELECT_BYTE } from "./paths.ts";

/** Which paths to try. */
export type PathPolicy = "auto" | "direct-only" | "relay-only";

/** Progress of {@linkcode connectPeer}, for status lines. */
export type ConnectEvent =
  | { kind: "room"; code: string }
  | { kind: "contacts"; exchange: ContactExchange }
  | { kind: "path-failed"; path: ConnectionPath; error: unknown }
  | { kind: "connected"; path: ConnectionPath; remote: SocketAddr };

/**
 * How to reach the relay: a function that opens a raw byte stream to the peer through it, given
 * the (stretched) secret and the room context to derive the circuit token from
 * (`relayDialer` in `./relay.ts` makes one).
 */
export type RelayDialer = (
  token: { secret: Uint8Array; context: Uint8Array },
  signal: AbortSignal,
) => Promise<RelayDialed>;

/** Options for {@linkcode connectPeer}. */
export interface ConnectOptions
  extends Pick<ExchangeOptions, "server" | "tls" | "families" | "connectTimeoutMs"> {
  /** The code to join. Leave it out to create a room; the new code goes to `onCode`. */
  code?: string | PeerCode;
  /**
   * Create the room even though `code` is given: re-open a room under a known code, e.g. so a
   * peer whose connection broke can join again with the same code. @default {false}
   */
  create?: boolean;
  /** Called with the new code once the room exists (creator only). */
  onCode?: (code: string) => void;
  /** Told about each step (optional). */
  onEvent?: (event: ConnectEvent) => void;
  /** Authentication and encryption; `gday` speaks gday 0.1.1 (direct TCP only). @default {"native"} */
  mode?: SecureMode;
  /** Which paths to try. @default {"auto"} */
  policy?: PathPolicy;
  /** Paths to leave out (e.g. `["direct-udp"]`). */
  disable?: readonly ConnectionPath[];
  /** The relay, when there is one (see `client/relay.ts`). */
  relay?: RelayDialer;
  /** Start the relay this long after the direct paths, if none has won yet. @default {1500} */
  relayGraceMs?: number;
  /** How long to wait for the other person to join. @default {600000} */
  rendezvousTimeoutMs?: number;
  /** How long the direct paths may take (gday: 10 s). @default {10000} */
  punchTimeoutMs?: number;
  /**
   * The server's STUN ports, used to tell whether this side's NAT is hard (symmetric) and so
   * whether to birthday-probe; `false` turns birthday probing off.
   * @default {{ port: 3478, altPort: 3479 }}
   */
  stun?: false | { port?: number; altPort?: number };
  /** Counters of attempts and outcomes per path (shared across calls if you pass one in). */
  stats?: PathStats;
  /** Cancels everything. */
  signal?: AbortSignal;
}

/** An authenticated, encrypted connection to the peer. */
export interface PeerConnection extends AsyncDisposable {
  /** Plaintext from the peer; ends when the peer closes its writable. */
  readonly readable: ReadableStream<Uint8Array>;
  /** Plaintext to the peer; closing it ends this direction (native mode; gday has no half-close). */
  readonly writable: WritableStream<Uint8Array>;
  /** The peer's address on this connection (the relay's, when relayed). */
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

/** Codes tried when the server says a fresh room code is taken. */
const CREATE_ATTEMPTS = 5;

const encoder = new TextEncoder();

function u64Bytes(value: bigint): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, value);
  return out;
}

/**
 * Decide on birthday probing (IPv4 only, where NATs are): a quick STUN check says whether this
 * side's NAT maps per destination ("hard"); a hard side opens extra sockets, an easy side sprays
 * the peer's public IP (after a second without a path: an easy peer answers sooner).
 */
async function planBirthday(
  exchange: ContactExchange,
  stun: ConnectOptions["stun"],
  signal: AbortSignal,
): Promise<BirthdayOptions | null> {
  const server = exchange.connections.find((c) => c.family === "v4")?.conn.remoteAddr;
  const peerPublic = contactAddrs(exchange.peer.public).find((a) => a.family === "v4");
  if (stun === false || server === undefined || peerPublic === undefined) return null;
  const { kind } = await detectMapping({
    serverIp: server.ip,
    port: stun?.port,
    altPort: stun?.altPort,
    signal,
  });
  if (kind === "hard") return { extraSockets: 256 };
  if (kind === "easy") return { sprayIp: peerPublic.ip, sprayDelayMs: 1000 };
  return null;
}

/** Rank errors so the most useful one is reported when every path failed. */
function pickError(errors: unknown[]): unknown {
  return errors.find((e) => e instanceof WrongCodeError) ??
    errors.find((e) => e instanceof NoDirectPathError) ??
    errors[0];
}

/**
 * Connect to a peer through a server, by peer code.
 *
 * @throws `ExchangeError`s from the rendezvous (server unreachable, no such room, peer timed
 *   out, ...), `NoDirectPathError` when no path forms in time, `WrongCodeError` when the peers'
 *   codes differ (as soon as any path finds out: the other attempts are stopped).
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
  const policy = options.policy ?? "auto";
  const stats = options.stats ?? new PathStats();
  const create = options.code === undefined || options.create === true;
  let code = options.code === undefined
    ? randomPeerCode()
    : typeof options.code === "string"
    ? parsePeerCode(options.code)
    : options.code;
  if (policy === "relay-only" && !options.relay) {
    throw new TypeError("The relay-only policy needs a relay (the relay option)");
  }

  const roomContext = (c: PeerCode): Uint8Array =>
    encoder.encode(`peerlink/connect room=${c.roomCode}`);
  // Stretch the secret while the rendezvous runs (the UDP and relay paths need it).
  const stretch = (c: PeerCode): Promise<Uint8Array> => {
    const p = stretchSecret(u64Bytes(c.secret), roomContext(c));
    p.catch(() => {});
    return p;
  };
  let stretched = mode === "native" ? stretch(code) : Promise.resolve(new Uint8Array(0));

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
      if (
        !(error instanceof RoomTakenError) || !create || options.code !== undefined ||
        attempt >= CREATE_ATTEMPTS
      ) throw error;
      code = randomPeerCode(code.serverId);
      stretched = stretch(code);
    }
  }
  const codeText = formatPeerCode(code);
  options.onEvent?.({ kind: "contacts", exchange });

  const stop = new AbortController();
  const signal = options.signal ? AbortSignal.any([options.signal, stop.signal]) : stop.signal;
  // A wrong code on any path is conclusive: the one peer in the room holds another secret, so
  // every other attempt would fail the same way. Stop them all and say so at once.
  let wrongCode: WrongCodeError | null = null;
  const conclusive = <T>(attempt: Promise<T>): Promise<T> =>
    attempt.catch((error) => {
      if (error instanceof WrongCodeError && wrongCode === null) {
        wrongCode = error;
        stop.abort(error);
      }
      throw error;
    });
  const ctx: PathContext = {
    create,
    secret: u64Bytes(code.secret),
    stretched,
    gdaySecret: code.secret,
    context: roomContext(code),
    mode,
    arbiter: new Arbiter(),
    signal,
    handshakeTimeoutMs: 10_000,
  };
  const punchTimeoutMs = options.punchTimeoutMs ?? 10_000;
  const locals = exchange.connections.map((c) => c.conn.localAddr);
  const enabled = (path: ConnectionPath): boolean => {
    if (options.disable?.includes(path)) return false;
    if (path === "relay") {
      return mode === "native" && options.relay !== undefined && policy !== "direct-only";
    }
    if (policy === "relay-only") return false;
    return path === "direct-tcp" || mode === "native";
  };

  const attempts: { path: ConnectionPath; run: () => Promise<Established> }[] = [];
  if (enabled("direct-tcp")) {
    attempts.push({
      path: "direct-tcp",
      run: async () => {
        const result = await punchTcp({
          pairs: punchPairs(locals, exchange.peer),
          timeoutMs: punchTimeoutMs,
          signal,
          authenticate: (conn, _pair, { claim, signal }) =>
            conclusive(secureAndSelect(conn, { ...ctx, signal }, claim)),
        });
        return {
          ...result.value,
          path: "direct-tcp",
          remoteAddr: result.pair.remote,
          localAddr: result.conn.localAddr,
          closeTransport: () => result.conn.close(),
        };
      },
    });
  }
  if (enabled("direct-udp")) {
    attempts.push({
      path: "direct-udp",
      run: () =>
        udpPath(ctx, {
          locals,
          remotes: [...contactAddrs(exchange.peer.private), ...contactAddrs(exchange.peer.public)],
          timeoutMs: punchTimeoutMs,
          birthday: planBirthday(exchange, options.stun, signal),
        }),
    });
  }
  if (enabled("relay")) {
    const relay = options.relay!;
    const grace = policy === "relay-only" ? 0 : options.relayGraceMs ?? 1500;
    attempts.push({
      path: "relay",
      run: async () => {
        await new Promise<void>((resolve, reject) => {
          const timer = setTimeout(done, grace);
          function done(): void {
            clearTimeout(timer);
            signal.removeEventListener("abort", done);
            if (signal.aborted) reject(signal.reason);
            else resolve();
          }
          signal.addEventListener("abort", done, { once: true });
        });
        const link = await relay({ secret: await ctx.stretched, context: ctx.context }, signal);
        try {
          const { secure, readable } = await secureAndSelect(link.duplex, ctx);
          return {
            secure,
            readable,
            path: "relay",
            remoteAddr: link.remoteAddr,
            localAddr: link.localAddr,
            closeTransport: () => link.close(),
          };
        } catch (error) {
          link.close();
          throw error;
        }
      },
    });
  }

  try {
    if (attempts.length === 0) {
      throw new TypeError("No path is enabled: check the policy and the disabled paths");
    }
    const errors: unknown[] = [];
    const winner = await new Promise<Established>((resolve, reject) => {
      let pending = attempts.length;
      for (const attempt of attempts) {
        stats.record(attempt.path, "attempted");
        conclusive(attempt.run()).then(
          (established) => {
            stats.record(attempt.path, "won");
            resolve(established);
          },
          (error) => {
            if (!stop.signal.aborted || wrongCode !== null) {
              stats.record(attempt.path, "failed");
              options.onEvent?.({ kind: "path-failed", path: attempt.path, error });
            } else if (!(options.signal?.aborted)) {
              stats.record(attempt.path, "lost");
            }
            errors.push(error);
            if (--pending === 0) reject(wrongCode ?? pickError(errors));
          },
        );
      }
    });
    stop.abort(new Error("Another path won"));
    options.onEvent?.({ kind: "connected", path: winner.path, remote: winner.remoteAddr });
    const close = async (): Promise<void> => {
      await winner.secure.close().catch(() => {});
      await winner.closeTransport();
    };
    return {
      readable: winner.readable,
      writable: winner.secure.writable,
      remoteAddr: winner.remoteAddr,
      localAddr: winner.localAddr,
      path: winner.path,
      mode,
      isCreator: create,
      code: codeText,
      close,
      [Symbol.asyncDispose]: close,
    };
  } finally {
    stop.abort(new Error("Connection attempt over"));
    exchange.close();
  }
}
