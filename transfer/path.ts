/**
 * File names in a transfer: relative, `/`-separated paths that are safe to create under the
 * receiver's destination directory, whatever the peer sends.
 *
 * {@linkcode sanitizePath} accepts a path only when all of these hold (otherwise it throws an
 * {@linkcode UnsafePathError} saying which rule failed):
 *
 * - it is a non-empty, well-formed Unicode string of at most {@linkcode MAX_PATH_BYTES} UTF-8
 *   bytes and {@linkcode MAX_PATH_DEPTH} segments;
 * - it is relative: no leading `/`, and no segment starts with a drive letter (`C:`);
 * - it has no backslash, NUL or other control character (C0, DEL, C1), so it cannot escape on
 *   Windows or rewrite a terminal when printed;
 * - no segment is empty (`a//b`, trailing `/`), `.` or `..`, or longer than
 *   {@linkcode MAX_SEGMENT_BYTES} bytes;
 * - no segment looks like a peerlink temporary file (`.name.peerlink-0123abcd.part`).
 *
 * Paths are not Unicode-normalised and case is kept; on case-insensitive file systems two
 * offered names may still land on one file (the receiver then refuses the second as existing).
 * {@linkcode checkPathSet} refuses duplicate paths and a path that is also another path's
 * directory.
 *
 * @example
 * ```ts
 * import { sanitizePath } from "./path.ts";
 * if (sanitizePath("photos/2024/a.jpg") !== "photos/2024/a.jpg") throw new Error("Changed");
 * let refused = false;
 * try { sanitizePath("../../etc/passwd"); } catch { refused = true; }
 * if (!refused) throw new Error("Accepted a path outside the destination");
 * ```
 *
 * @module
 */

import { UnsafePathError } from "./errors.ts";

/** The longest path accepted, in UTF-8 bytes (Linux `PATH_MAX`). */
export const MAX_PATH_BYTES = 4096;

/** The longest segment accepted, in UTF-8 bytes (Linux and macOS `NAME_MAX`). */
export const MAX_SEGMENT_BYTES = 255;

/** The most segments a path may have. */
export const MAX_PATH_DEPTH = 128;

const encoder = new TextEncoder();
// deno-lint-ignore no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
const DRIVE = /^[A-Za-z]:/;
const TEMPORARY = /^\..*\.peerlink-[0-9a-f]{8}\.part$/;

/**
 * Check a relative path from a peer (or about to be offered to one) and return it unchanged.
 *
 * @throws {UnsafePathError} naming the rule the path breaks.
 *
 * @example Hostile names are refused
 * ```ts
 * import { sanitizePath } from "./path.ts";
 * for (const bad of ["/etc/passwd", "a/../../b", "C:/x", "a\\b", "a//b", "", "a\u0000b"]) {
 *   let refused = false;
 *   try { sanitizePath(bad); } catch { refused = true; }
 *   if (!refused) throw new Error(`Accepted ${JSON.stringify(bad)}`);
 * }
 * ```
 */
export function sanitizePath(path: string): string {
  if (typeof path !== "string") throw new UnsafePathError(String(path), "it is not a string");
  if (path === "") throw new UnsafePathError(path, "it is empty");
  if (!path.isWellFormed()) throw new UnsafePathError(path, "it is not valid Unicode");
  if (encoder.encode(path).length > MAX_PATH_BYTES) {
    throw new UnsafePathError(path, `it is longer than ${MAX_PATH_BYTES} bytes`);
  }
  if (path.startsWith("/")) throw new UnsafePathError(path, "it is absolute");
  if (path.includes("\\")) throw new UnsafePathError(path, "it contains a backslash");
  if (CONTROL.test(path)) throw new UnsafePathError(path, "it contains a control character");
  const segments = path.split("/");
  if (segments.length > MAX_PATH_DEPTH) {
    throw new UnsafePathError(path, `it is more than ${MAX_PATH_DEPTH} levels deep`);
  }
  for (const segment of segments) {
    if (segment === "") throw new UnsafePathError(path, "it has an empty segment");
    if (segment === "." || segment === "..") {
      throw new UnsafePathError(path, `it has a '${segment}' segment`);
    }
    if (DRIVE.test(segment)) throw new UnsafePathError(path, "it names a drive");
    if (encoder.encode(segment).length > MAX_SEGMENT_BYTES) {
      throw new UnsafePathError(path, `a name in it is longer than ${MAX_SEGMENT_BYTES} bytes`);
    }
    if (TEMPORARY.test(segment)) {
      throw new UnsafePathError(path, "it looks like a peerlink temporary file");
    }
  }
  return path;
}

/**
 * Check that a list of sanitised paths can all be created side by side: no duplicates, and no
 * path that another path needs as a directory (`a` and `a/b`).
 *
 * @throws {UnsafePathError} for the first offending path.
 *
 * @example
 * ```ts
 * import { checkPathSet } from "./path.ts";
 * checkPathSet(["a/b", "a/c", "d"]);
 * let refused = false;
 * try { checkPathSet(["a", "a/b"]); } catch { refused = true; }
 * if (!refused) throw new Error("Accepted a file that is also a directory");
 * ```
 */
export function checkPathSet(paths: readonly string[]): void {
  const files = new Set<string>();
  const dirs = new Set<string>();
  for (const path of paths) {
    if (files.has(path)) throw new UnsafePathError(path, "it is listed twice");
    if (dirs.has(path)) throw new UnsafePathError(path, "another file needs it as a folder");
    files.add(path);
    const segments = path.split("/");
    for (let i = 1; i < segments.length; i++) {
      const dir = segments.slice(0, i).join("/");
      if (files.has(dir)) {
        throw new UnsafePathError(dir, `it is a file, but ${JSON.stringify(path)} needs a folder`);
      }
      dirs.add(dir);
    }
  }
}
