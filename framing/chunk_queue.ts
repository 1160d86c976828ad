/**
 * A queue of received chunks that hands out exactly `n` bytes at a time: the buffer behind the
 * length-prefixed decoder, the secure streams' reader and the transfer reader.
 *
 * @module
 */

/**
 * Bytes received in chunks, taken from the front. Chunks are kept by reference (do not reuse a
 * pushed chunk); a take within one chunk is a view, a take across chunks a copy.
 *
 * @example
 * ```ts
 * import { ChunkQueue } from "./chunk_queue.ts";
 * const queue = new ChunkQueue();
 * queue.push(new Uint8Array([1, 2]));
 * queue.push(new Uint8Array([3]));
 * if (queue.peek(3).toHex() !== "010203") throw new Error("Bad peek");
 * if (queue.take(3).toHex() !== "010203" || queue.length !== 0) throw new Error("Bad take");
 * ```
 */
export class ChunkQueue {
  #chunks: Uint8Array[] = [];
  #length = 0;

  /**
   * Bytes queued.
   *
   * @example
   * ```ts
   * import { ChunkQueue } from "./chunk_queue.ts";
   * if (new ChunkQueue().length !== 0) throw new Error("Not empty");
   * ```
   */
  get length(): number {
    return this.#length;
  }

  /**
   * Bytes in the first chunk (0 when empty): what can be taken without a copy.
   *
   * @example
   * ```ts
   * import { ChunkQueue } from "./chunk_queue.ts";
   * const queue = new ChunkQueue();
   * queue.push(new Uint8Array(5));
   * queue.push(new Uint8Array(2));
   * if (queue.firstChunkLength !== 5) throw new Error("Bad first chunk");
   * ```
   */
  get firstChunkLength(): number {
    return this.#chunks[0]?.length ?? 0;
  }

  /**
   * Queue `chunk` (kept by reference; an empty chunk is ignored).
   *
   * @example
   * ```ts
   * import { ChunkQueue } from "./chunk_queue.ts";
   * const queue = new ChunkQueue();
   * queue.push(new Uint8Array(0));
   * if (queue.firstChunkLength !== 0) throw new Error("Empty chunk kept");
   * ```
   */
  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    this.#chunks.push(chunk);
    this.#length += chunk.length;
  }

  /**
   * The first `n` bytes without taking them.
   *
   * @throws {RangeError} when fewer than `n` bytes are queued.
   *
   * @example
   * ```ts
   * import { ChunkQueue } from "./chunk_queue.ts";
   * const queue = new ChunkQueue();
   * queue.push(new Uint8Array([0, 0]));
   * queue.push(new Uint8Array([0, 9]));
   * if (queue.peek(4).toHex() !== "00000009" || queue.length !== 4) throw new Error("Bad peek");
   * ```
   */
  peek(n: number): Uint8Array {
    this.#check(n);
    const first = this.#chunks[0];
    if (first === undefined) return new Uint8Array(0);
    if (first.length >= n) return first.subarray(0, n);
    const out = new Uint8Array(n);
    let offset = 0;
    for (const chunk of this.#chunks) {
      const count = Math.min(chunk.length, n - offset);
      out.set(chunk.subarray(0, count), offset);
      offset += count;
      if (offset === n) break;
    }
    return out;
  }

  /**
   * Take exactly `n` bytes from the front.
   *
   * @throws {RangeError} when fewer than `n` bytes are queued.
   *
   * @example
   * ```ts
   * import { ChunkQueue } from "./chunk_queue.ts";
   * const queue = new ChunkQueue();
   * queue.push(new Uint8Array([1, 2, 3]));
   * if (queue.take(2).toHex() !== "0102" || queue.take(1).toHex() !== "03") throw new Error("Bad");
   * ```
   */
  take(n: number): Uint8Array {
    this.#check(n);
    this.#length -= n;
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

  /**
   * Drop everything queued.
   *
   * @example
   * ```ts
   * import { ChunkQueue } from "./chunk_queue.ts";
   * const queue = new ChunkQueue();
   * queue.push(new Uint8Array(3));
   * queue.clear();
   * if (queue.length !== 0) throw new Error("Not cleared");
   * ```
   */
  clear(): void {
    this.#chunks = [];
    this.#length = 0;
  }

  #check(n: number): void {
    if (n > this.#length) throw new RangeError(`Cannot take ${n} bytes, ${this.#length} queued`);
  }
}
