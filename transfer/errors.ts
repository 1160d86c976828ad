/**
 * Errors of file transfer. Each class sets `name`, keeps the underlying failure in `cause`, and
 * has a message that tells the user what to do.
 *
 * - {@linkcode TransferError}: the base class of every error below.
 * - {@linkcode UnsafePathError}: a file name is unsafe (from the peer) or cannot be sent.
 * - {@linkcode TransferProtocolError}: the peer sent something that breaks the protocol.
 * - {@linkcode FileConflictError}: files already exist at the receiver (no `--force`).
 * - {@linkcode HashMismatchError}: a received file's SHA-256 differs from the offer.
 * - {@linkcode ConnectionLostError}: the connection failed or ended mid-transfer.
 * - {@linkcode PeerTransferError}: the peer refused the transfer or reported a failure.
 * - {@linkcode SourceChangedError}: a file being sent changed or vanished since it was hashed.
 * - {@linkcode TransferTimeoutError}: nothing moved for too long.
 *
 * @example Tell the error kinds apart
 * ```ts
 * import { FileConflictError, TransferError } from "./errors.ts";
 * const error: Error = new FileConflictError(["a.txt"]);
 * if (!(error instanceof TransferError) || error.name !== "FileConflictError") {
 *   throw new Error("Bad error");
 * }
 * ```
 *
 * @module
 */

/** Base class of every file-transfer error. */
export class TransferError extends Error {
  /**
   * Make the error.
   *
   * @example
   * ```ts
   * import { TransferError } from "./errors.ts";
   * if (new TransferError("x").name !== "TransferError") throw new Error("Bad name");
   * ```
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "TransferError";
  }
}

/** A file name is unsafe to write (it came from the peer) or cannot be offered. */
export class UnsafePathError extends TransferError {
  /** The offending path, as given. */
  readonly path: string;
  /**
   * Make the error; `why` says what is wrong with `path`.
   *
   * @example
   * ```ts
   * import { UnsafePathError } from "./errors.ts";
   * const error = new UnsafePathError("../x", "it has a '..' segment");
   * if (!error.message.includes("'..'")) throw new Error(error.message);
   * ```
   */
  constructor(path: string, why: string, options?: ErrorOptions) {
    super(`Unsafe file name ${JSON.stringify(path)}: ${why}`, options);
    this.name = "UnsafePathError";
    this.path = path;
  }
}

/** The peer sent something the transfer protocol does not allow. */
export class TransferProtocolError extends TransferError {
  /**
   * Make the error.
   *
   * @example
   * ```ts
   * import { TransferProtocolError } from "./errors.ts";
   * if (new TransferProtocolError("x").name !== "TransferProtocolError") throw new Error("Bad");
   * ```
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "TransferProtocolError";
  }
}

/** Files exist at the receiver and overwriting was not allowed. */
export class FileConflictError extends TransferError {
  /** The conflicting paths (relative to the destination directory). */
  readonly paths: readonly string[];
  /**
   * Make the error.
   *
   * @example
   * ```ts
   * import { FileConflictError } from "./errors.ts";
   * const error = new FileConflictError(["a.txt", "b.txt"]);
   * if (!error.message.includes("--force")) throw new Error(error.message);
   * ```
   */
  constructor(paths: readonly string[], options?: ErrorOptions) {
    const shown = paths.slice(0, 3).map((p) => JSON.stringify(p)).join(", ");
    const more = paths.length > 3 ? ` and ${paths.length - 3} more` : "";
    super(
      `${paths.length === 1 ? "A file" : `${paths.length} files`} already exist${
        paths.length === 1 ? "s" : ""
      } in the destination (${shown}${more}): nothing was written; use --force to overwrite ` +
        "or --out DIR to receive elsewhere",
      options,
    );
    this.name = "FileConflictError";
    this.paths = paths;
  }
}

/** A received file's SHA-256 does not match what the sender offered. */
export class HashMismatchError extends TransferError {
  /** The file's path (relative). */
  readonly path: string;
  /** The SHA-256 the sender offered (hex). */
  readonly expected: string;
  /** The SHA-256 of what arrived (hex). */
  readonly actual: string;
  /** Where the received bytes were kept (the temporary name). */
  readonly partPath: string;
  /**
   * Make the error.
   *
   * @example
   * ```ts
   * import { HashMismatchError } from "./errors.ts";
   * const error = new HashMismatchError("a.txt", "00", "11", ".a.txt.peerlink-00000000.part");
   * if (error.partPath === "" || !error.message.includes("a.txt")) throw new Error("Bad");
   * ```
   */
  constructor(
    path: string,
    expected: string,
    actual: string,
    partPath: string,
    options?: ErrorOptions,
  ) {
    super(
      `${JSON.stringify(path)} arrived with SHA-256 ${actual.slice(0, 16)}…, but the sender ` +
        `offered ${expected.slice(0, 16)}…: the file changed while it was sent, or the data was ` +
        `damaged. It was not saved; the bytes are kept in ${partPath}. Send it again`,
      options,
    );
    this.name = "HashMismatchError";
    this.path = path;
    this.expected = expected;
    this.actual = actual;
    this.partPath = partPath;
  }
}

/** The connection failed or ended before the transfer finished. */
export class ConnectionLostError extends TransferError {
  /**
   * Make the error.
   *
   * @example
   * ```ts
   * import { ConnectionLostError } from "./errors.ts";
   * const error = new ConnectionLostError("Lost", { cause: new Error("reset") });
   * if (error.name !== "ConnectionLostError") throw new Error("Bad name");
   * ```
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ConnectionLostError";
  }
}

/** Why a peer refused a transfer or reported a failure (native protocol `reason`). */
export type TransferFailureReason =
  | "version"
  | "conflict"
  | "unsafe-path"
  | "too-large"
  | "hash-mismatch"
  | "protocol"
  | "io"
  | "cancelled";

/** The peer refused the transfer or reported that it failed on its side. */
export class PeerTransferError extends TransferError {
  /** The peer's reason code. */
  readonly reason: string;
  /** The peer's own message. */
  readonly peerMessage: string;
  /**
   * Make the error from the peer's `reason` and `message`.
   *
   * @example
   * ```ts
   * import { PeerTransferError } from "./errors.ts";
   * const error = new PeerTransferError("conflict", "a.txt exists");
   * if (error.reason !== "conflict" || !error.message.includes("a.txt exists")) throw new Error();
   * ```
   */
  constructor(reason: string, peerMessage: string, options?: ErrorOptions) {
    super(`The peer stopped the transfer (${reason}): ${peerMessage}`, options);
    this.name = "PeerTransferError";
    this.reason = reason;
    this.peerMessage = peerMessage;
  }
}

/** A file being sent changed size or vanished after it was hashed. */
export class SourceChangedError extends TransferError {
  /**
   * Make the error.
   *
   * @example
   * ```ts
   * import { SourceChangedError } from "./errors.ts";
   * if (new SourceChangedError("x").name !== "SourceChangedError") throw new Error("Bad");
   * ```
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "SourceChangedError";
  }
}

/** Nothing was read or written for longer than the idle timeout. */
export class TransferTimeoutError extends TransferError {
  /**
   * Make the error.
   *
   * @example
   * ```ts
   * import { TransferTimeoutError } from "./errors.ts";
   * if (!new TransferTimeoutError(5000).message.includes("5 s")) throw new Error("Bad");
   * ```
   */
  constructor(idleMs: number, options?: ErrorOptions) {
    super(
      `Nothing moved for ${Math.round(idleMs / 100) / 10} s: the peer or the network stalled; ` +
        "run the transfer again (it resumes)",
      options,
    );
    this.name = "TransferTimeoutError";
  }
}
