/**
 * Unframed JSON objects on a byte stream, as p2psc sends them: one compact JSON object after
 * another with nothing in between (spec: p2psc.md §1.3). A reader cannot trust read boundaries
 * (one read may hold half a message or two messages), so it scans the bytes itself.
 *
 * {@linkcode JsonObjectDecoder} is a push decoder: feed it bytes with `push`, take complete
 * top-level objects with `next` until it returns `undefined` ("need more bytes"). It is aware of
 * braces, brackets, strings and escapes, keeps its scan position between pushes (each byte is
 * looked at once), and tells "need more" apart from "invalid": a byte outside an object that is
 * not whitespace or `{`, a closing bracket that does not match, nesting deeper than
 * `maxDepth`, or an object longer than `maxObjectBytes` throw {@linkcode JsonStreamError} or
 * {@linkcode JsonObjectTooLargeError} at once, before the rest arrives. It only finds where an
 * object ends; the codec that receives the bytes still parses them strictly.
 *
 * {@linkcode JsonObjectReader} reads such objects from a `ReadableStream` or a `Deno.Conn`-like
 * reader, with a signal on every read.
 *
 * @module
 */

import type { ByteReader } from "./chunk_source.ts";
import { DecodingReader } from "./decoding_reader.ts";

/**
 * The default largest object a reader accepts: 16 KiB. A p2psc `Advertise` with two 4096-bit
 * keys is about 1.7 KB; with two 2048-bit keys 930 bytes (p2psc.md §1.3).
 */
export const DEFAULT_MAX_JSON_OBJECT_BYTES = 16 * 1024;

/** The default deepest nesting of objects and arrays accepted (p2psc messages use 2). */
export const DEFAULT_MAX_JSON_DEPTH = 32;

/** The byte stream is not a sequence of JSON objects. */
export class JsonStreamError extends Error {
  /** Offset of the offending byte in the stream (counted from the first byte pushed). */
  readonly offset: number;
  /**
   * Make the error.
   *
   * @example
   * ```ts
   * import { JsonStreamError } from "./json_stream.ts";
   * const error = new JsonStreamError("Expected '{'", 3);
   * if (error.name !== "JsonStreamError" || error.offset !== 3) throw new Error("Bad error");
   * ```
   */
  constructor(message: string, offset: number, options?: ErrorOptions) {
    super(`${message} (at byte ${offset})`, options);
    this.name = "JsonStreamError";
    this.offset = offset;
  }
}

/** A JSON object grew past the reader's maximum before it ended. */
export class JsonObjectTooLargeError extends Error {
  /** The largest object the reader accepts, in bytes. */
  readonly max: number;
  /**
   * Make the error.
   *
   * @example
   * ```ts
   * import { JsonObjectTooLargeError } from "./json_stream.ts";
   * if (new JsonObjectTooLargeError(1024).max !== 1024) throw new Error("Bad max");
   * ```
   */
  constructor(max: number) {
    super(`JSON message exceeds the maximum of ${max} bytes`);
    this.name = "JsonObjectTooLargeError";
    this.max = max;
  }
}

/** The stream ended in the middle of a JSON object. */
export class TruncatedJsonError extends Error {
  /**
   * Make the error.
   *
   * @example
   * ```ts
   * import { TruncatedJsonError } from "./json_stream.ts";
   * if (!new TruncatedJsonError(5).message.includes("5")) throw new Error("Bad message");
   * ```
   */
  constructor(buffered: number) {
    super(`Stream ended in the middle of a JSON message (${buffered} bytes buffered)`);
    this.name = "TruncatedJsonError";
  }
}

/** Options for {@linkcode JsonObjectDecoder} and {@linkcode JsonObjectReader}. */
export interface JsonObjectOptions {
  /** The largest object accepted, in bytes (leading whitespace not counted). @default {16384} */
  maxObjectBytes?: number;
  /** The deepest nesting of objects and arrays accepted. @default {32} */
  maxDepth?: number;
}

const SPACE = 0x20, TAB = 0x09, LF = 0x0a, CR = 0x0d;
const QUOTE = 0x22, BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b, CLOSE_BRACE = 0x7d, OPEN_BRACKET = 0x5b, CLOSE_BRACKET = 0x5d;

function isWhitespace(byte: number): boolean {
  return byte === SPACE || byte === LF || byte === CR || byte === TAB;
}

function checkLimit(name: string, value: number, min: number): void {
  if (!Number.isInteger(value) || value < min) {
    throw new RangeError(
      `Cannot decode JSON objects: ${name} is ${value}, it must be an integer >= ${min}`,
    );
  }
}

/**
 * A push decoder that cuts complete top-level JSON objects out of a byte stream.
 *
 * @example Two objects in one chunk, a third split across pushes
 * ```ts
 * import { JsonObjectDecoder } from "./json_stream.ts";
 * const decoder = new JsonObjectDecoder();
 * const text = (b: Uint8Array | undefined) => b && new TextDecoder().decode(b);
 * decoder.push(new TextEncoder().encode('{"a":"}"}{"b":[1]}{"c"'));
 * if (text(decoder.next()) !== '{"a":"}"}') throw new Error("Bad first object");
 * if (text(decoder.next()) !== '{"b":[1]}') throw new Error("Bad second object");
 * if (decoder.next() !== undefined) throw new Error("Third object is not complete");
 * decoder.push(new TextEncoder().encode(":2}"));
 * if (text(decoder.next()) !== '{"c":2}') throw new Error("Bad third object");
 * ```
 */
export class JsonObjectDecoder {
  #maxBytes: number;
  #maxDepth: number;
  /** Bytes pushed and not yet handed out; `#buf[0]` is stream offset `#base`. */
  #buf: Uint8Array = new Uint8Array(0);
  #length = 0;
  #base = 0;
  /** Scan position in `#buf`. */
  #pos = 0;
  /** Index in `#buf` of the current object's `{`, or -1 between objects. */
  #start = -1;
  /** Open brackets of the current object (the closing byte each expects). */
  #stack: Uint8Array;
  #depth = 0;
  #inString = false;
  #escape = false;
  /** Complete objects found but not yet taken. */
  #ready: Uint8Array[] = [];

  /**
   * Make a decoder.
   *
   * @example
   * ```ts
   * import { JsonObjectDecoder } from "./json_stream.ts";
   * const decoder = new JsonObjectDecoder({ maxObjectBytes: 1024, maxDepth: 4 });
   * if (decoder.buffered !== 0) throw new Error("Not empty");
   * ```
   */
  constructor(options: JsonObjectOptions = {}) {
    const maxBytes = options.maxObjectBytes ?? DEFAULT_MAX_JSON_OBJECT_BYTES;
    const maxDepth = options.maxDepth ?? DEFAULT_MAX_JSON_DEPTH;
    checkLimit("maxObjectBytes", maxBytes, 2);
    checkLimit("maxDepth", maxDepth, 1);
    this.#maxBytes = maxBytes;
    this.#maxDepth = maxDepth;
    this.#stack = new Uint8Array(maxDepth);
  }

  /**
   * Bytes held: complete objects not yet taken and the object in progress.
   *
   * @example
   * ```ts
   * import { JsonObjectDecoder } from "./json_stream.ts";
   * const decoder = new JsonObjectDecoder();
   * decoder.push(new TextEncoder().encode('{"a"'));
   * if (decoder.buffered !== 4) throw new Error("Bad count");
   * ```
   */
  get buffered(): number {
    let ready = 0;
    for (const object of this.#ready) ready += object.length;
    return ready + (this.#start < 0 ? 0 : this.#length - this.#start);
  }

  /**
   * Add bytes from the stream and scan them. Throws as soon as they cannot be part of a valid
   * sequence of objects; the decoder is unusable afterwards.
   *
   * @throws {JsonStreamError} for bytes that cannot start or continue an object.
   * @throws {JsonObjectTooLargeError} when an object grows past `maxObjectBytes`.
   *
   * @example Stray bytes between objects are invalid at once
   * ```ts
   * import { JsonObjectDecoder, JsonStreamError } from "./json_stream.ts";
   * const decoder = new JsonObjectDecoder();
   * let error: unknown;
   * try { decoder.push(new TextEncoder().encode('{} x')); } catch (e) { error = e; }
   * if (!(error instanceof JsonStreamError)) throw new Error("Expected JsonStreamError");
   * ```
   */
  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    this.#append(chunk);
    this.#scan();
  }

  /**
   * Take the next complete object's bytes (from `{` to `}`), or `undefined` when more bytes
   * are needed.
   *
   * @example
   * ```ts
   * import { JsonObjectDecoder } from "./json_stream.ts";
   * const decoder = new JsonObjectDecoder();
   * decoder.push(new TextEncoder().encode(' \n{"s":"\\"}"} '));
   * if (new TextDecoder().decode(decoder.next()) !== '{"s":"\\"}"}') throw new Error("Bad object");
   * if (decoder.next() !== undefined) throw new Error("Only one object");
   * ```
   */
  next(): Uint8Array | undefined {
    return this.#ready.shift();
  }

  #append(chunk: Uint8Array): void {
    // Drop bytes before the object in progress (or everything between objects).
    const keepFrom = this.#start < 0 ? this.#pos : this.#start;
    if (keepFrom > 0) {
      this.#buf.copyWithin(0, keepFrom, this.#length);
      this.#length -= keepFrom;
      this.#pos -= keepFrom;
      this.#base += keepFrom;
      if (this.#start >= 0) this.#start -= keepFrom;
    }
    if (this.#length + chunk.length > this.#buf.length) {
      const grown = new Uint8Array(Math.max(this.#length + chunk.length, this.#buf.length * 2));
      grown.set(this.#buf.subarray(0, this.#length));
      this.#buf = grown;
    }
    this.#buf.set(chunk, this.#length);
    this.#length += chunk.length;
  }

  #fail(message: string, index: number): never {
    throw new JsonStreamError(message, this.#base + index);
  }

  #scan(): void {
    const buf = this.#buf;
    while (this.#pos < this.#length) {
      const i = this.#pos++;
      const byte = buf[i]!;
      if (this.#start < 0) {
        if (isWhitespace(byte)) continue;
        if (byte !== OPEN_BRACE) {
          this.#fail(
            `Expected a JSON object ('{'), got ${
              byte >= 0x20 && byte < 0x7f ? `'${String.fromCharCode(byte)}'` : `byte ${byte}`
            }`,
            i,
          );
        }
        this.#start = i;
        this.#stack[0] = CLOSE_BRACE;
        this.#depth = 1;
        continue;
      }
      if (i - this.#start + 1 > this.#maxBytes) throw new JsonObjectTooLargeError(this.#maxBytes);
      if (this.#inString) {
        if (this.#escape) this.#escape = false;
        else if (byte === BACKSLASH) this.#escape = true;
        else if (byte === QUOTE) this.#inString = false;
        continue;
      }
      if (byte === QUOTE) {
        this.#inString = true;
      } else if (byte === OPEN_BRACE || byte === OPEN_BRACKET) {
        if (this.#depth >= this.#maxDepth) {
          this.#fail(`JSON nests deeper than ${this.#maxDepth} levels`, i);
        }
        this.#stack[this.#depth++] = byte === OPEN_BRACE ? CLOSE_BRACE : CLOSE_BRACKET;
      } else if (byte === CLOSE_BRACE || byte === CLOSE_BRACKET) {
        if (this.#stack[this.#depth - 1] !== byte) {
          this.#fail(`Unbalanced '${String.fromCharCode(byte)}' in JSON`, i);
        }
        if (--this.#depth === 0) {
          this.#ready.push(buf.slice(this.#start, i + 1));
          this.#start = -1;
        }
      }
    }
    // Everything scanned: keep only the object in progress when the next push comes.
    if (this.#start < 0 && this.#pos === this.#length) {
      this.#base += this.#length;
      this.#length = 0;
      this.#pos = 0;
    }
  }
}

/** Bytes read from a {@linkcode ByteReader} at a time. */
const READ_CHUNK_BYTES = 4096;

/**
 * Reads unframed JSON objects from a byte stream, enforcing the maximum object size.
 *
 * @example One message split across writes, then two in one chunk
 * ```ts
 * import { JsonObjectReader } from "./json_stream.ts";
 * const enc = new TextEncoder();
 * const reader = new JsonObjectReader(ReadableStream.from([enc.encode('{"type":'), enc.encode('1}{"a":1}{"b":2}')]));
 * const text = async () => new TextDecoder().decode((await reader.read()) ?? undefined);
 * if ((await text()) !== '{"type":1}') throw new Error("Bad first");
 * if ((await text()) !== '{"a":1}') throw new Error("Bad second");
 * if ((await text()) !== '{"b":2}') throw new Error("Bad third");
 * if ((await reader.read()) !== null) throw new Error("Expected the end");
 * ```
 */
export class JsonObjectReader extends DecodingReader {
  /**
   * Read objects from `source`: a `ReadableStream` (locked until {@linkcode releaseLock} or
   * {@linkcode cancel}), or a {@linkcode ByteReader} such as a `Deno.Conn`.
   *
   * @example
   * ```ts
   * import { JsonObjectReader } from "./json_stream.ts";
   * const reader = new JsonObjectReader(ReadableStream.from<Uint8Array>([]), { maxObjectBytes: 1024 });
   * if ((await reader.read()) !== null) throw new Error("Expected the end");
   * ```
   */
  constructor(source: ReadableStream<Uint8Array> | ByteReader, options: JsonObjectOptions = {}) {
    super(source, new JsonObjectDecoder(options), {
      chunkBytes: READ_CHUNK_BYTES,
      truncated: (buffered) => new TruncatedJsonError(buffered),
    });
  }
}
