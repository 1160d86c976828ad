/**
 * peerlink's UDP hole-punching probes: small authenticated datagrams both peers send to each
 * other's candidate addresses until a path works, then hand the port to QUIC.
 *
 * ## Byte format (version 1), 31 bytes
 *
 * | offset | size | field |
 * | --- | --- | --- |
 * | 0 | 4 | magic `PLPB` (`50 4c 50 42`) |
 * | 4 | 1 | version `0x01` |
 * | 5 | 1 | type: `1` PROBE, `2` ACK, `3` GO, `4` READY |
 * | 6 | 1 | sender role: `0` the room's creator, `1` the joiner |
 * | 7 | 8 | nonce (random; an ACK echoes its PROBE's nonce) |
 * | 15 | 16 | tag: the first 16 bytes of `HMAC-SHA256(key, bytes 0..15)` |
 *
 * `key` is derived from the peers' stretched shared secret (`udpProbeKey`, fed with the scrypt
 * output of `client/stretch.ts`, never the raw short secret), so stray or forged packets are
 * ignored and a captured tag is no shortcut to guessing the code. The role byte stops a packet reflected back at its
 * sender from being taken for the peer's.
 *
 * Exchange: both peers send PROBEs; each answers a PROBE with an ACK. The joiner, on its first
 * ACK from address X, sends GO to X; the creator, on GO from X, answers READY and both switch the
 * port to QUIC (the creator listens, the joiner connects to X).
 *
 * Pure functions, no I/O.
 *
 * @module
 */

import { hkdf } from "@noble/hashes/hkdf.js";
import { hmac } from "@noble/hashes/hmac.js";
import { sha256 } from "@noble/hashes/sha2.js";

/** Bytes in every probe packet. */
export const UDP_PROBE_BYTES = 31;
/** The probe format version. */
export const UDP_PROBE_VERSION = 1;

const MAGIC = [0x50, 0x4c, 0x50, 0x42];
const TAG_BYTES = 16;
const SIGNED_BYTES = UDP_PROBE_BYTES - TAG_BYTES;

/** Packet types. */
export type UdpProbeType = "probe" | "ack" | "go" | "ready";
/** Who sent a packet. */
export type UdpProbeRole = "creator" | "joiner";

const TYPES: readonly UdpProbeType[] = ["probe", "ack", "go", "ready"];

/** A decoded probe packet. */
export interface UdpProbe {
  /** What it is. */
  type: UdpProbeType;
  /** Who sent it. */
  role: UdpProbeRole;
  /** 8 bytes. */
  nonce: Uint8Array;
}

/**
 * The probe key for a shared secret and a context (e.g. the room).
 *
 * @example
 * ```ts
 * import { udpProbeKey } from "./udp_probe.ts";
 * if (udpProbeKey(new Uint8Array([1]), new Uint8Array()).length !== 32) throw new Error("Bad key");
 * ```
 */
export function udpProbeKey(secret: Uint8Array, context: Uint8Array): Uint8Array {
  return hkdf(sha256, secret, context, new TextEncoder().encode("peerlink/1 udp probe"), 32);
}

/**
 * Encode a probe packet.
 *
 * @example
 * ```ts
 * import { encodeUdpProbe, UDP_PROBE_BYTES } from "./udp_probe.ts";
 * const packet = encodeUdpProbe(new Uint8Array(32), { type: "probe", role: "creator", nonce: new Uint8Array(8) });
 * if (packet.length !== UDP_PROBE_BYTES || packet[5] !== 1) throw new Error("Bad packet");
 * ```
 */
export function encodeUdpProbe(key: Uint8Array, probe: UdpProbe): Uint8Array {
  if (probe.nonce.length !== 8) {
    throw new RangeError(`A probe nonce has 8 bytes, not ${probe.nonce.length}`);
  }
  const out = new Uint8Array(UDP_PROBE_BYTES);
  out.set(MAGIC, 0);
  out[4] = UDP_PROBE_VERSION;
  out[5] = TYPES.indexOf(probe.type) + 1;
  out[6] = probe.role === "creator" ? 0 : 1;
  out.set(probe.nonce, 7);
  out.set(hmac(sha256, key, out.subarray(0, SIGNED_BYTES)).subarray(0, TAG_BYTES), SIGNED_BYTES);
  return out;
}

/**
 * Decode a datagram; `null` for anything that is not a valid probe under `key` (wrong size,
 * magic, version, type, role, or tag). Never throws on input.
 *
 * @example
 * ```ts
 * import { decodeUdpProbe, encodeUdpProbe } from "./udp_probe.ts";
 * const key = new Uint8Array(32).fill(1);
 * const packet = encodeUdpProbe(key, { type: "ack", role: "joiner", nonce: new Uint8Array(8).fill(9) });
 * if (decodeUdpProbe(key, packet)?.type !== "ack") throw new Error("Not decoded");
 * packet[10]! ^= 1;
 * if (decodeUdpProbe(key, packet) !== null) throw new Error("Forgery accepted");
 * ```
 */
export function decodeUdpProbe(key: Uint8Array, packet: Uint8Array): UdpProbe | null {
  if (packet.length !== UDP_PROBE_BYTES) return null;
  for (let i = 0; i < 4; i++) if (packet[i] !== MAGIC[i]) return null;
  if (packet[4] !== UDP_PROBE_VERSION) return null;
  const type = TYPES[packet[5]! - 1];
  const roleByte = packet[6];
  if (type === undefined || (roleByte !== 0 && roleByte !== 1)) return null;
  const expected = hmac(sha256, key, packet.subarray(0, SIGNED_BYTES));
  let diff = 0;
  for (let i = 0; i < TAG_BYTES; i++) diff |= expected[i]! ^ packet[SIGNED_BYTES + i]!;
  if (diff !== 0) return null;
  return { type, role: roleByte === 0 ? "creator" : "joiner", nonce: packet.slice(7, 15) };
}
