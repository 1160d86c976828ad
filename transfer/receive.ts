/**
 * The receiving side of a transfer: read the offer, check every name and the destination,
 * answer (skip, resume offset, or already there), write the bytes to temporary `.part` files,
 * verify each file's SHA-256 (native mode) and only then give it its final name. The protocols
 * are specified in `./mod.ts`.
 *
 * Rules:
 *
 * - Every offered path must pass `sanitizePath`/`checkPathSet`; a folder on the way that is a
 *   symbolic link is never written through, and a file where a folder is needed is a conflict.
 * - An existing file is never replaced unless `conflict` is `"overwrite"` (the CLI's
 *   `--force`); with `"fail"` (the default) the whole transfer is refused before any byte
 *   moves; with `"skip"` those files are left out. In native mode, an existing file with the
 *   offered size and SHA-256 counts as already received (`present`), not as a conflict.
 * - Data goes to `.<name>.peerlink-<key>.part` beside the final name (see `./part_file.ts`); a
 *   later transfer of the same file continues it (see `planResume`). When a transfer fails
 *   (connection lost, hash mismatch, cancelled) the `.part` file stays.
 * - Without `"overwrite"`, the final name is taken with a hard link (which fails if the name
 *   appeared meanwhile), then the `.part` name is removed; with it, by a rename.
 * - The executable bit and the modification time offered by the sender are applied; other
 *   permission bits follow this process's umask.
 *
 * @example Receive over an in-memory secure pipe
 * ```ts
 * import { duplexPair, handshake } from "../secure/mod.ts";
 * import { prepareFiles, receiveFiles, sendFiles } from "./mod.ts";
 * const dir = await Deno.makeTempDir();
 * await Deno.mkdir(`${dir}/src/sub`, { recursive: true });
 * await Deno.writeTextFile(`${dir}/src/sub/a.txt`, "a");
 * const { files } = await prepareFiles([`${dir}/src`]);
 * const [left, right] = duplexPair();
 * const code = new TextEncoder().encode("7");
 * const [a, b] = await Promise.all([handshake(left, code), handshake(right, code)]);
 * const [, got] = await Promise.all([sendFiles(a, files), receiveFiles(b, { dir: `${dir}/out` })]);
 * if (got.files[0]?.localPath !== `${dir}/out/src/sub/a.txt` || !got.files[0].verified) throw new Error("Bad");
 * await Promise.all([a.close(), b.close()]);
 * await Deno.remove(dir, { recursive: true });
 * ```
 *
 * @module
 */

import { createHash, type Hash } from "node:crypto";
import { join } from "node:path";
import { abortable } from "../async/abortable.ts";
import { GdayMessageError } from "../secure/errors.ts";
import { decodeGdayOffer, encodeGdayResponse, MAX_GDAY_OFFER_BYTES } from "../secure/gday_offer.ts";
import { StreamReader } from "./_reader.ts";
import { formatBytes, reasonOf, releaseConnection, toTransferError } from "./_failure.ts";
import { IdleWatchdog } from "./_watchdog.ts";
import type { TransferConnection, TransferMode } from "./connection.ts";
import {
  ConnectionLostError,
  FileConflictError,
  HashMismatchError,
  TransferError,
  TransferProtocolError,
  UnsafePathError,
} from "./errors.ts";
import {
  decodeTransferMessage,
  encodeTransferMessage,
  type FileAnswer,
  MAX_CONTROL_BYTES,
  type OfferedFile,
  TRANSFER_PROTOCOL_VERSION,
} from "./messages.ts";
import { partFileName, partKey, planResume } from "./part_file.ts";
import { checkPathSet, sanitizePath } from "./path.ts";
import { type FileStatus, ProgressTracker, type TransferEvent } from "./progress.ts";

/** What to do with files that already exist at the receiver. */
export type ConflictPolicy = "fail" | "skip" | "overwrite";

/** Options for {@linkcode receiveFiles}. */
export interface ReceiveOptions {
  /** The destination folder (created when the first file arrives). */
  dir: string;
  /** The protocol. @default {conn.mode, else "native"} */
  mode?: TransferMode;
  /** Existing files: refuse the transfer, leave them out, or replace them. @default {"fail"} */
  conflict?: ConflictPolicy;
  /** Cancels the transfer (the connection is torn down; `.part` files stay). */
  signal?: AbortSignal;
  /** Told about progress. */
  onEvent?: (event: TransferEvent) => void;
  /** Fail when nothing is read or written for this long. @default {120000} */
  idleTimeoutMs?: number;
  /** Least time between two `progress` events. @default {100} */
  progressIntervalMs?: number;
}

/** How one file went, on the receiving side. */
export interface ReceivedFile {
  /** Its transfer path. */
  path: string;
  /** Its final path on this machine. */
  localPath: string;
  /** Its size. */
  size: number;
  /** The SHA-256 of what was saved (hex); the offered one for `present`; `null` for `skipped`. */
  sha256: string | null;
  /** `received`, `skipped` or `present` (already there, identical). */
  status: Exclude<FileStatus, "sent">;
  /** The first byte received in this session (more than 0 when resumed). */
  offset: number;
  /**
   * Whether the SHA-256 was checked against the sender's (native mode). gday 0.1.1 sends no
   * hashes, so only the length is checked there.
   */
  verified: boolean;
}

/** The outcome of {@linkcode receiveFiles}. */
export interface ReceiveResult {
  /** The protocol used. */
  mode: TransferMode;
  /** The destination folder. */
  dir: string;
  /** One entry per offered file, in offer order. */
  files: ReceivedFile[];
  /** Bytes received in this session. */
  bytes: number;
  /** Seconds from the offer to the end. */
  seconds: number;
}

/** Most bytes taken from the connection per file write. */
const WRITE_CHUNK_BYTES = 1024 * 1024;

/** After reporting a failure, how long to drain what the sender still sends. */
const DRAIN_MS = 2000;

/** Bytes read at a time when hashing an existing file. */
const HASH_READ_BYTES = 1024 * 1024;

interface Planned {
  index: number;
  file: OfferedFile;
  size: number;
  target: string;
  part: string;
  segments: string[];
  answer: FileAnswer;
  offset: number;
  hash: Hash | undefined;
}

async function lstatOrNull(path: string): Promise<Deno.FileInfo | null> {
  try {
    return await Deno.lstat(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
}

/** Hash the first `length` bytes of a file into `hash`. */
async function hashPrefix(
  path: string,
  length: number,
  hash: Hash,
  signal: AbortSignal,
): Promise<void> {
  using file = await Deno.open(path, { read: true });
  const buffer = new Uint8Array(HASH_READ_BYTES);
  let left = length;
  while (left > 0) {
    signal.throwIfAborted();
    const n = await file.read(buffer.subarray(0, Math.min(left, buffer.length)));
    if (n === null) throw new TransferError(`${path} became shorter while it was read`);
    hash.update(buffer.subarray(0, n));
    left -= n;
  }
}

/** The kind of each folder on the way, cached: `dir`, `missing`, or a problem. */
type DirState = "dir" | "missing" | "symlink" | "file";

async function dirState(path: string, cache: Map<string, DirState>): Promise<DirState> {
  const known = cache.get(path);
  if (known !== undefined) return known;
  const info = await lstatOrNull(path);
  const state: DirState = info === null
    ? "missing"
    : info.isSymlink
    ? "symlink"
    : info.isDirectory
    ? "dir"
    : "file";
  cache.set(path, state);
  return state;
}

/** Create the folders of `segments` under `root`, never through a symbolic link. */
async function ensureDirs(root: string, segments: readonly string[], path: string): Promise<void> {
  await Deno.mkdir(root, { recursive: true });
  let current = root;
  for (const segment of segments) {
    current = join(current, segment);
    try {
      await Deno.mkdir(current);
      continue;
    } catch (error) {
      if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
    }
    const info = await Deno.lstat(current);
    if (info.isSymlink) {
      throw new UnsafePathError(
        path,
        `${current} is a symbolic link; refusing to write through it`,
      );
    }
    if (!info.isDirectory) throw new FileConflictError([path]);
  }
}

async function writeAll(file: Deno.FsFile, bytes: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < bytes.length) offset += await file.write(bytes.subarray(offset));
}

async function finalize(
  part: string,
  target: string,
  path: string,
  overwrite: boolean,
): Promise<void> {
  if (overwrite) {
    await Deno.rename(part, target);
    return;
  }
  try {
    await Deno.link(part, target);
  } catch (error) {
    if (error instanceof Deno.errors.AlreadyExists) throw new FileConflictError([path]);
    // No hard links on this file system: check, then rename (a small race remains).
    if ((await lstatOrNull(target)) !== null) throw new FileConflictError([path]);
    await Deno.rename(part, target);
    return;
  }
  await Deno.remove(part);
}

async function applyMetadata(part: string, file: OfferedFile): Promise<void> {
  if (file.mode !== undefined && (file.mode & 0o111) !== 0) {
    try {
      const mode = (await Deno.stat(part)).mode;
      if (mode !== null) await Deno.chmod(part, (mode & 0o777) | ((mode & 0o444) >> 2));
    } catch { /* no permission bits here (Windows) */ }
  }
  if (file.mtime !== undefined) {
    try {
      await Deno.utime(part, new Date(), new Date(file.mtime));
    } catch { /* keep the arrival time */ }
  }
}

/**
 * Native, after the answer: send an `error` message, end our direction, and read and discard
 * what the sender still sends until it notices (at most `DRAIN_MS`), so the message is not lost
 * to a connection reset.
 */
async function reportFailure(
  writer: WritableStreamDefaultWriter<Uint8Array>,
  reader: StreamReader,
  bytes: Uint8Array,
): Promise<void> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), DRAIN_MS);
  try {
    await abortable(writer.write(bytes), controller.signal);
    await abortable(writer.close(), controller.signal);
    while ((await reader.readSome(WRITE_CHUNK_BYTES, controller.signal)) !== null) { /* drop */ }
  } catch {
    /* gone or timed out */
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Receive files from a peer running `sendFiles` on the other end of `conn`, into
 * `options.dir`. Resolves once every accepted file is verified and saved (and, in native mode,
 * the sender was told). On failure the connection's streams are aborted and `.part` files stay;
 * close the connection either way.
 *
 * @throws {FileConflictError} when files exist and `conflict` is `"fail"` (nothing is written).
 * @throws {UnsafePathError} when the sender offers an unsafe name.
 * @throws {HashMismatchError} when a file's SHA-256 differs from the offer (native mode).
 * @throws {ConnectionLostError} when the connection fails or ends early (or is tampered with).
 * @throws {TransferProtocolError} when the sender breaks the protocol.
 * @throws {TransferTimeoutError} when nothing moves for `idleTimeoutMs`.
 *
 * @example
 * ```ts ignore
 * await using conn = await connectPeer({ server: "example.org", code: "0.3F2A9C.7D2E91B4.5" });
 * const result = await receiveFiles(conn, { dir: "Downloads", onEvent: console.log });
 * console.log(result.files.map((f) => f.localPath));
 * ```
 */
export async function receiveFiles(
  conn: TransferConnection,
  options: ReceiveOptions,
): Promise<ReceiveResult> {
  const mode = options.mode ?? conn.mode ?? "native";
  const conflict = options.conflict ?? "fail";
  const { dir, onEvent } = options;
  if (typeof dir !== "string" || dir === "") throw new TypeError("receiveFiles() needs a dir");
  const native = mode === "native";
  const started = performance.now();
  using watchdog = new IdleWatchdog(options.idleTimeoutMs ?? 120_000, options.signal);
  const signal = watchdog.signal;
  const writer = conn.writable.getWriter();
  const reader = new StreamReader(conn.readable);
  let doing = "waiting for the offer";
  let answered = false;
  let ok = false;
  let received = 0;
  let current: Planned | undefined;
  const results: ReceivedFile[] = [];

  const say = async (bytes: Uint8Array): Promise<void> => {
    await abortable(writer.write(bytes), signal);
    watchdog.touch();
  };
  /** Native: refuse the whole offer (telling the sender `told`), then fail with `error`. */
  const refuse = async (reason: string, error: Error, told = error.message): Promise<never> => {
    if (native) {
      await say(encodeTransferMessage({ type: "reject", reason, message: told })).catch(() => {});
      await writer.close().catch(() => {});
    }
    throw error;
  };

  try {
    const frame = await reader.readFrame(native ? MAX_CONTROL_BYTES : MAX_GDAY_OFFER_BYTES, signal);
    watchdog.touch();
    if (frame === null) {
      throw new ConnectionLostError("The sender closed the connection before offering any files");
    }

    // 1. The offer, every name checked.
    let offered: OfferedFile[];
    try {
      if (native) {
        const [message] = decodeTransferMessage(frame);
        if (message.type !== "offer") {
          throw new TransferProtocolError(`The sender sent "${message.type}" instead of an offer`);
        }
        if (message.version !== TRANSFER_PROTOCOL_VERSION) {
          await refuse(
            "version",
            new TransferProtocolError(
              `The sender speaks transfer protocol version ${message.version}; this receiver ` +
                `speaks version ${TRANSFER_PROTOCOL_VERSION}: update peerlink on both sides`,
            ),
          );
        }
        offered = message.files;
      } else {
        let offer;
        try {
          [offer] = decodeGdayOffer(frame);
        } catch (error) {
          if (!(error instanceof GdayMessageError)) throw error;
          throw new TransferProtocolError(`The sender sent an invalid offer: ${error.message}`, {
            cause: error,
          });
        }
        offered = offer.files.map((f) => ({
          path: sanitizePath(f.shortPath),
          size: f.len,
          sha256: "",
        }));
        checkPathSet(offered.map((f) => f.path));
      }
    } catch (error) {
      if (error instanceof UnsafePathError) await refuse("unsafe-path", error);
      if (error instanceof TransferProtocolError) await refuse("protocol", error);
      throw error;
    }
    const tooLarge = offered.find((f) => f.size > BigInt(Number.MAX_SAFE_INTEGER));
    if (tooLarge) {
      await refuse(
        "too-large",
        new TransferProtocolError(
          `${JSON.stringify(tooLarge.path)} is ${tooLarge.size} bytes, more than this receiver ` +
            "can handle (2^53 - 1)",
        ),
      );
    }

    // 2. The plan: where each file goes, what exists already, where to resume.
    doing = "checking the destination";
    const plan: Planned[] = [];
    const conflicts: string[] = [];
    const dirs = new Map<string, DirState>();
    const rootInfo = await lstatOrNull(dir);
    if (rootInfo !== null && !rootInfo.isDirectory && !(await Deno.stat(dir)).isDirectory) {
      await refuse("io", new TransferError(`The destination ${dir} is not a folder`));
    }
    for (let index = 0; index < offered.length; index++) {
      const file = offered[index]!;
      const size = Number(file.size);
      const segments = file.path.split("/");
      const name = segments[segments.length - 1]!;
      const parent = segments.slice(0, -1);
      const target = join(dir, ...segments);
      const entry: Planned = {
        index,
        file,
        size,
        target,
        part: join(
          dir,
          ...parent,
          partFileName(
            name,
            partKey({
              path: file.path,
              size: file.size,
              sha256: native ? file.sha256 : undefined,
            }),
          ),
        ),
        segments: parent,
        answer: { action: "send", offset: 0n },
        offset: 0,
        hash: undefined,
      };
      plan.push(entry);
      let blocked = false;
      for (let i = 1; i <= parent.length; i++) {
        const state = await dirState(join(dir, ...parent.slice(0, i)), dirs);
        if (state === "missing") break;
        if (state === "symlink") {
          await refuse(
            "unsafe-path",
            new UnsafePathError(
              file.path,
              `${
                parent.slice(0, i).join("/")
              } is a symbolic link at the receiver; refusing to write through it`,
            ),
          );
        }
        if (state === "file") {
          blocked = true;
          break;
        }
      }
      const existing = blocked ? null : await lstatOrNull(target);
      if (blocked || existing?.isDirectory) {
        conflicts.push(file.path);
        continue;
      }
      if (existing !== null) {
        if (native && existing.isFile && existing.size === size) {
          const hash = createHash("sha256");
          await hashPrefix(target, size, hash, signal);
          if (hash.digest("hex") === file.sha256) {
            entry.answer = { action: "have" };
            continue;
          }
        }
        if (conflict === "skip") {
          entry.answer = { action: "skip" };
          continue;
        }
        if (conflict === "fail") {
          conflicts.push(file.path);
          continue;
        }
      }
      const partInfo = await lstatOrNull(entry.part);
      if (partInfo?.isDirectory) {
        await refuse("io", new TransferError(`${entry.part} is a folder; remove it and try again`));
      }
      if (partInfo !== null && !partInfo.isFile) await Deno.remove(entry.part);
      const resume = planResume(partInfo?.isFile ? partInfo.size : null, size, native);
      if (resume.offset > 0) {
        const hash = createHash("sha256");
        await hashPrefix(entry.part, resume.offset, hash, signal);
        if (resume.verify && hash.copy().digest("hex") !== file.sha256) {
          entry.offset = 0;
        } else {
          entry.offset = resume.offset;
          entry.hash = hash;
        }
      }
      entry.answer = { action: "send", offset: BigInt(entry.offset) };
    }
    if (conflicts.length > 0) {
      const error = new FileConflictError(conflicts);
      if (!native) {
        // gday has no refusal: decline every file, so a gday sender ends cleanly.
        await say(encodeGdayResponse({ response: offered.map(() => null) })).catch(() => {});
        await writer.close().catch(() => {});
        throw error;
      }
      const shown = conflicts.slice(0, 3).map((p) => JSON.stringify(p)).join(", ");
      await refuse(
        "conflict",
        error,
        `The receiver already has ${shown}${
          conflicts.length > 3 ? ` and ${conflicts.length - 3} more` : ""
        } and will not overwrite without --force; nothing was sent`,
      );
    }

    // 3. The answer.
    doing = "answering the offer";
    await say(
      native
        ? encodeTransferMessage({ type: "response", files: plan.map((p) => p.answer) })
        : encodeGdayResponse({
          response: plan.map((p) => (p.answer.action === "send" ? BigInt(p.offset) : null)),
        }),
    );
    answered = true;
    let total = 0;
    let resumed = 0;
    let transfers = 0;
    for (const p of plan) {
      const status: ReceivedFile["status"] = p.answer.action === "send"
        ? "received"
        : p.answer.action === "have"
        ? "present"
        : "skipped";
      results.push({
        path: p.file.path,
        localPath: p.target,
        size: p.size,
        sha256: status === "present" ? p.file.sha256 : null,
        status,
        offset: p.offset,
        verified: status === "present",
      });
      if (status === "received") {
        transfers++;
        total += p.size;
        resumed += p.offset;
      } else {
        onEvent?.({
          kind: "file-done",
          index: p.index,
          path: p.file.path,
          status,
          size: p.size,
          offset: 0,
          sha256: results[p.index]!.sha256,
        });
      }
    }
    onEvent?.({ kind: "plan", files: plan.length, transfers, resumed, total });

    // 4. The data, file after file.
    const tracker = new ProgressTracker(total, { intervalMs: options.progressIntervalMs });
    for (const p of plan) {
      if (p.answer.action !== "send") continue;
      current = p;
      const { file, index } = p;
      doing = `receiving ${JSON.stringify(file.path)}`;
      await ensureDirs(dir, p.segments, file.path);
      const hash = p.hash ?? createHash("sha256");
      onEvent?.({ kind: "file-start", index, path: file.path, size: p.size, offset: p.offset });
      tracker.startFile(p.size, p.offset);
      const report = (): void =>
        onEvent?.({
          kind: "progress",
          index,
          path: file.path,
          file: tracker.file(),
          overall: tracker.overall(),
        });
      {
        using handle = await Deno.open(p.part, { write: true, create: true });
        await handle.truncate(p.offset);
        await handle.seek(p.offset, Deno.SeekMode.Start);
        let left = p.size - p.offset;
        while (left > 0) {
          const chunk = await reader.readSome(Math.min(left, WRITE_CHUNK_BYTES), signal);
          if (chunk === null) {
            throw new ConnectionLostError(
              `The sender ended the connection ${formatBytes(p.size - left)} into ` +
                `${JSON.stringify(file.path)} (${formatBytes(p.size)})`,
            );
          }
          await writeAll(handle, chunk);
          hash.update(chunk);
          left -= chunk.length;
          received += chunk.length;
          watchdog.touch();
          if (tracker.advance(chunk.length)) report();
        }
      }
      report();
      const sha256 = hash.digest("hex");
      if (native && sha256 !== file.sha256) {
        throw new HashMismatchError(file.path, file.sha256, sha256, p.part);
      }
      await applyMetadata(p.part, file);
      await finalize(p.part, p.target, file.path, conflict === "overwrite");
      current = undefined;
      results[index]!.sha256 = sha256;
      results[index]!.verified = native;
      onEvent?.({
        kind: "file-done",
        index,
        path: file.path,
        status: "received",
        size: p.size,
        offset: p.offset,
        sha256,
      });
    }

    // 5. The end: nothing may follow the data (native), then confirm.
    doing = "finishing";
    current = undefined;
    try {
      if (native) {
        if (!(await reader.atEnd(signal))) {
          throw new TransferProtocolError("The sender sent more bytes than it offered");
        }
        await say(encodeTransferMessage({ type: "done" }));
      }
      await abortable(writer.close(), signal);
    } catch (error) {
      if (error instanceof TransferProtocolError || options.signal?.aborted) throw error;
      // Every file is verified and saved; a connection that fails now (a gday sender drops it
      // as soon as it has sent everything) only means the sender may not hear "done".
    }
    ok = true;
    return {
      mode,
      dir,
      files: results,
      bytes: received,
      seconds: (performance.now() - started) / 1000,
    };
  } catch (error) {
    let mapped = toTransferError(error, doing, options.signal, signal);
    if (native && answered && !(mapped instanceof ConnectionLostError)) {
      // Tell the sender why, then let it notice before the connection goes.
      const message = mapped instanceof Error ? mapped.message : String(mapped);
      await reportFailure(
        writer,
        reader,
        encodeTransferMessage({ type: "error", reason: reasonOf(mapped, options.signal), message }),
      );
    }
    if (current !== undefined && mapped instanceof ConnectionLostError) {
      mapped = new ConnectionLostError(
        `${mapped.message}. The partial file is kept as ${current.part}; receive again to ` +
          "resume",
        { cause: mapped.cause ?? error },
      );
    }
    throw mapped;
  } finally {
    await releaseConnection(writer, reader, ok);
  }
}
