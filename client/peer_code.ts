/**
 * Peer codes: the one string two people share to connect, in gday 0.1.1's format
 * (spec: gday-0.1.1.md §6.2): `SERVER.ROOM.SECRET.CHECK`, each field an uppercase hex u64,
 * case-insensitive on input, surrounding whitespace ignored. `SERVER` 0 means "the server given
 * with --server"; `CHECK` is `(s%17 + 2·(r%17) + 3·(k%17)) % 17`, so a typo is caught before
 * any network traffic. The room code picks the server's room; the secret never leaves the two
 * peers (it is the PAKE password).
 *
 * @module
 */

/** A parsed peer code. */
export interface PeerCode {
  /** Which server (0: the one given separately). */
  serverId: bigint;
  /** The gday room code. */
  roomCode: bigint;
  /** The shared secret (the PAKE password). */
  secret: bigint;
}

/** A peer code could not be parsed, or its checksum does not match (a typo). */
export class PeerCodeError extends Error {
  /**
   * Make the error.
   *
   * @example
   * ```ts
   * import { PeerCodeError } from "./peer_code.ts";
   * if (new PeerCodeError("x").name !== "PeerCodeError") throw new Error("Bad name");
   * ```
   */
  constructor(message: string) {
    super(message);
    this.name = "PeerCodeError";
  }
}

const U64_MAX = (1n << 64n) - 1n;

/**
 * The checksum of a code's three fields.
 *
 * @example
 * ```ts
 * import { peerCodeChecksum } from "./peer_code.ts";
 * if (peerCodeChecksum(27n, 314n, 15n) !== 3n) throw new Error("Bad checksum");
 * ```
 */
export function peerCodeChecksum(serverId: bigint, roomCode: bigint, secret: bigint): bigint {
  return (serverId % 17n + 2n * (roomCode % 17n) + 3n * (secret % 17n)) % 17n;
}

/**
 * Format a code (uppercase hex).
 *
 * @example
 * ```ts
 * import { formatPeerCode } from "./peer_code.ts";
 * if (formatPeerCode({ serverId: 27n, roomCode: 314n, secret: 15n }) !== "1B.13A.F.3") throw new Error("Bad code");
 * ```
 */
export function formatPeerCode(code: PeerCode): string {
  const { serverId, roomCode, secret } = code;
  for (const v of [serverId, roomCode, secret]) {
    if (v < 0n || v > U64_MAX) throw new RangeError(`Peer code field ${v} is not a u64`);
  }
  const hex = (v: bigint): string => v.toString(16).toUpperCase();
  return [serverId, roomCode, secret, peerCodeChecksum(serverId, roomCode, secret)].map(hex).join(
    ".",
  );
}

/**
 * Parse a code typed by a person.
 *
 * @throws {PeerCodeError} with a message saying what is wrong (format or a typo).
 *
 * @example
 * ```ts
 * import { parsePeerCode } from "./peer_code.ts";
 * const code = parsePeerCode(" 1.13a.f.b ");
 * if (code.roomCode !== 314n || code.secret !== 15n) throw new Error("Bad parse");
 * let typo = false;
 * try { parsePeerCode("1.13A.F.C"); } catch { typo = true; }
 * if (!typo) throw new Error("Typo not caught");
 * ```
 */
export function parsePeerCode(text: string): PeerCode {
  const fields = text.trim().split(".");
  if (fields.length !== 4 || fields.some((f) => !/^[0-9a-fA-F]{1,16}$/.test(f))) {
    throw new PeerCodeError(
      `"${text.trim()}" is not a peer code: it should look like 0.3F2A9C.7D2E91B4.5 (four hex numbers separated by dots)`,
    );
  }
  const [serverId, roomCode, secret, check] = fields.map((f) => BigInt(`0x${f}`)) as [
    bigint,
    bigint,
    bigint,
    bigint,
  ];
  if (peerCodeChecksum(serverId, roomCode, secret) !== check) {
    throw new PeerCodeError(
      `The code "${text.trim()}" has a typo (its checksum does not match): check it with the sender`,
    );
  }
  return { serverId, roomCode, secret };
}

function randomBelow(bits: number): bigint {
  const bytes = crypto.getRandomValues(new Uint8Array(Math.ceil(bits / 8)));
  return BigInt(`0x${bytes.toHex()}`) & ((1n << BigInt(bits)) - 1n);
}

/**
 * A fresh code: a 24-bit room code and a 32-bit secret (a PAKE makes a short secret safe:
 * an attacker gets one online guess per attempt, and a wrong guess fails both peers loudly).
 *
 * @example
 * ```ts
 * import { randomPeerCode } from "./peer_code.ts";
 * const code = randomPeerCode();
 * if (code.serverId !== 0n || code.roomCode >= 1n << 24n || code.secret >= 1n << 32n) throw new Error("Out of range");
 * ```
 */
export function randomPeerCode(serverId = 0n): PeerCode {
  return { serverId, roomCode: randomBelow(24), secret: randomBelow(32) };
}
