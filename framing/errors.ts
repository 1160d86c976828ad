/**
 * Errors raised by the framing layer.
 *
 * @module
 */

/** A frame's length prefix claims more bytes than the reader allows. */
export class FrameTooLargeError extends Error {
  /** The length the prefix claimed. */
  readonly length: number;
  /** The largest length the reader accepts. */
  readonly max: number;
  /**
   * Make the error.
   *
   * @example
   * ```ts
   * import { FrameTooLargeError } from "./errors.ts";
   * const error = new FrameTooLargeError(70000, 65536);
   * if (error.length !== 70000) throw new Error("Bad length");
   * ```
   */
  constructor(length: number, max: number) {
    super(`Frame of ${length} bytes exceeds the maximum of ${max} bytes`);
    this.name = "FrameTooLargeError";
    this.length = length;
    this.max = max;
  }
}

/** The stream ended in the middle of a frame. */
export class TruncatedFrameError extends Error {
  /**
   * Make the error.
   *
   * @example
   * ```ts
   * import { TruncatedFrameError } from "./errors.ts";
   * const error = new TruncatedFrameError(3);
   * if (!error.message.includes("3")) throw new Error("Bad message");
   * ```
   */
  constructor(buffered: number) {
    super(`Stream ended in the middle of a frame (${buffered} bytes buffered)`);
    this.name = "TruncatedFrameError";
  }
}
