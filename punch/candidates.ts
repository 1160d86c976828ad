/**
 * Which connections to try when punching: from each local address (the exact address and port
 * of a server connection) to each of the peer's addresses of the same family, private first.
 *
 * @module
 */

import type { Contact, FullContact } from "../protocol/gday.ts";
import { canonicalSocketAddr, formatSocketAddr, type SocketAddr } from "../protocol/socket_addr.ts";

/** One local → remote attempt. */
export interface PunchPair {
  /** The local address and port to bind (a server connection's local address). */
  local: SocketAddr;
  /** The peer address to dial. */
  remote: SocketAddr;
  /** Whether `remote` is the peer's reported private address or its observed public one. */
  kind: "private" | "public";
}

function usable(addr: SocketAddr | null): addr is SocketAddr {
  if (addr === null || addr.port === 0) return false;
  return addr.ip !== "0.0.0.0" && addr.ip !== "::";
}

/**
 * The peer's addresses of one kind, IPv4-mapped IPv6 turned into IPv4 (a gday 0.1.1 server
 * reports IPv4 clients that way).
 *
 * @example
 * ```ts
 * import { contactAddrs } from "./candidates.ts";
 * const addrs = contactAddrs({ v4: null, v6: { family: "v6", ip: "::ffff:203.0.113.7", port: 1, scopeId: 0 } });
 * if (addrs[0]?.family !== "v4") throw new Error("Not unmapped");
 * ```
 */
export function contactAddrs(contact: Contact): SocketAddr[] {
  return [contact.v6, contact.v4].filter(usable).map(canonicalSocketAddr);
}

/**
 * Every (local, remote) pair worth trying, same family only, without duplicates; private
 * addresses first (same-LAN peers connect without touching the NAT).
 *
 * @example
 * ```ts
 * import { punchPairs } from "./candidates.ts";
 * const pairs = punchPairs([{ family: "v4", ip: "10.0.0.2", port: 4000 }], {
 *   private: { v4: { family: "v4", ip: "10.0.1.2", port: 5000 }, v6: null },
 *   public: { v4: { family: "v4", ip: "198.51.100.2", port: 5000 }, v6: null },
 * });
 * if (pairs.length !== 2 || pairs[0]!.kind !== "private") throw new Error("Wrong pairs");
 * ```
 */
export function punchPairs(locals: readonly SocketAddr[], peer: FullContact): PunchPair[] {
  const pairs: PunchPair[] = [];
  const seen = new Set<string>();
  const remotes: [SocketAddr, "private" | "public"][] = [
    ...contactAddrs(peer.private).map((a) => [a, "private"] as [SocketAddr, "private"]),
    ...contactAddrs(peer.public).map((a) => [a, "public"] as [SocketAddr, "public"]),
  ];
  for (const local of locals.map(canonicalSocketAddr)) {
    for (const [remote, kind] of remotes) {
      if (remote.family !== local.family) continue;
      const key = `${formatSocketAddr(local)}>${formatSocketAddr(remote)}`;
      if (seen.has(key)) continue;
      seen.add(key);
      pairs.push({ local, remote, kind });
    }
  }
  return pairs;
}
