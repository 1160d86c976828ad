/**
 * Errors raised by the secure layer. Each class sets `name`, keeps the underlying failure in
 * `cause` and has a message that tells the user what to do.
 *
 * - Handshake failures: {@linkcode HandshakeError}, and its subclass {@linkcode WrongCodeError}
 *   when the peer proved it holds a different code.
 * - SPAKE2 message problems: {@linkcode Spake2Error}.
 * - Encrypted stream failures: {@linkcode TamperedStreamError}, {@linkcode TruncatedStreamError},
 *   {@linkcode ChunkTooLargeError} and {@linkcode NonceExhaustedError}.
 * - gday file offer/response codec problems: {@linkcode GdayMessageError}.
 *
 * @example Tell a wrong code apart from other handshake failures
 * ```ts
 * import { HandshakeError, WrongCodeError } from "./errors.ts";
 * const error: Error = new WrongCodeError();
 * if (!(error instanceof HandshakeError)) throw new Error("Expected a handshake error");
 * if (error.name !== "WrongCodeError") throw new Error("Bad name");
 * ```
 *
 * @module
 */

/** The secure handshake failed: the peer misbehaved, went away, or it took too long. */
export class HandshakeError extends Error {
  /**
   * Make a handshake error.
   *
   * @example
   * ```ts
   * import { HandshakeError } from "./errors.ts";
   * const error = new HandshakeError("Handshake failed", { cause: new Error("EOF") });
   * if (error.name !== "HandshakeError" || !(error.cause instanceof Error)) {
   *   throw new Error("Bad error");
   * }
   * ```
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "HandshakeError";
  }
}

/**
 * The peer completed the key exchange but proved a different code: either the user typed the
 * code wrong or someone in the middle guessed. Both peers see this error.
 */
export class WrongCodeError extends HandshakeError {
  /**
   * Make a wrong-code error.
   *
   * @example
   * ```ts
   * import { WrongCodeError } from "./errors.ts";
   * const error = new WrongCodeError();
   * if (!error.message.startsWith("Wrong code")) throw new Error("Bad message");
   * ```
   */
  constructor(options?: ErrorOptions) {
    super("Wrong code: the peer used a different code; check it and try again", options);
    this.name = "WrongCodeError";
  }
}

/** Why a SPAKE2 message was rejected. */
export type Spake2ErrorReason =
  | "length"
  | "side"
  | "point"
  | "small-order"
  | "reflected"
  | "identity-key"
  | "finished";

/** A SPAKE2 message from the peer is malformed or unsafe to use. */
export class Spake2Error extends Error {
  /** What was wrong with the message. */
  readonly reason: Spake2ErrorReason;
  /**
   * Make a SPAKE2 error.
   *
   * @example
   * ```ts
   * import { Spake2Error } from "./errors.ts";
   * const error = new Spake2Error("side", "Unexpected side byte");
   * if (error.reason !== "side" || error.name !== "Spake2Error") throw new Error("Bad error");
   * ```
   */
  constructor(reason: Spake2ErrorReason, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "Spake2Error";
    this.reason = reason;
  }
}

/** An encrypted chunk failed authentication: the data was changed on the way. */
export class TamperedStreamError extends Error {
  /** The index of the chunk that failed (0 for the first chunk in this direction). */
  readonly chunk: number;
  /**
   * Make a tampered-stream error.
   *
   * @example
   * ```ts
   * import { TamperedStreamError } from "./errors.ts";
   * const error = new TamperedStreamError(3);
   * if (error.chunk !== 3 || !error.message.includes("chunk 3")) throw new Error("Bad error");
   * ```
   */
  constructor(chunk: number, options?: ErrorOptions) {
    super(
      `Decryption failed at chunk ${chunk}: the data was modified in transit; ` +
        "discard what was received and reconnect",
      options,
    );
    this.name = "TamperedStreamError";
    this.chunk = chunk;
  }
}

/** The encrypted stream ended before its authenticated end, so data may be missing. */
export class TruncatedStreamError extends Error {
  /**
   * Make a truncated-stream error.
   *
   * @example
   * ```ts
   * import { TruncatedStreamError } from "./errors.ts";
   * const error = new TruncatedStreamError("The connection closed mid-chunk");
   * if (error.name !== "TruncatedStreamError") throw new Error("Bad name");
   * ```
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "TruncatedStreamError";
  }
}

/** A chunk's length prefix claims more (or fewer) bytes than the protocol allows. */
export class ChunkTooLargeError extends Error {
  /** The length the prefix claimed, in bytes. */
  readonly length: number;
  /** The largest length allowed, in bytes. */
  readonly max: number;
  /**
   * Make a chunk-too-large error.
   *
   * @example
   * ```ts
   * import { ChunkTooLargeError } from "./errors.ts";
   * const error = new ChunkTooLargeError(1 << 30, 65552);
   * if (error.length !== 1 << 30 || error.max !== 65552) throw new Error("Bad error");
   * ```
   */
  constructor(length: number, max: number, options?: ErrorOptions) {
    super(
      `Encrypted chunk of ${length} bytes exceeds the maximum of ${max} bytes: ` +
        "the peer is not speaking this protocol; reconnect",
      options,
    );
    this.name = "ChunkTooLargeError";
    this.length = length;
    this.max = max;
  }
}

/** The per-direction chunk counter reached its limit; reusing a nonce is never allowed. */
export class NonceExhaustedError extends Error {
  /**
   * Make a nonce-exhausted error.
   *
   * @example
   * ```ts
   * import { NonceExhaustedError } from "./errors.ts";
   * if (new NonceExhaustedError().name !== "NonceExhaustedError") throw new Error("Bad name");
   * ```
   */
  constructor(options?: ErrorOptions) {
    super(
      "Too many chunks on this connection: the nonce counter is exhausted; open a new connection",
      options,
    );
    this.name = "NonceExhaustedError";
  }
}

/** A gday file offer or response message (gday spec §7) is malformed or incomplete. */
export class GdayMessageError extends Error {
  /**
   * Make a gday message error.
   *
   * @example
   * ```ts
   * import { GdayMessageError } from "./errors.ts";
   * if (new GdayMessageError("Bad offer").name !== "GdayMessageError") throw new Error("Bad name");
   * ```
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "GdayMessageError";
  }
}
