/**
 * Errors of the contact-exchange client, one class per thing a user can act on.
 *
 * @module
 */

/** Base class of every contact-exchange error. */
export class ExchangeError extends Error {
  /**
   * Make the error.
   *
   * @example
   * ```ts
   * import { ExchangeError } from "./errors.ts";
   * if (new ExchangeError("x").name !== "ExchangeError") throw new Error("Bad name");
   * ```
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ExchangeError";
  }
}

/** No connection to the server could be opened. */
export class ServerUnreachableError extends ExchangeError {
  /**
   * Make the error.
   *
   * @example
   * ```ts
   * import { ServerUnreachableError } from "./errors.ts";
   * if (!new ServerUnreachableError("h:1").message.includes("h:1")) throw new Error("No server");
   * ```
   */
  constructor(server: string, options?: ErrorOptions) {
    super(
      `Cannot reach the server at ${server}: check the address and port, and that the server is running`,
      options,
    );
    this.name = "ServerUnreachableError";
  }
}

/** The room code is in use (`ErrorRoomTaken`). */
export class RoomTakenError extends ExchangeError {
  /**
   * Make the error.
   *
   * @example
   * ```ts
   * import { RoomTakenError } from "./errors.ts";
   * if (new RoomTakenError().name !== "RoomTakenError") throw new Error("Bad name");
   * ```
   */
  constructor(options?: ErrorOptions) {
    super(
      "That room code is already in use: pick another code, or leave it out to get a random one",
      options,
    );
    this.name = "RoomTakenError";
  }
}

/** No room has this code (`ErrorNoSuchRoomID`): never created, expired, or already used. */
export class NoSuchRoomError extends ExchangeError {
  /**
   * Make the error.
   *
   * @example
   * ```ts
   * import { NoSuchRoomError } from "./errors.ts";
   * if (new NoSuchRoomError().name !== "NoSuchRoomError") throw new Error("Bad name");
   * ```
   */
  constructor(options?: ErrorOptions) {
    super(
      "No room has that code: check the code, and ask the other person to create the room again if it expired",
      options,
    );
    this.name = "NoSuchRoomError";
  }
}

/** The peer did not finish in time or left (`ErrorPeerTimedOut`). */
export class PeerTimedOutError extends ExchangeError {
  /**
   * Make the error.
   *
   * @example
   * ```ts
   * import { PeerTimedOutError } from "./errors.ts";
   * if (new PeerTimedOutError().name !== "PeerTimedOutError") throw new Error("Bad name");
   * ```
   */
  constructor(
    message = "The other peer left or did not join in time: start again with a new room",
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = "PeerTimedOutError";
  }
}

/** The server refused because of its limits (`ErrorTooManyRequests`). */
export class RateLimitedError extends ExchangeError {
  /**
   * Make the error.
   *
   * @example
   * ```ts
   * import { RateLimitedError } from "./errors.ts";
   * if (new RateLimitedError().name !== "RateLimitedError") throw new Error("Bad name");
   * ```
   */
  constructor(options?: ErrorOptions) {
    super(
      "The server is refusing requests from this address for now (rate limit or capacity): wait a minute and retry",
      options,
    );
    this.name = "RateLimitedError";
  }
}

/** The server answered something unexpected, malformed, or closed the connection. */
export class ServerProtocolError extends ExchangeError {
  /**
   * Make the error.
   *
   * @example
   * ```ts
   * import { ServerProtocolError } from "./errors.ts";
   * if (new ServerProtocolError("Odd").name !== "ServerProtocolError") throw new Error("Bad name");
   * ```
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ServerProtocolError";
  }
}
