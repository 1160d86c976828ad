/**
 * Authentication and encryption for a direct connection between two peers who share a short
 * code. Everything works over any {@linkcode Duplex} (a `Deno.Conn`, a socket adapter, or
 * {@linkcode duplexPair} in tests) and returns a {@linkcode SecureConnection} of web streams
 * with backpressure.
 *
 * - **Native mode** (the default): {@linkcode handshake}. SPAKE2, key confirmation over the
 *   whole transcript, one key per direction, authenticated end of stream and half-close. See
 *   `./handshake.ts` and `./cipher_stream.ts` for the byte-level specification.
 * - **gday mode**, for gday 0.1.1 peers: {@linkcode gdayHandshake} (or
 *   {@linkcode gdayAuthenticate} then `encrypt()`), and the file offer codec
 *   {@linkcode encodeGdayOffer} / {@linkcode decodeGdayOffer}. It inherits gday's weaknesses
 *   (no end-of-stream authentication, keystream reuse across directions).
 * - Errors: {@linkcode HandshakeError}, {@linkcode WrongCodeError}, {@linkcode Spake2Error},
 *   {@linkcode TamperedStreamError}, {@linkcode TruncatedStreamError},
 *   {@linkcode ChunkTooLargeError}, {@linkcode NonceExhaustedError},
 *   {@linkcode GdayMessageError}.
 *
 * @example Two peers, one code
 * ```ts
 * import { duplexPair, handshake } from "./mod.ts";
 * const [left, right] = duplexPair();
 * const code = new TextEncoder().encode("3-lemon-harbour");
 * const [alice, bob] = await Promise.all([handshake(left, code), handshake(right, code)]);
 * const writer = alice.writable.getWriter();
 * await writer.write(new TextEncoder().encode("hello bob"));
 * await writer.close();
 * if ((await new Response(bob.readable).text()) !== "hello bob") throw new Error("Bad text");
 * await Promise.all([alice.close(), bob.close()]);
 * ```
 *
 * @module
 */

export type { Duplex, SecureConnection } from "./duplex.ts";
export { duplexPair, type DuplexPairOptions } from "./duplex_pair.ts";
export * from "./errors.ts";
export { DEFAULT_HANDSHAKE_TIMEOUT_MS, type HandshakeIoOptions } from "./_handshake_io.ts";
export type { DirectionalKeys } from "./_keys.ts";
export {
  CONFIRM_BYTES,
  deriveNativeKeys,
  handshake,
  type HandshakeOptions,
  HELLO_BYTES,
  NATIVE_IDENTITY,
  type NativeKeys,
  nativePassword,
  PROTOCOL_VERSION,
} from "./handshake.ts";
export {
  CHUNK_HEADER_BYTES,
  type ChunkHeader,
  chunkNonce,
  FINAL_FLAG,
  MAX_CHUNK_BODY,
  MAX_CHUNK_COUNTER,
  MAX_CHUNK_PLAINTEXT,
  openChunk,
  type OpenedChunk,
  parseChunkHeader,
  sealChunk,
} from "./cipher_stream.ts";
export {
  GDAY_ANSWER_BYTES,
  GDAY_CHALLENGE_BYTES,
  GDAY_IDENTITY,
  GDAY_SEED_BYTES,
  gdayAuthenticate,
  type GdayAuthenticated,
  type GdayAuthenticateOptions,
  gdayChallengeAnswer,
  type GdayConnection,
  type GdayEncryptOptions,
  gdayHandshake,
  type GdayHandshakeOptions,
  gdayNoncePrefix,
  gdayPassword,
} from "./gday_handshake.ts";
export {
  GDAY_HEADER_BYTES,
  GDAY_MAX_COUNTER,
  GDAY_MAX_PLAINTEXT,
  GDAY_NONCE_PREFIX_BYTES,
  gdayNonce,
  openGdayChunk,
  sealGdayChunk,
} from "./gday_stream.ts";
export {
  decodeGdayOffer,
  decodeGdayResponse,
  encodeGdayOffer,
  encodeGdayResponse,
  GDAY_MESSAGE_PREFIX_BYTES,
  type GdayFileMeta,
  type GdayFileOffer,
  type GdayFileResponse,
  MAX_GDAY_OFFER_BYTES,
} from "./gday_offer.ts";
export {
  type Spake2,
  SPAKE2_KEY_BYTES,
  SPAKE2_M,
  SPAKE2_MESSAGE_BYTES,
  SPAKE2_N,
  SPAKE2_S,
  type Spake2ABTranscript,
  spake2HashAB,
  spake2HashSymmetric,
  type Spake2Options,
  spake2PasswordScalar,
  type Spake2Side,
  type Spake2SymmetricTranscript,
  startSpake2,
} from "./spake2.ts";
export * from "./identity_handshake.ts";
