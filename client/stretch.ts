/**
 * Stretching the shared secret before anything derived from it leaves this machine ahead of the
 * PAKE.
 *
 * A peer code's secret is short (32 bits): the PAKE keeps it safe on the wire, since an attacker
 * gets one online guess per attempt. But some things must be derived from the secret before the
 * PAKE runs: the UDP probe tags, the QUIC certificate, the relay token. Anyone who sees one of
 * them (an on-path observer, the relay operator) could try every secret offline and then sit in
 * the middle of the PAKE. So they all come from `scrypt(secret, salt = "peerlink/1 stretch" ‖
 * context, N = 2^15, r = 8, p = 1)` (32 MiB, about 0.2 s here, off the main thread via
 * `node:crypto`): trying all 2^32 secrets then costs about 2^32 scrypt runs, years of CPU time,
 * while the attacker has only the seconds until the PAKE completes. Once it has, knowing the
 * secret gains nothing: SPAKE2's session keys stay secret.
 *
 * @module
 */

import { scrypt } from "node:crypto";

/** scrypt cost parameters of {@linkcode stretchSecret}. */
export const STRETCH_PARAMS: Readonly<{ N: number; r: number; p: number }> = Object.freeze({
  N: 2 ** 15,
  r: 8,
  p: 1,
});

/** Bytes {@linkcode stretchSecret} returns. */
export const STRETCH_BYTES = 32;

/**
 * Stretch a short secret for a context (e.g. the room), with scrypt.
 *
 * @example
 * ```ts
 * import { stretchSecret } from "./stretch.ts";
 * const a = await stretchSecret(new Uint8Array([1]), new TextEncoder().encode("room 1"));
 * const b = await stretchSecret(new Uint8Array([1]), new TextEncoder().encode("room 2"));
 * if (a.length !== 32 || a.toHex() === b.toHex()) throw new Error("Bad stretch");
 * ```
 */
export function stretchSecret(secret: Uint8Array, context: Uint8Array): Promise<Uint8Array> {
  const salt = new Uint8Array([...new TextEncoder().encode("peerlink/1 stretch"), ...context]);
  return new Promise((resolve, reject) => {
    scrypt(
      secret,
      salt,
      STRETCH_BYTES,
      { ...STRETCH_PARAMS, maxmem: 64 * 1024 * 1024 },
      (error, key) => {
        if (error) reject(error);
        else resolve(new Uint8Array(key.buffer, key.byteOffset, key.byteLength).slice());
      },
    );
  });
}
