/**
 * Errors of hole punching.
 *
 * @module
 */

/** No direct connection could be made (and authenticated) before the deadline. */
export class NoDirectPathError extends Error {
  /** Connection attempts made. */
  readonly attempts: number;
  /** Connections that formed but failed authentication. */
  readonly authFailures: number;
  /**
   * Make the error.
   *
   * @example
   * ```ts
   * import { NoDirectPathError } from "./errors.ts";
   * const error = new NoDirectPathError("TCP", 10000, 50, 0);
   * if (!error.message.includes("No direct TCP path")) throw new Error(error.message);
   * ```
   */
  constructor(
    transport: string,
    timeoutMs: number,
    attempts: number,
    authFailures: number,
    options?: ErrorOptions,
  ) {
    super(
      `No direct ${transport} path to the peer within ${Math.round(timeoutMs / 100) / 10} s ` +
        `(${attempts} attempts): both sides may be behind NATs that change ports per destination ` +
        `(symmetric NAT) or block incoming connections; a relay is needed`,
      options,
    );
    this.name = "NoDirectPathError";
    this.attempts = attempts;
    this.authFailures = authFailures;
  }
}

/** Nothing to punch: the peer reported no address of a family this side has. */
export class NoCandidatesError extends Error {
  /**
   * Make the error.
   *
   * @example
   * ```ts
   * import { NoCandidatesError } from "./errors.ts";
   * if (new NoCandidatesError().name !== "NoCandidatesError") throw new Error("Bad name");
   * ```
   */
  constructor(options?: ErrorOptions) {
    super(
      "The peer has no address this side can reach (no common IP family): nothing to punch",
      options,
    );
    this.name = "NoCandidatesError";
  }
}
