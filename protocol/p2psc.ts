/**
 * The p2psc mediator and peer protocol (taylorconor/p2psc@c4ba0fb), byte for byte where it
 * matters (spec: p2psc.md §1). Where p2psc's documents and code disagree, this follows the code.
 *
 * Every message is one compact JSON object `{"type":<0..10>,"payload":{…}}` with no framing
 * (see `framing/json_stream.ts`); keys come out in this order:
 *
 * | type | name | payload fields, in order |
 * | --- | --- | --- |
 * | 0 | `Advertise` | `version`, `our_key`, `their_key` |
 * | 1 | `AdvertiseChallenge` | `encrypted_nonce` |
 * | 2 | `AdvertiseResponse` | `nonce` |
 * | 3 | `AdvertiseAbort` | `reason` |
 * | 4 | `AdvertiseRetry` | `reason` |
 * | 5 | `PeerDisconnect` | `port` |
 * | 6 | `PeerIdentification` | `version`, `ip`, `port` |
 * | 7 | `PeerChallenge` | `encrypted_nonce` |
 * | 8 | `PeerChallengeResponse` | `encrypted_nonce`, `decrypted_nonce` |
 * | 9 | `PeerResponse` | `decrypted_nonce` |
 * | 10 | `PeerAcknowledgement` | (none: `{}`) |
 *
 * Strings are escaped as spotify-json escapes them (`"` and `\`; `\b \t \n \f \r`; other
 * control characters as `\u00XX` with upper-case hex; `/` and non-ASCII as is), so PEM newlines
 * travel as `\n`. Decoding is as spotify-json's: whitespace around the object is allowed,
 * unknown keys are skipped, every declared field is required. Unlike p2psc, decoding also checks
 * that `type` is a known message type and that numbers fit their fields (`version` u8, `port`
 * u16); callers check that the type is the one they expect.
 *
 * Keys are RSA public keys as PKCS#1 PEM (`-----BEGIN RSA PUBLIC KEY-----`); an SPKI
 * `BEGIN PUBLIC KEY` PEM is refused, as p2psc's `PEM_read_bio_RSAPublicKey` refuses it. Proofs
 * of possession are challenge–decrypt: a nonce encrypted with RSAES-PKCS1-v1_5, in standard
 * base64 without `=` padding (342 characters for 2048-bit keys). RSA comes from `node:crypto`
 * (WebCrypto has no RSAES-PKCS1-v1_5).
 *
 * Pure functions, no I/O.
 *
 * @module
 */

import {
  constants,
  createHash,
  createPublicKey,
  type KeyObject,
  privateDecrypt,
  publicEncrypt,
} from "node:crypto";
import { Buffer } from "node:buffer";
import { isJsonObject, jsonUnsigned, type JsonValue, parseJson } from "./json.ts";
import { parseIpv4 } from "./socket_addr.ts";

/** The p2psc protocol version (`kVersion`, `include/p2psc/version.h`). */
export const P2PSC_VERSION = 0;

/** Times a p2psc client re-advertises after `AdvertiseRetry` (`MAX_ADVERTISE_RETRIES`). */
export const P2PSC_MAX_ADVERTISE_RETRIES = 5;

/** p2psc's receive chunk (`RECV_BUF_SIZE`): a C++ endpoint reads at most this much per message. */
export const P2PSC_RECV_BUF_BYTES = 1024;

/** p2psc's default RSA modulus size (`kDefaultKeySize`). */
export const P2PSC_RSA_BITS = 2048;

/**
 * The largest p2psc message peerlink reads by default: 16 KiB. p2psc has no limit of its own;
 * an `Advertise` with two 4096-bit keys is about 1.7 KB.
 */
export const MAX_P2PSC_MESSAGE_BYTES = 16 * 1024;

/** The message types and their numbers on the wire (`include/p2psc/message/types.h`). */
export const P2PSC_MESSAGE_TYPES: Readonly<{
  Advertise: 0;
  AdvertiseChallenge: 1;
  AdvertiseResponse: 2;
  AdvertiseAbort: 3;
  AdvertiseRetry: 4;
  PeerDisconnect: 5;
  PeerIdentification: 6;
  PeerChallenge: 7;
  PeerChallengeResponse: 8;
  PeerResponse: 9;
  PeerAcknowledgement: 10;
}> = Object.freeze(
  {
    Advertise: 0,
    AdvertiseChallenge: 1,
    AdvertiseResponse: 2,
    AdvertiseAbort: 3,
    AdvertiseRetry: 4,
    PeerDisconnect: 5,
    PeerIdentification: 6,
    PeerChallenge: 7,
    PeerChallengeResponse: 8,
    PeerResponse: 9,
    PeerAcknowledgement: 10,
  } as const,
);

/** The name of a p2psc message type. */
export type P2pscMessageName = keyof typeof P2PSC_MESSAGE_TYPES;

/** `Advertise` (C/P → M): register `our_key`, asking to be paired with `their_key`. */
export interface AdvertiseMsg {
  /** Discriminant. */
  type: "Advertise";
  /** The client's protocol version (u8). */
  version: number;
  /** The sender's public key, PKCS#1 PEM. */
  ourKey: string;
  /** The wanted peer's public key, PKCS#1 PEM. */
  theirKey: string;
}

/** `AdvertiseChallenge` (M → C/P): a nonce encrypted to `our_key`. */
export interface AdvertiseChallengeMsg {
  /** Discriminant. */
  type: "AdvertiseChallenge";
  /** RSAES-PKCS1-v1_5 ciphertext, unpadded base64. */
  encryptedNonce: string;
}

/** `AdvertiseResponse` (C/P → M): the decrypted nonce. */
export interface AdvertiseResponseMsg {
  /** Discriminant. */
  type: "AdvertiseResponse";
  /** The plaintext nonce. */
  nonce: string;
}

/** `AdvertiseAbort` (M → C/P): registration refused for good. */
export interface AdvertiseAbortMsg {
  /** Discriminant. */
  type: "AdvertiseAbort";
  /** Why. */
  reason: string;
}

/** `AdvertiseRetry` (M → C/P): advertise again on the same connection. */
export interface AdvertiseRetryMsg {
  /** Discriminant. */
  type: "AdvertiseRetry";
  /** Why. */
  reason: string;
}

/** `PeerDisconnect` (M → Peer): close the mediator connection and listen on `port`. */
export interface PeerDisconnectMsg {
  /** Discriminant. */
  type: "PeerDisconnect";
  /** The Peer's source port as the mediator saw it (u16). */
  port: number;
}

/** `PeerIdentification` (M → Client): dial the Peer here. */
export interface PeerIdentificationMsg {
  /** Discriminant. */
  type: "PeerIdentification";
  /** The Peer's protocol version (u8); required by p2psc's code, missing from its doc. */
  version: number;
  /** The Peer's address as the mediator saw it, dotted IPv4. */
  ip: string;
  /** The Peer's port as the mediator saw it (u16). */
  port: number;
}

/** `PeerChallenge` (Client → Peer): a nonce encrypted to the Peer's key. */
export interface PeerChallengeMsg {
  /** Discriminant. */
  type: "PeerChallenge";
  /** RSAES-PKCS1-v1_5 ciphertext, unpadded base64. */
  encryptedNonce: string;
}

/** `PeerChallengeResponse` (Peer → Client): the Client's nonce, and one for the Client. */
export interface PeerChallengeResponseMsg {
  /** Discriminant. */
  type: "PeerChallengeResponse";
  /** The Peer's nonce encrypted to the Client's key, unpadded base64. */
  encryptedNonce: string;
  /** The Client's nonce, decrypted. */
  decryptedNonce: string;
}

/** `PeerResponse` (Client → Peer): the Peer's nonce, decrypted. */
export interface PeerResponseMsg {
  /** Discriminant. */
  type: "PeerResponse";
  /** The Peer's nonce, decrypted. */
  decryptedNonce: string;
}

/** `PeerAcknowledgement` (Peer → Client): the handshake is over. */
export interface PeerAcknowledgementMsg {
  /** Discriminant. */
  type: "PeerAcknowledgement";
}

/** Any p2psc message. */
export type P2pscMessage =
  | AdvertiseMsg
  | AdvertiseChallengeMsg
  | AdvertiseResponseMsg
  | AdvertiseAbortMsg
  | AdvertiseRetryMsg
  | PeerDisconnectMsg
  | PeerIdentificationMsg
  | PeerChallengeMsg
  | PeerChallengeResponseMsg
  | PeerResponseMsg
  | PeerAcknowledgementMsg;

/** A p2psc message could not be encoded or decoded. */
export class P2pscProtocolError extends Error {
  /**
   * Make the error.
   *
   * @example
   * ```ts
   * import { P2pscProtocolError } from "./p2psc.ts";
   * if (new P2pscProtocolError("Bad").name !== "P2pscProtocolError") throw new Error("Bad name");
   * ```
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "P2pscProtocolError";
  }
}

/** A p2psc key, ciphertext or nonce is unusable (wrong PEM type, size, encoding). */
export class P2pscKeyError extends Error {
  /**
   * Make the error.
   *
   * @example
   * ```ts
   * import { P2pscKeyError } from "./p2psc.ts";
   * if (new P2pscKeyError("Bad key").name !== "P2pscKeyError") throw new Error("Bad name");
   * ```
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "P2pscKeyError";
  }
}

const encoder = new TextEncoder();
const HEX = "0123456789ABCDEF";
const SHORT_ESCAPES: Record<number, string> = { 8: "b", 9: "t", 10: "n", 12: "f", 13: "r" };

/**
 * A JSON string literal written as spotify-json writes it (p2psc.md §1.2): `"` and `\`
 * backslash-escaped, `\b \t \n \f \r`, other control characters as `\u00XX` (upper-case hex),
 * everything else (`/`, non-ASCII) as is.
 *
 * @example
 * ```ts
 * import { p2pscJsonString } from "./p2psc.ts";
 * if (p2pscJsonString('a/"b"\n\x01') !== '"a/\\"b\\"\\n\\u0001"') throw new Error("Bad escape");
 * ```
 */
export function p2pscJsonString(text: string): string {
  let out = '"';
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22 || c === 0x5c) out += "\\" + text[i];
    else if (c < 0x20) {
      out += SHORT_ESCAPES[c] !== undefined
        ? "\\" + SHORT_ESCAPES[c]
        : "\\u00" + HEX[c >> 4] + HEX[c & 15];
    } else out += text[i];
  }
  return out + '"';
}

function u8(name: string, value: number): string {
  if (!Number.isInteger(value) || value < 0 || value > 255) {
    throw new P2pscProtocolError(`${name} is ${value}, it must be an integer from 0 to 255`);
  }
  return String(value);
}

function u16(name: string, value: number): string {
  if (!Number.isInteger(value) || value < 0 || value > 65535) {
    throw new P2pscProtocolError(`${name} is ${value}, it must be an integer from 0 to 65535`);
  }
  return String(value);
}

function payloadJson(msg: P2pscMessage): string {
  const s = p2pscJsonString;
  switch (msg.type) {
    case "Advertise":
      return `{"version":${u8("version", msg.version)},"our_key":${s(msg.ourKey)},"their_key":${
        s(msg.theirKey)
      }}`;
    case "AdvertiseChallenge":
    case "PeerChallenge":
      return `{"encrypted_nonce":${s(msg.encryptedNonce)}}`;
    case "AdvertiseResponse":
      return `{"nonce":${s(msg.nonce)}}`;
    case "AdvertiseAbort":
    case "AdvertiseRetry":
      return `{"reason":${s(msg.reason)}}`;
    case "PeerDisconnect":
      return `{"port":${u16("port", msg.port)}}`;
    case "PeerIdentification":
      if (parseIpv4(msg.ip) === null) {
        throw new P2pscProtocolError(`PeerIdentification.ip "${msg.ip}" is not dotted IPv4`);
      }
      return `{"version":${u8("version", msg.version)},"ip":${s(msg.ip)},"port":${
        u16("port", msg.port)
      }}`;
    case "PeerChallengeResponse":
      return `{"encrypted_nonce":${s(msg.encryptedNonce)},"decrypted_nonce":${
        s(msg.decryptedNonce)
      }}`;
    case "PeerResponse":
      return `{"decrypted_nonce":${s(msg.decryptedNonce)}}`;
    case "PeerAcknowledgement":
      return "{}";
    default:
      throw new P2pscProtocolError(
        `Unknown p2psc message type ${JSON.stringify((msg as { type: unknown }).type)}`,
      );
  }
}

/**
 * Encode a message as p2psc writes it: compact JSON, keys in p2psc's order, no terminator.
 * Send each encoded message in one write (p2psc.md §1.3).
 *
 * @throws {P2pscProtocolError} for an unknown type or a number out of its field's range.
 *
 * @example The exact bytes of `PeerDisconnect` and `PeerAcknowledgement`
 * ```ts
 * import { encodeP2pscMessage } from "./p2psc.ts";
 * const text = (b: Uint8Array) => new TextDecoder().decode(b);
 * if (text(encodeP2pscMessage({ type: "PeerDisconnect", port: 40001 })) !== '{"type":5,"payload":{"port":40001}}') throw new Error("Bad");
 * if (encodeP2pscMessage({ type: "PeerAcknowledgement" }).length !== 24) throw new Error("Bad");
 * ```
 */
export function encodeP2pscMessage(msg: P2pscMessage): Uint8Array {
  const number = P2PSC_MESSAGE_TYPES[msg.type as P2pscMessageName];
  const payload = payloadJson(msg);
  return encoder.encode(`{"type":${number},"payload":${payload}}`);
}

type Fields = { [key: string]: JsonValue };

function str(name: string, f: Fields, key: string): string {
  const value = f[key];
  if (typeof value !== "string") {
    throw new P2pscProtocolError(`${name}.${key} must be a string`);
  }
  return value;
}

function uint(name: string, f: Fields, key: string, bits: number): number {
  const value = jsonUnsigned(f[key], bits);
  if (value === null) {
    throw new P2pscProtocolError(
      `${name}.${key} must be an integer from 0 to ${2 ** bits - 1}`,
    );
  }
  return Number(value);
}

const NAMES_BY_NUMBER: readonly P2pscMessageName[] = Object.keys(
  P2PSC_MESSAGE_TYPES,
) as P2pscMessageName[];

/**
 * Decode one message (the bytes of one JSON object, whitespace around it allowed).
 *
 * @throws {P2pscProtocolError} for invalid JSON, an unknown `type`, a missing or mistyped field.
 *
 * @example Unknown keys are skipped, as spotify-json does
 * ```ts
 * import { decodeP2pscMessage } from "./p2psc.ts";
 * const msg = decodeP2pscMessage(new TextEncoder().encode(' {"type":2,"payload":{"x":1,"nonce":"1337"}} '));
 * if (msg.type !== "AdvertiseResponse" || msg.nonce !== "1337") throw new Error("Bad decode");
 * ```
 */
export function decodeP2pscMessage(bytes: Uint8Array): P2pscMessage {
  let value: JsonValue;
  try {
    value = parseJson(bytes);
  } catch (cause) {
    throw new P2pscProtocolError((cause as Error).message, { cause });
  }
  if (!isJsonObject(value)) throw new P2pscProtocolError("A p2psc message must be a JSON object");
  const number = jsonUnsigned(value.type, 8);
  const name = number === null ? undefined : NAMES_BY_NUMBER[Number(number)];
  if (name === undefined) {
    throw new P2pscProtocolError("A p2psc message needs a numeric type from 0 to 10");
  }
  const f = value.payload;
  if (!isJsonObject(f)) throw new P2pscProtocolError(`${name} needs a payload object`);
  switch (name) {
    case "Advertise":
      return {
        type: name,
        version: uint(name, f, "version", 8),
        ourKey: str(name, f, "our_key"),
        theirKey: str(name, f, "their_key"),
      };
    case "AdvertiseChallenge":
    case "PeerChallenge":
      return { type: name, encryptedNonce: str(name, f, "encrypted_nonce") };
    case "AdvertiseResponse":
      return { type: name, nonce: str(name, f, "nonce") };
    case "AdvertiseAbort":
    case "AdvertiseRetry":
      return { type: name, reason: str(name, f, "reason") };
    case "PeerDisconnect":
      return { type: name, port: uint(name, f, "port", 16) };
    case "PeerIdentification": {
      const ip = str(name, f, "ip");
      if (parseIpv4(ip) === null) {
        throw new P2pscProtocolError(`${name}.ip must be a dotted IPv4 address`);
      }
      return {
        type: name,
        version: uint(name, f, "version", 8),
        ip,
        port: uint(name, f, "port", 16),
      };
    }
    case "PeerChallengeResponse":
      return {
        type: name,
        encryptedNonce: str(name, f, "encrypted_nonce"),
        decryptedNonce: str(name, f, "decrypted_nonce"),
      };
    case "PeerResponse":
      return { type: name, decryptedNonce: str(name, f, "decrypted_nonce") };
    case "PeerAcknowledgement":
      return { type: name };
  }
}

/** The outcome of {@linkcode checkP2pscVersion}. */
export type P2pscVersionVerdict =
  | { kind: "ok" }
  | { kind: "abort"; reason: string }
  | { kind: "retry"; reason: string };

/** The protocol versions a mediator accepts. */
export interface P2pscVersionRange {
  /** The oldest version accepted; older clients get `AdvertiseAbort`. @default {0} */
  min?: number;
  /** The newest version accepted; newer clients get `AdvertiseRetry`. @default {0} */
  max?: number;
}

/**
 * Decide what a mediator answers an `Advertise` of `version`. A client older than `min` cannot
 * help it: `AdvertiseAbort` with p2psc's own reason text (`"Required protocol version: N"`, as
 * its test mediator words it). A client newer than `max` may speak an older version too, so it
 * gets `AdvertiseRetry`, asking it to advertise again with a version in range.
 *
 * @example
 * ```ts
 * import { checkP2pscVersion } from "./p2psc.ts";
 * if (checkP2pscVersion(0).kind !== "ok") throw new Error("Version 0 refused");
 * if (checkP2pscVersion(3).kind !== "retry") throw new Error("Newer version not retried");
 * const old = checkP2pscVersion(0, { min: 1, max: 1 });
 * if (old.kind !== "abort" || old.reason !== "Required protocol version: 1") throw new Error("Bad");
 * ```
 */
export function checkP2pscVersion(
  version: number,
  range: P2pscVersionRange = {},
): P2pscVersionVerdict {
  const min = range.min ?? P2PSC_VERSION;
  const max = range.max ?? P2PSC_VERSION;
  if (version < min) return { kind: "abort", reason: `Required protocol version: ${min}` };
  if (version > max) {
    return {
      kind: "retry",
      reason: min === max
        ? `Unsupported protocol version: ${version}; advertise with version ${max}`
        : `Unsupported protocol version: ${version}; advertise with a version from ${min} to ${max}`,
    };
  }
  return { kind: "ok" };
}

/**
 * Standard base64 without `=` padding, as p2psc writes ciphertexts (commit `9d4d1f3`).
 *
 * @example
 * ```ts
 * import { encodeP2pscBase64 } from "./p2psc.ts";
 * if (encodeP2pscBase64(new Uint8Array([1, 2, 3, 4])) !== "AQIDBA") throw new Error("Bad base64");
 * ```
 */
export function encodeP2pscBase64(bytes: Uint8Array): string {
  return bytes.toBase64({ omitPadding: true });
}

/**
 * Decode standard base64 with or without `=` padding (p2psc accepts both).
 *
 * @throws {P2pscKeyError} for any character outside the base64 alphabet.
 *
 * @example
 * ```ts
 * import { decodeP2pscBase64 } from "./p2psc.ts";
 * if (decodeP2pscBase64("AQIDBA").join() !== "1,2,3,4") throw new Error("Bad decode");
 * if (decodeP2pscBase64("AQIDBA==").join() !== "1,2,3,4") throw new Error("Padding refused");
 * ```
 */
export function decodeP2pscBase64(text: string): Uint8Array {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.replace(/=+$/, "").length % 4 === 1) {
    throw new P2pscKeyError("Ciphertext is not standard base64");
  }
  try {
    return Uint8Array.fromBase64(text, { lastChunkHandling: "loose" });
  } catch (cause) {
    throw new P2pscKeyError("Ciphertext is not standard base64", { cause });
  }
}

/** A parsed p2psc public key. */
export interface P2pscPublicKey {
  /** The key for `node:crypto`. */
  readonly key: KeyObject;
  /** The PKCS#1 `RSAPublicKey` DER, re-encoded canonically. */
  readonly der: Uint8Array;
  /** SHA-256 of {@linkcode P2pscPublicKey.der} in hex: the key's identity, whatever its PEM text. */
  readonly fingerprint: string;
  /** The modulus size in bits. */
  readonly bits: number;
}

/** Bounds on accepted RSA keys. */
export interface P2pscKeyOptions {
  /** Smallest modulus accepted, in bits. @default {2048} */
  minBits?: number;
  /** Largest modulus accepted, in bits. @default {4096} */
  maxBits?: number;
}

const PKCS1_BEGIN = "-----BEGIN RSA PUBLIC KEY-----";
const PKCS1_END = "-----END RSA PUBLIC KEY-----";

/**
 * Parse a PKCS#1 PEM public key (`-----BEGIN RSA PUBLIC KEY-----`) as p2psc's
 * `PEM_read_bio_RSAPublicKey` does; other PEM types, such as SPKI `BEGIN PUBLIC KEY`, are
 * refused. The fingerprint is taken over the canonical DER, so two PEM texts of one key match.
 *
 * @throws {P2pscKeyError} for a wrong PEM type, bad base64 or DER, or a size out of bounds.
 *
 * @example
 * ```ts
 * import { generateKeyPairSync } from "node:crypto";
 * import { P2pscKeyError, parseP2pscPublicKey } from "./p2psc.ts";
 * const { publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
 * const key = parseP2pscPublicKey(publicKey.export({ type: "pkcs1", format: "pem" }) as string);
 * if (key.bits !== 2048 || key.fingerprint.length !== 64) throw new Error("Bad key");
 * let error: unknown;
 * try { parseP2pscPublicKey(publicKey.export({ type: "spki", format: "pem" }) as string); } catch (e) { error = e; }
 * if (!(error instanceof P2pscKeyError)) throw new Error("SPKI accepted");
 * ```
 */
export function parseP2pscPublicKey(pem: string, options: P2pscKeyOptions = {}): P2pscPublicKey {
  const { minBits = P2PSC_RSA_BITS, maxBits = 4096 } = options;
  const text = pem.trim();
  if (!text.startsWith(PKCS1_BEGIN) || !text.endsWith(PKCS1_END)) {
    const found = /^-----BEGIN ([A-Z0-9 ]+)-----/.exec(text)?.[1];
    throw new P2pscKeyError(
      found === undefined
        ? "Key is not a PEM text: p2psc needs a PKCS#1 '-----BEGIN RSA PUBLIC KEY-----' PEM"
        : `Key is a '${found}' PEM: p2psc needs a PKCS#1 '-----BEGIN RSA PUBLIC KEY-----' PEM` +
          (found === "PUBLIC KEY"
            ? " (convert it with: openssl rsa -pubin -RSAPublicKey_out)"
            : ""),
    );
  }
  const body = text.slice(PKCS1_BEGIN.length, text.length - PKCS1_END.length).replace(
    /[\r\n\t ]/g,
    "",
  );
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(body)) {
    throw new P2pscKeyError("Key PEM body is not base64");
  }
  let key: KeyObject;
  try {
    key = createPublicKey({
      key: Buffer.from(Uint8Array.fromBase64(body)),
      format: "der",
      type: "pkcs1",
    });
  } catch (cause) {
    throw new P2pscKeyError("Key PEM does not hold a PKCS#1 RSA public key", { cause });
  }
  const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
  if (key.asymmetricKeyType !== "rsa" || bits < minBits || bits > maxBits) {
    throw new P2pscKeyError(
      `Key has ${bits} bits: keys from ${minBits} to ${maxBits} bits are accepted`,
    );
  }
  const der = new Uint8Array(key.export({ type: "pkcs1", format: "der" }));
  const fingerprint = createHash("sha256").update(der).digest("hex");
  return { key, der, fingerprint, bits };
}

/**
 * A public key as p2psc writes it: PKCS#1 PEM with the trailing newline (426 bytes for 2048
 * bits).
 *
 * @example
 * ```ts
 * import { generateKeyPairSync } from "node:crypto";
 * import { formatP2pscPublicKey } from "./p2psc.ts";
 * const { publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
 * const pem = formatP2pscPublicKey(publicKey);
 * if (!pem.startsWith("-----BEGIN RSA PUBLIC KEY-----\n") || pem.length !== 426) throw new Error(pem);
 * ```
 */
export function formatP2pscPublicKey(key: KeyObject): string {
  return key.export({ type: "pkcs1", format: "pem" }) as string;
}

/** Characters of a nonce: printable ASCII without JSON escapes, so it travels verbatim. */
const NONCE_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/** Characters in a nonce from {@linkcode randomP2pscNonce}: about 190 bits. */
export const P2PSC_NONCE_CHARS = 32;

/**
 * A fresh, unpredictable nonce: {@linkcode P2PSC_NONCE_CHARS} random letters and digits from
 * the system CSPRNG. (p2psc's own nonce is `rand()` seeded with the current second, p2psc.md
 * §1.5; real p2psc clients accept any printable ASCII, §5.)
 *
 * @example
 * ```ts
 * import { randomP2pscNonce } from "./p2psc.ts";
 * const a = randomP2pscNonce(), b = randomP2pscNonce();
 * if (a === b || !/^[A-Za-z0-9]{32}$/.test(a)) throw new Error("Bad nonce");
 * ```
 */
export function randomP2pscNonce(length: number = P2PSC_NONCE_CHARS): string {
  let out = "";
  while (out.length < length) {
    for (const byte of crypto.getRandomValues(new Uint8Array(length * 2))) {
      // 248 = 4 × 62: drop the rest so every character is equally likely.
      if (byte < 248 && out.length < length) out += NONCE_ALPHABET[byte % 62];
    }
  }
  return out;
}

/**
 * Encrypt `nonce` (UTF-8) to `key` with RSAES-PKCS1-v1_5 and return unpadded base64, as a p2psc
 * challenger does.
 *
 * @example
 * ```ts
 * import { generateKeyPairSync } from "node:crypto";
 * import { decryptP2pscNonce, encryptP2pscNonce } from "./p2psc.ts";
 * const { publicKey, privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
 * const sealed = encryptP2pscNonce(publicKey, "1804289383");
 * if (sealed.length !== 342 || decryptP2pscNonce(privateKey, sealed) !== "1804289383") throw new Error("Bad");
 * ```
 */
export function encryptP2pscNonce(key: KeyObject, nonce: string): string {
  const sealed = publicEncrypt(
    { key, padding: constants.RSA_PKCS1_PADDING },
    encoder.encode(nonce),
  );
  return encodeP2pscBase64(new Uint8Array(sealed.buffer, sealed.byteOffset, sealed.length));
}

/**
 * Decrypt a p2psc challenge with the private key (RSAES-PKCS1-v1_5), as a p2psc prover does.
 *
 * @throws {P2pscKeyError} when the ciphertext is not base64 or does not decrypt with this key.
 *
 * @example A wrong key fails
 * ```ts
 * import { generateKeyPairSync } from "node:crypto";
 * import { decryptP2pscNonce, encryptP2pscNonce, P2pscKeyError } from "./p2psc.ts";
 * const one = generateKeyPairSync("rsa", { modulusLength: 2048 });
 * const two = generateKeyPairSync("rsa", { modulusLength: 2048 });
 * let error: unknown;
 * try { decryptP2pscNonce(two.privateKey, encryptP2pscNonce(one.publicKey, "x")); } catch (e) { error = e; }
 * if (!(error instanceof P2pscKeyError)) throw new Error("Expected P2pscKeyError");
 * ```
 */
export function decryptP2pscNonce(privateKey: KeyObject, encrypted: string): string {
  const sealed = decodeP2pscBase64(encrypted);
  let plain: Uint8Array;
  try {
    plain = privateDecrypt({ key: privateKey, padding: constants.RSA_PKCS1_PADDING }, sealed);
  } catch (cause) {
    throw new P2pscKeyError("The challenge does not decrypt with this private key", { cause });
  }
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(plain);
  } catch (cause) {
    throw new P2pscKeyError("The decrypted challenge is not UTF-8 text", { cause });
  }
}
