/**
 * Internal: turn whatever a transfer step threw into a typed transfer error, and pick the
 * reason code the native protocol reports to the peer.
 *
 * @module
 */

import { FrameTooLargeError, TruncatedFrameError } from "../framing/errors.ts";
import {
  ConnectionLostError,
  FileConflictError,
  HashMismatchError,
  TransferError,
  type TransferFailureReason,
  TransferProtocolError,
  UnsafePathError,
} from "./errors.ts";
import type { StreamReader } from "./_reader.ts";

/**
 * Hand the connection back once a transfer is over: release both ends when it went well (the
 * caller may use the connection again), abort both when it failed (the peer sees the end).
 */
export async function releaseConnection(
  writer: WritableStreamDefaultWriter<Uint8Array>,
  reader: StreamReader,
  ok: boolean,
): Promise<void> {
  if (ok) {
    writer.releaseLock();
    reader.releaseLock();
    return;
  }
  const reason = new DOMException("The transfer failed", "AbortError");
  await writer.abort(reason).catch(() => {});
  await reader.cancel(reason);
}

/** Format a byte count for messages: `1.5 MB`. */
export function formatBytes(n: number): string {
  if (n < 1000) return `${n} B`;
  const units = ["kB", "MB", "GB", "TB", "PB"];
  let value = n;
  let unit = "B";
  for (const u of units) {
    if (value < 1000) break;
    value /= 1000;
    unit = u;
  }
  return `${
    value < 10 ? value.toFixed(2) : value < 100 ? value.toFixed(1) : value.toFixed(0)
  } ${unit}`;
}

/**
 * The error to report for `error`, thrown while `doing` something. The caller's abort reason
 * and the idle timeout pass through; frame errors become protocol errors; stream failures
 * become {@linkcode ConnectionLostError}.
 */
export function toTransferError(
  error: unknown,
  doing: string,
  callerSignal: AbortSignal | undefined,
  signal: AbortSignal,
): unknown {
  if (callerSignal?.aborted) return callerSignal.reason;
  if (signal.aborted && signal.reason instanceof TransferError) return signal.reason;
  if (error instanceof TransferError) return error;
  if (error instanceof FrameTooLargeError) {
    return new TransferProtocolError(
      `The peer sent a control message of ${error.length} bytes, more than the ${error.max} ` +
        "allowed; it may run an incompatible version",
      { cause: error },
    );
  }
  if (error instanceof TruncatedFrameError) {
    return new ConnectionLostError(
      `The connection ended in the middle of a message while ${doing}`,
      { cause: error },
    );
  }
  if (error instanceof Deno.errors.NotFound || error instanceof Deno.errors.PermissionDenied) {
    return error;
  }
  const why = error instanceof Error ? error.message : String(error);
  return new ConnectionLostError(`The connection failed while ${doing}: ${why}`, { cause: error });
}

/** The native protocol reason code for a failure on this side. */
export function reasonOf(
  error: unknown,
  callerSignal: AbortSignal | undefined,
): TransferFailureReason {
  if (callerSignal?.aborted) return "cancelled";
  if (error instanceof HashMismatchError) return "hash-mismatch";
  if (error instanceof FileConflictError) return "conflict";
  if (error instanceof UnsafePathError) return "unsafe-path";
  if (error instanceof TransferProtocolError) return "protocol";
  return "io";
}
