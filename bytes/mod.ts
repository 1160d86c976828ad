/**
 * Small byte-array helpers used across peerlink, in place of `@std/bytes` (JSR cannot be reached
 * where peerlink is built): concatenation, lexicographic order, constant-time equality and a
 * big-endian `u32`.
 *
 * @example
 * ```ts
 * import { compareBytes, concatBytes, equalBytes, u32be } from "./mod.ts";
 * const joined = concatBytes([u32be(1), new Uint8Array([2])]);
 * if (joined.toHex() !== "0000000102") throw new Error("Bad concat");
 * if (compareBytes(new Uint8Array([1]), new Uint8Array([2])) >= 0) throw new Error("Bad order");
 * if (!equalBytes(joined, joined.slice())) throw new Error("Bad equality");
 * ```
 *
 * @module
 */

/**
 * The bytes of `parts`, one after the other, in a new array.
 *
 * @example
 * ```ts
 * import { concatBytes } from "./mod.ts";
 * if (concatBytes([new Uint8Array([1]), new Uint8Array([2, 3])]).toHex() !== "010203") {
 *   throw new Error("Bad concat");
 * }
 * ```
 */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/**
 * Lexicographic order of two byte strings: negative when `a` sorts first, 0 when equal,
 * positive when `b` sorts first (a prefix sorts before the longer string). Not constant-time:
 * for public values such as keys and handshake messages.
 *
 * @example
 * ```ts
 * import { compareBytes } from "./mod.ts";
 * if (compareBytes(new Uint8Array([1, 2]), new Uint8Array([1])) <= 0) throw new Error("Bad order");
 * ```
 */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    if (a[i] !== b[i]) return a[i]! - b[i]!;
  }
  return a.length - b.length;
}

/**
 * Whether `a` and `b` hold the same bytes, in time that depends only on the length (for MACs,
 * hashes of secrets and other values an attacker must not learn byte by byte).
 *
 * @example
 * ```ts
 * import { equalBytes } from "./mod.ts";
 * if (equalBytes(new Uint8Array([1]), new Uint8Array([2]))) throw new Error("Not equal");
 * ```
 */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

/**
 * `n` as 4 bytes, big-endian.
 *
 * @example
 * ```ts
 * import { u32be } from "./mod.ts";
 * if (u32be(258).toHex() !== "00000102") throw new Error("Bad u32");
 * ```
 */
export function u32be(n: number): Uint8Array {
  const bytes = new Uint8Array(4);
  new DataView(bytes.buffer).setUint32(0, n, false);
  return bytes;
}
