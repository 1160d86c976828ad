import assert from "node:assert/strict";
import { hkdfSync } from "node:crypto";
import {
  decodeRelayAck,
  decodeRelayHello,
  decodeRelayStatus,
  encodeRelayAck,
  encodeRelayHelloFrame,
  encodeRelayStatusFrame,
  formatRelayToken,
  MAX_RELAY_HELLO_BYTES,
  parseRelayToken,
  RelayProtocolError,
  type RelayStatus,
} from "../protocol/relay.ts";
import { RELAY_TOKEN_SALT, relayToken } from "../client/relay.ts";
import { RelayState } from "../server/services/relay.ts";

interface Vectors {
  tokens: { secret_hex: string; context_hex: string; token_hex: string }[];
  hello: {
    comment: string;
    token_hex: string;
    frame_hex?: string;
    body?: string;
    encoded?: boolean;
  }[];
  hello_invalid: { comment: string; body?: string; body_hex?: string; code: string }[];
  status: { status: RelayStatus; frame_hex: string }[];
  status_invalid: { comment: string; body: string }[];
  ack: { valid: { text: string; count: number }[]; invalid: string[] };
}

const vectors: Vectors = JSON.parse(
  await Deno.readTextFile(new URL("../testdata/relay_vectors.json", import.meta.url)),
);
const encoder = new TextEncoder();

Deno.test("relayToken() matches the HKDF-SHA256 vectors (computed with Python) and node:crypto", () => {
  for (const v of vectors.tokens) {
    const secret = Uint8Array.fromHex(v.secret_hex);
    const context = Uint8Array.fromHex(v.context_hex);
    assert.equal(relayToken(secret, context).toHex(), v.token_hex);
    const node = new Uint8Array(
      hkdfSync("sha256", secret, encoder.encode(RELAY_TOKEN_SALT), context, 32),
    );
    assert.equal(node.toHex(), v.token_hex);
  }
});

Deno.test("encodeRelayHelloFrame() writes the vector bytes; decodeRelayHello() reads every valid form", () => {
  for (const v of vectors.hello) {
    const token = Uint8Array.fromHex(v.token_hex);
    if (v.encoded) {
      const frame = encodeRelayHelloFrame({ version: 1, token });
      assert.equal(frame.toHex(), v.frame_hex, v.comment);
      assert.equal(decodeRelayHello(frame.subarray(4)).token.toHex(), v.token_hex, v.comment);
    } else {
      const hello = decodeRelayHello(encoder.encode(v.body!));
      assert.equal(hello.version, 1, v.comment);
      assert.equal(hello.token.toHex(), v.token_hex, v.comment);
    }
  }
});

Deno.test("decodeRelayHello() refuses every invalid vector with its code", () => {
  for (const v of vectors.hello_invalid) {
    const body = v.body_hex !== undefined
      ? Uint8Array.fromHex(v.body_hex)
      : encoder.encode(v.body!);
    assert.throws(
      () => decodeRelayHello(body),
      (e) => e instanceof RelayProtocolError && e.code === v.code,
      v.comment,
    );
  }
  const tooLong = new Uint8Array(MAX_RELAY_HELLO_BYTES + 1).fill(0x20);
  assert.throws(() => decodeRelayHello(tooLong), /exceeds/);
});

Deno.test("encodeRelayStatusFrame() writes the vector bytes and decodeRelayStatus() reads them back", () => {
  for (const v of vectors.status) {
    const frame = encodeRelayStatusFrame(v.status);
    assert.equal(frame.toHex(), v.frame_hex);
    assert.deepEqual(decodeRelayStatus(frame.subarray(4)), v.status);
  }
  for (const v of vectors.status_invalid) {
    assert.throws(
      () => decodeRelayStatus(encoder.encode(v.body)),
      (e) => e instanceof RelayProtocolError && e.code === "bad-status",
      v.comment,
    );
  }
  // A newer server's code is kept, so the client can still report it.
  const future = decodeRelayStatus(encoder.encode('{"status":"error","code":"maintenance"}'));
  assert.deepEqual(future, { status: "error", code: "maintenance", message: "" });
});

Deno.test("encodeRelayAck() / decodeRelayAck() follow the vectors", () => {
  for (const v of vectors.ack.valid) {
    assert.equal(decodeRelayAck(v.text), v.count);
    assert.equal(decodeRelayAck(encodeRelayAck(v.count)), v.count);
  }
  for (const text of vectors.ack.invalid) {
    assert.throws(() => decodeRelayAck(text), RelayProtocolError, text);
  }
  assert.throws(() => encodeRelayAck(0), RangeError);
  assert.throws(() => encodeRelayAck(2 ** 32), RangeError);
});

Deno.test("parseRelayToken() / formatRelayToken() take hex and base64url, give lowercase hex", () => {
  const token = crypto.getRandomValues(new Uint8Array(32));
  const b64 = btoa(String.fromCharCode(...token)).replaceAll("+", "-").replaceAll("/", "_")
    .replace(/=+$/, "");
  assert.equal(parseRelayToken(b64)?.toHex(), token.toHex());
  assert.equal(parseRelayToken(token.toHex().toUpperCase())?.toHex(), token.toHex());
  assert.equal(formatRelayToken(token), token.toHex());
  assert.equal(parseRelayToken(""), null);
  assert.throws(() => formatRelayToken(new Uint8Array(31)), RangeError);
  assert.throws(() => encodeRelayHelloFrame({ version: 0, token }), RangeError);
});

Deno.test("RelayState: pairs two, refuses a third (busy), forgets tokens, counts per client", () => {
  const state = new RelayState<string>();
  const a = state.admit("t1", "192.0.2.1", 2, "a");
  assert.equal(a.kind, "waiting");
  assert.equal(state.waitingCircuits, 1);
  // A different token is a different circuit: no pairing.
  assert.equal(state.admit("t2", "192.0.2.9", 2, "x").kind, "waiting");
  const b = state.admit("t1", "198.51.100.1", 2, "b");
  assert.ok(b.kind === "paired" && b.waiter === "a");
  assert.equal(state.activeCircuits, 1);
  assert.deepEqual(state.admit("t1", "203.0.113.1", 2, "c"), { kind: "refused", code: "busy" });
  state.release(b.circuit);
  assert.equal(b.circuit.state, "closed");
  // The token is free again.
  assert.equal(state.admit("t1", "203.0.113.1", 2, "d").kind, "waiting");
  state.clear();
  assert.equal(state.size, 0);
  assert.equal(state.clients, 0);
  assert.equal(state.activeCircuits, 0);
});

Deno.test("RelayState: per-client limit, IPv6 per /64, a shared address counts once per circuit", () => {
  const state = new RelayState();
  assert.equal(state.admit("a", "2001:db8:1:2::1", 2, null).kind, "waiting");
  assert.equal(state.admit("b", "2001:db8:1:2:ffff::9", 2, null).kind, "waiting");
  assert.deepEqual(state.admit("c", "2001:db8:1:2::3", 2, null), {
    kind: "refused",
    code: "limit",
  });
  // Another /64 is another client.
  assert.equal(state.admit("c", "2001:db8:1:3::3", 2, null).kind, "waiting");
  // The second peer of circuit "a" from the same /64 needs no new slot.
  assert.equal(state.admit("a", "2001:db8:1:2::7", 2, null).kind, "paired");
  assert.equal(state.clients, 2);
  state.clear();
  assert.equal(state.clients, 0);
});
