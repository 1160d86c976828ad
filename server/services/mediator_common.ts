/**
 * What both mediator modes share: their settings, bounded waits, and a byte source that first
 * replays the bytes read to tell the modes apart.
 *
 * @module
 */

import { deadline } from "../../async/deadline.ts";
import type { ByteReader } from "../../framing/chunk_source.ts";
import type { RateLimiter } from "../limits.ts";
import type { Logger } from "../logger.ts";
import type { Counters } from "../stats.ts";

/** Everything a mediator mode's connection handler needs besides the connection. */
export interface MediatorRuntime {
  /** Where events go. */
  readonly logger: Logger;
  /** Counters (`mediator_p2psc`, `mediator_native` by event). */
  readonly counters: Counters;
  /** Per-client request limit shared with the other services; a registration costs 1. */
  readonly rateLimiter: RateLimiter;
  /** Longest wait for any one message from a client, in ms. */
  readonly stepTimeoutMs: number;
  /** Longest wait of a registration for its peer, in ms. */
  readonly waitTimeoutMs: number;
  /** Longest wait for the second peer to take its pairing (p2psc: to close), in ms. */
  readonly handoffTimeoutMs: number;
  /** How long a paired native peer's connection may stay open (while it punches), in ms. */
  readonly lingerMs: number;
  /** Largest message accepted, in bytes. */
  readonly maxMessageBytes: number;
}

/** The outcome of {@linkcode within}: the value, or why there is none. */
export type Within<T> = { ok: true; value: T } | { ok: false; why: "timeout" | "shutdown" };

/**
 * Wait for `promise` at most `ms` milliseconds and until `signal` aborts. Rejections pass
 * through.
 *
 * @example
 * ```ts
 * import { within } from "./mediator_common.ts";
 * const result = await within(new Promise(() => {}), 5, new AbortController().signal);
 * if (result.ok || result.why !== "timeout") throw new Error("Expected a timeout");
 * ```
 */
export async function within<T>(
  promise: Promise<T>,
  ms: number,
  signal: AbortSignal,
): Promise<Within<T>> {
  try {
    return { ok: true, value: await deadline(promise, ms, { signal }) };
  } catch (error) {
    if (signal.aborted) return { ok: false, why: "shutdown" };
    if ((error as Error)?.name === "DeadlineError") return { ok: false, why: "timeout" };
    throw error;
  }
}

/**
 * A {@linkcode ByteReader} that hands out `head` first, then reads from `source`.
 *
 * @example
 * ```ts
 * import { PrimedReader } from "./mediator_common.ts";
 * const reader = new PrimedReader(new Uint8Array([1, 2, 3]), { read: () => Promise.resolve(null) });
 * const buf = new Uint8Array(2);
 * if ((await reader.read(buf)) !== 2 || (await reader.read(buf)) !== 1) throw new Error("Bad reads");
 * if ((await reader.read(buf)) !== null) throw new Error("Expected the end");
 * ```
 */
export class PrimedReader implements ByteReader {
  #head: Uint8Array;
  #source: ByteReader;

  /**
   * Replay `head`, then read `source`.
   *
   * @example
   * ```ts
   * import { PrimedReader } from "./mediator_common.ts";
   * new PrimedReader(new Uint8Array(0), { read: () => Promise.resolve(null) });
   * ```
   */
  constructor(head: Uint8Array, source: ByteReader) {
    this.#head = head;
    this.#source = source;
  }

  /**
   * Read into `p`.
   *
   * @example
   * ```ts
   * import { PrimedReader } from "./mediator_common.ts";
   * const reader = new PrimedReader(new Uint8Array([7]), { read: () => Promise.resolve(null) });
   * const buf = new Uint8Array(4);
   * if ((await reader.read(buf)) !== 1 || buf[0] !== 7) throw new Error("Bad read");
   * ```
   */
  read(p: Uint8Array): Promise<number | null> {
    if (this.#head.length === 0) return this.#source.read(p);
    const n = Math.min(p.length, this.#head.length);
    p.set(this.#head.subarray(0, n));
    this.#head = this.#head.subarray(n);
    return Promise.resolve(n);
  }
}

/**
 * A short, stable name for a key in logs: the first 16 hex digits of its fingerprint.
 *
 * @example
 * ```ts
 * import { logKey } from "./mediator_common.ts";
 * if (logKey("0123456789abcdef0123") !== "0123456789abcdef") throw new Error("Bad name");
 * ```
 */
export function logKey(fingerprint: string): string {
  return fingerprint.slice(0, 16);
}

/** One read of a client's next message: a message, the end of the stream, or what went wrong. */
export type ReadResult<M> = { kind: "msg"; msg: M } | { kind: "end" } | {
  kind: "error";
  error: unknown;
};

/** Reads that can be started early and taken later (see {@linkcode messageReads}). */
export interface MessageReads<M> {
  /** Start reading the next message (once) and return its result. */
  readNext(): Promise<ReadResult<M>>;
  /** Take the next message's result; the read after it starts fresh. */
  take(): Promise<ReadResult<M>>;
}

/**
 * Read one message at a time from a connection, decoded, never throwing: a read can start early
 * (to notice a client that leaves while the mediator waits for its peer) and be taken later.
 *
 * @example
 * ```ts
 * import { messageReads } from "./mediator_common.ts";
 * const frames = [new Uint8Array([1]), null];
 * const reads = messageReads(() => Promise.resolve(frames.shift() ?? null), (b) => b[0]);
 * const first = await reads.take();
 * if (first.kind !== "msg" || first.msg !== 1) throw new Error("Bad message");
 * if ((await reads.take()).kind !== "end") throw new Error("Expected the end");
 * ```
 */
export function messageReads<M>(
  read: () => Promise<Uint8Array | null>,
  decode: (bytes: Uint8Array) => M,
): MessageReads<M> {
  let pending: Promise<ReadResult<M>> | null = null;
  const readNext = (): Promise<ReadResult<M>> => {
    pending ??= read().then(
      (bytes): ReadResult<M> => {
        if (bytes === null) return { kind: "end" };
        try {
          return { kind: "msg", msg: decode(bytes) };
        } catch (error) {
          return { kind: "error", error };
        }
      },
      (error): ReadResult<M> => ({ kind: "error", error }),
    );
    return pending;
  };
  const take = (): Promise<ReadResult<M>> => {
    const p = readNext();
    pending = null;
    return p;
  };
  return { readNext, take };
}
