/**
 * The control messages of peerlink's native file-transfer protocol, version 1, as a pure codec.
 * The whole protocol (message order, data, closing) is specified in `./mod.ts`.
 *
 * Every message is a frame: a 4-byte big-endian length, then that many bytes of UTF-8 JSON
 * holding one object with a `"type"`. Encoders write keys in the order shown, with no spaces,
 * and leave out absent optional fields, so the bytes are deterministic. Decoders ignore unknown
 * keys (for later versions), refuse everything else that is not exactly as below, and never
 * allocate more than the frame cap.
 *
 * ```text
 * offer    {"type":"offer","version":1,"files":[{"path":P,"size":"N","sha256":H,"mode":M,"mtime":T},...]}
 * response {"type":"response","files":[{"action":"send","offset":"K"} | {"action":"skip"} | {"action":"have"},...]}
 * reject   {"type":"reject","reason":R,"message":S}
 * done     {"type":"done"}
 * error    {"type":"error","reason":R,"message":S}
 * ```
 *
 * - `P` is a relative path with `/` separators that passes `sanitizePath`; the paths of one
 *   offer pass `checkPathSet` (no duplicates, no file that is also a folder).
 * - `N` and `K` are u64 values as decimal strings (exact beyond 2^53; JSON numbers are not),
 *   decoded as `bigint`, with `K ≤ N` checked by the sender.
 * - `H` is the file's SHA-256 as 64 lower-case hex digits.
 * - `M` (optional) is the file's permission bits, an integer from 0 to 0o7777; `T` (optional)
 *   its modification time in whole milliseconds since the Unix epoch.
 * - `R` is a short reason code (at most 64 characters; see `TransferFailureReason`), `S` a
 *   message for people (at most 1024 characters; control characters are replaced with U+FFFD
 *   when decoding, since it gets printed).
 * - An offer of another `version` decodes with `files: []` (its files are not interpreted):
 *   check `version` and answer `reject` with reason `version`.
 *
 * @example Round trip a response
 * ```ts
 * import { decodeTransferMessage, encodeTransferMessage } from "./messages.ts";
 * const bytes = encodeTransferMessage({ type: "response", files: [{ action: "send", offset: 5n }] });
 * const [message, next] = decodeTransferMessage(bytes);
 * if (message.type !== "response" || next !== bytes.length) throw new Error("Bad round trip");
 * ```
 *
 * @module
 */

import { FrameTooLargeError } from "../framing/errors.ts";
import { encodeFrame, LENGTH_PREFIX_BYTES } from "../framing/length_prefixed.ts";
import { TransferProtocolError } from "./errors.ts";
import { checkPathSet, sanitizePath } from "./path.ts";

/** The native transfer protocol version this module speaks. */
export const TRANSFER_PROTOCOL_VERSION = 1;

/**
 * The largest offer or response accepted: 32 MiB, room for {@linkcode MAX_TRANSFER_FILES}
 * files with long paths.
 */
export const MAX_CONTROL_BYTES: number = 32 * 1024 * 1024;

/** The largest message accepted after the data (`done` or `error`): 64 KiB. */
export const MAX_FINAL_BYTES: number = 64 * 1024;

/** The most files one offer may list. */
export const MAX_TRANSFER_FILES = 100_000;

/** The longest `reason` accepted, in characters. */
export const MAX_REASON_CHARS = 64;

/** The longest `message` accepted, in characters. */
export const MAX_MESSAGE_CHARS = 1024;

/** One file in an offer. */
export interface OfferedFile {
  /** Relative `/`-separated path. */
  path: string;
  /** Size in bytes (u64). */
  size: bigint;
  /** SHA-256 of the whole file, 64 lower-case hex digits. */
  sha256: string;
  /** Permission bits (0 to 0o7777), if the sender shares them. */
  mode?: number;
  /** Modification time in ms since the Unix epoch, if the sender shares it. */
  mtime?: number;
}

/** The sender's offer. */
export interface OfferMessage {
  /** Message type. */
  type: "offer";
  /** Protocol version ({@linkcode TRANSFER_PROTOCOL_VERSION}). */
  version: number;
  /** The files, in the order their bytes will follow. */
  files: OfferedFile[];
}

/** The receiver's answer for one offered file. */
export type FileAnswer =
  | {
    /** Send bytes `[offset, size)`: 0 for all of it, more to resume. */
    action: "send";
    /** The first byte wanted (u64). */
    offset: bigint;
  }
  | {
    /** Do not send this file. */
    action: "skip";
  }
  | {
    /** The receiver already has this exact file (same SHA-256): nothing to send. */
    action: "have";
  };

/** The receiver's answer to an offer: one entry per offered file, in offer order. */
export interface ResponseMessage {
  /** Message type. */
  type: "response";
  /** Per-file answers. */
  files: FileAnswer[];
}

/** The receiver refuses the whole transfer (instead of a response). */
export interface RejectMessage {
  /** Message type. */
  type: "reject";
  /** Reason code, e.g. `"conflict"`. */
  reason: string;
  /** Explanation for people. */
  message: string;
}

/** The receiver verified and saved every accepted file. */
export interface DoneMessage {
  /** Message type. */
  type: "done";
}

/** The receiver failed after the response (e.g. a hash mismatch). */
export interface ErrorMessage {
  /** Message type. */
  type: "error";
  /** Reason code, e.g. `"hash-mismatch"`. */
  reason: string;
  /** Explanation for people. */
  message: string;
}

/** Any control message. */
export type TransferMessage =
  | OfferMessage
  | ResponseMessage
  | RejectMessage
  | DoneMessage
  | ErrorMessage;

const U64_MAX = (1n << 64n) - 1n;
const MAX_MTIME = 8.64e15;
const HEX64 = /^[0-9a-f]{64}$/;
const DECIMAL = /^(0|[1-9][0-9]{0,19})$/;
// deno-lint-ignore no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g;

function u64Text(value: bigint, what: string): string {
  if (typeof value !== "bigint" || value < 0n || value > U64_MAX) {
    throw new RangeError(`${what} ${value} is not a u64`);
  }
  return value.toString();
}

function encodeFile(file: OfferedFile): string {
  sanitizePath(file.path);
  if (!HEX64.test(file.sha256)) {
    throw new RangeError(`SHA-256 of ${JSON.stringify(file.path)} is not 64 lower-case hex digits`);
  }
  let text = `{"path":${JSON.stringify(file.path)},"size":"${
    u64Text(file.size, "File size")
  }","sha256":"${file.sha256}"`;
  if (file.mode !== undefined) {
    if (!Number.isInteger(file.mode) || file.mode < 0 || file.mode > 0o7777) {
      throw new RangeError(`File mode ${file.mode} is not an integer from 0 to 0o7777`);
    }
    text += `,"mode":${file.mode}`;
  }
  if (file.mtime !== undefined) {
    if (!Number.isSafeInteger(file.mtime) || Math.abs(file.mtime) > MAX_MTIME) {
      throw new RangeError(`Modification time ${file.mtime} is not a whole number of ms`);
    }
    text += `,"mtime":${file.mtime}`;
  }
  return text + "}";
}

function encodeAnswer(answer: FileAnswer): string {
  if (answer.action === "send") {
    return `{"action":"send","offset":"${u64Text(answer.offset, "Offset")}"}`;
  }
  if (answer.action === "skip" || answer.action === "have") return `{"action":"${answer.action}"}`;
  throw new RangeError(`Unknown answer ${JSON.stringify(answer)}`);
}

function reasonAndMessage(reason: string, message: string): string {
  if (reason.length === 0 || reason.length > MAX_REASON_CHARS) {
    throw new RangeError(`Reason must be 1 to ${MAX_REASON_CHARS} characters`);
  }
  const text = message.length > MAX_MESSAGE_CHARS
    ? message.slice(0, MAX_MESSAGE_CHARS - 1) + "…"
    : message;
  return `"reason":${JSON.stringify(reason)},"message":${JSON.stringify(text)}`;
}

/**
 * Encode a message as one frame (length prefix included). Messages longer than
 * {@linkcode MAX_MESSAGE_CHARS} are cut to fit.
 *
 * @throws {RangeError} when a field is out of range (a path that `sanitizePath` refuses, a size
 *   that is not a u64, a bad hash, mode or time, an empty or long reason).
 *
 * @example The bytes of `done`
 * ```ts
 * import { encodeTransferMessage } from "./messages.ts";
 * const bytes = encodeTransferMessage({ type: "done" });
 * if (bytes.toHex() !== "0000000f7b2274797065223a22646f6e65227d") throw new Error(bytes.toHex());
 * ```
 */
export function encodeTransferMessage(message: TransferMessage): Uint8Array {
  let json: string;
  switch (message.type) {
    case "offer":
      if (message.files.length > MAX_TRANSFER_FILES) {
        throw new RangeError(
          `An offer lists at most ${MAX_TRANSFER_FILES} files (got ${message.files.length})`,
        );
      }
      json = `{"type":"offer","version":${message.version},"files":[${
        message.files.map(encodeFile).join(",")
      }]}`;
      break;
    case "response":
      json = `{"type":"response","files":[${message.files.map(encodeAnswer).join(",")}]}`;
      break;
    case "reject":
    case "error":
      json = `{"type":"${message.type}",${reasonAndMessage(message.reason, message.message)}}`;
      break;
    case "done":
      json = `{"type":"done"}`;
      break;
    default:
      throw new RangeError(
        `Unknown message type ${JSON.stringify((message as { type: unknown }).type)}`,
      );
  }
  const body = new TextEncoder().encode(json);
  if (body.length > MAX_CONTROL_BYTES) {
    throw new RangeError(
      `The ${message.type} is ${body.length} bytes, more than ${MAX_CONTROL_BYTES}; send fewer files at once`,
    );
  }
  return encodeFrame(body);
}

function bad(what: string, options?: ErrorOptions): TransferProtocolError {
  return new TransferProtocolError(
    `The peer sent an invalid transfer message: ${what}; it may run an incompatible version`,
    options,
  );
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function u64(value: unknown, what: string): bigint {
  if (typeof value !== "string" || !DECIMAL.test(value)) throw bad(`${what} is not a u64 string`);
  const n = BigInt(value);
  if (n > U64_MAX) throw bad(`${what} is larger than a u64`);
  return n;
}

function text(value: unknown, max: number, what: string): string {
  if (typeof value !== "string" || value.length > max) {
    throw bad(`${what} is not a string of at most ${max} characters`);
  }
  return value.replace(CONTROL, "\ufffd");
}

function decodeFile(value: unknown, i: number): OfferedFile {
  if (!isObject(value)) throw bad(`offered file ${i} is not an object`);
  if (typeof value.path !== "string") throw bad(`offered file ${i} has no "path" string`);
  const file: OfferedFile = {
    path: sanitizePath(value.path),
    size: u64(value.size, `offered file ${i}'s "size"`),
    sha256: "",
  };
  if (typeof value.sha256 !== "string" || !HEX64.test(value.sha256)) {
    throw bad(`offered file ${i}'s "sha256" is not 64 lower-case hex digits`);
  }
  file.sha256 = value.sha256;
  if (value.mode !== undefined) {
    if (
      !Number.isInteger(value.mode) || (value.mode as number) < 0 || (value.mode as number) > 0o7777
    ) {
      throw bad(`offered file ${i}'s "mode" is not an integer from 0 to 0o7777`);
    }
    file.mode = value.mode as number;
  }
  if (value.mtime !== undefined) {
    if (!Number.isSafeInteger(value.mtime) || Math.abs(value.mtime as number) > MAX_MTIME) {
      throw bad(`offered file ${i}'s "mtime" is not a whole number of milliseconds`);
    }
    file.mtime = value.mtime as number;
  }
  return file;
}

function decodeAnswer(value: unknown, i: number): FileAnswer {
  if (!isObject(value)) throw bad(`answer ${i} is not an object`);
  switch (value.action) {
    case "send":
      return { action: "send", offset: u64(value.offset, `answer ${i}'s "offset"`) };
    case "skip":
    case "have":
      return { action: value.action };
    default:
      throw bad(`answer ${i} has an unknown "action"`);
  }
}

function list(value: unknown, what: string): unknown[] {
  if (!Array.isArray(value)) throw bad(`the ${what} has no "files" list`);
  if (value.length > MAX_TRANSFER_FILES) {
    throw bad(`the ${what} lists ${value.length} files, more than ${MAX_TRANSFER_FILES}`);
  }
  return value;
}

/**
 * Decode one frame starting at `offset`; returns the message and the offset after the frame.
 *
 * @throws {TransferProtocolError} when the frame is truncated, larger than `maxBytes`, not UTF-8
 *   JSON, or not a valid message.
 * @throws {UnsafePathError} when an offered path is unsafe (see `sanitizePath`, `checkPathSet`).
 *
 * @example A size above 2^53 stays exact
 * ```ts
 * import { decodeTransferMessage } from "./messages.ts";
 * import { encodeFrame } from "../framing/length_prefixed.ts";
 * const json = `{"type":"offer","version":1,"files":[{"path":"big.iso","size":"9007199254740993","sha256":"${"0".repeat(64)}"}]}`;
 * const [offer] = decodeTransferMessage(encodeFrame(new TextEncoder().encode(json)));
 * if (offer.type !== "offer" || offer.files[0]?.size !== 9007199254740993n) throw new Error("Lost precision");
 * ```
 */
export function decodeTransferMessage(
  bytes: Uint8Array,
  offset = 0,
  maxBytes: number = MAX_CONTROL_BYTES,
): [TransferMessage, number] {
  if (bytes.length - offset < LENGTH_PREFIX_BYTES) {
    throw bad("the message is truncated (incomplete length prefix)");
  }
  const length = new DataView(bytes.buffer, bytes.byteOffset + offset, LENGTH_PREFIX_BYTES)
    .getUint32(0, false);
  if (length > maxBytes) {
    throw bad(`a message of ${length} bytes exceeds the ${maxBytes} allowed here`, {
      cause: new FrameTooLargeError(length, maxBytes),
    });
  }
  const start = offset + LENGTH_PREFIX_BYTES;
  if (bytes.length - start < length) {
    throw bad(`the message is truncated (${length} bytes expected)`);
  }
  let value: unknown;
  try {
    value = JSON.parse(
      new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(start, start + length)),
    );
  } catch (cause) {
    throw bad("the message is not UTF-8 JSON", { cause });
  }
  return [decodeValue(value), start + length];
}

function decodeValue(value: unknown): TransferMessage {
  if (!isObject(value) || typeof value.type !== "string") throw bad('no "type"');
  switch (value.type) {
    case "offer": {
      if (!Number.isSafeInteger(value.version) || (value.version as number) < 1) {
        throw bad('the offer has no valid "version"');
      }
      const version = value.version as number;
      if (version !== TRANSFER_PROTOCOL_VERSION) return { type: "offer", version, files: [] };
      const files = list(value.files, "offer").map(decodeFile);
      checkPathSet(files.map((f) => f.path));
      return { type: "offer", version, files };
    }
    case "response":
      return { type: "response", files: list(value.files, "response").map(decodeAnswer) };
    case "reject":
    case "error":
      return {
        type: value.type,
        reason: text(value.reason, MAX_REASON_CHARS, `the ${value.type}'s "reason"`),
        message: text(value.message, MAX_MESSAGE_CHARS, `the ${value.type}'s "message"`),
      };
    case "done":
      return { type: "done" };
    default:
      throw bad(`unknown type ${JSON.stringify(value.type.slice(0, 32))}`);
  }
}
