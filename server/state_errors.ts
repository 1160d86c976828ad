/**
 * The error every service store throws when the state it keeps elsewhere (Redis, with
 * `server.ts --redis`) cannot be reached. Services answer it with their "try again later" reply
 * and keep running; the in-memory stores never throw it.
 *
 * @module
 */

/**
 * Shared state is unreachable for now: the request should be retried later.
 *
 * @example
 * ```ts
 * import { StateUnavailableError } from "./state_errors.ts";
 * const error = new StateUnavailableError("Redis is down", { cause: new Error("ECONNREFUSED") });
 * if (!(error instanceof StateUnavailableError) || error.name !== "StateUnavailableError") {
 *   throw new Error("Bad error");
 * }
 * ```
 */
export class StateUnavailableError extends Error {
  /**
   * Make the error.
   *
   * @example
   * ```ts
   * import { StateUnavailableError } from "./state_errors.ts";
   * if (new StateUnavailableError().message === "") throw new Error("No message");
   * ```
   */
  constructor(message = "Shared state is unavailable; try again later", options?: ErrorOptions) {
    super(message, options);
    this.name = "StateUnavailableError";
  }
}
