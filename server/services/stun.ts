/**
 * The STUN service: answers Binding requests over UDP (RFC 8489) with the client's public address,
 * and the change requests of RFC 5780 that let a client tell how its NAT maps and filters.
 *
 * It listens on two ports of the server's address (3478 and 3479 by default). A success response
 * carries XOR-MAPPED-ADDRESS, MAPPED-ADDRESS (for old clients), RESPONSE-ORIGIN, OTHER-ADDRESS,
 * SOFTWARE and FINGERPRINT. A CHANGE-REQUEST with change-port is answered from the other port's
 * socket. Change-IP needs a second address of the machine (`altHost`); without one the answer
 * comes from the same IP, and OTHER-ADDRESS says so by carrying that same IP. RFC 5780 §6 wants
 * such a server to refuse CHANGE-REQUEST (420) and leave OTHER-ADDRESS out; peerlink answers
 * instead, so that the change-port (filtering) test works with one address, and its client never
 * asks for change-IP unless OTHER-ADDRESS names a different IP.
 *
 * RFC 3489 clients (no magic cookie, such as Debian's `stun`) get MAPPED-ADDRESS, SOURCE-ADDRESS
 * and CHANGED-ADDRESS (RFC 8489 §12). RESPONSE-PORT and PADDING (RFC 5780 §7.5, §7.6) are honoured;
 * PADDING is never longer than the request's, so a reply is at most a little larger than its
 * request. Unknown comprehension-required attributes get a 420 with UNKNOWN-ATTRIBUTES, other
 * methods a 400.
 *
 * A server bound to a wildcard address (`::`, `0.0.0.0`) does not know which of its addresses a
 * datagram reached, so RESPONSE-ORIGIN and OTHER-ADDRESS then carry the unspecified address of the
 * client's family (`0.0.0.0:3478`) with the right port: "the address you sent to". Bind the server
 * to one address when the machine has several, so replies leave from the address asked.
 *
 * Malformed datagrams, responses, indications and datagrams over the per-client rate limit are
 * dropped without an answer and counted (`stun_dropped{<reason>}`, `stun_rate_limited`); nothing
 * a client sends stops the service. The limit is the service's own (`requestsPerMinute`), not the
 * server's shared one, because UDP source addresses can be forged: a forged flood must not eat a
 * victim's gday allowance.
 *
 * @module
 */

import {
  decodeStunMessage,
  DEFAULT_STUN_ALT_PORT,
  DEFAULT_STUN_PORT,
  encodeStunMessage,
  getStunAttribute,
  isComprehensionRequired,
  MAX_STUN_BYTES,
  MAX_STUN_TEXT_BYTES,
  STUN_ERROR_REASONS,
  STUN_HEADER_BYTES,
  STUN_METHOD_BINDING,
  STUN_RFC3489_TRANSACTION_ID_BYTES,
  type StunAttribute,
  StunError,
  type StunMessage,
} from "../../protocol/stun.ts";
import {
  formatSocketAddr,
  parseIpv4,
  parseIpv6,
  type SocketAddr,
  toSocketAddr,
} from "../../protocol/socket_addr.ts";
import { RateLimiter } from "../limits.ts";
import type { ListenerInfo, ServiceFactory } from "../plugin.ts";

/** The default rate limit of the STUN service: requests per minute per client IP (or IPv6 /64). */
export const DEFAULT_STUN_REQUESTS_PER_MINUTE = 600;

/** The SOFTWARE attribute the service sends by default. */
export const DEFAULT_STUN_SOFTWARE = "peerlink";

/** How often the service forgets ended rate-limit windows, in ms. */
const SWEEP_INTERVAL_MS = 60_000;

/** Receive errors in a row (not caused by closing) after which a socket's loop gives up. */
const MAX_RECEIVE_FAILURES = 100;

/** Options for {@linkcode stunPlugin}. */
export interface StunServiceOptions {
  /** The primary UDP port; 0 lets the OS choose. @default {3478} */
  port?: number;
  /** The second UDP port, for change-port answers; 0 lets the OS choose. @default {3479} */
  altPort?: number;
  /**
   * A second IP address of this machine, for change-IP answers (RFC 5780). The service opens two
   * more sockets on it, at `port` and `altPort`, which must then be fixed (not 0). The server
   * must listen on one address (not `::` or `0.0.0.0`) of the same family, or its sockets would
   * overlap these. `null`: answer change-IP from the same IP. @default {null}
   */
  altHost?: string | null;
  /** Requests per minute per client IP (IPv6: per /64); 0 turns the limit off. @default {600} */
  requestsPerMinute?: number;
  /** The SOFTWARE attribute of responses; `null` leaves it out. @default {"peerlink"} */
  software?: string | null;
}

/** Where the service listens, as {@linkcode answerStunDatagram} needs to know it. */
export interface StunLayout {
  /** The primary IP as bound; may be unspecified (`::` or `0.0.0.0`). */
  host: string;
  /** The alternate IP, or `null` when the service has only one. */
  altHost: string | null;
  /** The primary and the alternate port. */
  ports: readonly [number, number];
}

/** One of the service's sockets: primary (0) or alternate (1) IP, primary (0) or alternate (1) port. */
export interface StunSocketRole {
  /** 0 for the primary IP, 1 for the alternate IP. */
  ip: 0 | 1;
  /** 0 for the primary port, 1 for the alternate port. */
  port: 0 | 1;
}

/** What to do with a datagram: send `bytes` from socket `via` to the client's IP at `port`. */
export interface StunReply {
  /** Always `"reply"`. */
  kind: "reply";
  /** The encoded response. */
  bytes: Uint8Array;
  /** The socket to send it from (change requests pick another one). */
  via: StunSocketRole;
  /** The destination port: the client's, or RESPONSE-PORT's. */
  port: number;
  /** The response's class, for counters. */
  class: "success" | "error";
}

/** Drop a datagram without an answer; `reason` names a counter label. */
export interface StunDrop {
  /** Always `"drop"`. */
  kind: "drop";
  /** Why, e.g. `"bad-fingerprint"` or `"not-request"`. */
  reason: string;
}

/** Options for {@linkcode answerStunDatagram}. */
export interface StunAnswerOptions {
  /** The SOFTWARE attribute; `null` leaves it out. @default {"peerlink"} */
  software?: string | null;
}

function isUnspecified(ip: string): boolean {
  return ip === "::" || ip === "0.0.0.0";
}

/** The transport address of socket `role`, shown in the client's family. */
function endpoint(layout: StunLayout, role: StunSocketRole, family: "v4" | "v6"): SocketAddr {
  const ip = role.ip === 1 && layout.altHost !== null ? layout.altHost : layout.host;
  const port = layout.ports[role.port];
  const addr = isUnspecified(ip) ? null : toSocketAddr(ip, port);
  if (addr !== null) return addr;
  return family === "v4"
    ? { family: "v4", ip: "0.0.0.0", port }
    : { family: "v6", ip: "::", port, scopeId: 0 };
}

/**
 * Decide the answer to one datagram that reached socket `arrival` from `client` (IPv4-mapped
 * addresses already turned into IPv4). Pure: no sockets, no clock. Never throws on bad input.
 *
 * @example A Binding request gets the client's address back
 * ```ts
 * import { answerStunDatagram } from "./stun.ts";
 * import { decodeStunMessage, encodeStunMessage, getStunAttribute } from "../../protocol/stun.ts";
 * const request = encodeStunMessage({ class: "request", method: 1, transactionId: new Uint8Array(12), attributes: [] });
 * const client = { family: "v4", ip: "203.0.113.9", port: 40000 } as const;
 * const answer = answerStunDatagram(request, client, { ip: 0, port: 0 }, { host: "192.0.2.1", altHost: null, ports: [3478, 3479] });
 * if (answer.kind !== "reply") throw new Error("Dropped");
 * const mapped = getStunAttribute(decodeStunMessage(answer.bytes), "XOR-MAPPED-ADDRESS");
 * if (mapped?.address.port !== 40000) throw new Error("Wrong address");
 * ```
 */
export function answerStunDatagram(
  datagram: Uint8Array,
  client: SocketAddr,
  arrival: StunSocketRole,
  layout: StunLayout,
  options: StunAnswerOptions = {},
): StunReply | StunDrop {
  const software = options.software === undefined ? DEFAULT_STUN_SOFTWARE : options.software;
  let request: StunMessage;
  try {
    request = decodeStunMessage(datagram, { allowRfc3489: true });
  } catch (error) {
    if (error instanceof StunError) return { kind: "drop", reason: error.kind };
    return { kind: "drop", reason: "malformed" };
  }
  if (request.class !== "request") return { kind: "drop", reason: "not-request" };
  const classic = request.transactionId.length === STUN_RFC3489_TRANSACTION_ID_BYTES;
  const trailer = (): StunAttribute[] =>
    software === null || classic ? [] : [{ type: "SOFTWARE", text: software }];
  const encode = (message: StunMessage): Uint8Array | null => {
    try {
      return encodeStunMessage(message);
    } catch {
      return null;
    }
  };
  const fail = (code: number, extra: StunAttribute[] = []): StunReply | StunDrop => {
    const bytes = encode({
      class: "error",
      method: request.method,
      transactionId: request.transactionId,
      attributes: [
        { type: "ERROR-CODE", code, reason: STUN_ERROR_REASONS[code] ?? "Error" },
        ...extra,
        ...trailer(),
      ],
      fingerprint: !classic,
    });
    return bytes === null
      ? { kind: "drop", reason: "unencodable" }
      : { kind: "reply", bytes, via: arrival, port: client.port, class: "error" };
  };

  // RFC 8489 §6.3.1: only Binding is served; unknown comprehension-required attributes get 420.
  if (request.method !== STUN_METHOD_BINDING) return fail(400);
  const unknown = [
    ...new Set(
      request.attributes
        .filter((a) => a.type === "raw" && isComprehensionRequired(a.code))
        .map((a) => (a as { code: number }).code),
    ),
  ];
  if (unknown.length > 0) return fail(420, [{ type: "UNKNOWN-ATTRIBUTES", types: unknown }]);

  // RFC 5780 §6.1: RESPONSE-PORT with PADDING is a 400; port 0 cannot be answered.
  const change = getStunAttribute(request, "CHANGE-REQUEST");
  const responsePort = getStunAttribute(request, "RESPONSE-PORT");
  const padding = getStunAttribute(request, "PADDING");
  if (responsePort !== undefined && (padding !== undefined || responsePort.port === 0)) {
    return fail(400);
  }

  // RFC 5780 §6.1, Table 1: the source of the answer, and the other address to advertise.
  const altIp = layout.altHost !== null;
  const via: StunSocketRole = {
    ip: change?.changeIp && altIp ? (1 - arrival.ip) as 0 | 1 : arrival.ip,
    port: change?.changePort ? (1 - arrival.port) as 0 | 1 : arrival.port,
  };
  const other: StunSocketRole = {
    ip: altIp ? (1 - arrival.ip) as 0 | 1 : arrival.ip,
    port: (1 - arrival.port) as 0 | 1,
  };
  const origin = endpoint(layout, via, client.family);
  const otherAddress = endpoint(layout, other, client.family);
  const attributes: StunAttribute[] = classic
    ? [
      { type: "MAPPED-ADDRESS", address: client },
      { type: "SOURCE-ADDRESS", address: origin },
      { type: "CHANGED-ADDRESS", address: otherAddress },
    ]
    : [
      { type: "XOR-MAPPED-ADDRESS", address: client },
      { type: "MAPPED-ADDRESS", address: client },
      { type: "RESPONSE-ORIGIN", address: origin },
      { type: "OTHER-ADDRESS", address: otherAddress },
      ...trailer(),
    ];
  const response: StunMessage = {
    class: "success",
    method: request.method,
    transactionId: request.transactionId,
    attributes,
    fingerprint: !classic,
  };
  if (padding !== undefined) {
    // Never more padding than the request carried, and never past MAX_STUN_BYTES.
    const size = encode(response)?.length ?? MAX_STUN_BYTES;
    const room = Math.max(0, MAX_STUN_BYTES - size - 4) & ~3;
    attributes.push({ type: "PADDING", length: Math.min(padding.length, room) });
  }
  const bytes = encode(response);
  if (bytes === null) return { kind: "drop", reason: "unencodable" };
  return { kind: "reply", bytes, via, port: responsePort?.port ?? client.port, class: "success" };
}

interface Slot {
  socket: Deno.DatagramConn;
  addr: SocketAddr;
}

function checkPort(name: string, port: number): void {
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new RangeError(`STUN ${name} is ${port}, it must be a port from 0 to 65535`);
  }
}

/**
 * The STUN service as a server plugin: two UDP listeners (`port`, `altPort`) on the server's
 * address, and with `altHost` two more sockets of its own on that address.
 *
 * @example Answer a Binding request on loopback
 * ```ts
 * import { stunPlugin } from "./stun.ts";
 * import { startServer } from "../server.ts";
 * import { silentLogger } from "../logger.ts";
 * import { decodeStunMessage, encodeStunMessage, getStunAttribute } from "../../protocol/stun.ts";
 * await using server = await startServer({
 *   hostname: "127.0.0.1",
 *   gdayPort: null,
 *   logger: silentLogger,
 *   services: [stunPlugin({ port: 0, altPort: 0 })],
 * });
 * const port = server.listeners[0]!.addr.port;
 * const client = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
 * try {
 *   const request = encodeStunMessage({ class: "request", method: 1, transactionId: new Uint8Array(12), attributes: [] });
 *   await client.send(request, { transport: "udp", hostname: "127.0.0.1", port });
 *   const [reply] = await client.receive();
 *   const mapped = getStunAttribute(decodeStunMessage(reply), "XOR-MAPPED-ADDRESS");
 *   if (mapped?.address.port !== (client.addr as Deno.NetAddr).port) throw new Error("Wrong address");
 * } finally {
 *   client.close();
 * }
 * ```
 */
export function stunPlugin(options: StunServiceOptions = {}): ServiceFactory {
  const port = options.port ?? DEFAULT_STUN_PORT;
  const altPort = options.altPort ?? DEFAULT_STUN_ALT_PORT;
  const altHost = options.altHost ?? null;
  const software = options.software === undefined ? DEFAULT_STUN_SOFTWARE : options.software;
  const requestsPerMinute = options.requestsPerMinute ?? DEFAULT_STUN_REQUESTS_PER_MINUTE;
  checkPort("port", port);
  checkPort("altPort", altPort);
  if (port === altPort && port !== 0) {
    throw new RangeError(`STUN port and altPort are both ${port}, they must differ`);
  }
  if (altHost !== null) {
    if ((parseIpv4(altHost) === null && parseIpv6(altHost) === null) || isUnspecified(altHost)) {
      throw new RangeError(
        `STUN altHost is "${altHost}", it must be one IP address of this machine`,
      );
    }
    if (port === 0 || altPort === 0) {
      throw new RangeError("STUN altHost needs fixed ports: port and altPort cannot be 0");
    }
  }
  if (software !== null && new TextEncoder().encode(software).length > MAX_STUN_TEXT_BYTES) {
    throw new RangeError(`STUN software is longer than ${MAX_STUN_TEXT_BYTES} bytes`);
  }
  // Validates the limit (a RangeError names it) before anything opens.
  new RateLimiter({ limit: requestsPerMinute });

  return (ctx) => {
    const limiter = new RateLimiter({ limit: requestsPerMinute });
    const slots: (Slot | undefined)[][] = [[undefined, undefined], [undefined, undefined]];
    const altSockets: Deno.DatagramConn[] = [];
    const loops = new Set<Promise<void>>();
    let closing = false;
    let arrivals = 0;
    let altStarted = false;

    if (altHost !== null) {
      try {
        for (const [i, p] of [port, altPort].entries()) {
          const socket = Deno.listenDatagram({ transport: "udp", hostname: altHost, port: p });
          altSockets.push(socket);
          const addr = socket.addr as Deno.NetAddr;
          slots[1]![i] = { socket, addr: toSocketAddr(addr.hostname, addr.port)! };
        }
      } catch (error) {
        for (const socket of altSockets) socket.close();
        throw error;
      }
    }
    const sweeper = setInterval(() => limiter.sweep(), SWEEP_INTERVAL_MS);

    const layout = (): StunLayout | null => {
      const primary = slots[0]![0];
      const alternate = slots[0]![1];
      if (primary === undefined || alternate === undefined) return null;
      return {
        host: primary.addr.ip,
        altHost: slots[1]![0] === undefined ? null : altHost,
        ports: [primary.addr.port, alternate.addr.port],
      };
    };

    const drop = (reason: string): void => ctx.counters.inc("stun_dropped", reason);

    const handle = async (
      data: Uint8Array,
      from: Deno.NetAddr,
      arrival: StunSocketRole,
    ): Promise<void> => {
      const client = toSocketAddr(from.hostname, from.port);
      if (client === null) return drop("bad-source");
      if (data.length > MAX_STUN_BYTES) return drop("too-large");
      if (data.length < STUN_HEADER_BYTES) return drop("truncated");
      if (!limiter.take(client.ip)) {
        ctx.counters.inc("stun_rate_limited");
        return;
      }
      const where = layout();
      if (where === null) return drop("not-ready");
      const answer = answerStunDatagram(data, client, arrival, where, { software });
      if (answer.kind === "drop") return drop(answer.reason);
      const slot = slots[answer.via.ip]![answer.via.port];
      if (slot === undefined) return drop("not-ready");
      ctx.counters.inc("stun_requests", answer.class === "success" ? "binding" : "error");
      try {
        await slot.socket.send(answer.bytes, { ...from, port: answer.port });
      } catch {
        ctx.counters.inc("stun_send_failed");
      }
    };

    const serve = async (socket: Deno.DatagramConn, arrival: StunSocketRole): Promise<void> => {
      const buffer = new Uint8Array(MAX_STUN_BYTES + 1);
      let failures = 0;
      for (;;) {
        let data: Uint8Array;
        let from: Deno.Addr;
        try {
          [data, from] = await socket.receive(buffer);
        } catch (error) {
          if (closing || ctx.signal.aborted || error instanceof Deno.errors.BadResource) return;
          ctx.counters.inc("stun_receive_failed");
          if (++failures >= MAX_RECEIVE_FAILURES) throw error;
          continue;
        }
        failures = 0;
        try {
          await handle(data, from as Deno.NetAddr, arrival);
        } catch (error) {
          // A bug must not stop the service: count it, log it, serve the next datagram.
          ctx.counters.inc("stun_internal_errors");
          ctx.logger.log("error", "stun_failed", { error: String(error) });
        }
      }
    };

    const track = (loop: Promise<void>): Promise<void> => {
      loops.add(loop);
      return loop.finally(() => loops.delete(loop));
    };

    const portRole = (info: ListenerInfo): 0 | 1 => {
      // The server starts listeners in the order asked, so arrival order decides when both are 0.
      const byOrder = (arrivals++ === 0 ? 0 : 1) as 0 | 1;
      if (port !== 0 && info.addr.port === port) return 0;
      if (altPort !== 0 && info.addr.port === altPort) return 1;
      return byOrder;
    };

    return {
      name: "stun",
      listeners: [{ transport: "udp", port }, { transport: "udp", port: altPort }],
      serveDatagrams(socket: Deno.DatagramConn, info: ListenerInfo): Promise<void> {
        const role = portRole(info);
        const addr = socket.addr as Deno.NetAddr;
        slots[0]![role] = { socket, addr: toSocketAddr(addr.hostname, addr.port) ?? info.addr };
        if (!altStarted && altSockets.length > 0) {
          altStarted = true;
          altSockets.forEach((alt, i) => {
            const slotAddr = slots[1]![i]!.addr;
            ctx.logger.log("info", "listening", {
              service: "stun",
              transport: "udp",
              addr: formatSocketAddr(slotAddr),
            });
            track(
              serve(alt, { ip: 1, port: i as 0 | 1 }).catch((error) => {
                if (!closing) {
                  ctx.logger.log("error", "datagram_service_failed", {
                    service: "stun",
                    error: String(error),
                  });
                }
              }),
            );
          });
        }
        return track(serve(socket, { ip: 0, port: role }));
      },
      async close(): Promise<void> {
        closing = true;
        clearInterval(sweeper);
        for (const socket of altSockets) {
          try {
            socket.close();
          } catch { /* already closed */ }
        }
        await Promise.allSettled([...loops]);
      },
    };
  };
}
