/**
 * SPAKE2 on edwards25519, byte-compatible with the Rust `spake2` 0.4.0 crate (and python-spake2),
 * as described in the gday spec §4.4. Pure: no I/O, no timers.
 *
 * Construction (symmetric mode, side byte `S` = 0x53):
 *
 * 1. `w = int_BE(HKDF-SHA256(salt = "", ikm = password, info = "SPAKE2 pw", L = 48)) mod l`.
 * 2. `x` = random scalar (64 random bytes, little-endian, mod l). `X = x·B + w·S`.
 *    The message is `0x53 ‖ compress(X)` (33 bytes).
 * 3. On the peer's message `0x53 ‖ Y`: `K = x·(Y − w·S)`.
 * 4. `key = SHA-256(SHA-256(pw) ‖ SHA-256(idS) ‖ min(X, Y) ‖ max(X, Y) ‖ compress(K))`.
 *
 * Asymmetric mode (sides `A` = 0x41 and `B` = 0x42) blinds with `M` (side A) and `N` (side B)
 * and hashes `SHA-256(SHA-256(pw) ‖ SHA-256(idA) ‖ SHA-256(idB) ‖ X_A ‖ X_B ‖ compress(K))`.
 * It is here so the crate's own test vectors can be checked.
 *
 * Validation has two levels:
 *
 * - `strict: true` (the default, peerlink's native mode) rejects non-canonical encodings, the
 *   identity and every point outside the prime-order subgroup (so small-order points too), a
 *   message that echoes our own, and an identity shared point `K`.
 * - `strict: false` (gday mode) is as lax as the crate: it checks only the length, the side byte
 *   and that the point decodes. It decodes with ZIP-215 rules (non-canonical `y` and `-0`
 *   accepted), the nearest match to curve25519-dalek's `decompress` (spec §8 leaves the exact
 *   behaviour unverified), and it does no cofactor or small-order check.
 *
 * @example Two peers agree on a key
 * ```ts
 * import { startSpake2 } from "./spake2.ts";
 * const password = new TextEncoder().encode("correct horse");
 * const alice = startSpake2(password);
 * const bob = startSpake2(password);
 * const k1 = alice.finish(bob.message);
 * const k2 = bob.finish(alice.message);
 * if (k1.toHex() !== k2.toHex()) throw new Error("Keys differ");
 * ```
 *
 * @module
 */

import { ed25519 } from "@noble/curves/ed25519.js";
import { hkdf } from "@noble/hashes/hkdf.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { Spake2Error } from "./errors.ts";
import { compareBytes } from "../bytes/mod.ts";

/** Bytes in a SPAKE2 message: one side byte and a compressed point. */
export const SPAKE2_MESSAGE_BYTES = 33;

/** Bytes in the key SPAKE2 outputs (a SHA-256 digest). */
export const SPAKE2_KEY_BYTES = 32;

/** Compressed blinding point `S` of symmetric mode (spake2 0.4.0 `const_s`). */
export const SPAKE2_S = "6f00dae87c1be1a73b5922ef431cd8f57879569c222d22b1cd71e8546ab8e6f1";

/** Compressed blinding point `M` of side A (spake2 0.4.0 `const_m`). */
export const SPAKE2_M = "15cfd18e385952982b6a8f8c7854963b58e34388c8e6dae891db756481a02312";

/** Compressed blinding point `N` of side B (spake2 0.4.0 `const_n`). */
export const SPAKE2_N = "f04f2e7eb734b2a8f8b472eaf9c3c632576ac64aea650b496a8a20ff00e583c3";

/** Which SPAKE2 role a peer plays: `"S"` symmetric (both peers), or `"A"` / `"B"`. */
export type Spake2Side = "S" | "A" | "B";

/** Options for {@linkcode startSpake2}. */
export interface Spake2Options {
  /** The role; both peers use `"S"`, or one uses `"A"` and the other `"B"`. @default {"S"} */
  side?: Spake2Side;
  /** The shared identity `idS` of symmetric mode. @default {empty} */
  identity?: Uint8Array;
  /** The identity `idA` of asymmetric mode. @default {empty} */
  identityA?: Uint8Array;
  /** The identity `idB` of asymmetric mode. @default {empty} */
  identityB?: Uint8Array;
  /**
   * The secret scalar as 32 little-endian bytes (reduced mod l), for test vectors only. Never
   * set it in real use: the default draws a fresh one from `crypto.getRandomValues`.
   */
  scalar?: Uint8Array;
  /** Reject unsafe peer messages (see the module docs); `false` matches gday. @default {true} */
  strict?: boolean;
}

/** One peer's SPAKE2 state: send {@linkcode message}, then call {@linkcode finish} once. */
export interface Spake2 {
  /** The 33-byte message to send to the peer. */
  readonly message: Uint8Array;
  /** The side this state plays. */
  readonly side: Spake2Side;
  /**
   * Compute the shared key from the peer's message. A wrong password is not detected here: it
   * yields a different key, which key confirmation must catch.
   *
   * @throws {Spake2Error} when the message is malformed or (strict mode) unsafe, or when
   * called twice.
   */
  finish(peerMessage: Uint8Array): Uint8Array;
}

const Point = ed25519.Point;
type EdPoint = InstanceType<typeof Point>;
/** The order of the prime subgroup, l = 2^252 + 27742317777372353535851937790883648493. */
const L = Point.Fn.ORDER;
const SIDE_BYTE: Record<Spake2Side, number> = { S: 0x53, A: 0x41, B: 0x42 };
const PEER_SIDE: Record<Spake2Side, Spake2Side> = { S: "S", A: "B", B: "A" };
const EMPTY = new Uint8Array(0);

function leToBigint(bytes: Uint8Array): bigint {
  let n = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(bytes[i]!);
  return n;
}

function beToBigint(bytes: Uint8Array): bigint {
  let n = 0n;
  for (const byte of bytes) n = (n << 8n) | BigInt(byte);
  return n;
}

function randomScalar(): bigint {
  const bytes = new Uint8Array(64);
  for (;;) {
    crypto.getRandomValues(bytes);
    const x = leToBigint(bytes) % L;
    bytes.fill(0);
    if (x !== 0n) return x;
  }
}

function blindingPoint(side: Spake2Side): EdPoint {
  return Point.fromHex(side === "A" ? SPAKE2_M : side === "B" ? SPAKE2_N : SPAKE2_S);
}

/**
 * The password scalar `w`: HKDF-SHA256 (empty salt, info "SPAKE2 pw", 48 bytes) read as a
 * big-endian integer, reduced mod l.
 *
 * @example The spake2 crate's `test_password_to_scalar` vector
 * ```ts
 * import { spake2PasswordScalar } from "./spake2.ts";
 * const w = spake2PasswordScalar(new TextEncoder().encode("password"));
 * if (w !== 3515301705789368674385125653994241092664323519848410154015274772661223168839n) {
 *   throw new Error("Wrong scalar");
 * }
 * ```
 */
export function spake2PasswordScalar(password: Uint8Array): bigint {
  const okm = hkdf(sha256, password, EMPTY, new TextEncoder().encode("SPAKE2 pw"), 48);
  return beToBigint(okm) % L;
}

/** The inputs of {@linkcode spake2HashSymmetric}. */
export interface Spake2SymmetricTranscript {
  /** The password bytes. */
  password: Uint8Array;
  /** The shared identity `idS`. */
  identity: Uint8Array;
  /** One peer's 32-byte point (either order). */
  pointU: Uint8Array;
  /** The other peer's 32-byte point. */
  pointV: Uint8Array;
  /** The 32-byte encoding of the shared point `K`. */
  key: Uint8Array;
}

/** The inputs of {@linkcode spake2HashAB}. */
export interface Spake2ABTranscript {
  /** The password bytes. */
  password: Uint8Array;
  /** Side A's identity `idA`. */
  identityA: Uint8Array;
  /** Side B's identity `idB`. */
  identityB: Uint8Array;
  /** Side A's 32-byte point. */
  pointA: Uint8Array;
  /** Side B's 32-byte point. */
  pointB: Uint8Array;
  /** The 32-byte encoding of the shared point `K`. */
  key: Uint8Array;
}

/**
 * The symmetric-mode key: `SHA-256(SHA-256(pw) ‖ SHA-256(idS) ‖ min ‖ max ‖ K)`, where min/max
 * order the two 32-byte points lexicographically.
 *
 * @throws {RangeError} when a point or `key` is not 32 bytes.
 *
 * @example The spake2 crate's `test_hash_symmetric` vector
 * ```ts
 * import { spake2HashSymmetric } from "./spake2.ts";
 * const b = (s: string) => new TextEncoder().encode(s);
 * const key = spake2HashSymmetric({
 *   password: b("pw"),
 *   identity: b("idSymmetric"),
 *   pointU: b("X".repeat(32)),
 *   pointV: b("Y".repeat(32)),
 *   key: b("K".repeat(32)),
 * });
 * if (key.toHex() !== "b0b31e4401aae37d91a9a8bf6fbb1298cafc005ff9142e3ffc5b9799fb11128b") {
 *   throw new Error("Wrong key");
 * }
 * ```
 */
export function spake2HashSymmetric(transcript: Spake2SymmetricTranscript): Uint8Array {
  const { password, identity, pointU, pointV, key } = transcript;
  const [first, second] = compareBytes(pointU, pointV) < 0 ? [pointU, pointV] : [pointV, pointU];
  return transcriptHash([sha256(password), sha256(identity), first, second, key]);
}

/**
 * The asymmetric-mode key: `SHA-256(SHA-256(pw) ‖ SHA-256(idA) ‖ SHA-256(idB) ‖ X_A ‖ X_B ‖ K)`.
 *
 * @throws {RangeError} when a point or `key` is not 32 bytes.
 *
 * @example The spake2 crate's `test_hash_ab` vector
 * ```ts
 * import { spake2HashAB } from "./spake2.ts";
 * const b = (s: string) => new TextEncoder().encode(s);
 * const key = spake2HashAB({
 *   password: b("pw"),
 *   identityA: b("idA"),
 *   identityB: b("idB"),
 *   pointA: b("X".repeat(32)),
 *   pointB: b("Y".repeat(32)),
 *   key: b("K".repeat(32)),
 * });
 * if (key.toHex() !== "d59d9ba920f7092565cec747b08d5b2e981d553ac32fde0f25e5b4a4cfca3efd") {
 *   throw new Error("Wrong key");
 * }
 * ```
 */
export function spake2HashAB(transcript: Spake2ABTranscript): Uint8Array {
  const { password, identityA, identityB, pointA, pointB, key } = transcript;
  return transcriptHash([
    sha256(password),
    sha256(identityA),
    sha256(identityB),
    pointA,
    pointB,
    key,
  ]);
}

function transcriptHash(parts: Uint8Array[]): Uint8Array {
  for (const part of parts) {
    if (part.length !== 32) {
      throw new RangeError(`SPAKE2 transcript part is ${part.length} bytes, not 32`);
    }
  }
  const transcript = new Uint8Array(parts.length * 32);
  parts.forEach((part, i) => transcript.set(part, i * 32));
  return sha256(transcript);
}

/**
 * Start a SPAKE2 exchange: returns the message to send and a {@linkcode Spake2.finish} that
 * turns the peer's message into the 32-byte shared key.
 *
 * @throws {RangeError} when `scalar` is not 32 bytes or reduces to zero.
 *
 * @example The gday spec §6.3 vector (symmetric, secret 0xF, identity "gday mates")
 * ```ts
 * import { startSpake2 } from "./spake2.ts";
 * const password = Uint8Array.fromHex("000000000000000f");
 * const identity = new TextEncoder().encode("gday mates");
 * const a = startSpake2(password, {
 *   identity,
 *   strict: false,
 *   scalar: Uint8Array.fromHex("25184061a70b1142f1a9f043a52cf7033dc308b5a0a32e42b003ecd59c2ac605"),
 * });
 * if (a.message.toHex() !== "53931308ccb09b8b17062c9103f6b98b7cb4ca38a7567e8c5247c3fa6ff9eb0598") {
 *   throw new Error("Wrong message");
 * }
 * const key = a.finish(Uint8Array.fromHex("53654113d8d6b99f0ec991f76f2e0ceb4cec247d247d8be194ef28f79ac8034afd"));
 * if (key.toHex() !== "5762314249bf7bea422009af3b27de0ddc242a547263aba4c3fe01140fe14a4f") {
 *   throw new Error("Wrong key");
 * }
 * ```
 */
export function startSpake2(password: Uint8Array, options: Spake2Options = {}): Spake2 {
  return new Spake2State(password, options);
}

class Spake2State implements Spake2 {
  readonly message: Uint8Array;
  readonly side: Spake2Side;
  #password: Uint8Array;
  #options: Spake2Options;
  #x: bigint;
  #w: bigint;
  #finished = false;

  constructor(password: Uint8Array, options: Spake2Options) {
    this.side = options.side ?? "S";
    this.#password = password.slice();
    this.#options = options;
    if (options.scalar !== undefined && options.scalar.length !== 32) {
      throw new RangeError(`SPAKE2 scalar is ${options.scalar.length} bytes, it must be 32`);
    }
    this.#x = options.scalar === undefined ? randomScalar() : leToBigint(options.scalar) % L;
    if (this.#x === 0n) throw new RangeError("SPAKE2 scalar reduces to zero, pick another");
    this.#w = spake2PasswordScalar(password);
    const blind = this.#w === 0n ? Point.ZERO : blindingPoint(this.side).multiply(this.#w);
    const point = Point.BASE.multiply(this.#x).add(blind);
    this.message = new Uint8Array(SPAKE2_MESSAGE_BYTES);
    this.message[0] = SIDE_BYTE[this.side];
    this.message.set(point.toBytes(), 1);
  }

  finish(peerMessage: Uint8Array): Uint8Array {
    if (this.#finished) {
      throw new Spake2Error("finished", "SPAKE2 finish() was already called; start a new exchange");
    }
    this.#finished = true;
    const strict = this.#options.strict ?? true;
    if (peerMessage.length !== SPAKE2_MESSAGE_BYTES) {
      throw new Spake2Error(
        "length",
        `Invalid SPAKE2 message: expected ${SPAKE2_MESSAGE_BYTES} bytes, got ${peerMessage.length}; ` +
          "check that the peer runs a compatible version",
      );
    }
    const peerSide = PEER_SIDE[this.side];
    if (peerMessage[0] !== SIDE_BYTE[peerSide]) {
      throw new Spake2Error(
        "side",
        `Invalid SPAKE2 message: side byte 0x${peerMessage[0]!.toString(16).padStart(2, "0")} ` +
          `where side ${peerSide} was expected; check that the peer runs a compatible version`,
      );
    }
    const peerBytes = peerMessage.subarray(1);
    if (strict && compareBytes(peerMessage, this.message) === 0) {
      throw new Spake2Error(
        "reflected",
        "Invalid SPAKE2 message: the peer echoed our own message; someone may be interfering",
      );
    }
    let peer: EdPoint;
    try {
      peer = Point.fromBytes(peerBytes, !strict);
    } catch (cause) {
      throw new Spake2Error(
        "point",
        "Invalid SPAKE2 message: not a curve point; check that the peer runs a compatible version",
        { cause },
      );
    }
    if (strict && (peer.is0() || peer.isSmallOrder() || !peer.isTorsionFree())) {
      throw new Spake2Error(
        "small-order",
        "Invalid SPAKE2 message: the point is outside the prime-order group; someone may be " +
          "interfering",
      );
    }
    const unblind = this.#w === 0n ? Point.ZERO : blindingPoint(peerSide).multiply(this.#w);
    const shared = peer.subtract(unblind).multiply(this.#x);
    if (strict && shared.is0()) {
      throw new Spake2Error(
        "identity-key",
        "Invalid SPAKE2 message: it leads to the identity key; someone may be interfering",
      );
    }
    const ownBytes = this.message.subarray(1);
    const kBytes = shared.toBytes();
    const { identity = EMPTY, identityA = EMPTY, identityB = EMPTY } = this.#options;
    if (this.side === "S") {
      return spake2HashSymmetric({
        password: this.#password,
        identity,
        pointU: ownBytes,
        pointV: peerBytes,
        key: kBytes,
      });
    }
    const [pointA, pointB] = this.side === "A" ? [ownBytes, peerBytes] : [peerBytes, ownBytes];
    return spake2HashAB({
      password: this.#password,
      identityA,
      identityB,
      pointA,
      pointB,
      key: kBytes,
    });
  }
}
