/**
 * Internal: exact-length reads over a `ReadableStream<Uint8Array>`, keeping the bytes that were
 * read ahead so the next protocol stage (handshake → encrypted stream) continues seamlessly.
 *
 * @module
 */

import { ChunkQueue } from "../framing/chunk_queue.ts";

/**
 * Buffers chunks from a byte stream and hands out exact-length slices. Slices that lie within
 * one received chunk are views (no copy); others are copied once into a fresh buffer.
 *
 * @example
 * ```ts
 * import { ByteReader } from "./_byte_reader.ts";
 * const stream = ReadableStream.from([new Uint8Array([1, 2]), new Uint8Array([3])]);
 * const reader = new ByteReader(stream);
 * if ((await reader.fill(3)) !== 3) throw new Error("Expected 3 bytes");
 * if (reader.take(3).join() !== "1,2,3") throw new Error("Bad bytes");
 * if ((await reader.fill(1)) !== 0) throw new Error("Expected EOF");
 * ```
 */
export class ByteReader {
  #reader: ReadableStreamDefaultReader<Uint8Array>;
  #queue = new ChunkQueue();
  #done = false;

  /** Lock `readable` and read from it. */
  constructor(readable: ReadableStream<Uint8Array>) {
    this.#reader = readable.getReader();
  }

  /** Bytes read ahead and not yet taken. */
  get buffered(): number {
    return this.#queue.length;
  }

  /** True once the stream reported its end. */
  get done(): boolean {
    return this.#done;
  }

  /**
   * Read until at least `n` bytes are buffered or the stream ends. Returns the number of bytes
   * buffered, which is below `n` only at the end of the stream.
   */
  async fill(n: number): Promise<number> {
    while (this.#queue.length < n && !this.#done) {
      const { value, done } = await this.#reader.read();
      if (done) this.#done = true;
      else this.#queue.push(value);
    }
    return this.#queue.length;
  }

  /** Take exactly `n` buffered bytes; call {@linkcode fill} first. */
  take(n: number): Uint8Array {
    return this.#queue.take(n);
  }

  /** Read exactly `n` bytes, or return `undefined` if the stream ends first. */
  async readExact(n: number): Promise<Uint8Array | undefined> {
    return (await this.fill(n)) >= n ? this.take(n) : undefined;
  }

  /** Drop the buffer and cancel the stream; never throws. */
  async cancel(reason?: unknown): Promise<void> {
    this.#queue.clear();
    this.#done = true;
    await this.#reader.cancel(reason).catch(() => {});
  }
}
