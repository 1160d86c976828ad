/**
 * The byte-stream shapes the secure layer works over and hands back.
 *
 * A {@linkcode Duplex} is anything with a readable and a writable byte stream: a `Deno.Conn`,
 * a node:net socket adapter, or {@linkcode duplexPair} from `./duplex_pair.ts` in tests. A
 * {@linkcode SecureConnection} is what a finished handshake returns: the same shape, plaintext
 * in and out, plus {@linkcode SecureConnection.close}.
 *
 * @example A Deno.Conn is a Duplex
 * ```ts
 * import type { Duplex } from "./duplex.ts";
 * const accepts = (_: Duplex): boolean => true;
 * const conn = { readable: new ReadableStream<Uint8Array>(), writable: new WritableStream<Uint8Array>() };
 * if (!accepts(conn)) throw new Error("Unreachable");
 * ```
 *
 * @module
 */

import type { Duplex } from "../net/duplex.ts";

export type { Duplex };

/**
 * An authenticated, encrypted connection. Both streams apply backpressure: a writer's `ready`
 * stays pending while the peer is not reading.
 */
export interface SecureConnection extends Duplex {
  /** Plaintext from the peer; ends when the peer closes its writable. */
  readonly readable: ReadableStream<Uint8Array>;
  /** Plaintext to the peer; closing it ends this direction only (where the mode allows). */
  readonly writable: WritableStream<Uint8Array>;
  /**
   * The deterministic role both peers agree on: `"A"` for the peer whose handshake message is
   * lexicographically smaller, `"B"` for the other. Use it to break ties, e.g. to pick one of
   * several connections.
   */
  readonly role: "A" | "B";
  /** `role === "A"`. */
  readonly isInitiator: boolean;
  /** Tear the connection down in both directions at once; pending data may be lost. */
  close(): Promise<void>;
  /** Same as {@linkcode close}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void>;
}
