/**
 * Internal: IETF ChaCha20-Poly1305 (RFC 8439) from `node:crypto`, shaped for chunked streams.
 * The tag (16 bytes) follows the ciphertext.
 *
 * @module
 */

import { createCipheriv, createDecipheriv } from "node:crypto";

/** Bytes in a Poly1305 tag. */
export const TAG_BYTES = 16;

/** Bytes in a ChaCha20-Poly1305 key. */
export const KEY_BYTES = 32;

/** Bytes in a ChaCha20-Poly1305 nonce. */
export const NONCE_BYTES = 12;

const ALGORITHM = "chacha20-poly1305";

/**
 * Encrypt `plaintext` and write `ciphertext ‖ tag` into `out` at `offset`.
 *
 * @example
 * ```ts
 * import { open, sealInto } from "./_aead.ts";
 * const key = new Uint8Array(32), nonce = new Uint8Array(12);
 * const out = new Uint8Array(3 + 16);
 * sealInto(key, nonce, new Uint8Array([1, 2, 3]), undefined, out, 0);
 * if (open(key, nonce, out, undefined)?.join() !== "1,2,3") throw new Error("Round trip failed");
 * ```
 */
export function sealInto(
  key: Uint8Array,
  nonce: Uint8Array,
  plaintext: Uint8Array,
  aad: Uint8Array | undefined,
  out: Uint8Array,
  offset: number,
): void {
  const cipher = createCipheriv(ALGORITHM, key, nonce, { authTagLength: TAG_BYTES });
  if (aad) cipher.setAAD(aad, { plaintextLength: plaintext.length });
  if (plaintext.length > 0) out.set(cipher.update(plaintext), offset);
  cipher.final();
  out.set(cipher.getAuthTag(), offset + plaintext.length);
}

/**
 * Decrypt `sealed` (`ciphertext ‖ tag`). Returns `undefined` when authentication fails.
 *
 * @example
 * ```ts
 * import { open } from "./_aead.ts";
 * const forged = new Uint8Array(16);
 * if (open(new Uint8Array(32), new Uint8Array(12), forged, undefined) !== undefined) {
 *   throw new Error("Forgery accepted");
 * }
 * ```
 */
export function open(
  key: Uint8Array,
  nonce: Uint8Array,
  sealed: Uint8Array,
  aad: Uint8Array | undefined,
): Uint8Array | undefined {
  if (sealed.length < TAG_BYTES) return undefined;
  const length = sealed.length - TAG_BYTES;
  const decipher = createDecipheriv(ALGORITHM, key, nonce, { authTagLength: TAG_BYTES });
  decipher.setAuthTag(sealed.subarray(length));
  if (aad) decipher.setAAD(aad, { plaintextLength: length });
  const plaintext = length > 0 ? decipher.update(sealed.subarray(0, length)) : new Uint8Array(0);
  try {
    decipher.final();
  } catch {
    return undefined;
  }
  return new Uint8Array(plaintext.buffer, plaintext.byteOffset, plaintext.length);
}
