/**
 * Connect to a peer by public key: one call from two Ed25519 keys to an authenticated,
 * encrypted byte stream, in the spirit of p2psc's one-call API.
 *
 * 1. **Mediator** (`protocol/mediator.ts`): connect to the mediator from a local port that can
 *    be bound again, say who we are and whom we want, prove we hold our key by signing the
 *    mediator's fresh challenge, and wait until the peer registers naming us. Both learn the
 *    other's public address (as the mediator saw it) and private address (as the peer reported
 *    it).
 * 2. **Hole punching**: TCP simultaneous open from the mediator connection's local address to
 *    each of the peer's addresses of the same family (`punch/tcp.ts`), as `client/connect.ts`
 *    does from its server connections. The mediator connection stays open meanwhile.
 * 3. **Authentication** (`secure/identity_handshake.ts`): on every connection that forms, an
 *    ephemeral X25519 exchange signed by both Ed25519 keys, then the encrypted chunk stream.
 *    A connection to anyone who does not hold the peer's private key is refused, so the
 *    mediator (or anyone on the path) can neither read nor alter the stream.
 * 4. **Agreement**: several connections may form, so both settle on one. The peer with the
 *    smaller public key decides: on the first connection it authenticates it sends one
 *    encrypted byte `0x01` and drops the others; the other peer takes the connection that
 *    carries it (as `client/connect.ts`'s room creator does).
 *
 * @module
 */

import { resolveHost } from "../net/resolve.ts";
import { abortable } from "../async/abortable.ts";
import { Arbiter, awaitSelection } from "./paths.ts";
import type { RelayDialer } from "./connect.ts";
import { delay } from "../async/delay.ts";
import type { Duplex } from "../net/duplex.ts";
import { FrameReader } from "../framing/length_prefixed.ts";
import { connectTcp, type TcpConnection } from "../net/tcp.ts";
import {
  decodeMediatorServerMsg,
  DEFAULT_MEDIATOR_PORT,
  encodeMediatorClientFrame,
  formatPublicKeyText,
  MAX_MEDIATOR_MESSAGE_BYTES,
  MEDIATOR_NONCE_BYTES,
  MEDIATOR_PROTOCOL_VERSION,
  type MediatorPairedMsg,
  mediatorProofBytes,
  type MediatorServerMsg,
  registrationBytes,
  type RegistrationTranscript,
} from "../protocol/mediator.ts";
import type { Contact, FullContact } from "../protocol/gday.ts";
import type { SocketAddr } from "../protocol/socket_addr.ts";
import { punchPairs } from "../punch/candidates.ts";
import { punchTcp } from "../punch/tcp.ts";
import {
  identityHandshake,
  type IdentityKeyPair,
  type IdentitySecureConnection,
  signEd25519,
  verifyEd25519,
} from "../secure/identity_handshake.ts";
import { toPublicKey } from "./identity.ts";
import {
  MediatorConnectionError,
  type MediatorError,
  MediatorIdentityError,
  MediatorRefusedError,
  MediatorUnreachableError,
  PeerNeverCameError,
} from "./mediator_errors.ts";
import { formatServerAddress, parseServerAddress, type ServerAddress } from "./server_address.ts";
import { compareBytes } from "../bytes/mod.ts";

/** An IP family. */
export type MediatorFamily = "v4" | "v6";

/** Progress of {@linkcode connect}, for status lines. */
export type MediatorEvent =
  | { kind: "mediator"; mediatorKey: string; local: SocketAddr }
  | { kind: "registered"; waitMs: number }
  | { kind: "paired"; peer: FullContact; observed: SocketAddr }
  | { kind: "connected"; remote: SocketAddr };

/** Options for {@linkcode connect}. */
export interface MediatorConnectOptions {
  /** This side's identity (see `client/identity.ts`). */
  identity: IdentityKeyPair;
  /** The peer's public key: its text form (`pk1…`) or the raw 32 bytes. */
  peer: string | Uint8Array;
  /** The mediator, `host[:port]` (default port 2312) or an address. */
  mediator: string | ServerAddress;
  /** The mediator's public key, to make sure it is that one (pinning). @default {any} */
  mediatorKey?: string | Uint8Array;
  /**
   * IP families to reach the mediator over, most preferred first; both peers should reach it
   * over the same family, since they punch over the family they registered with.
   * @default {["v4", "v6"]}
   */
  families?: readonly MediatorFamily[];
  /** Give up connecting to the mediator after this long, in ms. @default {5000} */
  connectTimeoutMs?: number;
  /** Give up waiting for any one mediator reply after this long, in ms. @default {10000} */
  stepTimeoutMs?: number;
  /** Give up waiting for the peer after this long (the mediator may give up sooner), in ms. @default {600000} */
  waitTimeoutMs?: number;
  /** How long to punch, in ms (gday: 10 s). @default {10000} */
  punchTimeoutMs?: number;
  /**
   * The relay, for when no direct path forms (`relayDialer` from `./relay.ts`). The circuit token
   * comes from both public keys; the pipe stays authenticated and encrypted by the two keys, so
   * the relay sees only ciphertext.
   */
  relay?: RelayDialer;
  /** Start the relay this long after punching, if no direct path has won yet. @default {1500} */
  relayGraceMs?: number;
  /** Which paths to try (as `connectPeer`'s). @default {"auto"} */
  policy?: "auto" | "direct-only" | "relay-only";
  /** The pipe handshake's time limit, in ms. @default {10000} */
  handshakeTimeoutMs?: number;
  /** Told about each step. */
  onEvent?: (event: MediatorEvent) => void;
  /** Cancels everything. */
  signal?: AbortSignal;
}

/** An authenticated, encrypted connection to the peer. */
export interface MediatedConnection extends AsyncDisposable {
  /** Plaintext from the peer; ends when the peer closes its writable. */
  readonly readable: ReadableStream<Uint8Array>;
  /** Plaintext to the peer; closing it ends this direction only. */
  readonly writable: WritableStream<Uint8Array>;
  /** The peer's public key (proven in the handshake). */
  readonly peerKey: Uint8Array;
  /** The peer's address on this connection. */
  readonly remoteAddr: SocketAddr;
  /** This side's address on this connection. */
  readonly localAddr: SocketAddr;
  /** How the peers are connected. */
  readonly path: "direct-tcp" | "relay";
  /** Close both directions at once. */
  close(): Promise<void>;
}

/** The byte the deciding peer sends on the connection it picked. */
export const MEDIATOR_SELECT_BYTE = 0x01;

/** The context the pipe handshake binds the session to. */
const PIPE_CONTEXT = new TextEncoder().encode("peerlink/mediator pipe");
/** The relay circuit context of a mediated pair (with both public keys as the secret). */
const RELAY_CONTEXT = new TextEncoder().encode("peerlink/mediator relay");

/** Local ports tried before giving up on binding one. */
const BIND_ATTEMPTS = 16;

/** How long a connection over a less preferred family waits for a preferred one. */
const FAMILY_GRACE_MS = 300;

function randomEphemeralPort(): number {
  const span = 60999 - 32768 + 1;
  return 32768 + (crypto.getRandomValues(new Uint32Array(1))[0]! % span);
}

async function resolve(
  address: ServerAddress,
  families: readonly MediatorFamily[],
): Promise<{ family: MediatorFamily; ip: string }[]> {
  const records = await resolveHost(address.hostname);
  const out: { family: MediatorFamily; ip: string }[] = [];
  for (const family of families) {
    const record = records.find((r) => r.family === family);
    if (record) out.push({ family, ip: record.ip });
  }
  return out;
}

async function dial(
  family: MediatorFamily,
  ip: string,
  port: number,
  timeoutMs: number,
  signal: AbortSignal | undefined,
): Promise<TcpConnection> {
  let lastError: unknown;
  for (let attempt = 0; attempt < BIND_ATTEMPTS; attempt++) {
    try {
      return await connectTcp({
        hostname: ip,
        port,
        localAddress: family === "v4" ? "0.0.0.0" : "::",
        localPort: randomEphemeralPort(),
        timeoutMs,
        signal,
      });
    } catch (error) {
      lastError = error;
      const code = ((error as Error).cause as { code?: string } | undefined)?.code;
      // A random port may be taken, or in TIME_WAIT towards this very mediator.
      if (code !== "EADDRINUSE" && code !== "EADDRNOTAVAIL" && code !== "EINVAL") break;
    }
  }
  throw lastError;
}

/** Connect over every family at once; the first connection wins, the others are closed. */
async function openMediator(
  address: ServerAddress,
  families: readonly MediatorFamily[],
  timeoutMs: number,
  signal: AbortSignal | undefined,
): Promise<TcpConnection> {
  const where = formatServerAddress(address);
  const targets = await abortable(resolve(address, families), signal);
  if (targets.length === 0) {
    throw new MediatorUnreachableError(where, {
      cause: new Error(`The name resolves to no address of family ${families.join(" or ")}`),
    });
  }
  // All families at once. The most preferred family that connects wins; a pending preferred
  // attempt is given up once a less preferred one has been connected for FAMILY_GRACE_MS.
  type Outcome = { conn: TcpConnection } | { error: unknown };
  const attempts = targets.map((t) => dial(t.family, t.ip, address.port, timeoutMs, signal));
  const results: (Outcome | undefined)[] = targets.map(() => undefined);
  const connectedAt: number[] = targets.map(() => Infinity);
  const pending = new Map(attempts.map((attempt, i) => [
    i,
    attempt.then(
      (conn) => {
        results[i] = { conn };
        connectedAt[i] = Date.now();
      },
      (error: unknown) => void (results[i] = { error }),
    ).then(() => i),
  ]));
  let winner: TcpConnection | null = null;
  try {
    for (;;) {
      let waitMs: number | null = null;
      for (let i = 0; i < results.length; i++) {
        const result = results[i];
        if (result === undefined) {
          const later = Math.min(...connectedAt.slice(i + 1));
          if (Date.now() - later >= FAMILY_GRACE_MS) continue;
          if (later !== Infinity) waitMs = later + FAMILY_GRACE_MS - Date.now();
          break;
        }
        if ("conn" in result) {
          winner = result.conn;
          break;
        }
      }
      if (winner !== null || pending.size === 0) break;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const done = await Promise.race([
        ...pending.values(),
        ...(waitMs === null
          ? []
          : [new Promise<null>((r) => (timer = setTimeout(r, waitMs!, null)))]),
      ]);
      clearTimeout(timer);
      if (done !== null) pending.delete(done);
    }
  } finally {
    for (const attempt of attempts) {
      attempt.then((conn) => conn !== winner && conn.close(), () => {});
    }
  }
  const errors = results.flatMap((r) => (r && "error" in r ? [r.error] : []));
  if (winner !== null) return winner;
  signal?.throwIfAborted();
  throw new MediatorUnreachableError(where, {
    cause: errors.length === 1 ? errors[0] : new AggregateError(errors),
  });
}

function contactOf(addr: SocketAddr | null): Contact {
  return {
    v4: addr?.family === "v4" ? addr : null,
    v6: addr?.family === "v6" ? addr : null,
  };
}

/** The mediator conversation over one connection. */
class MediatorSession {
  #reader: FrameReader;
  #writer: WritableStreamDefaultWriter<Uint8Array>;
  constructor(readonly conn: TcpConnection) {
    this.#reader = new FrameReader(conn.readable, { maxFrameBytes: MAX_MEDIATOR_MESSAGE_BYTES });
    this.#writer = conn.writable.getWriter();
  }
  async send(frame: Uint8Array, signal?: AbortSignal): Promise<void> {
    try {
      await abortable(this.#writer.write(frame), signal);
    } catch (error) {
      signal?.throwIfAborted();
      throw new MediatorConnectionError(
        `Lost the connection to the mediator: ${(error as Error).message}`,
        { cause: error },
      );
    }
  }
  async read(timeoutMs: number, signal?: AbortSignal): Promise<MediatorServerMsg> {
    const timeout = AbortSignal.timeout(timeoutMs);
    const both = signal ? AbortSignal.any([signal, timeout]) : timeout;
    let frame: Uint8Array | null;
    try {
      frame = await this.#reader.read(both);
    } catch (error) {
      signal?.throwIfAborted();
      if (timeout.aborted) {
        throw new MediatorConnectionError(
          `The mediator did not answer within ${Math.round(timeoutMs / 1000)} s`,
          { cause: error },
        );
      }
      throw new MediatorConnectionError(
        `Lost the connection to the mediator: ${(error as Error).message}`,
        { cause: error },
      );
    }
    if (frame === null) throw new MediatorConnectionError("The mediator closed the connection");
    try {
      return decodeMediatorServerMsg(frame);
    } catch (error) {
      throw new MediatorConnectionError(
        `The mediator sent an invalid message: ${(error as Error).message}`,
        { cause: error },
      );
    }
  }
  close(): void {
    this.conn.close();
  }
}

/** Options for {@linkcode registerWithMediator}: those of {@linkcode connect} it uses. */
export type RegisterOptions = Omit<
  MediatorConnectOptions,
  "punchTimeoutMs" | "handshakeTimeoutMs"
>;

/** A registration that was paired: the open mediator connection and what the mediator said. */
export interface MediatorPairing extends Disposable {
  /** The mediator connection, still open; its local port is the one to punch from. */
  readonly conn: TcpConnection;
  /** The mediator's public key. */
  readonly mediatorKey: Uint8Array;
  /** The peer's key (as asked for). */
  readonly peerKey: Uint8Array;
  /** The peer's addresses. */
  readonly peer: FullContact;
  /** This side's public address as the mediator saw it. */
  readonly observed: SocketAddr;
  /** Close the mediator connection. */
  close(): void;
}

/**
 * Steps 1 of {@linkcode connect} alone: register with the mediator and wait until paired. The
 * mediator connection stays open (close the result when done).
 *
 * @throws {MediatorUnreachableError}, {@linkcode PeerNeverCameError},
 *   {@linkcode MediatorRefusedError}, {@linkcode MediatorIdentityError} or
 *   {@linkcode MediatorConnectionError}.
 *
 * @example
 * ```ts ignore
 * using pairing = await registerWithMediator({ identity, peer: "pk1…", mediator: "example.org" });
 * console.log(pairing.peer.public.v4);
 * ```
 */
export async function registerWithMediator(options: RegisterOptions): Promise<MediatorPairing> {
  const { identity, signal } = options;
  const peerKey = toPublicKey(options.peer);
  if (compareBytes(peerKey, identity.publicKey) === 0) {
    throw new RangeError("Cannot pair with yourself: the peer key is your own key");
  }
  const pinned = options.mediatorKey === undefined ? null : toPublicKey(options.mediatorKey);
  const address = typeof options.mediator === "string"
    ? parseServerAddress(options.mediator, DEFAULT_MEDIATOR_PORT)
    : options.mediator;
  const stepMs = options.stepTimeoutMs ?? 10_000;
  const conn = await openMediator(
    address,
    options.families ?? ["v4", "v6"],
    options.connectTimeoutMs ?? 5000,
    signal,
  );
  const session = new MediatorSession(conn);
  const refused = (msg: MediatorServerMsg & { type: "error" }, waitMs: number): MediatorError =>
    msg.code === "timeout" && waitMs > 0
      ? new PeerNeverCameError(
        formatPublicKeyText(peerKey),
        formatPublicKeyText(identity.publicKey),
        Math.round(waitMs / 1000),
      )
      : new MediatorRefusedError(msg.code, msg.message);
  try {
    const clientNonce = crypto.getRandomValues(new Uint8Array(MEDIATOR_NONCE_BYTES));
    const privateAddr = conn.localAddr;
    await session.send(
      encodeMediatorClientFrame({
        type: "hello",
        version: MEDIATOR_PROTOCOL_VERSION,
        key: identity.publicKey,
        peer: peerKey,
        nonce: clientNonce,
        privateAddr,
      }),
      signal,
    );
    const challenge = await session.read(stepMs, signal);
    if (challenge.type === "error") throw refused(challenge, 0);
    if (challenge.type !== "challenge") {
      throw new MediatorConnectionError(`The mediator sent ${challenge.type} instead of challenge`);
    }
    const transcript: RegistrationTranscript = {
      mediatorKey: challenge.mediatorKey,
      mediatorNonce: challenge.nonce,
      clientNonce,
      key: identity.publicKey,
      peer: peerKey,
      privateAddr,
    };
    if (pinned !== null && compareBytes(pinned, challenge.mediatorKey) !== 0) {
      throw new MediatorIdentityError(
        `The mediator's key is ${formatPublicKeyText(challenge.mediatorKey)}, not the expected ` +
          `${formatPublicKeyText(pinned)}: it is another mediator (or someone in the middle)`,
      );
    }
    if (
      !(await verifyEd25519(
        challenge.mediatorKey,
        challenge.signature,
        mediatorProofBytes(transcript),
      ))
    ) {
      throw new MediatorIdentityError("The mediator's signature does not verify");
    }
    options.onEvent?.({
      kind: "mediator",
      mediatorKey: formatPublicKeyText(challenge.mediatorKey),
      local: conn.localAddr,
    });
    await session.send(
      encodeMediatorClientFrame({
        type: "register",
        signature: await signEd25519(identity.privateKey, registrationBytes(transcript)),
      }),
      signal,
    );
    let reply = await session.read(stepMs, signal);
    let waitMs = 0;
    if (reply.type === "registered") {
      waitMs = Math.min(reply.waitMs, options.waitTimeoutMs ?? 600_000);
      options.onEvent?.({ kind: "registered", waitMs: reply.waitMs });
      try {
        reply = await session.read(waitMs + stepMs, signal);
      } catch (error) {
        if (signal?.aborted || !(error instanceof MediatorConnectionError)) throw error;
        if (!/did not answer/.test(error.message)) throw error;
        throw new PeerNeverCameError(
          formatPublicKeyText(peerKey),
          formatPublicKeyText(identity.publicKey),
          Math.round(waitMs / 1000),
          { cause: error },
        );
      }
    }
    if (reply.type === "error") throw refused(reply, waitMs || 1);
    if (reply.type !== "paired") {
      throw new MediatorConnectionError(`The mediator sent ${reply.type} instead of paired`);
    }
    const paired: MediatorPairedMsg = reply;
    if (compareBytes(paired.peer, peerKey) !== 0) {
      throw new MediatorConnectionError("The mediator paired us with another key than asked");
    }
    const peer: FullContact = {
      private: contactOf(paired.privateAddr),
      public: contactOf(paired.publicAddr),
    };
    options.onEvent?.({ kind: "paired", peer, observed: paired.observed });
    const close = (): void => session.close();
    return {
      conn,
      mediatorKey: challenge.mediatorKey,
      peerKey,
      peer,
      observed: paired.observed,
      close,
      [Symbol.dispose]: close,
    };
  } catch (error) {
    session.close();
    throw error;
  }
}

/**
 * Connect to the peer with public key `peer` through `mediator`: register, get paired, punch a
 * direct TCP connection and authenticate it with both keys.
 *
 * @throws {MediatorError}s from the mediator step (unreachable, refused, the peer never came,
 *   ...), `NoDirectPathError` when no direct path forms in time, `PeerKeyMismatchError` /
 *   `PeerAuthenticationError` when the other end is not the peer.
 *
 * @example Two peers on one machine (a mediator on loopback)
 * ```ts
 * import { startServer } from "../server/server.ts";
 * import { silentLogger } from "../server/logger.ts";
 * import { mediatorPlugin } from "../server/services/mediator.ts";
 * import { generateIdentity } from "./identity.ts";
 * import { connect } from "./mediator.ts";
 * await using server = await startServer({ hostname: "127.0.0.1", gdayPort: null, logger: silentLogger, services: [mediatorPlugin({ port: 0 })] });
 * const mediator = `127.0.0.1:${server.listeners[0]!.addr.port}`;
 * const [alice, bob] = await Promise.all([generateIdentity(), generateIdentity()]);
 * const [a, b] = await Promise.all([
 *   connect({ identity: alice, peer: bob.text, mediator }),
 *   connect({ identity: bob, peer: alice.text, mediator }),
 * ]);
 * const writer = a.writable.getWriter();
 * await writer.write(new TextEncoder().encode("hello"));
 * await writer.close();
 * const reader = b.readable.getReader();
 * const { value } = await reader.read();
 * if (new TextDecoder().decode(value) !== "hello") throw new Error("Bad text");
 * reader.releaseLock();
 * await Promise.all([a.close(), b.close()]);
 * ```
 */
export async function connect(options: MediatorConnectOptions): Promise<MediatedConnection> {
  const { identity } = options;
  const pairing = await registerWithMediator(options);
  const stop = new AbortController();
  const signal = options.signal ? AbortSignal.any([options.signal, stop.signal]) : stop.signal;
  try {
    const peerKey = pairing.peerKey;
    const decides = compareBytes(identity.publicKey, peerKey) < 0;
    const handshakeMs = options.handshakeTimeoutMs ?? 10_000;
    const arbiter = new Arbiter();
    /** Authenticate by both keys, then agree on this connection (the smaller key decides). */
    const secureAndSelect = async (
      transport: Duplex,
      signal: AbortSignal,
      claim: () => boolean,
    ): Promise<{ secure: IdentitySecureConnection; readable: ReadableStream<Uint8Array> }> => {
      const token = {};
      const win = (): boolean => {
        if (!arbiter.claim(token)) return false;
        if (claim()) return true;
        arbiter.release(token);
        return false;
      };
      const secure = await identityHandshake(transport, {
        identity,
        peerKey,
        context: PIPE_CONTEXT,
        signal,
        timeoutMs: handshakeMs,
      });
      try {
        if (decides) {
          if (!win()) throw new Error("Another connection won");
          const writer = secure.writable.getWriter();
          await writer.write(new Uint8Array([MEDIATOR_SELECT_BYTE]));
          writer.releaseLock();
          return { secure, readable: secure.readable };
        }
        const readable = await awaitSelection(secure, signal, MEDIATOR_SELECT_BYTE);
        if (!win()) throw new Error("Another connection won");
        return { secure, readable };
      } catch (error) {
        await secure.close().catch(() => {});
        throw error;
      }
    };
    type Won = {
      secure: IdentitySecureConnection;
      readable: ReadableStream<Uint8Array>;
      path: "direct-tcp" | "relay";
      remoteAddr: SocketAddr;
      localAddr: SocketAddr;
      closeTransport(): void | Promise<void>;
    };
    const direct = async (): Promise<Won> => {
      const result = await punchTcp({
        pairs: punchPairs([pairing.conn.localAddr], pairing.peer),
        listenFirst: decides,
        timeoutMs: options.punchTimeoutMs ?? 10_000,
        signal,
        authenticate: (conn, _pair, { signal, claim }) => secureAndSelect(conn, signal, claim),
      });
      return {
        ...result.value,
        path: "direct-tcp",
        remoteAddr: result.pair.remote,
        localAddr: result.conn.localAddr,
        closeTransport: () => result.conn.close(),
      };
    };
    const relayed = async (relay: RelayDialer): Promise<Won> => {
      if (options.policy !== "relay-only") await delay(options.relayGraceMs ?? 1500, { signal });
      const [low, high] = compareBytes(identity.publicKey, peerKey) < 0
        ? [identity.publicKey, peerKey]
        : [peerKey, identity.publicKey];
      const link = await relay({
        secret: new Uint8Array([...low, ...high]),
        context: RELAY_CONTEXT,
      }, signal);
      try {
        const won = await secureAndSelect(link.duplex, signal, () => true);
        return {
          ...won,
          path: "relay",
          remoteAddr: link.remoteAddr,
          localAddr: link.localAddr,
          closeTransport: () => link.close(),
        };
      } catch (error) {
        link.close();
        throw error;
      }
    };
    const policy = options.policy ?? "auto";
    if (policy === "relay-only" && !options.relay) {
      throw new TypeError("The relay-only policy needs a relay (the relay option)");
    }
    const attempts = [
      ...(policy !== "relay-only" ? [direct()] : []),
      ...(options.relay && policy !== "direct-only" ? [relayed(options.relay)] : []),
    ];
    let winner: Won;
    try {
      winner = await Promise.any(attempts);
    } catch (error) {
      const errors = (error as AggregateError).errors ?? [error];
      throw errors.find((e) => !(e instanceof DOMException && e.name === "AbortError")) ??
        errors[0];
    }
    stop.abort(new Error("Another path won"));
    for (const attempt of attempts) attempt.catch(() => {});
    options.onEvent?.({ kind: "connected", remote: winner.remoteAddr });
    const close = async (): Promise<void> => {
      await winner.secure.close().catch(() => {});
      await winner.closeTransport();
    };
    return {
      readable: winner.readable,
      writable: winner.secure.writable,
      peerKey: peerKey.slice(),
      remoteAddr: winner.remoteAddr,
      localAddr: winner.localAddr,
      path: winner.path,
      close,
      [Symbol.asyncDispose]: close,
    };
  } finally {
    stop.abort(new Error("Connection attempt over"));
    pairing.close();
  }
}
