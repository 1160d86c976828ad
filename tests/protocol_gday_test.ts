import assert from "node:assert/strict";
import {
  type ClientMsg,
  decodeClientMsg,
  decodeServerMsg,
  encodeClientFrame,
  encodeClientMsg,
  encodeServerFrame,
  encodeServerMsg,
  GdayProtocolError,
  SERVER_UNIT_REPLIES,
  type ServerMsg,
} from "../protocol/gday.ts";
import { encodeFrame } from "../framing/length_prefixed.ts";

const text = new TextEncoder();
const utf8 = (s: string): Uint8Array => text.encode(s);
const frameOf = (json: string): string => encodeFrame(utf8(json)).toHex();

// Spec §6.1: every message, as full frames (length ‖ JSON).
const CLIENT_VECTORS: [ClientMsg, string, number][] = [
  [{ type: "CreateRoom", roomCode: 452932n }, '{"CreateRoom":{"room_code":452932}}', 35],
  [
    { type: "DoneSending", roomCode: 24325423n, isCreator: false },
    '{"DoneSending":{"room_code":24325423,"is_creator":false}}',
    57,
  ],
  [
    {
      type: "SendAddr",
      roomCode: 314n,
      isCreator: false,
      privateAddr: { family: "v6", ip: "2001:db8::1", port: 8080, scopeId: 0 },
    },
    '{"SendAddr":{"room_code":314,"is_creator":false,"private_addr":"[2001:db8::1]:8080"}}',
    85,
  ],
  [
    {
      type: "SendAddr",
      roomCode: 2345n,
      isCreator: true,
      privateAddr: { family: "v4", ip: "31.31.65.31", port: 324 },
    },
    '{"SendAddr":{"room_code":2345,"is_creator":true,"private_addr":"31.31.65.31:324"}}',
    82,
  ],
  [
    { type: "SendAddr", roomCode: 2345n, isCreator: false, privateAddr: null },
    '{"SendAddr":{"room_code":2345,"is_creator":false,"private_addr":null}}',
    70,
  ],
];

const CONTACT = {
  private: {
    v4: { family: "v4", ip: "31.31.65.31", port: 324 },
    v6: { family: "v6", ip: "2001:db8::1", port: 8080, scopeId: 0 },
  },
  public: {
    v4: { family: "v4", ip: "31.31.65.31", port: 324 },
    v6: { family: "v6", ip: "2001:db8::1", port: 8080, scopeId: 0 },
  },
} as const;

const SERVER_VECTORS: [ServerMsg, string, number][] = [
  [{ type: "RoomCreated" }, '"RoomCreated"', 13],
  [{ type: "ReceivedAddr" }, '"ReceivedAddr"', 14],
  [{ type: "ErrorRoomTaken" }, '"ErrorRoomTaken"', 16],
  [{ type: "ErrorPeerTimedOut" }, '"ErrorPeerTimedOut"', 19],
  [{ type: "ErrorNoSuchRoomID" }, '"ErrorNoSuchRoomID"', 19],
  [{ type: "ErrorTooManyRequests" }, '"ErrorTooManyRequests"', 22],
  [{ type: "ErrorSyntax" }, '"ErrorSyntax"', 13],
  [{ type: "ErrorConnection" }, '"ErrorConnection"', 17],
  [{ type: "ErrorInternal" }, '"ErrorInternal"', 15],
  [
    { type: "ClientContact", contact: structuredClone(CONTACT) },
    '{"ClientContact":{"private":{"v4":"31.31.65.31:324","v6":"[2001:db8::1]:8080"},"public":{"v4":"31.31.65.31:324","v6":"[2001:db8::1]:8080"}}}',
    140,
  ],
  [
    {
      type: "PeerContact",
      contact: {
        private: { v4: { family: "v4", ip: "192.168.1.5", port: 40000 }, v6: null },
        public: {
          v4: null,
          v6: { family: "v6", ip: "::ffff:203.0.113.7", port: 40000, scopeId: 0 },
        },
      },
    },
    '{"PeerContact":{"private":{"v4":"192.168.1.5:40000","v6":null},"public":{"v4":null,"v6":"[::ffff:203.0.113.7]:40000"}}}',
    119,
  ],
];

Deno.test("gday vectors: the spec's exact frames from testdata", async () => {
  const data = JSON.parse(
    await Deno.readTextFile(new URL("../testdata/gday_frames.json", import.meta.url)),
  );
  const byName = new Map<string, string>(
    data.frames.map((f: { name: string; hex: string }) => [f.name, f.hex]),
  );
  assert.equal(
    encodeClientFrame({ type: "CreateRoom", roomCode: 452932n }).toHex(),
    byName.get("CreateRoom{452932}"),
  );
  assert.equal(encodeServerFrame({ type: "RoomCreated" }).toHex(), byName.get("RoomCreated"));
  assert.equal(encodeServerFrame({ type: "ErrorRoomTaken" }).toHex(), byName.get("ErrorRoomTaken"));
  assert.equal(
    encodeClientFrame({ type: "DoneSending", roomCode: 24325423n, isCreator: false }).toHex(),
    byName.get("DoneSending{24325423,false}"),
  );
});

Deno.test("encodeClientMsg() and decodeClientMsg() round-trip every §6.1 client vector", () => {
  for (const [msg, json, length] of CLIENT_VECTORS) {
    assert.equal(new TextDecoder().decode(encodeClientMsg(msg)), json);
    assert.equal(encodeClientMsg(msg).length, length);
    assert.equal(encodeClientFrame(msg).toHex(), frameOf(json));
    assert.deepEqual(decodeClientMsg(utf8(json)), msg);
  }
});

Deno.test("encodeServerMsg() and decodeServerMsg() round-trip every §6.1 server vector", () => {
  for (const [msg, json, length] of SERVER_VECTORS) {
    assert.equal(new TextDecoder().decode(encodeServerMsg(msg)), json);
    assert.equal(encodeServerMsg(msg).length, length, json);
    assert.equal(encodeServerFrame(msg).toHex(), frameOf(json));
    assert.deepEqual(decodeServerMsg(utf8(json)), msg);
  }
  assert.equal(SERVER_VECTORS.length, SERVER_UNIT_REPLIES.length + 2);
});

Deno.test("room codes are full u64: 2^53+1 and 2^64-1 round-trip exactly", () => {
  for (const code of [2n ** 53n + 1n, 2n ** 64n - 1n, 0n]) {
    const body = encodeClientMsg({ type: "CreateRoom", roomCode: code });
    assert.equal(new TextDecoder().decode(body), `{"CreateRoom":{"room_code":${code}}}`);
    assert.deepEqual(decodeClientMsg(body), { type: "CreateRoom", roomCode: code });
  }
  assert.throws(
    () => encodeClientMsg({ type: "CreateRoom", roomCode: 2n ** 64n }),
    GdayProtocolError,
  );
  assert.throws(() => encodeClientMsg({ type: "CreateRoom", roomCode: -1n }), GdayProtocolError);
});

Deno.test("decodeClientMsg() accepts serde's leniencies (§1.4)", () => {
  // Unknown keys ignored, key order free.
  assert.deepEqual(
    decodeClientMsg(utf8('{"DoneSending":{"extra":[1,{"x":2}],"is_creator":true,"room_code":7}}')),
    {
      type: "DoneSending",
      roomCode: 7n,
      isCreator: true,
    },
  );
  // A missing Option field is None.
  assert.deepEqual(decodeClientMsg(utf8('{"SendAddr":{"room_code":1,"is_creator":true}}')), {
    type: "SendAddr",
    roomCode: 1n,
    isCreator: true,
    privateAddr: null,
  });
  // Struct variants in serde's sequence form; whitespace around and inside.
  assert.deepEqual(decodeClientMsg(utf8(' {"CreateRoom" : [ 9 ]} \n')), {
    type: "CreateRoom",
    roomCode: 9n,
  });
  // Upper-case IPv6 is parsed and canonicalised.
  const msg = decodeClientMsg(
    utf8('{"SendAddr":{"room_code":1,"is_creator":false,"private_addr":"[2001:DB8:0:0::1%3]:9"}}'),
  );
  assert.deepEqual(msg, {
    type: "SendAddr",
    roomCode: 1n,
    isCreator: false,
    privateAddr: { family: "v6", ip: "2001:db8::1", port: 9, scopeId: 3 },
  });
});

Deno.test('decodeServerMsg() accepts unit variants as {"Name":null} and tolerates mapped v6', () => {
  for (const name of SERVER_UNIT_REPLIES) {
    assert.deepEqual(decodeServerMsg(utf8(`{"${name}":null}`)), { type: name });
  }
  const msg = decodeServerMsg(
    utf8('{"PeerContact":{"public":{"v6":"[::ffff:203.0.113.7]:40000"},"private":{}}}'),
  );
  assert.deepEqual(msg, {
    type: "PeerContact",
    contact: {
      private: { v4: null, v6: null },
      public: { v4: null, v6: { family: "v6", ip: "::ffff:203.0.113.7", port: 40000, scopeId: 0 } },
    },
  });
});

Deno.test("decodeClientMsg() rejects wrong types, unknown variants and garbage", () => {
  const bad = [
    '{"CreateRoom":{"room_code":"452932"}}', // string code
    '{"CreateRoom":{"room_code":-1}}', // negative
    '{"CreateRoom":{"room_code":1.0}}', // float
    '{"CreateRoom":{"room_code":1e3}}', // exponent
    '{"CreateRoom":{"room_code":18446744073709551616}}', // 2^64
    '{"CreateRoom":{}}', // missing field
    '{"CreateRoom":null}', // struct variant without fields
    '"CreateRoom"', // struct variant as unit
    '{"JoinRoom":{"room_code":1}}', // unknown variant
    '"RoomCreated"', // a server message
    '{"CreateRoom":{"room_code":1},"DoneSending":{"room_code":1,"is_creator":true}}', // two keys
    '{"SendAddr":{"room_code":1,"is_creator":"yes","private_addr":null}}', // wrong bool
    '{"SendAddr":{"room_code":1,"is_creator":true,"private_addr":"not an address"}}',
    '{"SendAddr":{"room_code":1,"is_creator":true,"private_addr":"1.2.3.4:65536"}}',
    '{"SendAddr":{"room_code":1,"is_creator":true,"private_addr":"[1.2.3.4]:5"}}',
    '{"SendAddr":{"room_code":1,"is_creator":true,"private_addr":5}}',
    '{"CreateRoom":[1,2]}', // too many fields
    '{"CreateRoom":{"room_code":1}} x', // trailing garbage
    "",
    "{",
    "[]",
    "null",
  ];
  for (const json of bad) assert.throws(() => decodeClientMsg(utf8(json)), GdayProtocolError, json);
  assert.throws(() => decodeClientMsg(new Uint8Array([0xff, 0xfe, 0x22])), GdayProtocolError);
});

Deno.test("decodeServerMsg() rejects contacts with the wrong family in a slot", () => {
  assert.throws(
    () =>
      decodeServerMsg(
        utf8(
          '{"PeerContact":{"private":{"v4":"[::1]:1","v6":null},"public":{"v4":null,"v6":null}}}',
        ),
      ),
    GdayProtocolError,
  );
  assert.throws(
    () =>
      decodeServerMsg(
        utf8(
          '{"PeerContact":{"private":{"v4":null,"v6":"1.2.3.4:1"},"public":{"v4":null,"v6":null}}}',
        ),
      ),
    GdayProtocolError,
  );
  assert.throws(
    () => decodeServerMsg(utf8('{"PeerContact":{"private":{"v4":null,"v6":null}}}')),
    GdayProtocolError,
  );
  assert.throws(() => decodeServerMsg(utf8('{"RoomCreated":1}')), GdayProtocolError);
  assert.throws(() => decodeServerMsg(utf8('"Hello"')), GdayProtocolError);
});
