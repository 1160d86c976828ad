/**
 * The gday 0.1.1 contact-exchange protocol, byte for byte (spec: gday-0.1.1.md §1–§3, §6.1).
 *
 * Every message travels as one frame: a 4-byte big-endian length, then compact JSON from serde's
 * default (externally tagged) enum encoding:
 *
 * | client → server | JSON body |
 * | --- | --- |
 * | `CreateRoom` | `{"CreateRoom":{"room_code":452932}}` |
 * | `SendAddr` | `{"SendAddr":{"room_code":2345,"is_creator":true,"private_addr":"31.31.65.31:324"}}` |
 * | `DoneSending` | `{"DoneSending":{"room_code":24325423,"is_creator":false}}` |
 *
 * Server replies are the bare strings `"RoomCreated"`, `"ReceivedAddr"`, `"ErrorRoomTaken"`,
 * `"ErrorPeerTimedOut"`, `"ErrorNoSuchRoomID"`, `"ErrorTooManyRequests"`, `"ErrorSyntax"`,
 * `"ErrorConnection"`, `"ErrorInternal"`, and `{"ClientContact":F}` / `{"PeerContact":F}` where
 * `F` is `{"private":{"v4":A,"v6":A},"public":{"v4":A,"v6":A}}` and each `A` is a socket address
 * string or `null`.
 *
 * Room codes are full u64 values kept as `bigint`, so codes above 2^53 round-trip exactly.
 * Decoding is as lenient as serde where gday clients rely on it (unknown keys ignored, a missing
 * optional field is `null`, keys in any order, unit variants also as `{"RoomCreated":null}`,
 * struct variants also as arrays) and strict everywhere else: every field is validated and an
 * unknown variant or wrong type raises {@linkcode GdayProtocolError}.
 *
 * Pure functions, no I/O; framing lives in `framing/length_prefixed.ts`.
 *
 * @module
 */

import { encodeFrame } from "../framing/length_prefixed.ts";
import {
  isJsonObject,
  type JsonSyntaxError,
  jsonUnsigned,
  type JsonValue,
  parseJson,
} from "./json.ts";
import {
  formatSocketAddr,
  parseSocketAddr,
  parseSocketAddrV4,
  parseSocketAddrV6,
  type SocketAddr,
  type SocketAddrV4,
  type SocketAddrV6,
} from "./socket_addr.ts";

/** The default plain-TCP port of a gday server. */
export const DEFAULT_GDAY_TCP_PORT = 2310;
/** The default TLS port of a gday server. */
export const DEFAULT_GDAY_TLS_PORT = 2311;
/** The largest room code: room codes are u64. */
export const MAX_ROOM_CODE: bigint = 2n ** 64n - 1n;
/**
 * The largest gday message peerlink's readers accept by default, in bytes. gday 0.1.1 has no limit;
 * the largest valid message (a `PeerContact` with four scoped IPv6 addresses) is under 400 bytes.
 */
export const MAX_GDAY_MESSAGE_BYTES = 64 * 1024;

/** A peer's addresses of one kind (private or public): at most one per IP family. */
export interface Contact {
  /** The IPv4 address, or `null`. */
  v4: SocketAddrV4 | null;
  /** The IPv6 address, or `null`. A gday 0.1.1 server may put an IPv4-mapped address here. */
  v6: SocketAddrV6 | null;
}

/** Everything the server knows of one peer: what it reported and what the server observed. */
export interface FullContact {
  /** The addresses the peer reported with `SendAddr` (its local socket addresses). */
  private: Contact;
  /** The addresses the server saw the peer's connections come from. */
  public: Contact;
}

/** `CreateRoom`: reserve a room code. */
export interface CreateRoomMsg {
  /** Discriminant. */
  type: "CreateRoom";
  /** The room code, a u64. */
  roomCode: bigint;
}

/** `SendAddr`: record this connection's public address (and optionally a private one). */
export interface SendAddrMsg {
  /** Discriminant. */
  type: "SendAddr";
  /** The room code, a u64. */
  roomCode: bigint;
  /** `true` for the room's creator, `false` for the other peer. */
  isCreator: boolean;
  /** The local address of this connection, or `null`. */
  privateAddr: SocketAddr | null;
}

/** `DoneSending`: this peer has sent all its addresses; reply with contacts. */
export interface DoneSendingMsg {
  /** Discriminant. */
  type: "DoneSending";
  /** The room code, a u64. */
  roomCode: bigint;
  /** `true` for the room's creator, `false` for the other peer. */
  isCreator: boolean;
}

/** A message from a client to a gday server. */
export type ClientMsg = CreateRoomMsg | SendAddrMsg | DoneSendingMsg;

/** The server's replies that carry no data, in gday's declaration order. */
export const SERVER_UNIT_REPLIES = [
  "RoomCreated",
  "ReceivedAddr",
  "ErrorRoomTaken",
  "ErrorPeerTimedOut",
  "ErrorNoSuchRoomID",
  "ErrorTooManyRequests",
  "ErrorSyntax",
  "ErrorConnection",
  "ErrorInternal",
] as const;

/** The name of a server reply that carries no data. */
export type ServerUnitReply = typeof SERVER_UNIT_REPLIES[number];

/** A server reply that carries a contact. */
export interface ContactMsg {
  /** `ClientContact` (your own contact) or `PeerContact` (the other peer's). */
  type: "ClientContact" | "PeerContact";
  /** The contact. */
  contact: FullContact;
}

/** A message from a gday server to a client. */
export type ServerMsg = { type: ServerUnitReply } | ContactMsg;

/** A gday message could not be encoded or decoded. */
export class GdayProtocolError extends Error {
  /**
   * Make the error.
   *
   * @example
   * ```ts
   * import { GdayProtocolError } from "./gday.ts";
   * if (new GdayProtocolError("Bad").name !== "GdayProtocolError") throw new Error("Bad name");
   * ```
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "GdayProtocolError";
  }
}

const encoder = new TextEncoder();

function roomCodeText(code: bigint): string {
  if (typeof code !== "bigint" || code < 0n || code > MAX_ROOM_CODE) {
    throw new GdayProtocolError(`Room code ${String(code)} is not a u64 (0 to 2^64-1)`);
  }
  return code.toString();
}

function addrJson(addr: SocketAddr | null): string {
  return addr === null ? "null" : JSON.stringify(formatSocketAddr(addr));
}

function contactJson(contact: Contact): string {
  return `{"v4":${addrJson(contact.v4)},"v6":${addrJson(contact.v6)}}`;
}

function fullContactJson(contact: FullContact): string {
  return `{"private":${contactJson(contact.private)},"public":${contactJson(contact.public)}}`;
}

/**
 * Encode a client message as its compact JSON body (no length prefix).
 *
 * @example
 * ```ts
 * import { encodeClientMsg } from "./gday.ts";
 * const body = encodeClientMsg({ type: "CreateRoom", roomCode: 452932n });
 * if (new TextDecoder().decode(body) !== '{"CreateRoom":{"room_code":452932}}') throw new Error("Bad body");
 * ```
 */
export function encodeClientMsg(msg: ClientMsg): Uint8Array {
  const code = roomCodeText(msg.roomCode);
  switch (msg.type) {
    case "CreateRoom":
      return encoder.encode(`{"CreateRoom":{"room_code":${code}}}`);
    case "SendAddr":
      return encoder.encode(
        `{"SendAddr":{"room_code":${code},"is_creator":${msg.isCreator === true},"private_addr":${
          addrJson(msg.privateAddr)
        }}}`,
      );
    case "DoneSending":
      return encoder.encode(
        `{"DoneSending":{"room_code":${code},"is_creator":${msg.isCreator === true}}}`,
      );
    default:
      throw new GdayProtocolError(`Unknown client message type ${(msg as { type: unknown }).type}`);
  }
}

/**
 * Encode a server message as its compact JSON body (no length prefix).
 *
 * @example
 * ```ts
 * import { encodeServerMsg } from "./gday.ts";
 * if (new TextDecoder().decode(encodeServerMsg({ type: "RoomCreated" })) !== '"RoomCreated"') {
 *   throw new Error("Bad body");
 * }
 * ```
 */
export function encodeServerMsg(msg: ServerMsg): Uint8Array {
  if (msg.type === "ClientContact" || msg.type === "PeerContact") {
    return encoder.encode(`{"${msg.type}":${fullContactJson((msg as ContactMsg).contact)}}`);
  }
  if (!(SERVER_UNIT_REPLIES as readonly string[]).includes(msg.type)) {
    throw new GdayProtocolError(`Unknown server message type ${msg.type}`);
  }
  return encoder.encode(`"${msg.type}"`);
}

/**
 * Encode a client message as a complete frame (length prefix and body).
 *
 * @example
 * ```ts
 * import { encodeClientFrame } from "./gday.ts";
 * const frame = encodeClientFrame({ type: "CreateRoom", roomCode: 452932n });
 * if (frame.subarray(0, 4).toHex() !== "00000023") throw new Error("Bad length");
 * ```
 */
export function encodeClientFrame(msg: ClientMsg): Uint8Array {
  return encodeFrame(encodeClientMsg(msg));
}

/**
 * Encode a server message as a complete frame (length prefix and body).
 *
 * @example
 * ```ts
 * import { encodeServerFrame } from "./gday.ts";
 * if (encodeServerFrame({ type: "RoomCreated" }).toHex() !== "0000000d22526f6f6d4372656174656422") {
 *   throw new Error("Bad frame");
 * }
 * ```
 */
export function encodeServerFrame(msg: ServerMsg): Uint8Array {
  return encodeFrame(encodeServerMsg(msg));
}

function parse(body: Uint8Array): JsonValue {
  try {
    return parseJson(body);
  } catch (cause) {
    throw new GdayProtocolError((cause as JsonSyntaxError).message, { cause });
  }
}

/** Split an externally tagged enum value into its variant name and content. */
function variant(value: JsonValue): [string, JsonValue | undefined] {
  if (typeof value === "string") return [value, undefined];
  if (isJsonObject(value)) {
    const keys = Object.keys(value);
    if (keys.length === 1) return [keys[0]!, value[keys[0]!]];
  }
  throw new GdayProtocolError("Message must be a variant name or an object with exactly one key");
}

/** Read a struct variant's fields, accepting serde's object form and its array form. */
function fields(
  name: string,
  content: JsonValue | undefined,
  order: readonly string[],
): Record<string, JsonValue> {
  if (isJsonObject(content)) return content;
  if (Array.isArray(content)) {
    if (content.length > order.length) throw new GdayProtocolError(`${name} has too many fields`);
    return Object.fromEntries(content.map((v, i) => [order[i]!, v]));
  }
  throw new GdayProtocolError(`${name} must carry an object of fields`);
}

function roomCodeField(name: string, f: Record<string, JsonValue>): bigint {
  if (!("room_code" in f)) throw new GdayProtocolError(`${name} is missing room_code`);
  const code = jsonUnsigned(f.room_code, 64);
  if (code === null) {
    throw new GdayProtocolError(`${name}.room_code must be an integer from 0 to 2^64-1`);
  }
  return code;
}

function boolField(name: string, f: Record<string, JsonValue>, key: string): boolean {
  const value = f[key];
  if (typeof value !== "boolean") {
    throw new GdayProtocolError(`${name}.${key} must be true or false`);
  }
  return value;
}

function addrField<T extends SocketAddr>(
  where: string,
  value: JsonValue | undefined,
  parser: (text: string) => T | null,
): T | null {
  if (value === undefined || value === null) return null;
  const addr = typeof value === "string" ? parser(value) : null;
  if (addr === null) {
    throw new GdayProtocolError(`${where} must be a socket address string or null`);
  }
  return addr;
}

function unitContent(name: string, content: JsonValue | undefined): void {
  if (content !== undefined && content !== null) {
    throw new GdayProtocolError(`${name} carries no data`);
  }
}

/**
 * Decode a client message from its JSON body (no length prefix).
 *
 * @throws {GdayProtocolError} for anything that is not a valid gday 0.1.1 client message.
 *
 * @example
 * ```ts
 * import { decodeClientMsg } from "./gday.ts";
 * const body = new TextEncoder().encode('{"DoneSending":{"is_creator":false,"room_code":18446744073709551615}}');
 * const msg = decodeClientMsg(body);
 * if (msg.type !== "DoneSending" || msg.roomCode !== 2n ** 64n - 1n) throw new Error("Bad decode");
 * ```
 */
export function decodeClientMsg(body: Uint8Array): ClientMsg {
  const [name, content] = variant(parse(body));
  switch (name) {
    case "CreateRoom": {
      const f = fields(name, content, ["room_code"]);
      return { type: "CreateRoom", roomCode: roomCodeField(name, f) };
    }
    case "SendAddr": {
      const f = fields(name, content, ["room_code", "is_creator", "private_addr"]);
      return {
        type: "SendAddr",
        roomCode: roomCodeField(name, f),
        isCreator: boolField(name, f, "is_creator"),
        privateAddr: addrField("SendAddr.private_addr", f.private_addr, parseSocketAddr),
      };
    }
    case "DoneSending": {
      const f = fields(name, content, ["room_code", "is_creator"]);
      return {
        type: "DoneSending",
        roomCode: roomCodeField(name, f),
        isCreator: boolField(name, f, "is_creator"),
      };
    }
    default:
      throw new GdayProtocolError(`Unknown client message ${JSON.stringify(name)}`);
  }
}

function decodeContact(where: string, value: JsonValue | undefined): Contact {
  const f = fields(where, value, ["v4", "v6"]);
  return {
    v4: addrField(`${where}.v4`, f.v4, parseSocketAddrV4),
    v6: addrField(`${where}.v6`, f.v6, parseSocketAddrV6),
  };
}

function decodeFullContact(where: string, value: JsonValue | undefined): FullContact {
  const f = fields(where, value, ["private", "public"]);
  if (!("private" in f) || !("public" in f)) {
    throw new GdayProtocolError(`${where} needs private and public`);
  }
  return {
    private: decodeContact(`${where}.private`, f.private),
    public: decodeContact(`${where}.public`, f.public),
  };
}

/**
 * Decode a server message from its JSON body (no length prefix).
 *
 * @throws {GdayProtocolError} for anything that is not a valid gday 0.1.1 server message.
 *
 * @example
 * ```ts
 * import { decodeServerMsg } from "./gday.ts";
 * const msg = decodeServerMsg(new TextEncoder().encode('{"ErrorRoomTaken":null}'));
 * if (msg.type !== "ErrorRoomTaken") throw new Error("Bad decode");
 * ```
 */
export function decodeServerMsg(body: Uint8Array): ServerMsg {
  const [name, content] = variant(parse(body));
  if (name === "ClientContact" || name === "PeerContact") {
    return { type: name, contact: decodeFullContact(name, content) };
  }
  if ((SERVER_UNIT_REPLIES as readonly string[]).includes(name)) {
    unitContent(name, content);
    return { type: name as ServerUnitReply };
  }
  throw new GdayProtocolError(`Unknown server message ${JSON.stringify(name)}`);
}

/**
 * An empty contact (no addresses).
 *
 * @example
 * ```ts
 * import { emptyContact } from "./gday.ts";
 * if (emptyContact().v4 !== null) throw new Error("Not empty");
 * ```
 */
export function emptyContact(): Contact {
  return { v4: null, v6: null };
}

/**
 * Put an address into the slot of its family, replacing what was there (as gday does).
 *
 * @example
 * ```ts
 * import { emptyContact, withAddr } from "./gday.ts";
 * const contact = withAddr(emptyContact(), { family: "v4", ip: "10.0.0.1", port: 5 });
 * if (contact.v4?.port !== 5 || contact.v6 !== null) throw new Error("Bad slot");
 * ```
 */
export function withAddr(contact: Contact, addr: SocketAddr): Contact {
  return addr.family === "v4" ? { ...contact, v4: addr } : { ...contact, v6: addr };
}
