/**
 * peerlink's native secure handshake (the default mode), secure protocol version 1. Both peers
 * run the same code and know the same secret (the code the users exchanged); neither needs to
 * know in advance which side it is.
 *
 * ## Byte-level specification
 *
 * Notation: `‖` concatenation, `u32(n)` 4-byte big-endian, `HKDF(salt, ikm, info)` is
 * HKDF-SHA256 with a 32-byte output, `HMAC` is HMAC-SHA256, strings are ASCII.
 *
 * 1. **Password.** `pw = HMAC(key = "peerlink/1 password", secret)`.
 * 2. **Hello** (34 bytes each way, sent and read concurrently):
 *    `hello = 0x01 ‖ 0x53 ‖ compress(X)`, where `0x01` is the protocol version and
 *    `0x53 ‖ compress(X)` is the symmetric SPAKE2 message of `./spake2.ts` for password `pw`
 *    and identity `idS = "peerlink/1"`. A peer whose first byte is not `0x01` is refused
 *    (`0x53` means it speaks gday). The peer's SPAKE2 message is checked strictly: canonical
 *    encoding, in the prime-order subgroup, not the identity, not our own message.
 * 3. **SPAKE2 key.** `k = SHA-256(SHA-256(pw) ‖ SHA-256(idS) ‖ min(X, Y) ‖ max(X, Y) ‖ K)`.
 * 4. **Roles.** The peer whose 34-byte hello is lexicographically smaller is `A`, the other `B`
 *    (equal hellos were refused in step 2). Both peers compute the same roles; they are exposed
 *    as `role`/`isInitiator` to break ties (e.g. to agree on one of several connections).
 * 5. **Transcript.** `T = SHA-256("peerlink/1 transcript" ‖ u32(len(context)) ‖ context ‖
 *    hello_A ‖ hello_B)`, where `context` is the caller's `context` option (empty by default;
 *    both peers must pass the same bytes, e.g. a room id, to bind the session to it).
 * 6. **Keys.** For each label `L` in `confirm A`, `confirm B`, `data A to B`, `data B to A`:
 *    `key_L = HKDF(salt = T, ikm = k, info = "peerlink/1 " ‖ L)`.
 * 7. **Key confirmation** (32 bytes each way, sent and read concurrently): each peer sends
 *    `HMAC(key_confirm_<own role>, T)` and checks the peer's against
 *    `HMAC(key_confirm_<peer role>, T)` in constant time. Each side sends before it checks, so
 *    with a wrong code both sides fail with {@linkcode WrongCodeError} and close the transport;
 *    neither hangs.
 * 8. **Data.** `A` sends with `key_data A to B` and `B` with `key_data B to A`, in the chunk
 *    format of `./cipher_stream.ts` (one key per direction, counter nonces, authenticated end
 *    of stream, half-close).
 *
 * The whole handshake is 66 bytes each way and runs under `timeoutMs` and `signal`; on any
 * failure the transport is closed before the error is thrown.
 *
 * **Closing.** Closing the returned writable sends the FINAL chunk but leaves the transport
 * open, so the other direction keeps working even on transports whose writable close ends both
 * directions (a `Deno.Conn`). The transport is closed once both directions have ended, at once
 * on an integrity failure (both streams then error), or by `close()`.
 *
 * **Security notes.** An attacker who does not know the secret learns nothing offline from a
 * transcript and gets one guess per handshake (SPAKE2), so short codes are fine as long as
 * failed attempts are not retried without limit. Nothing here authenticates identities beyond
 * the shared secret and the `context`.
 *
 * @example Two peers over an in-memory pipe
 * ```ts
 * import { handshake } from "./handshake.ts";
 * import { duplexPair } from "./duplex_pair.ts";
 * const [left, right] = duplexPair();
 * const code = new TextEncoder().encode("7-crossover-clockwork");
 * const [a, b] = await Promise.all([handshake(left, code), handshake(right, code)]);
 * if (a.isInitiator === b.isInitiator) throw new Error("Exactly one peer is A");
 * const writer = a.writable.getWriter();
 * await writer.write(new TextEncoder().encode("hi"));
 * await writer.close();
 * if ((await new Response(b.readable).text()) !== "hi") throw new Error("Bad text");
 * await Promise.all([a.close(), b.close()]);
 * ```
 *
 * @module
 */

import { type DirectionalKeys, transcriptKeys } from "./_keys.ts";
import { hmac } from "@noble/hashes/hmac.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { type HandshakeIoOptions, runHandshake } from "./_handshake_io.ts";
import { createSession } from "./_session.ts";
import { NativeChunkOpener, NativeChunkSealer } from "./cipher_stream.ts";
import type { Duplex, SecureConnection } from "./duplex.ts";
import { HandshakeError, WrongCodeError } from "./errors.ts";
import { SPAKE2_MESSAGE_BYTES, startSpake2 } from "./spake2.ts";
import { equalBytes } from "../bytes/mod.ts";

export { DEFAULT_HANDSHAKE_TIMEOUT_MS } from "./_handshake_io.ts";

/** The secure protocol version this module speaks (the first hello byte). */
export const PROTOCOL_VERSION = 1;

/** The SPAKE2 identity of native mode. */
export const NATIVE_IDENTITY = "peerlink/1";

/** Bytes in a hello: the version byte and a SPAKE2 message. */
export const HELLO_BYTES: number = 1 + SPAKE2_MESSAGE_BYTES;

/** Bytes in a key confirmation (an HMAC-SHA256). */
export const CONFIRM_BYTES = 32;

/** Options for {@linkcode handshake}. */
export interface HandshakeOptions extends HandshakeIoOptions {
  /** Bytes both peers bind the session to (e.g. a room id); must be equal. @default {empty} */
  context?: Uint8Array;
  /** The SPAKE2 scalar (32 bytes, little-endian), for tests only. @default {random} */
  scalar?: Uint8Array;
}

/** The keys a native handshake derives. */
export type NativeKeys = DirectionalKeys;

const encoder = new TextEncoder();
const GDAY_SIDE_BYTE = 0x53;

/**
 * The SPAKE2 password for a secret (step 1): `HMAC-SHA256("peerlink/1 password", secret)`.
 *
 * @example
 * ```ts
 * import { nativePassword } from "./handshake.ts";
 * const pw = nativePassword(new TextEncoder().encode("code"));
 * if (pw.length !== 32) throw new Error("Expected 32 bytes");
 * ```
 */
export function nativePassword(secret: Uint8Array): Uint8Array {
  return hmac(sha256, encoder.encode("peerlink/1 password"), secret);
}

/**
 * Derive roles, transcript and keys (steps 4–6) from our hello, the peer's hello, the SPAKE2
 * key and the context. Pure; exported so the specification can be checked independently.
 *
 * @throws {HandshakeError} when the two hellos are equal.
 *
 * @example Both sides derive mirrored keys
 * ```ts
 * import { deriveNativeKeys } from "./handshake.ts";
 * const h1 = new Uint8Array(34).fill(1), h2 = new Uint8Array(34).fill(2), k = new Uint8Array(32);
 * const a = deriveNativeKeys(h1, h2, k, new Uint8Array(0));
 * const b = deriveNativeKeys(h2, h1, k, new Uint8Array(0));
 * if (a.role !== "A" || b.role !== "B") throw new Error("Bad roles");
 * if (a.send.toHex() !== b.receive.toHex() || a.confirmOwn.toHex() !== b.confirmPeer.toHex()) {
 *   throw new Error("Keys do not mirror");
 * }
 * ```
 */
export function deriveNativeKeys(
  ownHello: Uint8Array,
  peerHello: Uint8Array,
  spakeKey: Uint8Array,
  context: Uint8Array,
): NativeKeys {
  const keys = transcriptKeys("peerlink/1", ownHello, peerHello, spakeKey, context);
  if (keys === null) {
    throw new HandshakeError(
      "The peer echoed our own handshake message; someone may be interfering, try again",
    );
  }
  return keys;
}

/**
 * Run the native handshake over `conn` with the shared `secret` and return the encrypted
 * connection. The transport is closed on failure.
 *
 * @throws {WrongCodeError} on both peers when their secrets differ (or an attacker guessed).
 * @throws {HandshakeError} when the peer misbehaves, speaks another version, goes away or the
 * time runs out.
 * @throws the signal's reason when `signal` aborts.
 *
 * @example A wrong code fails on both sides
 * ```ts
 * import { handshake } from "./handshake.ts";
 * import { duplexPair } from "./duplex_pair.ts";
 * import { WrongCodeError } from "./errors.ts";
 * const [left, right] = duplexPair();
 * const results = await Promise.allSettled([
 *   handshake(left, new TextEncoder().encode("one")),
 *   handshake(right, new TextEncoder().encode("two")),
 * ]);
 * for (const r of results) {
 *   if (r.status !== "rejected" || !(r.reason instanceof WrongCodeError)) throw new Error("Expected WrongCodeError");
 * }
 * ```
 */
export async function handshake(
  conn: Duplex,
  secret: Uint8Array,
  options: HandshakeOptions = {},
): Promise<SecureConnection> {
  const context = options.context ?? new Uint8Array(0);
  const spake = startSpake2(nativePassword(secret), {
    identity: encoder.encode(NATIVE_IDENTITY),
    scalar: options.scalar,
    strict: true,
  });
  const hello = new Uint8Array(HELLO_BYTES);
  hello[0] = PROTOCOL_VERSION;
  hello.set(spake.message, 1);
  return await runHandshake(conn, options, async (channel) => {
    const peerHello = await channel.exchange(hello, HELLO_BYTES);
    if (peerHello[0] !== PROTOCOL_VERSION) {
      throw new HandshakeError(
        peerHello[0] === GDAY_SIDE_BYTE
          ? "The peer speaks the gday protocol, not peerlink's native one; use gday mode"
          : `The peer speaks secure protocol version ${peerHello[0]}, this peerlink speaks ` +
            `${PROTOCOL_VERSION}; run the same peerlink version on both sides`,
      );
    }
    const spakeKey = spake.finish(peerHello.subarray(1));
    const keys = deriveNativeKeys(hello, peerHello, spakeKey, context);
    const peerConfirm = await channel.exchange(
      hmac(sha256, keys.confirmOwn, keys.transcript),
      CONFIRM_BYTES,
    );
    if (!equalBytes(peerConfirm, hmac(sha256, keys.confirmPeer, keys.transcript))) {
      throw new WrongCodeError();
    }
    return createSession({
      input: channel.input,
      output: channel.output,
      sealer: new NativeChunkSealer(keys.send),
      opener: new NativeChunkOpener(keys.receive),
      role: keys.role,
    });
  });
}
