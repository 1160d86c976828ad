/**
 * Chunks of bytes from either a web `ReadableStream` or a `Deno.Conn`-style {@linkcode ByteReader},
 * one read at a time: the input side of the framed readers.
 *
 * @module
 */

import { abortable } from "../async/abortable.ts";

/**
 * A source of bytes in the style of `Deno.Conn`: `read` fills part of `p` and resolves with the
 * count, or `null` at the end. Reading a `Deno.Conn` this way skips the web-streams machinery,
 * which matters on a busy server.
 */
export interface ByteReader {
  /** Read into `p`; resolves with the number of bytes read, or `null` at the end of the stream. */
  read(p: Uint8Array): Promise<number | null>;
}

/**
 * Reads chunks from a `ReadableStream` (locked until {@linkcode ChunkSource.releaseLock} or
 * {@linkcode ChunkSource.cancel}) or from a {@linkcode ByteReader} (read `chunkBytes` at a time
 * into one reused buffer; each chunk handed out is a copy the caller may keep).
 *
 * @example
 * ```ts
 * import { ChunkSource } from "./chunk_source.ts";
 * const chunks = new ChunkSource(ReadableStream.from([new Uint8Array([1, 2])]), 4096);
 * if ((await chunks.read())?.length !== 2) throw new Error("Bad chunk");
 * if ((await chunks.read()) !== null) throw new Error("Expected the end");
 * ```
 */
export class ChunkSource {
  #reader: ReadableStreamDefaultReader<Uint8Array> | null = null;
  #source: ByteReader | null = null;
  #buf: Uint8Array | null = null;
  #chunkBytes: number;

  /**
   * Read from `source`, at most `chunkBytes` at a time from a {@linkcode ByteReader}.
   *
   * @example
   * ```ts
   * import { ChunkSource } from "./chunk_source.ts";
   * const bytes = new Uint8Array([7]);
   * let given = false;
   * const reader = { read: (p: Uint8Array) => Promise.resolve(given ? null : (given = true, p.set(bytes), 1)) };
   * const chunks = new ChunkSource(reader, 16);
   * if ((await chunks.read())?.[0] !== 7) throw new Error("Bad chunk");
   * ```
   */
  constructor(source: ReadableStream<Uint8Array> | ByteReader, chunkBytes: number) {
    this.#chunkBytes = chunkBytes;
    if (source instanceof ReadableStream) this.#reader = source.getReader();
    else this.#source = source;
  }

  /**
   * The next chunk, or `null` at the end of the input.
   *
   * @throws the signal's reason when `signal` aborts (the read itself is not cancelled).
   *
   * @example
   * ```ts
   * import { ChunkSource } from "./chunk_source.ts";
   * const chunks = new ChunkSource(ReadableStream.from<Uint8Array>([]), 4096);
   * if ((await chunks.read()) !== null) throw new Error("Expected the end");
   * ```
   */
  async read(signal?: AbortSignal): Promise<Uint8Array | null> {
    // Before starting a read: once started, its bytes would be lost to an abort.
    signal?.throwIfAborted();
    if (this.#source !== null) {
      this.#buf ??= new Uint8Array(this.#chunkBytes);
      const n = await abortable(this.#source.read(this.#buf), signal);
      return n === null ? null : this.#buf.slice(0, n);
    }
    const { value, done } = await abortable(this.#reader!.read(), signal);
    return done ? null : value;
  }

  /**
   * Cancel the underlying stream (a {@linkcode ByteReader} is left to its owner).
   *
   * @example
   * ```ts
   * import { ChunkSource } from "./chunk_source.ts";
   * await new ChunkSource(new ReadableStream<Uint8Array>(), 4096).cancel();
   * ```
   */
  async cancel(reason?: unknown): Promise<void> {
    await this.#reader?.cancel(reason).catch(() => {});
  }

  /**
   * Release the lock on the stream without cancelling it.
   *
   * @example
   * ```ts
   * import { ChunkSource } from "./chunk_source.ts";
   * const stream = new ReadableStream<Uint8Array>();
   * new ChunkSource(stream, 4096).releaseLock();
   * if (stream.locked) throw new Error("Still locked");
   * ```
   */
  releaseLock(): void {
    this.#reader?.releaseLock();
  }
}
