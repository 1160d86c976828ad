/**
 * Internal: exact-length reads over a `ReadableStream<Uint8Array>`, keeping the bytes that were
 * read ahead so the next protocol stage (handshake → encrypted stream) continues seamlessly.
 *
 * @module
 */

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
  #chunks: Uint8Array[] = [];
  #buffered = 0;
  #done = false;

  /** Lock `readable` and read from it. */
  constructor(readable: ReadableStream<Uint8Array>) {
    this.#reader = readable.getReader();
  }

  /** Bytes read ahead and not yet taken. */
  get buffered(): number {
    return this.#buffered;
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
    while (this.#buffered < n && !this.#done) {
      const { value, done } = await this.#reader.read();
      if (done) {
        this.#done = true;
      } else if (value.length > 0) {
        this.#chunks.push(value);
        this.#buffered += value.length;
      }
    }
    return this.#buffered;
  }

  /** Take exactly `n` buffered bytes; call {@linkcode fill} first. */
  take(n: number): Uint8Array {
    if (n > this.#buffered) {
      throw new RangeError(`Cannot take ${n} bytes, ${this.#buffered} buffered`);
    }
    this.#buffered -= n;
    const first = this.#chunks[0];
    if (first === undefined) return new Uint8Array(0);
    if (first.length === n) {
      this.#chunks.shift();
      return first;
    }
    if (first.length > n) {
      this.#chunks[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    const out = new Uint8Array(n);
    let offset = 0;
    while (offset < n) {
      const chunk = this.#chunks[0]!;
      const count = Math.min(chunk.length, n - offset);
      out.set(count === chunk.length ? chunk : chunk.subarray(0, count), offset);
      offset += count;
      if (count === chunk.length) this.#chunks.shift();
      else this.#chunks[0] = chunk.subarray(count);
    }
    return out;
  }

  /** Read exactly `n` bytes, or return `undefined` if the stream ends first. */
  async readExact(n: number): Promise<Uint8Array | undefined> {
    return (await this.fill(n)) >= n ? this.take(n) : undefined;
  }

  /** Drop the buffer and cancel the stream; never throws. */
  async cancel(reason?: unknown): Promise<void> {
    this.#chunks = [];
    this.#buffered = 0;
    this.#done = true;
    await this.#reader.cancel(reason).catch(() => {});
  }
}
