/**
 * The identity handshake: two peers who know each other's Ed25519 public key (and nothing
 * else in common) authenticate a connection and agree on keys for the encrypted chunk stream
 * of `./cipher_stream.ts`. Whoever carried the connection (a mediator that paired the peers,
 * NAT routers, anyone on the path) can neither read nor alter the stream, and a party that
 * presents any other key, or changes any handshake byte, makes both peers refuse it.
 *
 * ## Byte-level specification (identity protocol version 1)
 *
 * Notation as in `./handshake.ts`: `‖` concatenation, `u32(n)` 4-byte big-endian,
 * `HKDF(salt, ikm, info)` HKDF-SHA256 with a 32-byte output, `HMAC` HMAC-SHA256, strings ASCII.
 *
 * 1. **Hello** (65 bytes each way, sent and read concurrently):
 *    `hello = 0x01 ‖ K ‖ E`: the version, the sender's Ed25519 public key `K` and a fresh
 *    ephemeral X25519 public key `E` (RFC 7748). The receiver refuses the connection unless
 *    `K` is exactly the key it expects ({@linkcode PeerKeyMismatchError}), and refuses a hello
 *    equal to its own (a reflection).
 * 2. **Roles.** The peer whose hello is lexicographically smaller is `A`, the other `B`.
 * 3. **Transcript.** `T = SHA-256("peerlink/identity/1 transcript" ‖ u32(len(context)) ‖
 *    context ‖ hello_A ‖ hello_B)`; `context` is the caller's (empty by default; both must
 *    pass the same bytes).
 * 4. **Shared secret.** `s = X25519(e, E_peer)`; an all-zero `s` (a low-order point) is refused.
 * 5. **Keys.** For each label `L` in `confirm A`, `confirm B`, `data A to B`, `data B to A`:
 *    `key_L = HKDF(salt = T, ikm = s, info = "peerlink/identity/1 " ‖ L)`.
 * 6. **Authentication** (96 bytes each way, sent and read concurrently):
 *    `Ed25519-Sign(own key, "peerlink/identity/1 signature " ‖ role ‖ T) ‖
 *    HMAC(key_confirm_<own role>, T)`, where `role` is the ASCII letter `A` or `B`. Each side
 *    checks the peer's signature under the expected key for the peer's role and the peer's
 *    HMAC in constant time; any failure is a {@linkcode PeerAuthenticationError}. The
 *    signature binds both identities and both ephemeral keys (they are in `T`), so a party in
 *    the middle cannot splice two handshakes together; the HMAC confirms both derived the same
 *    secret.
 * 7. **Data.** `A` sends with `key_data A to B`, `B` with `key_data B to A`, in the chunk format
 *    of `./cipher_stream.ts` (authenticated end of stream, half-close).
 *
 * Ed25519 and X25519 come from WebCrypto; a fresh ephemeral key per handshake gives forward
 * secrecy. The whole handshake runs under `timeoutMs` and `signal`; on failure the transport is
 * closed before the error is thrown.
 *
 * @example Two peers who know each other's key
 * ```ts
 * import { generateIdentityKeyPair, identityHandshake } from "./identity_handshake.ts";
 * import { duplexPair } from "./duplex_pair.ts";
 * const [alice, bob] = await Promise.all([generateIdentityKeyPair(), generateIdentityKeyPair()]);
 * const [left, right] = duplexPair();
 * const [a, b] = await Promise.all([
 *   identityHandshake(left, { identity: alice, peerKey: bob.publicKey }),
 *   identityHandshake(right, { identity: bob, peerKey: alice.publicKey }),
 * ]);
 * const writer = a.writable.getWriter();
 * await writer.write(new TextEncoder().encode("hi bob"));
 * await writer.close();
 * if ((await new Response(b.readable).text()) !== "hi bob") throw new Error("Bad text");
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
import { HandshakeError } from "./errors.ts";
import { concatBytes, equalBytes } from "../bytes/mod.ts";

/** The identity handshake version (the first hello byte). */
export const IDENTITY_PROTOCOL_VERSION = 1;

/** Bytes in an Ed25519 or X25519 public key. */
export const IDENTITY_KEY_BYTES = 32;

/** Bytes in an identity hello: version, Ed25519 key, X25519 key. */
export const IDENTITY_HELLO_BYTES: number = 1 + 2 * IDENTITY_KEY_BYTES;

/** Bytes in the authentication message: an Ed25519 signature and an HMAC-SHA256. */
export const IDENTITY_AUTH_BYTES: number = 64 + 32;

/** An Ed25519 identity: the raw public key and the private key for WebCrypto. */
export interface IdentityKeyPair {
  /** The raw 32-byte Ed25519 public key. */
  readonly publicKey: Uint8Array;
  /** The Ed25519 private key (usage `sign`). */
  readonly privateKey: CryptoKey;
}

/** Options for {@linkcode identityHandshake}. */
export interface IdentityHandshakeOptions extends HandshakeIoOptions {
  /** This side's identity. */
  identity: IdentityKeyPair;
  /** The raw Ed25519 public key the peer must prove it holds. */
  peerKey: Uint8Array;
  /** Bytes both peers bind the session to; must be equal. @default {empty} */
  context?: Uint8Array;
}

/** An encrypted connection to a peer whose key was proven. */
export interface IdentitySecureConnection extends SecureConnection {
  /** The peer's Ed25519 public key (the one that was expected). */
  readonly peerKey: Uint8Array;
}

/** The peer presented an Ed25519 key other than the one expected. */
export class PeerKeyMismatchError extends HandshakeError {
  /** The key the peer presented. */
  readonly presented: Uint8Array;
  /**
   * Make the error.
   *
   * @example
   * ```ts
   * import { PeerKeyMismatchError } from "./identity_handshake.ts";
   * const error = new PeerKeyMismatchError(new Uint8Array(32));
   * if (error.name !== "PeerKeyMismatchError" || error.presented.length !== 32) throw new Error("Bad");
   * ```
   */
  constructor(presented: Uint8Array, options?: ErrorOptions) {
    super(
      "The other end presented a different public key than the peer's: it is not your peer " +
        "(someone in the middle, or the wrong peer key); the connection was refused",
      options,
    );
    this.name = "PeerKeyMismatchError";
    this.presented = presented;
  }
}

/** The peer's signature or key confirmation did not verify. */
export class PeerAuthenticationError extends HandshakeError {
  /**
   * Make the error.
   *
   * @example
   * ```ts
   * import { HandshakeError } from "./errors.ts";
   * import { PeerAuthenticationError } from "./identity_handshake.ts";
   * if (!(new PeerAuthenticationError("Bad signature") instanceof HandshakeError)) throw new Error("Bad class");
   * ```
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "PeerAuthenticationError";
  }
}

const encoder = new TextEncoder();

/**
 * Make a fresh Ed25519 identity with WebCrypto. The private key is extractable, so it can be
 * saved (see `client/identity.ts`).
 *
 * @example
 * ```ts
 * import { generateIdentityKeyPair } from "./identity_handshake.ts";
 * const identity = await generateIdentityKeyPair();
 * if (identity.publicKey.length !== 32) throw new Error("Bad key");
 * ```
 */
export async function generateIdentityKeyPair(): Promise<IdentityKeyPair> {
  const pair = await crypto.subtle.generateKey({ name: "Ed25519" }, true, [
    "sign",
    "verify",
  ]) as CryptoKeyPair;
  const publicKey = new Uint8Array(await crypto.subtle.exportKey("raw", pair.publicKey));
  return { publicKey, privateKey: pair.privateKey };
}

/**
 * Sign `message` with an Ed25519 private key (WebCrypto).
 *
 * @example
 * ```ts
 * import { generateIdentityKeyPair, signEd25519, verifyEd25519 } from "./identity_handshake.ts";
 * const id = await generateIdentityKeyPair();
 * const message = new TextEncoder().encode("hello");
 * const signature = await signEd25519(id.privateKey, message);
 * if (!(await verifyEd25519(id.publicKey, signature, message))) throw new Error("Does not verify");
 * ```
 */
export async function signEd25519(privateKey: CryptoKey, message: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.sign("Ed25519", privateKey, new Uint8Array(message)));
}

/**
 * Check an Ed25519 signature over `message` by the raw public key `publicKey`. `false` for a
 * bad signature or an invalid key; never throws.
 *
 * @example
 * ```ts
 * import { generateIdentityKeyPair, signEd25519, verifyEd25519 } from "./identity_handshake.ts";
 * const id = await generateIdentityKeyPair();
 * const signature = await signEd25519(id.privateKey, new Uint8Array([1]));
 * if (await verifyEd25519(id.publicKey, signature, new Uint8Array([2]))) throw new Error("Forgery accepted");
 * ```
 */
export async function verifyEd25519(
  publicKey: Uint8Array,
  signature: Uint8Array,
  message: Uint8Array,
): Promise<boolean> {
  if (publicKey.length !== IDENTITY_KEY_BYTES || signature.length !== 64) return false;
  try {
    const key = await crypto.subtle.importKey(
      "raw",
      new Uint8Array(publicKey),
      { name: "Ed25519" },
      false,
      [
        "verify",
      ],
    );
    return await crypto.subtle.verify(
      "Ed25519",
      key,
      new Uint8Array(signature),
      new Uint8Array(message),
    );
  } catch {
    return false;
  }
}

/** The keys and values of steps 2–5, for one side. */
export type IdentityKeys = DirectionalKeys;

/**
 * Derive roles, transcript and keys (steps 2, 3 and 5) from both hellos, the X25519 shared
 * secret and the context. Pure; exported so the specification can be checked independently.
 *
 * @throws {HandshakeError} when the hellos are equal.
 *
 * @example Both sides derive mirrored keys
 * ```ts
 * import { deriveIdentityKeys } from "./identity_handshake.ts";
 * const h1 = new Uint8Array(65).fill(1), h2 = new Uint8Array(65).fill(2), s = new Uint8Array(32).fill(9);
 * const a = deriveIdentityKeys(h1, h2, s, new Uint8Array(0));
 * const b = deriveIdentityKeys(h2, h1, s, new Uint8Array(0));
 * if (a.role !== "A" || b.role !== "B" || a.send.toHex() !== b.receive.toHex()) throw new Error("Bad keys");
 * ```
 */
export function deriveIdentityKeys(
  ownHello: Uint8Array,
  peerHello: Uint8Array,
  shared: Uint8Array,
  context: Uint8Array,
): IdentityKeys {
  const keys = transcriptKeys("peerlink/identity/1", ownHello, peerHello, shared, context);
  if (keys === null) {
    throw new HandshakeError(
      "The other end echoed our own handshake message; someone may be interfering, try again",
    );
  }
  return keys;
}

/**
 * The bytes each side signs in step 6: `"peerlink/identity/1 signature " ‖ role ‖ T`.
 *
 * @example
 * ```ts
 * import { identitySignedBytes } from "./identity_handshake.ts";
 * const bytes = identitySignedBytes("A", new Uint8Array(32));
 * if (new TextDecoder().decode(bytes.subarray(0, 31)) !== "peerlink/identity/1 signature A") throw new Error("Bad label");
 * ```
 */
export function identitySignedBytes(role: "A" | "B", transcript: Uint8Array): Uint8Array {
  return concatBytes([encoder.encode(`peerlink/identity/1 signature ${role}`), transcript]);
}

/**
 * Run the identity handshake over `conn` and return the encrypted connection. The transport is
 * closed on failure.
 *
 * @throws {PeerKeyMismatchError} when the other end presents another key.
 * @throws {PeerAuthenticationError} when its signature or key confirmation does not verify
 *   (e.g. a party in the middle replaced a handshake byte).
 * @throws {HandshakeError} when the peer misbehaves, speaks another version, goes away or the
 *   time runs out.
 * @throws the signal's reason when `signal` aborts.
 *
 * @example A party with another key is refused
 * ```ts
 * import { generateIdentityKeyPair, identityHandshake, PeerKeyMismatchError } from "./identity_handshake.ts";
 * import { duplexPair } from "./duplex_pair.ts";
 * const [alice, bob, mallory] = await Promise.all([generateIdentityKeyPair(), generateIdentityKeyPair(), generateIdentityKeyPair()]);
 * const [left, right] = duplexPair();
 * const [a] = await Promise.allSettled([
 *   identityHandshake(left, { identity: alice, peerKey: bob.publicKey }),
 *   identityHandshake(right, { identity: mallory, peerKey: alice.publicKey }),
 * ]);
 * if (a.status !== "rejected" || !(a.reason instanceof PeerKeyMismatchError)) throw new Error("Mallory accepted");
 * ```
 */
export async function identityHandshake(
  conn: Duplex,
  options: IdentityHandshakeOptions,
): Promise<IdentitySecureConnection> {
  const { identity, peerKey } = options;
  const context = options.context ?? new Uint8Array(0);
  if (identity.publicKey.length !== IDENTITY_KEY_BYTES || peerKey.length !== IDENTITY_KEY_BYTES) {
    throw new RangeError(
      `Cannot run the identity handshake: keys must be ${IDENTITY_KEY_BYTES} bytes`,
    );
  }
  if (equalBytes(identity.publicKey, peerKey)) {
    throw new RangeError("Cannot run the identity handshake with our own key as the peer's");
  }
  const ephemeral = await crypto.subtle.generateKey({ name: "X25519" }, true, [
    "deriveBits",
  ]) as CryptoKeyPair;
  const ephemeralPublic = new Uint8Array(await crypto.subtle.exportKey("raw", ephemeral.publicKey));
  const hello = concatBytes([
    new Uint8Array([IDENTITY_PROTOCOL_VERSION]),
    identity.publicKey,
    ephemeralPublic,
  ]);
  return await runHandshake(conn, options, async (channel) => {
    const peerHello = await channel.exchange(hello, IDENTITY_HELLO_BYTES);
    if (peerHello[0] !== IDENTITY_PROTOCOL_VERSION) {
      throw new HandshakeError(
        `The peer speaks identity handshake version ${peerHello[0]}, this peerlink speaks ` +
          `${IDENTITY_PROTOCOL_VERSION}; run the same peerlink version on both sides`,
      );
    }
    const presented = peerHello.slice(1, 1 + IDENTITY_KEY_BYTES);
    if (!equalBytes(presented, peerKey)) throw new PeerKeyMismatchError(presented);
    let shared: Uint8Array;
    try {
      const peerEphemeral = await crypto.subtle.importKey(
        "raw",
        peerHello.slice(1 + IDENTITY_KEY_BYTES),
        { name: "X25519" },
        false,
        [],
      );
      shared = new Uint8Array(
        await crypto.subtle.deriveBits(
          { name: "X25519", public: peerEphemeral },
          ephemeral.privateKey,
          256,
        ),
      );
    } catch (cause) {
      throw new PeerAuthenticationError(
        "The peer sent an invalid ephemeral key; the connection was refused",
        { cause },
      );
    }
    if (shared.every((byte) => byte === 0)) {
      throw new PeerAuthenticationError(
        "The peer sent a low-order ephemeral key; the connection was refused",
      );
    }
    const keys = deriveIdentityKeys(hello, peerHello, shared, context);
    const peerRole = keys.role === "A" ? "B" : "A";
    const signature = await signEd25519(
      identity.privateKey,
      identitySignedBytes(keys.role, keys.transcript),
    );
    const peerAuth = await channel.exchange(
      concatBytes([signature, hmac(sha256, keys.confirmOwn, keys.transcript)]),
      IDENTITY_AUTH_BYTES,
    );
    const signed = await verifyEd25519(
      peerKey,
      peerAuth.subarray(0, 64),
      identitySignedBytes(peerRole, keys.transcript),
    );
    if (!signed) {
      throw new PeerAuthenticationError(
        "The peer's signature over the handshake does not verify: someone in the middle " +
          "changed it; the connection was refused",
      );
    }
    if (!equalBytes(peerAuth.subarray(64), hmac(sha256, keys.confirmPeer, keys.transcript))) {
      throw new PeerAuthenticationError(
        "The peer's key confirmation does not match; the connection was refused",
      );
    }
    const session = createSession({
      input: channel.input,
      output: channel.output,
      sealer: new NativeChunkSealer(keys.send),
      opener: new NativeChunkOpener(keys.receive),
      role: keys.role,
    });
    return Object.assign(session, { peerKey: peerKey.slice() }) as IdentitySecureConnection;
  });
}
