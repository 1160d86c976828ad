/**
 * Open TCP (and TLS) connections from a chosen local port, so the port can be used again for
 * hole punching. `Deno.connect` cannot bind a local port; `node:net` `connect({ localAddress,
 * localPort })` can (and sets `SO_REUSEADDR`).
 *
 * @module
 */

import net from "node:net";
import tls from "node:tls";
import { ConnectError } from "./errors.ts";
import type { Duplex } from "./duplex.ts";
import { socketStreams } from "./node_socket.ts";
import { formatSocketAddr, type SocketAddr, toSocketAddr } from "../protocol/socket_addr.ts";

/** TLS settings for a client connection. */
export interface ClientTlsOptions {
  /** The name the certificate must carry (SNI). @default {the hostname dialled} */
  serverName?: string;
  /** Extra trusted CA certificates (PEM), e.g. a test server's self-signed certificate. */
  caCerts?: string[];
  /** Accept any certificate. Only for self-signed test servers: this gives up server authentication. */
  insecure?: boolean;
}

/** Options for {@linkcode connectTcp}. */
export interface TcpConnectOptions {
  /** The IP address or name to dial. */
  hostname: string;
  /** The port to dial. */
  port: number;
  /** Local address to bind, e.g. `"0.0.0.0"` or `"::"`. */
  localAddress?: string;
  /** Local port to bind (reusable later with `SO_REUSEADDR`); 0 or absent lets the OS choose. */
  localPort?: number;
  /** Wrap the connection in TLS. */
  tls?: ClientTlsOptions | null;
  /** Give up when this aborts. */
  signal?: AbortSignal;
  /** Give up after this many milliseconds. @default {5000} */
  timeoutMs?: number;
}

/** An open TCP (or TLS over TCP) connection. */
export interface TcpConnection extends Duplex, Disposable {
  /** The local end, as the socket reports it. */
  readonly localAddr: SocketAddr;
  /** The remote end. */
  readonly remoteAddr: SocketAddr;
  /** Close both directions at once (safe to call twice). */
  close(): void;
}

function addrOf(ip: string | undefined, port: number | undefined, what: string): SocketAddr {
  const addr = ip === undefined || port === undefined ? null : toSocketAddr(ip, port);
  if (addr === null) throw new Error(`Socket reported no valid ${what} address (${ip}:${port})`);
  return addr;
}

/**
 * Wrap an already connected `node:net` socket (TLS or not) as a {@linkcode TcpConnection}.
 * `raw` is the TCP socket under a TLS one (the same socket without TLS).
 *
 * @example
 * ```ts
 * import net from "node:net";
 * import { fromNodeSocket } from "./tcp.ts";
 * using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * const socket = net.connect({ host: "127.0.0.1", port: listener.addr.port, allowHalfOpen: true });
 * await new Promise((r) => socket.once("connect", r));
 * using conn = fromNodeSocket(socket);
 * (await listener.accept()).close();
 * if (conn.remoteAddr.port !== listener.addr.port) throw new Error("Wrong remote");
 * ```
 */
export function fromNodeSocket(socket: net.Socket, raw: net.Socket = socket): TcpConnection {
  const localAddr = addrOf(raw.localAddress, raw.localPort, "local");
  const remoteAddr = addrOf(raw.remoteAddress, raw.remotePort, "remote");
  const { readable, writable } = socketStreams(socket);
  const close = (): void => {
    socket.destroy();
    raw.destroy();
  };
  return { readable, writable, localAddr, remoteAddr, close, [Symbol.dispose]: close };
}

/**
 * Connect over TCP (optionally TLS), optionally from a chosen local address and port.
 *
 * @throws {ConnectError} when the connection cannot be opened in time (or `signal` aborts).
 *
 * @example Dial a local listener from a chosen port
 * ```ts
 * import { connectTcp } from "./tcp.ts";
 * using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * using conn = await connectTcp({ hostname: "127.0.0.1", port: listener.addr.port, localAddress: "127.0.0.1" });
 * using accepted = await listener.accept();
 * if ((accepted.remoteAddr as Deno.NetAddr).port !== conn.localAddr.port) throw new Error("Ports differ");
 * ```
 */
export function connectTcp(options: TcpConnectOptions): Promise<TcpConnection> {
  const { hostname, port, localAddress, localPort, signal, timeoutMs = 5000 } = options;
  const target = formatSocketAddr(
    toSocketAddr(hostname, port) ?? { family: "v4", ip: hostname, port },
  );
  if (signal?.aborted) {
    return Promise.reject(new ConnectError(target, "cancelled", { cause: signal.reason }));
  }
  return new Promise<TcpConnection>((resolve, reject) => {
    const raw = net.connect({
      host: hostname,
      port,
      ...(localAddress !== undefined ? { localAddress } : {}),
      ...(localPort ? { localPort } : {}),
      allowHalfOpen: true,
      noDelay: true,
    });
    let socket: net.Socket = raw;
    let settled = false;
    const timer = setTimeout(() => fail("timed out after " + timeoutMs + " ms"), timeoutMs);
    const onAbort = (): void => fail("cancelled", signal?.reason);
    signal?.addEventListener("abort", onAbort, { once: true });
    function cleanup(): void {
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      raw.off("error", onError);
      socket.off("error", onError);
    }
    function fail(reason: string, cause?: unknown): void {
      if (settled) return;
      cleanup();
      socket.destroy();
      raw.destroy();
      reject(new ConnectError(target, reason, { cause }));
    }
    function onError(error: Error & { code?: string }): void {
      fail(
        error.code === "ECONNREFUSED"
          ? "connection refused (is the server running?)"
          : error.message,
        error,
      );
    }
    function ready(): void {
      if (settled) return;
      try {
        const conn = fromNodeSocket(socket, raw);
        cleanup();
        resolve(conn);
      } catch (error) {
        fail((error as Error).message, error);
      }
    }
    raw.on("error", onError);
    raw.once("connect", () => {
      if (settled) return;
      if (!options.tls) return ready();
      const t = options.tls;
      socket = tls.connect({
        socket: raw,
        host: hostname,
        servername: t.serverName ?? (toSocketAddr(hostname, 0) ? undefined : hostname),
        ca: t.caCerts && t.caCerts.length > 0 ? [...tls.rootCertificates, ...t.caCerts] : undefined,
        rejectUnauthorized: !t.insecure,
        allowHalfOpen: true,
      } as tls.ConnectionOptions);
      socket.on("error", onError);
      socket.once("secureConnect", ready);
    });
  });
}
