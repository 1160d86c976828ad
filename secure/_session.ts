/**
 * Internal: turns a chunk format (a {@linkcode ChunkSealer} and a {@linkcode ChunkOpener}) and a
 * handshaken transport into a {@linkcode SecureConnection} of web streams with backpressure.
 *
 * - The readable is pull-based (high-water mark 0): a chunk is read from the transport only
 *   when the consumer asks, so a slow consumer stops the peer's writer.
 * - The writable encrypts each write (split into chunks of at most `maxPlaintext` bytes) and
 *   waits for the transport's `ready` before accepting more.
 * - Closing the writable sends the sealer's end chunk, or closes the transport's writable when
 *   the format has none (gday). The transport is closed once both directions have ended.
 * - A failed chunk (tampered, truncated, oversize) errors both streams and tears the transport
 *   down: nothing more is trusted on a connection that was attacked.
 *
 * @module
 */

import type { ByteReader } from "./_byte_reader.ts";
import type { SecureConnection } from "./duplex.ts";
import {
  ChunkTooLargeError,
  NonceExhaustedError,
  TamperedStreamError,
  TruncatedStreamError,
} from "./errors.ts";

/** Plaintext sealed into one transport write at most (a few chunks: fewer, larger writes). */
const WRITE_BATCH_BYTES = 256 * 1024;

/** Encrypts one direction's chunks. */
export interface ChunkSealer {
  /** The most plaintext bytes one chunk carries. */
  readonly maxPlaintext: number;
  /** Encrypt a non-empty plaintext of at most `maxPlaintext` bytes into one wire chunk. */
  seal(plaintext: Uint8Array): Uint8Array;
  /**
   * Encrypt several plaintexts (each at most `maxPlaintext` bytes) into their wire chunks, back
   * to back in one buffer, so they go out in one transport write (optional; fewer, larger
   * writes are much cheaper on a socket).
   */
  sealMany?(plaintexts: readonly Uint8Array[]): Uint8Array;
  /** The chunk that authenticates the end, or `undefined` to close the transport instead. */
  end(): Uint8Array | undefined;
}

/** Decrypts one direction's chunks. */
export interface ChunkOpener {
  /** The next plaintext (possibly empty), or `null` at the end. Throws typed errors. */
  next(input: ByteReader): Promise<Uint8Array | null>;
}

/** What {@linkcode createSession} needs. */
export interface SessionInit {
  /** The transport's reader, positioned after the handshake. */
  input: ByteReader;
  /** The transport's writer. */
  output: WritableStreamDefaultWriter<Uint8Array>;
  /** Encrypts what we send. */
  sealer: ChunkSealer;
  /** Decrypts what we receive. */
  opener: ChunkOpener;
  /** The agreed role. */
  role: "A" | "B";
}

/**
 * Build the connection.
 *
 * @example
 * ```ts ignore
 * const connection = createSession({ input, output, sealer, opener, role: "A" });
 * ```
 */
export function createSession(init: SessionInit): SecureConnection {
  return new Session(init);
}

class Session implements SecureConnection {
  readonly readable: ReadableStream<Uint8Array>;
  readonly writable: WritableStream<Uint8Array>;
  readonly role: "A" | "B";
  readonly isInitiator: boolean;
  #input: ByteReader;
  #output: WritableStreamDefaultWriter<Uint8Array>;
  #readController!: ReadableStreamDefaultController<Uint8Array>;
  #writeController!: WritableStreamDefaultController;
  #readDone = false;
  #writeDone = false;
  #outputClosed = false;
  #torn = false;
  #transportClosed: Promise<void> | undefined;

  constructor({ input, output, sealer, opener, role }: SessionInit) {
    this.role = role;
    this.isInitiator = role === "A";
    this.#input = input;
    this.#output = output;
    this.readable = new ReadableStream<Uint8Array>({
      start: (controller) => {
        this.#readController = controller;
      },
      pull: async (controller) => {
        let chunk: Uint8Array | null;
        do {
          try {
            chunk = await opener.next(input);
          } catch (error) {
            if (this.#torn) return;
            const failure = isStreamError(error) ? error : new TruncatedStreamError(
              "The connection failed before the end of the encrypted stream: data may be " +
                "missing; reconnect and try again",
              { cause: error },
            );
            await this.#tearDown(failure);
            return;
          }
          if (this.#torn) return;
        } while (chunk !== null && chunk.length === 0);
        if (chunk === null) {
          controller.close();
          this.#readDone = true;
          await this.#maybeCloseTransport();
        } else {
          controller.enqueue(chunk);
        }
      },
      cancel: async () => {
        this.#readDone = true;
        await this.#maybeCloseTransport();
      },
    }, { highWaterMark: 0 });
    this.writable = new WritableStream<Uint8Array>({
      start: (controller) => {
        this.#writeController = controller;
      },
      write: async (chunk) => {
        const max = sealer.maxPlaintext;
        const batch = sealer.sealMany ? Math.max(1, Math.floor(WRITE_BATCH_BYTES / max)) : 1;
        for (let offset = 0; offset < chunk.length;) {
          const pieces: Uint8Array[] = [];
          for (let i = 0; i < batch && offset < chunk.length; i++, offset += max) {
            pieces.push(chunk.subarray(offset, offset + max));
          }
          const frames = pieces.length > 1 ? sealer.sealMany!(pieces) : sealer.seal(pieces[0]!);
          output.write(frames).catch(() => {});
          await output.ready;
        }
      },
      close: async () => {
        const end = sealer.end();
        if (end === undefined) {
          this.#outputClosed = true;
          await output.close();
        } else {
          await output.write(end);
        }
        this.#writeDone = true;
        await this.#maybeCloseTransport();
      },
      abort: async (reason) => {
        await this.#tearDown(reason);
      },
    });
  }

  async #maybeCloseTransport(): Promise<void> {
    if (!this.#readDone || !this.#writeDone || this.#torn) return;
    this.#transportClosed ??= (async () => {
      if (!this.#outputClosed) {
        this.#outputClosed = true;
        await this.#output.close().catch(() => {});
      }
      await this.#input.cancel();
    })();
    await this.#transportClosed;
  }

  async #tearDown(reason: unknown): Promise<void> {
    if (this.#torn) return;
    this.#torn = true;
    this.#readController.error(reason);
    this.#writeController.error(reason);
    await Promise.all([
      this.#transportClosed,
      this.#outputClosed ? undefined : this.#output.abort(reason).catch(() => {}),
      this.#input.cancel(reason),
    ]);
  }

  close(): Promise<void> {
    if (this.#readDone && this.#writeDone) return this.#maybeCloseTransport();
    return this.#tearDown(
      new DOMException("The secure connection was closed locally", "AbortError"),
    );
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

function isStreamError(error: unknown): boolean {
  return error instanceof TamperedStreamError || error instanceof TruncatedStreamError ||
    error instanceof ChunkTooLargeError || error instanceof NonceExhaustedError;
}
