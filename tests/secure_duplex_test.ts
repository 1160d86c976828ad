/**
 * The in-memory `duplexPair()` and the internal `ByteReader` it is read through.
 *
 * @module
 */

import assert from "node:assert/strict";
import { delay } from "../async/delay.ts";
import { ByteReader } from "../secure/_byte_reader.ts";
import { duplexPair } from "../secure/duplex_pair.ts";

Deno.test("duplexPair() carries bytes both ways and splits writes", async () => {
  const [a, b] = duplexPair({ chunkSize: 4 });
  const writerA = a.writable.getWriter();
  const writerB = b.writable.getWriter();
  await writerA.write(new Uint8Array(10).fill(1));
  await writerB.write(new Uint8Array([9]));
  await writerA.close();
  await writerB.close();
  const atB = await Array.fromAsync(b.readable);
  assert.deepEqual(atB.map((c) => c.length), [4, 4, 2]);
  const atA = await Array.fromAsync(a.readable);
  assert.deepEqual(atA, [new Uint8Array([9])]);
});

Deno.test("duplexPair() random splitting is reproducible and keeps every byte", async () => {
  const sizes = async (seed: number): Promise<number[]> => {
    const [a, b] = duplexPair({ chunkSize: 16, randomSplitSeed: seed });
    const writer = a.writable.getWriter();
    await writer.write(new Uint8Array(100).map((_, i) => i));
    await writer.close();
    const chunks = await Array.fromAsync(b.readable);
    assert.deepEqual(
      new Uint8Array(chunks.flatMap((c) => [...c])),
      new Uint8Array(100).map((_, i) => i),
    );
    return chunks.map((c) => c.length);
  };
  const first = await sizes(5);
  assert.deepEqual(await sizes(5), first);
  assert.notDeepEqual(await sizes(6), first);
  assert.ok(first.every((n) => n >= 1 && n <= 16));
});

Deno.test("duplexPair() applies backpressure at its capacity", async () => {
  const [a, b] = duplexPair({ capacity: 10 });
  const writer = a.writable.getWriter();
  await writer.write(new Uint8Array(10));
  let done = false;
  const second = writer.write(new Uint8Array(1)).then(() => (done = true));
  await delay(20);
  assert.equal(done, false);
  const reader = b.readable.getReader();
  assert.equal((await reader.read()).value?.length, 10);
  await second;
  assert.equal(done, true);
  reader.releaseLock();
  await b.readable.cancel();
});

Deno.test("duplexPair() abort resets the peer after delivering sent bytes; cancel breaks the pipe", async () => {
  const [a, b] = duplexPair();
  const writer = a.writable.getWriter();
  await writer.write(new Uint8Array([1]));
  await writer.abort(new Error("local reason, never seen by the peer"));
  const reader = b.readable.getReader();
  assert.deepEqual((await reader.read()).value, new Uint8Array([1]));
  await assert.rejects(reader.read(), Deno.errors.ConnectionReset);
  const backWriter = b.writable.getWriter();
  await a.readable.cancel();
  await assert.rejects(backWriter.write(new Uint8Array(1)), Deno.errors.BrokenPipe);
});

Deno.test("duplexPair() rejects bad options", () => {
  assert.throws(() => duplexPair({ chunkSize: 0 }), RangeError);
  assert.throws(() => duplexPair({ capacity: -1 }), RangeError);
});

Deno.test("ByteReader takes exact slices across chunks and reports the end", async () => {
  const reader = new ByteReader(
    ReadableStream.from([new Uint8Array([1, 2, 3]), new Uint8Array([]), new Uint8Array([4, 5])]),
  );
  assert.deepEqual(await reader.readExact(2), new Uint8Array([1, 2]));
  assert.deepEqual(await reader.readExact(2), new Uint8Array([3, 4]));
  assert.equal(reader.buffered, 1);
  assert.equal(await reader.readExact(2), undefined);
  assert.equal(reader.done, true);
  assert.deepEqual(reader.take(1), new Uint8Array([5]));
  assert.throws(() => reader.take(1), RangeError);
});
