/**
 * gday_encryption 0.1.1's encrypted stream (gday spec §5): RustCrypto STREAM "BE32" over
 * IETF ChaCha20-Poly1305, byte for byte.
 *
 * ```text
 * chunk = u16 big-endian len ‖ ciphertext ‖ 16-byte tag      (len counts ciphertext and tag)
 * nonce = nonce_prefix (7 bytes) ‖ u32 big-endian counter ‖ 0x00
 * ```
 *
 * - AAD is empty. The counter starts at 0 in each direction; the chunk after counter
 *   0xFFFFFFFE is refused (as aead 0.5 does). At most 65 519 plaintext bytes per chunk, so
 *   `16 ≤ len ≤ 65 535`.
 * - Writers here never send an empty chunk mid-stream (a Rust reader would take it for EOF);
 *   readers skip empty chunks.
 * - The end of the transport at a chunk boundary is a clean end (a lone header byte is
 *   dropped, as in gday); the end inside a chunk is a {@linkcode TruncatedStreamError}.
 *
 * **Weaknesses, kept for compatibility; use native mode unless talking to gday:**
 *
 * - No end-of-stream authentication (the STREAM "last" flag is never set), so an attacker can
 *   cut the stream at a chunk boundary and the reader sees a clean end: truncation goes
 *   undetected.
 * - The same key and nonce prefix serve both directions, so chunk n from A to B and chunk n
 *   from B to A share a keystream: XORing the two ciphertexts gives the XOR of the plaintexts,
 *   and a Poly1305 key is reused across two messages.
 * - The key is the raw SPAKE2 output, used with no key derivation and no transcript binding.
 *
 * @example The gday spec §6.5 vector "A→B #1"
 * ```ts
 * import { sealGdayChunk } from "./gday_stream.ts";
 * const key = Uint8Array.fromHex("5762314249bf7bea422009af3b27de0ddc242a547263aba4c3fe01140fe14a4f");
 * const prefix = Uint8Array.fromHex("a1a3a1a7a1a3a1");
 * const chunk = sealGdayChunk(key, prefix, 1, new TextEncoder().encode("hello"));
 * if (chunk.toHex() !== "00152a955d486a098d6584bcd9786c0f8e27361b1d5586") throw new Error("Mismatch");
 * ```
 *
 * @module
 */

import type { ByteReader } from "./_byte_reader.ts";
import { KEY_BYTES, NONCE_BYTES, open, sealInto, TAG_BYTES } from "./_aead.ts";
import type { ChunkOpener, ChunkSealer } from "./_session.ts";
import { NonceExhaustedError, TamperedStreamError, TruncatedStreamError } from "./errors.ts";

/** Bytes in gday's nonce prefix. */
export const GDAY_NONCE_PREFIX_BYTES = 7;

/** Bytes in a gday chunk header (u16 big-endian length). */
export const GDAY_HEADER_BYTES = 2;

/** The most plaintext one gday chunk carries (65 535 − 16). */
export const GDAY_MAX_PLAINTEXT = 65519;

/** The highest chunk counter gday accepts (u32::MAX − 1, aead 0.5 `StreamBE32`). */
export const GDAY_MAX_COUNTER = 0xffff_fffe;

function checkKeyAndPrefix(key: Uint8Array, prefix: Uint8Array): void {
  if (key.length !== KEY_BYTES) {
    throw new RangeError(`gday key is ${key.length} bytes, it must be ${KEY_BYTES}`);
  }
  if (prefix.length !== GDAY_NONCE_PREFIX_BYTES) {
    throw new RangeError(
      `gday nonce prefix is ${prefix.length} bytes, it must be ${GDAY_NONCE_PREFIX_BYTES}`,
    );
  }
}

/**
 * The AEAD nonce of chunk `counter`: `prefix ‖ u32 BE counter ‖ 0x00`.
 *
 * @throws {NonceExhaustedError} when `counter` is above {@linkcode GDAY_MAX_COUNTER}.
 *
 * @example
 * ```ts
 * import { gdayNonce } from "./gday_stream.ts";
 * const nonce = gdayNonce(Uint8Array.fromHex("a1a3a1a7a1a3a1"), 1);
 * if (nonce.toHex() !== "a1a3a1a7a1a3a10000000100") throw new Error("Bad nonce");
 * ```
 */
export function gdayNonce(prefix: Uint8Array, counter: number): Uint8Array {
  if (!Number.isInteger(counter) || counter < 0) {
    throw new RangeError(`gday chunk counter is ${counter}, it must be a non-negative integer`);
  }
  if (counter > GDAY_MAX_COUNTER) throw new NonceExhaustedError();
  const nonce = new Uint8Array(NONCE_BYTES);
  nonce.set(prefix);
  new DataView(nonce.buffer).setUint32(GDAY_NONCE_PREFIX_BYTES, counter, false);
  return nonce;
}

/**
 * Encrypt one gday chunk (header and body). An empty plaintext gives the 18-byte empty chunk
 * that gday's `flush()` can emit.
 *
 * @throws {RangeError} when the plaintext is above {@linkcode GDAY_MAX_PLAINTEXT} bytes.
 *
 * @example The gday spec §6.5 empty chunk "A→B #2"
 * ```ts
 * import { sealGdayChunk } from "./gday_stream.ts";
 * const key = Uint8Array.fromHex("5762314249bf7bea422009af3b27de0ddc242a547263aba4c3fe01140fe14a4f");
 * const chunk = sealGdayChunk(key, Uint8Array.fromHex("a1a3a1a7a1a3a1"), 2, new Uint8Array(0));
 * if (chunk.toHex() !== "0010579b1d5eeac6ff97786d6c13dd80a241") throw new Error("Mismatch");
 * ```
 */
export function sealGdayChunk(
  key: Uint8Array,
  prefix: Uint8Array,
  counter: number,
  plaintext: Uint8Array,
): Uint8Array {
  checkKeyAndPrefix(key, prefix);
  if (plaintext.length > GDAY_MAX_PLAINTEXT) {
    throw new RangeError(
      `gday chunk plaintext is ${plaintext.length} bytes, the maximum is ${GDAY_MAX_PLAINTEXT}`,
    );
  }
  const nonce = gdayNonce(prefix, counter);
  const length = plaintext.length + TAG_BYTES;
  const chunk = new Uint8Array(GDAY_HEADER_BYTES + length);
  new DataView(chunk.buffer).setUint16(0, length, false);
  sealInto(key, nonce, plaintext, undefined, chunk, GDAY_HEADER_BYTES);
  return chunk;
}

/**
 * Decrypt one whole gday chunk (header and body).
 *
 * @throws {TamperedStreamError} when authentication fails or the length is below 16.
 * @throws {TruncatedStreamError} when the chunk is shorter than its header says.
 *
 * @example The gday spec §6.5 vector "B→A #0"
 * ```ts
 * import { openGdayChunk } from "./gday_stream.ts";
 * const key = Uint8Array.fromHex("5762314249bf7bea422009af3b27de0ddc242a547263aba4c3fe01140fe14a4f");
 * const wire = Uint8Array.fromHex("0024aa54d754240a2493895eb1eadeafe4645c672dd7d1fb2cea1ea91e1a37e2c66cf7de04e4");
 * const plaintext = openGdayChunk(key, Uint8Array.fromHex("a1a3a1a7a1a3a1"), 0, wire);
 * if (new TextDecoder().decode(plaintext.subarray(4)) !== '{"response":[0]}') throw new Error("Bad");
 * ```
 */
export function openGdayChunk(
  key: Uint8Array,
  prefix: Uint8Array,
  counter: number,
  chunk: Uint8Array,
): Uint8Array {
  checkKeyAndPrefix(key, prefix);
  if (chunk.length < GDAY_HEADER_BYTES) {
    throw new TruncatedStreamError("gday chunk is shorter than its header; reconnect");
  }
  const length = (chunk[0]! << 8) | chunk[1]!;
  if (length < TAG_BYTES) throw new TamperedStreamError(counter);
  if (chunk.length !== GDAY_HEADER_BYTES + length) {
    throw new TruncatedStreamError(
      `gday chunk is ${chunk.length - GDAY_HEADER_BYTES} bytes, its header says ${length}; ` +
        "reconnect",
    );
  }
  const plaintext = open(
    key,
    gdayNonce(prefix, counter),
    chunk.subarray(GDAY_HEADER_BYTES),
    undefined,
  );
  if (plaintext === undefined) throw new TamperedStreamError(counter);
  return plaintext;
}

/**
 * Encrypts one direction of a gday stream. It has no end chunk: closing the writable closes the
 * transport, which is how gday ends a stream.
 *
 * @example
 * ```ts
 * import { GdayChunkSealer, openGdayChunk } from "./gday_stream.ts";
 * const key = new Uint8Array(32), prefix = new Uint8Array(7);
 * const sealer = new GdayChunkSealer(key, prefix);
 * const chunk = sealer.seal(new Uint8Array([5]));
 * if (openGdayChunk(key, prefix, 0, chunk).join() !== "5" || sealer.end() !== undefined) {
 *   throw new Error("Bad sealer");
 * }
 * ```
 */
export class GdayChunkSealer implements ChunkSealer {
  /** The most plaintext bytes one chunk carries. */
  readonly maxPlaintext: number = GDAY_MAX_PLAINTEXT;
  #key: Uint8Array;
  #prefix: Uint8Array;
  #counter = 0;

  /** Encrypt with `key` (32 bytes) and `prefix` (7 bytes). */
  constructor(key: Uint8Array, prefix: Uint8Array) {
    checkKeyAndPrefix(key, prefix);
    this.#key = key.slice();
    this.#prefix = prefix.slice();
  }

  /** Encrypt a chunk. */
  seal(plaintext: Uint8Array): Uint8Array {
    const chunk = sealGdayChunk(this.#key, this.#prefix, this.#counter, plaintext);
    this.#counter++;
    return chunk;
  }

  /** gday has no end chunk: always `undefined`. */
  end(): undefined {
    return undefined;
  }
}

/**
 * Decrypts one direction of a gday stream from a transport reader.
 *
 * @example
 * ```ts
 * import { GdayChunkOpener, sealGdayChunk } from "./gday_stream.ts";
 * import { ByteReader } from "./_byte_reader.ts";
 * const key = new Uint8Array(32), prefix = new Uint8Array(7);
 * const input = new ByteReader(ReadableStream.from([sealGdayChunk(key, prefix, 0, new Uint8Array([4]))]));
 * const opener = new GdayChunkOpener(key, prefix);
 * if ((await opener.next(input))?.join() !== "4") throw new Error("Bad chunk");
 * if ((await opener.next(input)) !== null) throw new Error("Expected a clean end");
 * ```
 */
export class GdayChunkOpener implements ChunkOpener {
  #key: Uint8Array;
  #prefix: Uint8Array;
  #counter = 0;

  /** Decrypt with `key` (32 bytes) and `prefix` (7 bytes). */
  constructor(key: Uint8Array, prefix: Uint8Array) {
    checkKeyAndPrefix(key, prefix);
    this.#key = key.slice();
    this.#prefix = prefix.slice();
  }

  /** The next plaintext (empty for an empty chunk), or `null` at a clean end. */
  async next(input: ByteReader): Promise<Uint8Array | null> {
    if ((await input.fill(GDAY_HEADER_BYTES)) < GDAY_HEADER_BYTES) return null;
    const header = input.take(GDAY_HEADER_BYTES);
    const length = (header[0]! << 8) | header[1]!;
    if (length < TAG_BYTES) throw new TamperedStreamError(this.#counter);
    if ((await input.fill(length)) < length) {
      throw new TruncatedStreamError(
        "The connection closed in the middle of an encrypted chunk: data is missing; " +
          "reconnect and try again",
      );
    }
    const nonce = gdayNonce(this.#prefix, this.#counter);
    const plaintext = open(this.#key, nonce, input.take(length), undefined);
    if (plaintext === undefined) throw new TamperedStreamError(this.#counter);
    this.#counter++;
    return plaintext;
  }
}
