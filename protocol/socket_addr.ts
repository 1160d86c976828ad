/**
 * Socket addresses written and read exactly as Rust's `std::net` prints and parses them, which is
 * how serde puts them into JSON for gday and Peer-Punch: `a.b.c.d:port`, `[v6]:port` or
 * `[v6%scope]:port`, with IPv6 in RFC 5952 form (lowercase, no leading zeros, the first longest
 * run of two or more zero groups as `::`) except IPv4-mapped addresses, which print as
 * `::ffff:a.b.c.d`. Pure functions, no I/O.
 *
 * @module
 */

/** An IPv4 socket address. `ip` is dotted decimal. */
export interface SocketAddrV4 {
  /** Always `"v4"`. */
  readonly family: "v4";
  /** Dotted decimal, e.g. `"192.0.2.1"`. */
  readonly ip: string;
  /** 0 to 65535. */
  readonly port: number;
}

/** An IPv6 socket address. `ip` is in Rust's canonical form (RFC 5952, mapped as `::ffff:a.b.c.d`). */
export interface SocketAddrV6 {
  /** Always `"v6"`. */
  readonly family: "v6";
  /** Canonical text without brackets, e.g. `"2001:db8::1"`. */
  readonly ip: string;
  /** 0 to 65535. */
  readonly port: number;
  /** The zone (scope id); 0 when absent. */
  readonly scopeId: number;
}

/** An IPv4 or IPv6 socket address. */
export type SocketAddr = SocketAddrV4 | SocketAddrV6;

/**
 * Parse dotted-decimal IPv4 as Rust does: four decimal octets, no leading zeros.
 *
 * @example
 * ```ts
 * import { parseIpv4 } from "./socket_addr.ts";
 * if (parseIpv4("10.0.0.1")?.join(".") !== "10.0.0.1") throw new Error("Bad parse");
 * if (parseIpv4("010.0.0.1") !== null) throw new Error("Leading zero accepted");
 * ```
 */
export function parseIpv4(text: string): Uint8Array | null {
  const parts = text.split(".");
  if (parts.length !== 4) return null;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const part = parts[i]!;
    if (!/^(0|[1-9][0-9]{0,2})$/.test(part)) return null;
    const value = Number(part);
    if (value > 255) return null;
    out[i] = value;
  }
  return out;
}

/**
 * Parse IPv6 text (without brackets or zone) into 16 bytes, accepting what Rust accepts:
 * groups of 1 to 4 hex digits in either case, one `::`, and a trailing dotted IPv4.
 *
 * @example
 * ```ts
 * import { parseIpv6 } from "./socket_addr.ts";
 * if (parseIpv6("::1")?.toHex() !== "00000000000000000000000000000001") throw new Error("Bad parse");
 * if (parseIpv6("1::2::3") !== null) throw new Error("Two :: accepted");
 * ```
 */
export function parseIpv6(text: string): Uint8Array | null {
  const halves = text.split("::");
  if (halves.length > 2) return null;
  const parseGroups = (part: string, allowV4: boolean): number[] | null => {
    if (part === "") return [];
    const items = part.split(":");
    const groups: number[] = [];
    for (let i = 0; i < items.length; i++) {
      const item = items[i]!;
      if (allowV4 && i === items.length - 1 && item.includes(".")) {
        const v4 = parseIpv4(item);
        if (v4 === null) return null;
        groups.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
      } else {
        if (!/^[0-9a-fA-F]{1,4}$/.test(item)) return null;
        groups.push(parseInt(item, 16));
      }
    }
    return groups;
  };
  let groups: number[];
  if (halves.length === 1) {
    const all = parseGroups(halves[0]!, true);
    if (all === null || all.length !== 8) return null;
    groups = all;
  } else {
    const head = parseGroups(halves[0]!, false);
    const tail = parseGroups(halves[1]!, true);
    if (head === null || tail === null || head.length + tail.length > 7) return null;
    groups = [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
  }
  const out = new Uint8Array(16);
  groups.forEach((group, i) => {
    out[2 * i] = group >> 8;
    out[2 * i + 1] = group & 0xff;
  });
  return out;
}

/**
 * Format 16 bytes as Rust's `Ipv6Addr` `Display` does.
 *
 * @example
 * ```ts
 * import { formatIpv6, parseIpv6 } from "./socket_addr.ts";
 * if (formatIpv6(parseIpv6("2001:0DB8:0:0:1:0:0:1")!) !== "2001:db8::1:0:0:1") throw new Error("Bad format");
 * if (formatIpv6(parseIpv6("::ffff:203.0.113.7")!) !== "::ffff:203.0.113.7") throw new Error("Bad mapped");
 * ```
 */
export function formatIpv6(bytes: Uint8Array): string {
  if (bytes.length !== 16) {
    throw new RangeError(`An IPv6 address has 16 bytes, not ${bytes.length}`);
  }
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push((bytes[2 * i]! << 8) | bytes[2 * i + 1]!);
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return `::ffff:${bytes[12]}.${bytes[13]}.${bytes[14]}.${bytes[15]}`;
  }
  let bestStart = 0;
  let bestLen = 0;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (list: number[]): string => list.map((g) => g.toString(16)).join(":");
  if (bestLen < 2) return hex(groups);
  return `${hex(groups.slice(0, bestStart))}::${hex(groups.slice(bestStart + bestLen))}`;
}

const PORT = /^[0-9]{1,5}$/;

function parsePort(text: string): number | null {
  if (!PORT.test(text)) return null;
  const port = Number(text);
  return port <= 65535 ? port : null;
}

/**
 * Parse `a.b.c.d:port` (Rust `SocketAddrV4::from_str`).
 *
 * @example
 * ```ts
 * import { parseSocketAddrV4 } from "./socket_addr.ts";
 * if (parseSocketAddrV4("31.31.65.31:324")?.port !== 324) throw new Error("Bad parse");
 * if (parseSocketAddrV4("[::1]:1") !== null) throw new Error("v6 accepted");
 * ```
 */
export function parseSocketAddrV4(text: string): SocketAddrV4 | null {
  const colon = text.lastIndexOf(":");
  if (colon < 0) return null;
  const bytes = parseIpv4(text.slice(0, colon));
  const port = parsePort(text.slice(colon + 1));
  if (bytes === null || port === null) return null;
  return { family: "v4", ip: bytes.join("."), port };
}

/**
 * Parse `[addr]:port` or `[addr%scope]:port` (Rust `SocketAddrV6::from_str`). The address is
 * returned in canonical form.
 *
 * @example
 * ```ts
 * import { parseSocketAddrV6 } from "./socket_addr.ts";
 * const addr = parseSocketAddrV6("[2001:DB8:0::1]:8080");
 * if (addr?.ip !== "2001:db8::1" || addr.port !== 8080) throw new Error("Bad parse");
 * ```
 */
export function parseSocketAddrV6(text: string): SocketAddrV6 | null {
  const match = /^\[([^\]%]+)(?:%([0-9]{1,10}))?\]:([^:]+)$/.exec(text);
  if (match === null) return null;
  const bytes = parseIpv6(match[1]!);
  const port = parsePort(match[3]!);
  const scopeId = match[2] === undefined ? 0 : Number(match[2]);
  if (bytes === null || port === null || scopeId > 0xffffffff) return null;
  return { family: "v6", ip: formatIpv6(bytes), port, scopeId };
}

/**
 * Parse either form (Rust `SocketAddr::from_str`).
 *
 * @example
 * ```ts
 * import { parseSocketAddr } from "./socket_addr.ts";
 * if (parseSocketAddr("[::1]:2310")?.family !== "v6") throw new Error("Bad family");
 * if (parseSocketAddr("127.0.0.1:2310")?.family !== "v4") throw new Error("Bad family");
 * ```
 */
export function parseSocketAddr(text: string): SocketAddr | null {
  return text.startsWith("[") ? parseSocketAddrV6(text) : parseSocketAddrV4(text);
}

/**
 * Format as Rust's `Display` does: `a.b.c.d:port`, `[v6]:port` or `[v6%scope]:port`.
 *
 * @example
 * ```ts
 * import { formatSocketAddr } from "./socket_addr.ts";
 * const text = formatSocketAddr({ family: "v6", ip: "2001:db8::1", port: 8080, scopeId: 0 });
 * if (text !== "[2001:db8::1]:8080") throw new Error("Bad format");
 * ```
 */
export function formatSocketAddr(addr: SocketAddr): string {
  if (addr.family === "v4") return `${addr.ip}:${addr.port}`;
  return addr.scopeId ? `[${addr.ip}%${addr.scopeId}]:${addr.port}` : `[${addr.ip}]:${addr.port}`;
}

/**
 * Build a socket address from an IP in any accepted text form (as sockets report it, with or
 * without brackets or zone) and a port. IPv4-mapped IPv6 addresses become plain IPv4, so a
 * dual-stack listener's IPv4 clients get IPv4 addresses. Returns `null` for invalid input.
 *
 * @example
 * ```ts
 * import { toSocketAddr } from "./socket_addr.ts";
 * const addr = toSocketAddr("::ffff:127.0.0.1", 4000);
 * if (addr?.family !== "v4" || addr.ip !== "127.0.0.1") throw new Error("Not canonicalised");
 * ```
 */
export function toSocketAddr(ip: string, port: number, scopeId = 0): SocketAddr | null {
  if (!Number.isInteger(port) || port < 0 || port > 65535) return null;
  const v4 = parseIpv4(ip);
  if (v4 !== null) return { family: "v4", ip: v4.join("."), port };
  let text = ip.startsWith("[") && ip.endsWith("]") ? ip.slice(1, -1) : ip;
  const zone = text.indexOf("%");
  if (zone >= 0) {
    const parsedZone = /^[0-9]{1,10}$/.test(text.slice(zone + 1))
      ? Number(text.slice(zone + 1))
      : 0;
    scopeId = scopeId || parsedZone;
    text = text.slice(0, zone);
  }
  const bytes = parseIpv6(text);
  if (bytes === null) return null;
  const mapped = unmapIpv4(bytes);
  if (mapped !== null) return { family: "v4", ip: mapped, port };
  return { family: "v6", ip: formatIpv6(bytes), port, scopeId };
}

/**
 * The dotted IPv4 inside an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`), or `null`.
 *
 * @example
 * ```ts
 * import { parseIpv6, unmapIpv4 } from "./socket_addr.ts";
 * if (unmapIpv4(parseIpv6("::ffff:10.1.2.3")!) !== "10.1.2.3") throw new Error("Not unmapped");
 * if (unmapIpv4(parseIpv6("::1")!) !== null) throw new Error("Loopback unmapped");
 * ```
 */
export function unmapIpv4(bytes: Uint8Array): string | null {
  for (let i = 0; i < 10; i++) if (bytes[i] !== 0) return null;
  if (bytes[10] !== 0xff || bytes[11] !== 0xff) return null;
  return `${bytes[12]}.${bytes[13]}.${bytes[14]}.${bytes[15]}`;
}

/**
 * Turn an IPv4-mapped IPv6 socket address into plain IPv4; other addresses pass through.
 *
 * @example
 * ```ts
 * import { canonicalSocketAddr } from "./socket_addr.ts";
 * const addr = canonicalSocketAddr({ family: "v6", ip: "::ffff:203.0.113.7", port: 1, scopeId: 0 });
 * if (addr.family !== "v4" || addr.ip !== "203.0.113.7") throw new Error("Not canonical");
 * ```
 */
export function canonicalSocketAddr(addr: SocketAddr): SocketAddr {
  if (addr.family === "v4") return addr;
  const bytes = parseIpv6(addr.ip);
  const mapped = bytes === null ? null : unmapIpv4(bytes);
  return mapped === null ? addr : { family: "v4", ip: mapped, port: addr.port };
}
