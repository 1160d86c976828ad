/**
 * Framing shared by peerlink's TCP protocols.
 *
 * @example
 * ```ts
 * import { encodeFrame, LengthPrefixedDecoder } from "./mod.ts";
 * const decoder = new LengthPrefixedDecoder();
 * decoder.push(encodeFrame(new TextEncoder().encode("hi")));
 * if (new TextDecoder().decode(decoder.next()) !== "hi") throw new Error("Bad frame");
 * ```
 *
 * @module
 */
export * from "./errors.ts";
export * from "./chunk_queue.ts";
export * from "./chunk_source.ts";
export * from "./decoding_reader.ts";
export * from "./length_prefixed.ts";
export * from "./json_stream.ts";
