/**
 * STUN messages (RFC 8489), with the NAT behaviour discovery attributes of RFC 5780 and the
 * RFC 3489 ("classic STUN") form that old clients still send. Pure functions, no I/O.
 *
 * A message is a 20-byte header (type, body length, the magic cookie `0x2112A442`, a 96-bit
 * transaction id) and attributes, each a type, a length and a value padded to 4 bytes (RFC 8489
 * §5, §14). Decoding is strict: the length must match the datagram and be a multiple of 4, the
 * cookie must be there (unless `allowRfc3489`), every attribute must fit, the values of the
 * attributes this module knows must have their exact sizes, and a FINGERPRINT must be last and
 * correct. Anything else raises a {@linkcode StunError} whose `kind` says what was wrong.
 *
 * Known attributes decode to typed values ({@linkcode StunAttributeMap}); others (USERNAME,
 * MESSAGE-INTEGRITY, PRIORITY, ...) stay raw bytes, so a decoded message encodes back to the same
 * bytes. FINGERPRINT is not an attribute here but the `fingerprint` flag of a message: encoding
 * appends it, decoding checks it (CRC-32 of the message before it, XOR `0x5354554E`).
 *
 * | attribute | code | spec |
 * | --- | --- | --- |
 * | MAPPED-ADDRESS | `0x0001` | RFC 8489 §14.1 |
 * | CHANGE-REQUEST | `0x0003` | RFC 5780 §7.2 |
 * | SOURCE-ADDRESS, CHANGED-ADDRESS | `0x0004`, `0x0005` | RFC 3489 §11.2 |
 * | ERROR-CODE, UNKNOWN-ATTRIBUTES | `0x0009`, `0x000A` | RFC 8489 §14.8, §14.9 |
 * | XOR-MAPPED-ADDRESS | `0x0020` | RFC 8489 §14.2 |
 * | PADDING, RESPONSE-PORT | `0x0026`, `0x0027` | RFC 5780 §7.6, §7.5 |
 * | SOFTWARE, FINGERPRINT | `0x8022`, `0x8028` | RFC 8489 §14.14, §14.7 |
 * | RESPONSE-ORIGIN, OTHER-ADDRESS | `0x802B`, `0x802C` | RFC 5780 §7.3, §7.4 |
 *
 * @example A Binding request and its answer
 * ```ts
 * import { decodeStunMessage, encodeStunMessage, getStunAttribute, STUN_METHOD_BINDING } from "./stun.ts";
 * const transactionId = new Uint8Array(12).fill(7);
 * const bytes = encodeStunMessage({
 *   class: "success",
 *   method: STUN_METHOD_BINDING,
 *   transactionId,
 *   attributes: [{ type: "XOR-MAPPED-ADDRESS", address: { family: "v4", ip: "192.0.2.1", port: 32853 } }],
 *   fingerprint: true,
 * });
 * const mapped = getStunAttribute(decodeStunMessage(bytes), "XOR-MAPPED-ADDRESS");
 * if (mapped?.address.ip !== "192.0.2.1") throw new Error("No round trip");
 * ```
 *
 * @module
 */

import { crc32 } from "node:zlib";
import { formatIpv6, parseIpv4, parseIpv6, type SocketAddr } from "./socket_addr.ts";

/** The magic cookie in every RFC 5389/8489 message header (RFC 8489 §5). */
export const STUN_MAGIC_COOKIE = 0x2112a442;
/** The size of a STUN message header in bytes (RFC 8489 §5). */
export const STUN_HEADER_BYTES = 20;
/** The size of a transaction id in bytes (RFC 8489 §5: 96 bits). */
export const STUN_TRANSACTION_ID_BYTES = 12;
/** The size of an RFC 3489 transaction id in bytes (128 bits, the cookie's place included). */
export const STUN_RFC3489_TRANSACTION_ID_BYTES = 16;
/** What FINGERPRINT's CRC-32 is XORed with (RFC 8489 §14.7). */
export const STUN_FINGERPRINT_XOR = 0x5354554e;
/**
 * The largest STUN message peerlink encodes or decodes, in bytes. RFC 8489 §6.2.1 keeps UDP
 * messages under the path MTU; RFC 5780 §7.6 PADDING pads a test message up to an MTU (1500), so
 * 2048 leaves room for the header and attributes around such padding.
 */
export const MAX_STUN_BYTES = 2048;
/** The longest SOFTWARE or ERROR-CODE reason text accepted, in bytes (RFC 8489 §14.14, §14.8). */
export const MAX_STUN_TEXT_BYTES = 763;
/** The default STUN port over UDP and TCP (RFC 8489 §18.5). */
export const DEFAULT_STUN_PORT = 3478;
/** peerlink's default second STUN port, for RFC 5780 change-port answers. */
export const DEFAULT_STUN_ALT_PORT = 3479;
/** The Binding method (RFC 8489 §18.2). */
export const STUN_METHOD_BINDING = 0x001;

/** A message's class (RFC 8489 §5). */
export type StunClass = "request" | "indication" | "success" | "error";

/** The value of an address attribute. */
export interface StunAddressValue {
  /** The transport address (for XOR-MAPPED-ADDRESS: already un-XORed). */
  address: SocketAddr;
}

/** The value of CHANGE-REQUEST (RFC 5780 §7.2). */
export interface StunChangeRequestValue {
  /** Ask the server to answer from its other IP address (flag A, `0x4`). */
  changeIp: boolean;
  /** Ask the server to answer from its other port (flag B, `0x2`). */
  changePort: boolean;
}

/** The value of RESPONSE-PORT (RFC 5780 §7.5). */
export interface StunResponsePortValue {
  /** Send the response to this port (of the request's source IP). */
  port: number;
}

/** The value of PADDING (RFC 5780 §7.6): its length; the bytes are zero when encoded. */
export interface StunPaddingValue {
  /** The number of padding bytes. */
  length: number;
}

/** The value of SOFTWARE (RFC 8489 §14.14). */
export interface StunSoftwareValue {
  /** The agent's name and version, UTF-8, at most {@linkcode MAX_STUN_TEXT_BYTES} bytes. */
  text: string;
}

/** The value of ERROR-CODE (RFC 8489 §14.8). */
export interface StunErrorCodeValue {
  /** 300 to 699, e.g. 420 (Unknown Attribute). */
  code: number;
  /** A reason phrase for people. */
  reason: string;
}

/** The value of UNKNOWN-ATTRIBUTES (RFC 8489 §14.9). */
export interface StunUnknownAttributesValue {
  /** The attribute codes the server did not understand. */
  types: number[];
}

/** Every attribute this module decodes to a typed value, by name. */
export interface StunAttributeMap {
  /** `0x0001`: the client's address in the clear (RFC 8489 §14.1). */
  "MAPPED-ADDRESS": StunAddressValue;
  /** `0x0003`: answer from another IP and/or port (RFC 5780 §7.2). */
  "CHANGE-REQUEST": StunChangeRequestValue;
  /** `0x0004`: RFC 3489's RESPONSE-ORIGIN. */
  "SOURCE-ADDRESS": StunAddressValue;
  /** `0x0005`: RFC 3489's OTHER-ADDRESS. */
  "CHANGED-ADDRESS": StunAddressValue;
  /** `0x0009`: why a request failed (RFC 8489 §14.8). */
  "ERROR-CODE": StunErrorCodeValue;
  /** `0x000A`: the comprehension-required attributes the server did not know (RFC 8489 §14.9). */
  "UNKNOWN-ATTRIBUTES": StunUnknownAttributesValue;
  /** `0x0020`: the client's address, XORed with the cookie and id (RFC 8489 §14.2). */
  "XOR-MAPPED-ADDRESS": StunAddressValue;
  /** `0x0026`: pad the response (RFC 5780 §7.6). */
  "PADDING": StunPaddingValue;
  /** `0x0027`: send the response to this port (RFC 5780 §7.5). */
  "RESPONSE-PORT": StunResponsePortValue;
  /** `0x8022`: the sender's software (RFC 8489 §14.14). */
  "SOFTWARE": StunSoftwareValue;
  /** `0x802B`: where the response was sent from (RFC 5780 §7.3). */
  "RESPONSE-ORIGIN": StunAddressValue;
  /** `0x802C`: the server's other IP and port, for RFC 5780 tests (RFC 5780 §7.4). */
  "OTHER-ADDRESS": StunAddressValue;
}

/** The name of an attribute with a typed value. */
export type StunAttributeName = keyof StunAttributeMap;

/** An attribute with a typed value: `{ type: name, ...value }`. */
export type StunKnownAttribute = {
  [K in StunAttributeName]: { type: K } & StunAttributeMap[K];
}[StunAttributeName];

/** An attribute kept as bytes (one this module has no type for, e.g. MESSAGE-INTEGRITY). */
export interface StunRawAttribute {
  /** Always `"raw"`. */
  type: "raw";
  /** The attribute type code. */
  code: number;
  /** The value, without padding. */
  value: Uint8Array;
}

/** One attribute of a message. */
export type StunAttribute = StunKnownAttribute | StunRawAttribute;

/** A STUN message. */
export interface StunMessage {
  /** Request, indication, success response or error response. */
  class: StunClass;
  /** The method, 12 bits ({@linkcode STUN_METHOD_BINDING} for Binding). */
  method: number;
  /**
   * 12 random bytes; 16 for an RFC 3489 message (no magic cookie: the id fills its place).
   */
  transactionId: Uint8Array;
  /** The attributes in order, FINGERPRINT left out. */
  attributes: StunAttribute[];
  /** Whether a FINGERPRINT ends the message (checked when decoding, added when encoding). */
  fingerprint?: boolean;
}

/** The attribute type codes, by name. */
export const STUN_ATTRIBUTE_CODES: Readonly<Record<StunAttributeName | "FINGERPRINT", number>> =
  Object.freeze({
    "MAPPED-ADDRESS": 0x0001,
    "CHANGE-REQUEST": 0x0003,
    "SOURCE-ADDRESS": 0x0004,
    "CHANGED-ADDRESS": 0x0005,
    "ERROR-CODE": 0x0009,
    "UNKNOWN-ATTRIBUTES": 0x000a,
    "XOR-MAPPED-ADDRESS": 0x0020,
    "PADDING": 0x0026,
    "RESPONSE-PORT": 0x0027,
    "SOFTWARE": 0x8022,
    "FINGERPRINT": 0x8028,
    "RESPONSE-ORIGIN": 0x802b,
    "OTHER-ADDRESS": 0x802c,
  });

/** Reason phrases of the error codes a Binding server sends (RFC 8489 §14.8). */
export const STUN_ERROR_REASONS: Readonly<Record<number, string>> = Object.freeze({
  300: "Try Alternate",
  400: "Bad Request",
  401: "Unauthenticated",
  420: "Unknown Attribute",
  438: "Stale Nonce",
  500: "Server Error",
});

/** What was wrong with a message. */
export type StunErrorKind =
  | "too-large"
  | "truncated"
  | "not-stun"
  | "bad-length"
  | "bad-cookie"
  | "bad-attribute"
  | "bad-fingerprint"
  | "bad-value";

/** A STUN message could not be decoded or encoded; `kind` says why. */
export class StunError extends Error {
  /** What was wrong, e.g. `"bad-fingerprint"` (servers count drops by it). */
  readonly kind: StunErrorKind;

  /**
   * Make the error.
   *
   * @example
   * ```ts
   * import { StunError } from "./stun.ts";
   * const error = new StunError("truncated", "Too short");
   * if (error.name !== "StunError" || error.kind !== "truncated") throw new Error("Bad error");
   * ```
   */
  constructor(kind: StunErrorKind, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "StunError";
    this.kind = kind;
  }
}

/** Options for {@linkcode decodeStunMessage}. */
export interface StunDecodeOptions {
  /**
   * Accept RFC 3489 messages, which have no magic cookie: their 16-byte transaction id is kept
   * whole and XOR-address attributes stay raw. Servers set this to answer old clients (RFC 8489
   * §12). @default {false}
   */
  allowRfc3489?: boolean;
}

/** Options for {@linkcode encodeStunMessage}. */
export interface StunEncodeOptions {
  /**
   * The byte that pads attribute values to 4 bytes. Receivers ignore it (RFC 8489 §14); RFC 5769's
   * vectors use `0x20`. @default {0}
   */
  paddingByte?: number;
}

const CLASS_BITS: Readonly<Record<StunClass, number>> = {
  request: 0x000,
  indication: 0x010,
  success: 0x100,
  error: 0x110,
};

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder();

const NAME_BY_CODE = new Map<number, StunAttributeName>(
  Object.entries(STUN_ATTRIBUTE_CODES)
    .filter(([name]) => name !== "FINGERPRINT")
    .map(([name, code]) => [code, name as StunAttributeName]),
);

const XOR_ADDRESSES: ReadonlySet<StunAttributeName> = new Set(["XOR-MAPPED-ADDRESS"]);

function u16(bytes: Uint8Array, at: number): number {
  return (bytes[at]! << 8) | bytes[at + 1]!;
}

function u32(bytes: Uint8Array, at: number): number {
  return ((bytes[at]! << 24) | (bytes[at + 1]! << 16) | (bytes[at + 2]! << 8) | bytes[at + 3]!) >>>
    0;
}

function putU16(bytes: Uint8Array, at: number, value: number): void {
  bytes[at] = value >>> 8;
  bytes[at + 1] = value & 0xff;
}

function putU32(bytes: Uint8Array, at: number, value: number): void {
  bytes[at] = value >>> 24;
  bytes[at + 1] = (value >>> 16) & 0xff;
  bytes[at + 2] = (value >>> 8) & 0xff;
  bytes[at + 3] = value & 0xff;
}

/** Round up to a multiple of 4 (attribute values are padded to 32-bit boundaries). */
function padded(length: number): number {
  return (length + 3) & ~3;
}

/** The 16-byte XOR key of XOR-MAPPED-ADDRESS: the cookie, then the transaction id (§14.2). */
function xorKey(transactionId: Uint8Array): Uint8Array {
  const key = new Uint8Array(16);
  putU32(key, 0, STUN_MAGIC_COOKIE);
  key.set(transactionId, 4);
  return key;
}

function messageType(method: number, cls: StunClass): number {
  return (method & 0x000f) | ((method & 0x0070) << 1) | ((method & 0x0f80) << 2) |
    CLASS_BITS[cls];
}

function classOf(type: number): StunClass {
  switch (type & 0x0110) {
    case 0x000:
      return "request";
    case 0x010:
      return "indication";
    case 0x100:
      return "success";
    default:
      return "error";
  }
}

function methodOf(type: number): number {
  return (type & 0x000f) | ((type & 0x00e0) >> 1) | ((type & 0x3e00) >> 2);
}

function fingerprintOf(bytes: Uint8Array): number {
  return (crc32(bytes) ^ STUN_FINGERPRINT_XOR) >>> 0;
}

function decodeAddress(name: string, value: Uint8Array, key: Uint8Array | null): SocketAddr {
  const family = value[1];
  const expected = family === 0x01 ? 8 : family === 0x02 ? 20 : -1;
  if (expected < 0 || value.length !== expected) {
    throw new StunError(
      "bad-value",
      family === 0x01 || family === 0x02
        ? `${name} of family ${family} has ${value.length} bytes, not ${expected}`
        : `${name} has unknown address family ${family ?? "(none)"}`,
    );
  }
  const ip = value.slice(4);
  let port = u16(value, 2);
  if (key !== null) {
    port ^= STUN_MAGIC_COOKIE >>> 16;
    for (let i = 0; i < ip.length; i++) ip[i]! ^= key[i]!;
  }
  return family === 0x01
    ? { family: "v4", ip: ip.join("."), port }
    : { family: "v6", ip: formatIpv6(ip), port, scopeId: 0 };
}

function encodeAddress(name: string, address: SocketAddr, key: Uint8Array | null): Uint8Array {
  const ip = address.family === "v4" ? parseIpv4(address.ip) : parseIpv6(address.ip);
  if (ip === null || !Number.isInteger(address.port) || address.port < 0 || address.port > 65535) {
    throw new StunError("bad-value", `${name} has an invalid address ${JSON.stringify(address)}`);
  }
  const value = new Uint8Array(4 + ip.length);
  value[1] = address.family === "v4" ? 0x01 : 0x02;
  putU16(value, 2, key === null ? address.port : address.port ^ (STUN_MAGIC_COOKIE >>> 16));
  for (let i = 0; i < ip.length; i++) value[4 + i] = key === null ? ip[i]! : ip[i]! ^ key[i]!;
  return value;
}

function decodeText(name: string, value: Uint8Array): string {
  if (value.length > MAX_STUN_TEXT_BYTES) {
    throw new StunError(
      "bad-value",
      `${name} has ${value.length} bytes, more than ${MAX_STUN_TEXT_BYTES}`,
    );
  }
  return textDecoder.decode(value);
}

function encodeText(name: string, text: string): Uint8Array {
  const bytes = textEncoder.encode(text);
  if (bytes.length > MAX_STUN_TEXT_BYTES) {
    throw new StunError(
      "bad-value",
      `${name} has ${bytes.length} bytes, more than ${MAX_STUN_TEXT_BYTES}`,
    );
  }
  return bytes;
}

function decodeValue(
  name: StunAttributeName,
  value: Uint8Array,
  key: Uint8Array | null,
): StunKnownAttribute {
  const exact = (length: number): void => {
    if (value.length !== length) {
      throw new StunError("bad-value", `${name} has ${value.length} bytes, not ${length}`);
    }
  };
  switch (name) {
    case "MAPPED-ADDRESS":
    case "SOURCE-ADDRESS":
    case "CHANGED-ADDRESS":
    case "RESPONSE-ORIGIN":
    case "OTHER-ADDRESS":
      return { type: name, address: decodeAddress(name, value, null) };
    case "XOR-MAPPED-ADDRESS":
      return { type: name, address: decodeAddress(name, value, key) };
    case "CHANGE-REQUEST": {
      exact(4);
      const flags = value[3]!;
      return { type: name, changeIp: (flags & 0x04) !== 0, changePort: (flags & 0x02) !== 0 };
    }
    case "RESPONSE-PORT":
      // RFC 5780 §7.5: a 16-bit port, then 2 bytes of padding (some clients send length 2).
      if (value.length !== 4 && value.length !== 2) exact(4);
      return { type: name, port: u16(value, 0) };
    case "PADDING":
      return { type: name, length: value.length };
    case "SOFTWARE":
      return { type: name, text: decodeText(name, value) };
    case "ERROR-CODE": {
      if (value.length < 4) exact(4);
      const cls = value[2]! & 0x07;
      const number = value[3]!;
      if (cls < 3 || cls > 6 || number > 99) {
        throw new StunError("bad-value", `ERROR-CODE has class ${cls} and number ${number}`);
      }
      return { type: name, code: cls * 100 + number, reason: decodeText(name, value.subarray(4)) };
    }
    case "UNKNOWN-ATTRIBUTES": {
      if (value.length % 2 !== 0) {
        throw new StunError("bad-value", `UNKNOWN-ATTRIBUTES has an odd length ${value.length}`);
      }
      const types: number[] = [];
      for (let i = 0; i < value.length; i += 2) types.push(u16(value, i));
      return { type: name, types };
    }
  }
}

function encodeValue(attribute: StunAttribute, key: Uint8Array | null): [number, Uint8Array] {
  if (attribute.type === "raw") {
    const { code, value } = attribute;
    if (!Number.isInteger(code) || code < 0 || code > 0xffff || code === 0x8028) {
      throw new StunError("bad-value", `Raw attribute code ${code} is not allowed`);
    }
    return [code, value];
  }
  const code = STUN_ATTRIBUTE_CODES[attribute.type];
  if (code === undefined) {
    throw new StunError("bad-value", `Unknown attribute type ${String(attribute.type)}`);
  }
  switch (attribute.type) {
    case "MAPPED-ADDRESS":
    case "SOURCE-ADDRESS":
    case "CHANGED-ADDRESS":
    case "RESPONSE-ORIGIN":
    case "OTHER-ADDRESS":
      return [code, encodeAddress(attribute.type, attribute.address, null)];
    case "XOR-MAPPED-ADDRESS":
      if (key === null) {
        throw new StunError("bad-value", "XOR-MAPPED-ADDRESS needs a 12-byte transaction id");
      }
      return [code, encodeAddress(attribute.type, attribute.address, key)];
    case "CHANGE-REQUEST":
      return [
        code,
        Uint8Array.of(0, 0, 0, (attribute.changeIp ? 0x04 : 0) | (attribute.changePort ? 0x02 : 0)),
      ];
    case "RESPONSE-PORT": {
      const { port } = attribute;
      if (!Number.isInteger(port) || port < 0 || port > 65535) {
        throw new StunError("bad-value", `RESPONSE-PORT ${port} is not a port`);
      }
      return [code, Uint8Array.of(port >>> 8, port & 0xff, 0, 0)];
    }
    case "PADDING": {
      const { length } = attribute;
      if (!Number.isInteger(length) || length < 0 || length > MAX_STUN_BYTES) {
        throw new StunError("bad-value", `PADDING length ${length} is out of range`);
      }
      return [code, new Uint8Array(length)];
    }
    case "SOFTWARE":
      return [code, encodeText(attribute.type, attribute.text)];
    case "ERROR-CODE": {
      const { code: errorCode } = attribute;
      if (!Number.isInteger(errorCode) || errorCode < 300 || errorCode > 699) {
        throw new StunError("bad-value", `ERROR-CODE ${errorCode} is not between 300 and 699`);
      }
      const reason = encodeText(attribute.type, attribute.reason);
      const value = new Uint8Array(4 + reason.length);
      value[2] = Math.floor(errorCode / 100);
      value[3] = errorCode % 100;
      value.set(reason, 4);
      return [code, value];
    }
    case "UNKNOWN-ATTRIBUTES": {
      const value = new Uint8Array(attribute.types.length * 2);
      attribute.types.forEach((type, i) => {
        if (!Number.isInteger(type) || type < 0 || type > 0xffff) {
          throw new StunError("bad-value", `UNKNOWN-ATTRIBUTES lists ${type}, not a type code`);
        }
        putU16(value, 2 * i, type);
      });
      return [code, value];
    }
  }
}

/**
 * Whether `bytes` look like one RFC 5389/8489 STUN message: the two top bits zero, the magic
 * cookie, and a length that is a multiple of 4 and matches. Cheap, for telling STUN apart from
 * other protocols on one socket (RFC 7983); it does not check the attributes.
 *
 * @example
 * ```ts
 * import { encodeStunMessage, isStunMessage } from "./stun.ts";
 * const request = encodeStunMessage({ class: "request", method: 1, transactionId: new Uint8Array(12), attributes: [] });
 * if (!isStunMessage(request) || isStunMessage(new TextEncoder().encode("hello"))) throw new Error("Wrong guess");
 * ```
 */
export function isStunMessage(bytes: Uint8Array): boolean {
  if (bytes.length < STUN_HEADER_BYTES || (bytes[0]! & 0xc0) !== 0) return false;
  const length = u16(bytes, 2);
  return length % 4 === 0 && STUN_HEADER_BYTES + length === bytes.length &&
    u32(bytes, 4) === STUN_MAGIC_COOKIE;
}

/**
 * Decode one STUN message: a whole UDP datagram, or one message cut from a stream. Throws a
 * {@linkcode StunError} for anything malformed (see the module documentation).
 *
 * @example RFC 5769 §2.2: a Binding success response over IPv4
 * ```ts
 * import { decodeStunMessage, getStunAttribute } from "./stun.ts";
 * const bytes = Uint8Array.fromHex(
 *   "0101003c2112a442b7e7a701bc34d686fa87dfae8022000b7465737420766563746f7220" +
 *     "002000080001a147e112a643000800142b91f599fd9e90c38c7489f92af9ba53f06be7d7" +
 *     "80280004c07d4c96",
 * );
 * const message = decodeStunMessage(bytes);
 * const mapped = getStunAttribute(message, "XOR-MAPPED-ADDRESS");
 * if (message.class !== "success" || !message.fingerprint) throw new Error("Bad header");
 * if (mapped?.address.ip !== "192.0.2.1" || mapped.address.port !== 32853) throw new Error("Bad address");
 * ```
 */
export function decodeStunMessage(bytes: Uint8Array, options: StunDecodeOptions = {}): StunMessage {
  if (bytes.length > MAX_STUN_BYTES) {
    throw new StunError(
      "too-large",
      `A STUN message of ${bytes.length} bytes is over the limit of ${MAX_STUN_BYTES}`,
    );
  }
  if (bytes.length < STUN_HEADER_BYTES) {
    throw new StunError(
      "truncated",
      `A STUN message has at least ${STUN_HEADER_BYTES} bytes, not ${bytes.length}`,
    );
  }
  if ((bytes[0]! & 0xc0) !== 0) {
    throw new StunError("not-stun", "The two top bits of a STUN message are zero");
  }
  const type = u16(bytes, 0);
  const length = u16(bytes, 2);
  if (length % 4 !== 0) {
    throw new StunError("bad-length", `The message length ${length} is not a multiple of 4`);
  }
  if (STUN_HEADER_BYTES + length > bytes.length) {
    throw new StunError(
      "truncated",
      `The header announces ${length} bytes of attributes, only ${
        bytes.length - STUN_HEADER_BYTES
      } follow`,
    );
  }
  if (STUN_HEADER_BYTES + length < bytes.length) {
    throw new StunError(
      "bad-length",
      `The header announces ${length} bytes of attributes, ${
        bytes.length - STUN_HEADER_BYTES
      } follow`,
    );
  }
  const classic = u32(bytes, 4) !== STUN_MAGIC_COOKIE;
  if (classic && !options.allowRfc3489) {
    throw new StunError("bad-cookie", "The magic cookie 0x2112A442 is missing");
  }
  const transactionId = bytes.slice(classic ? 4 : 8, STUN_HEADER_BYTES);
  const key = classic ? null : xorKey(transactionId);
  const attributes: StunAttribute[] = [];
  let fingerprint = false;
  let at = STUN_HEADER_BYTES;
  while (at < bytes.length) {
    if (bytes.length - at < 4) {
      throw new StunError("bad-attribute", `A truncated attribute header at byte ${at}`);
    }
    const code = u16(bytes, at);
    const size = u16(bytes, at + 2);
    const start = at + 4;
    const next = start + padded(size);
    if (next > bytes.length) {
      throw new StunError(
        "bad-attribute",
        `Attribute 0x${code.toString(16).padStart(4, "0")} at byte ${at} runs past the message`,
      );
    }
    const value = bytes.subarray(start, start + size);
    if (code === STUN_ATTRIBUTE_CODES.FINGERPRINT) {
      if (size !== 4 || next !== bytes.length) {
        throw new StunError("bad-attribute", "FINGERPRINT must be the last attribute, 4 bytes");
      }
      const expected = fingerprintOf(bytes.subarray(0, at));
      if (u32(value, 0) !== expected) {
        throw new StunError(
          "bad-fingerprint",
          `FINGERPRINT is 0x${u32(value, 0).toString(16)}, the message gives 0x${
            expected.toString(16)
          }`,
        );
      }
      fingerprint = true;
    } else {
      const name = NAME_BY_CODE.get(code);
      attributes.push(
        name === undefined || (classic && XOR_ADDRESSES.has(name))
          ? { type: "raw", code, value: value.slice() }
          : decodeValue(name, value, key),
      );
    }
    at = next;
  }
  return { class: classOf(type), method: methodOf(type), transactionId, attributes, fingerprint };
}

/**
 * Encode a message, with a FINGERPRINT last when `message.fingerprint` is set. Throws a
 * {@linkcode StunError} (`"bad-value"` or `"too-large"`) for values that cannot be encoded.
 *
 * @example A Binding request asking for an answer from the other port
 * ```ts
 * import { encodeStunMessage, STUN_METHOD_BINDING } from "./stun.ts";
 * const bytes = encodeStunMessage({
 *   class: "request",
 *   method: STUN_METHOD_BINDING,
 *   transactionId: new Uint8Array(12),
 *   attributes: [{ type: "CHANGE-REQUEST", changeIp: false, changePort: true }],
 * });
 * if (bytes.toHex() !== "000100082112a442" + "00".repeat(12) + "0003000400000002") throw new Error(bytes.toHex());
 * ```
 */
export function encodeStunMessage(
  message: StunMessage,
  options: StunEncodeOptions = {},
): Uint8Array {
  const { paddingByte = 0 } = options;
  const { transactionId, method } = message;
  if (!Number.isInteger(paddingByte) || paddingByte < 0 || paddingByte > 255) {
    throw new RangeError(`Cannot encode STUN: paddingByte is ${paddingByte}, not a byte`);
  }
  if (!Number.isInteger(method) || method < 0 || method > 0xfff) {
    throw new StunError("bad-value", `The method ${method} does not fit in 12 bits`);
  }
  if (!(message.class in CLASS_BITS)) {
    throw new StunError("bad-value", `Unknown message class ${String(message.class)}`);
  }
  const classic = transactionId.length === STUN_RFC3489_TRANSACTION_ID_BYTES;
  if (!classic && transactionId.length !== STUN_TRANSACTION_ID_BYTES) {
    throw new StunError(
      "bad-value",
      `A transaction id has 12 bytes (16 for RFC 3489), not ${transactionId.length}`,
    );
  }
  const key = classic ? null : xorKey(transactionId);
  const parts = message.attributes.map((attribute) => encodeValue(attribute, key));
  let total = STUN_HEADER_BYTES + (message.fingerprint ? 8 : 0);
  for (const [, value] of parts) {
    if (value.length > 0xffff) {
      throw new StunError("bad-value", `An attribute value of ${value.length} bytes is too long`);
    }
    total += 4 + padded(value.length);
  }
  if (total > MAX_STUN_BYTES) {
    throw new StunError(
      "too-large",
      `A STUN message of ${total} bytes is over the limit of ${MAX_STUN_BYTES}`,
    );
  }
  const out = new Uint8Array(total);
  putU16(out, 0, messageType(method, message.class));
  putU16(out, 2, total - STUN_HEADER_BYTES);
  if (classic) out.set(transactionId, 4);
  else {
    putU32(out, 4, STUN_MAGIC_COOKIE);
    out.set(transactionId, 8);
  }
  let at = STUN_HEADER_BYTES;
  for (const [code, value] of parts) {
    putU16(out, at, code);
    putU16(out, at + 2, value.length);
    out.set(value, at + 4);
    out.fill(paddingByte, at + 4 + value.length, at + 4 + padded(value.length));
    at += 4 + padded(value.length);
  }
  if (message.fingerprint) {
    putU16(out, at, STUN_ATTRIBUTE_CODES.FINGERPRINT);
    putU16(out, at + 2, 4);
    putU32(out, at + 4, fingerprintOf(out.subarray(0, at)));
  }
  return out;
}

/**
 * The first attribute of a type in a message, typed, or `undefined`.
 *
 * @example
 * ```ts
 * import { getStunAttribute, type StunMessage } from "./stun.ts";
 * const message: StunMessage = {
 *   class: "error",
 *   method: 1,
 *   transactionId: new Uint8Array(12),
 *   attributes: [{ type: "ERROR-CODE", code: 420, reason: "Unknown Attribute" }],
 * };
 * if (getStunAttribute(message, "ERROR-CODE")?.code !== 420) throw new Error("Not found");
 * if (getStunAttribute(message, "SOFTWARE") !== undefined) throw new Error("Found a ghost");
 * ```
 */
export function getStunAttribute<K extends StunAttributeName>(
  message: StunMessage,
  type: K,
): Extract<StunKnownAttribute, { type: K }> | undefined {
  return message.attributes.find((attribute) => attribute.type === type) as
    | Extract<StunKnownAttribute, { type: K }>
    | undefined;
}

/**
 * A fresh random 96-bit transaction id (RFC 8489 §5: "uniformly and randomly chosen").
 *
 * @example
 * ```ts
 * import { createStunTransactionId } from "./stun.ts";
 * const a = createStunTransactionId();
 * if (a.length !== 12 || a.toHex() === createStunTransactionId().toHex()) throw new Error("Not random");
 * ```
 */
export function createStunTransactionId(): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(STUN_TRANSACTION_ID_BYTES));
}

/**
 * Whether an attribute type must be understood by its receiver: codes `0x0000`–`0x7FFF` are
 * comprehension-required, `0x8000`–`0xFFFF` comprehension-optional (RFC 8489 §14).
 *
 * @example
 * ```ts
 * import { isComprehensionRequired } from "./stun.ts";
 * if (!isComprehensionRequired(0x0006) || isComprehensionRequired(0x8022)) throw new Error("Wrong range");
 * ```
 */
export function isComprehensionRequired(code: number): boolean {
  return code < 0x8000;
}
