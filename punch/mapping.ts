/**
 * A quick check of this side's NAT mapping behaviour, for deciding on birthday probing: one UDP
 * socket sends a STUN Binding request to two ports of the server; the same public address from
 * both means endpoint-independent mapping ("easy"), different ports mean endpoint-dependent
 * ("hard", a symmetric NAT). One round trip, with two retransmissions. (`client.ts nat` runs the
 * full RFC 5780 report.)
 *
 * @module
 */

import {
  createStunTransactionId,
  decodeStunMessage,
  DEFAULT_STUN_ALT_PORT,
  DEFAULT_STUN_PORT,
  encodeStunMessage,
  getStunAttribute,
  isStunMessage,
  STUN_METHOD_BINDING,
} from "../protocol/stun.ts";
import { formatSocketAddr, type SocketAddr } from "../protocol/socket_addr.ts";

/** How this side's NAT maps one local port to public ones. */
export type MappingKind = "easy" | "hard" | "unknown";

/** Options for {@linkcode detectMapping}. */
export interface DetectMappingOptions {
  /** The server's IPv4 or IPv6 address (an IP literal). */
  serverIp: string;
  /** The STUN port. @default {3478} */
  port?: number;
  /** The second STUN port. @default {3479} */
  altPort?: number;
  /** Bind the socket to this local address. @default {"0.0.0.0" or "::" by the server's family} */
  localIp?: string;
  /** Give up after this long. @default {1000} */
  timeoutMs?: number;
  /** Cancels. */
  signal?: AbortSignal;
}

/** What {@linkcode detectMapping} found. */
export interface MappingResult {
  /** Easy, hard, or unknown (no answer from one port or both). */
  kind: MappingKind;
  /** The public address seen by the first port, when it answered. */
  public: SocketAddr | null;
}

/**
 * Ask two STUN ports of the server for this socket's public address and compare.
 *
 * @example
 * ```ts ignore
 * const { kind } = await detectMapping({ serverIp: "198.51.100.10" });
 * ```
 */
export async function detectMapping(options: DetectMappingOptions): Promise<MappingResult> {
  const { serverIp, port = DEFAULT_STUN_PORT, altPort = DEFAULT_STUN_ALT_PORT, timeoutMs = 1000 } =
    options;
  const v6 = serverIp.includes(":");
  const socket = Deno.listenDatagram({
    transport: "udp",
    hostname: options.localIp ?? (v6 ? "::" : "0.0.0.0"),
    port: 0,
  });
  const ids = [createStunTransactionId(), createStunTransactionId()];
  const ports = [port, altPort];
  const answers: (SocketAddr | null)[] = [null, null];
  const send = (): void => {
    ids.forEach((transactionId, i) => {
      if (answers[i] !== null) return;
      const request = encodeStunMessage({
        class: "request",
        method: STUN_METHOD_BINDING,
        transactionId,
        attributes: [],
        fingerprint: true,
      });
      socket.send(request, { transport: "udp", hostname: serverIp, port: ports[i]! }).catch(
        () => {},
      );
    });
  };
  const retransmit = setInterval(send, Math.max(50, timeoutMs / 3));
  const stop = setTimeout(() => socket.close(), timeoutMs);
  const onAbort = (): void => socket.close();
  options.signal?.addEventListener("abort", onAbort, { once: true });
  try {
    send();
    while (answers.some((a) => a === null)) {
      let data: Uint8Array;
      try {
        [data] = await socket.receive();
      } catch {
        break; // timed out or aborted
      }
      if (!isStunMessage(data)) continue;
      try {
        const message = decodeStunMessage(data);
        const i = ids.findIndex((id) => id.every((b, k) => b === message.transactionId[k]));
        const mapped = getStunAttribute(message, "XOR-MAPPED-ADDRESS") ??
          getStunAttribute(message, "MAPPED-ADDRESS");
        if (i >= 0 && message.class === "success" && mapped) answers[i] = mapped.address;
      } catch { /* not for us */ }
    }
  } finally {
    clearInterval(retransmit);
    clearTimeout(stop);
    options.signal?.removeEventListener("abort", onAbort);
    try {
      socket.close();
    } catch { /* closed */ }
  }
  const a = answers[0] ?? null;
  const b = answers[1] ?? null;
  if (a === null || b === null) return { kind: "unknown", public: a };
  return { kind: formatSocketAddr(a) === formatSocketAddr(b) ? "easy" : "hard", public: a };
}
