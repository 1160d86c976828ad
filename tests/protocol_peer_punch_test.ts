import assert from "node:assert/strict";
import {
  decodePeerPunchMessage,
  encodePeerPunchMessage,
  isValidChatUsername,
  MAX_PEER_PUNCH_CONTENT_BYTES,
  MAX_PEER_PUNCH_DATAGRAM_BYTES,
  PEER_PUNCH_UNIT_VARIANTS,
  PeerPunchError,
  type PeerPunchMessage,
} from "../protocol/peer_punch.ts";

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
const text = (b: Uint8Array): string => new TextDecoder().decode(b);
const decode = (s: string): PeerPunchMessage => decodePeerPunchMessage(utf8(s));

/** The spec's table (§3.2), as our message values, in the table's order. */
const TABLE: PeerPunchMessage[] = [
  { type: "Register", username: "alice" },
  { type: "Connect", targetUsername: "bob" },
  { type: "SessionFinished" },
  { type: "RegisterAck" },
  { type: "PeerInfo", peer: { family: "v4", ip: "203.0.113.7", port: 40001 }, username: "bob" },
  { type: "TargetNotFound" },
  { type: "TargetBusy" },
  { type: "DirectMessage", content: "Punch!" },
  { type: "Ping" },
  { type: "Pong" },
  { type: "Goodbye" },
];

interface Vector {
  name: string;
  json: string;
  bytes: number;
  hex?: string;
}

const VECTORS: Vector[] = JSON.parse(
  await Deno.readTextFile(new URL("../testdata/peer_punch_messages.json", import.meta.url)),
).messages;

Deno.test("peer_punch: every message in the spec's table encodes to its exact bytes", () => {
  assert.equal(VECTORS.length, TABLE.length);
  VECTORS.forEach((vector, i) => {
    const bytes = encodePeerPunchMessage(TABLE[i]!);
    assert.equal(text(bytes), vector.json, vector.name);
    assert.equal(bytes.length, vector.bytes, vector.name);
    if (vector.hex) assert.equal(bytes.toHex(), vector.hex, vector.name);
  });
});

Deno.test("peer_punch: every message in the spec's table decodes from its exact bytes", () => {
  VECTORS.forEach((vector, i) => {
    const bytes = vector.hex ? Uint8Array.fromHex(vector.hex) : utf8(vector.json);
    assert.deepEqual(decodePeerPunchMessage(bytes), TABLE[i], vector.name);
  });
});

Deno.test("peer_punch: the spec table covers every variant", () => {
  const names = new Set(TABLE.map((m) => m.type));
  for (const unit of PEER_PUNCH_UNIT_VARIANTS) assert.ok(names.has(unit), unit);
  assert.equal(names.size, 11);
});

Deno.test("peer_punch: socket addresses are Rust-style strings, IPv4 and IPv6", () => {
  const cases: [PeerPunchMessage, string][] = [
    [
      {
        type: "PeerInfo",
        peer: { family: "v6", ip: "2001:db8::7", port: 40001, scopeId: 0 },
        username: "bob",
      },
      '{"PeerInfo":{"peer":"[2001:db8::7]:40001","username":"bob"}}',
    ],
    [
      {
        type: "PeerInfo",
        peer: { family: "v6", ip: "::1", port: 8080, scopeId: 0 },
        username: "a",
      },
      '{"PeerInfo":{"peer":"[::1]:8080","username":"a"}}',
    ],
    [
      {
        type: "PeerInfo",
        peer: { family: "v6", ip: "fe80::1", port: 9, scopeId: 3 },
        username: "a",
      },
      '{"PeerInfo":{"peer":"[fe80::1%3]:9","username":"a"}}',
    ],
    [
      { type: "PeerInfo", peer: { family: "v4", ip: "127.0.0.1", port: 0 }, username: "a" },
      '{"PeerInfo":{"peer":"127.0.0.1:0","username":"a"}}',
    ],
  ];
  for (const [msg, json] of cases) {
    assert.equal(text(encodePeerPunchMessage(msg)), json);
    assert.deepEqual(decode(json), msg);
  }
  // Rust's parser canonicalises what it reads; the decoder does the same.
  const loose = decode('{"PeerInfo":{"peer":"[2001:DB8:0:0::7]:1","username":"b"}}');
  assert.equal(loose.type === "PeerInfo" && loose.peer.ip, "2001:db8::7");
  assert.throws(
    () => decode('{"PeerInfo":{"peer":"2001:db8::7:1","username":"b"}}'),
    PeerPunchError,
  );
  assert.throws(() => decode('{"PeerInfo":{"peer":"1.2.3.4","username":"b"}}'), PeerPunchError);
  assert.throws(
    () => decode('{"PeerInfo":{"peer":"1.2.3.4:65536","username":"b"}}'),
    PeerPunchError,
  );
  assert.throws(() => decode('{"PeerInfo":{"peer":7,"username":"b"}}'), PeerPunchError);
  assert.throws(
    () =>
      encodePeerPunchMessage({
        type: "PeerInfo",
        peer: { family: "v4", ip: "1.2.3.999", port: 1 },
        username: "a",
      }),
    PeerPunchError,
  );
});

Deno.test("peer_punch: strings are escaped exactly as serde_json escapes them", () => {
  const cases: [string, string][] = [
    ['say "hi"', '"say \\"hi\\""'],
    ["back\\slash", '"back\\\\slash"'],
    ["a/b", '"a/b"'], // `/` raw
    ["é ☃ 😀", '"é ☃ 😀"'], // non-ASCII raw UTF-8
    ["\u2028\u2029", '"\u2028\u2029"'], // raw, as serde writes them
    ["\x7f", '"\x7f"'], // DEL is not a control character for JSON
    ["\b\t\n\f\r", '"\\b\\t\\n\\f\\r"'],
    ["\x00\x01\x0b\x1f", '"\\u0000\\u0001\\u000b\\u001f"'], // lowercase hex
  ];
  for (const [content, json] of cases) {
    const bytes = encodePeerPunchMessage({ type: "DirectMessage", content });
    assert.equal(text(bytes), `{"DirectMessage":{"content":${json}}}`);
    assert.deepEqual(decodePeerPunchMessage(bytes), { type: "DirectMessage", content });
  }
  // Rust strings are UTF-8: a lone surrogate cannot be sent.
  assert.throws(
    () => encodePeerPunchMessage({ type: "DirectMessage", content: "\ud800" }),
    PeerPunchError,
  );
});

Deno.test("peer_punch: decoder leniencies are serde_json's", () => {
  // A unit variant as a string or as a one-key object with null.
  assert.deepEqual(decode('{"Ping":null}'), { type: "Ping" });
  assert.deepEqual(decode('{ "Goodbye" : null }'), { type: "Goodbye" });
  // A struct variant as an object or as an array of its fields in order.
  assert.deepEqual(decode('{"Register":["alice"]}'), { type: "Register", username: "alice" });
  assert.deepEqual(decode('{"PeerInfo":["203.0.113.7:40001","bob"]}'), {
    type: "PeerInfo",
    peer: { family: "v4", ip: "203.0.113.7", port: 40001 },
    username: "bob",
  });
  // Unknown fields are ignored, whatever they hold; keys in any order; whitespace around.
  assert.deepEqual(
    decode(
      ' \n{"PeerInfo":{"x":[1,-2.5e+3,{"y":[true,false,null]}],"username":"bob","peer":"1.2.3.4:5","z":"\\u00e9"}}\t\r\n',
    ),
    { type: "PeerInfo", peer: { family: "v4", ip: "1.2.3.4", port: 5 }, username: "bob" },
  );
  // Ignored strings are not checked for UTF-8 or lone surrogates (serde's ignore_str).
  const ignored = new Uint8Array([
    ...utf8('{"Register":{"x":"'),
    0xff,
    ...utf8('\\udc00","username":"a"}}'),
  ]);
  assert.deepEqual(decodePeerPunchMessage(ignored), { type: "Register", username: "a" });
  // Escapes in names and fields are decoded.
  assert.deepEqual(decode('"P\\u0069ng"'), { type: "Ping" });
  assert.deepEqual(decode('{"Connect":{"target\\u005fusername":"b\\/\\ud83d\\ude00"}}'), {
    type: "Connect",
    targetUsername: "b/😀",
  });
});

Deno.test("peer_punch: decoder refuses what serde_json refuses", () => {
  const bad = [
    "", // empty
    "   ",
    '"Register"', // a struct variant as a bare string
    '"Nope"', // unknown variant
    '{"Nope":null}',
    '{"Nope":{"username":"a"}}',
    '"Ping" x', // trailing non-whitespace
    '"Ping""Pong"',
    '{"Ping":null}}',
    '{"Ping":{}}', // a unit variant carries only null
    '{"Ping":[]}',
    '{"Ping":0}',
    '{"Ping"}',
    "{}",
    '{"Ping":null,"Pong":null}', // an enum object has exactly one key
    '{"Register":{}}', // missing field
    '{"Register":[]}',
    '{"Register":["a","b"]}', // too many fields
    '{"Register":["a",]}',
    '{"Register":{"username":"a","username":"b"}}', // duplicate field
    '{"Register":{"username":"a",}}', // trailing comma
    '{"Register":{"username":7}}', // wrong type
    '{"Register":{"username":null}}',
    '{"Register":"alice"}',
    '{"Register":null}',
    '{"Register":{"username":"a","x":01}}', // invalid JSON inside an ignored field
    '{"Register":{"username":"a","x":[1,]}}',
    '{"Register":{"username":"a","x":.5}}',
    '{"Register":{"username":"a","x":1.}}',
    '{"Register":{"username":"a","x":"\\x"}}',
    '{"Register":{"username":"a","x":"\\u12"}}',
    '{"Register":{"username":"a","x":tru}}',
    '{"Register":{"username":"a","x":{1:2}}}',
    '{"Register":{"username":"\\ud800"}}', // lone surrogates in read strings
    '{"Register":{"username":"\\udc00"}}',
    '{"Register":{"username":"\\ud800\\u0041"}}',
    '{"Register":{"username":"a\tb"}}', // raw control character
    "'Ping'",
    "Ping",
    "null",
    "[]",
    '["Ping"]',
    '\ufeff"Ping"', // a byte-order mark is not whitespace
  ];
  for (const json of bad) {
    assert.throws(() => decode(json), PeerPunchError, JSON.stringify(json));
  }
  // Invalid UTF-8 in a string that is read, and outside strings.
  const badUtf8 = new Uint8Array([...utf8('{"Register":{"username":"'), 0xc3, ...utf8('"}}')]);
  assert.throws(() => decodePeerPunchMessage(badUtf8), PeerPunchError);
  assert.throws(() => decodePeerPunchMessage(new Uint8Array([0xff])), PeerPunchError);
});

Deno.test("peer_punch: datagrams above 1024 bytes are refused both ways", () => {
  const fits = "x".repeat(MAX_PEER_PUNCH_CONTENT_BYTES);
  const bytes = encodePeerPunchMessage({ type: "DirectMessage", content: fits });
  assert.equal(bytes.length, MAX_PEER_PUNCH_DATAGRAM_BYTES);
  assert.deepEqual(decodePeerPunchMessage(bytes), { type: "DirectMessage", content: fits });
  assert.throws(
    () => encodePeerPunchMessage({ type: "DirectMessage", content: fits + "x" }),
    PeerPunchError,
  );
  const big = new Uint8Array(MAX_PEER_PUNCH_DATAGRAM_BYTES + 1).fill(0x20);
  big.set(utf8('"Ping"'));
  assert.throws(() => decodePeerPunchMessage(big), PeerPunchError);
});

Deno.test("peer_punch: the encoder refuses invalid messages", () => {
  assert.throws(
    () => encodePeerPunchMessage({ type: "Hello" } as unknown as PeerPunchMessage),
    PeerPunchError,
  );
  assert.throws(
    () => encodePeerPunchMessage({ type: "Register" } as unknown as PeerPunchMessage),
    PeerPunchError,
  );
});

Deno.test("peer_punch: deep nesting in an ignored field stays within the size cap", () => {
  const depth = 490;
  const json = `{"Register":{"username":"a","x":${"[".repeat(depth)}${"]".repeat(depth)}}}`;
  assert.ok(json.length <= MAX_PEER_PUNCH_DATAGRAM_BYTES);
  assert.deepEqual(decode(json), { type: "Register", username: "a" });
});

Deno.test("peer_punch: usernames follow peerlink's documented rule", () => {
  for (const ok of ["a", "alice", "Bob_2", "x.y-z", "9lives", "a".repeat(32)]) {
    assert.ok(isValidChatUsername(ok), ok);
  }
  for (const bad of ["", "a".repeat(33), "-a", ".a", "_a", "a b", "é", "a/b", "a\n"]) {
    assert.ok(!isValidChatUsername(bad), JSON.stringify(bad));
  }
});
