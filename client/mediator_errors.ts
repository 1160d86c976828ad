/**
 * Errors of the mediator client (`./mediator.ts`). Each sets `name`, keeps the underlying
 * failure in `cause`, and says what to do. All are {@linkcode MediatorError}s except those of
 * the later steps (punching: `NoDirectPathError`; the pipe: `HandshakeError` and subclasses).
 *
 * @module
 */

import type { MediatorErrorCode } from "../protocol/mediator.ts";

/** Something went wrong between this peer and the mediator. */
export class MediatorError extends Error {
  /**
   * Make the error.
   *
   * @example
   * ```ts
   * import { MediatorError } from "./mediator_errors.ts";
   * if (new MediatorError("Bad").name !== "MediatorError") throw new Error("Bad name");
   * ```
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "MediatorError";
  }
}

/** The mediator could not be reached. */
export class MediatorUnreachableError extends MediatorError {
  /**
   * Make the error.
   *
   * @example
   * ```ts
   * import { MediatorUnreachableError } from "./mediator_errors.ts";
   * if (!new MediatorUnreachableError("m:2312").message.includes("m:2312")) throw new Error("No address");
   * ```
   */
  constructor(where: string, options?: ErrorOptions) {
    super(
      `Cannot reach the mediator at ${where}: check the address and that it runs ` +
        "(server.ts --mediator-port)",
      options,
    );
    this.name = "MediatorUnreachableError";
  }
}

/** The mediator refused the registration or ended it (its `error` message). */
export class MediatorRefusedError extends MediatorError {
  /** The mediator's error code. */
  readonly code: MediatorErrorCode;
  /**
   * Make the error.
   *
   * @example
   * ```ts
   * import { MediatorRefusedError } from "./mediator_errors.ts";
   * const error = new MediatorRefusedError("busy", "The mediator is full");
   * if (error.code !== "busy" || !error.message.includes("full")) throw new Error(error.message);
   * ```
   */
  constructor(code: MediatorErrorCode, message: string, options?: ErrorOptions) {
    super(`The mediator refused: ${message}`, options);
    this.name = "MediatorRefusedError";
    this.code = code;
  }
}

/** The peer never registered with the mediator in time. */
export class PeerNeverCameError extends MediatorRefusedError {
  /**
   * Make the error.
   *
   * @example
   * ```ts
   * import { MediatorRefusedError, PeerNeverCameError } from "./mediator_errors.ts";
   * const error = new PeerNeverCameError("pk1abc", "pk1def", 120);
   * if (!(error instanceof MediatorRefusedError) || !error.message.includes("pk1abc")) throw new Error(error.message);
   * ```
   */
  constructor(peer: string, own: string, seconds: number, options?: ErrorOptions) {
    super("timeout", "the peer did not come", options);
    this.message = `Your peer ${peer} did not register with the mediator within ${seconds} s; ` +
      `ask them to run "client.ts pair --peer ${own}" with the same mediator, then try again`;
    this.name = "PeerNeverCameError";
  }
}

/** The mediator broke the protocol or the connection to it failed. */
export class MediatorConnectionError extends MediatorError {
  /**
   * Make the error.
   *
   * @example
   * ```ts
   * import { MediatorConnectionError } from "./mediator_errors.ts";
   * if (new MediatorConnectionError("Lost").name !== "MediatorConnectionError") throw new Error("Bad name");
   * ```
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "MediatorConnectionError";
  }
}

/** The mediator is not the one expected (pinned key), or its proof does not verify. */
export class MediatorIdentityError extends MediatorError {
  /**
   * Make the error.
   *
   * @example
   * ```ts
   * import { MediatorIdentityError } from "./mediator_errors.ts";
   * if (new MediatorIdentityError("Other key").name !== "MediatorIdentityError") throw new Error("Bad name");
   * ```
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "MediatorIdentityError";
  }
}
