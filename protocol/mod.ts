/**
 * Wire formats, pure encode/decode with no I/O: the gday 0.1.1 contact exchange and Rust-style
 * socket addresses.
 *
 * @example
 * ```ts
 * import { decodeServerMsg, encodeServerMsg } from "./mod.ts";
 * if (decodeServerMsg(encodeServerMsg({ type: "RoomCreated" })).type !== "RoomCreated") throw new Error("No round trip");
 * ```
 *
 * @module
 */
export * from "./gday.ts";
export * from "./json.ts";
export * from "./socket_addr.ts";
export * from "./stun.ts";
export * from "./peer_punch.ts";
export * from "./p2psc.ts";
export * from "./mediator.ts";
export * from "./relay.ts";
export * from "./broker.ts";
export * from "./udp_probe.ts";
