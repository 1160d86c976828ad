/**
 * peerlink's end-to-end encrypted chat records (chat secure format version 1): what two peerlink
 * chat clients started with `--secret CODE` put inside Peer-Punch `DirectMessage` contents, so
 * the datagrams stay valid Peer-Punch messages (spec: peer-punch.md §3.2) while their text is
 * sealed. Pure codecs, no I/O and no keys: the cryptography is in `client/chat_secure.ts`.
 *
 * ## Byte-level format
 *
 * A record travels as the `content` of a `DirectMessage`:
 *
 * ```text
 * content = "peerlink-e2e:" ‖ base64(record)          (RFC 4648 §4 alphabet, with padding)
 * record  = version (0x01) ‖ kind ‖ body
 * ```
 *
 * | kind | name | body | record bytes |
 * | --- | --- | --- | --- |
 * | `0x01` | HELLO | the SPAKE2 symmetric message: `0x53 ‖ compress(X)` (33 bytes) | 35 |
 * | `0x02` | CONFIRM | `HMAC-SHA256(key_confirm_own, T)` (32 bytes) | 34 |
 * | `0x03` | SEALED | `u64 counter ‖ chunk` (below) | 30 + inner |
 *
 * `chunk` is one chunk of peerlink's native cipher (`secure/cipher_stream.ts`):
 * `u32 header (len(body), FINAL bit never set) ‖ ChaCha20-Poly1305(key, nonce, inner, aad =
 * header)`, with `nonce = 00 00 00 00 ‖ u64 counter`. The counter is carried in the clear
 * because datagrams can be lost and reordered; it starts at 0 in each direction, grows by one
 * per SEALED record and never exceeds 2^53 − 1. A receiver opens a record only with the key of
 * the peer's direction and accepts each counter once (a sliding window of
 * {@linkcode CHAT_REPLAY_WINDOW} counters), so reflected, replayed and forged records are
 * dropped.
 *
 * `inner` (the plaintext) is `type ‖ fields`:
 *
 * | type | name | fields |
 * | --- | --- | --- |
 * | `0x01` | TEXT | `u32 id ‖ u16 index ‖ u16 count ‖ UTF-8 text` (part `index` of `count` of message `id`) |
 * | `0x02` | PING | none |
 * | `0x03` | PONG | `u64 counter` of the PING it answers |
 * | `0x04` | GOODBYE | none |
 *
 * Integers are big-endian. A TEXT part carries at most {@linkcode MAX_CHAT_SECURE_TEXT_BYTES}
 * bytes, cut on a UTF-8 character boundary, so every content fits Peer-Punch's 992-byte
 * content limit ({@linkcode MAX_PEER_PUNCH_CONTENT_BYTES}).
 *
 * The key schedule (password, SPAKE2, transcript `T`, roles, per-direction keys) is peerlink's
 * native one (`secure/handshake.ts` steps 1 and 3–7) with `hello` = the whole 35-byte HELLO
 * record and `context` = {@linkcode chatSecureContext} of the two usernames.
 *
 * @example A record round trip
 * ```ts
 * import { decodeChatSecureContent, encodeChatSecureContent } from "./chat_secure.ts";
 * const content = encodeChatSecureContent({ kind: "confirm", mac: new Uint8Array(32) });
 * if (!content.startsWith("peerlink-e2e:AQIA")) throw new Error(content);
 * const record = decodeChatSecureContent(content);
 * if (record?.kind !== "confirm") throw new Error("No round trip");
 * ```
 *
 * @module
 */

import { MAX_PEER_PUNCH_CONTENT_BYTES } from "./peer_punch.ts";
import { compareBytes } from "../bytes/mod.ts";

/** The text every encrypted chat record's content starts with. */
export const CHAT_SECURE_PREFIX = "peerlink-e2e:";

/** The chat secure format version (the first record byte). */
export const CHAT_SECURE_VERSION = 1;

/** Bytes in a SPAKE2 symmetric message (`0x53 ‖ compress(X)`), the body of a HELLO. */
export const CHAT_SECURE_SPAKE_BYTES = 33;

/** Bytes in a HELLO record. */
export const CHAT_SECURE_HELLO_BYTES: number = 2 + CHAT_SECURE_SPAKE_BYTES;

/** Bytes in a key confirmation MAC, the body of a CONFIRM. */
export const CHAT_SECURE_MAC_BYTES = 32;

/** Bytes a SEALED record adds to its plaintext: version, kind, counter, chunk header, tag. */
export const CHAT_SECURE_SEALED_OVERHEAD: number = 2 + 8 + 4 + 16;

/**
 * The largest record whose content fits a Peer-Punch `DirectMessage`: the prefix plus base64
 * must stay within {@linkcode MAX_PEER_PUNCH_CONTENT_BYTES} (992) bytes.
 */
export const MAX_CHAT_SECURE_RECORD_BYTES: number =
  Math.floor((MAX_PEER_PUNCH_CONTENT_BYTES - CHAT_SECURE_PREFIX.length) / 4) * 3;

/** Bytes of a TEXT part's header: type, id, index, count. */
export const CHAT_SECURE_TEXT_HEADER_BYTES: number = 1 + 4 + 2 + 2;

/** The most UTF-8 bytes one TEXT part carries. */
export const MAX_CHAT_SECURE_TEXT_BYTES: number = MAX_CHAT_SECURE_RECORD_BYTES -
  CHAT_SECURE_SEALED_OVERHEAD - CHAT_SECURE_TEXT_HEADER_BYTES;

/** The highest SEALED counter (the largest safe integer, as the native cipher). */
export const MAX_CHAT_SECURE_COUNTER: number = Number.MAX_SAFE_INTEGER;

/** How many counters below the highest one seen a receiver still accepts (once each). */
export const CHAT_REPLAY_WINDOW = 1024;

/** A HELLO: one side's SPAKE2 message. */
export interface ChatSecureHello {
  /** Discriminant. */
  kind: "hello";
  /** The 33-byte SPAKE2 symmetric message. */
  spake: Uint8Array;
}

/** A CONFIRM: proof that the sender derived the same keys. */
export interface ChatSecureConfirm {
  /** Discriminant. */
  kind: "confirm";
  /** The 32-byte HMAC. */
  mac: Uint8Array;
}

/** A SEALED record: an encrypted, authenticated inner message. */
export interface ChatSecureSealed {
  /** Discriminant. */
  kind: "sealed";
  /** The sender's record counter (the nonce). */
  counter: number;
  /** The native cipher chunk: header, ciphertext and tag. */
  chunk: Uint8Array;
}

/** One encrypted-chat record. */
export type ChatSecureRecord = ChatSecureHello | ChatSecureConfirm | ChatSecureSealed;

/** TEXT: one part of a chat message. */
export interface ChatSecureText {
  /** Discriminant. */
  type: "text";
  /** The message number (per direction, wraps at 2^32). */
  id: number;
  /** This part's index, from 0. */
  index: number;
  /** How many parts the message has (1 to 65535). */
  count: number;
  /** This part's UTF-8 bytes. */
  text: Uint8Array;
}

/** PING: are you there? */
export interface ChatSecurePing {
  /** Discriminant. */
  type: "ping";
}

/** PONG: the answer to the PING with record counter `counter`. */
export interface ChatSecurePong {
  /** Discriminant. */
  type: "pong";
  /** The counter of the SEALED record that carried the PING. */
  counter: number;
}

/** GOODBYE: the sender ends the chat. */
export interface ChatSecureGoodbye {
  /** Discriminant. */
  type: "goodbye";
}

/** The plaintext of a SEALED record. */
export type ChatSecureInner =
  | ChatSecureText
  | ChatSecurePing
  | ChatSecurePong
  | ChatSecureGoodbye;

/** An encrypted-chat record or inner message is malformed. */
export class ChatSecureError extends Error {
  /**
   * Make the error.
   *
   * @example
   * ```ts
   * import { ChatSecureError } from "./chat_secure.ts";
   * if (new ChatSecureError("Bad").name !== "ChatSecureError") throw new Error("Bad name");
   * ```
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ChatSecureError";
  }
}

const KIND = { hello: 0x01, confirm: 0x02, sealed: 0x03 } as const;
const INNER = { text: 0x01, ping: 0x02, pong: 0x03, goodbye: 0x04 } as const;

function checkCounter(counter: number, what: string): void {
  if (!Number.isInteger(counter) || counter < 0 || counter > MAX_CHAT_SECURE_COUNTER) {
    throw new ChatSecureError(`${what} is ${counter}, it must be an integer from 0 to 2^53 - 1`);
  }
}

function writeU64(view: DataView, offset: number, value: number): void {
  view.setUint32(offset, Math.floor(value / 2 ** 32), false);
  view.setUint32(offset + 4, value >>> 0, false);
}

function readU64(view: DataView, offset: number, what: string): number {
  const high = view.getUint32(offset, false);
  const value = high * 2 ** 32 + view.getUint32(offset + 4, false);
  if (high >= 2 ** 21) throw new ChatSecureError(`${what} is above 2^53 - 1`);
  return value;
}

/**
 * Encode a record as bytes (`version ‖ kind ‖ body`).
 *
 * @throws {ChatSecureError} for a body of the wrong size, a counter out of range, or a record
 * above {@linkcode MAX_CHAT_SECURE_RECORD_BYTES}.
 *
 * @example
 * ```ts
 * import { encodeChatSecureRecord } from "./chat_secure.ts";
 * const bytes = encodeChatSecureRecord({ kind: "sealed", counter: 258, chunk: new Uint8Array(20) });
 * if (bytes.subarray(0, 10).toHex() !== "01030000000000000102") throw new Error(bytes.toHex());
 * ```
 */
export function encodeChatSecureRecord(record: ChatSecureRecord): Uint8Array {
  let out: Uint8Array;
  switch (record.kind) {
    case "hello":
      if (record.spake.length !== CHAT_SECURE_SPAKE_BYTES) {
        throw new ChatSecureError(
          `A HELLO carries ${CHAT_SECURE_SPAKE_BYTES} bytes, not ${record.spake.length}`,
        );
      }
      out = new Uint8Array(CHAT_SECURE_HELLO_BYTES);
      out.set(record.spake, 2);
      break;
    case "confirm":
      if (record.mac.length !== CHAT_SECURE_MAC_BYTES) {
        throw new ChatSecureError(
          `A CONFIRM carries ${CHAT_SECURE_MAC_BYTES} bytes, not ${record.mac.length}`,
        );
      }
      out = new Uint8Array(2 + CHAT_SECURE_MAC_BYTES);
      out.set(record.mac, 2);
      break;
    case "sealed": {
      checkCounter(record.counter, "A SEALED counter");
      if (record.chunk.length < 4 + 16) {
        throw new ChatSecureError(
          `A SEALED chunk is at least 20 bytes, not ${record.chunk.length}`,
        );
      }
      out = new Uint8Array(10 + record.chunk.length);
      writeU64(new DataView(out.buffer), 2, record.counter);
      out.set(record.chunk, 10);
      break;
    }
    default:
      throw new ChatSecureError(
        `Unknown record kind ${JSON.stringify((record as { kind: unknown }).kind)}`,
      );
  }
  if (out.length > MAX_CHAT_SECURE_RECORD_BYTES) {
    throw new ChatSecureError(
      `The record is ${out.length} bytes, at most ${MAX_CHAT_SECURE_RECORD_BYTES} fit a datagram`,
    );
  }
  out[0] = CHAT_SECURE_VERSION;
  out[1] = KIND[record.kind];
  return out;
}

/**
 * Decode a record's bytes.
 *
 * @throws {ChatSecureError} for another version, an unknown kind or a wrong length.
 *
 * @example
 * ```ts
 * import { decodeChatSecureRecord } from "./chat_secure.ts";
 * const record = decodeChatSecureRecord(new Uint8Array([1, 2, ...new Uint8Array(32)]));
 * if (record.kind !== "confirm" || record.mac.length !== 32) throw new Error("Bad decode");
 * ```
 */
export function decodeChatSecureRecord(bytes: Uint8Array): ChatSecureRecord {
  if (bytes.length < 2) throw new ChatSecureError("A record has at least 2 bytes");
  if (bytes.length > MAX_CHAT_SECURE_RECORD_BYTES) {
    throw new ChatSecureError(`A record has at most ${MAX_CHAT_SECURE_RECORD_BYTES} bytes`);
  }
  if (bytes[0] !== CHAT_SECURE_VERSION) {
    throw new ChatSecureError(
      `Chat secure format version ${bytes[0]}, this peerlink speaks ${CHAT_SECURE_VERSION}; ` +
        "run the same peerlink version on both sides",
    );
  }
  const body = bytes.slice(2);
  switch (bytes[1]) {
    case KIND.hello:
      if (body.length !== CHAT_SECURE_SPAKE_BYTES) {
        throw new ChatSecureError(`A HELLO record has ${CHAT_SECURE_HELLO_BYTES} bytes`);
      }
      return { kind: "hello", spake: body };
    case KIND.confirm:
      if (body.length !== CHAT_SECURE_MAC_BYTES) {
        throw new ChatSecureError(`A CONFIRM record has ${2 + CHAT_SECURE_MAC_BYTES} bytes`);
      }
      return { kind: "confirm", mac: body };
    case KIND.sealed: {
      if (body.length < 8 + 4 + 16) {
        throw new ChatSecureError("A SEALED record has at least 30 bytes");
      }
      const counter = readU64(new DataView(body.buffer), 0, "A SEALED counter");
      return { kind: "sealed", counter, chunk: body.slice(8) };
    }
    default:
      throw new ChatSecureError(`Unknown record kind ${bytes[1]}`);
  }
}

/**
 * Is `content` an encrypted-chat record (does it start with {@linkcode CHAT_SECURE_PREFIX})?
 *
 * @example
 * ```ts
 * import { isChatSecureContent } from "./chat_secure.ts";
 * if (!isChatSecureContent("peerlink-e2e:AQ==") || isChatSecureContent("hello")) throw new Error("Wrong");
 * ```
 */
export function isChatSecureContent(content: string): boolean {
  return content.startsWith(CHAT_SECURE_PREFIX);
}

/**
 * Encode a record as a `DirectMessage` content: the prefix and the record in base64.
 *
 * @throws {ChatSecureError} as {@linkcode encodeChatSecureRecord}.
 *
 * @example
 * ```ts
 * import { encodeChatSecureContent } from "./chat_secure.ts";
 * const content = encodeChatSecureContent({ kind: "hello", spake: new Uint8Array(33).fill(0x53) });
 * if (content !== "peerlink-e2e:AQFTU1NTU1NTU1NTU1NTU1NTU1NTU1NTU1NTU1NTU1NTU1M=") throw new Error(content);
 * ```
 */
export function encodeChatSecureContent(record: ChatSecureRecord): string {
  return CHAT_SECURE_PREFIX + encodeChatSecureRecord(record).toBase64();
}

/**
 * Decode a `DirectMessage` content: `null` when it is not an encrypted-chat record (no
 * prefix), else the record.
 *
 * @throws {ChatSecureError} when it has the prefix but is not canonical base64 of a valid
 * record.
 *
 * @example
 * ```ts
 * import { decodeChatSecureContent } from "./chat_secure.ts";
 * if (decodeChatSecureContent("Punch!") !== null) throw new Error("Plain text taken for a record");
 * let failed = false;
 * try { decodeChatSecureContent("peerlink-e2e:not base64!"); } catch { failed = true; }
 * if (!failed) throw new Error("Garbage accepted");
 * ```
 */
export function decodeChatSecureContent(content: string): ChatSecureRecord | null {
  if (!isChatSecureContent(content)) return null;
  const text = content.slice(CHAT_SECURE_PREFIX.length);
  let bytes: Uint8Array;
  try {
    bytes = Uint8Array.fromBase64(text, { lastChunkHandling: "strict" });
  } catch (cause) {
    throw new ChatSecureError("An encrypted chat record is not valid base64", { cause });
  }
  // fromBase64 skips whitespace: only the canonical text is accepted.
  if (bytes.toBase64() !== text) {
    throw new ChatSecureError("An encrypted chat record is not canonical base64");
  }
  return decodeChatSecureRecord(bytes);
}

/**
 * Encode an inner message (a SEALED record's plaintext).
 *
 * @throws {ChatSecureError} for fields out of range or a TEXT part above
 * {@linkcode MAX_CHAT_SECURE_TEXT_BYTES}.
 *
 * @example
 * ```ts
 * import { encodeChatSecureInner } from "./chat_secure.ts";
 * const bytes = encodeChatSecureInner({ type: "text", id: 1, index: 0, count: 1, text: new TextEncoder().encode("hi") });
 * if (bytes.toHex() !== "0100000001000000016869") throw new Error(bytes.toHex());
 * ```
 */
export function encodeChatSecureInner(inner: ChatSecureInner): Uint8Array {
  switch (inner.type) {
    case "text": {
      const { id, index, count, text } = inner;
      if (!Number.isInteger(id) || id < 0 || id > 0xffff_ffff) {
        throw new ChatSecureError(`TEXT id is ${id}, it must be a u32`);
      }
      if (!Number.isInteger(count) || count < 1 || count > 0xffff) {
        throw new ChatSecureError(`TEXT count is ${count}, it must be from 1 to 65535`);
      }
      if (!Number.isInteger(index) || index < 0 || index >= count) {
        throw new ChatSecureError(`TEXT index is ${index}, it must be below count ${count}`);
      }
      if (text.length > MAX_CHAT_SECURE_TEXT_BYTES) {
        throw new ChatSecureError(
          `A TEXT part is ${text.length} bytes, at most ${MAX_CHAT_SECURE_TEXT_BYTES} fit`,
        );
      }
      const out = new Uint8Array(CHAT_SECURE_TEXT_HEADER_BYTES + text.length);
      const view = new DataView(out.buffer);
      out[0] = INNER.text;
      view.setUint32(1, id, false);
      view.setUint16(5, index, false);
      view.setUint16(7, count, false);
      out.set(text, CHAT_SECURE_TEXT_HEADER_BYTES);
      return out;
    }
    case "ping":
      return new Uint8Array([INNER.ping]);
    case "pong": {
      checkCounter(inner.counter, "A PONG counter");
      const out = new Uint8Array(9);
      out[0] = INNER.pong;
      writeU64(new DataView(out.buffer), 1, inner.counter);
      return out;
    }
    case "goodbye":
      return new Uint8Array([INNER.goodbye]);
    default:
      throw new ChatSecureError(
        `Unknown inner type ${JSON.stringify((inner as { type: unknown }).type)}`,
      );
  }
}

/**
 * Decode an inner message.
 *
 * @throws {ChatSecureError} for an unknown type, a wrong length or fields out of range.
 *
 * @example
 * ```ts
 * import { decodeChatSecureInner } from "./chat_secure.ts";
 * const inner = decodeChatSecureInner(Uint8Array.fromHex("030000000000000007"));
 * if (inner.type !== "pong" || inner.counter !== 7) throw new Error("Bad decode");
 * ```
 */
export function decodeChatSecureInner(bytes: Uint8Array): ChatSecureInner {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  switch (bytes[0]) {
    case INNER.text: {
      if (bytes.length < CHAT_SECURE_TEXT_HEADER_BYTES) {
        throw new ChatSecureError("A TEXT message is shorter than its header");
      }
      const id = view.getUint32(1, false);
      const index = view.getUint16(5, false);
      const count = view.getUint16(7, false);
      if (count === 0 || index >= count) {
        throw new ChatSecureError(`TEXT part ${index} of ${count} is impossible`);
      }
      if (bytes.length - CHAT_SECURE_TEXT_HEADER_BYTES > MAX_CHAT_SECURE_TEXT_BYTES) {
        throw new ChatSecureError("A TEXT part is too long");
      }
      return { type: "text", id, index, count, text: bytes.slice(CHAT_SECURE_TEXT_HEADER_BYTES) };
    }
    case INNER.ping:
      if (bytes.length !== 1) throw new ChatSecureError("A PING is 1 byte");
      return { type: "ping" };
    case INNER.pong:
      if (bytes.length !== 9) throw new ChatSecureError("A PONG is 9 bytes");
      return { type: "pong", counter: readU64(view, 1, "A PONG counter") };
    case INNER.goodbye:
      if (bytes.length !== 1) throw new ChatSecureError("A GOODBYE is 1 byte");
      return { type: "goodbye" };
    default:
      throw new ChatSecureError(
        bytes.length === 0 ? "An empty inner message" : `Unknown inner type ${bytes[0]}`,
      );
  }
}

const encoder = new TextEncoder();

/**
 * The handshake context that binds a chat's keys to its two usernames (in either order):
 * `"peerlink chat/1" ‖ 0x00 ‖ u16 len(lo) ‖ lo ‖ u16 len(hi) ‖ hi`, where `lo` and `hi` are the
 * two names' UTF-8 bytes in byte order.
 *
 * @throws {ChatSecureError} for a name above 65535 bytes.
 *
 * @example
 * ```ts
 * import { chatSecureContext } from "./chat_secure.ts";
 * const a = chatSecureContext("alice", "bob"), b = chatSecureContext("bob", "alice");
 * if (a.toHex() !== b.toHex()) throw new Error("Order matters");
 * if (new TextDecoder().decode(a.subarray(0, 15)) !== "peerlink chat/1") throw new Error("Bad label");
 * ```
 */
export function chatSecureContext(nameA: string, nameB: string): Uint8Array {
  let [lo, hi] = [encoder.encode(nameA), encoder.encode(nameB)];
  if (compareBytes(lo, hi) > 0) [lo, hi] = [hi, lo];
  if (lo.length > 0xffff || hi.length > 0xffff) {
    throw new ChatSecureError("A username is longer than 65535 bytes");
  }
  const label = encoder.encode("peerlink chat/1");
  const out = new Uint8Array(label.length + 1 + 2 + lo.length + 2 + hi.length);
  const view = new DataView(out.buffer);
  out.set(label, 0);
  let offset = label.length + 1;
  for (const name of [lo, hi]) {
    view.setUint16(offset, name.length, false);
    out.set(name, offset + 2);
    offset += 2 + name.length;
  }
  return out;
}
