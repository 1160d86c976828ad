/**
 * Writing whole buffers to a `Deno.Writer`-style connection.
 *
 * @module
 */

/** Anything with Deno's `write` (which may write only part of the buffer). */
export interface PartialWriter {
  /** Write some of `p`, resolving with how many bytes were written. */
  write(p: Uint8Array): Promise<number>;
}

/**
 * Write every byte of `bytes`, looping over partial writes.
 *
 * @example
 * ```ts
 * import { writeAll } from "./write.ts";
 * const seen: number[] = [];
 * await writeAll({ write: (p) => { seen.push(p[0]!); return Promise.resolve(1); } }, new Uint8Array([1, 2, 3]));
 * if (seen.join() !== "1,2,3") throw new Error("Bad writes");
 * ```
 */
export async function writeAll(writer: PartialWriter, bytes: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < bytes.length) offset += await writer.write(bytes.subarray(offset));
}
