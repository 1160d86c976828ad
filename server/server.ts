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
import { formatSocketAddr, toSocketAddr } from "../protocol/socket_addr.ts";
import { ConnectionLimiter, RateLimiter } from "./limits.ts";
import { createLogger, type Logger, newRequestId, withRequestId } from "./logger.ts";
import { MemoryRoomStore, type RoomEvent, type RoomStore } from "./rooms.ts";
import type { RedisConnection } from "./redis/connection.ts";
import { RedisRoomStore } from "./redis/rooms.ts";
import type { ServiceConnection, ServiceHandler } from "./service.ts";
import type {
  ListenerInfo,
  ListenerRequest,
  ServerLimits,
  ServiceContext,
  ServiceFactory,
  ServicePlugin,
} from "./plugin.ts";
import { createGdayService } from "./services/gday.ts";
import { Counters, Gauges } from "./stats.ts";
import { ReadinessChecks } from "./health.ts";
import { encodeServerFrame } from "../protocol/gday.ts";
import { writeAll } from "../net/write.ts";
import { deadline } from "../async/deadline.ts";

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
  /** Where rooms live. @default {a RedisRoomStore with `redis`, else a MemoryRoomStore} */
  rooms?: RoomStore;
  /**
   * Shared state for several server processes (made with `connectRedis` from
   * `server/redis/connection.ts`): rooms, broker registrations, mediator waiting lists and chat
   * names then live in Redis. The caller closes it after the server. @default {null: in memory}
   */
  redis?: RedisConnection | null;
  /** More services (broker, mediator, ...), each with its own listeners. */
  services?: readonly ServiceFactory[];
}

/** A running server. */
export interface PeerlinkServer extends AsyncDisposable {
  /** Every listener, in the order they were opened. */
  readonly listeners: readonly ListenerInfo[];
  /** Counters (connections, requests, errors by kind, rate-limited requests, ...). */
  readonly counters: Counters;
  /** Gauges (open connections per service, rooms, table sizes), read by `/metrics`. */
  readonly gauges: Gauges;
  /**
   * What `/readyz` checks: `listeners` (every listener bound, not shutting down) and, with
   * `redis`, `redis` (connected); add your own with `readiness.add(name, check)`.
   */
  readonly readiness: ReadinessChecks;
  /** The room store. */
  readonly rooms: RoomStore;
  /** The shared-state connection given in the options, or `null` (see `redis.ready`). */
  readonly redis: RedisConnection | null;
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

/** An open listener and the plugin behind it. */
type Opened =
  | { kind: "stream"; listener: Deno.Listener; info: ListenerInfo; plugin: ServicePlugin }
  | { kind: "datagram"; socket: Deno.DatagramConn; info: ListenerInfo; plugin: ServicePlugin };

function listenDatagram(hostname: string, port: number): Deno.DatagramConn {
  const open = (host: string): Deno.DatagramConn =>
    Deno.listenDatagram({ transport: "udp", hostname: host, port });
  try {
    return open(hostname);
  } catch (error) {
    if (hostname === "::" && !(error instanceof Deno.errors.AddrInUse)) return open("0.0.0.0");
    throw error;
  }
}

/**
 * The gday contact-exchange service as a plugin (built in; see `startServer`'s gday options).
 *
 * @example
 * ```ts
 * import { gdayPlugin, MemoryRoomStore } from "./mod.ts";
 * const rooms = new MemoryRoomStore();
 * const factory = gdayPlugin({ rooms, port: 0, tlsPort: null });
 * if (typeof factory !== "function") throw new Error("No factory");
 * rooms.close();
 * ```
 */
export function gdayPlugin(
  options: { rooms: RoomStore; port: number | null; tlsPort: number | null },
): ServiceFactory {
  return (ctx) => {
    const listeners: ListenerRequest[] = [];
    if (options.port !== null) listeners.push({ transport: "tcp", port: options.port });
    if (options.tlsPort !== null) listeners.push({ transport: "tls", port: options.tlsPort });
    return {
      name: "gday",
      listeners,
      handleConnection: createGdayService({
        rooms: options.rooms,
        rateLimiter: ctx.rateLimiter,
        maxFrameBytes: ctx.limits.maxFrameBytes,
        idleTimeoutMs: ctx.limits.idleTimeoutMs,
        logger: ctx.logger,
        counters: ctx.counters,
      }),
      close: () => options.rooms.close(),
    };
  };
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
export async function startServer(options: ServerOptions = {}): Promise<PeerlinkServer> {
  const limits: ServerLimits = { ...DEFAULT_LIMITS, ...options.limits };
  const logger = options.logger ?? createLogger();
  const hostname = options.hostname ?? "::";
  const tls = options.tls ?? null;
  const counters = new Counters();
  const gauges = new Gauges();
  const readiness = new ReadinessChecks();
  const redis = options.redis ?? null;
  const roomOptions = {
    ttlMs: limits.roomTtlMs,
    maxRooms: limits.maxRooms,
    onEvent: (event: RoomEvent) => {
      counters.inc("gday_rooms", event.kind);
      logger.log("info", `room_${event.kind}`, { room: event.roomId });
    },
  };
  const rooms = options.rooms ??
    (redis ? new RedisRoomStore({ redis, ...roomOptions }) : new MemoryRoomStore(roomOptions));
  const rateLimiter = new RateLimiter({ limit: limits.requestsPerMinute });
  const connectionLimiter = new ConnectionLimiter({
    maxTotal: limits.maxConnections,
    maxPerIp: limits.maxConnectionsPerIp,
  });
  const shutdown = new AbortController();
  const context: ServiceContext = {
    logger,
    counters,
    gauges,
    readiness,
    limits,
    rateLimiter,
    signal: shutdown.signal,
    redis,
  };

  const factories: ServiceFactory[] = [];
  const gdayPort = options.gdayPort === undefined ? DEFAULT_GDAY_TCP_PORT : options.gdayPort;
  const gdayTlsPort = options.gdayTlsPort === undefined
    ? DEFAULT_GDAY_TLS_PORT
    : options.gdayTlsPort;
  if (gdayPort !== null || (gdayTlsPort !== null && tls)) {
    factories.push(gdayPlugin({ rooms, port: gdayPort, tlsPort: tls ? gdayTlsPort : null }));
  }
  factories.push(...(options.services ?? []));

  const plugins: ServicePlugin[] = [];
  const opened: Opened[] = [];
  const open = new Map<number, Deno.Conn>();
  const handlers = new Set<Promise<void>>();
  let nextId = 1;
  /** Open connections per service, for the `connections_open` gauges. */
  const openByService = new Map<string, number>();
  const countOpen = (service: string, by: number): void => {
    openByService.set(service, (openByService.get(service) ?? 0) + by);
  };
  let serving = false;
  readiness.add("listeners", () => serving && !shutdown.signal.aborted);
  // The shared store must be reachable for this process to serve (see server/redis/).
  if (redis !== null) readiness.add("redis", () => redis.ready);
  gauges.add("rooms", undefined, () => rooms.size);
  gauges.add("rate_limit_clients", undefined, () => rateLimiter.size);
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
      counters.inc("connections_refused", info.service);
      logger.log("warn", "connection_refused", {
        service: info.service,
        ip: remote.ip,
        reason: "limit",
      });
      if (info.service === "gday") {
        // At most a second for the reply: a client that reads nothing must not stall this.
        await deadline(writeAll(conn, encodeServerFrame({ type: "ErrorTooManyRequests" })), 1000)
          .catch(() => {});
      }
      closeConn(conn);
      return;
    }
    open.set(id, conn);
    counters.inc("connections", info.service);
    countOpen(info.service, 1);
    try {
      if (info.transport === "tcp") (conn as Deno.TcpConn).setNoDelay?.(true);
      const connection: ServiceConnection = {
        id,
        conn,
        remote,
        transport: info.transport === "tls" ? "tls" : "tcp",
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
      countOpen(info.service, -1);
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
      // Each connection is one request scope: its log lines carry the same request_id.
      const task = withRequestId(newRequestId(), () => serve(conn, info, handler));
      handlers.add(task);
      task.finally(() => handlers.delete(task));
    }
  };

  const closeAll = async (): Promise<void> => {
    for (const item of opened) {
      try {
        if (item.kind === "stream") item.listener.close();
        else item.socket.close();
      } catch { /* already closed */ }
    }
    clearInterval(sweeper);
    for (const plugin of plugins) {
      try {
        await plugin.close?.();
      } catch (error) {
        logger.log("error", "service_close_failed", { service: plugin.name, error: String(error) });
      }
    }
    rooms.close();
  };

  try {
    for (const factory of factories) plugins.push(await factory(context));
    for (const plugin of plugins) {
      for (const request of plugin.listeners) {
        if (request.transport === "tls" && !tls) continue;
        if (request.transport === "udp") {
          if (!plugin.serveDatagrams) {
            throw new Error(`Service ${plugin.name} asked for UDP but serves no datagrams`);
          }
          const socket = listenDatagram(hostname, request.port);
          const addr = socket.addr as Deno.NetAddr;
          opened.push({
            kind: "datagram",
            socket,
            plugin,
            info: {
              service: plugin.name,
              transport: "udp",
              addr: toSocketAddr(addr.hostname, addr.port)!,
            },
          });
        } else {
          if (!plugin.handleConnection) {
            throw new Error(`Service ${plugin.name} asked for TCP but handles no connections`);
          }
          const listener = listen(hostname, request.port, request.transport === "tls" ? tls : null);
          const addr = listener.addr as Deno.NetAddr;
          opened.push({
            kind: "stream",
            listener,
            plugin,
            info: {
              service: plugin.name,
              transport: request.transport,
              addr: toSocketAddr(addr.hostname, addr.port)!,
            },
          });
        }
      }
    }
  } catch (error) {
    shutdown.abort(error);
    await closeAll();
    throw error;
  }
  for (const { info } of opened) {
    logger.log("info", "listening", {
      service: info.service,
      transport: info.transport,
      addr: formatSocketAddr(info.addr),
    });
  }
  const loops = opened.map((item) =>
    item.kind === "stream"
      ? acceptLoop(item.listener, item.info, item.plugin.handleConnection!)
      : item.plugin.serveDatagrams!(item.socket, item.info).catch((error) => {
        if (!shutdown.signal.aborted) {
          logger.log("error", "datagram_service_failed", {
            service: item.info.service,
            error: String(error),
          });
        }
      })
  );
  for (
    const service of new Set(opened.filter((o) => o.kind === "stream").map((o) => o.info.service))
  ) {
    gauges.add("connections_open", service, () => openByService.get(service) ?? 0);
  }
  serving = true;

  let closing: Promise<void> | null = null;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      shutdown.abort(new Error("Server shutting down"));
      await closeAll();
      await Promise.all(loops);
      for (const conn of open.values()) closeConn(conn);
      await Promise.allSettled([...handlers]);
      logger.log("info", "stopped", { connections: counters.get("connections", "gday") });
    })();
    return closing;
  };

  return {
    listeners: opened.map((l) => l.info),
    counters,
    gauges,
    readiness,
    rooms,
    redis,
    get openConnections() {
      return open.size;
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}
