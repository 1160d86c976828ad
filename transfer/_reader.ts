/**
 * Internal: a buffered reader over a byte stream that hands out length-prefixed control frames
 * (capped before anything is allocated) and raw data in between, as the transfer protocols mix
 * them.
 *
 * @module
 */

import { abortable } from "../async/abortable.ts";
import { FrameTooLargeError, TruncatedFrameError } from "../framing/errors.ts";
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
  #chunks: Uint8Array[] = [];
  #buffered = 0;
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
    if (value.length > 0) {
      this.#chunks.push(value);
      this.#buffered += value.length;
    }
    return true;
  }

  /** Buffer at least `n` bytes; false when the stream ends first. */
  async #fill(n: number, signal?: AbortSignal): Promise<boolean> {
    while (this.#buffered < n) {
      if (!(await this.#pull(signal))) return false;
    }
    return true;
  }

  #take(n: number): Uint8Array {
    this.#buffered -= n;
    const first = this.#chunks[0];
    if (first !== undefined && first.length >= n) {
      if (first.length === n) this.#chunks.shift();
      else this.#chunks[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    const out = new Uint8Array(n);
    let offset = 0;
    while (offset < n) {
      const chunk = this.#chunks[0]!;
      const wanted = Math.min(chunk.length, n - offset);
      out.set(chunk.subarray(0, wanted), offset);
      offset += wanted;
      if (wanted === chunk.length) this.#chunks.shift();
      else this.#chunks[0] = chunk.subarray(wanted);
    }
    return out;
  }

  /**
   * The next frame, length prefix included; `null` when the stream ends before its first byte.
   * Throws `FrameTooLargeError` above `maxBytes`, `TruncatedFrameError` at an end inside it.
   */
  async readFrame(maxBytes: number, signal?: AbortSignal): Promise<Uint8Array | null> {
    if (!(await this.#fill(LENGTH_PREFIX_BYTES, signal))) {
      if (this.#buffered === 0) return null;
      throw new TruncatedFrameError(this.#buffered);
    }
    const head = this.#chunks[0]!.length >= LENGTH_PREFIX_BYTES
      ? this.#chunks[0]!
      : this.#take(LENGTH_PREFIX_BYTES);
    const length = new DataView(head.buffer, head.byteOffset, LENGTH_PREFIX_BYTES).getUint32(0);
    if (head !== this.#chunks[0]) this.#unshift(head);
    if (length > maxBytes) throw new FrameTooLargeError(length, maxBytes);
    if (!(await this.#fill(LENGTH_PREFIX_BYTES + length, signal))) {
      throw new TruncatedFrameError(this.#buffered);
    }
    return this.#take(LENGTH_PREFIX_BYTES + length);
  }

  #unshift(bytes: Uint8Array): void {
    this.#chunks.unshift(bytes);
    this.#buffered += bytes.length;
  }

  /** Up to `max` bytes (at least 1), or `null` at the end of the stream. */
  async readSome(max: number, signal?: AbortSignal): Promise<Uint8Array | null> {
    if (this.#buffered === 0 && !(await this.#fill(1, signal))) return null;
    return this.#take(Math.min(max, this.#chunks[0]!.length));
  }

  /** True when the stream ends with no more bytes; false when bytes follow. */
  async atEnd(signal?: AbortSignal): Promise<boolean> {
    if (this.#buffered > 0) return false;
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
