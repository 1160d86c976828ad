/**
 * gday mode byte for byte: the §6.4 challenge/response and §6.5 encrypted stream vectors, on
 * the wire between two of our peers, plus the chunk codec and its edge cases.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { Duplex } from "../secure/duplex.ts";
import { duplexPair } from "../secure/duplex_pair.ts";
import {
  NonceExhaustedError,
  TamperedStreamError,
  TruncatedStreamError,
  WrongCodeError,
} from "../secure/errors.ts";
import {
  gdayAuthenticate,
  gdayChallengeAnswer,
  gdayHandshake,
  gdayNoncePrefix,
  gdayPassword,
} from "../secure/gday_handshake.ts";
import { encodeGdayOffer, encodeGdayResponse } from "../secure/gday_offer.ts";
import {
  GDAY_MAX_COUNTER,
  GDAY_MAX_PLAINTEXT,
  gdayNonce,
  openGdayChunk,
  sealGdayChunk,
} from "../secure/gday_stream.ts";
import { startSpake2 } from "../secure/spake2.ts";
import vectors from "../testdata/secure/vectors.json" with { type: "json" };

const hex = (text: string): Uint8Array => Uint8Array.fromHex(text);
const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text);
const KEY = hex(vectors.gday_spake2.key_hex);
const PREFIX = hex(vectors.gday_stream.nonce_prefix_hex);

/** Record everything written to `duplex`. */
function tap(duplex: Duplex): { duplex: Duplex; sent: () => Uint8Array; done: Promise<void> } {
  const chunks: Uint8Array[] = [];
  const recorder = new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      chunks.push(chunk.slice());
      controller.enqueue(chunk);
    },
  });
  const done = recorder.readable.pipeTo(duplex.writable).catch(() => {});
  return {
    duplex: { readable: duplex.readable, writable: recorder.writable },
    sent: () => new Uint8Array(chunks.flatMap((c) => [...c])),
    done,
  };
}

Deno.test("gdayPassword(), gdayNoncePrefix() and gdayChallengeAnswer() match the spec", () => {
  assert.equal(gdayPassword(0xf).toHex(), vectors.gday_spake2.password_hex);
  assert.equal(gdayPassword(2n ** 64n - 1n).toHex(), "ffffffffffffffff");
  assert.throws(() => gdayPassword(2n ** 64n), RangeError);
  assert.throws(() => gdayPassword(-1), RangeError);
  const s = vectors.gday_stream;
  assert.equal(gdayNoncePrefix(hex(s.seed_a_hex), hex(s.seed_b_hex)).toHex(), s.nonce_prefix_hex);
  assert.equal(gdayNoncePrefix(hex(s.seed_b_hex), hex(s.seed_a_hex)).toHex(), s.nonce_prefix_hex);
  const c = vectors.gday_challenge;
  assert.equal(gdayChallengeAnswer(KEY, hex(c.challenge_b_hex)).toHex(), c.answer_a_hex);
  assert.equal(gdayChallengeAnswer(KEY, hex(c.challenge_a_hex)).toHex(), c.answer_b_hex);
});

Deno.test("sealGdayChunk()/openGdayChunk() match every §6.5 chunk", () => {
  for (const chunk of [...vectors.gday_stream.a_to_b, ...vectors.gday_stream.b_to_a]) {
    const plaintext = utf8(chunk.plaintext_utf8);
    assert.equal(sealGdayChunk(KEY, PREFIX, chunk.counter, plaintext).toHex(), chunk.wire_hex);
    assert.deepEqual(openGdayChunk(KEY, PREFIX, chunk.counter, hex(chunk.wire_hex)), plaintext);
  }
  // The §7 codec produces the §6.5 plaintexts exactly.
  assert.equal(
    encodeGdayOffer({ files: [{ shortPath: "msg.txt", len: 5n }] }).toHex(),
    utf8(vectors.gday_stream.a_to_b[0]!.plaintext_utf8).toHex(),
  );
  assert.equal(
    encodeGdayResponse({ response: [0n] }).toHex(),
    utf8(vectors.gday_stream.b_to_a[0]!.plaintext_utf8).toHex(),
  );
});

Deno.test("gday chunk codec rejects tampering, wrong counters, short and oversize input", () => {
  const wire = hex(vectors.gday_stream.a_to_b[1]!.wire_hex);
  assert.throws(() => openGdayChunk(KEY, PREFIX, 0, wire), TamperedStreamError);
  const flipped = wire.slice();
  flipped[wire.length - 1]! ^= 0x80;
  assert.throws(() => openGdayChunk(KEY, PREFIX, 1, flipped), TamperedStreamError);
  assert.throws(() => openGdayChunk(KEY, PREFIX, 1, wire.subarray(0, 10)), TruncatedStreamError);
  assert.throws(() => openGdayChunk(KEY, PREFIX, 1, hex("000f")), TamperedStreamError);
  assert.throws(
    () => sealGdayChunk(KEY, PREFIX, 0, new Uint8Array(GDAY_MAX_PLAINTEXT + 1)),
    RangeError,
  );
  const max = sealGdayChunk(KEY, PREFIX, 0, new Uint8Array(GDAY_MAX_PLAINTEXT));
  assert.equal(max.subarray(0, 2).toHex(), "ffff");
  assert.equal(gdayNonce(PREFIX, GDAY_MAX_COUNTER).toHex(), "a1a3a1a7a1a3a1fffffffe00");
  assert.throws(() => gdayNonce(PREFIX, GDAY_MAX_COUNTER + 1), NonceExhaustedError);
  assert.throws(() => gdayNonce(PREFIX, -1), RangeError);
  assert.throws(() => sealGdayChunk(KEY.subarray(1), PREFIX, 0, new Uint8Array(1)), RangeError);
});

Deno.test("gdayHandshake() puts the §6.3–§6.5 bytes on the wire, byte for byte", async () => {
  const [left, right] = duplexPair({ chunkSize: 3 });
  const tapA = tap(left);
  const tapB = tap(right);
  const c = vectors.gday_challenge;
  const s = vectors.gday_stream;
  const password = hex(vectors.gday_spake2.password_hex);
  const [a, b] = await Promise.all([
    gdayHandshake(tapA.duplex, password, {
      scalar: hex(vectors.gday_spake2.x_a_le_hex),
      challenge: hex(c.challenge_a_hex),
      seed: hex(s.seed_a_hex),
    }),
    gdayHandshake(tapB.duplex, password, {
      scalar: hex(vectors.gday_spake2.y_b_le_hex),
      challenge: hex(c.challenge_b_hex),
      seed: hex(s.seed_b_hex),
    }),
  ]);
  assert.equal(a.key.toHex(), vectors.gday_spake2.key_hex);
  assert.equal(b.key.toHex(), vectors.gday_spake2.key_hex);
  assert.equal(a.noncePrefix.toHex(), s.nonce_prefix_hex);
  // The tie-break role: B's message (53 65…) sorts before A's (53 93…), so B is role "A".
  assert.equal(a.role, "B");
  assert.equal(b.role, "A");

  const writerA = a.writable.getWriter();
  const readerB = b.readable.getReader();
  await writerA.write(utf8(s.a_to_b[0]!.plaintext_utf8));
  await writerA.write(utf8(s.a_to_b[1]!.plaintext_utf8));
  // An empty write sends nothing (a Rust reader would take an empty chunk for EOF).
  await writerA.write(new Uint8Array(0));
  const writerB = b.writable.getWriter();
  await writerB.write(utf8(s.b_to_a[0]!.plaintext_utf8));
  assert.equal(new TextDecoder().decode((await readerB.read()).value), s.a_to_b[0]!.plaintext_utf8);
  assert.equal(new TextDecoder().decode((await readerB.read()).value), "hello");

  const expectedA = vectors.gday_spake2.msg_a_hex + c.challenge_a_hex + c.answer_a_hex +
    s.seed_a_hex + s.a_to_b[0]!.wire_hex + s.a_to_b[1]!.wire_hex;
  const expectedB = vectors.gday_spake2.msg_b_hex + c.challenge_b_hex + c.answer_b_hex +
    s.seed_b_hex + s.b_to_a[0]!.wire_hex;
  assert.equal(tapA.sent().toHex(), expectedA);
  assert.equal(tapB.sent().toHex(), expectedB);
  assert.equal(tapA.sent().length, 97 + 7 + 66 + 23);

  await writerA.close();
  await writerB.close();
  assert.equal((await readerB.read()).done, true);
  await b.close();
  await a.close();
  await Promise.all([tapA.done, tapB.done]);
});

/** B's §6 parameters, so that the key and the nonce prefix are the vectors'. */
const B_OPTIONS = {
  scalar: hex(vectors.gday_spake2.y_b_le_hex),
  seed: hex(vectors.gday_stream.seed_b_hex),
};

/** A hand-driven gday peer built from the primitives, to put arbitrary chunks on the wire. */
async function rawGdayPeer(conn: Duplex): Promise<WritableStreamDefaultWriter<Uint8Array>> {
  const writer = conn.writable.getWriter();
  const reader = conn.readable.getReader();
  let buffered = new Uint8Array(0);
  const readExact = async (n: number): Promise<Uint8Array> => {
    while (buffered.length < n) {
      const { value, done } = await reader.read();
      assert.equal(done, false, "the peer closed early");
      buffered = new Uint8Array([...buffered, ...value!]);
    }
    const out = buffered.subarray(0, n);
    buffered = buffered.subarray(n);
    return out;
  };
  const spake = startSpake2(gdayPassword(0xf), {
    identity: utf8("gday mates"),
    scalar: hex(vectors.gday_spake2.x_a_le_hex),
    strict: false,
  });
  await writer.write(spake.message);
  const key = spake.finish(await readExact(33));
  assert.equal(key.toHex(), KEY.toHex());
  const challenge = hex(vectors.gday_challenge.challenge_a_hex);
  await writer.write(challenge);
  await writer.write(gdayChallengeAnswer(key, await readExact(32)));
  assert.deepEqual(await readExact(32), gdayChallengeAnswer(key, challenge));
  await writer.write(hex(vectors.gday_stream.seed_a_hex));
  assert.equal((await readExact(7)).toHex(), vectors.gday_stream.seed_b_hex);
  reader.releaseLock();
  return writer;
}

Deno.test("a gday reader skips empty chunks and treats a lone header byte at EOF as the end", async () => {
  const [left, right] = duplexPair({ chunkSize: 5 });
  const [writer, connB] = await Promise.all([
    rawGdayPeer(left),
    gdayHandshake(right, gdayPassword(0xf), B_OPTIONS),
  ]);
  await writer.write(sealGdayChunk(KEY, PREFIX, 0, utf8("one ")));
  await writer.write(sealGdayChunk(KEY, PREFIX, 1, new Uint8Array(0)));
  await writer.write(sealGdayChunk(KEY, PREFIX, 2, utf8("two")));
  await writer.write(new Uint8Array([0x00]));
  await writer.close();
  assert.equal(await new Response(connB.readable).text(), "one two");
  await connB.close();
  await left.readable.cancel();
});

Deno.test("a gday reader rejects a chunk sealed with the wrong counter", async () => {
  const [left, right] = duplexPair();
  const [writer, connB] = await Promise.all([
    rawGdayPeer(left),
    gdayHandshake(right, gdayPassword(0xf), B_OPTIONS),
  ]);
  await writer.write(sealGdayChunk(KEY, PREFIX, 0, utf8("one")));
  await writer.write(sealGdayChunk(KEY, PREFIX, 0, utf8("replayed")));
  const reader = connB.readable.getReader();
  assert.equal(new TextDecoder().decode((await reader.read()).value), "one");
  await assert.rejects(reader.read(), (e) => e instanceof TamperedStreamError && e.chunk === 1);
  await writer.close().catch(() => {});
  await left.readable.cancel();
});

Deno.test("gdayAuthenticate() fails on both sides with a wrong secret, as §6.3's mismatch", async () => {
  const [left, right] = duplexPair();
  const results = await Promise.allSettled([
    gdayAuthenticate(left, gdayPassword(0xf)),
    gdayAuthenticate(right, gdayPassword(0x10)),
  ]);
  for (const result of results) {
    assert.equal(result.status, "rejected");
    assert.ok(result.reason instanceof WrongCodeError);
  }
});

Deno.test("gdayAuthenticated.close() drops the connection and encrypt() is one-shot", async () => {
  const [left, right] = duplexPair();
  const [a, b] = await Promise.all([
    gdayAuthenticate(left, gdayPassword(1)),
    gdayAuthenticate(right, gdayPassword(1)),
  ]);
  await a.close();
  await assert.rejects(a.encrypt(), TypeError);
  // B's seed exchange sees the transport go away.
  await assert.rejects(b.encrypt({ timeoutMs: 1000 }), (e: Error) => e.name === "HandshakeError");
});
