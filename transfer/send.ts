/**
 * The sending side of a transfer: offer files, read the receiver's answer, stream the wanted
 * bytes with backpressure, and (native mode) wait for the receiver's confirmation that every
 * file was verified and saved. The protocols are specified in `./mod.ts`.
 *
 * @example Send one file over an in-memory secure pipe
 * ```ts
 * import { duplexPair, handshake } from "../secure/mod.ts";
 * import { prepareFiles, receiveFiles, sendFiles } from "./mod.ts";
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/hello.txt`, "hello");
 * const { files } = await prepareFiles([`${dir}/hello.txt`]);
 * const [left, right] = duplexPair();
 * const code = new TextEncoder().encode("42");
 * const [a, b] = await Promise.all([handshake(left, code), handshake(right, code)]);
 * const [sent] = await Promise.all([sendFiles(a, files), receiveFiles(b, { dir: `${dir}/out` })]);
 * if (!sent.confirmed || (await Deno.readTextFile(`${dir}/out/hello.txt`)) !== "hello") throw new Error("Not sent");
 * await Promise.all([a.close(), b.close()]);
 * await Deno.remove(dir, { recursive: true });
 * ```
 *
 * @module
 */

import { abortable } from "../async/abortable.ts";
import { decodeGdayResponse, encodeGdayOffer, MAX_GDAY_OFFER_BYTES } from "../secure/gday_offer.ts";
import { GdayMessageError } from "../secure/errors.ts";
import { StreamReader } from "./_reader.ts";
import { formatBytes, releaseConnection, toTransferError } from "./_failure.ts";
import { IdleWatchdog } from "./_watchdog.ts";
import type { TransferConnection, TransferMode } from "./connection.ts";
import {
  ConnectionLostError,
  PeerTransferError,
  SourceChangedError,
  TransferProtocolError,
} from "./errors.ts";
import {
  decodeTransferMessage,
  encodeTransferMessage,
  MAX_CONTROL_BYTES,
  MAX_FINAL_BYTES,
  TRANSFER_PROTOCOL_VERSION,
  type TransferMessage,
} from "./messages.ts";
import { type FileStatus, ProgressTracker, type TransferEvent } from "./progress.ts";
import type { SourceFile } from "./source.ts";

/** Options for {@linkcode sendFiles}. */
export interface SendOptions {
  /** The protocol. @default {conn.mode, else "native"} */
  mode?: TransferMode;
  /** Cancels the transfer (the connection is torn down). */
  signal?: AbortSignal;
  /** Told about progress. */
  onEvent?: (event: TransferEvent) => void;
  /** Fail when nothing is read or written for this long. @default {120000} */
  idleTimeoutMs?: number;
  /** Least time between two `progress` events. @default {100} */
  progressIntervalMs?: number;
}

/** How one file went, on the sending side. */
export interface SentFile {
  /** Its transfer path. */
  path: string;
  /** Its size. */
  size: number;
  /** Its SHA-256 (hex), when hashed. */
  sha256: string | null;
  /** `sent`, `skipped` (the receiver declined it) or `present` (the receiver had it). */
  status: Exclude<FileStatus, "received">;
  /** The first byte sent (more than 0 when the receiver resumed). */
  offset: number;
}

/** The outcome of {@linkcode sendFiles}. */
export interface SendResult {
  /** The protocol used. */
  mode: TransferMode;
  /** One entry per offered file, in offer order. */
  files: SentFile[];
  /** Bytes sent in this session. */
  bytes: number;
  /** Seconds from the offer to the end. */
  seconds: number;
  /**
   * Whether the receiver confirmed that every accepted file was verified and saved (native
   * mode). gday 0.1.1 has no confirmation: `false` there.
   */
  confirmed: boolean;
}

/** Bytes read from a file and written at a time. */
const SEND_CHUNK_BYTES = 256 * 1024;

/** After a write fails, how long to wait for the receiver's explanation. */
const EXPLAIN_GRACE_MS = 2000;

type Answer = { offset: number } | "skip" | "have";

function checkOffset(offset: bigint, file: SourceFile, i: number): number {
  if (offset > BigInt(file.size)) {
    throw new TransferProtocolError(
      `The receiver asked for file ${i} from byte ${offset}, beyond its size ${file.size}`,
    );
  }
  return Number(offset);
}

function nativeAnswers(message: TransferMessage, files: readonly SourceFile[]): Answer[] {
  if (message.type === "reject") throw new PeerTransferError(message.reason, message.message);
  if (message.type !== "response") {
    throw new TransferProtocolError(`The receiver sent "${message.type}" instead of a response`);
  }
  if (message.files.length !== files.length) {
    throw new TransferProtocolError(
      `The receiver answered for ${message.files.length} files, but ${files.length} were offered`,
    );
  }
  return message.files.map((answer, i) =>
    answer.action === "send" ? { offset: checkOffset(answer.offset, files[i]!, i) } : answer.action
  );
}

function gdayAnswers(frame: Uint8Array, files: readonly SourceFile[]): Answer[] {
  let response;
  try {
    [response] = decodeGdayResponse(frame);
  } catch (error) {
    if (error instanceof GdayMessageError) {
      throw new TransferProtocolError(`The receiver sent an invalid response: ${error.message}`, {
        cause: error,
      });
    }
    throw error;
  }
  if (response.response.length !== files.length) {
    throw new TransferProtocolError(
      `The receiver answered for ${response.response.length} files, but ${files.length} were offered`,
    );
  }
  return response.response.map((offset, i) =>
    offset === null ? "skip" : { offset: checkOffset(offset, files[i]!, i) }
  );
}

/** Read exactly `[offset, size)` of `file` and write it; resolves with the bytes written. */
async function streamFile(
  file: SourceFile,
  offset: number,
  writer: WritableStreamDefaultWriter<Uint8Array>,
  signal: AbortSignal,
  onBytes: (n: number) => void,
): Promise<void> {
  let handle: Deno.FsFile;
  try {
    handle = await Deno.open(file.localPath, { read: true });
  } catch (error) {
    throw new SourceChangedError(
      `Cannot read ${JSON.stringify(file.localPath)} any more: ${(error as Error).message}`,
      { cause: error },
    );
  }
  using _ = handle;
  if (offset > 0) await handle.seek(offset, Deno.SeekMode.Start);
  let left = file.size - offset;
  while (left > 0) {
    const buffer = new Uint8Array(Math.min(SEND_CHUNK_BYTES, left));
    const n = await abortable(handle.read(buffer), signal);
    if (n === null) {
      throw new SourceChangedError(
        `${JSON.stringify(file.localPath)} became shorter while it was sent (${
          formatBytes(file.size - left)
        } of ${formatBytes(file.size)}); send it again`,
      );
    }
    await abortable(writer.write(buffer.subarray(0, n)), signal);
    left -= n;
    onBytes(n);
  }
}

/** Wait up to `ms` for `promise`; `undefined` when it did not settle in time or failed. */
async function within<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise.catch(() => undefined),
      new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), ms))),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Send `files` (from `prepareFiles`; native mode needs their SHA-256) to a peer running
 * `receiveFiles` on the other end of `conn`. Resolves once the receiver confirmed (native) or
 * once every byte was handed to the connection (gday). On failure the connection's streams are
 * aborted; close the connection either way.
 *
 * @throws {PeerTransferError} when the receiver refuses (e.g. files exist there) or reports a
 *   failure (e.g. a hash mismatch).
 * @throws {ConnectionLostError} when the connection fails or ends early.
 * @throws {SourceChangedError} when a file shrank or vanished since it was hashed.
 * @throws {TransferProtocolError} when the receiver breaks the protocol.
 * @throws {TransferTimeoutError} when nothing moves for `idleTimeoutMs`.
 * @throws {TypeError} in native mode when a file has no `sha256`.
 *
 * @example
 * ```ts ignore
 * const { files } = await prepareFiles(["photos/"]);
 * await using conn = await connectPeer({ server: "example.org", onCode: console.log });
 * const result = await sendFiles(conn, files, { onEvent: console.log });
 * console.log(result.confirmed);
 * ```
 */
export async function sendFiles(
  conn: TransferConnection,
  files: readonly SourceFile[],
  options: SendOptions = {},
): Promise<SendResult> {
  const mode = options.mode ?? conn.mode ?? "native";
  if (mode === "native") {
    const unhashed = files.find((f) => f.sha256 === undefined);
    if (unhashed) {
      throw new TypeError(
        `${unhashed.path} has no SHA-256: prepare files with hashing for native mode`,
      );
    }
  }
  const { onEvent } = options;
  const started = performance.now();
  using watchdog = new IdleWatchdog(options.idleTimeoutMs ?? 120_000, options.signal);
  const signal = watchdog.signal;
  const writer = conn.writable.getWriter();
  const reader = new StreamReader(conn.readable);
  let doing = "sending the offer";
  let final: Promise<TransferMessage | null> | undefined;
  let ok = false;
  let sent = 0;
  const results: SentFile[] = files.map((f) => ({
    path: f.path,
    size: f.size,
    sha256: f.sha256 ?? null,
    status: "sent",
    offset: 0,
  }));
  try {
    signal.throwIfAborted();
    const offer = mode === "native"
      ? encodeTransferMessage({
        type: "offer",
        version: TRANSFER_PROTOCOL_VERSION,
        files: files.map((f) => ({
          path: f.path,
          size: BigInt(f.size),
          sha256: f.sha256!,
          ...(f.mode === undefined ? {} : { mode: f.mode }),
          ...(f.mtime === undefined ? {} : { mtime: f.mtime }),
        })),
      })
      : encodeGdayOffer({ files: files.map((f) => ({ shortPath: f.path, len: BigInt(f.size) })) });
    await abortable(writer.write(offer), signal);
    watchdog.touch();

    doing = "waiting for the receiver's answer";
    const frame = await reader.readFrame(
      mode === "native" ? MAX_CONTROL_BYTES : MAX_GDAY_OFFER_BYTES,
      signal,
    );
    watchdog.touch();
    if (frame === null) {
      throw new ConnectionLostError(
        "The receiver closed the connection without answering the offer",
      );
    }
    const answers = mode === "native"
      ? nativeAnswers(decodeTransferMessage(frame)[0], files)
      : gdayAnswers(frame, files);

    let total = 0;
    let resumed = 0;
    let transfers = 0;
    answers.forEach((answer, index) => {
      const file = files[index]!;
      if (typeof answer === "object") {
        transfers++;
        total += file.size;
        resumed += answer.offset;
        results[index]!.offset = answer.offset;
        return;
      }
      results[index]!.status = answer === "have" ? "present" : "skipped";
      onEvent?.({
        kind: "file-done",
        index,
        path: file.path,
        status: results[index]!.status,
        size: file.size,
        offset: 0,
        sha256: file.sha256 ?? null,
      });
    });
    onEvent?.({ kind: "plan", files: files.length, transfers, resumed, total });

    // Native: the receiver's last word may come early (an error); stop sending when it does.
    const stop = new AbortController();
    const sendSignal = AbortSignal.any([signal, stop.signal]);
    if (mode === "native") {
      final = reader.readFrame(MAX_FINAL_BYTES, signal).then((bytes) =>
        bytes === null ? null : decodeTransferMessage(bytes, 0, MAX_FINAL_BYTES)[0]
      );
      final.then(
        () => stop.abort(new TransferProtocolError("The receiver spoke before the data ended")),
        (error) => stop.abort(error),
      );
    }

    const tracker = new ProgressTracker(total, { intervalMs: options.progressIntervalMs });
    for (let index = 0; index < files.length; index++) {
      const answer = answers[index]!;
      if (typeof answer !== "object") continue;
      const file = files[index]!;
      doing = `sending ${JSON.stringify(file.path)}`;
      onEvent?.({
        kind: "file-start",
        index,
        path: file.path,
        size: file.size,
        offset: answer.offset,
      });
      tracker.startFile(file.size, answer.offset);
      const report = (): void =>
        onEvent?.({
          kind: "progress",
          index,
          path: file.path,
          file: tracker.file(),
          overall: tracker.overall(),
        });
      await streamFile(file, answer.offset, writer, sendSignal, (n) => {
        sent += n;
        watchdog.touch();
        if (tracker.advance(n)) report();
      });
      report();
      onEvent?.({
        kind: "file-done",
        index,
        path: file.path,
        status: "sent",
        size: file.size,
        offset: answer.offset,
        sha256: file.sha256 ?? null,
      });
    }
    doing = "finishing";
    try {
      await abortable(writer.close(), sendSignal);
    } catch (error) {
      // gday: the receiver may drop the connection as soon as it has every byte (it sends no
      // acknowledgement), so a failing close after the last write is not a failure there.
      if (mode === "native" || sendSignal.aborted) throw error;
    }
    watchdog.touch();

    let confirmed = false;
    if (final !== undefined) {
      doing = "waiting for the receiver to verify the files";
      const last = await final;
      if (last === null) {
        throw new ConnectionLostError(
          "The receiver closed the connection without confirming the files: they may not " +
            "have been saved; send again (the receiver resumes)",
        );
      }
      if (last.type === "error") throw new PeerTransferError(last.reason, last.message);
      if (last.type !== "done") {
        throw new TransferProtocolError(`The receiver sent "${last.type}" instead of "done"`);
      }
      confirmed = true;
      // Read the receiver's end of stream, so both directions end cleanly.
      await reader.atEnd(signal).catch(() => true);
    }
    ok = true;
    return {
      mode,
      files: results,
      bytes: sent,
      seconds: (performance.now() - started) / 1000,
      confirmed,
    };
  } catch (error) {
    // The receiver may have said why before the connection broke.
    if (final !== undefined && !(error instanceof PeerTransferError)) {
      const last = await within(final, EXPLAIN_GRACE_MS);
      if (last?.type === "error") {
        throw new PeerTransferError(last.reason, last.message, { cause: error });
      }
    }
    const mapped = toTransferError(error, doing, options.signal, signal);
    if (mapped instanceof ConnectionLostError && sent > 0) {
      mapped.message += ` (after ${formatBytes(sent)} sent)`;
    }
    throw mapped;
  } finally {
    await releaseConnection(writer, reader, ok);
    final?.catch(() => {});
  }
}
