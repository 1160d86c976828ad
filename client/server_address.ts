/**
 * Server addresses as people type them: `host`, `host:port`, `[v6]:port` or a bare IPv6 literal.
 *
 * @module
 */

import { parseIpv6 } from "../protocol/socket_addr.ts";

/** Where a server listens. */
export interface ServerAddress {
  /** A name or IP literal (IPv6 without brackets). */
  hostname: string;
  /** The TCP port. */
  port: number;
}

/**
 * Parse `text`, using `defaultPort` when none is given. Throws a `TypeError` that says what is
 * wrong.
 *
 * @example
 * ```ts
 * import { parseServerAddress } from "./server_address.ts";
 * const a = parseServerAddress("[::1]:2311", 2310);
 * if (a.hostname !== "::1" || a.port !== 2311) throw new Error("Bad parse");
 * if (parseServerAddress("example.org", 2310).port !== 2310) throw new Error("No default port");
 * if (parseServerAddress("::1", 2310).hostname !== "::1") throw new Error("Bare v6 refused");
 * ```
 */
export function parseServerAddress(text: string, defaultPort: number): ServerAddress {
  const input = text.trim();
  let hostname = input;
  let portText: string | undefined;
  const bracketed = /^\[([^\]]+)\](?::(.*))?$/.exec(input);
  if (bracketed) {
    hostname = bracketed[1]!;
    portText = bracketed[2];
  } else if (input.split(":").length === 2) {
    [hostname, portText] = input.split(":") as [string, string];
  } else if (input.includes(":") && parseIpv6(input) === null) {
    throw new TypeError(`Invalid server address "${text}": write IPv6 with a port as [addr]:port`);
  }
  if (hostname === "" || /[\s/]/.test(hostname)) {
    throw new TypeError(`Invalid server address "${text}": no host name`);
  }
  let port = defaultPort;
  if (portText !== undefined) {
    if (!/^[0-9]{1,5}$/.test(portText) || Number(portText) > 65535 || Number(portText) === 0) {
      throw new TypeError(
        `Invalid server address "${text}": the port must be a number from 1 to 65535`,
      );
    }
    port = Number(portText);
  }
  return { hostname, port };
}

/**
 * Format for messages: `host:port`, or `[v6]:port`.
 *
 * @example
 * ```ts
 * import { formatServerAddress } from "./server_address.ts";
 * if (formatServerAddress({ hostname: "::1", port: 1 }) !== "[::1]:1") throw new Error("Bad format");
 * ```
 */
export function formatServerAddress(address: ServerAddress): string {
  return address.hostname.includes(":")
    ? `[${address.hostname}]:${address.port}`
    : `${address.hostname}:${address.port}`;
}
