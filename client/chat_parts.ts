/**
 * Chat lines longer than one datagram: splitting on UTF-8 character boundaries, peerlink's
 * Peer-Punch compatible part marker, and reassembly. Pure: no sockets, no timers (the session
 * calls {@linkcode ChatReassembler.expire}).
 *
 * A Peer-Punch peer reads into a 1024-byte buffer (spec: peer-punch.md §3.1, §3.2 "Size limit"),
 * so one `DirectMessage` carries at most 992 bytes of content, counted after JSON escaping. A
 * longer line is sent as several `DirectMessage`s; when there is more than one, each names its
 * part in an extra field that Peer-Punch's serde decoder ignores (unknown fields are skipped,
 * spec §3.2):
 *
 * ```text
 * {"DirectMessage":{"content":"…","peerlink_part":[id,index,count]}}
 * ```
 *
 * `id` is the sender's message number (a u32 that wraps), `index` counts from 0, and `count` is
 * the number of parts (at most {@linkcode MAX_CHAT_PARTS}). A Peer-Punch peer shows each part
 * as its own line, nothing cut off; a peerlink peer joins the parts back into the exact line. A
 * line that fits one datagram is sent without the field, byte for byte as Peer-Punch sends it.
 *
 * @example Split a long line and join it again
 * ```ts
 * import { ChatReassembler, encodeChatPlainParts, readChatPart } from "./chat_parts.ts";
 * import { decodePeerPunchMessage } from "../protocol/peer_punch.ts";
 * const line = "ü".repeat(1000);
 * const datagrams = encodeChatPlainParts(line, 7);
 * const joiner = new ChatReassembler();
 * let joined: string | null = null;
 * for (const datagram of datagrams) {
 *   if (datagram.length > 1024) throw new Error("Too big for a Peer-Punch peer");
 *   const message = decodePeerPunchMessage(datagram);
 *   if (message.type !== "DirectMessage") throw new Error("Not a DirectMessage");
 *   joined = joiner.add(readChatPart(datagram)!, message.content, 0) ?? joined;
 * }
 * if (datagrams.length !== 3 || joined !== line) throw new Error("Not reassembled");
 * ```
 *
 * @module
 */

import { encodePeerPunchMessage, MAX_PEER_PUNCH_DATAGRAM_BYTES } from "../protocol/peer_punch.ts";

/** The longest chat message, in UTF-8 bytes (a terminal line is at most 4 KiB anyway). */
export const MAX_CHAT_TEXT_BYTES = 16_384;

/**
 * The most parts one message may have: enough for {@linkcode MAX_CHAT_TEXT_BYTES} of control
 * characters, each escaped to 6 bytes.
 */
export const MAX_CHAT_PARTS = 128;

/** The extra `DirectMessage` field that marks a part. */
export const CHAT_PART_FIELD = "peerlink_part";

/** Messages being reassembled at once; starting one more gives up on the oldest. */
export const MAX_PENDING_CHAT_MESSAGES = 16;

/** What marks a lost part in a message delivered incomplete. */
export const CHAT_LOST_PART_MARK = "[…]";

/** Which part of which message a datagram carries. */
export interface ChatPart {
  /** The sender's message number. */
  id: number;
  /** This part's index, from 0. */
  index: number;
  /** How many parts the message has. */
  count: number;
}

/**
 * Split `text` into pieces whose `cost` adds up to at most `max` each, cutting only between
 * code points (so between UTF-8 characters). Empty text is one empty piece.
 *
 * @throws {RangeError} when one code point costs more than `max`.
 *
 * @example
 * ```ts
 * import { splitChatText, chatUtf8Cost } from "./chat_parts.ts";
 * const pieces = splitChatText("aé€😀", 4, chatUtf8Cost);
 * if (pieces.join("|") !== "aé|€|😀") throw new Error(pieces.join("|"));
 * ```
 */
export function splitChatText(
  text: string,
  max: number,
  cost: (codePoint: string) => number,
): string[] {
  const pieces: string[] = [];
  let current = "";
  let used = 0;
  for (const codePoint of text) {
    const size = cost(codePoint);
    if (size > max) throw new RangeError(`A character costs ${size}, more than ${max}`);
    if (used + size > max) {
      pieces.push(current);
      current = "";
      used = 0;
    }
    current += codePoint;
    used += size;
  }
  pieces.push(current);
  return pieces;
}

/**
 * The UTF-8 bytes of one code point.
 *
 * @example
 * ```ts
 * import { chatUtf8Cost } from "./chat_parts.ts";
 * if (chatUtf8Cost("a") !== 1 || chatUtf8Cost("€") !== 3 || chatUtf8Cost("😀") !== 4) throw new Error("Wrong");
 * ```
 */
export function chatUtf8Cost(codePoint: string): number {
  const cp = codePoint.codePointAt(0)!;
  return cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
}

/**
 * The bytes one code point takes inside a JSON string as serde_json (and `JSON.stringify`)
 * writes it: `"` and `\` take 2, control characters 2 or 6, everything else its UTF-8 bytes.
 *
 * @example
 * ```ts
 * import { chatJsonCost } from "./chat_parts.ts";
 * if (chatJsonCost('"') !== 2 || chatJsonCost("\u0001") !== 6 || chatJsonCost("€") !== 3) throw new Error("Wrong");
 * ```
 */
export function chatJsonCost(codePoint: string): number {
  const cp = codePoint.codePointAt(0)!;
  if (cp < 0x80) return JSON.stringify(codePoint).length - 2;
  return chatUtf8Cost(codePoint);
}

const encoder = new TextEncoder();

/**
 * Check that `text` can be sent as one chat message.
 *
 * @throws {TypeError} when it is not a string or has a lone surrogate (not valid UTF-8).
 * @throws {RangeError} when it is longer than {@linkcode MAX_CHAT_TEXT_BYTES} in UTF-8.
 *
 * @example
 * ```ts
 * import { checkChatText } from "./chat_parts.ts";
 * checkChatText("fine");
 * let failed = false;
 * try { checkChatText("x".repeat(20_000)); } catch { failed = true; }
 * if (!failed) throw new Error("Too long accepted");
 * ```
 */
export function checkChatText(text: string): void {
  if (typeof text !== "string") throw new TypeError("A chat message must be a string");
  if (!text.isWellFormed()) {
    throw new TypeError("A chat message must be valid Unicode (it has a lone surrogate)");
  }
  const bytes = encoder.encode(text).length;
  if (bytes > MAX_CHAT_TEXT_BYTES) {
    throw new RangeError(
      `A chat message is at most ${MAX_CHAT_TEXT_BYTES} bytes of UTF-8, this one is ${bytes}`,
    );
  }
}

/**
 * The Peer-Punch datagrams that carry `text` as message number `id`: one plain
 * `DirectMessage` when it fits, else parts marked with {@linkcode CHAT_PART_FIELD}, each at most
 * 1024 bytes.
 *
 * @throws as {@linkcode checkChatText}.
 *
 * @example
 * ```ts
 * import { encodeChatPlainParts } from "./chat_parts.ts";
 * const [one] = encodeChatPlainParts("hi", 0);
 * if (new TextDecoder().decode(one) !== '{"DirectMessage":{"content":"hi"}}') throw new Error("Not Peer-Punch");
 * ```
 */
export function encodeChatPlainParts(text: string, id: number): Uint8Array[] {
  checkChatText(text);
  if (!Number.isInteger(id) || id < 0 || id > 0xffff_ffff) {
    throw new RangeError(`Message id is ${id}, it must be a u32`);
  }
  const whole = encoder.encode(`{"DirectMessage":{"content":${JSON.stringify(text)}}}`);
  if (whole.length <= MAX_PEER_PUNCH_DATAGRAM_BYTES) {
    return [encodePeerPunchMessage({ type: "DirectMessage", content: text })];
  }
  // The wrapper with the widest index and count this message can have.
  const widest = `,"${CHAT_PART_FIELD}":[${id},${MAX_CHAT_PARTS - 1},${MAX_CHAT_PARTS}]`;
  const budget = MAX_PEER_PUNCH_DATAGRAM_BYTES - `{"DirectMessage":{"content":""}}`.length -
    widest.length;
  const pieces = splitChatText(text, budget, chatJsonCost);
  if (pieces.length > MAX_CHAT_PARTS) {
    throw new RangeError(`A chat message needs ${pieces.length} parts, at most ${MAX_CHAT_PARTS}`);
  }
  return pieces.map((piece, index) =>
    encoder.encode(
      `{"DirectMessage":{"content":${
        JSON.stringify(piece)
      },"${CHAT_PART_FIELD}":[${id},${index},${pieces.length}]}}`,
    )
  );
}

function isIndex(value: unknown, below: number): value is number {
  return typeof value === "number" && Number.isInteger(value) && value >= 0 && value < below;
}

const decoder = new TextDecoder();

/**
 * The part marker of a `DirectMessage` datagram (one that already decoded as a Peer-Punch
 * message), or `null` when it has none or an invalid one (then it is a whole message).
 *
 * @example
 * ```ts
 * import { readChatPart } from "./chat_parts.ts";
 * const datagram = new TextEncoder().encode('{"DirectMessage":{"content":"a","peerlink_part":[5,1,2]}}');
 * const part = readChatPart(datagram);
 * if (part?.id !== 5 || part.index !== 1 || part.count !== 2) throw new Error("Bad part");
 * if (readChatPart(new TextEncoder().encode('{"DirectMessage":{"content":"a"}}')) !== null) throw new Error("Not a part");
 * ```
 */
export function readChatPart(datagram: Uint8Array): ChatPart | null {
  const text = decoder.decode(datagram);
  if (!text.includes(CHAT_PART_FIELD)) return null;
  let value: unknown;
  try {
    value = (JSON.parse(text) as { DirectMessage?: Record<string, unknown> }).DirectMessage
      ?.[CHAT_PART_FIELD];
  } catch {
    return null;
  }
  if (!Array.isArray(value) || value.length !== 3) return null;
  const [id, index, count] = value;
  if (!isIndex(id, 2 ** 32) || !isIndex(count, MAX_CHAT_PARTS + 1) || count === 0) return null;
  if (!isIndex(index, count)) return null;
  return { id, index, count };
}

interface Pending {
  count: number;
  pieces: (string | undefined)[];
  received: number;
  started: number;
}

/**
 * Joins the parts of chat messages back together, in any order, each message once.
 *
 * @example Parts out of order
 * ```ts
 * import { ChatReassembler } from "./chat_parts.ts";
 * const joiner = new ChatReassembler();
 * if (joiner.add({ id: 1, index: 1, count: 2 }, "world", 0) !== null) throw new Error("Too early");
 * if (joiner.add({ id: 1, index: 0, count: 2 }, "hello ", 0) !== "hello world") throw new Error("Not joined");
 * ```
 */
export class ChatReassembler {
  #pending = new Map<number, Pending>();
  #recent: number[] = [];

  /**
   * Add a part; returns the whole message when this part completes it, else `null`. A part of
   * a message already delivered (a duplicate datagram), or of more than
   * {@linkcode MAX_CHAT_PARTS}, is ignored. Call {@linkcode ChatReassembler.expire} after each
   * add, so at most {@linkcode MAX_PENDING_CHAT_MESSAGES} messages stay pending.
   *
   * @example
   * ```ts
   * import { ChatReassembler } from "./chat_parts.ts";
   * const joiner = new ChatReassembler();
   * if (joiner.add({ id: 9, index: 0, count: 1 }, "x", 0) !== "x") throw new Error("Not delivered");
   * if (joiner.add({ id: 9, index: 0, count: 1 }, "x", 0) !== null) throw new Error("Delivered twice");
   * ```
   */
  add(part: ChatPart, piece: string, now: number): string | null {
    const { id, index, count } = part;
    if (!(count >= 1 && count <= MAX_CHAT_PARTS && index >= 0 && index < count)) return null;
    if (this.#recent.includes(id)) return null;
    let pending = this.#pending.get(id);
    if (pending !== undefined && pending.count !== count) return null; // inconsistent: ignore
    if (pending === undefined) {
      if (count === 1) {
        this.#remember(id);
        return piece;
      }
      pending = { count, pieces: new Array(count), received: 0, started: now };
      this.#pending.set(id, pending);
    }
    if (pending.pieces[index] !== undefined) return null;
    pending.pieces[index] = piece;
    pending.received++;
    if (pending.received < count) return null;
    this.#pending.delete(id);
    this.#remember(id);
    return pending.pieces.join("");
  }

  /**
   * Messages still missing parts.
   *
   * @example
   * ```ts
   * import { ChatReassembler } from "./chat_parts.ts";
   * const joiner = new ChatReassembler();
   * joiner.add({ id: 1, index: 0, count: 3 }, "a", 0);
   * if (joiner.pending !== 1) throw new Error("Not pending");
   * ```
   */
  get pending(): number {
    return this.#pending.size;
  }

  /**
   * Give up on messages started `maxAgeMs` or longer before `now`, and on the oldest ones
   * beyond {@linkcode MAX_PENDING_CHAT_MESSAGES}: returns them with each lost part shown as
   * {@linkcode CHAT_LOST_PART_MARK}, oldest first.
   *
   * @example
   * ```ts
   * import { ChatReassembler } from "./chat_parts.ts";
   * const joiner = new ChatReassembler();
   * joiner.add({ id: 1, index: 0, count: 2 }, "half", 0);
   * const given = joiner.expire(10_000, 5_000);
   * if (given[0] !== "half[…]" || joiner.pending !== 0) throw new Error(given.join());
   * ```
   */
  expire(now: number, maxAgeMs: number): string[] {
    const out: string[] = [];
    for (const [id, pending] of this.#pending) {
      const over = this.#pending.size > MAX_PENDING_CHAT_MESSAGES;
      if (!over && now - pending.started < maxAgeMs) continue;
      this.#pending.delete(id);
      this.#remember(id);
      out.push(Array.from(pending.pieces, (p) => p ?? CHAT_LOST_PART_MARK).join(""));
    }
    return out;
  }

  /**
   * When the oldest pending message should be given up, or `null` when none is pending.
   *
   * @example
   * ```ts
   * import { ChatReassembler } from "./chat_parts.ts";
   * const joiner = new ChatReassembler();
   * joiner.add({ id: 1, index: 0, count: 2 }, "a", 100);
   * if (joiner.nextExpiry(50) !== 150) throw new Error("Wrong time");
   * ```
   */
  nextExpiry(maxAgeMs: number): number | null {
    let next: number | null = null;
    for (const pending of this.#pending.values()) {
      const at = pending.started + maxAgeMs;
      if (next === null || at < next) next = at;
    }
    return next;
  }

  #remember(id: number): void {
    this.#recent.push(id);
    if (this.#recent.length > 64) this.#recent.shift();
  }
}
