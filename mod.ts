/**
 * peerlink: open a direct, authenticated, encrypted connection between two programs anywhere on
 * the internet, even behind NAT routers.
 *
 * This entry point gathers the library: the gday 0.1.1 contact-exchange protocol
 * ({@linkcode encodeClientMsg}, {@linkcode decodeServerMsg}, ...), its client
 * ({@linkcode exchangeContacts}) and its server ({@linkcode startServer}).
 *
 * @example Exchange contacts through a local server
 * ```ts
 * import { exchangeContacts, silentLogger, startServer } from "./mod.ts";
 * await using server = await startServer({ hostname: "127.0.0.1", gdayPort: 0, logger: silentLogger });
 * const port = server.listeners[0]!.addr.port;
 * const [creator, joiner] = await Promise.all([
 *   exchangeContacts({ server: `127.0.0.1:${port}`, create: true, roomCode: 4242n }),
 *   exchangeContacts({ server: `127.0.0.1:${port}`, create: false, roomCode: 4242n }),
 * ]);
 * if (creator.peer.public.v4?.port !== joiner.connections[0]!.conn.localAddr.port) throw new Error("Wrong contact");
 * creator.close();
 * joiner.close();
 * ```
 *
 * @module
 */
export * from "./protocol/mod.ts";
export * from "./framing/mod.ts";
export * from "./client/mod.ts";
export * from "./server/mod.ts";
export * from "./secure/mod.ts";
export * from "./client/introducer.ts";
export * from "./net/udp_endpoint.ts";
export * from "./server/services/chat.ts";
export * from "./client/nat.ts";
export * from "./server/services/stun.ts";
export * from "./client/identity.ts";
export * from "./client/mediator.ts";
export * from "./client/mediator_errors.ts";
export * from "./server/services/mediator.ts";
export * from "./client/relay.ts";
export * from "./net/websocket.ts";
export * from "./server/services/relay.ts";
export * from "./server/services/http.ts";
export * from "./transfer/mod.ts";
export * from "./client/broker.ts";
export * from "./server/services/broker.ts";
export * from "./protocol/chat_secure.ts";
