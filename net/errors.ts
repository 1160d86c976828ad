/**
 * Errors raised when opening connections.
 *
 * @module
 */

/** A TCP (or TLS) connection could not be opened. */
export class ConnectError extends Error {
  /** `host:port` that was dialled. */
  readonly target: string;
  /**
   * Make the error.
   *
   * @example
   * ```ts
   * import { ConnectError } from "./errors.ts";
   * const error = new ConnectError("127.0.0.1:1", "refused");
   * if (!error.message.includes("127.0.0.1:1")) throw new Error("Target missing");
   * ```
   */
  constructor(target: string, reason: string, options?: ErrorOptions) {
    super(`Cannot connect to ${target}: ${reason}`, options);
    this.name = "ConnectError";
    this.target = target;
  }
}
