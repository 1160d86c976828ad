/**
 * The byte-stream shape every peerlink layer passes around: a web `ReadableStream` and
 * `WritableStream` of bytes (a `Deno.Conn` has this shape too).
 *
 * @module
 */

/** A two-way byte stream. */
export interface Duplex {
  /** Bytes from the other side. */
  readonly readable: ReadableStream<Uint8Array>;
  /** Bytes to the other side; closing it half-closes the connection. */
  readonly writable: WritableStream<Uint8Array>;
}
