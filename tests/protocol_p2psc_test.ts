import assert from "node:assert/strict";
import { createPrivateKey, createPublicKey } from "node:crypto";
import {
  checkP2pscVersion,
  decodeP2pscBase64,
  decodeP2pscMessage,
  decryptP2pscNonce,
  encodeP2pscBase64,
  encodeP2pscMessage,
  encryptP2pscNonce,
  formatP2pscPublicKey,
  P2PSC_MESSAGE_TYPES,
  p2pscJsonString,
  P2pscKeyError,
  type P2pscMessage,
  P2pscProtocolError,
  parseP2pscPublicKey,
  randomP2pscNonce,
} from "../protocol/p2psc.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
const text = (bytes: Uint8Array): string => dec.decode(bytes);

const vectors = JSON.parse(
  await Deno.readTextFile(new URL("../testdata/p2psc_messages.json", import.meta.url)),
) as {
  messages: {
    name: string;
    payload: Record<string, string | number>;
    json: string;
    bytes: number;
  }[];
  peerAcknowledgementHex: string;
  sizes: Record<string, number>;
};
const keys = JSON.parse(
  await Deno.readTextFile(new URL("../testdata/p2psc_keys.json", import.meta.url)),
) as Record<string, { public: string; private: string; spki: string }>;
const alice = keys.alice!, bob = keys.bob!;

/** Wire field names to our message objects. */
function fromWire(name: string, p: Record<string, string | number>): P2pscMessage {
  switch (name) {
    case "AdvertiseResponse":
      return { type: name, nonce: p.nonce as string };
    case "AdvertiseAbort":
      return { type: name, reason: p.reason as string };
    case "PeerDisconnect":
      return { type: name, port: p.port as number };
    case "PeerIdentification":
      return {
        type: name,
        version: p.version as number,
        ip: p.ip as string,
        port: p.port as number,
      };
    case "PeerResponse":
      return { type: name, decryptedNonce: p.decrypted_nonce as string };
    case "PeerAcknowledgement":
      return { type: name };
  }
  throw new Error(`No vector mapping for ${name}`);
}

Deno.test("p2psc codec: the spec's example messages, byte for byte, both ways", () => {
  for (const v of vectors.messages) {
    const msg = fromWire(v.name, v.payload);
    const bytes = encodeP2pscMessage(msg);
    assert.equal(text(bytes), v.json, v.name);
    assert.equal(bytes.length, v.bytes, v.name);
    assert.deepEqual(decodeP2pscMessage(enc.encode(v.json)), msg, v.name);
  }
  assert.equal(
    encodeP2pscMessage({ type: "PeerAcknowledgement" }).toHex(),
    vectors.peerAcknowledgementHex,
  );
});

Deno.test("p2psc codec: Advertise with 2048-bit keys is 930 bytes, keys in order, \\n escaped", () => {
  const bytes = encodeP2pscMessage({
    type: "Advertise",
    version: 0,
    ourKey: alice.public,
    theirKey: bob.public,
  });
  assert.equal(alice.public.length, vectors.sizes.pem2048);
  assert.equal(p2pscJsonString(alice.public).length - 2, vectors.sizes.pem2048InJson);
  assert.equal(bytes.length, vectors.sizes.advertise2048);
  const expected = `{"type":0,"payload":{"version":0,"our_key":"${
    alice.public.replaceAll("\n", "\\n")
  }","their_key":"${bob.public.replaceAll("\n", "\\n")}"}}`;
  assert.equal(text(bytes), expected);
  assert.deepEqual(decodeP2pscMessage(bytes), {
    type: "Advertise",
    version: 0,
    ourKey: alice.public,
    theirKey: bob.public,
  });
});

Deno.test("p2psc codec: challenge sizes as computed in the spec", () => {
  const sealed = encryptP2pscNonce(createPublicKey(alice.public), "1804289383");
  assert.equal(sealed.length, vectors.sizes.ciphertext2048Base64);
  assert.ok(!sealed.endsWith("="));
  assert.equal(
    encodeP2pscMessage({ type: "AdvertiseChallenge", encryptedNonce: sealed }).length,
    vectors.sizes.advertiseChallenge2048,
  );
  assert.equal(
    encodeP2pscMessage({
      type: "PeerChallengeResponse",
      encryptedNonce: sealed,
      decryptedNonce: "1804289383",
    }).length,
    vectors.sizes.peerChallengeResponse2048TenDigits,
  );
  assert.equal(
    text(encodeP2pscMessage({ type: "PeerChallenge", encryptedNonce: "QUJD" })),
    '{"type":7,"payload":{"encrypted_nonce":"QUJD"}}',
  );
  assert.equal(
    text(encodeP2pscMessage({ type: "AdvertiseRetry", reason: "again" })),
    '{"type":4,"payload":{"reason":"again"}}',
  );
  assert.equal(decryptP2pscNonce(createPrivateKey(alice.private), sealed), "1804289383");
  // p2psc accepts padded base64 too.
  assert.equal(decryptP2pscNonce(createPrivateKey(alice.private), sealed + "=="), "1804289383");
});

Deno.test("p2psc codec: all 11 types round-trip", () => {
  const all: P2pscMessage[] = [
    { type: "Advertise", version: 255, ourKey: "a", theirKey: "b" },
    { type: "AdvertiseChallenge", encryptedNonce: "x" },
    { type: "AdvertiseResponse", nonce: "n" },
    { type: "AdvertiseAbort", reason: 'quote " backslash \\ tab \t nul \u0000 / é' },
    { type: "AdvertiseRetry", reason: "" },
    { type: "PeerDisconnect", port: 65535 },
    { type: "PeerIdentification", version: 0, ip: "0.0.0.0", port: 0 },
    { type: "PeerChallenge", encryptedNonce: "y" },
    { type: "PeerChallengeResponse", encryptedNonce: "e", decryptedNonce: "d" },
    { type: "PeerResponse", decryptedNonce: "d" },
    { type: "PeerAcknowledgement" },
  ];
  assert.equal(all.length, Object.keys(P2PSC_MESSAGE_TYPES).length);
  for (const msg of all) {
    const bytes = encodeP2pscMessage(msg);
    assert.ok(text(bytes).startsWith(`{"type":${P2PSC_MESSAGE_TYPES[msg.type]},"payload":{`));
    assert.deepEqual(decodeP2pscMessage(bytes), msg);
  }
});

Deno.test("p2psc codec: strings are escaped as spotify-json escapes them", () => {
  assert.equal(p2pscJsonString("a/b"), '"a/b"');
  assert.equal(p2pscJsonString("\b\t\n\f\r"), '"\\b\\t\\n\\f\\r"');
  assert.equal(p2pscJsonString("\u001f\u000b"), '"\\u001F\\u000B"');
  assert.equal(p2pscJsonString('"\\'), '"\\"\\\\"');
  assert.equal(p2pscJsonString("é✓\u007f"), '"é✓\u007f"');
});

Deno.test("p2psc codec: decoding is as lenient as spotify-json, and checks what p2psc does not", () => {
  // Whitespace around, unknown keys, keys in another order.
  assert.deepEqual(
    decodeP2pscMessage(
      enc.encode('\n {"payload":{"port":1,"ip":"1.2.3.4","x":[],"version":0},"type":6,"y":null} '),
    ),
    { type: "PeerIdentification", version: 0, ip: "1.2.3.4", port: 1 },
  );
  // PeerAcknowledgement: any payload object.
  assert.deepEqual(decodeP2pscMessage(enc.encode('{"type":10,"payload":{"a":1}}')), {
    type: "PeerAcknowledgement",
  });
  const bad = [
    "",
    "{}",
    '{"type":11,"payload":{}}',
    '{"type":"Advertise","payload":{}}',
    '{"type":2}',
    '{"type":2,"payload":[]}',
    '{"type":2,"payload":{}}',
    '{"type":2,"payload":{"nonce":5}}',
    '{"type":5,"payload":{"port":65536}}',
    '{"type":5,"payload":{"port":-1}}',
    '{"type":5,"payload":{"port":1.5}}',
    '{"type":6,"payload":{"version":0,"ip":"::1","port":1}}',
    '{"type":6,"payload":{"ip":"1.2.3.4","port":1}}',
    '{"type":0,"payload":{"version":256,"our_key":"a","their_key":"b"}}',
    '{"type":2,"payload":{"nonce":"1"}} x',
    '{"type":2,"payload":{"nonce":"1"}}{"type":10,"payload":{}}',
  ];
  for (const input of bad) {
    assert.throws(() => decodeP2pscMessage(enc.encode(input)), P2pscProtocolError, input);
  }
  assert.throws(
    () => encodeP2pscMessage({ type: "PeerDisconnect", port: 70000 }),
    P2pscProtocolError,
  );
  assert.throws(
    () => encodeP2pscMessage({ type: "PeerIdentification", version: 0, ip: "x", port: 1 }),
    P2pscProtocolError,
  );
});

Deno.test("p2psc keys: PKCS#1 PEM only, fingerprinted canonically", () => {
  const key = parseP2pscPublicKey(alice.public);
  assert.equal(key.bits, 2048);
  assert.equal(formatP2pscPublicKey(key.key), alice.public);
  // Another PEM text of the same key (other line breaks) has the same fingerprint.
  const body = alice.public.split("\n").slice(1, -2).join("");
  const rewrapped = `-----BEGIN RSA PUBLIC KEY-----\n${
    body.match(/.{1,76}/g)!.join("\n")
  }\n-----END RSA PUBLIC KEY-----`;
  assert.equal(parseP2pscPublicKey(rewrapped).fingerprint, key.fingerprint);
  assert.notEqual(parseP2pscPublicKey(bob.public).fingerprint, key.fingerprint);

  assert.throws(() => parseP2pscPublicKey(alice.spki), (e) => {
    assert.ok(e instanceof P2pscKeyError);
    assert.match(e.message, /'PUBLIC KEY' PEM: p2psc needs a PKCS#1/);
    return true;
  });
  assert.throws(() => parseP2pscPublicKey(alice.private), /'RSA PRIVATE KEY' PEM/);
  assert.throws(() => parseP2pscPublicKey("hello"), /not a PEM/);
  assert.throws(
    () =>
      parseP2pscPublicKey("-----BEGIN RSA PUBLIC KEY-----\nAAAA\n-----END RSA PUBLIC KEY-----\n"),
    /does not hold a PKCS#1/,
  );
  // The SPKI body under a PKCS#1 header is refused too (the DER is not RSAPublicKey).
  const spkiBody = alice.spki.split("\n").slice(1, -2).join("\n");
  assert.throws(
    () =>
      parseP2pscPublicKey(
        `-----BEGIN RSA PUBLIC KEY-----\n${spkiBody}\n-----END RSA PUBLIC KEY-----\n`,
      ),
    P2pscKeyError,
  );
  assert.throws(() => parseP2pscPublicKey(alice.public, { minBits: 3072 }), /2048 bits/);
});

Deno.test("p2psc keys: a wrong key cannot answer, nonces are fresh printable ASCII", () => {
  const sealed = encryptP2pscNonce(createPublicKey(alice.public), "secret");
  assert.throws(() => decryptP2pscNonce(createPrivateKey(bob.private), sealed), P2pscKeyError);
  assert.throws(() => decryptP2pscNonce(createPrivateKey(alice.private), "%%%"), P2pscKeyError);
  const seen = new Set<string>();
  for (let i = 0; i < 200; i++) {
    const nonce = randomP2pscNonce();
    assert.match(nonce, /^[\x21-\x7e]{32}$/);
    seen.add(nonce);
  }
  assert.equal(seen.size, 200);
  assert.equal(encodeP2pscBase64(new Uint8Array([0xfb, 0xff])), "+/8");
  assert.deepEqual([...decodeP2pscBase64("+/8")], [0xfb, 0xff]);
  assert.throws(() => decodeP2pscBase64("-_8"), P2pscKeyError);
  assert.throws(() => decodeP2pscBase64("A"), P2pscKeyError);
});

Deno.test("p2psc versions: older aborts as p2psc words it, newer is asked to retry", () => {
  assert.deepEqual(checkP2pscVersion(0), { kind: "ok" });
  assert.deepEqual(checkP2pscVersion(0, { min: 1, max: 2 }), {
    kind: "abort",
    reason: "Required protocol version: 1",
  });
  const retry = checkP2pscVersion(7);
  assert.equal(retry.kind, "retry");
  assert.match((retry as { reason: string }).reason, /advertise with version 0/);
  assert.equal(checkP2pscVersion(2, { min: 1, max: 2 }).kind, "ok");
});
