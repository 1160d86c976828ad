/**
 * The NAT report: ask a STUN server (peerlink's, or any RFC 5780 server) what this machine's
 * public addresses are and how its NAT maps and filters UDP, over IPv4 and IPv6, and say what
 * that means for direct connections.
 *
 * Per family, one local UDP socket runs these tests in order (RFC 5780 §4; each request is sent
 * up to `attempts` times, waiting `rtoMs`, then twice as long, ..., as RFC 8489 §6.2.1 does):
 *
 * 1. A Binding request to the server: the public address, and the server's OTHER-ADDRESS.
 * 2. Filtering, before anything is sent to the other address: with a second server IP, a request
 *    for an answer from the other IP and port, then (if none came) one from the other port; with
 *    one server IP only the latter. An answer that gets in tells how much the NAT lets in.
 * 3. Mapping: a request to the other endpoint (the other IP with a second server IP, else the
 *    other port). The same public address means endpoint-independent mapping; with a second IP a
 *    third request (other IP and port) tells address-dependent from address-and-port-dependent.
 *
 * "No NAT" means the public address is one of this machine's own (that needs `--allow-sys` for
 * `Deno.networkInterfaces()`; without it `nat` is `null`).
 *
 * @module
 */

import { resolveHost } from "../net/resolve.ts";
import { deadline, DeadlineError } from "../async/deadline.ts";
import {
  createStunTransactionId,
  decodeStunMessage,
  DEFAULT_STUN_PORT,
  encodeStunMessage,
  getStunAttribute,
  MAX_STUN_BYTES,
  STUN_METHOD_BINDING,
  type StunMessage,
} from "../protocol/stun.ts";
import { type SocketAddr, toSocketAddr } from "../protocol/socket_addr.ts";
import type { Family } from "./exchange.ts";
import { formatServerAddress, parseServerAddress, type ServerAddress } from "./server_address.ts";

/**
 * How a NAT maps one local address to public ones (RFC 4787 §4.1, RFC 5780 §4.3).
 * `"endpoint-independent"` is a "cone" NAT (or no NAT); the two dependent kinds are "symmetric".
 */
export type NatMapping =
  | "endpoint-independent"
  | "address-dependent"
  | "address-and-port-dependent"
  | "unknown";

/**
 * What a NAT or firewall lets in (RFC 4787 §5, RFC 5780 §4.4). With one server IP the test cannot
 * tell endpoint-independent from address-dependent filtering: that is
 * `"endpoint-independent-or-address-dependent"`.
 */
export type NatFiltering =
  | "endpoint-independent"
  | "address-dependent"
  | "endpoint-independent-or-address-dependent"
  | "address-and-port-dependent"
  | "unknown";

/**
 * What the report means for direct connections:
 * - `"no-nat"`: the public address is this machine's own;
 * - `"direct-likely"`: endpoint-independent mapping, hole punching works with most peers;
 * - `"relay-for-symmetric-peers"`: endpoint-dependent mapping; peers behind another symmetric NAT
 *   need a relay (or birthday probing);
 * - `"unknown"`: the server answered but cannot run the behaviour tests;
 * - `"no-answer"`: no STUN answer (UDP blocked, or no STUN service);
 * - `"not-tested"`: the family was not tried (no server address or no local socket of it).
 */
export type NatVerdict =
  | "no-nat"
  | "direct-likely"
  | "relay-for-symmetric-peers"
  | "unknown"
  | "no-answer"
  | "not-tested";

/** What one IP family's tests found. */
export interface NatFamilyReport {
  /** The IP family. */
  readonly family: Family;
  /** The server endpoint asked first, or `null` when the family was not tested. */
  readonly server: SocketAddr | null;
  /** The local socket's address (its IP is the wildcard it was bound to). */
  readonly local: SocketAddr | null;
  /** The public address the server saw first (XOR-MAPPED-ADDRESS), or `null` without an answer. */
  readonly public: SocketAddr | null;
  /** The public address the last mapping test saw (from the server's other endpoint). */
  readonly publicAlt: SocketAddr | null;
  /** Whether the address is translated; `null` when this machine's addresses are unknown. */
  readonly nat: boolean | null;
  /** The mapping behaviour. */
  readonly mapping: NatMapping;
  /** The filtering behaviour. */
  readonly filtering: NatFiltering;
  /** The server's OTHER-ADDRESS, or `null` when it sent none. */
  readonly otherAddress: SocketAddr | null;
  /** Whether the server has a second IP, so that the full RFC 5780 tests ran. */
  readonly changeIp: boolean;
  /** The server's SOFTWARE, or `null`. */
  readonly software: string | null;
  /** What it means. */
  readonly verdict: NatVerdict;
  /** What it means, in plain words. */
  readonly summary: string;
  /** Why the family has no answer, or `null`. */
  readonly error: string | null;
}

/** The whole report. */
export interface NatReport {
  /** The server as asked, `host:port`. */
  readonly server: string;
  /** IPv4, or `null` when not asked for. */
  readonly v4: NatFamilyReport | null;
  /** IPv6, or `null` when not asked for. */
  readonly v6: NatFamilyReport | null;
  /** The best verdict over both families. */
  readonly verdict: NatVerdict;
  /** The best family's summary, naming the family. */
  readonly summary: string;
}

/** Options for {@linkcode natReport}. */
export interface NatReportOptions {
  /** The STUN server, `host[:port]` or an address. @default {"localhost:3478"} */
  server?: string | ServerAddress;
  /** The families to test. @default {["v4", "v6"]} */
  families?: readonly Family[];
  /** Sends of each request before giving up on an answer (RFC 8489 §6.2.1 has 7). @default {3} */
  attempts?: number;
  /** The first retransmission timeout in ms, doubled after each send (RFC 8489: 500). @default {500} */
  rtoMs?: number;
  /** The local UDP port of each family's socket; 0 lets the OS choose. @default {0} */
  localPort?: number;
  /** Cancels the tests: the sockets are closed and the promise rejects with the reason. */
  signal?: AbortSignal;
}

/** A response and where it came from. */
interface Received {
  message: StunMessage;
  from: Deno.NetAddr;
}

/** One UDP socket that sends Binding requests and matches answers by transaction id. */
class StunSocket {
  readonly #socket: Deno.DatagramConn;
  readonly #waiters = new Map<string, (received: Received) => void>();
  readonly #loop: Promise<void>;
  #closed = false;

  constructor(socket: Deno.DatagramConn) {
    this.#socket = socket;
    this.#loop = this.#receive();
  }

  get port(): number {
    return (this.#socket.addr as Deno.NetAddr).port;
  }

  get addr(): Deno.NetAddr {
    return this.#socket.addr as Deno.NetAddr;
  }

  async #receive(): Promise<void> {
    const buffer = new Uint8Array(MAX_STUN_BYTES + 1);
    for (;;) {
      let data: Uint8Array;
      let from: Deno.Addr;
      try {
        [data, from] = await this.#socket.receive(buffer);
      } catch {
        // Closed, or broken: requests still waiting simply time out.
        return;
      }
      let message: StunMessage;
      try {
        message = decodeStunMessage(data);
      } catch {
        continue;
      }
      if (message.class !== "success" && message.class !== "error") continue;
      this.#waiters.get(message.transactionId.toHex())?.({ message, from: from as Deno.NetAddr });
    }
  }

  /** Send a Binding request (retransmitting) and resolve with the answer, or `null`. */
  async request(
    to: { hostname: string; port: number },
    change: { changeIp: boolean; changePort: boolean } | null,
    options: { attempts: number; rtoMs: number; signal?: AbortSignal },
  ): Promise<Received | null> {
    const transactionId = createStunTransactionId();
    const bytes = encodeStunMessage({
      class: "request",
      method: STUN_METHOD_BINDING,
      transactionId,
      attributes: change === null ? [] : [{ type: "CHANGE-REQUEST", ...change }],
      fingerprint: true,
    });
    const answered = Promise.withResolvers<Received>();
    const key = transactionId.toHex();
    this.#waiters.set(key, answered.resolve);
    try {
      let wait = options.rtoMs;
      for (let attempt = 0; attempt < options.attempts; attempt++) {
        options.signal?.throwIfAborted();
        await this.#socket.send(bytes, { transport: "udp", ...to });
        try {
          return await deadline(answered.promise, wait, { signal: options.signal });
        } catch (error) {
          if (!(error instanceof DeadlineError)) throw error;
        }
        wait *= 2;
      }
      return null;
    } finally {
      this.#waiters.delete(key);
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#socket.close();
    } catch { /* already closed */ }
    await this.#loop;
  }
}

const FAMILY_LABEL: Readonly<Record<Family, string>> = { v4: "IPv4", v6: "IPv6" };

const VERDICT_RANK: readonly NatVerdict[] = [
  "no-nat",
  "direct-likely",
  "relay-for-symmetric-peers",
  "unknown",
  "no-answer",
  "not-tested",
];

function isUnspecified(ip: string): boolean {
  return ip === "::" || ip === "0.0.0.0";
}

function sameAddr(a: SocketAddr | null, b: SocketAddr | null): boolean {
  return a !== null && b !== null && a.ip === b.ip && a.port === b.port;
}

function mappedOf(received: Received | null): SocketAddr | null {
  if (received === null || received.message.class !== "success") return null;
  const xor = getStunAttribute(received.message, "XOR-MAPPED-ADDRESS");
  const plain = getStunAttribute(received.message, "MAPPED-ADDRESS");
  const addr = xor?.address ?? plain?.address;
  return addr === undefined ? null : toSocketAddr(addr.ip, addr.port);
}

function localIps(family: Family): Set<string> | null {
  try {
    const wanted = family === "v4" ? "IPv4" : "IPv6";
    const ips = new Set<string>();
    for (const item of Deno.networkInterfaces()) {
      if (item.family !== wanted) continue;
      const addr = toSocketAddr(item.address, 0);
      if (addr !== null) ips.add(addr.ip);
    }
    return ips;
  } catch {
    return null;
  }
}

function summarize(
  family: Family,
  verdict: NatVerdict,
  filtering: NatFiltering,
  error: string | null,
): string {
  switch (verdict) {
    case "no-nat":
      return filtering === "address-and-port-dependent"
        ? "No NAT, but a firewall drops unsolicited packets: direct connections work when both " +
          "sides send first (hole punching)"
        : "No NAT: this address is public, peers can reach it directly";
    case "direct-likely":
      return "Cone NAT (the same public address for every destination): direct connections are " +
        "likely, by hole punching";
    case "relay-for-symmetric-peers":
      return "Symmetric NAT (a new public port for each destination): direct connections work " +
        "with peers without NAT or behind cone NATs; a peer behind another symmetric NAT needs a " +
        "relay";
    case "unknown":
      return "The server answered but cannot test NAT behaviour (it sends no usable " +
        "OTHER-ADDRESS), so the kind of NAT is unknown";
    case "no-answer":
      return `No STUN answer over ${FAMILY_LABEL[family]}: ${
        error ?? "UDP is blocked on the way, or the server runs no STUN service"
      }`;
    case "not-tested":
      return `${FAMILY_LABEL[family]} not tested: ${error ?? "not asked for"}`;
  }
}

function report(
  family: Family,
  fields: Partial<Omit<NatFamilyReport, "family" | "verdict" | "summary">>,
  verdict: NatVerdict,
): NatFamilyReport {
  const filtering = fields.filtering ?? "unknown";
  const error = fields.error ?? null;
  return {
    family,
    server: fields.server ?? null,
    local: fields.local ?? null,
    public: fields.public ?? null,
    publicAlt: fields.publicAlt ?? null,
    nat: fields.nat ?? null,
    mapping: fields.mapping ?? "unknown",
    filtering,
    otherAddress: fields.otherAddress ?? null,
    changeIp: fields.changeIp ?? false,
    software: fields.software ?? null,
    verdict,
    summary: summarize(family, verdict, filtering, error),
    error,
  };
}

async function resolveServer(hostname: string, families: readonly Family[]): Promise<
  Map<Family, string>
> {
  const found = new Map<Family, string>();
  for (const { ip, family } of await resolveHost(hostname)) {
    if (families.includes(family) && !found.has(family)) found.set(family, ip);
  }
  return found;
}

async function probeFamily(
  family: Family,
  serverIp: string | undefined,
  port: number,
  options: { attempts: number; rtoMs: number; localPort: number; signal?: AbortSignal },
): Promise<NatFamilyReport> {
  if (serverIp === undefined) {
    return report(family, {
      error: `the server name has no ${FAMILY_LABEL[family]} address`,
    }, "not-tested");
  }
  const server = toSocketAddr(serverIp, port)!;
  let socket: Deno.DatagramConn;
  try {
    socket = Deno.listenDatagram({
      transport: "udp",
      hostname: family === "v4" ? "0.0.0.0" : "::",
      port: options.localPort,
    });
  } catch (error) {
    return report(family, {
      server,
      error: `cannot open a local ${FAMILY_LABEL[family]} UDP socket (${(error as Error).message})`,
    }, "not-tested");
  }
  const stun = new StunSocket(socket);
  try {
    const local = toSocketAddr(stun.addr.hostname, stun.addr.port);
    const ask = async (
      ip: string,
      toPort: number,
      change: { changeIp: boolean; changePort: boolean } | null = null,
    ): Promise<Received | null> => {
      try {
        return await stun.request({ hostname: ip, port: toPort }, change, options);
      } catch (error) {
        // A send that fails after test I (e.g. no route to the other IP) is a missing answer.
        if (options.signal?.aborted) throw error;
        return null;
      }
    };

    // Test I (RFC 5780 §4.3): the public address and the server's other endpoint.
    let first: Received | null;
    try {
      first = await stun.request({ hostname: server.ip, port }, null, options);
    } catch (error) {
      if (options.signal?.aborted) throw error;
      return report(family, {
        server,
        local,
        error: `cannot send to ${FAMILY_LABEL[family]} ${server.ip} (${(error as Error).message})`,
      }, "no-answer");
    }
    if (first === null) return report(family, { server, local }, "no-answer");
    if (first.message.class === "error") {
      const code = getStunAttribute(first.message, "ERROR-CODE");
      return report(family, {
        server,
        local,
        error: `the server refused the request (${code?.code ?? "?"} ${code?.reason ?? ""})`,
      }, "no-answer");
    }
    const software = getStunAttribute(first.message, "SOFTWARE")?.text ?? null;
    const mapped = mappedOf(first);
    if (mapped === null) {
      return report(family, {
        server,
        local,
        software,
        error: "the server's answer carries no mapped address",
      }, "no-answer");
    }
    const ips = localIps(family);
    const nat = ips === null ? null : !(ips.has(mapped.ip) && mapped.port === stun.port);
    const otherRaw = getStunAttribute(first.message, "OTHER-ADDRESS")?.address;
    const other = otherRaw === undefined ? null : toSocketAddr(otherRaw.ip, otherRaw.port);
    const origin = getStunAttribute(first.message, "RESPONSE-ORIGIN")?.address;
    const base = { server, local, public: mapped, nat, software, otherAddress: other };
    const verdictOf = (mapping: NatMapping): NatVerdict =>
      nat === false
        ? "no-nat"
        : mapping === "endpoint-independent"
        ? "direct-likely"
        : mapping === "unknown"
        ? "unknown"
        : "relay-for-symmetric-peers";
    if (other === null || other.family !== family || other.port === port) {
      return report(family, base, verdictOf("unknown"));
    }
    const altIp = !isUnspecified(other.ip) && other.ip !== server.ip &&
        (origin === undefined || other.ip !== toSocketAddr(origin.ip, 0)?.ip)
      ? other.ip
      : null;
    // An answer to a change request counts only if it came from another port, as asked.
    const honoured = (received: Received | null): boolean | null =>
      received === null
        ? false
        : received.message.class !== "success" || received.from.port === port
        ? null
        : true;

    // Filtering (RFC 5780 §4.4), before anything goes to the other endpoint from this socket.
    let filtering: NatFiltering;
    if (altIp !== null) {
      const both = honoured(await ask(server.ip, port, { changeIp: true, changePort: true }));
      if (both === true) filtering = "endpoint-independent";
      else {
        const portOnly = honoured(
          await ask(server.ip, port, { changeIp: false, changePort: true }),
        );
        filtering = portOnly === true
          ? "address-dependent"
          : portOnly === false && both === false
          ? "address-and-port-dependent"
          : "unknown";
      }
    } else {
      const portOnly = honoured(await ask(server.ip, port, { changeIp: false, changePort: true }));
      filtering = portOnly === true
        ? "endpoint-independent-or-address-dependent"
        : portOnly === false
        ? "address-and-port-dependent"
        : "unknown";
    }

    // Mapping (RFC 5780 §4.3).
    let mapping: NatMapping;
    let publicAlt: SocketAddr | null;
    if (altIp !== null) {
      publicAlt = mappedOf(await ask(altIp, port));
      if (publicAlt === null) mapping = "unknown";
      else if (sameAddr(publicAlt, mapped)) mapping = "endpoint-independent";
      else {
        const second = publicAlt;
        publicAlt = mappedOf(await ask(altIp, other.port));
        mapping = publicAlt === null
          ? "unknown"
          : sameAddr(publicAlt, second)
          ? "address-dependent"
          : "address-and-port-dependent";
      }
    } else {
      publicAlt = mappedOf(await ask(server.ip, other.port));
      mapping = publicAlt === null
        ? "unknown"
        : sameAddr(publicAlt, mapped)
        ? "endpoint-independent"
        : "address-and-port-dependent";
    }
    return report(family, {
      ...base,
      publicAlt,
      mapping,
      filtering,
      changeIp: altIp !== null,
    }, verdictOf(mapping));
  } finally {
    await stun.close();
  }
}

/**
 * Test this machine's NAT against a STUN server, over IPv4 and IPv6 at once, and say what it
 * means for direct connections. Families without an answer are reported, not thrown; only an
 * abort (`signal`) or bad options reject.
 *
 * @example Against a local server: loopback has no NAT
 * ```ts
 * import { natReport } from "./nat.ts";
 * import { startServer } from "../server/server.ts";
 * import { silentLogger } from "../server/logger.ts";
 * import { stunPlugin } from "../server/services/stun.ts";
 * await using server = await startServer({
 *   hostname: "127.0.0.1",
 *   gdayPort: null,
 *   logger: silentLogger,
 *   services: [stunPlugin({ port: 0, altPort: 0 })],
 * });
 * const report = await natReport({ server: `127.0.0.1:${server.listeners[0]!.addr.port}`, families: ["v4"] });
 * if (report.v4?.mapping !== "endpoint-independent" || report.verdict !== "no-nat") throw new Error(report.summary);
 * ```
 */
export async function natReport(options: NatReportOptions = {}): Promise<NatReport> {
  const {
    families = ["v4", "v6"],
    attempts = 3,
    rtoMs = 500,
    localPort = 0,
    signal,
  } = options;
  if (!(Number.isInteger(attempts) && attempts >= 1)) {
    throw new RangeError(`Cannot test the NAT: attempts is ${attempts}, it must be at least 1`);
  }
  if (!(rtoMs > 0)) {
    throw new RangeError(`Cannot test the NAT: rtoMs is ${rtoMs}, it must be above 0`);
  }
  if (!(Number.isInteger(localPort) && localPort >= 0 && localPort <= 65535)) {
    throw new RangeError(`Cannot test the NAT: localPort is ${localPort}, it must be a port`);
  }
  const server = typeof options.server === "object"
    ? options.server
    : parseServerAddress(options.server ?? "localhost", DEFAULT_STUN_PORT);
  signal?.throwIfAborted();
  const ips = await resolveServer(server.hostname, families);
  signal?.throwIfAborted();
  const settled = await Promise.allSettled(
    families.map((family) =>
      probeFamily(family, ips.get(family), server.port, { attempts, rtoMs, localPort, signal })
    ),
  );
  const failed = settled.find((result) => result.status === "rejected");
  if (failed) throw failed.reason;
  const reports = settled.map((result) =>
    (result as PromiseFulfilledResult<NatFamilyReport>).value
  );
  const best = reports.reduce<NatFamilyReport | null>(
    (so, next) =>
      so === null || VERDICT_RANK.indexOf(next.verdict) < VERDICT_RANK.indexOf(so.verdict)
        ? next
        : so,
    null,
  );
  return {
    server: formatServerAddress(server),
    v4: reports.find((r) => r.family === "v4") ?? null,
    v6: reports.find((r) => r.family === "v6") ?? null,
    verdict: best?.verdict ?? "not-tested",
    summary: best === null ? "Nothing tested" : `${FAMILY_LABEL[best.family]}: ${best.summary}`,
  };
}
