/**
 * Room codes a person can read over the phone: decimal digits in groups of four, e.g.
 * `0482-1930`. Any u64 is a valid gday room code; peerlink picks random 8-digit ones.
 *
 * @module
 */

import { MAX_ROOM_CODE } from "../protocol/gday.ts";

/** How many random decimal digits a generated room code has. */
export const ROOM_CODE_DIGITS = 8;

/**
 * A random room code of {@linkcode ROOM_CODE_DIGITS} digits (from the system's secure random).
 *
 * @example
 * ```ts
 * import { randomRoomCode } from "./room_code.ts";
 * const code = randomRoomCode();
 * if (code < 0n || code >= 10n ** 8n) throw new Error("Out of range");
 * ```
 */
export function randomRoomCode(): bigint {
  const limit = 10 ** ROOM_CODE_DIGITS;
  const buf = new Uint32Array(1);
  const bound = Math.floor(2 ** 32 / limit) * limit; // reject the biased tail
  for (;;) {
    crypto.getRandomValues(buf);
    if (buf[0]! < bound) return BigInt(buf[0]! % limit);
  }
}

/**
 * Format a room code for people: zero-padded to at least 8 digits, dashes every four.
 *
 * @example
 * ```ts
 * import { formatRoomCode } from "./room_code.ts";
 * if (formatRoomCode(4821930n) !== "0482-1930") throw new Error(formatRoomCode(4821930n));
 * ```
 */
export function formatRoomCode(code: bigint): string {
  const digits = code.toString().padStart(ROOM_CODE_DIGITS, "0");
  const groups: string[] = [];
  for (let end = digits.length; end > 0; end -= 4) {
    groups.unshift(digits.slice(Math.max(0, end - 4), end));
  }
  return groups.join("-");
}

/**
 * Parse a room code typed by a person: digits, with any spaces or dashes. `null` when it is not
 * a u64.
 *
 * @example
 * ```ts
 * import { parseRoomCode } from "./room_code.ts";
 * if (parseRoomCode(" 0482-1930 ") !== 4821930n) throw new Error("Bad parse");
 * if (parseRoomCode("12a") !== null) throw new Error("Letters accepted");
 * ```
 */
export function parseRoomCode(text: string): bigint | null {
  const digits = text.replace(/[\s-]/g, "");
  if (!/^[0-9]{1,20}$/.test(digits)) return null;
  const code = BigInt(digits);
  return code <= MAX_ROOM_CODE ? code : null;
}
