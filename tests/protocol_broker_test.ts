import assert from "node:assert/strict";
import {
  BROKER_MESSAGE_TYPES,
  BROKER_PROTOCOL_VERSION,
  type BrokerMessage,
  BrokerProtocolError,
  BrokerVersionError,
  decodeBrokerMessage,
  encodeBrokerFrame,
  encodeBrokerMessage,
  isValidBrokerToken,
  isValidBrokerUid,
  MAX_BROKER_MESSAGE_BYTES,
  randomBrokerToken,
} from "../protocol/broker.ts";
import { parseSocketAddr } from "../protocol/socket_addr.ts";
import { decodeServerMsg } from "../protocol/gday.ts";

interface Vector {
  name: string;
  message: Record<string, unknown>;
  json: string;
  frame?: string;
}
interface Invalid {
  name: string;
  json: string;
  error: string;
  class?: string;
}
const data = JSON.parse(
  await Deno.readTextFile(new URL("../testdata/broker_messages.json", import.meta.url)),
) as { version: number; valid: Vector[]; lenient: Vector[]; invalid: Invalid[] };

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The vector's message with addresses parsed. */
function message(v: Vector): BrokerMessage {
  const out: Record<string, unknown> = { ...v.message };
  for (const key of ["addr", "you"]) {
    if (typeof out[key] === "string") out[key] = parseSocketAddr(out[key] as string);
  }
  return out as unknown as BrokerMessage;
}

Deno.test("protocol/broker: the vectors are for this version", () => {
  assert.equal(data.version, BROKER_PROTOCOL_VERSION);
  // Every message type has at least one vector.
  const covered = new Set(data.valid.map((v) => v.message.type));
  for (const type of BROKER_MESSAGE_TYPES) assert.ok(covered.has(type), `no vector for ${type}`);
});

for (const v of data.valid) {
  Deno.test(`protocol/broker: encodeBrokerMessage() writes the vector "${v.name}"`, () => {
    assert.equal(decoder.decode(encodeBrokerMessage(message(v))), v.json);
    assert.equal(encodeBrokerFrame(message(v)).toHex(), v.frame);
  });
  Deno.test(`protocol/broker: decodeBrokerMessage() reads the vector "${v.name}"`, () => {
    assert.deepEqual(decodeBrokerMessage(encoder.encode(v.json)), message(v));
  });
}

for (const v of data.lenient) {
  Deno.test(`protocol/broker: decodeBrokerMessage() accepts ${v.name}`, () => {
    assert.deepEqual(decodeBrokerMessage(encoder.encode(v.json)), message(v));
  });
}

for (const v of data.invalid) {
  Deno.test(`protocol/broker: decodeBrokerMessage() refuses ${v.name}`, () => {
    let caught: unknown;
    try {
      decodeBrokerMessage(encoder.encode(v.json));
    } catch (e) {
      caught = e;
    }
    assert.ok(caught instanceof BrokerProtocolError, String(caught));
    assert.ok((caught as Error).message.includes(v.error), (caught as Error).message);
    if (v.class === "BrokerVersionError") {
      assert.ok(caught instanceof BrokerVersionError);
      assert.equal((caught as BrokerVersionError).version, 2);
    }
  });
}

Deno.test("protocol/broker: encodeBrokerMessage() refuses invalid fields with a clear message", () => {
  const token = "0f1e2d3c4b5a69788796a5b4c3d2e1f0";
  assert.throws(
    () => encodeBrokerMessage({ type: "connect", uid: "no spaces" }),
    (e: Error) => e instanceof BrokerProtocolError && e.message.includes("connect.uid"),
  );
  assert.throws(
    () => encodeBrokerMessage({ type: "accept", req: 0, token }),
    /accept\.req must be an integer/,
  );
  assert.throws(
    () => encodeBrokerMessage({ type: "request", req: 1, token: "xyz" }),
    /request\.token/,
  );
  assert.throws(
    () => encodeBrokerMessage({ type: "done", req: 1 }),
    /exactly one of via and error/,
  );
  assert.throws(
    () => encodeBrokerMessage({ type: "register", uid: "a", secret: "x".repeat(257) }),
    /register\.secret/,
  );
  assert.throws(
    () =>
      encodeBrokerMessage({
        type: "error",
        error: "busy",
        message: "x".repeat(201),
      }),
    /at most 200/,
  );
  assert.throws(
    () => encodeBrokerMessage({ type: "nope" } as unknown as BrokerMessage),
    /Unknown broker message type/,
  );
});

Deno.test("protocol/broker: the largest valid messages fit the cap", () => {
  const token = randomBrokerToken();
  const v6 = parseSocketAddr("[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff%4294967295]:65535")!;
  const biggest: BrokerMessage[] = [
    { type: "register", uid: "u".repeat(64), secret: "\u{10ffff}".repeat(64) },
    {
      type: "receiver",
      req: Number.MAX_SAFE_INTEGER,
      token,
      addr: v6,
      you: v6,
      step6: "connected",
    },
    {
      type: "registered",
      uid: "u".repeat(64),
      keepaliveMs: 2 ** 31 - 1,
      timeoutMs: 2 ** 31 - 1,
      addr: v6,
    },
    { type: "error", error: "family_mismatch", req: 1, message: "m".repeat(200), family: "v6" },
  ];
  for (const msg of biggest) {
    const body = encodeBrokerMessage(msg);
    assert.ok(body.length < 600, `${msg.type}: ${body.length} bytes`);
    assert.deepEqual(decodeBrokerMessage(body), msg);
  }
  assert.ok(MAX_BROKER_MESSAGE_BYTES >= 600);
});

Deno.test("protocol/broker: UIDs, tokens", () => {
  for (const ok of ["a", "Z9", "alice-laptop.1", "x_y", "a".repeat(64)]) {
    assert.ok(isValidBrokerUid(ok), ok);
  }
  for (const bad of ["", "-a", ".a", "a b", "a/b", "é", "a".repeat(65)]) {
    assert.ok(!isValidBrokerUid(bad), bad);
  }
  const token = randomBrokerToken();
  assert.ok(isValidBrokerToken(token));
  assert.notEqual(token, randomBrokerToken());
  assert.ok(!isValidBrokerToken(token.toUpperCase().replace(/[0-9]/g, "A")));
});

Deno.test("protocol/broker: a broker frame is not a gday frame", () => {
  // The two protocols share the framing, not the bodies: a gday decoder refuses broker messages.
  assert.throws(() => decodeServerMsg(encodeBrokerMessage({ type: "keepalive_ack" })));
});
