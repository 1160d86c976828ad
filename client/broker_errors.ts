/**
 * Errors of the broker client (`client/broker.ts`): one class per thing a user can act on, all
 * {@linkcode BrokerError}s with the protocol's error code in `code`.
 *
 * @module
 */

import type { BrokerErrorCode } from "../protocol/broker.ts";

/** What a {@linkcode BrokerError} is about: a protocol error code, or a client-side failure. */
export type BrokerErrorKind = BrokerErrorCode | "unreachable" | "protocol" | "closed" | "peer";

/** Base class of every broker client error. */
export class BrokerError extends Error {
  /** What went wrong, as a stable code. */
  readonly code: BrokerErrorKind;
  /**
   * Make the error.
   *
   * @example
   * ```ts
   * import { BrokerError } from "./broker_errors.ts";
   * const error = new BrokerError("closed", "The broker closed the connection");
   * if (error.name !== "BrokerError" || error.code !== "closed") throw new Error("Bad error");
   * ```
   */
  constructor(code: BrokerErrorKind, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "BrokerError";
    this.code = code;
  }
}

/** No connection to the broker could be opened. */
export class BrokerUnreachableError extends BrokerError {
  /**
   * Make the error.
   *
   * @example
   * ```ts
   * import { BrokerUnreachableError } from "./broker_errors.ts";
   * if (!new BrokerUnreachableError("h:2314").message.includes("h:2314")) throw new Error("No address");
   * ```
   */
  constructor(server: string, options?: ErrorOptions) {
    super(
      "unreachable",
      `Cannot reach the broker at ${server}: check the address and port, and that the server ` +
        "runs with --broker-port",
      options,
    );
    this.name = "BrokerUnreachableError";
  }
}

/** No receiver is registered under the UID dialled (`unknown_uid`). */
export class UnknownUidError extends BrokerError {
  /** The UID dialled. */
  readonly uid: string;
  /**
   * Make the error.
   *
   * @example
   * ```ts
   * import { UnknownUidError } from "./broker_errors.ts";
   * if (!new UnknownUidError("alice").message.includes('"alice"')) throw new Error("No UID");
   * ```
   */
  constructor(uid: string, options?: ErrorOptions) {
    super(
      "unknown_uid",
      `No receiver is registered as "${uid}" on this broker: check the name, and that the ` +
        "receiver is running",
      options,
    );
    this.name = "UnknownUidError";
    this.uid = uid;
  }
}

/** The receiver cannot take another connection now (`busy`). */
export class ReceiverBusyError extends BrokerError {
  /**
   * Make the error.
   *
   * @example
   * ```ts
   * import { ReceiverBusyError } from "./broker_errors.ts";
   * if (new ReceiverBusyError("alice").code !== "busy") throw new Error("Bad code");
   * ```
   */
  constructor(uid: string, options?: ErrorOptions) {
    super(
      "busy",
      `The receiver "${uid}" is busy setting up other connections; try again in a moment`,
      options,
    );
    this.name = "ReceiverBusyError";
  }
}

/** The receiver went away while the connection was being set up (`receiver_gone`). */
export class ReceiverGoneError extends BrokerError {
  /**
   * Make the error.
   *
   * @example
   * ```ts
   * import { ReceiverGoneError } from "./broker_errors.ts";
   * if (new ReceiverGoneError("alice").code !== "receiver_gone") throw new Error("Bad code");
   * ```
   */
  constructor(uid: string, options?: ErrorOptions) {
    super(
      "receiver_gone",
      `The receiver "${uid}" went away while the connection was being set up; try again when ` +
        "it is back",
      options,
    );
    this.name = "ReceiverGoneError";
  }
}

/** The sender went away while the connection was being set up (`sender_gone`, receiver side). */
export class SenderGoneError extends BrokerError {
  /**
   * Make the error.
   *
   * @example
   * ```ts
   * import { SenderGoneError } from "./broker_errors.ts";
   * if (new SenderGoneError(7).code !== "sender_gone") throw new Error("Bad code");
   * ```
   */
  constructor(req: number, options?: ErrorOptions) {
    super(
      "sender_gone",
      `The sender of request ${req} went away before the connection was set up`,
      options,
    );
    this.name = "SenderGoneError";
  }
}

/** A step of the twelve-step flow did not happen in time (`timeout`). */
export class BrokerStepTimeoutError extends BrokerError {
  /** The step that timed out, when known (1–12), else `null`. */
  readonly step: number | null;
  /**
   * Make the error.
   *
   * @example
   * ```ts
   * import { BrokerStepTimeoutError } from "./broker_errors.ts";
   * const error = new BrokerStepTimeoutError(3, "the receiver did not answer");
   * if (error.step !== 3 || !error.message.includes("step 3")) throw new Error("Bad error");
   * ```
   */
  constructor(step: number | null, detail: string, options?: ErrorOptions) {
    super(
      "timeout",
      `Connection setup timed out${step === null ? "" : ` at step ${step}`}: ${detail}`,
      options,
    );
    this.name = "BrokerStepTimeoutError";
    this.step = step;
  }
}

/** The UID is registered by another receiver and the secret does not match (`uid_held`). */
export class UidHeldError extends BrokerError {
  /**
   * Make the error.
   *
   * @example
   * ```ts
   * import { UidHeldError } from "./broker_errors.ts";
   * if (!new UidHeldError("alice").message.includes("secret")) throw new Error("No hint");
   * ```
   */
  constructor(uid: string, options?: ErrorOptions) {
    super(
      "uid_held",
      `The name "${uid}" is registered by another receiver: pick another name, or give the ` +
        "secret it was registered with",
      options,
    );
    this.name = "UidHeldError";
  }
}

/** Another receiver registered this UID with its secret (`replaced`). */
export class UidReplacedError extends BrokerError {
  /**
   * Make the error.
   *
   * @example
   * ```ts
   * import { UidReplacedError } from "./broker_errors.ts";
   * if (new UidReplacedError("alice").code !== "replaced") throw new Error("Bad code");
   * ```
   */
  constructor(uid: string, options?: ErrorOptions) {
    super(
      "replaced",
      `Another receiver registered "${uid}" with its secret; this one is no longer reachable`,
      options,
    );
    this.name = "UidReplacedError";
  }
}

/** The broker speaks another protocol version (`version`). */
export class BrokerVersionMismatchError extends BrokerError {
  /**
   * Make the error.
   *
   * @example
   * ```ts
   * import { BrokerVersionMismatchError } from "./broker_errors.ts";
   * if (!new BrokerVersionMismatchError(2).message.includes("version 2")) throw new Error("No version");
   * ```
   */
  constructor(version: number | null, options?: ErrorOptions) {
    super(
      "version",
      `The broker speaks ${
        version === null ? "another broker protocol version" : `broker protocol version ${version}`
      }, this peerlink speaks 1: run the same peerlink version on both sides`,
      options,
    );
    this.name = "BrokerVersionMismatchError";
  }
}

/** The broker refused for another reason, or broke the protocol, or closed unexpectedly. */
export class BrokerRefusedError extends BrokerError {
  /**
   * Make the error.
   *
   * @example
   * ```ts
   * import { BrokerRefusedError } from "./broker_errors.ts";
   * if (new BrokerRefusedError("limit", "Full").code !== "limit") throw new Error("Bad code");
   * ```
   */
  constructor(code: BrokerErrorKind, message: string, options?: ErrorOptions) {
    super(code, message, options);
    this.name = "BrokerRefusedError";
  }
}
