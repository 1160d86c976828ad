/**
 * Internal: a buffered reader over a byte stream that hands out length-prefixed control frames
 * (capped before anything is allocated) and raw data in between, as the transfer protocols mix
 * them.
 *
 * @module
 */

import { abortable } from "../async/abortable.ts";
import { FrameTooLargeError, TruncatedFrameError } from "../framing/errors.ts";
import { ChunkQueue } from "../framing/chunk_queue.ts";
import { LENGTH_PREFIX_BYTES } from "../framing/length_prefixed.ts";

/**
 * Reads frames and raw bytes from one stream. Not safe for two concurrent reads.
 *
 * @example
 * ```ts ignore
 * const reader = new StreamReader(conn.readable);
 * const frame = await reader.readFrame(65536, signal); // prefix included, or null at the end
 * const data = await reader.readSome(1 << 20, signal); // up to 1 MiB, or null at the end
 * ```
 */
export class StreamReader {
  #reader: ReadableStreamDefaultReader<Uint8Array>;
  #queue = new ChunkQueue();
  #done = false;

  constructor(readable: ReadableStream<Uint8Array>) {
    this.#reader = readable.getReader();
  }

  /** Read one more chunk into the buffer; false at the end of the stream. */
  async #pull(signal?: AbortSignal): Promise<boolean> {
    if (this.#done) return false;
    const { value, done } = await abortable(this.#reader.read(), signal);
    if (done) {
      this.#done = true;
      return false;
    }
    this.#queue.push(value);
    return true;
  }

  /** Buffer at least `n` bytes; false when the stream ends first. */
  async #fill(n: number, signal?: AbortSignal): Promise<boolean> {
    while (this.#queue.length < n) {
      if (!(await this.#pull(signal))) return false;
    }
    return true;
  }

  /**
   * The next frame, length prefix included; `null` when the stream ends before its first byte.
   * Throws `FrameTooLargeError` above `maxBytes`, `TruncatedFrameError` at an end inside it.
   */
  async readFrame(maxBytes: number, signal?: AbortSignal): Promise<Uint8Array | null> {
    if (!(await this.#fill(LENGTH_PREFIX_BYTES, signal))) {
      if (this.#queue.length === 0) return null;
      throw new TruncatedFrameError(this.#queue.length);
    }
    const head = this.#queue.peek(LENGTH_PREFIX_BYTES);
    const length = new DataView(head.buffer, head.byteOffset, LENGTH_PREFIX_BYTES).getUint32(0);
    if (length > maxBytes) throw new FrameTooLargeError(length, maxBytes);
    if (!(await this.#fill(LENGTH_PREFIX_BYTES + length, signal))) {
      throw new TruncatedFrameError(this.#queue.length);
    }
    return this.#queue.take(LENGTH_PREFIX_BYTES + length);
  }

  /** Up to `max` bytes (at least 1), or `null` at the end of the stream. */
  async readSome(max: number, signal?: AbortSignal): Promise<Uint8Array | null> {
    if (this.#queue.length === 0 && !(await this.#fill(1, signal))) return null;
    return this.#queue.take(Math.min(max, this.#queue.firstChunkLength));
  }

  /** True when the stream ends with no more bytes; false when bytes follow. */
  async atEnd(signal?: AbortSignal): Promise<boolean> {
    if (this.#queue.length > 0) return false;
    return !(await this.#fill(1, signal));
  }

  /** Cancel the stream (ignores errors). */
  async cancel(reason?: unknown): Promise<void> {
    await this.#reader.cancel(reason).catch(() => {});
  }

  /** Release the stream without cancelling it. */
  releaseLock(): void {
    this.#reader.releaseLock();
  }
}
