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
export * from "./metrics.ts";
export * from "./health.ts";
export * from "./services/metrics.ts";
export * from "./services/http.ts";
export * from "./state_errors.ts";
export * from "./services/chat_names.ts";
export * from "./services/broker_directory.ts";
// Types only: the Redis client loads when `@peerlink/peerlink/server/redis` is imported.
export type {
  RedisCommands,
  RedisConnection,
  RedisConnectionOptions,
  RedisMessage,
  RedisMessageHandler,
} from "./redis/connection.ts";
export type { RedisKeys } from "./redis/keys.ts";
export type { RedisScript } from "./redis/script.ts";
