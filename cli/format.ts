/**
 * How the CLI shows contacts to people and to machines.
 *
 * @module
 */

import type { Contact, FullContact } from "../protocol/gday.ts";
import { formatSocketAddr, type SocketAddr } from "../protocol/socket_addr.ts";

const show = (addr: SocketAddr | null): string => (addr === null ? "-" : formatSocketAddr(addr));

/** A contact as JSON-ready data: addresses as Rust-style strings or `null`. */
export interface ContactJson {
  /** The IPv4 address or `null`. */
  v4: string | null;
  /** The IPv6 address or `null`. */
  v6: string | null;
}

/**
 * A full contact as JSON-ready data.
 *
 * @example
 * ```ts
 * import { fullContactJson } from "./format.ts";
 * const json = fullContactJson({ private: { v4: null, v6: null }, public: { v4: { family: "v4", ip: "192.0.2.1", port: 5 }, v6: null } });
 * if (json.public.v4 !== "192.0.2.1:5") throw new Error("Bad JSON");
 * ```
 */
export function fullContactJson(
  contact: FullContact,
): { private: ContactJson; public: ContactJson } {
  const one = (c: Contact): ContactJson => ({
    v4: c.v4 && formatSocketAddr(c.v4),
    v6: c.v6 && formatSocketAddr(c.v6),
  });
  return { private: one(contact.private), public: one(contact.public) };
}

/**
 * A full contact as two aligned lines for people.
 *
 * @example
 * ```ts
 * import { fullContactLines } from "./format.ts";
 * const text = fullContactLines("Peer", { private: { v4: null, v6: null }, public: { v4: { family: "v4", ip: "192.0.2.1", port: 5 }, v6: null } });
 * if (!text.includes("public   v4 192.0.2.1:5")) throw new Error(text);
 * ```
 */
export function fullContactLines(label: string, contact: FullContact): string {
  const pad = " ".repeat(label.length + 1);
  return `${label}: public   v4 ${show(contact.public.v4)}  v6 ${show(contact.public.v6)}\n` +
    `${pad} private  v4 ${show(contact.private.v4)}  v6 ${show(contact.private.v6)}\n`;
}
