/**
 * Native mode: the byte-level spec of `secure/handshake.ts` checked from the primitives (not
 * from the module's own helpers), pinned vectors, fragmentation, wrong code and context,
 * version mismatch, reflection and small-order attacks.
 *
 * @module
 */

import assert from "node:assert/strict";
import { createDecipheriv } from "node:crypto";
import { ED25519_TORSION_SUBGROUP } from "@noble/curves/ed25519.js";
import { hkdf } from "@noble/hashes/hkdf.js";
import { hmac } from "@noble/hashes/hmac.js";
import { sha256 } from "@noble/hashes/sha2.js";
import type { Duplex } from "../secure/duplex.ts";
import { duplexPair } from "../secure/duplex_pair.ts";
import { HandshakeError, Spake2Error, WrongCodeError } from "../secure/errors.ts";
import { deriveNativeKeys, handshake, nativePassword } from "../secure/handshake.ts";
import { startSpake2 } from "../secure/spake2.ts";
import native from "../testdata/secure/native_vectors.json" with { type: "json" };

const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text);
const hex = (text: string): Uint8Array => Uint8Array.fromHex(text);
const cat = (...parts: Uint8Array[]): Uint8Array => new Uint8Array(parts.flatMap((p) => [...p]));

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
    sent: () => cat(...chunks),
    done,
  };
}

/** Decrypt one native chunk with node:crypto directly, per the spec in cipher_stream.ts. */
function openBySpec(key: Uint8Array, counter: number, chunk: Uint8Array): [Uint8Array, boolean] {
  const header = chunk.subarray(0, 4);
  const word = new DataView(header.buffer, header.byteOffset, 4).getUint32(0);
  const length = word & 0x7fffffff;
  assert.equal(chunk.length, 4 + length);
  const nonce = new Uint8Array(12);
  new DataView(nonce.buffer).setBigUint64(4, BigInt(counter));
  const decipher = createDecipheriv("chacha20-poly1305", key, nonce, { authTagLength: 16 });
  decipher.setAAD(header, { plaintextLength: length - 16 });
  decipher.setAuthTag(chunk.subarray(4 + length - 16));
  const plaintext = decipher.update(chunk.subarray(4, 4 + length - 16));
  decipher.final();
  return [new Uint8Array(plaintext), (word & 0x80000000) !== 0];
}

Deno.test("handshake() follows its byte-level spec, checked from the primitives", async () => {
  const [left, right] = duplexPair({ chunkSize: 1 });
  const tapA = tap(left);
  const tapB = tap(right);
  const secret = utf8(native.secret_utf8);
  const context = utf8(native.context_utf8);
  const [a, b] = await Promise.all([
    handshake(tapA.duplex, secret, { context, scalar: hex(native.scalar_a_hex) }),
    handshake(tapB.duplex, secret, { context, scalar: hex(native.scalar_b_hex) }),
  ]);
  const writer = a.writable.getWriter();
  await writer.write(utf8("hello"));
  await writer.close();
  assert.equal(await new Response(b.readable).text(), "hello");

  // Step 1–2: password and hellos.
  const pw = hmac(sha256, utf8("peerlink/1 password"), secret);
  const identity = utf8("peerlink/1");
  const spakeA = startSpake2(pw, { identity, scalar: hex(native.scalar_a_hex) });
  const spakeB = startSpake2(pw, { identity, scalar: hex(native.scalar_b_hex) });
  const helloA = cat(new Uint8Array([1]), spakeA.message);
  const helloB = cat(new Uint8Array([1]), spakeB.message);
  const sentA = tapA.sent();
  const sentB = tapB.sent();
  assert.deepEqual(sentA.subarray(0, 34), helloA);
  assert.deepEqual(sentB.subarray(0, 34), helloB);
  // Step 3–5: key, roles, transcript.
  const k = spakeA.finish(spakeB.message);
  const [first, second] = helloA.toHex() < helloB.toHex() ? [helloA, helloB] : [helloB, helloA];
  assert.equal(a.role, first === helloA ? "A" : "B");
  assert.equal(b.role, first === helloB ? "A" : "B");
  const lengthBytes = new Uint8Array(4);
  new DataView(lengthBytes.buffer).setUint32(0, context.length);
  const transcript = sha256(
    cat(utf8("peerlink/1 transcript"), lengthBytes, context, first, second),
  );
  // Step 6–7: confirmation MACs.
  const derive = (label: string) => hkdf(sha256, k, transcript, utf8(`peerlink/1 ${label}`), 32);
  const roleOfA = a.role;
  const roleOfB = b.role;
  assert.deepEqual(sentA.subarray(34, 66), hmac(sha256, derive(`confirm ${roleOfA}`), transcript));
  assert.deepEqual(sentB.subarray(34, 66), hmac(sha256, derive(`confirm ${roleOfB}`), transcript));
  // Step 8: A's data chunk and final chunk, with A's direction key.
  const keyA = derive(roleOfA === "A" ? "data A to B" : "data B to A");
  const dataChunk = sentA.subarray(66, 66 + 4 + 5 + 16);
  const finalChunk = sentA.subarray(66 + 25);
  assert.deepEqual(openBySpec(keyA, 0, dataChunk), [utf8("hello"), false]);
  assert.deepEqual(openBySpec(keyA, 1, finalChunk), [new Uint8Array(0), true]);
  assert.equal(finalChunk.length, 20);

  // Pinned vectors, so another implementation can check itself against these bytes.
  assert.equal(sentA.toHex(), native.wire_a_hex);
  assert.equal(sentB.subarray(0, 66).toHex(), native.handshake_b_hex);
  assert.equal(a.role, native.role_a);

  await b.writable.close();
  assert.equal((await new Response(a.readable).arrayBuffer()).byteLength, 0);
  await Promise.all([tapA.done, tapB.done]);
});

Deno.test("deriveNativeKeys() refuses equal hellos and mirrors keys", () => {
  const hello = new Uint8Array(34);
  assert.throws(
    () => deriveNativeKeys(hello, hello, new Uint8Array(32), new Uint8Array(0)),
    HandshakeError,
  );
  const other = hello.slice();
  other[33] = 1;
  const a = deriveNativeKeys(hello, other, new Uint8Array(32), utf8("ctx"));
  const b = deriveNativeKeys(other, hello, new Uint8Array(32), utf8("ctx"));
  assert.equal(a.role, "A");
  assert.equal(b.role, "B");
  assert.deepEqual(a.send, b.receive);
  assert.deepEqual(a.receive, b.send);
  assert.notDeepEqual(a.send, a.receive);
  assert.deepEqual(a.transcript, b.transcript);
  const c = deriveNativeKeys(hello, other, new Uint8Array(32), utf8("ctx2"));
  assert.notDeepEqual(c.send, a.send);
  assert.deepEqual(nativePassword(utf8("x")), hmac(sha256, utf8("peerlink/1 password"), utf8("x")));
});

Deno.test("handshake() succeeds byte by byte and with random fragmentation", async () => {
  const cases: [number, { chunkSize: number; randomSplitSeed?: number }][] = [
    [3000, { chunkSize: 1 }],
    [200_000, { chunkSize: 4000, randomSplitSeed: 99 }],
  ];
  for (const [size, options] of cases) {
    const [left, right] = duplexPair(options);
    const [a, b] = await Promise.all([handshake(left, utf8("c")), handshake(right, utf8("c"))]);
    assert.notEqual(a.isInitiator, b.isInitiator);
    const payload = new Uint8Array(size).map((_, i) => i * 7);
    const writer = a.writable.getWriter();
    const [received] = await Promise.all([
      new Response(b.readable).arrayBuffer(),
      writer.write(payload).then(() => writer.close()),
    ]);
    assert.deepEqual(new Uint8Array(received), payload);
    await Promise.all([a.close(), b.close()]);
  }
});

Deno.test("handshake() with different contexts fails on both sides with WrongCodeError", async () => {
  const [left, right] = duplexPair();
  const results = await Promise.allSettled([
    handshake(left, utf8("same"), { context: utf8("room 1") }),
    handshake(right, utf8("same"), { context: utf8("room 2") }),
  ]);
  for (const result of results) {
    assert.equal(result.status, "rejected");
    assert.ok(result.reason instanceof WrongCodeError);
  }
});

/** Play a raw peer: send `hello`, then read whatever comes until the other side closes. */
async function rawPeer(conn: Duplex, hello: Uint8Array): Promise<Uint8Array> {
  const writer = conn.writable.getWriter();
  await writer.write(hello);
  const received = new Uint8Array(
    await new Response(conn.readable).arrayBuffer().catch(() => new ArrayBuffer(0)),
  );
  await writer.close().catch(() => {});
  return received;
}

Deno.test("handshake() refuses other protocol versions and gday peers with a clear message", async () => {
  const cases: [Uint8Array, RegExp][] = [
    [cat(new Uint8Array([2]), startSpake2(utf8("x")).message), /version 2, this peerlink speaks 1/],
    [cat(startSpake2(utf8("x")).message, new Uint8Array([0])), /gday protocol/],
  ];
  for (const [hello, message] of cases) {
    const [left, right] = duplexPair();
    const [error] = await Promise.all([
      handshake(left, utf8("x")).catch((e) => e),
      rawPeer(right, hello),
    ]);
    assert.ok(error instanceof HandshakeError, String(error));
    assert.match(error.message, message);
  }
});

Deno.test("handshake() refuses a reflected hello and small-order points", async () => {
  // Reflection: everything A sends comes straight back.
  const [left, right] = duplexPair();
  const echo = right.readable.pipeTo(right.writable).catch(() => {});
  const reflected = await handshake(left, utf8("x")).catch((e) => e);
  assert.ok(reflected instanceof HandshakeError);
  assert.ok(reflected.cause instanceof Spake2Error);
  assert.equal(reflected.cause.reason, "reflected");
  await echo;
  for (const point of ED25519_TORSION_SUBGROUP) {
    const [l, r] = duplexPair();
    const hello = cat(new Uint8Array([1, 0x53]), hex(point));
    const [error] = await Promise.all([handshake(l, utf8("x")).catch((e) => e), rawPeer(r, hello)]);
    assert.ok(error instanceof HandshakeError, String(error));
    assert.ok(error.cause instanceof Spake2Error);
    assert.equal(error.cause.reason, "small-order");
  }
});

Deno.test("handshake() validates its options and leaves a locked transport alone", async () => {
  const [left] = duplexPair();
  await assert.rejects(handshake(left, utf8("x"), { timeoutMs: 0 }), RangeError);
  const reader = left.readable.getReader();
  await assert.rejects(handshake(left, utf8("x")), TypeError);
  reader.releaseLock();
  // The writable was not left locked by the failed attempt.
  left.writable.getWriter().releaseLock();
});
