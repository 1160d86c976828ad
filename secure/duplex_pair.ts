/**
 * An in-memory socket pair for tests and benchmarks: what one end writes, the other reads.
 *
 * Each direction behaves like a TCP connection with a send buffer: a write is accepted while
 * fewer than `capacity` bytes wait unread, otherwise it waits (backpressure). Written chunks can
 * be split so readers see arbitrary fragmentation. Closing a writable is a half-close (the peer
 * reads to the end, the other direction keeps working); aborting it makes the peer's reads fail
 * with `Deno.errors.ConnectionReset` once the bytes already sent are read; cancelling a readable makes the peer's writes fail with
 * `Deno.errors.BrokenPipe`. Chunks are passed by reference, not copied.
 *
 * @example
 * ```ts
 * import { duplexPair } from "./duplex_pair.ts";
 * const [a, b] = duplexPair({ chunkSize: 2 });
 * const writer = a.writable.getWriter();
 * await writer.write(new Uint8Array([1, 2, 3]));
 * await writer.close();
 * const chunks = await Array.fromAsync(b.readable);
 * if (chunks.map((c) => c.join()).join("|") !== "1,2|3") throw new Error("Bad split");
 * ```
 *
 * @module
 */

import type { Duplex } from "./duplex.ts";

/** Options for {@linkcode duplexPair}. */
export interface DuplexPairOptions {
  /** The largest chunk a reader receives; larger writes are split. @default {Infinity} */
  chunkSize?: number;
  /**
   * Split each write at pseudo-random points (pieces of 1 to `chunkSize` bytes), seeded by this
   * number so failures reproduce. @default {undefined} (split only at `chunkSize`)
   */
  randomSplitSeed?: number;
  /** Bytes that may wait unread in one direction before writes wait. @default {65536} */
  capacity?: number;
}

/**
 * Make two connected {@linkcode Duplex} ends.
 *
 * @throws {RangeError} when `chunkSize` or `capacity` is not a positive number.
 *
 * @example Backpressure: the second write waits until the reader reads
 * ```ts
 * import { duplexPair } from "./duplex_pair.ts";
 * const [a, b] = duplexPair({ capacity: 4 });
 * const writer = a.writable.getWriter();
 * await writer.write(new Uint8Array(8));
 * let second = false;
 * const pending = writer.write(new Uint8Array(8)).then(() => (second = true));
 * await new Promise((resolve) => setTimeout(resolve, 10));
 * if (second) throw new Error("Write should wait");
 * const reader = b.readable.getReader();
 * await reader.read();
 * await pending;
 * ```
 */
export function duplexPair(options: DuplexPairOptions = {}): [Duplex, Duplex] {
  const { chunkSize = Infinity, capacity = 65536, randomSplitSeed } = options;
  if (!(chunkSize >= 1)) {
    throw new RangeError(`Cannot make a duplex pair: chunkSize is ${chunkSize}, it must be >= 1`);
  }
  if (!(capacity >= 1)) {
    throw new RangeError(`Cannot make a duplex pair: capacity is ${capacity}, it must be >= 1`);
  }
  const split = splitter(chunkSize, randomSplitSeed);
  const ab = pipe(capacity, split);
  const ba = pipe(capacity, split);
  return [
    { readable: ba.readable, writable: ab.writable },
    { readable: ab.readable, writable: ba.writable },
  ];
}

type Split = (chunk: Uint8Array) => Uint8Array[];

function splitter(chunkSize: number, seed: number | undefined): Split {
  let state = seed === undefined ? 0 : (seed >>> 0) || 0x9e3779b9;
  const next = (): number => {
    // xorshift32: reproducible fragmentation, not for cryptography.
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return state >>> 0;
  };
  return (chunk) => {
    const pieces: Uint8Array[] = [];
    for (let offset = 0; offset < chunk.length;) {
      const max = Math.min(chunkSize, chunk.length - offset);
      const size = seed === undefined ? max : 1 + (next() % max);
      pieces.push(chunk.subarray(offset, offset + size));
      offset += size;
    }
    return pieces;
  };
}

function pipe(capacity: number, split: Split): Duplex {
  const chunks: Uint8Array[] = [];
  let bytes = 0;
  let ended = false;
  let reset = false;
  let cancelled = false;
  let wakeReader: (() => void) | undefined;
  let wakeWriter: (() => void) | undefined;
  const notifyReader = (): void => {
    wakeReader?.();
    wakeReader = undefined;
  };
  const notifyWriter = (): void => {
    wakeWriter?.();
    wakeWriter = undefined;
  };
  const readable = new ReadableStream<Uint8Array>({
    async pull(controller) {
      while (chunks.length === 0 && !ended && !reset) {
        await new Promise<void>((resolve) => (wakeReader = resolve));
      }
      const chunk = chunks.shift();
      if (chunk !== undefined) {
        bytes -= chunk.length;
        controller.enqueue(chunk);
        notifyWriter();
      } else if (reset) {
        controller.error(new Deno.errors.ConnectionReset("Connection reset by peer"));
      } else {
        controller.close();
      }
    },
    cancel() {
      cancelled = true;
      chunks.length = 0;
      bytes = 0;
      notifyWriter();
    },
  }, { highWaterMark: 0 });
  const writable = new WritableStream<Uint8Array>({
    async write(chunk) {
      while (bytes >= capacity && !cancelled) {
        await new Promise<void>((resolve) => (wakeWriter = resolve));
      }
      if (cancelled) throw new Deno.errors.BrokenPipe("Broken pipe: the peer stopped reading");
      if (chunk.length === 0) return;
      for (const piece of split(chunk)) chunks.push(piece);
      bytes += chunk.length;
      notifyReader();
    },
    close() {
      ended = true;
      notifyReader();
    },
    abort() {
      reset = true;
      notifyReader();
    },
  });
  return { readable, writable };
}
