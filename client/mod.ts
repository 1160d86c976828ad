/**
 * The contact-exchange client: {@linkcode exchangeContacts} does the whole gday 0.1.1 exchange in
 * one call; {@linkcode openRoomSession} drives it step by step. Room codes for people are in
 * {@linkcode formatRoomCode} / {@linkcode parseRoomCode}.
 *
 * @example
 * ```ts
 * import { formatRoomCode, parseRoomCode } from "./mod.ts";
 * if (parseRoomCode(formatRoomCode(42n)) !== 42n) throw new Error("No round trip");
 * ```
 *
 * @module
 */
export * from "./errors.ts";
export * from "./exchange.ts";
export * from "./room_code.ts";
export * from "./server_address.ts";
export * from "../protocol/gday.ts";
export * from "../protocol/socket_addr.ts";
export type { ClientTlsOptions, TcpConnection } from "../net/tcp.ts";
export type { Duplex } from "../net/duplex.ts";
export * from "./introducer.ts";
export * from "./nat.ts";
export * from "./peer_code.ts";
export * from "./connect.ts";
export * from "../net/udp_endpoint.ts";
export * from "./chat.ts";
export * from "./chat_parts.ts";
export * from "./chat_secure.ts";
export * from "./path_stats.ts";
export * from "./paths.ts";
export * from "./stretch.ts";
export * from "../punch/mod.ts";
