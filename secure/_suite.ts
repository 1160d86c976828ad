/**
 * Internal: the shared case suite every secure mode must pass (native and gday), including a
 * man-in-the-middle who does not know the code, tampering, truncation, bad length prefixes,
 * half-close, a large two-way transfer, backpressure, timeouts and cancellation. Test-only:
 * call {@linkcode secureSuite} from a `_test.ts` file; it registers `Deno.test` cases.
 *
 * @example
 * ```ts ignore
 * import { secureSuite } from "../secure/_suite.ts";
 * secureSuite({ name: "native", handshake, ... });
 * ```
 *
 * @module
 */

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { deadline } from "../async/deadline.ts";
import { delay } from "../async/delay.ts";
import type { Duplex, SecureConnection } from "./duplex.ts";
import { duplexPair, type DuplexPairOptions } from "./duplex_pair.ts";
import {
  HandshakeError,
  TamperedStreamError,
  TruncatedStreamError,
  WrongCodeError,
} from "./errors.ts";

/** Options every mode's handshake takes in the suite. */
export interface SuiteHandshakeOptions {
  /** Abort the handshake. */
  signal?: AbortSignal;
  /** Handshake time limit in milliseconds. */
  timeoutMs?: number;
}

/** A secure mode under test. */
export interface SuiteMode {
  /** Shown in test names. */
  name: string;
  /** Run the mode's handshake. */
  handshake(
    conn: Duplex,
    secret: Uint8Array,
    options?: SuiteHandshakeOptions,
  ): Promise<SecureConnection>;
  /** Bytes each side sends during the handshake (before the first encrypted chunk). */
  handshakeBytes: number;
  /** Bytes in a chunk header. */
  headerBytes: number;
  /** Whether a cut at a chunk boundary is reported as a {@linkcode TruncatedStreamError}. */
  detectsTruncation: boolean;
  /** A chunk header no valid chunk has, rejected before any body byte is read. */
  invalidHeader: Uint8Array;
  /** The error class {@linkcode SuiteMode.invalidHeader} must raise. */
  invalidHeaderError: new (...args: never[]) => Error;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const CODE = encoder.encode("4-orbit-walnut");
const FRAGMENTED: DuplexPairOptions = { chunkSize: 5, randomSplitSeed: 7 };

/** A man in the middle: forwards A→B and B→A, optionally flipping a bit or cutting A→B. */
interface Relay {
  a: Duplex;
  b: Duplex;
  /** Close the A→B direction now (B sees a clean end of the transport). */
  cut(): Promise<void>;
  /** Write raw bytes to B, as if A had sent them. */
  inject(bytes: Uint8Array): Promise<void>;
  /** Resolves when both pumps have stopped. */
  done: Promise<void>;
}

interface RelayOptions {
  /** Flip the lowest bit of the A→B byte at this position. */
  flipAt?: number;
  /** Forward only this many A→B bytes, then close that direction. */
  cutAt?: number;
  pair?: DuplexPairOptions;
}

function relay(options: RelayOptions = {}): Relay {
  const [a, middleA] = duplexPair(options.pair);
  const [middleB, b] = duplexPair(options.pair);
  const forward = pump(middleA.readable, middleB.writable, options);
  const backward = pump(middleB.readable, middleA.writable, {});
  return {
    a,
    b,
    cut: forward.stop,
    inject: forward.inject,
    done: Promise.all([forward.done, backward.done]).then(() => {}),
  };
}

interface Pump {
  stop(): Promise<void>;
  inject(bytes: Uint8Array): Promise<void>;
  done: Promise<void>;
}

function pump(
  from: ReadableStream<Uint8Array>,
  to: WritableStream<Uint8Array>,
  options: RelayOptions,
): Pump {
  const reader = from.getReader();
  const writer = to.getWriter();
  const state = { stopped: false };
  const stop = async (): Promise<void> => {
    if (state.stopped) return;
    state.stopped = true;
    await Promise.all([writer.close().catch(() => {}), reader.cancel().catch(() => {})]);
  };
  const done = forwardAll(reader, writer, options, state, stop);
  return { stop, inject: (bytes) => writer.write(bytes), done };
}

async function forwardAll(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  writer: WritableStreamDefaultWriter<Uint8Array>,
  { flipAt, cutAt }: RelayOptions,
  state: { stopped: boolean },
  stop: () => Promise<void>,
): Promise<void> {
  let position = 0;
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (state.stopped) return;
      if (done) {
        state.stopped = true;
        await writer.close().catch(() => {});
        return;
      }
      let chunk = value;
      if (flipAt !== undefined && flipAt >= position && flipAt < position + chunk.length) {
        chunk = chunk.slice();
        chunk[flipAt - position]! ^= 1;
      }
      const end = position + chunk.length;
      position = end;
      if (cutAt !== undefined && end >= cutAt) {
        await writer.write(chunk.subarray(0, chunk.length - (end - cutAt)));
        await stop();
        return;
      }
      await writer.write(chunk);
    }
  } catch (error) {
    state.stopped = true;
    await Promise.all([writer.abort(error).catch(() => {}), reader.cancel(error).catch(() => {})]);
  }
}

async function connect(
  mode: SuiteMode,
  pair: [Duplex, Duplex],
): Promise<[SecureConnection, SecureConnection]> {
  const [a, b] = await Promise.all([mode.handshake(pair[0], CODE), mode.handshake(pair[1], CODE)]);
  return [a, b];
}

async function sendAll(connection: SecureConnection, text: string): Promise<void> {
  const writer = connection.writable.getWriter();
  await writer.write(encoder.encode(text));
  await writer.close();
}

async function readText(connection: SecureConnection): Promise<string> {
  return decoder.decode(await new Response(connection.readable).arrayBuffer());
}

function randomBytes(length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let offset = 0; offset < length; offset += 65536) {
    crypto.getRandomValues(bytes.subarray(offset, Math.min(length, offset + 65536)));
  }
  return bytes;
}

/**
 * Register the shared cases for `mode` with `Deno.test`.
 *
 * @example
 * ```ts ignore
 * secureSuite(nativeMode);
 * ```
 */
export function secureSuite(mode: SuiteMode): void {
  const test = (name: string, fn: () => Promise<void>): void => {
    Deno.test(`${mode.name} secure suite: ${name}`, fn);
  };

  test("handshake over a fragmented pipe, data both ways, opposite roles", async () => {
    const [a, b] = await connect(mode, duplexPair(FRAGMENTED));
    assert.notEqual(a.role, b.role);
    assert.equal(a.isInitiator, a.role === "A");
    assert.equal(b.isInitiator, b.role === "A");
    const [fromA, fromB] = await Promise.all([
      readText(b),
      readText(a),
      sendAll(a, "ping from A"),
      sendAll(b, "pong from B"),
    ]);
    assert.equal(fromA, "ping from A");
    assert.equal(fromB, "pong from B");
  });

  test("a wrong code fails on both sides with WrongCodeError", async () => {
    const [left, right] = duplexPair(FRAGMENTED);
    const results = await Promise.allSettled([
      mode.handshake(left, CODE),
      mode.handshake(right, encoder.encode("4-orbit-walnuts")),
    ]);
    for (const result of results) {
      assert.equal(result.status, "rejected");
      assert.ok(result.reason instanceof WrongCodeError, String(result.reason));
      assert.match(result.reason.message, /^Wrong code/);
    }
  });

  test("a passive relay changes nothing", async () => {
    const middle = relay({ pair: FRAGMENTED });
    const [a, b] = await connect(mode, [middle.a, middle.b]);
    const [text] = await Promise.all([readText(b), sendAll(a, "through the middle")]);
    assert.equal(text, "through the middle");
    await Promise.all([sendAll(b, ""), readText(a)]);
    await Promise.all([a.close(), b.close()]);
    await middle.done;
  });

  test("a man in the middle without the code makes both peers fail", async () => {
    const [a, attackerA] = duplexPair();
    const [attackerB, b] = duplexPair();
    const guess = encoder.encode("4-orbit-peanut");
    const results = await Promise.allSettled([
      mode.handshake(a, CODE),
      mode.handshake(b, CODE),
      mode.handshake(attackerA, guess),
      mode.handshake(attackerB, guess),
    ]);
    for (const result of results) {
      assert.equal(result.status, "rejected");
      assert.ok(result.reason instanceof WrongCodeError, String(result.reason));
    }
  });

  test("a flipped bit in the key exchange makes both peers fail", async () => {
    const middle = relay({ flipAt: 9 });
    const results = await Promise.allSettled([
      mode.handshake(middle.a, CODE, { timeoutMs: 2000 }),
      mode.handshake(middle.b, CODE, { timeoutMs: 2000 }),
    ]);
    for (const result of results) {
      assert.equal(result.status, "rejected");
      assert.ok(result.reason instanceof HandshakeError, String(result.reason));
    }
    await middle.done;
  });

  test("a flipped ciphertext bit errors the reader with TamperedStreamError", async () => {
    const middle = relay({ flipAt: mode.handshakeBytes + mode.headerBytes + 3 });
    const [a, b] = await connect(mode, [middle.a, middle.b]);
    const writer = a.writable.getWriter();
    void writer.write(encoder.encode("attack at dawn")).catch(() => {});
    const error = await readText(b).catch((e) => e);
    assert.ok(error instanceof TamperedStreamError, String(error));
    assert.equal(error.chunk, 0);
    // The receiver tears its whole connection down: its writable is errored too.
    await assert.rejects(b.writable.getWriter().closed, (e) => e === error);
    await Promise.all([a.close(), b.close()]);
    await middle.done;
  });

  test(
    mode.detectsTruncation
      ? "a cut at a chunk boundary is detected as TruncatedStreamError"
      : "a cut at a chunk boundary looks like a clean end (documented weakness)",
    async () => {
      const middle = relay({ pair: FRAGMENTED });
      const [a, b] = await connect(mode, [middle.a, middle.b]);
      const writer = a.writable.getWriter();
      await writer.write(encoder.encode("first"));
      const reader = b.readable.getReader();
      const first = await reader.read();
      assert.equal(decoder.decode(first.value), "first");
      await middle.cut();
      const next = reader.read();
      if (mode.detectsTruncation) {
        const error = await next.catch((e) => e);
        assert.ok(error instanceof TruncatedStreamError, String(error));
      } else {
        assert.equal((await next).done, true);
      }
      await Promise.all([a.close(), b.close()]);
      await middle.done;
    },
  );

  test("a cut inside a chunk is a TruncatedStreamError", async () => {
    const middle = relay({ cutAt: mode.handshakeBytes + mode.headerBytes + 2 });
    const [a, b] = await connect(mode, [middle.a, middle.b]);
    const writer = a.writable.getWriter();
    void writer.write(encoder.encode("never complete")).catch(() => {});
    const error = await readText(b).catch((e) => e);
    assert.ok(error instanceof TruncatedStreamError, String(error));
    await Promise.all([a.close(), b.close()]);
    await middle.done;
  });

  test("an invalid length prefix is rejected without waiting for its body", async () => {
    const middle = relay();
    const [a, b] = await connect(mode, [middle.a, middle.b]);
    // Inject the bad header where the first chunk belongs and keep the transport open: a
    // reader that tried to read (or allocate) the claimed body would hang past the deadline.
    await middle.inject(mode.invalidHeader);
    const error = await deadline(readText(b).catch((e) => e), 2000);
    assert.ok(error instanceof mode.invalidHeaderError, String(error));
    await Promise.all([a.close(), b.close()]);
    await middle.done;
  });

  test("half-close: one direction ends, the other keeps working", async () => {
    const middle = relay({ pair: FRAGMENTED });
    const [a, b] = await connect(mode, [middle.a, middle.b]);
    await sendAll(a, "a is done");
    assert.equal(await readText(b), "a is done");
    const writer = b.writable.getWriter();
    await writer.write(encoder.encode("b still "));
    await writer.write(encoder.encode("talking"));
    await writer.close();
    assert.equal(await readText(a), "b still talking");
    // Both directions ended, so the transport was closed in both directions.
    await middle.done;
  });

  test("20 MB each way at once arrives intact", async () => {
    const size = 20 * 1024 * 1024;
    const [a, b] = await connect(mode, duplexPair());
    const send = async (connection: SecureConnection, data: Uint8Array): Promise<void> => {
      const writer = connection.writable.getWriter();
      for (let offset = 0; offset < data.length; offset += 300_000) {
        await writer.write(data.subarray(offset, offset + 300_000));
      }
      await writer.close();
    };
    const digest = async (connection: SecureConnection): Promise<[string, number]> => {
      const hash = createHash("sha256");
      let total = 0;
      for await (const chunk of connection.readable) {
        hash.update(chunk);
        total += chunk.length;
      }
      return [hash.digest("hex"), total];
    };
    const dataA = randomBytes(size);
    const dataB = randomBytes(size);
    const [, , [hashAtB, sizeAtB], [hashAtA, sizeAtA]] = await Promise.all([
      send(a, dataA),
      send(b, dataB),
      digest(b),
      digest(a),
    ]);
    assert.equal(sizeAtB, size);
    assert.equal(sizeAtA, size);
    assert.equal(hashAtB, createHash("sha256").update(dataA).digest("hex"));
    assert.equal(hashAtA, createHash("sha256").update(dataB).digest("hex"));
  });

  test("backpressure: the writer waits while the peer does not read", async () => {
    const [a, b] = await connect(mode, duplexPair({ capacity: 4096 }));
    const writer = a.writable.getWriter();
    const chunk = new Uint8Array(16 * 1024);
    let accepted = 0;
    const writes: Promise<void>[] = [];
    for (let i = 0; i < 8; i++) {
      const write = writer.write(chunk).then(() => void accepted++);
      write.catch(() => {}); // Awaited below; do not let an early failure go unhandled.
      writes.push(write);
    }
    let ready = false;
    void writer.ready.then(() => (ready = true), () => {});
    await delay(50);
    assert.equal(ready, false, "ready must stay pending while nobody reads");
    assert.ok(accepted < 8, `only some writes may complete, got ${accepted}`);
    assert.ok((writer.desiredSize ?? 0) <= 0);
    const reader = b.readable.getReader();
    let received = 0;
    while (received < 8 * chunk.length) {
      const { value, done } = await reader.read();
      assert.equal(done, false);
      received += value!.length;
    }
    await Promise.all(writes);
    await writer.ready;
    assert.equal(accepted, 8);
    await writer.close();
    assert.equal((await reader.read()).done, true);
    await b.close();
  });

  test("a silent peer times out with HandshakeError and the transport is closed", async () => {
    const [left, right] = duplexPair();
    const error = await mode.handshake(left, CODE, { timeoutMs: 30 }).catch((e) => e);
    assert.ok(error instanceof HandshakeError, String(error));
    assert.match(error.message, /did not finish within 30 ms/);
    // The peer end sees the transport fail after whatever was sent.
    const seen = await new Response(right.readable).arrayBuffer().catch((e) => e);
    assert.ok(seen instanceof Error);
    await right.writable.close().catch(() => {});
  });

  test("an aborted signal rejects with its reason", async () => {
    const [left, right] = duplexPair();
    const controller = new AbortController();
    const pending = mode.handshake(left, CODE, { signal: controller.signal });
    const reason = new Error("User pressed Ctrl-C");
    controller.abort(reason);
    await assert.rejects(pending, (e) => e === reason);
    await right.readable.cancel();
    await right.writable.close().catch(() => {});
  });

  test("close() tears down both directions", async () => {
    const [a, b] = await connect(mode, duplexPair());
    const reader = a.readable.getReader();
    const pending = reader.read();
    await a.close();
    await assert.rejects(pending);
    await assert.rejects(a.writable.getWriter().write(new Uint8Array(1)));
    await b.close();
  });
}
