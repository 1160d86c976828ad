/**
 * What a server service sees of a client connection. Services handle connections; the server
 * owns the listeners, the connection limits and shutdown.
 *
 * @module
 */

import type { SocketAddr } from "../protocol/socket_addr.ts";

/** One accepted client connection, as a service handles it. */
export interface ServiceConnection {
  /** Unique per server, for logs and state ownership. */
  readonly id: number;
  /** The socket (plain TCP or TLS). The service may read and write it; the server closes it. */
  readonly conn: Deno.Conn;
  /** The client's address as observed, IPv4-mapped addresses turned into IPv4. */
  readonly remote: SocketAddr;
  /** How the client connected. */
  readonly transport: "tcp" | "tls";
  /** Aborts when the server shuts down. */
  readonly signal: AbortSignal;
}

/** Handles one connection until it should be closed; the server closes the socket afterwards. */
export type ServiceHandler = (connection: ServiceConnection) => Promise<void>;
