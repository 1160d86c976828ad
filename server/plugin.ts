/**
 * How a service plugs into the server. The server owns listeners (TCP, TLS, UDP), connection
 * limits, logging, counters and shutdown; a service says which listeners it wants and handles
 * what arrives on them. Services never listen themselves.
 *
 * @module
 */

import type { SocketAddr } from "../protocol/socket_addr.ts";
import type { RateLimiter } from "./limits.ts";
import type { Logger } from "./logger.ts";
import type { RedisConnection } from "./redis/connection.ts";
import type { ServiceHandler } from "./service.ts";
import type { Counters, Gauges } from "./stats.ts";
import type { ReadinessChecks } from "./health.ts";

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

/** What every service gets from the server. */
export interface ServiceContext {
  /** Where log lines go. Never log secrets (codes, keys, PAKE messages). */
  readonly logger: Logger;
  /** Counters shared by every service (name them `<service>_<what>`). */
  readonly counters: Counters;
  /**
   * Gauges read at each `/metrics` scrape: register a reader for the sizes of your tables
   * (`<service>_<what>`, e.g. `broker_receivers`); see `metrics.ts` for the exported names.
   */
  readonly gauges: Gauges;
  /** Checks `/readyz` runs: add one for anything the service needs to serve (e.g. a store). */
  readonly readiness: ReadinessChecks;
  /** The server's limits. */
  readonly limits: Readonly<ServerLimits>;
  /** Per-client request counter shared by every service. */
  readonly rateLimiter: RateLimiter;
  /** Aborts when the server shuts down. */
  readonly signal: AbortSignal;
  /**
   * Shared state for several server processes (`server.ts --redis`), or `null` when state is
   * kept in this process. Services that keep state pick their Redis store when it is set; its
   * `ready` getter and `onReadyChange` tell whether the server can serve (for `/readyz`).
   */
  readonly redis: RedisConnection | null;
}

/** A listener a service asks for. */
export interface ListenerRequest {
  /** `"tcp"`, `"tls"` (needs the server's certificate) or `"udp"`. */
  transport: "tcp" | "tls" | "udp";
  /** The port; 0 lets the OS choose. */
  port: number;
}

/** One listening socket. */
export interface ListenerInfo {
  /** The service behind it, e.g. `"gday"`. */
  service: string;
  /** `"tcp"`, `"tls"` or `"udp"`. */
  transport: "tcp" | "tls" | "udp";
  /** The bound address (with the real port when 0 was asked for). */
  addr: SocketAddr;
}

/** A service, as the server runs it. */
export interface ServicePlugin {
  /** The service's name in logs and listener lines, e.g. `"broker"`. */
  readonly name: string;
  /** The listeners it needs. TLS listeners are skipped when the server has no certificate. */
  readonly listeners: readonly ListenerRequest[];
  /** Handles each accepted TCP or TLS connection; the server closes the socket afterwards. */
  readonly handleConnection?: ServiceHandler;
  /**
   * Serves a UDP socket until it is closed (the server closes it on shutdown). Must never throw
   * on bad input: drop and count it.
   */
  readonly serveDatagrams?: (socket: Deno.DatagramConn, listener: ListenerInfo) => Promise<void>;
  /** Release state and timers at shutdown, after the listeners have closed. */
  readonly close?: () => void | Promise<void>;
}

/** Makes a service for a server; called once when the server starts. */
export type ServiceFactory = (context: ServiceContext) => ServicePlugin | Promise<ServicePlugin>;
