/**
 * gday 0.1.1's peer authentication and stream setup (gday spec §4.3–§4.5), byte for byte, for
 * talking to gday peers. Both sides run the same code; at each step each side writes, then reads.
 *
 * | step | each side sends | bytes |
 * |---|---|---|
 * | 1 | SPAKE2 symmetric message `0x53 ‖ X`, identity "gday mates" ({@linkcode startSpake2}, lax) | 33 |
 * | 2 | random challenge | 32 |
 * | 3 | `BLAKE3(key ‖ peer_challenge)` | 32 |
 * | 4 | nothing: accept iff the peer's answer is `BLAKE3(key ‖ my_challenge)` | 0 |
 * | 5 | random seed (after authentication, from `encrypt()`) | 7 |
 *
 * The nonce prefix is `my_seed XOR peer_seed`, and the stream is `./gday_stream.ts` with the
 * SPAKE2 key used directly, the same key and prefix in both directions.
 *
 * **Weaknesses (required for compatibility; prefer native mode, `./handshake.ts`):** the key
 * confirmation covers only the key, not the transcript; there is no key derivation, so both
 * directions share key and nonces (keystream reuse); end of stream is not authenticated, so
 * truncation at a chunk boundary is undetected; the SPAKE2 step does no small-order or
 * identity check. The `role` is not part of gday: it is derived here from the two SPAKE2
 * messages (the smaller one is `"A"`) so callers can break ties the same way in both modes.
 *
 * @example Two gday peers over an in-memory pipe
 * ```ts
 * import { gdayHandshake, gdayPassword } from "./gday_handshake.ts";
 * import { duplexPair } from "./duplex_pair.ts";
 * const [left, right] = duplexPair();
 * const password = gdayPassword(0xfn);
 * const [a, b] = await Promise.all([gdayHandshake(left, password), gdayHandshake(right, password)]);
 * if (a.role === b.role) throw new Error("Roles must differ");
 * await Promise.all([a.close(), b.close()]);
 * ```
 *
 * @module
 */

import { blake3 } from "@noble/hashes/blake3.js";
import {
  DEFAULT_HANDSHAKE_TIMEOUT_MS,
  guardHandshake,
  type HandshakeChannel,
  type HandshakeIoOptions,
  runHandshake,
} from "./_handshake_io.ts";
import { createSession } from "./_session.ts";
import type { Duplex, SecureConnection } from "./duplex.ts";
import { WrongCodeError } from "./errors.ts";
import { GDAY_NONCE_PREFIX_BYTES, GdayChunkOpener, GdayChunkSealer } from "./gday_stream.ts";
import { SPAKE2_MESSAGE_BYTES, startSpake2 } from "./spake2.ts";
import { compareBytes, equalBytes } from "../bytes/mod.ts";

/** The SPAKE2 identity gday uses (`idS`). */
export const GDAY_IDENTITY = "gday mates";

/** Bytes in a gday challenge. */
export const GDAY_CHALLENGE_BYTES = 32;

/** Bytes in a gday challenge answer (BLAKE3 output). */
export const GDAY_ANSWER_BYTES = 32;

/** Bytes in a gday seed. */
export const GDAY_SEED_BYTES: number = GDAY_NONCE_PREFIX_BYTES;

/** Options for {@linkcode gdayAuthenticate}. */
export interface GdayAuthenticateOptions extends HandshakeIoOptions {
  /** The SPAKE2 scalar (32 bytes, little-endian), for test vectors only. @default {random} */
  scalar?: Uint8Array;
  /** Our challenge (32 bytes), for test vectors only. @default {random} */
  challenge?: Uint8Array;
}

/** Options for {@linkcode GdayAuthenticated.encrypt}. */
export interface GdayEncryptOptions extends HandshakeIoOptions {
  /** Our seed (7 bytes), for test vectors only. @default {random} */
  seed?: Uint8Array;
}

/** Options for {@linkcode gdayHandshake}. */
export interface GdayHandshakeOptions extends GdayAuthenticateOptions {
  /** Our seed (7 bytes), for test vectors only. @default {random} */
  seed?: Uint8Array;
}

/** A gday encrypted connection. */
export interface GdayConnection extends SecureConnection {
  /** The 32-byte SPAKE2 key, used directly as the ChaCha20-Poly1305 key both ways. */
  readonly key: Uint8Array;
  /** The 7-byte nonce prefix both directions use. */
  readonly noncePrefix: Uint8Array;
}

/** A connection whose peer proved the same code, before the seed exchange (gday spec §4.3). */
export interface GdayAuthenticated {
  /** The 32-byte SPAKE2 key. */
  readonly key: Uint8Array;
  /** The tie-break role: `"A"` if our SPAKE2 message is the smaller one. */
  readonly role: "A" | "B";
  /** `role === "A"`. */
  readonly isInitiator: boolean;
  /** Exchange seeds (gday spec §4.5) and start the encrypted stream; call at most once. */
  encrypt(options?: GdayEncryptOptions): Promise<GdayConnection>;
  /** Drop the connection instead of encrypting. */
  close(): Promise<void>;
}

/**
 * The gday password of a peer code's shared secret: the u64 as 8 big-endian bytes.
 *
 * @throws {RangeError} when the secret is not a u64.
 *
 * @example
 * ```ts
 * import { gdayPassword } from "./gday_handshake.ts";
 * if (gdayPassword(0xfn).toHex() !== "000000000000000f") throw new Error("Bad password");
 * ```
 */
export function gdayPassword(sharedSecret: bigint | number): Uint8Array {
  const secret = BigInt(sharedSecret);
  if (secret < 0n || secret >= 1n << 64n) {
    throw new RangeError(`gday shared secret ${secret} is not a u64`);
  }
  const bytes = new Uint8Array(8);
  new DataView(bytes.buffer).setBigUint64(0, secret, false);
  return bytes;
}

/**
 * gday's challenge answer: unkeyed `BLAKE3(key ‖ challenge)`, 32 bytes.
 *
 * @example The gday spec §6.4 answer A sends (to B's challenge 0x20..0x3f)
 * ```ts
 * import { gdayChallengeAnswer } from "./gday_handshake.ts";
 * const key = Uint8Array.fromHex("5762314249bf7bea422009af3b27de0ddc242a547263aba4c3fe01140fe14a4f");
 * const challenge = Uint8Array.from({ length: 32 }, (_, i) => 32 + i);
 * const answer = gdayChallengeAnswer(key, challenge);
 * if (answer.toHex() !== "bbf319ad4ed9d09d253cfa2d83c45f80ec18e61d39c8a25fa34b32f43f486193") {
 *   throw new Error("Bad answer");
 * }
 * ```
 */
export function gdayChallengeAnswer(key: Uint8Array, challenge: Uint8Array): Uint8Array {
  const input = new Uint8Array(key.length + challenge.length);
  input.set(key);
  input.set(challenge, key.length);
  return blake3(input);
}

/**
 * The nonce prefix: `mySeed XOR peerSeed` (7 bytes), the same on both sides.
 *
 * @example The gday spec §6.5 seeds
 * ```ts
 * import { gdayNoncePrefix } from "./gday_handshake.ts";
 * const prefix = gdayNoncePrefix(Uint8Array.fromHex("01020304050607"), Uint8Array.fromHex("a0a1a2a3a4a5a6"));
 * if (prefix.toHex() !== "a1a3a1a7a1a3a1") throw new Error("Bad prefix");
 * ```
 */
export function gdayNoncePrefix(mySeed: Uint8Array, peerSeed: Uint8Array): Uint8Array {
  if (mySeed.length !== GDAY_SEED_BYTES || peerSeed.length !== GDAY_SEED_BYTES) {
    throw new RangeError(`gday seeds must be ${GDAY_SEED_BYTES} bytes`);
  }
  return mySeed.map((byte, i) => byte ^ peerSeed[i]!);
}

function randomOr(bytes: Uint8Array | undefined, length: number, what: string): Uint8Array {
  if (bytes === undefined) return crypto.getRandomValues(new Uint8Array(length));
  if (bytes.length !== length) {
    throw new RangeError(`gday ${what} is ${bytes.length} bytes, it must be ${length}`);
  }
  return bytes;
}

/**
 * Authenticate the peer the gday way (steps 1–4, 97 bytes each way). The transport is closed
 * on failure. A wrong code fails on both sides, since each side sends its answer before it
 * checks the peer's.
 *
 * @throws {WrongCodeError} when the peer's answer shows a different code.
 * @throws {HandshakeError} when the peer misbehaves, goes away or the time runs out.
 *
 * @example
 * ```ts
 * import { gdayAuthenticate, gdayPassword } from "./gday_handshake.ts";
 * import { duplexPair } from "./duplex_pair.ts";
 * const [left, right] = duplexPair();
 * const [a, b] = await Promise.all([
 *   gdayAuthenticate(left, gdayPassword(7)),
 *   gdayAuthenticate(right, gdayPassword(7)),
 * ]);
 * if (a.key.toHex() !== b.key.toHex()) throw new Error("Keys differ");
 * await Promise.all([a.close(), b.close()]);
 * ```
 */
export async function gdayAuthenticate(
  conn: Duplex,
  password: Uint8Array,
  options: GdayAuthenticateOptions = {},
): Promise<GdayAuthenticated> {
  const myChallenge = randomOr(options.challenge, GDAY_CHALLENGE_BYTES, "challenge").slice();
  const spake = startSpake2(password, {
    identity: new TextEncoder().encode(GDAY_IDENTITY),
    scalar: options.scalar,
    strict: false,
  });
  let channel!: HandshakeChannel;
  const { key, role } = await runHandshake(conn, options, async (ch) => {
    channel = ch;
    const peerMessage = await ch.exchange(spake.message, SPAKE2_MESSAGE_BYTES);
    const key = spake.finish(peerMessage);
    const role: "A" | "B" = compareBytes(spake.message, peerMessage) < 0 ? "A" : "B";
    const peerChallenge = await ch.exchange(myChallenge, GDAY_CHALLENGE_BYTES);
    const peerAnswer = await ch.exchange(
      gdayChallengeAnswer(key, peerChallenge),
      GDAY_ANSWER_BYTES,
    );
    if (!equalBytes(peerAnswer, gdayChallengeAnswer(key, myChallenge))) {
      throw new WrongCodeError();
    }
    return { key, role };
  });
  return new Authenticated(channel, key, role);
}

class Authenticated implements GdayAuthenticated {
  readonly key: Uint8Array;
  readonly role: "A" | "B";
  readonly isInitiator: boolean;
  #channel: HandshakeChannel;
  #used = false;

  constructor(channel: HandshakeChannel, key: Uint8Array, role: "A" | "B") {
    this.#channel = channel;
    this.key = key;
    this.role = role;
    this.isInitiator = role === "A";
  }

  async encrypt(options: GdayEncryptOptions = {}): Promise<GdayConnection> {
    if (this.#used) throw new TypeError("encrypt() or close() was already called");
    const mySeed = randomOr(options.seed, GDAY_SEED_BYTES, "seed").slice();
    this.#used = true;
    const channel = this.#channel;
    const noncePrefix = await guardHandshake(channel, options, async () => {
      const peerSeed = await channel.exchange(mySeed, GDAY_SEED_BYTES);
      return gdayNoncePrefix(mySeed, peerSeed);
    });
    const session = createSession({
      input: channel.input,
      output: channel.output,
      sealer: new GdayChunkSealer(this.key, noncePrefix),
      opener: new GdayChunkOpener(this.key, noncePrefix),
      role: this.role,
    });
    return Object.assign(session, { key: this.key, noncePrefix });
  }

  async close(): Promise<void> {
    this.#used = true;
    await this.#channel.destroy(new DOMException("Closed before encrypting", "AbortError"));
  }
}

/**
 * The whole gday setup: {@linkcode gdayAuthenticate}, then the seed exchange and the encrypted
 * stream. The transport is closed on failure.
 *
 * @throws {WrongCodeError} when the peer used a different code.
 * @throws {HandshakeError} when the peer misbehaves, goes away or the time runs out.
 *
 * @example
 * ```ts
 * import { gdayHandshake, gdayPassword } from "./gday_handshake.ts";
 * import { duplexPair } from "./duplex_pair.ts";
 * const [left, right] = duplexPair();
 * const [a, b] = await Promise.all([
 *   gdayHandshake(left, gdayPassword(1)),
 *   gdayHandshake(right, gdayPassword(1)),
 * ]);
 * const writer = a.writable.getWriter();
 * await writer.write(new TextEncoder().encode("g'day"));
 * await writer.close();
 * const text = await new Response(b.readable).text();
 * if (text !== "g'day") throw new Error("Bad text");
 * await Promise.all([a.close(), b.close()]);
 * ```
 */
export async function gdayHandshake(
  conn: Duplex,
  password: Uint8Array,
  options: GdayHandshakeOptions = {},
): Promise<GdayConnection> {
  if (options.seed !== undefined) randomOr(options.seed, GDAY_SEED_BYTES, "seed");
  const started = Date.now();
  const authenticated = await gdayAuthenticate(conn, password, options);
  const { timeoutMs = DEFAULT_HANDSHAKE_TIMEOUT_MS } = options;
  return await authenticated.encrypt({
    signal: options.signal,
    timeoutMs: Math.max(1, timeoutMs - (Date.now() - started)),
    seed: options.seed,
  });
}
