/**
 * The peerlink server: owns the listeners, the connection limits, the shared state and shutdown,
 * and hands each accepted connection to its service.
 *
 * @module
 */

import {
  DEFAULT_GDAY_TCP_PORT,
  DEFAULT_GDAY_TLS_PORT,
  MAX_GDAY_MESSAGE_BYTES,
} from "../protocol/gday.ts";
import { formatSocketAddr, type SocketAddr, toSocketAddr } from "../protocol/socket_addr.ts";
import { ConnectionLimiter, RateLimiter } from "./limits.ts";
import { createLogger, type Logger } from "./logger.ts";
import { MemoryRoomStore, type RoomStore } from "./rooms.ts";
import type { ServiceConnection, ServiceHandler } from "./service.ts";
import { createGdayService } from "./services/gday.ts";
import { Counters } from "./stats.ts";
import { encodeServerFrame } from "../protocol/gday.ts";
import { writeAll } from "../net/write.ts";

/** Limits a server enforces; each is a command-line flag of `server.ts`. */
export interface ServerLimits {
  /** A room's lifetime from its creation, in ms (gday: 600 s). */
  roomTtlMs: number;
  /** Requests per client per minute; 0 turns the limit off (gday counts 60). */
  requestsPerMinute: number;
  /** Rooms held at most. */
  maxRooms: number;
  /** Open connections in all. */
  maxConnections: number;
  /** Open connections per client (IPv4 address or IPv6 /64). */
  maxConnectionsPerIp: number;
  /** Largest frame body accepted, in bytes. */
  maxFrameBytes: number;
  /** Close a connection that sends nothing for this long, in ms. */
  idleTimeoutMs: number;
}

/** The limits used when none are given. */
export const DEFAULT_LIMITS: Readonly<ServerLimits> = Object.freeze({
  roomTtlMs: 600_000,
  requestsPerMinute: 60,
  maxRooms: 100_000,
  maxConnections: 10_000,
  maxConnectionsPerIp: 100,
  maxFrameBytes: MAX_GDAY_MESSAGE_BYTES,
  idleTimeoutMs: 60_000,
});

/** TLS certificate and key, PEM text. */
export interface TlsOptions {
  /** The certificate chain, PEM. */
  cert: string;
  /** The private key, PEM. */
  key: string;
}

/** Options for {@linkcode startServer}. */
export interface ServerOptions {
  /**
   * The address to listen on. The default `"::"` takes IPv6 and IPv4 (dual stack); when the host
   * has no IPv6 it falls back to `"0.0.0.0"`.
   * @default {"::"}
   */
  hostname?: string;
  /** Plain-TCP gday port (0 lets the OS choose); `null` turns it off. @default {2310} */
  gdayPort?: number | null;
  /** TLS gday port (0 lets the OS choose); used only with `tls`. @default {2311} */
  gdayTlsPort?: number | null;
  /** Certificate and key for the TLS listeners; without them there is no TLS listener. */
  tls?: TlsOptions | null;
  /** Limits; missing fields take {@linkcode DEFAULT_LIMITS}. */
  limits?: Partial<ServerLimits>;
  /** Where log lines go. @default {a text logger on stderr} */
  logger?: Logger;
  /** Where rooms live. @default {a MemoryRoomStore} */
  rooms?: RoomStore;
}

/** One listening socket. */
export interface ListenerInfo {
  /** The service behind it, e.g. `"gday"`. */
  service: string;
  /** `"tcp"` or `"tls"`. */
  transport: "tcp" | "tls";
  /** The bound address (with the real port when 0 was asked for). */
  addr: SocketAddr;
}

/** A running server. */
export interface PeerlinkServer extends AsyncDisposable {
  /** Every listener, in the order they were opened. */
  readonly listeners: readonly ListenerInfo[];
  /** Counters (connections, requests, errors by kind, rate-limited requests, ...). */
  readonly counters: Counters;
  /** The room store. */
  readonly rooms: RoomStore;
  /** Open client connections now. */
  readonly openConnections: number;
  /** Stop accepting, close every connection and timer; resolves when all is closed. */
  close(): Promise<void>;
}

function listen(hostname: string, port: number, tls: TlsOptions | null): Deno.Listener {
  const open = (host: string): Deno.Listener =>
    tls
      ? Deno.listenTls({ hostname: host, port, cert: tls.cert, key: tls.key })
      : Deno.listen({ hostname: host, port });
  try {
    return open(hostname);
  } catch (error) {
    // No IPv6 on this host: take IPv4 only.
    if (hostname === "::" && !(error instanceof Deno.errors.AddrInUse)) return open("0.0.0.0");
    throw error;
  }
}

/**
 * Start a server: listeners for each enabled service, sharing limits, state and logger.
 *
 * @example Start on free ports and stop
 * ```ts
 * import { startServer } from "./server.ts";
 * import { silentLogger } from "./logger.ts";
 * await using server = await startServer({ hostname: "127.0.0.1", gdayPort: 0, logger: silentLogger });
 * if (server.listeners[0]?.service !== "gday" || server.listeners[0].addr.port === 0) throw new Error("Not listening");
 * ```
 */
// deno-lint-ignore require-await -- async on purpose: shared stores (issue 9) open connections here
export async function startServer(options: ServerOptions = {}): Promise<PeerlinkServer> {
  const limits: ServerLimits = { ...DEFAULT_LIMITS, ...options.limits };
  const logger = options.logger ?? createLogger();
  const hostname = options.hostname ?? "::";
  const tls = options.tls ?? null;
  const counters = new Counters();
  const rooms = options.rooms ??
    new MemoryRoomStore({
      ttlMs: limits.roomTtlMs,
      maxRooms: limits.maxRooms,
      onEvent: (event) => {
        counters.inc("gday_rooms", event.kind);
        logger.log("info", `room_${event.kind}`, { room: event.roomId });
      },
    });
  const rateLimiter = new RateLimiter({ limit: limits.requestsPerMinute });
  const connectionLimiter = new ConnectionLimiter({
    maxTotal: limits.maxConnections,
    maxPerIp: limits.maxConnectionsPerIp,
  });
  const shutdown = new AbortController();
  const gday = createGdayService({
    rooms,
    rateLimiter,
    maxFrameBytes: limits.maxFrameBytes,
    idleTimeoutMs: limits.idleTimeoutMs,
    logger,
    counters,
  });

  const plan: { service: string; handler: ServiceHandler; port: number; tls: TlsOptions | null }[] =
    [];
  const gdayPort = options.gdayPort === undefined ? DEFAULT_GDAY_TCP_PORT : options.gdayPort;
  const gdayTlsPort = options.gdayTlsPort === undefined
    ? DEFAULT_GDAY_TLS_PORT
    : options.gdayTlsPort;
  if (gdayPort !== null) plan.push({ service: "gday", handler: gday, port: gdayPort, tls: null });
  if (gdayTlsPort !== null && tls) {
    plan.push({ service: "gday", handler: gday, port: gdayTlsPort, tls });
  }

  const listeners: { listener: Deno.Listener; info: ListenerInfo; handler: ServiceHandler }[] = [];
  const open = new Map<number, Deno.Conn>();
  const handlers = new Set<Promise<void>>();
  let nextId = 1;
  const sweeper = setInterval(() => rateLimiter.sweep(), 60_000);

  const closeConn = (conn: Deno.Conn): void => {
    try {
      conn.close();
    } catch { /* already closed */ }
  };

  const serve = async (
    conn: Deno.Conn,
    info: ListenerInfo,
    handler: ServiceHandler,
  ): Promise<void> => {
    const id = nextId++;
    const netAddr = conn.remoteAddr as Deno.NetAddr;
    const remote = toSocketAddr(netAddr.hostname, netAddr.port) ??
      { family: "v4" as const, ip: "0.0.0.0", port: 0 };
    const release = connectionLimiter.acquire(remote.ip);
    if (release === null) {
      counters.inc("connections_refused");
      logger.log("warn", "connection_refused", {
        service: info.service,
        ip: remote.ip,
        reason: "limit",
      });
      await Promise.race([
        writeAll(conn, encodeServerFrame({ type: "ErrorTooManyRequests" })).catch(() => {}),
        new Promise((r) => setTimeout(r, 1000)),
      ]);
      closeConn(conn);
      return;
    }
    open.set(id, conn);
    counters.inc("connections", info.service);
    try {
      if (info.transport === "tcp") (conn as Deno.TcpConn).setNoDelay?.(true);
      const connection: ServiceConnection = {
        id,
        conn,
        remote,
        transport: info.transport,
        signal: shutdown.signal,
      };
      await handler(connection);
    } catch (error) {
      logger.log("error", "handler_failed", {
        service: info.service,
        conn: id,
        error: String(error),
      });
    } finally {
      open.delete(id);
      release();
      closeConn(conn);
    }
  };

  const acceptLoop = async (
    listener: Deno.Listener,
    info: ListenerInfo,
    handler: ServiceHandler,
  ): Promise<void> => {
    for (;;) {
      let conn: Deno.Conn;
      try {
        conn = await listener.accept();
      } catch (error) {
        if (shutdown.signal.aborted || error instanceof Deno.errors.BadResource) return;
        logger.log("warn", "accept_failed", { service: info.service, error: String(error) });
        continue;
      }
      const task = serve(conn, info, handler);
      handlers.add(task);
      task.finally(() => handlers.delete(task));
    }
  };

  try {
    for (const item of plan) {
      const listener = listen(hostname, item.port, item.tls);
      const addr = listener.addr as Deno.NetAddr;
      const info: ListenerInfo = {
        service: item.service,
        transport: item.tls ? "tls" : "tcp",
        addr: toSocketAddr(addr.hostname, addr.port)!,
      };
      listeners.push({ listener, info, handler: item.handler });
    }
  } catch (error) {
    for (const { listener } of listeners) listener.close();
    clearInterval(sweeper);
    rooms.close();
    throw error;
  }
  for (const { info } of listeners) {
    logger.log("info", "listening", {
      service: info.service,
      transport: info.transport,
      addr: formatSocketAddr(info.addr),
    });
  }
  const loops = listeners.map(({ listener, info, handler }) => acceptLoop(listener, info, handler));

  let closing: Promise<void> | null = null;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      shutdown.abort(new Error("Server shutting down"));
      for (const { listener } of listeners) {
        try {
          listener.close();
        } catch { /* already closed */ }
      }
      clearInterval(sweeper);
      rooms.close();
      await Promise.all(loops);
      for (const conn of open.values()) closeConn(conn);
      await Promise.allSettled([...handlers]);
      logger.log("info", "stopped", { connections: counters.get("connections", "gday") });
    })();
    return closing;
  };

  return {
    listeners: listeners.map((l) => l.info),
    counters,
    rooms,
    get openConnections() {
      return open.size;
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}
