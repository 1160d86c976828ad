/**
 * The peerlink server as a library: {@linkcode startServer} runs the gday contact-exchange service
 * (plain TCP and TLS) with limits, logs and graceful shutdown. `server.ts` is its command line.
 *
 * @example
 * ```ts
 * import { silentLogger, startServer } from "./mod.ts";
 * await using server = await startServer({ hostname: "127.0.0.1", gdayPort: 0, logger: silentLogger });
 * if (server.listeners.length !== 1) throw new Error("Expected one listener");
 * ```
 *
 * @module
 */
export * from "./limits.ts";
export * from "./logger.ts";
export * from "./rooms.ts";
export * from "./server.ts";
export * from "./service.ts";
export * from "./services/gday.ts";
export * from "./stats.ts";
export type { Contact, FullContact } from "../protocol/gday.ts";
export type { SocketAddr, SocketAddrV4, SocketAddrV6 } from "../protocol/socket_addr.ts";
export * from "./plugin.ts";
export * from "./services/chat.ts";
export * from "./services/stun.ts";
