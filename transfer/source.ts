/**
 * The sender's side of preparing a transfer: turn `FILE|DIR...` arguments into the list of
 * files to offer, each with its transfer path, size, permissions, modification time and
 * SHA-256 (one read of every file, before anything is offered).
 *
 * - A file argument is offered under its own name (`docs/a.txt` → `a.txt`).
 * - A folder argument is offered with its structure under the folder's name
 *   (`~/photos` → `photos/2024/a.jpg`), recursively, in name order. Empty folders are not
 *   offered.
 * - Symbolic links **inside** folders are never followed: they are left out and listed in
 *   `skipped` (so a link cannot pull files from elsewhere into a transfer). A link given as an
 *   argument is followed, since the user named it. Other special files (sockets, FIFOs,
 *   devices) are left out and listed too.
 * - Every transfer path must pass `sanitizePath` (names with backslashes or control
 *   characters cannot be sent) and the set must pass `checkPathSet` (two arguments may not
 *   give the same name).
 *
 * @example
 * ```ts
 * import { prepareFiles } from "./source.ts";
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/a.txt`, "hello");
 * const { files } = await prepareFiles([`${dir}/a.txt`]);
 * if (files[0]?.path !== "a.txt" || files[0].sha256 !== "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824") {
 *   throw new Error(JSON.stringify(files));
 * }
 * await Deno.remove(dir, { recursive: true });
 * ```
 *
 * @module
 */

import { createHash } from "node:crypto";
import { basename, join } from "node:path";
import { TransferError, UnsafePathError } from "./errors.ts";
import { checkPathSet, sanitizePath } from "./path.ts";
import type { TransferEvent } from "./progress.ts";

/** One file to send. */
export interface SourceFile {
  /** The transfer path: relative, `/`-separated. */
  path: string;
  /** Where to read it on this machine. */
  localPath: string;
  /** Size in bytes (as hashed). */
  size: number;
  /** Permission bits, when known. */
  mode?: number;
  /** Modification time in ms since the Unix epoch, when known. */
  mtime?: number;
  /** SHA-256 of the whole file (hex), when hashed. */
  sha256?: string;
}

/** Something left out of a transfer. */
export interface SkippedSource {
  /** Where it is on this machine. */
  localPath: string;
  /** Why it was left out. */
  reason: "symlink" | "special";
}

/** What {@linkcode prepareFiles} found. */
export interface PreparedFiles {
  /** The files to offer, in offer order. */
  files: SourceFile[];
  /** What was left out. */
  skipped: SkippedSource[];
  /** The sum of the files' sizes. */
  totalBytes: number;
}

/** Options for {@linkcode prepareFiles}. */
export interface PrepareOptions {
  /** Hash every file (native mode needs it). @default {true} */
  hash?: boolean;
  /** Cancels the scan and hashing. */
  signal?: AbortSignal;
  /** Told about hashing progress (`hashing` events). */
  onEvent?: (event: TransferEvent) => void;
}

/** Options for {@linkcode hashFile}. */
export interface HashFileOptions {
  /** Cancels the read. */
  signal?: AbortSignal;
  /** Told the number of bytes of each read. */
  onBytes?: (n: number) => void;
}

/** Bytes read at a time when hashing. */
const HASH_READ_BYTES = 1024 * 1024;

/**
 * SHA-256 of a file, read once from start to end; returns the hex digest and the bytes read.
 *
 * @example
 * ```ts
 * import { hashFile } from "./source.ts";
 * const path = await Deno.makeTempFile();
 * const { sha256, size } = await hashFile(path);
 * if (size !== 0 || !sha256.startsWith("e3b0c442")) throw new Error(sha256);
 * await Deno.remove(path);
 * ```
 */
export async function hashFile(
  localPath: string,
  options: HashFileOptions = {},
): Promise<{ sha256: string; size: number }> {
  const hash = createHash("sha256");
  using file = await Deno.open(localPath, { read: true });
  const buffer = new Uint8Array(HASH_READ_BYTES);
  let size = 0;
  for (;;) {
    options.signal?.throwIfAborted();
    const n = await file.read(buffer);
    if (n === null) break;
    hash.update(buffer.subarray(0, n));
    size += n;
    options.onBytes?.(n);
  }
  return { sha256: hash.digest("hex"), size };
}

function transferPath(parts: readonly string[], localPath: string): string {
  const path = parts.join("/");
  try {
    return sanitizePath(path);
  } catch (error) {
    if (!(error instanceof UnsafePathError)) throw error;
    throw new TransferError(
      `Cannot send ${JSON.stringify(localPath)}: ${
        error.message.replace(/^Unsafe file name /, "the name ")
      }; rename it or leave it out`,
      { cause: error },
    );
  }
}

function fileInfo(info: Deno.FileInfo): { mode?: number; mtime?: number } {
  const out: { mode?: number; mtime?: number } = {};
  if (info.mode !== null) out.mode = info.mode & 0o7777;
  if (info.mtime !== null) out.mtime = Math.trunc(info.mtime.getTime());
  return out;
}

async function walk(
  dir: string,
  parts: string[],
  files: SourceFile[],
  skipped: SkippedSource[],
  signal: AbortSignal | undefined,
): Promise<void> {
  const entries: Deno.DirEntry[] = [];
  for await (const entry of Deno.readDir(dir)) entries.push(entry);
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const entry of entries) {
    signal?.throwIfAborted();
    const localPath = join(dir, entry.name);
    if (entry.isSymlink) {
      skipped.push({ localPath, reason: "symlink" });
    } else if (entry.isDirectory) {
      await walk(localPath, [...parts, entry.name], files, skipped, signal);
    } else if (entry.isFile) {
      const info = await Deno.lstat(localPath);
      if (!info.isFile) {
        skipped.push({ localPath, reason: info.isSymlink ? "symlink" : "special" });
        continue;
      }
      files.push({
        path: transferPath([...parts, entry.name], localPath),
        localPath,
        size: info.size,
        ...fileInfo(info),
      });
    } else {
      skipped.push({ localPath, reason: "special" });
    }
  }
}

/**
 * Find the files named by `paths` (files and folders, see the module docs) and hash them.
 *
 * @throws {TransferError} when a path does not exist or cannot be read, a name cannot be sent,
 *   or two files would get the same transfer path.
 *
 * @example A folder keeps its structure; links inside it are left out
 * ```ts
 * import { prepareFiles } from "./source.ts";
 * const dir = await Deno.makeTempDir();
 * await Deno.mkdir(`${dir}/album/2024`, { recursive: true });
 * await Deno.writeTextFile(`${dir}/album/2024/a.txt`, "a");
 * await Deno.symlink("/etc/hostname", `${dir}/album/link`);
 * const { files, skipped } = await prepareFiles([`${dir}/album`], { hash: false });
 * if (files.map((f) => f.path).join() !== "album/2024/a.txt") throw new Error("Bad paths");
 * if (skipped[0]?.reason !== "symlink") throw new Error("Link not skipped");
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function prepareFiles(
  paths: readonly string[],
  options: PrepareOptions = {},
): Promise<PreparedFiles> {
  const { hash = true, signal, onEvent } = options;
  const files: SourceFile[] = [];
  const skipped: SkippedSource[] = [];
  for (const given of paths) {
    signal?.throwIfAborted();
    let real: string;
    let info: Deno.FileInfo;
    try {
      real = await Deno.realPath(given);
      info = await Deno.stat(real);
    } catch (error) {
      const why = error instanceof Deno.errors.NotFound
        ? "no such file or folder"
        : (error as Error).message;
      throw new TransferError(`Cannot send ${JSON.stringify(given)}: ${why}`, { cause: error });
    }
    const name = basename(real);
    if (name === "") {
      throw new TransferError(`Cannot send ${JSON.stringify(given)}: it is the root folder`);
    }
    if (info.isDirectory) {
      await walk(real, [name], files, skipped, signal);
    } else if (info.isFile) {
      files.push({
        path: transferPath([name], given),
        localPath: real,
        size: info.size,
        ...fileInfo(info),
      });
    } else {
      throw new TransferError(`Cannot send ${JSON.stringify(given)}: it is not a file or folder`);
    }
  }
  try {
    checkPathSet(files.map((f) => f.path));
  } catch (error) {
    throw new TransferError(
      `Two of the files to send would arrive as ${
        JSON.stringify((error as UnsafePathError).path)
      }: send them separately, or from a common folder`,
      { cause: error },
    );
  }
  let totalBytes = files.reduce((sum, f) => sum + f.size, 0);
  if (hash) {
    let done = 0;
    for (const file of files) {
      onEvent?.({ kind: "hashing", path: file.path, bytes: done, total: totalBytes });
      let result;
      try {
        result = await hashFile(file.localPath, {
          signal,
          onBytes: (n) => {
            done += n;
            onEvent?.({ kind: "hashing", path: file.path, bytes: done, total: totalBytes });
          },
        });
      } catch (error) {
        if (signal?.aborted) throw error;
        throw new TransferError(
          `Cannot read ${JSON.stringify(file.localPath)}: ${(error as Error).message}`,
          { cause: error },
        );
      }
      totalBytes += result.size - file.size;
      file.size = result.size;
      file.sha256 = result.sha256;
    }
  }
  return { files, skipped, totalBytes };
}
