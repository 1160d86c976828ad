/**
 * peerlink's native encrypted chunk format (secure protocol version 1). One direction uses one
 * 32-byte key (the handshake derives a different key per direction, see `./handshake.ts`).
 *
 * ```text
 * chunk  = header ‖ body
 * header = u32 big-endian: bit 31 = FINAL, bits 30..0 = len(body)
 * body   = ChaCha20-Poly1305(key, nonce, plaintext, aad = header) = ciphertext ‖ 16-byte tag
 * nonce  = 00 00 00 00 ‖ u64 big-endian counter
 * ```
 *
 * - `counter` starts at 0 in each direction and grows by one per chunk, the final chunk
 *   included. It never wraps: a writer refuses to go past {@linkcode MAX_CHUNK_COUNTER}
 *   (2^53 − 1, far below 2^64) with {@linkcode NonceExhaustedError}.
 * - `16 ≤ len(body) ≤ 65 552` (at most {@linkcode MAX_CHUNK_PLAINTEXT} = 64 KiB of plaintext).
 *   A reader rejects a larger length with {@linkcode ChunkTooLargeError} as soon as it has the
 *   header, before reading or allocating the body.
 * - The header is the AAD, so the length and the FINAL flag are authenticated.
 * - Writers never send an empty data chunk (readers skip them anyway).
 * - The FINAL chunk ends the direction. Writers send it with an empty plaintext when their
 *   writable closes. A reader that hits the end of the transport before a FINAL chunk throws
 *   {@linkcode TruncatedStreamError}, so truncation is always detected. After FINAL the reader
 *   stops reading; the other direction keeps working (half-close).
 *
 * @example Seal and open one chunk
 * ```ts
 * import { openChunk, sealChunk } from "./cipher_stream.ts";
 * const key = new Uint8Array(32).fill(7);
 * const chunk = sealChunk(key, 0, new TextEncoder().encode("hi"));
 * const { plaintext, final } = openChunk(key, 0, chunk);
 * if (new TextDecoder().decode(plaintext) !== "hi" || final) throw new Error("Round trip failed");
 * ```
 *
 * @module
 */

import type { ByteReader } from "./_byte_reader.ts";
import { KEY_BYTES, NONCE_BYTES, open, sealInto, TAG_BYTES } from "./_aead.ts";
import type { ChunkOpener, ChunkSealer } from "./_session.ts";
import {
  ChunkTooLargeError,
  NonceExhaustedError,
  TamperedStreamError,
  TruncatedStreamError,
} from "./errors.ts";

/** Bytes in a chunk header. */
export const CHUNK_HEADER_BYTES = 4;

/** The most plaintext one chunk carries: 64 KiB. */
export const MAX_CHUNK_PLAINTEXT = 65536;

/** The largest body (ciphertext and tag) a reader accepts. */
export const MAX_CHUNK_BODY: number = MAX_CHUNK_PLAINTEXT + TAG_BYTES;

/** Header bit that marks the final, end-of-stream chunk. */
export const FINAL_FLAG = 0x8000_0000;

/** The highest chunk counter; the chunk after it is refused, so nonces never repeat. */
export const MAX_CHUNK_COUNTER: number = Number.MAX_SAFE_INTEGER;

/** A decrypted chunk. */
export interface OpenedChunk {
  /** The plaintext, empty for the usual final chunk. */
  plaintext: Uint8Array;
  /** Whether this chunk ends the direction. */
  final: boolean;
}

/** A parsed chunk header. */
export interface ChunkHeader {
  /** Bytes in the body (ciphertext and tag). */
  length: number;
  /** Whether the FINAL flag is set. */
  final: boolean;
}

/**
 * The nonce of chunk `counter`: four zero bytes and the counter as a big-endian u64.
 *
 * @throws {NonceExhaustedError} when `counter` is above {@linkcode MAX_CHUNK_COUNTER}.
 *
 * @example
 * ```ts
 * import { chunkNonce } from "./cipher_stream.ts";
 * if (chunkNonce(258).toHex() !== "000000000000000000000102") throw new Error("Bad nonce");
 * ```
 */
export function chunkNonce(counter: number): Uint8Array {
  if (!Number.isInteger(counter) || counter < 0) {
    throw new RangeError(`Chunk counter is ${counter}, it must be a non-negative integer`);
  }
  if (counter > MAX_CHUNK_COUNTER) throw new NonceExhaustedError();
  const nonce = new Uint8Array(NONCE_BYTES);
  const view = new DataView(nonce.buffer);
  view.setUint32(4, Math.floor(counter / 2 ** 32), false);
  view.setUint32(8, counter >>> 0, false);
  return nonce;
}

/**
 * Parse a 4-byte chunk header, rejecting lengths no valid chunk has.
 *
 * @throws {ChunkTooLargeError} when the length is above {@linkcode MAX_CHUNK_BODY}.
 * @throws {TamperedStreamError} when the length is below the tag size.
 *
 * @example
 * ```ts
 * import { parseChunkHeader } from "./cipher_stream.ts";
 * const header = parseChunkHeader(Uint8Array.fromHex("80000010"));
 * if (header.length !== 16 || !header.final) throw new Error("Bad header");
 * ```
 */
export function parseChunkHeader(header: Uint8Array, counter = 0): ChunkHeader {
  if (header.length !== CHUNK_HEADER_BYTES) {
    throw new RangeError(
      `Chunk header is ${header.length} bytes, it must be ${CHUNK_HEADER_BYTES}`,
    );
  }
  const word = new DataView(header.buffer, header.byteOffset, CHUNK_HEADER_BYTES).getUint32(0);
  const length = word & 0x7fff_ffff;
  if (length > MAX_CHUNK_BODY) throw new ChunkTooLargeError(length, MAX_CHUNK_BODY);
  if (length < TAG_BYTES) throw new TamperedStreamError(counter);
  return { length, final: (word & FINAL_FLAG) !== 0 };
}

function checkKey(key: Uint8Array): void {
  if (key.length !== KEY_BYTES) {
    throw new RangeError(`Chunk key is ${key.length} bytes, it must be ${KEY_BYTES}`);
  }
}

/**
 * Encrypt one chunk (header and body).
 *
 * @throws {RangeError} when the plaintext is above {@linkcode MAX_CHUNK_PLAINTEXT} bytes.
 * @throws {NonceExhaustedError} when `counter` is above {@linkcode MAX_CHUNK_COUNTER}.
 *
 * @example An empty final chunk is 20 bytes
 * ```ts
 * import { sealChunk } from "./cipher_stream.ts";
 * const chunk = sealChunk(new Uint8Array(32), 5, new Uint8Array(0), true);
 * if (chunk.length !== 20 || chunk.subarray(0, 4).toHex() !== "80000010") throw new Error("Bad");
 * ```
 */
export function sealChunk(
  key: Uint8Array,
  counter: number,
  plaintext: Uint8Array,
  final = false,
): Uint8Array {
  checkKey(key);
  if (plaintext.length > MAX_CHUNK_PLAINTEXT) {
    throw new RangeError(
      `Chunk plaintext is ${plaintext.length} bytes, the maximum is ${MAX_CHUNK_PLAINTEXT}`,
    );
  }
  const chunk = new Uint8Array(CHUNK_HEADER_BYTES + plaintext.length + TAG_BYTES);
  sealChunkInto(key, counter, plaintext, final, chunk, 0);
  return chunk;
}

/** Seal one chunk into `out` at `offset` (room for header, plaintext and tag is the caller's). */
function sealChunkInto(
  key: Uint8Array,
  counter: number,
  plaintext: Uint8Array,
  final: boolean,
  out: Uint8Array,
  offset: number,
): void {
  const length = plaintext.length + TAG_BYTES;
  new DataView(out.buffer, out.byteOffset).setUint32(
    offset,
    (final ? FINAL_FLAG : 0) + length,
    false,
  );
  const header = out.subarray(offset, offset + CHUNK_HEADER_BYTES);
  sealInto(key, chunkNonce(counter), plaintext, header, out, offset + CHUNK_HEADER_BYTES);
}

/**
 * Decrypt one whole chunk (header and body).
 *
 * @throws {TamperedStreamError} when authentication fails.
 * @throws {ChunkTooLargeError} when the header claims an oversize body.
 * @throws {TruncatedStreamError} when the chunk is shorter than its header says.
 *
 * @example A flipped bit is detected
 * ```ts
 * import { openChunk, sealChunk } from "./cipher_stream.ts";
 * import { TamperedStreamError } from "./errors.ts";
 * const key = new Uint8Array(32);
 * const chunk = sealChunk(key, 0, new Uint8Array([1, 2, 3]));
 * chunk[5]! ^= 1;
 * let error;
 * try { openChunk(key, 0, chunk); } catch (e) { error = e; }
 * if (!(error instanceof TamperedStreamError)) throw new Error("Tampering missed");
 * ```
 */
export function openChunk(key: Uint8Array, counter: number, chunk: Uint8Array): OpenedChunk {
  checkKey(key);
  if (chunk.length < CHUNK_HEADER_BYTES) {
    throw new TruncatedStreamError("Encrypted chunk is shorter than its header; reconnect");
  }
  const headerBytes = chunk.subarray(0, CHUNK_HEADER_BYTES);
  const { length, final } = parseChunkHeader(headerBytes, counter);
  if (chunk.length !== CHUNK_HEADER_BYTES + length) {
    throw new TruncatedStreamError(
      `Encrypted chunk is ${chunk.length - CHUNK_HEADER_BYTES} bytes, its header says ${length}; ` +
        "reconnect",
    );
  }
  const plaintext = open(key, chunkNonce(counter), chunk.subarray(CHUNK_HEADER_BYTES), headerBytes);
  if (plaintext === undefined) throw new TamperedStreamError(counter);
  return { plaintext, final };
}

/**
 * Encrypts one direction in the native format, counting chunks from 0.
 *
 * @example
 * ```ts
 * import { NativeChunkSealer, openChunk } from "./cipher_stream.ts";
 * const key = new Uint8Array(32);
 * const sealer = new NativeChunkSealer(key);
 * sealer.seal(new Uint8Array([1]));
 * if (!openChunk(key, 1, sealer.end()).final) throw new Error("Expected final chunk 1");
 * ```
 */
export class NativeChunkSealer implements ChunkSealer {
  /** The most plaintext bytes one chunk carries. */
  readonly maxPlaintext: number = MAX_CHUNK_PLAINTEXT;
  #key: Uint8Array;
  #counter = 0;
  #ended = false;

  /** Encrypt with `key` (32 bytes). */
  constructor(key: Uint8Array) {
    checkKey(key);
    this.#key = key.slice();
  }

  /** Encrypt a data chunk. */
  seal(plaintext: Uint8Array): Uint8Array {
    return this.#next(plaintext, false);
  }

  /** Encrypt several data chunks back to back into one buffer. */
  sealMany(plaintexts: readonly Uint8Array[]): Uint8Array {
    if (this.#ended) throw new TypeError("Cannot seal a chunk after the final chunk");
    let total = 0;
    for (const p of plaintexts) {
      if (p.length > MAX_CHUNK_PLAINTEXT) {
        throw new RangeError(
          `Chunk plaintext is ${p.length} bytes, the maximum is ${MAX_CHUNK_PLAINTEXT}`,
        );
      }
      total += CHUNK_HEADER_BYTES + p.length + TAG_BYTES;
    }
    const out = new Uint8Array(total);
    let offset = 0;
    for (const p of plaintexts) {
      sealChunkInto(this.#key, this.#counter++, p, false, out, offset);
      offset += CHUNK_HEADER_BYTES + p.length + TAG_BYTES;
    }
    return out;
  }

  /** Encrypt the empty final chunk; nothing can be sealed after it. */
  end(): Uint8Array {
    return this.#next(new Uint8Array(0), true);
  }

  #next(plaintext: Uint8Array, final: boolean): Uint8Array {
    if (this.#ended) throw new TypeError("Cannot seal a chunk after the final chunk");
    const chunk = sealChunk(this.#key, this.#counter, plaintext, final);
    this.#counter++;
    this.#ended = final;
    return chunk;
  }
}

/**
 * Decrypts one direction in the native format from a transport reader.
 *
 * @example
 * ```ts
 * import { NativeChunkOpener, NativeChunkSealer } from "./cipher_stream.ts";
 * import { ByteReader } from "./_byte_reader.ts";
 * const key = new Uint8Array(32);
 * const sealer = new NativeChunkSealer(key);
 * const input = new ByteReader(ReadableStream.from([sealer.seal(new Uint8Array([9])), sealer.end()]));
 * const opener = new NativeChunkOpener(key);
 * if ((await opener.next(input))?.join() !== "9") throw new Error("Bad chunk");
 * if ((await opener.next(input)) !== null) throw new Error("Expected the end");
 * ```
 */
export class NativeChunkOpener implements ChunkOpener {
  #key: Uint8Array;
  #counter = 0;
  #ended = false;

  /** Decrypt with `key` (32 bytes). */
  constructor(key: Uint8Array) {
    checkKey(key);
    this.#key = key.slice();
  }

  /** The next plaintext, or `null` after the final chunk. */
  async next(input: ByteReader): Promise<Uint8Array | null> {
    if (this.#ended) return null;
    const got = await input.fill(CHUNK_HEADER_BYTES);
    if (got < CHUNK_HEADER_BYTES) {
      throw new TruncatedStreamError(
        "The connection closed before the peer's authenticated end of stream: data may be " +
          "missing; reconnect and try again",
      );
    }
    const headerBytes = input.take(CHUNK_HEADER_BYTES);
    const { length, final } = parseChunkHeader(headerBytes, this.#counter);
    if ((await input.fill(length)) < length) {
      throw new TruncatedStreamError(
        "The connection closed in the middle of an encrypted chunk: data is missing; " +
          "reconnect and try again",
      );
    }
    const nonce = chunkNonce(this.#counter);
    const plaintext = open(this.#key, nonce, input.take(length), headerBytes);
    if (plaintext === undefined) throw new TamperedStreamError(this.#counter);
    this.#counter++;
    if (final) this.#ended = true;
    if (final && plaintext.length === 0) return null;
    return plaintext;
  }
}
