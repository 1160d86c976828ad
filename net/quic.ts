/**
 * A reliable, ordered byte stream over a punched UDP path, from the runtime's QUIC
 * (`Deno.QuicEndpoint` / `Deno.connectQuic`, unstable net): after `punch/udp.ts` closes its
 * socket, the same local port is bound again by a QUIC endpoint, so the NAT mappings the probes
 * opened carry the QUIC packets. The creator listens, the joiner connects; both use the
 * certificate derived from the shared secret (`net/quic_cert.ts`). One bidirectional stream
 * carries everything; the peers' PAKE handshake runs inside it.
 *
 * Closing: a QUIC `CONNECTION_CLOSE` discards data not yet delivered, and the runtime does not
 * say when the peer has acknowledged a stream. So `close()` is a small goodbye: each side sends
 * `BYE` on a unidirectional stream when it closes, and waits (up to `lingerMs`) for the peer's
 * `BYE` or for the peer to close before closing the connection itself. A side closes only after
 * it has read what it wants, so the peer's `BYE` means our data has arrived.
 *
 * @module
 */

import { formatSocketAddr, type SocketAddr, toSocketAddr } from "../protocol/socket_addr.ts";
import type { Duplex } from "./duplex.ts";
import { QUIC_SERVER_NAME, type QuicCertificate } from "./quic_cert.ts";

/** The ALPN protocol peerlink's QUIC connections announce. */
export const QUIC_ALPN = "peerlink/1";

/** A QUIC stream to the peer. */
export interface QuicStream extends Duplex, AsyncDisposable {
  /** This side's address. */
  readonly localAddr: SocketAddr;
  /** The peer's address. */
  readonly remoteAddr: SocketAddr;
  /** Say goodbye, wait up to `lingerMs` (default 3000) for the peer's, then close everything. */
  close(lingerMs?: number): Promise<void>;
  /** Close at once (pending data may be lost). */
  abort(): void;
}

const BYE = new TextEncoder().encode("BYE");

/** Options for {@linkcode quicConnect} and {@linkcode quicAccept}. */
export interface QuicOptions {
  /** The local address and port to bind (the punched port). */
  local: SocketAddr;
  /** The certificate both peers derived. */
  certificate: QuicCertificate;
  /** Give up after this long. @default {5000} */
  timeoutMs?: number;
  /** Cancels. */
  signal?: AbortSignal;
}

const TRANSPORT = { keepAliveInterval: 10_000, maxIdleTimeout: 30_000 } as const;

function wrap(
  endpoint: Deno.QuicEndpoint,
  conn: Deno.QuicConn,
  stream: Deno.QuicBidirectionalStream,
): QuicStream {
  const local = endpoint.addr;
  const remote = conn.remoteAddr;
  let byeReceived!: () => void;
  const peerBye = new Promise<void>((resolve) => (byeReceived = resolve));
  // Watch for the peer's goodbye on unidirectional streams.
  (async () => {
    const streams = conn.incomingUnidirectionalStreams.getReader();
    for (;;) {
      const { value, done } = await streams.read();
      if (done) return;
      const bytes = await new Response(value).bytes().catch(() => new Uint8Array());
      if (bytes.length === BYE.length && bytes.every((b, i) => b === BYE[i])) byeReceived();
    }
  })().catch(() => {});
  const abort = (): void => {
    try {
      conn.close({ closeCode: 0, reason: "done" });
    } catch { /* closed */ }
    try {
      endpoint.close();
    } catch { /* closed */ }
  };
  let closing: Promise<void> | null = null;
  const close = (lingerMs = 3000): Promise<void> => {
    closing ??= (async () => {
      try {
        const uni = await conn.createUnidirectionalStream();
        const writer = uni.getWriter();
        await writer.write(BYE);
        await writer.close();
      } catch { /* the connection is gone already */ }
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        peerBye,
        conn.closed.catch(() => {}),
        new Promise<void>((resolve) => (timer = setTimeout(resolve, lingerMs))),
      ]);
      clearTimeout(timer);
      abort();
    })();
    return closing;
  };
  return {
    readable: stream.readable,
    writable: stream.writable,
    localAddr: toSocketAddr(local.hostname, local.port)!,
    remoteAddr: toSocketAddr(remote.hostname, remote.port)!,
    close,
    abort,
    [Symbol.asyncDispose]: () => close(),
  };
}

async function within<T>(
  work: (signal: AbortSignal) => Promise<T>,
  options: QuicOptions,
  cleanup: () => void,
): Promise<T> {
  const timeout = AbortSignal.timeout(options.timeoutMs ?? 5000);
  const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
  let onAbort!: () => void;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(signal.reason);
    if (signal.aborted) onAbort();
    else signal.addEventListener("abort", onAbort, { once: true });
  });
  try {
    return await Promise.race([work(signal), aborted]);
  } catch (error) {
    cleanup();
    throw error;
  } finally {
    signal.removeEventListener("abort", onAbort);
    aborted.catch(() => {});
  }
}

/**
 * Connect (the joiner) from `local` to `remote` and open the stream.
 *
 * @example
 * ```ts ignore
 * using stream = await quicConnect({ local, remote, certificate });
 * ```
 */
export function quicConnect(options: QuicOptions & { remote: SocketAddr }): Promise<QuicStream> {
  const endpoint = new Deno.QuicEndpoint({ hostname: options.local.ip, port: options.local.port });
  let conn: Deno.QuicConn | undefined;
  return within(
    async () => {
      conn = await Deno.connectQuic({
        hostname: options.remote.ip,
        port: options.remote.port,
        serverName: QUIC_SERVER_NAME,
        alpnProtocols: [QUIC_ALPN],
        caCerts: [options.certificate.cert],
        endpoint,
        ...TRANSPORT,
      });
      const stream = await conn.createBidirectionalStream();
      return wrap(endpoint, conn, stream);
    },
    options,
    () => {
      try {
        conn?.close();
      } catch { /* closed */ }
      endpoint.close();
    },
  );
}

/**
 * Listen (the creator) on `local`, accept one connection (from `expect` when given) and its
 * first stream. The peer's stream appears once it has written its first bytes.
 *
 * @example
 * ```ts ignore
 * using stream = await quicAccept({ local, certificate });
 * ```
 */
export function quicAccept(options: QuicOptions & { expect?: SocketAddr }): Promise<QuicStream> {
  const endpoint = new Deno.QuicEndpoint({ hostname: options.local.ip, port: options.local.port });
  const listener = endpoint.listen({
    cert: options.certificate.cert,
    key: options.certificate.key,
    alpnProtocols: [QUIC_ALPN],
    ...TRANSPORT,
  });
  let conn: Deno.QuicConn | undefined;
  // Stop taking connections without crashing the runtime: Deno 2.9's QUIC (quinn-proto 0.11)
  // panics when a packet arrives for a connection attempt still waiting in the listener's queue
  // after `listener.stop()`. So every attempt after the first is refused while the connection
  // lives; once the endpoint closes (new attempts are refused from then on) the queue is drained
  // and only then is the listener stopped.
  let refusing: Promise<void> | undefined;
  const refuseTheRest = (): Promise<void> =>
    refusing ??= (async () => {
      for (;;) {
        let incoming: Deno.QuicIncoming;
        try {
          incoming = await listener.incoming();
        } catch {
          break; // the endpoint closed and no attempt waits
        }
        try {
          incoming.refuse();
        } catch { /* already gone */ }
      }
      listener.stop();
    })();
  return within(
    async () => {
      for (;;) {
        const candidate = await listener.accept();
        const remote = candidate.remoteAddr;
        const from = toSocketAddr(remote.hostname, remote.port);
        if (options.expect && from && formatSocketAddr(from) !== formatSocketAddr(options.expect)) {
          candidate.close({ closeCode: 1, reason: "unexpected peer" });
          continue;
        }
        conn = candidate;
        break;
      }
      refuseTheRest();
      const reader = conn.incomingBidirectionalStreams.getReader();
      const { value, done } = await reader.read();
      reader.releaseLock();
      if (done || !value) {
        throw new Error(
          "The peer closed the QUIC connection before opening a stream",
        );
      }
      return wrap(endpoint, conn, value);
    },
    options,
    () => {
      try {
        conn?.close();
      } catch { /* closed */ }
      endpoint.close();
      refuseTheRest();
    },
  );
}
