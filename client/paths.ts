/**
 * The ways two peers get a byte stream (direct TCP, direct UDP with QUIC, the server's relay),
 * and what every path does once it has one: the PAKE handshake, then agreement on which
 * connection both peers keep.
 *
 * Agreement (native mode): the room's creator decides. On the first connection it
 * authenticates, over any path, it claims the connection and sends one encrypted byte
 * {@linkcode SELECT_BYTE}; it closes every other. The joiner keeps the connection that carries
 * that byte. gday 0.1.1 has no such step, so in `gday` mode the first connection whose seed
 * exchange completes wins, as in gday.
 *
 * @module
 */

import type { Duplex } from "../net/duplex.ts";
import { prependStream } from "../net/prepend.ts";
import { quicAccept, quicConnect, type QuicStream } from "../net/quic.ts";
import { quicCertificateFromSecret } from "../net/quic_cert.ts";
import type { SocketAddr } from "../protocol/socket_addr.ts";
import { udpProbeKey } from "../protocol/udp_probe.ts";
import { type BirthdayOptions, punchUdp } from "../punch/udp.ts";
import type { SecureConnection } from "../secure/duplex.ts";
import { HandshakeError } from "../secure/errors.ts";
import { gdayAuthenticate, gdayPassword } from "../secure/gday_handshake.ts";
import { handshake } from "../secure/handshake.ts";
import type { ConnectionPath } from "./path_stats.ts";

/** The byte a creator sends on the connection it picked (native mode). */
export const SELECT_BYTE = 0x01;

/** The authentication and encryption in use: peerlink's own, or gday 0.1.1's (for gday peers). */
export type SecureMode = "native" | "gday";

/** Picks exactly one winner among all connections of all paths. */
export class Arbiter {
  #winner: object | null = null;
  /**
   * Claim the win for `token`; true if it is (or already was) the winner.
   *
   * @example
   * ```ts
   * import { Arbiter } from "./paths.ts";
   * const arbiter = new Arbiter();
   * const a = {}, b = {};
   * if (!arbiter.claim(a) || arbiter.claim(b) || !arbiter.claim(a)) throw new Error("Not exclusive");
   * ```
   */
  claim(token: object): boolean {
    if (this.#winner === null) this.#winner = token;
    return this.#winner === token;
  }
  /**
   * Give up a claim (its connection failed after claiming).
   *
   * @example
   * ```ts
   * import { Arbiter } from "./paths.ts";
   * const arbiter = new Arbiter();
   * const a = {};
   * arbiter.claim(a);
   * arbiter.release(a);
   * if (!arbiter.claim({})) throw new Error("Not released");
   * ```
   */
  release(token: object): void {
    if (this.#winner === token) this.#winner = null;
  }
}

/** What every path needs to know. */
export interface PathContext {
  /** Whether this side created the room (it decides, and is the QUIC server). */
  create: boolean;
  /** The shared secret, as bytes (the PAKE password). */
  secret: Uint8Array;
  /**
   * The secret stretched with scrypt (`./stretch.ts`): what everything derived before the PAKE
   * (probe tags, the QUIC certificate, the relay token) is derived from.
   */
  stretched: Promise<Uint8Array>;
  /** The gday shared secret (gday mode's password). */
  gdaySecret: bigint;
  /** Bytes binding the session to the room (native mode). */
  context: Uint8Array;
  /** The secure mode. */
  mode: SecureMode;
  /** The one winner among all connections. */
  arbiter: Arbiter;
  /** Aborts when another path won, or the caller cancelled. */
  signal: AbortSignal;
  /** Handshake timeout. */
  handshakeTimeoutMs: number;
}

/** An authenticated, agreed connection, before the caller wraps it. */
export interface Established {
  /** The secure connection. */
  secure: SecureConnection;
  /** Its readable (after the selection byte, for the joiner). */
  readable: ReadableStream<Uint8Array>;
  /** Which path. */
  path: ConnectionPath;
  /** The peer's address on it (the relay's address for a relayed connection). */
  remoteAddr: SocketAddr;
  /** This side's address on it. */
  localAddr: SocketAddr;
  /** Close the transport under the secure connection (gracefully where the transport needs it). */
  closeTransport(): void | Promise<void>;
}

/**
 * Read the deciding peer's selection byte from `secure.readable` and return the rest of the
 * stream. Throws when the peer closes the connection (it picked another) or sends another byte.
 *
 * @example
 * ```ts
 * import { awaitSelection, SELECT_BYTE } from "./paths.ts";
 * const readable = ReadableStream.from([new Uint8Array([SELECT_BYTE, 42])]);
 * const rest = await awaitSelection({ readable }, new AbortController().signal);
 * if ((await new Response(rest).bytes()).join() !== "42") throw new Error("Lost the data");
 * ```
 */
export async function awaitSelection(
  secure: { readonly readable: ReadableStream<Uint8Array> },
  signal: AbortSignal,
  selectByte: number = SELECT_BYTE,
): Promise<ReadableStream<Uint8Array>> {
  const reader = secure.readable.getReader();
  const onAbort = (): void => void reader.cancel(signal.reason).catch(() => {});
  signal.addEventListener("abort", onAbort, { once: true });
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (signal.aborted) throw signal.reason;
      if (done) throw new HandshakeError("The peer closed this connection (it picked another)");
      if (value.length === 0) continue;
      if (value[0] !== selectByte) {
        throw new HandshakeError("The peer sent an unexpected selection byte");
      }
      return prependStream(value.subarray(1), reader);
    }
  } finally {
    signal.removeEventListener("abort", onAbort);
  }
}

/**
 * Authenticate `transport` and agree on it: resolves only if this connection is the one both
 * peers keep. `claim` is the path's own claim (e.g. `punchTcp`'s), checked after the arbiter.
 *
 * @example
 * ```ts ignore
 * const { secure, readable } = await secureAndSelect(conn, ctx, () => true);
 * ```
 */
export async function secureAndSelect(
  transport: Duplex,
  ctx: PathContext,
  claim: () => boolean = () => true,
): Promise<{ secure: SecureConnection; readable: ReadableStream<Uint8Array> }> {
  const { signal } = ctx;
  const timeoutMs = ctx.handshakeTimeoutMs;
  const token = {};
  const win = (): boolean => {
    if (!ctx.arbiter.claim(token)) return false;
    if (claim()) return true;
    ctx.arbiter.release(token);
    return false;
  };
  if (ctx.mode === "gday") {
    const authed = await gdayAuthenticate(transport, gdayPassword(ctx.gdaySecret), {
      signal,
      timeoutMs,
    });
    const secure = await authed.encrypt({ signal, timeoutMs });
    if (!win()) {
      await secure.close();
      throw new Error("Another connection won");
    }
    return { secure, readable: secure.readable };
  }
  const secure = await handshake(transport, ctx.secret, {
    context: ctx.context,
    signal,
    timeoutMs,
  });
  try {
    if (ctx.create) {
      if (!win()) throw new Error("Another connection won");
      const writer = secure.writable.getWriter();
      try {
        await writer.write(new Uint8Array([SELECT_BYTE]));
      } catch (error) {
        ctx.arbiter.release(token);
        throw error;
      } finally {
        writer.releaseLock();
      }
      return { secure, readable: secure.readable };
    }
    const readable = await awaitSelection(secure, signal);
    if (!win()) throw new Error("Another connection won");
    return { secure, readable };
  } catch (error) {
    await secure.close().catch(() => {});
    throw error;
  }
}

/** Options for {@linkcode udpPath}. */
export interface UdpPathOptions {
  /** Local addresses (the ports used toward the server). */
  locals: readonly SocketAddr[];
  /** The peer's candidate addresses. */
  remotes: readonly SocketAddr[];
  /** Punch deadline. */
  timeoutMs: number;
  /** Birthday probing for easy↔hard NAT pairs (decided while probing). */
  birthday?: Promise<BirthdayOptions | null>;
}

/**
 * Direct UDP: punch (`punch/udp.ts`), open QUIC on the punched port (`net/quic.ts`), then
 * authenticate and agree inside it.
 *
 * @example
 * ```ts ignore
 * const established = await udpPath(ctx, { locals, remotes, timeoutMs: 10_000 });
 * ```
 */
export async function udpPath(ctx: PathContext, options: UdpPathOptions): Promise<Established> {
  const stretched = await ctx.stretched;
  const key = udpProbeKey(stretched, ctx.context);
  const path = await punchUdp({
    locals: options.locals,
    remotes: options.remotes,
    key,
    role: ctx.create ? "creator" : "joiner",
    timeoutMs: options.timeoutMs,
    birthday: options.birthday,
    signal: ctx.signal,
  });
  const certificate = quicCertificateFromSecret(stretched, ctx.context);
  let stream: QuicStream;
  if (ctx.create) {
    stream = await quicAccept({
      local: path.local,
      certificate,
      expect: path.remote,
      signal: ctx.signal,
    });
  } else {
    stream = await quicConnect({
      local: path.local,
      remote: path.remote,
      certificate,
      signal: ctx.signal,
    });
  }
  try {
    const { secure, readable } = await secureAndSelect(stream, ctx);
    return {
      secure,
      readable,
      path: "direct-udp",
      remoteAddr: stream.remoteAddr,
      localAddr: stream.localAddr,
      closeTransport: () => stream.close(),
    };
  } catch (error) {
    stream.abort();
    throw error;
  }
}
