/**
 * Resolve a host name to IP addresses, the way every peerlink client looks up its server.
 *
 * @module
 */

import { lookup } from "node:dns/promises";
import { abortable } from "../async/abortable.ts";
import { parseIpv4, parseIpv6 } from "../protocol/socket_addr.ts";

/** One address of a host. */
export interface HostAddress {
  /** The IP address, without brackets. */
  ip: string;
  /** Its family. */
  family: "v4" | "v6";
}

/**
 * The addresses of `hostname`: an IP literal is itself; `localhost` is `127.0.0.1` and `::1`
 * (RFC 6761: loopback in both families, whatever `/etc/hosts` lists); anything else is looked up
 * in DNS, in the resolver's order. A name that does not resolve gives an empty list, so callers
 * can say which server could not be reached.
 *
 * @throws the signal's reason when `signal` aborts during the lookup.
 *
 * @example
 * ```ts
 * import { resolveHost } from "./resolve.ts";
 * const [a, b] = await resolveHost("localhost");
 * if (a?.ip !== "127.0.0.1" || b?.family !== "v6") throw new Error("Bad localhost");
 * if ((await resolveHost("2001:db8::1"))[0]?.family !== "v6") throw new Error("Bad literal");
 * ```
 */
export async function resolveHost(hostname: string, signal?: AbortSignal): Promise<HostAddress[]> {
  if (parseIpv4(hostname)) return [{ ip: hostname, family: "v4" }];
  if (parseIpv6(hostname)) return [{ ip: hostname, family: "v6" }];
  if (hostname.toLowerCase() === "localhost") {
    return [{ ip: "127.0.0.1", family: "v4" }, { ip: "::1", family: "v6" }];
  }
  const records = await abortable(
    lookup(hostname, { all: true, verbatim: true }).catch(() => []),
    signal,
  );
  return records.map((r) => ({ ip: r.address, family: r.family === 6 ? "v6" : "v4" }));
}
