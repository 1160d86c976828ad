/**
 * File transfer over a direct peer connection: send files and folders, resume interrupted
 * transfers, verify every file, in peerlink's own protocol or gday 0.1.1's.
 *
 * - {@linkcode prepareFiles} lists and hashes what to send; {@linkcode sendFiles} and
 *   {@linkcode receiveFiles} run the two sides over any `{ readable, writable }` duplex, usually
 *   a `PeerConnection` from `connectPeer` (its `mode` picks the protocol).
 * - Progress arrives as {@linkcode TransferEvent}s (bytes, rate and ETA per file and overall).
 * - Names from the peer pass {@linkcode sanitizePath}; files land under temporary names
 *   ({@linkcode partFileName}) and are renamed once complete and verified.
 * - Errors: {@linkcode TransferError} and its subclasses.
 *
 * ## Native protocol, version 1 (`mode: "native"`)
 *
 * It runs inside a native-mode secure connection (`secure/handshake.ts`), which encrypts,
 * authenticates every chunk and the end of each direction, and supports half-close. Bytes
 * below are the plaintext. Control messages are frames, `u32 big-endian length ‖ UTF-8 JSON`,
 * defined byte for byte in `./messages.ts` ({@linkcode encodeTransferMessage}); raw file data
 * goes between them unframed.
 *
 * 1. **Offer** (sender → receiver): `{"type":"offer","version":1,"files":[...]}`, each file with
 *    its relative `/`-separated path, size (u64 as a decimal string), SHA-256 of the whole file
 *    (the sender hashes every file in one pass before offering), and optionally its permission
 *    bits and modification time. At most {@linkcode MAX_TRANSFER_FILES} files and
 *    {@linkcode MAX_CONTROL_BYTES} bytes.
 * 2. **Response** (receiver → sender), one answer per file in offer order:
 *    `{"action":"send","offset":"K"}` (send bytes `[K, size)`: 0 for all, more to resume a
 *    `.part` file), `{"action":"skip"}`, or `{"action":"have"}` (an identical file is already
 *    there). Or, instead, **reject** `{"type":"reject","reason":R,"message":S}` (e.g. files
 *    exist and overwriting was not allowed, an unsafe name, another version), after which the
 *    receiver closes.
 * 3. **Data** (sender → receiver): the wanted bytes of each `send` file, in offer order, back
 *    to back, without framing (sizes and offsets are known); then the sender ends its direction
 *    (an authenticated end of stream). More bytes than announced is a protocol error.
 * 4. **Acknowledgement** (receiver → sender): after every file's SHA-256 matched and the file
 *    got its final name, `{"type":"done"}`; the receiver then ends its direction. A sender
 *    reports success only after `done`. If anything fails after the response, the receiver
 *    sends `{"type":"error","reason":R,"message":S}` instead (e.g. `hash-mismatch`), ends its
 *    direction and discards incoming data for up to 2 s so the sender reads the message; the
 *    sender stops at once when it does.
 *
 * The final hash covers the whole file, resumed or not, so a partial file from a different
 * source (or a source that changed while it was sent) is detected. Temporary names carry the
 * first 8 hex digits of the offered hash, so a changed source starts a new `.part` file.
 *
 * ## gday protocol (`mode: "gday"`, gday 0.1.1 spec §7)
 *
 * For gday 0.1.1 peers: the offer `{"files":[{"short_path":P,"len":N}]}` and response
 * `{"response":[null | K, ...]}` of `secure/gday_offer.ts`, the accepted files' bytes
 * `[K, len)` back to back, then the sender closes. There are no hashes, no refusal message and
 * no acknowledgement, and gday's stream does not authenticate its end, so:
 *
 * - the receiver checks each file's length (a stream that ends early is an error and the
 *   `.part` stays) and reports the SHA-256 of what it saved, to compare out of band;
 * - a resumed `.part` file cannot be checked against the source; a `.part` that already has
 *   the full length is started over;
 * - the sender cannot know the files landed (`SendResult.confirmed` is `false`);
 * - a receiver that refuses (existing files without `--force`) declines every file
 *   (`null`s), then fails locally; an unsafe name makes it close the connection.
 *
 * @example Send a folder and receive it, in memory
 * ```ts
 * import { duplexPair, handshake } from "../secure/mod.ts";
 * import { prepareFiles, receiveFiles, sendFiles } from "./mod.ts";
 * const dir = await Deno.makeTempDir();
 * await Deno.mkdir(`${dir}/docs`);
 * await Deno.writeTextFile(`${dir}/docs/a.txt`, "alpha");
 * await Deno.writeTextFile(`${dir}/docs/b.txt`, "beta");
 * const { files } = await prepareFiles([`${dir}/docs`]);
 * const [left, right] = duplexPair();
 * const code = new TextEncoder().encode("0.A3F9C2.7D2E91B4.5");
 * const [a, b] = await Promise.all([handshake(left, code), handshake(right, code)]);
 * const [sent, got] = await Promise.all([
 *   sendFiles(a, files),
 *   receiveFiles(b, { dir: `${dir}/in` }),
 * ]);
 * if (!sent.confirmed || got.files.length !== 2) throw new Error("Not transferred");
 * if ((await Deno.readTextFile(`${dir}/in/docs/b.txt`)) !== "beta") throw new Error("Bad content");
 * await Promise.all([a.close(), b.close()]);
 * await Deno.remove(dir, { recursive: true });
 * ```
 *
 * @module
 */

export type { TransferConnection, TransferMode } from "./connection.ts";
export * from "./errors.ts";
export * from "./messages.ts";
export * from "./part_file.ts";
export * from "./path.ts";
export * from "./progress.ts";
export * from "./receive.ts";
export * from "./send.ts";
export * from "./source.ts";
