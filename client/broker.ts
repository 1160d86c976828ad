/**
 * The connection broker's client, following the p2prs twelve-step keep-alive flow (spec:
 * p2prs.md §2; wire format and the steps: `protocol/broker.ts`).
 *
 * - **Receiver**: {@linkcode listenBroker} registers a UID, sends a keep-alive every 30 s,
 *   notices a dead broker (no answer for 65 s) and reconnects with backoff, and yields each
 *   incoming connection (`for await (const conn of receiver)`).
 * - **Sender**: {@linkcode dialBroker} connects to a UID.
 *
 * Both resolve with a {@linkcode BrokerConnection}: plain TCP straight between the peers, with
 * `via` saying how it formed: `"twelve-step"` (the p2prs flow: the receiver prepared its NAT with
 * an aborted SYN and listens; the sender connects from its original port) or
 * `"simultaneous-open"` (the fallback when step 12 fails, e.g. because the receiver's NAT tracks
 * TCP sequence numbers, or a sender without NAT answered the step-6 SYN with a RST that erased
 * the receiver's mapping). For an authenticated, encrypted pipe run the PAKE `handshake` of
 * `secure/` over it with a code both people know.
 *
 * Errors are {@linkcode BrokerError}s, one class per case: {@linkcode UnknownUidError},
 * {@linkcode ReceiverBusyError}, {@linkcode ReceiverGoneError}, {@linkcode SenderGoneError},
 * {@linkcode BrokerStepTimeoutError}, {@linkcode UidHeldError}, {@linkcode UidReplacedError},
 * {@linkcode BrokerVersionMismatchError}, {@linkcode BrokerUnreachableError},
 * {@linkcode BrokerRefusedError}; and `NoDirectPathError` when even the fallback fails.
 *
 * @example A receiver and a sender on a local broker
 * ```ts
 * import { dialBroker, listenBroker } from "./broker.ts";
 * import { BrokerService } from "../server/services/broker.ts";
 * import { startServer } from "../server/server.ts";
 * import { silentLogger } from "../server/logger.ts";
 * const broker = new BrokerService({ port: 0 });
 * await using server = await startServer({
 *   hostname: "127.0.0.1", gdayPort: null, logger: silentLogger, services: [broker.factory],
 * });
 * const address = `127.0.0.1:${server.listeners[0]!.addr.port}`;
 * await using receiver = await listenBroker({ server: address, uid: "carol" });
 * const [out, incoming] = await Promise.all([dialBroker({ server: address, uid: "carol" }), receiver.accept()]);
 * const writer = out.writable.getWriter();
 * await writer.write(new TextEncoder().encode("ping"));
 * await writer.close();
 * if ((await new Response(incoming.readable).text()) !== "ping") throw new Error("Lost bytes");
 * out.close();
 * incoming.close();
 * ```
 *
 * @module
 */
export * from "./broker_errors.ts";
export type { BrokerConnection } from "./broker_link.ts";
export * from "./broker_receiver.ts";
export * from "./broker_sender.ts";
