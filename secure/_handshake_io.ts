/**
 * Internal: the I/O both handshakes share. Each step writes a fixed-size message and reads the
 * peer's fixed-size message at the same time (so neither side can deadlock on a full buffer),
 * the whole handshake runs under one deadline and the caller's signal, and any failure closes
 * the transport before the error is thrown.
 *
 * @module
 */

import { deadline, DeadlineError } from "../async/deadline.ts";
import { ByteReader } from "./_byte_reader.ts";
import type { Duplex } from "./duplex.ts";
import { HandshakeError, Spake2Error } from "./errors.ts";

/** How long a handshake may take unless the caller says otherwise: 10 seconds. */
export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000;

/** Cancellation options every handshake takes. */
export interface HandshakeIoOptions {
  /** Abort the handshake; it then rejects with `signal.reason` and closes the transport. */
  signal?: AbortSignal;
  /** Give up after this many milliseconds with a {@linkcode HandshakeError}. @default {10000} */
  timeoutMs?: number;
}

/**
 * The transport during a handshake.
 *
 * @example
 * ```ts ignore
 * const reply = await channel.exchange(myMessage, 33);
 * ```
 */
export class HandshakeChannel {
  /** The transport's reader; after the handshake it feeds the encrypted stream. */
  readonly input: ByteReader;
  /** The transport's writer. */
  readonly output: WritableStreamDefaultWriter<Uint8Array>;

  /** Lock both streams of `conn`. */
  constructor(conn: Duplex) {
    this.output = conn.writable.getWriter();
    try {
      this.input = new ByteReader(conn.readable);
    } catch (error) {
      this.output.releaseLock();
      throw error;
    }
  }

  /** Send `message` and read exactly `length` bytes from the peer. */
  async exchange(message: Uint8Array, length: number): Promise<Uint8Array> {
    const sent = this.output.write(message).catch((cause) => {
      throw new HandshakeError(
        "The connection failed during the handshake; check the network and try again",
        { cause },
      );
    });
    const received = this.input.readExact(length).then((reply) => {
      if (reply !== undefined) return reply;
      throw new HandshakeError(
        "The peer closed the connection during the handshake: it may have rejected the code " +
          "or run an incompatible protocol; check the code and try again",
      );
    }, (cause) => {
      throw new HandshakeError(
        "The connection failed during the handshake; check the network and try again",
        { cause },
      );
    });
    const [, reply] = await Promise.all([sent, received]);
    return reply;
  }

  /** Close the transport in both directions; never throws. */
  async destroy(reason: unknown): Promise<void> {
    await Promise.all([this.output.abort(reason).catch(() => {}), this.input.cancel(reason)]);
  }
}

/**
 * Run `body` on a fresh {@linkcode HandshakeChannel} over `conn`; see {@linkcode guardHandshake}.
 *
 * @example
 * ```ts ignore
 * const key = await runHandshake(conn, { timeoutMs: 5000 }, async (channel) => { ... });
 * ```
 */
export async function runHandshake<T>(
  conn: Duplex,
  options: HandshakeIoOptions,
  body: (channel: HandshakeChannel) => Promise<T>,
): Promise<T> {
  checkTimeout(options.timeoutMs);
  options.signal?.throwIfAborted();
  const channel = new HandshakeChannel(conn);
  return await guardHandshake(channel, options, () => body(channel));
}

function checkTimeout(timeoutMs: number | undefined): void {
  if (timeoutMs !== undefined && !(timeoutMs > 0)) {
    throw new RangeError(`Cannot run the handshake: timeoutMs is ${timeoutMs}, it must be > 0`);
  }
}

/**
 * Run `body` under the deadline and signal. On failure the channel's transport is closed and
 * the error is normalised: the caller's abort reason as is, anything else as a
 * {@linkcode HandshakeError} (or subclass) with the original in `cause`.
 *
 * @example
 * ```ts ignore
 * const seed = await guardHandshake(channel, { timeoutMs: 5000 }, () => channel.exchange(s, 7));
 * ```
 */
export async function guardHandshake<T>(
  channel: HandshakeChannel,
  options: HandshakeIoOptions,
  body: () => Promise<T>,
): Promise<T> {
  const { signal, timeoutMs = DEFAULT_HANDSHAKE_TIMEOUT_MS } = options;
  checkTimeout(timeoutMs);
  try {
    signal?.throwIfAborted();
    return await deadline(body(), timeoutMs, { signal });
  } catch (error) {
    await channel.destroy(error);
    if (signal?.aborted && error === signal.reason) throw error;
    if (error instanceof HandshakeError) throw error;
    if (error instanceof DeadlineError) {
      throw new HandshakeError(
        `The handshake did not finish within ${timeoutMs} ms; check that the peer is running ` +
          "and try again",
        { cause: error },
      );
    }
    if (error instanceof Spake2Error) {
      throw new HandshakeError(
        `The peer sent an invalid key exchange message (${error.reason}); check that both ` +
          "peers run compatible versions and try again",
        { cause: error },
      );
    }
    throw new HandshakeError("The handshake failed unexpectedly; try again", { cause: error });
  }
}
