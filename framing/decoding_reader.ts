/**
 * A reader of whole messages from a byte stream: a push decoder fed from a {@linkcode ChunkSource}.
 * {@linkcode FrameReader} (length-prefixed frames) and {@linkcode JsonObjectReader} (unframed JSON
 * objects) are this reader with their own decoder and truncation error.
 *
 * @module
 */

import { type ByteReader, ChunkSource } from "./chunk_source.ts";

/** A push decoder: bytes in, whole messages out (the decoders of `framing/`). */
export interface MessageDecoder {
  /** Bytes held that are not yet part of a whole message. */
  readonly buffered: number;
  /** Add bytes; throws for input that can never become a valid message. */
  push(chunk: Uint8Array): void;
  /** The next whole message, or `undefined` when more bytes are needed. */
  next(): Uint8Array | undefined;
}

/** How a {@linkcode DecodingReader} reads and what it says about a truncated stream. */
export interface DecodingReaderOptions {
  /** Bytes read from a {@linkcode ByteReader} at a time. */
  chunkBytes: number;
  /** The error for a stream that ends inside a message, given the bytes left over. */
  truncated: (buffered: number) => Error;
}

/**
 * Reads whole messages from a byte stream through `decoder`.
 *
 * @example Two one-byte messages
 * ```ts
 * import { DecodingReader, type MessageDecoder } from "./decoding_reader.ts";
 * const bytes: number[] = [];
 * const decoder: MessageDecoder = {
 *   get buffered() { return bytes.length; },
 *   push: (chunk) => void bytes.push(...chunk),
 *   next: () => (bytes.length > 0 ? new Uint8Array([bytes.shift()!]) : undefined),
 * };
 * const reader = new DecodingReader(ReadableStream.from([new Uint8Array([1, 2])]), decoder, {
 *   chunkBytes: 4096,
 *   truncated: (n) => new Error(`${n} bytes left`),
 * });
 * if ((await reader.read())?.[0] !== 1 || (await reader.read())?.[0] !== 2) throw new Error("Bad");
 * if ((await reader.read()) !== null) throw new Error("Expected the end");
 * ```
 */
export class DecodingReader {
  #chunks: ChunkSource;
  #decoder: MessageDecoder;
  #truncated: (buffered: number) => Error;
  #done = false;

  /**
   * Read from `source`: a `ReadableStream` (locked until {@linkcode DecodingReader.releaseLock}
   * or {@linkcode DecodingReader.cancel}), or a {@linkcode ByteReader} such as a `Deno.Conn`.
   *
   * @example
   * ```ts ignore
   * const reader = new DecodingReader(conn, decoder, { chunkBytes: 4096, truncated });
   * ```
   */
  constructor(
    source: ReadableStream<Uint8Array> | ByteReader,
    decoder: MessageDecoder,
    options: DecodingReaderOptions,
  ) {
    this.#decoder = decoder;
    this.#truncated = options.truncated;
    this.#chunks = new ChunkSource(source, options.chunkBytes);
  }

  /**
   * Read the next message. Resolves `null` on a clean end of stream between messages.
   *
   * @throws what the decoder throws for invalid input (such as a message over the size limit).
   * @throws the truncation error of the options when the stream ends inside a message.
   * @throws the signal's reason when `signal` aborts (the read itself is not cancelled).
   *
   * @example
   * ```ts
   * import { FrameReader, TruncatedFrameError } from "./mod.ts";
   * const reader = new FrameReader(ReadableStream.from([new Uint8Array([0, 0, 0, 5, 1])]));
   * const error = await reader.read().catch((e) => e);
   * if (!(error instanceof TruncatedFrameError)) throw new Error("Expected truncation");
   * ```
   */
  async read(signal?: AbortSignal): Promise<Uint8Array | null> {
    for (;;) {
      const message = this.#decoder.next();
      if (message !== undefined) return message;
      if (this.#done) {
        if (this.#decoder.buffered === 0) return null;
        throw this.#truncated(this.#decoder.buffered);
      }
      const chunk = await this.#chunks.read(signal);
      if (chunk === null) this.#done = true;
      else this.#decoder.push(chunk);
    }
  }

  /**
   * Stop reading and cancel the underlying stream (a `ByteReader` is left to its owner).
   *
   * @example
   * ```ts
   * import { FrameReader } from "./length_prefixed.ts";
   * await new FrameReader(new ReadableStream<Uint8Array>()).cancel();
   * ```
   */
  async cancel(reason?: unknown): Promise<void> {
    await this.#chunks.cancel(reason);
  }

  /**
   * Release the lock on the stream without cancelling it. Bytes already buffered are lost.
   *
   * @example
   * ```ts
   * import { FrameReader } from "./length_prefixed.ts";
   * const stream = new ReadableStream<Uint8Array>();
   * new FrameReader(stream).releaseLock();
   * if (stream.locked) throw new Error("Still locked");
   * ```
   */
  releaseLock(): void {
    this.#chunks.releaseLock();
  }
}
