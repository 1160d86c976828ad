/**
 * Shared state on Redis for several server processes (`server.ts --redis URL`): open one
 * {@linkcode connectRedis} connection per process and give it to `startServer({ redis })`; the
 * gday rooms, broker registrations and requests, mediator waiting lists and chat names then live
 * in Redis (key layout in `keys.ts`), and events reach the process holding the other side over
 * pub/sub.
 *
 * @example
 * ```ts ignore
 * import { connectRedis } from "@peerlink/peerlink/server/redis";
 * import { startServer } from "@peerlink/peerlink/server";
 * await using redis = await connectRedis({ url: "redis://127.0.0.1:6379" });
 * await using server = await startServer({ redis });
 * console.log(redis.ready);
 * ```
 *
 * @module
 */
export * from "./connection.ts";
export * from "./keys.ts";
export * from "./rooms.ts";
export * from "./broker.ts";
export * from "./mediator.ts";
export * from "./chat.ts";
// The types these stores implement and take, for the documentation of this entry point.
export type {
  DoneResult,
  OwnerId,
  PeerFailure,
  PeerOutcome,
  Role,
  RoomEvent,
  RoomStore,
} from "../rooms.ts";
export type { Logger, LogLevel, LogValue } from "../logger.ts";
export type { SocketAddr, SocketAddrV4, SocketAddrV6 } from "../../protocol/socket_addr.ts";
export type { Contact, FullContact } from "../../protocol/gday.ts";
export { StateUnavailableError } from "../state_errors.ts";
export type { BrokerClaim, BrokerDirectory, BrokerHolder } from "../services/broker_directory.ts";
export type { ChatNameStore } from "../services/chat_names.ts";
export type { MediatorStore, RegisterResult, WaitOutcome } from "../services/mediator_registry.ts";
