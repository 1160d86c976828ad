/**
 * peerlink's native mediator protocol, version 1: peers identified by Ed25519 public keys
 * register with a mediator, prove they hold their private key, and are paired with the peer
 * each named; then they punch a direct connection and authenticate it end to end with the same
 * keys (`secure/identity_handshake.ts`), so the mediator can neither read nor alter it.
 *
 * ## Wire format
 *
 * Every message is one frame of `framing/length_prefixed.ts` (a 4-byte big-endian length, then
 * the body); the body is compact UTF-8 JSON with a string `type`. Binary fields are base64url
 * without padding; addresses are socket address strings (`198.51.100.1:4000`, `[2001:db8::1]:4000`).
 *
 * | direction | message | fields, in order |
 * | --- | --- | --- |
 * | peer → mediator | `hello` | `version` (1), `key` (32-byte Ed25519 public key), `peer` (the key of the peer wanted), `nonce` (32 random bytes), `private` (the local address of this connection, or `null`) |
 * | mediator → peer | `challenge` | `version` (1), `mediator` (the mediator's Ed25519 key), `nonce` (32 fresh random bytes), `signature` (the mediator's, over {@linkcode mediatorProofBytes}) |
 * | peer → mediator | `register` | `signature` (the peer's, over {@linkcode registrationBytes}) |
 * | mediator → peer | `registered` | `wait_ms` (how long the mediator waits for the other peer) |
 * | mediator → peer | `paired` | `peer` (its key), `public` (its address as the mediator saw it), `private` (its reported local address or `null`), `observed` (this peer's own address as the mediator saw it) |
 * | mediator → peer | `error` | `code` (one of {@linkcode MEDIATOR_ERROR_CODES}), `message` (for people) |
 *
 * ## Proof of possession
 *
 * The mediator never asks a peer to decrypt anything (no decryption oracle, unlike p2psc). The
 * peer signs {@linkcode registrationBytes}: a domain-separation label, the mediator's key and
 * fresh nonce, the peer's own nonce, its key, the wanted key and its private address. A
 * signature therefore only ever means "register me with this mediator, in this session": it
 * cannot be replayed to another session or another mediator, nor used for anything else. The
 * mediator signs {@linkcode mediatorProofBytes} in its `challenge`, so a client that knows the
 * mediator's key (pinning) can check it speaks to the right one.
 *
 * The mediator pairs two registrations only when each named the other. A peer that asks for a
 * newer version than the mediator speaks gets `error` with code `version`.
 *
 * Pure functions, no I/O.
 *
 * @module
 */

import { sha256 } from "@noble/hashes/sha2.js";
import { encodeFrame } from "../framing/length_prefixed.ts";
import { isJsonObject, jsonUnsigned, type JsonValue, parseJson } from "./json.ts";
import { formatSocketAddr, parseSocketAddr, type SocketAddr } from "./socket_addr.ts";
import { concatBytes } from "../bytes/mod.ts";

/** The native mediator protocol version this module speaks. */
export const MEDIATOR_PROTOCOL_VERSION = 1;

/** The mediator's default TCP port (gday uses 2310 and 2311). */
export const DEFAULT_MEDIATOR_PORT = 2312;

/** The largest native mediator message: 4 KiB (the largest valid one is under 400 bytes). */
export const MAX_MEDIATOR_MESSAGE_BYTES = 4096;

/** Bytes in an Ed25519 public key. */
export const MEDIATOR_KEY_BYTES = 32;

/** Bytes in an Ed25519 signature. */
export const MEDIATOR_SIGNATURE_BYTES = 64;

/** Bytes in a mediator protocol nonce. */
export const MEDIATOR_NONCE_BYTES = 32;

/** The error codes a mediator sends. */
export const MEDIATOR_ERROR_CODES = [
  "version",
  "bad_message",
  "bad_signature",
  "busy",
  "rate_limited",
  "timeout",
  "replaced",
  "shutdown",
] as const;

/** Why a mediator refused or ended a registration. */
export type MediatorErrorCode = typeof MEDIATOR_ERROR_CODES[number];

/** `hello`: who this peer is and whom it wants. */
export interface MediatorHelloMsg {
  /** Discriminant. */
  type: "hello";
  /** The protocol version. */
  version: number;
  /** This peer's Ed25519 public key. */
  key: Uint8Array;
  /** The wanted peer's Ed25519 public key. */
  peer: Uint8Array;
  /** 32 random bytes. */
  nonce: Uint8Array;
  /** The local address of this connection (for peers on one LAN), or `null`. */
  privateAddr: SocketAddr | null;
}

/** `register`: the proof of possession. */
export interface MediatorRegisterMsg {
  /** Discriminant. */
  type: "register";
  /** Ed25519 signature over {@linkcode registrationBytes}. */
  signature: Uint8Array;
}

/** A message from a peer to the mediator. */
export type MediatorClientMsg = MediatorHelloMsg | MediatorRegisterMsg;

/** `challenge`: the mediator's identity and fresh nonce. */
export interface MediatorChallengeMsg {
  /** Discriminant. */
  type: "challenge";
  /** The protocol version. */
  version: number;
  /** The mediator's Ed25519 public key. */
  mediatorKey: Uint8Array;
  /** 32 fresh random bytes. */
  nonce: Uint8Array;
  /** The mediator's signature over {@linkcode mediatorProofBytes}. */
  signature: Uint8Array;
}

/** `registered`: the proof was good; waiting for the other peer. */
export interface MediatorRegisteredMsg {
  /** Discriminant. */
  type: "registered";
  /** How long the mediator waits for the other peer, in ms. */
  waitMs: number;
}

/** `paired`: the other peer registered too; punch now. */
export interface MediatorPairedMsg {
  /** Discriminant. */
  type: "paired";
  /** The other peer's key (the one this peer asked for). */
  peer: Uint8Array;
  /** The other peer's address as the mediator saw it. */
  publicAddr: SocketAddr;
  /** The other peer's reported local address, or `null`. */
  privateAddr: SocketAddr | null;
  /** This peer's own address as the mediator saw it. */
  observed: SocketAddr;
}

/** `error`: the registration is refused or over; the mediator closes the connection. */
export interface MediatorErrorMsg {
  /** Discriminant. */
  type: "error";
  /** What went wrong. */
  code: MediatorErrorCode;
  /** For people. */
  message: string;
}

/** A message from the mediator to a peer. */
export type MediatorServerMsg =
  | MediatorChallengeMsg
  | MediatorRegisteredMsg
  | MediatorPairedMsg
  | MediatorErrorMsg;

/** A native mediator message could not be encoded or decoded. */
export class MediatorProtocolError extends Error {
  /**
   * Make the error.
   *
   * @example
   * ```ts
   * import { MediatorProtocolError } from "./mediator.ts";
   * if (new MediatorProtocolError("Bad").name !== "MediatorProtocolError") throw new Error("Bad name");
   * ```
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "MediatorProtocolError";
  }
}

/** The other side speaks a mediator protocol version this one does not. */
export class MediatorVersionError extends MediatorProtocolError {
  /** The version the other side asked for. */
  readonly version: number;
  /**
   * Make the error.
   *
   * @example
   * ```ts
   * import { MediatorVersionError } from "./mediator.ts";
   * const error = new MediatorVersionError(2);
   * if (error.version !== 2 || !error.message.includes("version 1")) throw new Error(error.message);
   * ```
   */
  constructor(version: number, options?: ErrorOptions) {
    super(
      `The other side speaks mediator protocol version ${version}, this peerlink speaks version ` +
        `${MEDIATOR_PROTOCOL_VERSION}; run the same peerlink version on both`,
      options,
    );
    this.name = "MediatorVersionError";
    this.version = version;
  }
}

const encoder = new TextEncoder();

function b64(bytes: Uint8Array): string {
  return JSON.stringify(bytes.toBase64({ alphabet: "base64url", omitPadding: true }));
}

function addr(value: SocketAddr | null): string {
  return value === null ? "null" : JSON.stringify(formatSocketAddr(value));
}

function checkLength(name: string, bytes: Uint8Array, length: number): void {
  if (!(bytes instanceof Uint8Array) || bytes.length !== length) {
    throw new MediatorProtocolError(`${name} must be ${length} bytes`);
  }
}

/**
 * Encode a peer's message as a frame body (compact JSON, no length prefix).
 *
 * @throws {MediatorProtocolError} for fields of the wrong size.
 *
 * @example
 * ```ts
 * import { encodeMediatorClientMsg } from "./mediator.ts";
 * const body = encodeMediatorClientMsg({ type: "register", signature: new Uint8Array(64) });
 * if (!new TextDecoder().decode(body).startsWith('{"type":"register","signature":"AAAA')) throw new Error("Bad body");
 * ```
 */
export function encodeMediatorClientMsg(msg: MediatorClientMsg): Uint8Array {
  switch (msg.type) {
    case "hello":
      checkLength("hello.key", msg.key, MEDIATOR_KEY_BYTES);
      checkLength("hello.peer", msg.peer, MEDIATOR_KEY_BYTES);
      checkLength("hello.nonce", msg.nonce, MEDIATOR_NONCE_BYTES);
      return encoder.encode(
        `{"type":"hello","version":${versionText(msg.version)},"key":${b64(msg.key)},"peer":${
          b64(msg.peer)
        },"nonce":${b64(msg.nonce)},"private":${addr(msg.privateAddr)}}`,
      );
    case "register":
      checkLength("register.signature", msg.signature, MEDIATOR_SIGNATURE_BYTES);
      return encoder.encode(`{"type":"register","signature":${b64(msg.signature)}}`);
    default:
      throw new MediatorProtocolError(
        `Unknown mediator message type ${JSON.stringify((msg as { type: unknown }).type)}`,
      );
  }
}

function versionText(version: number): string {
  if (!Number.isInteger(version) || version < 0 || version > 0xffff) {
    throw new MediatorProtocolError(`Version ${version} is not an integer from 0 to 65535`);
  }
  return String(version);
}

/**
 * Encode a mediator's message as a frame body (compact JSON, no length prefix).
 *
 * @throws {MediatorProtocolError} for fields of the wrong size or an unknown error code.
 *
 * @example
 * ```ts
 * import { encodeMediatorServerMsg } from "./mediator.ts";
 * const body = encodeMediatorServerMsg({ type: "registered", waitMs: 120000 });
 * if (new TextDecoder().decode(body) !== '{"type":"registered","wait_ms":120000}') throw new Error("Bad body");
 * ```
 */
export function encodeMediatorServerMsg(msg: MediatorServerMsg): Uint8Array {
  switch (msg.type) {
    case "challenge":
      checkLength("challenge.mediator", msg.mediatorKey, MEDIATOR_KEY_BYTES);
      checkLength("challenge.nonce", msg.nonce, MEDIATOR_NONCE_BYTES);
      checkLength("challenge.signature", msg.signature, MEDIATOR_SIGNATURE_BYTES);
      return encoder.encode(
        `{"type":"challenge","version":${versionText(msg.version)},"mediator":${
          b64(msg.mediatorKey)
        },"nonce":${b64(msg.nonce)},"signature":${b64(msg.signature)}}`,
      );
    case "registered":
      if (!Number.isSafeInteger(msg.waitMs) || msg.waitMs < 0) {
        throw new MediatorProtocolError(`registered.wait_ms ${msg.waitMs} is not a duration`);
      }
      return encoder.encode(`{"type":"registered","wait_ms":${msg.waitMs}}`);
    case "paired":
      checkLength("paired.peer", msg.peer, MEDIATOR_KEY_BYTES);
      return encoder.encode(
        `{"type":"paired","peer":${b64(msg.peer)},"public":${addr(msg.publicAddr)},"private":${
          addr(msg.privateAddr)
        },"observed":${addr(msg.observed)}}`,
      );
    case "error":
      if (!(MEDIATOR_ERROR_CODES as readonly string[]).includes(msg.code)) {
        throw new MediatorProtocolError(`Unknown mediator error code ${msg.code}`);
      }
      return encoder.encode(
        `{"type":"error","code":${JSON.stringify(msg.code)},"message":${
          JSON.stringify(msg.message)
        }}`,
      );
    default:
      throw new MediatorProtocolError(
        `Unknown mediator message type ${JSON.stringify((msg as { type: unknown }).type)}`,
      );
  }
}

/**
 * Encode a peer's message as a complete frame (length prefix and body).
 *
 * @example
 * ```ts
 * import { encodeMediatorClientFrame } from "./mediator.ts";
 * const frame = encodeMediatorClientFrame({ type: "register", signature: new Uint8Array(64) });
 * if (frame[0] !== 0 || frame.length !== 4 + new DataView(frame.buffer).getUint32(0)) throw new Error("Bad frame");
 * ```
 */
export function encodeMediatorClientFrame(msg: MediatorClientMsg): Uint8Array {
  return encodeFrame(encodeMediatorClientMsg(msg));
}

/**
 * Encode a mediator's message as a complete frame (length prefix and body).
 *
 * @example
 * ```ts
 * import { encodeMediatorServerFrame } from "./mediator.ts";
 * const frame = encodeMediatorServerFrame({ type: "registered", waitMs: 1 });
 * if (new DataView(frame.buffer).getUint32(0) !== frame.length - 4) throw new Error("Bad length");
 * ```
 */
export function encodeMediatorServerFrame(msg: MediatorServerMsg): Uint8Array {
  return encodeFrame(encodeMediatorServerMsg(msg));
}

type Fields = { [key: string]: JsonValue };

function parseBody(body: Uint8Array): Fields {
  let value: JsonValue;
  try {
    value = parseJson(body);
  } catch (cause) {
    throw new MediatorProtocolError((cause as Error).message, { cause });
  }
  if (!isJsonObject(value) || typeof value.type !== "string") {
    throw new MediatorProtocolError("A mediator message must be a JSON object with a string type");
  }
  return value;
}

function bytesField(type: string, f: Fields, key: string, length: number): Uint8Array {
  const value = f[key];
  if (typeof value === "string" && /^[A-Za-z0-9_-]*$/.test(value)) {
    try {
      const bytes = Uint8Array.fromBase64(value, {
        alphabet: "base64url",
        lastChunkHandling: "loose",
      });
      // Canonical only: the unused bits of the last character must be zero.
      const canonical = bytes.toBase64({ alphabet: "base64url", omitPadding: true }) === value;
      if (bytes.length === length && canonical) return bytes;
    } catch { /* reported below */ }
  }
  throw new MediatorProtocolError(
    `${type}.${key} must be ${length} bytes in unpadded base64url`,
  );
}

function addrField(type: string, f: Fields, key: string, nullable: true): SocketAddr | null;
function addrField(type: string, f: Fields, key: string, nullable: false): SocketAddr;
function addrField(type: string, f: Fields, key: string, nullable: boolean): SocketAddr | null {
  const value = f[key];
  if (value === null && nullable) return null;
  const parsed = typeof value === "string" ? parseSocketAddr(value) : null;
  if (parsed === null) {
    throw new MediatorProtocolError(
      `${type}.${key} must be a socket address${nullable ? " or null" : ""}`,
    );
  }
  return parsed;
}

function versionField(type: string, f: Fields): number {
  const version = jsonUnsigned(f.version, 16);
  if (version === null) {
    throw new MediatorProtocolError(`${type}.version must be an integer from 0 to 65535`);
  }
  if (Number(version) !== MEDIATOR_PROTOCOL_VERSION) {
    throw new MediatorVersionError(Number(version));
  }
  return Number(version);
}

/**
 * Decode a peer's message from a frame body. The version of a `hello` is checked before
 * anything else, so a newer peer gets a clear answer.
 *
 * @throws {MediatorVersionError} for a `hello` of another version.
 * @throws {MediatorProtocolError} for anything else that is not a valid message.
 *
 * @example
 * ```ts
 * import { decodeMediatorClientMsg, MediatorVersionError } from "./mediator.ts";
 * const error = (() => { try { decodeMediatorClientMsg(new TextEncoder().encode('{"type":"hello","version":2}')); } catch (e) { return e; } })();
 * if (!(error instanceof MediatorVersionError) || error.version !== 2) throw new Error("Expected a version error");
 * ```
 */
export function decodeMediatorClientMsg(body: Uint8Array): MediatorClientMsg {
  const f = parseBody(body);
  switch (f.type) {
    case "hello":
      return {
        type: "hello",
        version: versionField("hello", f),
        key: bytesField("hello", f, "key", MEDIATOR_KEY_BYTES),
        peer: bytesField("hello", f, "peer", MEDIATOR_KEY_BYTES),
        nonce: bytesField("hello", f, "nonce", MEDIATOR_NONCE_BYTES),
        privateAddr: addrField("hello", f, "private", true),
      };
    case "register":
      return {
        type: "register",
        signature: bytesField("register", f, "signature", MEDIATOR_SIGNATURE_BYTES),
      };
    default:
      throw new MediatorProtocolError(`Unknown mediator message ${JSON.stringify(f.type)}`);
  }
}

/**
 * Decode a mediator's message from a frame body.
 *
 * @throws {MediatorVersionError} for a `challenge` of another version.
 * @throws {MediatorProtocolError} for anything else that is not a valid message.
 *
 * @example
 * ```ts
 * import { decodeMediatorServerMsg } from "./mediator.ts";
 * const msg = decodeMediatorServerMsg(new TextEncoder().encode('{"type":"error","code":"timeout","message":"No peer"}'));
 * if (msg.type !== "error" || msg.code !== "timeout") throw new Error("Bad decode");
 * ```
 */
export function decodeMediatorServerMsg(body: Uint8Array): MediatorServerMsg {
  const f = parseBody(body);
  switch (f.type) {
    case "challenge":
      return {
        type: "challenge",
        version: versionField("challenge", f),
        mediatorKey: bytesField("challenge", f, "mediator", MEDIATOR_KEY_BYTES),
        nonce: bytesField("challenge", f, "nonce", MEDIATOR_NONCE_BYTES),
        signature: bytesField("challenge", f, "signature", MEDIATOR_SIGNATURE_BYTES),
      };
    case "registered": {
      const wait = jsonUnsigned(f.wait_ms, 53);
      if (wait === null) throw new MediatorProtocolError("registered.wait_ms must be an integer");
      return { type: "registered", waitMs: Number(wait) };
    }
    case "paired":
      return {
        type: "paired",
        peer: bytesField("paired", f, "peer", MEDIATOR_KEY_BYTES),
        publicAddr: addrField("paired", f, "public", false),
        privateAddr: addrField("paired", f, "private", true),
        observed: addrField("paired", f, "observed", false),
      };
    case "error": {
      const code = f.code;
      if (typeof code !== "string" || !(MEDIATOR_ERROR_CODES as readonly string[]).includes(code)) {
        throw new MediatorProtocolError("error.code must be a known error code");
      }
      if (typeof f.message !== "string") {
        throw new MediatorProtocolError("error.message must be a string");
      }
      return { type: "error", code: code as MediatorErrorCode, message: f.message };
    }
    default:
      throw new MediatorProtocolError(`Unknown mediator message ${JSON.stringify(f.type)}`);
  }
}

/** What both signatures of a registration cover. */
export interface RegistrationTranscript {
  /** The mediator's Ed25519 public key. */
  mediatorKey: Uint8Array;
  /** The mediator's nonce from `challenge`. */
  mediatorNonce: Uint8Array;
  /** The peer's nonce from `hello`. */
  clientNonce: Uint8Array;
  /** The peer's key from `hello`. */
  key: Uint8Array;
  /** The wanted peer's key from `hello`. */
  peer: Uint8Array;
  /** The private address from `hello`. */
  privateAddr: SocketAddr | null;
}

function transcriptParts(label: string, t: RegistrationTranscript): Uint8Array[] {
  checkLength("mediatorKey", t.mediatorKey, MEDIATOR_KEY_BYTES);
  checkLength("mediatorNonce", t.mediatorNonce, MEDIATOR_NONCE_BYTES);
  checkLength("clientNonce", t.clientNonce, MEDIATOR_NONCE_BYTES);
  checkLength("key", t.key, MEDIATOR_KEY_BYTES);
  checkLength("peer", t.peer, MEDIATOR_KEY_BYTES);
  const where = encoder.encode(t.privateAddr === null ? "" : formatSocketAddr(t.privateAddr));
  return [
    encoder.encode(`peerlink-mediator/${MEDIATOR_PROTOCOL_VERSION} ${label}\0`),
    t.mediatorKey,
    t.mediatorNonce,
    t.clientNonce,
    t.key,
    t.peer,
    new Uint8Array([where.length]),
    where,
  ];
}

/**
 * The bytes a peer signs to register:
 * `"peerlink-mediator/1 register" ‖ 0x00 ‖ mediatorKey ‖ mediatorNonce ‖ clientNonce ‖ key ‖
 * peer ‖ u8(len(private)) ‖ private`, where `private` is the address text (empty for `null`).
 *
 * @example
 * ```ts
 * import { registrationBytes } from "./mediator.ts";
 * const z = new Uint8Array(32);
 * const bytes = registrationBytes({ mediatorKey: z, mediatorNonce: z, clientNonce: z, key: z, peer: z, privateAddr: null });
 * if (bytes.length !== 29 + 5 * 32 + 1) throw new Error(`Unexpected length ${bytes.length}`);
 * ```
 */
export function registrationBytes(t: RegistrationTranscript): Uint8Array {
  return concatBytes(transcriptParts("register", t));
}

/**
 * The bytes the mediator signs in `challenge`: as {@linkcode registrationBytes} with the label
 * `"peerlink-mediator/1 mediator"`, so neither signature can stand for the other.
 *
 * @example
 * ```ts
 * import { mediatorProofBytes, registrationBytes } from "./mediator.ts";
 * const z = new Uint8Array(32);
 * const t = { mediatorKey: z, mediatorNonce: z, clientNonce: z, key: z, peer: z, privateAddr: null };
 * if (mediatorProofBytes(t).toHex() === registrationBytes(t).toHex()) throw new Error("Not separated");
 * ```
 */
export function mediatorProofBytes(t: RegistrationTranscript): Uint8Array {
  return concatBytes(transcriptParts("mediator", t));
}

// Public keys as text: "pk1" + base32 (RFC 4648 alphabet, lower case, no padding) of the
// 32-byte key and a 2-byte checksum. 58 characters, one word (double-click selects it all).

/** The prefix of a public key's text form. */
export const PUBLIC_KEY_TEXT_PREFIX = "pk1";

const BASE32 = "abcdefghijklmnopqrstuvwxyz234567";

function checksum(key: Uint8Array): Uint8Array {
  return sha256(concatBytes([encoder.encode("peerlink public key"), key])).subarray(0, 2);
}

function base32(bytes: Uint8Array): string {
  let out = "";
  let bits = 0;
  let value = 0;
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += BASE32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += BASE32[(value << (5 - bits)) & 31];
  return out;
}

function unbase32(text: string): Uint8Array | null {
  const out: number[] = [];
  let bits = 0;
  let value = 0;
  for (const char of text) {
    const digit = BASE32.indexOf(char);
    if (digit < 0) return null;
    value = ((value << 5) | digit) & 0xfff;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  if (bits >= 5 || (value & ((1 << bits) - 1)) !== 0) return null;
  return new Uint8Array(out);
}

/**
 * A public key's short copyable text form: `pk1` and 55 base32 characters (the key and a
 * 2-byte checksum that catches typos).
 *
 * @example
 * ```ts
 * import { formatPublicKeyText, parsePublicKeyText } from "./mediator.ts";
 * const key = new Uint8Array(32).fill(7);
 * const text = formatPublicKeyText(key);
 * if (!text.startsWith("pk1") || text.length !== 58) throw new Error(text);
 * if (parsePublicKeyText(text)?.toHex() !== key.toHex()) throw new Error("No round trip");
 * ```
 */
export function formatPublicKeyText(key: Uint8Array): string {
  checkLength("Public key", key, MEDIATOR_KEY_BYTES);
  return PUBLIC_KEY_TEXT_PREFIX + base32(concatBytes([key, checksum(key)]));
}

/**
 * Parse a public key's text form (case and surrounding spaces ignored). `null` when it is not
 * one, or a character was mistyped (the checksum does not match).
 *
 * @example
 * ```ts
 * import { formatPublicKeyText, parsePublicKeyText } from "./mediator.ts";
 * const text = formatPublicKeyText(new Uint8Array(32).fill(1));
 * const typo = text.slice(0, 10) + (text[10] === "a" ? "b" : "a") + text.slice(11);
 * if (parsePublicKeyText(typo) !== null) throw new Error("Typo accepted");
 * if (parsePublicKeyText(` ${text.toUpperCase()} `) === null) throw new Error("Upper case refused");
 * ```
 */
export function parsePublicKeyText(text: string): Uint8Array | null {
  const clean = text.trim().toLowerCase();
  if (!clean.startsWith(PUBLIC_KEY_TEXT_PREFIX)) return null;
  const bytes = unbase32(clean.slice(PUBLIC_KEY_TEXT_PREFIX.length));
  if (bytes === null || bytes.length !== MEDIATOR_KEY_BYTES + 2) return null;
  const key = bytes.slice(0, MEDIATOR_KEY_BYTES);
  const check = checksum(key);
  return bytes[MEDIATOR_KEY_BYTES] === check[0] && bytes[MEDIATOR_KEY_BYTES + 1] === check[1]
    ? key
    : null;
}
