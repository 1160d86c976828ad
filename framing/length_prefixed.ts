/**
 * Length-prefixed frames: a 4-byte big-endian length followed by that many bytes, as gday 0.1.1
 * and peerlink's own TCP protocols use them.
 *
 * {@linkcode encodeFrame} builds a frame; {@linkcode LengthPrefixedDecoder} is a push decoder that
 * caps each frame and tells "need more" (`undefined`) apart from "invalid" (a thrown
 * {@linkcode FrameTooLargeError}); {@linkcode FrameReader} reads frames from a byte stream.
 *
 * @module
 */

import { ChunkQueue } from "./chunk_queue.ts";
import type { ByteReader } from "./chunk_source.ts";
import { DecodingReader } from "./decoding_reader.ts";
import { FrameTooLargeError, TruncatedFrameError } from "./errors.ts";

/** Bytes in the length prefix. */
export const LENGTH_PREFIX_BYTES = 4;

/**
 * The default largest frame body a reader accepts: 64 KiB. gday 0.1.1 has no limit (it allocates
 * whatever u32 the prefix claims); peerlink's readers always enforce one.
 */
export const DEFAULT_MAX_FRAME_BYTES = 64 * 1024;

/**
 * Prefix `body` with its length as a 4-byte big-endian integer.
 *
 * @example
 * ```ts
 * import { encodeFrame } from "./length_prefixed.ts";
 * const frame = encodeFrame(new Uint8Array([7, 8]));
 * if (frame.toHex() !== "000000020708") throw new Error("Bad frame");
 * ```
 */
export function encodeFrame(body: Uint8Array): Uint8Array {
  if (body.length > 0xffffffff) {
    throw new RangeError(`Frame body of ${body.length} bytes does not fit a u32 length`);
  }
  const frame = new Uint8Array(LENGTH_PREFIX_BYTES + body.length);
  new DataView(frame.buffer).setUint32(0, body.length, false);
  frame.set(body, LENGTH_PREFIX_BYTES);
  return frame;
}

/** Options for {@linkcode LengthPrefixedDecoder} and {@linkcode FrameReader}. */
export interface FrameOptions {
  /** The largest frame body accepted, in bytes. @default {65536} */
  maxFrameBytes?: number;
}

/**
 * A push decoder for length-prefixed frames. Feed it bytes with {@linkcode push}, then take
 * complete frames with {@linkcode next} until it returns `undefined` (need more bytes). A length
 * prefix above the maximum throws {@linkcode FrameTooLargeError} before anything is allocated.
 *
 * @example Two frames split across pushes
 * ```ts
 * import { encodeFrame, LengthPrefixedDecoder } from "./length_prefixed.ts";
 * const decoder = new LengthPrefixedDecoder();
 * const bytes = new Uint8Array([...encodeFrame(new Uint8Array([1])), ...encodeFrame(new Uint8Array([2, 3]))]);
 * decoder.push(bytes.subarray(0, 3));
 * if (decoder.next() !== undefined) throw new Error("Frame too early");
 * decoder.push(bytes.subarray(3));
 * if (decoder.next()?.toHex() !== "01") throw new Error("Bad first frame");
 * if (decoder.next()?.toHex() !== "0203") throw new Error("Bad second frame");
 * ```
 */
export class LengthPrefixedDecoder {
  #max: number;
  #queue = new ChunkQueue();

  /**
   * Make a decoder.
   *
   * @example
   * ```ts
   * import { LengthPrefixedDecoder } from "./length_prefixed.ts";
   * const decoder = new LengthPrefixedDecoder({ maxFrameBytes: 1024 });
   * if (decoder.buffered !== 0) throw new Error("Not empty");
   * ```
   */
  constructor(options: FrameOptions = {}) {
    const max = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
    if (!Number.isInteger(max) || max < 0 || max > 0xffffffff) {
      throw new RangeError(
        `Cannot decode frames: maxFrameBytes is ${max}, it must be an integer from 0 to 2^32-1`,
      );
    }
    this.#max = max;
  }

  /**
   * Bytes held that do not yet form a complete frame (or frames not yet taken).
   *
   * @example
   * ```ts
   * import { LengthPrefixedDecoder } from "./length_prefixed.ts";
   * const decoder = new LengthPrefixedDecoder();
   * decoder.push(new Uint8Array([0, 0]));
   * if (decoder.buffered !== 2) throw new Error("Bad count");
   * ```
   */
  get buffered(): number {
    return this.#queue.length;
  }

  /**
   * Add bytes read from the stream. The decoder keeps a reference; do not reuse `chunk`.
   *
   * @example
   * ```ts
   * import { LengthPrefixedDecoder } from "./length_prefixed.ts";
   * const decoder = new LengthPrefixedDecoder();
   * decoder.push(new Uint8Array([0, 0, 0, 0]));
   * if (decoder.next()?.length !== 0) throw new Error("Expected an empty frame");
   * ```
   */
  push(chunk: Uint8Array): void {
    this.#queue.push(chunk);
  }

  /**
   * Take the next complete frame body, or `undefined` when more bytes are needed.
   *
   * @throws {FrameTooLargeError} when the next length prefix exceeds the maximum.
   *
   * @example
   * ```ts
   * import { FrameTooLargeError, LengthPrefixedDecoder } from "./mod.ts";
   * const decoder = new LengthPrefixedDecoder({ maxFrameBytes: 10 });
   * decoder.push(new Uint8Array([0xff, 0xff, 0xff, 0xff]));
   * let error: unknown;
   * try { decoder.next(); } catch (e) { error = e; }
   * if (!(error instanceof FrameTooLargeError)) throw new Error("Expected FrameTooLargeError");
   * ```
   */
  next(): Uint8Array | undefined {
    if (this.#queue.length < LENGTH_PREFIX_BYTES) return undefined;
    const head = this.#queue.peek(LENGTH_PREFIX_BYTES);
    const length = new DataView(head.buffer, head.byteOffset, LENGTH_PREFIX_BYTES).getUint32(
      0,
      false,
    );
    if (length > this.#max) throw new FrameTooLargeError(length, this.#max);
    if (this.#queue.length < LENGTH_PREFIX_BYTES + length) return undefined;
    this.#queue.take(LENGTH_PREFIX_BYTES);
    return this.#queue.take(length);
  }
}

/** Bytes read from a {@linkcode ByteReader} at a time. */
const READ_CHUNK_BYTES = 16 * 1024;

/**
 * Reads length-prefixed frames from a byte stream, enforcing the maximum frame size.
 *
 * @example Read two frames, then the end
 * ```ts
 * import { encodeFrame, FrameReader } from "./length_prefixed.ts";
 * const stream = ReadableStream.from([encodeFrame(new Uint8Array([1])), encodeFrame(new Uint8Array([2]))]);
 * const reader = new FrameReader(stream);
 * if ((await reader.read())?.toHex() !== "01") throw new Error("Bad frame");
 * if ((await reader.read())?.toHex() !== "02") throw new Error("Bad frame");
 * if ((await reader.read()) !== null) throw new Error("Expected the end");
 * ```
 */
export class FrameReader extends DecodingReader {
  /**
   * Read frames from `source`: a `ReadableStream` (locked until {@linkcode releaseLock} or
   * {@linkcode cancel}), or a {@linkcode ByteReader} such as a `Deno.Conn`.
   *
   * @example
   * ```ts
   * import { FrameReader } from "./length_prefixed.ts";
   * const reader = new FrameReader(ReadableStream.from<Uint8Array>([]), { maxFrameBytes: 1024 });
   * if ((await reader.read()) !== null) throw new Error("Expected the end");
   * ```
   */
  constructor(source: ReadableStream<Uint8Array> | ByteReader, options: FrameOptions = {}) {
    super(source, new LengthPrefixedDecoder(options), {
      chunkBytes: READ_CHUNK_BYTES,
      truncated: (buffered) => new TruncatedFrameError(buffered),
    });
  }
}
