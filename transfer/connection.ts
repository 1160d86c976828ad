/**
 * What a transfer runs over: any duplex of byte streams, such as a `PeerConnection` from
 * `connectPeer` or a `SecureConnection` from a handshake, plus the protocol to speak on it.
 *
 * @example A PeerConnection is a TransferConnection
 * ```ts
 * import type { TransferConnection } from "./connection.ts";
 * const conn: TransferConnection = {
 *   readable: new ReadableStream<Uint8Array>(),
 *   writable: new WritableStream<Uint8Array>(),
 *   mode: "gday",
 * };
 * if (conn.mode !== "gday") throw new Error("Unreachable");
 * ```
 *
 * @module
 */

/**
 * The transfer protocol: peerlink's own (`"native"`, needs half-close and end-of-stream
 * authentication, i.e. the native secure mode) or gday 0.1.1's (`"gday"`).
 */
export type TransferMode = "native" | "gday";

/** A connection to transfer files over. */
export interface TransferConnection {
  /** Bytes from the peer. */
  readonly readable: ReadableStream<Uint8Array>;
  /** Bytes to the peer; closing it ends this direction. */
  readonly writable: WritableStream<Uint8Array>;
  /** The secure mode of the connection; picks the transfer protocol unless one is given. */
  readonly mode?: TransferMode;
}
