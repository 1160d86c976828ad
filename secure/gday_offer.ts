/**
 * gday 0.1.1's file offer and response messages (gday spec §7), as a pure codec. They travel
 * inside the encrypted stream, each as a 4-byte big-endian length and serde_json text:
 *
 * ```text
 * offer    = {"files":[{"short_path":"<path>","len":<u64>}, ...]}
 * response = {"response":[null | <u64 start offset>, ...]}    (one entry per offered file)
 * ```
 *
 * `null` rejects a file, `0` accepts all of it, `k` resumes from byte `k`. Lengths and offsets
 * are u64 and kept as `bigint`, exact above 2^53. Unknown fields are ignored, as serde does.
 * Encoders produce serde_json's compact text byte for byte; write each encoded message with a
 * single `write()` so it forms one encrypted chunk, as gday's `write_to` + `flush` do.
 *
 * @example Round trip an offer
 * ```ts
 * import { decodeGdayOffer, encodeGdayOffer } from "./gday_offer.ts";
 * const bytes = encodeGdayOffer({ files: [{ shortPath: "msg.txt", len: 5n }] });
 * const [offer, next] = decodeGdayOffer(bytes);
 * if (offer.files[0]?.len !== 5n || next !== bytes.length) throw new Error("Round trip failed");
 * ```
 *
 * @module
 */

import { GdayMessageError } from "./errors.ts";

/** Bytes in the length prefix. */
export const GDAY_MESSAGE_PREFIX_BYTES = 4;

/**
 * The largest message body the decoders accept: 1 MiB. gday 0.1.1 has no limit; peerlink never
 * allocates what an unchecked length claims.
 */
export const MAX_GDAY_OFFER_BYTES = 1024 * 1024;

/** One offered file. */
export interface GdayFileMeta {
  /** The path relative to the shared folder, `/`-separated. */
  shortPath: string;
  /** The file's size in bytes (u64). */
  len: bigint;
}

/** The sender's offer (`FileOfferMsg`). */
export interface GdayFileOffer {
  /** The offered files, in the order their bytes will be sent. */
  files: GdayFileMeta[];
}

/** The receiver's answer (`FileResponseMsg`): per file, `null` (reject) or the start offset. */
export interface GdayFileResponse {
  /** One entry per offered file. */
  response: (bigint | null)[];
}

const U64_MAX = (1n << 64n) - 1n;

function u64Text(value: bigint, what: string): string {
  if (value < 0n || value > U64_MAX) throw new RangeError(`${what} ${value} is not a u64`);
  return value.toString();
}

function frame(json: string): Uint8Array {
  const body = new TextEncoder().encode(json);
  const bytes = new Uint8Array(GDAY_MESSAGE_PREFIX_BYTES + body.length);
  new DataView(bytes.buffer).setUint32(0, body.length, false);
  bytes.set(body, GDAY_MESSAGE_PREFIX_BYTES);
  return bytes;
}

/**
 * Encode an offer as a length-prefixed frame.
 *
 * @throws {RangeError} when a length is not a u64.
 *
 * @example The gday spec §6.5 plaintext of "A→B #0"
 * ```ts
 * import { encodeGdayOffer } from "./gday_offer.ts";
 * const bytes = encodeGdayOffer({ files: [{ shortPath: "msg.txt", len: 5n }] });
 * const json = '{"files":[{"short_path":"msg.txt","len":5}]}';
 * if (new TextDecoder().decode(bytes.subarray(4)) !== json || bytes[3] !== 0x2c) throw new Error("Bad");
 * ```
 */
export function encodeGdayOffer(offer: GdayFileOffer): Uint8Array {
  const files = offer.files.map((file) =>
    `{"short_path":${JSON.stringify(file.shortPath)},"len":${u64Text(file.len, "File length")}}`
  );
  return frame(`{"files":[${files.join(",")}]}`);
}

/**
 * Encode a response as a length-prefixed frame.
 *
 * @throws {RangeError} when an offset is not a u64.
 *
 * @example The gday spec §6.5 plaintext of "B→A #0"
 * ```ts
 * import { encodeGdayResponse } from "./gday_offer.ts";
 * const bytes = encodeGdayResponse({ response: [0n] });
 * if (bytes.toHex() !== "00000010" + new TextEncoder().encode('{"response":[0]}').toHex()) {
 *   throw new Error("Bad response");
 * }
 * ```
 */
export function encodeGdayResponse(response: GdayFileResponse): Uint8Array {
  const items = response.response.map((item) =>
    item === null ? "null" : u64Text(item, "Start offset")
  );
  return frame(`{"response":[${items.join(",")}]}`);
}

/** A JSON number kept as its exact source text. */
class NumberText {
  constructor(readonly source: string) {}
}

function readFrame(bytes: Uint8Array, offset: number, what: string): [unknown, number] {
  if (bytes.length - offset < GDAY_MESSAGE_PREFIX_BYTES) {
    throw new GdayMessageError(`Truncated ${what}: the length prefix is incomplete`);
  }
  const length = new DataView(bytes.buffer, bytes.byteOffset + offset, 4).getUint32(0, false);
  if (length > MAX_GDAY_OFFER_BYTES) {
    throw new GdayMessageError(
      `The ${what} is ${length} bytes, more than the ${MAX_GDAY_OFFER_BYTES} allowed; ` +
        "offer fewer files at a time",
    );
  }
  const start = offset + GDAY_MESSAGE_PREFIX_BYTES;
  if (bytes.length - start < length) {
    throw new GdayMessageError(`Truncated ${what}: expected ${length} bytes of JSON`);
  }
  let text: string;
  let value: unknown;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(start, start + length));
    value = JSON.parse(text, (_key, value, context?: { source?: string }) => {
      if (typeof value !== "number") return value;
      return new NumberText(context?.source ?? String(value));
    });
  } catch (cause) {
    throw new GdayMessageError(
      `The ${what} is not valid UTF-8 JSON; the peer may be incompatible`,
      {
        cause,
      },
    );
  }
  return [value, start + length];
}

function toU64(value: unknown, what: string): bigint {
  if (value instanceof NumberText && /^(0|[1-9][0-9]{0,19})$/.test(value.source)) {
    const n = BigInt(value.source);
    if (n <= U64_MAX) return n;
  }
  throw new GdayMessageError(`${what} is not a u64; the peer may be incompatible`);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value) &&
    !(value instanceof NumberText);
}

/**
 * Decode a length-prefixed offer starting at `offset`; returns the offer and the offset after it.
 *
 * @throws {GdayMessageError} when the frame is truncated, too large or not a valid offer.
 *
 * @example A length above 2^53 stays exact
 * ```ts
 * import { decodeGdayOffer } from "./gday_offer.ts";
 * const json = '{"files":[{"short_path":"big.iso","len":18446744073709551615}]}';
 * const body = new TextEncoder().encode(json);
 * const bytes = new Uint8Array([0, 0, 0, body.length, ...body]);
 * const [offer] = decodeGdayOffer(bytes);
 * if (offer.files[0]?.len !== 2n ** 64n - 1n) throw new Error("Lost precision");
 * ```
 */
export function decodeGdayOffer(bytes: Uint8Array, offset = 0): [GdayFileOffer, number] {
  const [value, next] = readFrame(bytes, offset, "file offer");
  if (!isObject(value) || !Array.isArray(value.files)) {
    throw new GdayMessageError('The file offer has no "files" list; the peer may be incompatible');
  }
  const files = value.files.map((file: unknown, i: number): GdayFileMeta => {
    if (!isObject(file) || typeof file.short_path !== "string") {
      throw new GdayMessageError(`Offered file ${i} has no "short_path" string`);
    }
    return { shortPath: file.short_path, len: toU64(file.len, `Offered file ${i}'s "len"`) };
  });
  return [{ files }, next];
}

/**
 * Decode a length-prefixed response starting at `offset`; returns it and the offset after it.
 *
 * @throws {GdayMessageError} when the frame is truncated, too large or not a valid response.
 *
 * @example
 * ```ts
 * import { decodeGdayResponse, encodeGdayResponse } from "./gday_offer.ts";
 * const [decoded] = decodeGdayResponse(encodeGdayResponse({ response: [null, 9007199254740993n] }));
 * if (decoded.response[0] !== null || decoded.response[1] !== 9007199254740993n) {
 *   throw new Error("Bad response");
 * }
 * ```
 */
export function decodeGdayResponse(bytes: Uint8Array, offset = 0): [GdayFileResponse, number] {
  const [value, next] = readFrame(bytes, offset, "file response");
  if (!isObject(value) || !Array.isArray(value.response)) {
    throw new GdayMessageError(
      'The file response has no "response" list; the peer may be incompatible',
    );
  }
  const response = value.response.map((item: unknown, i: number) =>
    item === null ? null : toU64(item, `Response entry ${i}`)
  );
  return [{ response }, next];
}
