/**
 * The native chunk format of `secure/cipher_stream.ts`: header, nonce, AAD, limits.
 *
 * @module
 */

import assert from "node:assert/strict";
import { ByteReader } from "../secure/_byte_reader.ts";
import {
  chunkNonce,
  MAX_CHUNK_BODY,
  MAX_CHUNK_COUNTER,
  MAX_CHUNK_PLAINTEXT,
  NativeChunkOpener,
  NativeChunkSealer,
  openChunk,
  parseChunkHeader,
  sealChunk,
} from "../secure/cipher_stream.ts";
import {
  ChunkTooLargeError,
  NonceExhaustedError,
  TamperedStreamError,
  TruncatedStreamError,
} from "../secure/errors.ts";

const KEY = new Uint8Array(32).map((_, i) => i);
const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text);

Deno.test("chunkNonce() is 4 zero bytes and a big-endian u64, refusing to pass the limit", () => {
  assert.equal(chunkNonce(0).toHex(), "000000000000000000000000");
  assert.equal(chunkNonce(2 ** 32 + 1).toHex(), "000000000000000100000001");
  assert.equal(chunkNonce(MAX_CHUNK_COUNTER).toHex(), "00000000001fffffffffffff");
  assert.throws(() => chunkNonce(MAX_CHUNK_COUNTER + 1), NonceExhaustedError);
  assert.throws(() => chunkNonce(-1), RangeError);
  assert.throws(() => chunkNonce(1.5), RangeError);
});

Deno.test("parseChunkHeader() rejects oversize and undersize lengths", () => {
  assert.deepEqual(parseChunkHeader(Uint8Array.fromHex("00010010")), {
    length: MAX_CHUNK_BODY,
    final: false,
  });
  const tooBig = (() => {
    try {
      parseChunkHeader(Uint8Array.fromHex("00010011"));
    } catch (error) {
      return error;
    }
  })();
  assert.ok(tooBig instanceof ChunkTooLargeError);
  assert.equal(tooBig.length, MAX_CHUNK_BODY + 1);
  assert.equal(tooBig.max, MAX_CHUNK_BODY);
  assert.throws(() => parseChunkHeader(Uint8Array.fromHex("ffffffff")), ChunkTooLargeError);
  assert.throws(() => parseChunkHeader(Uint8Array.fromHex("0000000f")), TamperedStreamError);
  assert.throws(() => parseChunkHeader(Uint8Array.fromHex("000010")), RangeError);
});

Deno.test("sealChunk() authenticates the header: length, FINAL flag and counter", () => {
  const chunk = sealChunk(KEY, 7, utf8("data"));
  assert.equal(chunk.subarray(0, 4).toHex(), "00000014");
  assert.deepEqual(openChunk(KEY, 7, chunk), { plaintext: utf8("data"), final: false });
  const flagged = chunk.slice();
  flagged[0]! |= 0x80;
  assert.throws(() => openChunk(KEY, 7, flagged), TamperedStreamError);
  assert.throws(() => openChunk(KEY, 8, chunk), TamperedStreamError);
  const otherKey = KEY.slice();
  otherKey[0]! ^= 1;
  assert.throws(() => openChunk(otherKey, 7, chunk), TamperedStreamError);
  assert.throws(() => openChunk(KEY, 7, chunk.subarray(0, 10)), TruncatedStreamError);
  const final = sealChunk(KEY, 8, new Uint8Array(0), true);
  assert.deepEqual(openChunk(KEY, 8, final), { plaintext: new Uint8Array(0), final: true });
  assert.equal(sealChunk(KEY, 0, new Uint8Array(MAX_CHUNK_PLAINTEXT)).length, 4 + MAX_CHUNK_BODY);
  assert.throws(() => sealChunk(KEY, 0, new Uint8Array(MAX_CHUNK_PLAINTEXT + 1)), RangeError);
  assert.throws(() => sealChunk(KEY.subarray(1), 0, new Uint8Array(1)), RangeError);
});

Deno.test("NativeChunkSealer counts from 0, ends once; the opener follows it", async () => {
  const sealer = new NativeChunkSealer(KEY);
  const chunks = [sealer.seal(utf8("a")), sealer.seal(new Uint8Array(0)), sealer.seal(utf8("b"))];
  chunks.push(sealer.end());
  assert.throws(() => sealer.seal(utf8("late")), TypeError);
  assert.equal(openChunk(KEY, 3, chunks[3]!).final, true);
  const input = new ByteReader(ReadableStream.from(chunks));
  const opener = new NativeChunkOpener(KEY);
  assert.deepEqual(await opener.next(input), utf8("a"));
  assert.deepEqual(await opener.next(input), new Uint8Array(0));
  assert.deepEqual(await opener.next(input), utf8("b"));
  assert.equal(await opener.next(input), null);
  assert.equal(await opener.next(input), null);
});

Deno.test("NativeChunkOpener delivers a non-empty final chunk, then ends", async () => {
  const input = new ByteReader(ReadableStream.from([sealChunk(KEY, 0, utf8("last"), true)]));
  const opener = new NativeChunkOpener(KEY);
  assert.deepEqual(await opener.next(input), utf8("last"));
  assert.equal(await opener.next(input), null);
});

Deno.test("NativeChunkOpener reports a missing end, a partial header and a partial body", async () => {
  const cases: [Uint8Array[], RegExp][] = [
    [[sealChunk(KEY, 0, utf8("x"))], /before the peer's authenticated end/],
    [[sealChunk(KEY, 0, utf8("x")), new Uint8Array([0, 0])], /before the peer's authenticated end/],
    [[sealChunk(KEY, 0, utf8("x")).subarray(0, 8)], /middle of an encrypted chunk/],
  ];
  for (const [chunks, message] of cases) {
    const input = new ByteReader(ReadableStream.from(chunks));
    const opener = new NativeChunkOpener(KEY);
    const error = await (async () => {
      while ((await opener.next(input)) !== null);
      return "ended without an error";
    })().catch((e) => e);
    assert.ok(error instanceof TruncatedStreamError, String(error));
    assert.match(error.message, message);
  }
});

Deno.test("NativeChunkOpener rejects an oversize header before the body arrives", async () => {
  let pulls = 0;
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      pulls++;
      if (pulls === 1) controller.enqueue(Uint8Array.fromHex("40000000"));
      // Never sends a body: an opener that waited for it would hang.
    },
  }, { highWaterMark: 0 });
  const input = new ByteReader(stream);
  await assert.rejects(new NativeChunkOpener(KEY).next(input), ChunkTooLargeError);
  assert.equal(pulls, 1);
  await input.cancel();
});
