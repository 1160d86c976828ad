/**
 * Temporary (`.part`) files and resuming. A file being received is written to
 * `.<name>.peerlink-<key>.part` beside its final name, and renamed to the final name only once
 * it is complete and verified. `<key>` is 8 hex digits:
 *
 * - native mode: the first 8 hex digits of the offered SHA-256, so a partial file is only ever
 *   continued with the same content (a changed source gets a new temporary name, and the final
 *   hash still covers the whole file);
 * - gday mode (no hashes): the first 8 hex digits of SHA-256(`"gday\n" ‖ path ‖ "\n" ‖ size`).
 *
 * `<name>` is the final name cut to {@linkcode MAX_PART_NAME_BYTES} UTF-8 bytes, so the
 * temporary name stays within 255 bytes. {@linkcode planResume} decides, from the size of an
 * existing temporary file, where to continue.
 *
 * @example
 * ```ts
 * import { partFileName, planResume } from "./part_file.ts";
 * if (partFileName("notes.txt", "0123abcd") !== ".notes.txt.peerlink-0123abcd.part") throw new Error("Bad name");
 * if (planResume(1000, 5000, true).offset !== 1000) throw new Error("Should resume at 1000");
 * ```
 *
 * @module
 */

import { createHash } from "node:crypto";

/** The most bytes of the final name kept in a temporary name. */
export const MAX_PART_NAME_BYTES = 200;

const KEY = /^[0-9a-f]{8}$/;

/**
 * The temporary name for final name `name` (one path segment) and an 8-hex-digit `key`.
 *
 * @throws {RangeError} when `key` is not 8 lower-case hex digits.
 *
 * @example A long name is cut at a character boundary
 * ```ts
 * import { partFileName } from "./part_file.ts";
 * const name = partFileName("é".repeat(200), "0123abcd");
 * if (new TextEncoder().encode(name).length > 255) throw new Error("Too long");
 * ```
 */
export function partFileName(name: string, key: string): string {
  if (!KEY.test(key)) throw new RangeError(`Part key ${JSON.stringify(key)} is not 8 hex digits`);
  const encoder = new TextEncoder();
  let kept = name;
  if (encoder.encode(kept).length > MAX_PART_NAME_BYTES) {
    const chars = [...name];
    let bytes = 0;
    let i = 0;
    for (; i < chars.length; i++) {
      const size = encoder.encode(chars[i]).length;
      if (bytes + size > MAX_PART_NAME_BYTES) break;
      bytes += size;
    }
    kept = chars.slice(0, i).join("");
  }
  return `.${kept}.peerlink-${key}.part`;
}

/**
 * The key of a file's temporary name: from its SHA-256 when known (native mode), otherwise from
 * its path and size (gday mode).
 *
 * @example
 * ```ts
 * import { partKey } from "./part_file.ts";
 * if (partKey({ path: "a", size: 1n, sha256: "ab".repeat(32) }) !== "abababab") throw new Error("Bad key");
 * if (!/^[0-9a-f]{8}$/.test(partKey({ path: "a", size: 1n }))) throw new Error("Bad gday key");
 * ```
 */
export function partKey(file: { path: string; size: bigint; sha256?: string }): string {
  if (file.sha256 !== undefined) return file.sha256.slice(0, 8);
  return createHash("sha256").update(`gday\n${file.path}\n${file.size}`).digest("hex").slice(0, 8);
}

/** Where to continue a partial file. */
export interface ResumePlan {
  /** The first byte to ask the sender for. */
  offset: number;
  /** Empty the temporary file first (it cannot be continued). */
  truncate: boolean;
  /**
   * The temporary file already holds `size` bytes: hash it; if it matches, nothing is left to
   * send (ask for `offset = size`), otherwise empty it and start at 0.
   */
  verify: boolean;
}

/**
 * Decide where to continue, given the size of an existing temporary file (`null` when there is
 * none), the offered size, and whether the sender's hash is known (native mode).
 *
 * - none: start at 0;
 * - shorter than the file: continue at its end (the final hash covers the whole file);
 * - exactly the file's size: verify it when a hash is known, else start over;
 * - longer: start over.
 *
 * @throws {RangeError} when a size is negative or not an integer.
 *
 * @example
 * ```ts
 * import { planResume } from "./part_file.ts";
 * const full = planResume(10, 10, false);
 * if (full.offset !== 0 || !full.truncate) throw new Error("gday cannot verify: start over");
 * ```
 */
export function planResume(partSize: number | null, size: number, canVerify: boolean): ResumePlan {
  for (const n of [partSize ?? 0, size]) {
    if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`Size ${n} is not a byte count`);
  }
  if (partSize === null) return { offset: 0, truncate: false, verify: false };
  if (partSize < size) return { offset: partSize, truncate: false, verify: false };
  if (partSize === size && canVerify) return { offset: size, truncate: false, verify: true };
  return { offset: 0, truncate: true, verify: false };
}
