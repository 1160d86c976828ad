import assert from "node:assert/strict";
import { hmac } from "@noble/hashes/hmac.js";
import { md5, sha1 } from "@noble/hashes/legacy.js";
import {
  decodeStunMessage,
  encodeStunMessage,
  getStunAttribute,
  isStunMessage,
  MAX_STUN_BYTES,
  STUN_ATTRIBUTE_CODES,
  STUN_METHOD_BINDING,
  type StunAttribute,
  StunError,
  type StunErrorKind,
  type StunMessage,
} from "../protocol/stun.ts";
import { formatSocketAddr } from "../protocol/socket_addr.ts";

interface Vector {
  name: string;
  hex: string;
  class: string;
  transactionId: string;
  software?: string;
  username?: string;
  xorMappedAddress?: string;
  fingerprint: boolean;
  integrity: "short-term" | "long-term";
}

const DATA = JSON.parse(
  await Deno.readTextFile(new URL("../testdata/stun_rfc5769.json", import.meta.url)),
) as {
  shortTermPassword: string;
  longTerm: { username: string; password: string; realm: string };
  vectors: Vector[];
};
const text = new TextEncoder();
const USERNAME = 0x0006;
const MESSAGE_INTEGRITY = 0x0008;

function raw(message: StunMessage, code: number): Uint8Array | undefined {
  const found = message.attributes.find((a) => a.type === "raw" && a.code === code);
  return found?.type === "raw" ? found.value : undefined;
}

/** RFC 8489 §14.5: HMAC-SHA1 over the message up to MESSAGE-INTEGRITY, length covering it. */
function integrityOk(bytes: Uint8Array, key: Uint8Array): boolean {
  let at = 20;
  while (at < bytes.length) {
    const code = (bytes[at]! << 8) | bytes[at + 1]!;
    const size = (bytes[at + 2]! << 8) | bytes[at + 3]!;
    if (code === MESSAGE_INTEGRITY) {
      const covered = bytes.slice(0, at);
      const length = at + 24 - 20;
      covered[2] = length >> 8;
      covered[3] = length & 0xff;
      return hmac(sha1, key, covered).toHex() === bytes.subarray(at + 4, at + 24).toHex();
    }
    at += 4 + ((size + 3) & ~3);
  }
  return false;
}

function expectError(bytes: Uint8Array, kind: StunErrorKind, allowRfc3489 = false): void {
  assert.throws(
    () => decodeStunMessage(bytes, { allowRfc3489 }),
    (error: unknown) => error instanceof StunError && error.kind === kind,
    `expected a ${kind} StunError for ${bytes.toHex()}`,
  );
}

Deno.test("decodeStunMessage() reads the RFC 5769 vectors, MESSAGE-INTEGRITY and FINGERPRINT checked", () => {
  assert.equal(DATA.vectors.length, 4);
  for (const vector of DATA.vectors) {
    const bytes = Uint8Array.fromHex(vector.hex);
    assert.ok(isStunMessage(bytes), vector.name);
    const message = decodeStunMessage(bytes);
    assert.equal(message.class, vector.class, vector.name);
    assert.equal(message.method, STUN_METHOD_BINDING);
    assert.equal(message.transactionId.toHex(), vector.transactionId);
    assert.equal(message.fingerprint, vector.fingerprint, vector.name);
    assert.equal(getStunAttribute(message, "SOFTWARE")?.text, vector.software, vector.name);
    if (vector.username !== undefined) {
      assert.equal(new TextDecoder().decode(raw(message, USERNAME)), vector.username);
    }
    if (vector.xorMappedAddress !== undefined) {
      const mapped = getStunAttribute(message, "XOR-MAPPED-ADDRESS");
      assert.ok(mapped, vector.name);
      assert.equal(formatSocketAddr(mapped.address), vector.xorMappedAddress);
    }
    // The bytes are the RFC's: their MESSAGE-INTEGRITY verifies with the RFC's credentials.
    const { username, realm, password } = DATA.longTerm;
    const key = vector.integrity === "short-term"
      ? text.encode(DATA.shortTermPassword)
      : md5(text.encode(`${username}:${realm}:${password}`));
    assert.ok(integrityOk(bytes, key), `${vector.name}: MESSAGE-INTEGRITY`);
    assert.equal(raw(message, MESSAGE_INTEGRITY)?.length, 20);
  }
});

Deno.test("encodeStunMessage() writes the RFC 5769 vectors back byte for byte", () => {
  for (const vector of DATA.vectors) {
    const bytes = Uint8Array.fromHex(vector.hex);
    // 2.1 to 2.3 pad with spaces, 2.4 with zeros.
    const paddingByte = vector.integrity === "short-term" ? 0x20 : 0;
    assert.equal(
      encodeStunMessage(decodeStunMessage(bytes), { paddingByte }).toHex(),
      vector.hex,
      vector.name,
    );
  }
});

Deno.test("encodeStunMessage() builds RFC 5769 §2.2 and §2.3 from typed values", () => {
  const transactionId = Uint8Array.fromHex("b7e7a701bc34d686fa87dfae");
  const cases: [string, StunAttribute][] = [
    ["2.2 Sample IPv4 Response", {
      type: "XOR-MAPPED-ADDRESS",
      address: { family: "v4", ip: "192.0.2.1", port: 32853 },
    }],
    ["2.3 Sample IPv6 Response", {
      type: "XOR-MAPPED-ADDRESS",
      address: {
        family: "v6",
        ip: "2001:db8:1234:5678:11:2233:4455:6677",
        port: 32853,
        scopeId: 0,
      },
    }],
  ];
  for (const [name, mapped] of cases) {
    const vector = DATA.vectors.find((v) => v.name === name)!;
    const integrity = raw(decodeStunMessage(Uint8Array.fromHex(vector.hex)), MESSAGE_INTEGRITY)!;
    const bytes = encodeStunMessage({
      class: "success",
      method: STUN_METHOD_BINDING,
      transactionId,
      attributes: [
        { type: "SOFTWARE", text: "test vector" },
        mapped,
        { type: "raw", code: MESSAGE_INTEGRITY, value: integrity },
      ],
      fingerprint: true,
    }, { paddingByte: 0x20 });
    assert.equal(bytes.toHex(), vector.hex, name);
  }
});

Deno.test("encodeStunMessage() and decodeStunMessage() round-trip every typed attribute", () => {
  const message: StunMessage = {
    class: "error",
    method: 0xabc,
    transactionId: crypto.getRandomValues(new Uint8Array(12)),
    attributes: [
      { type: "MAPPED-ADDRESS", address: { family: "v4", ip: "203.0.113.5", port: 1 } },
      {
        type: "XOR-MAPPED-ADDRESS",
        address: { family: "v6", ip: "::ffff:203.0.113.5", port: 65535, scopeId: 0 },
      },
      { type: "RESPONSE-ORIGIN", address: { family: "v4", ip: "0.0.0.0", port: 3478 } },
      {
        type: "OTHER-ADDRESS",
        address: { family: "v6", ip: "2001:db8::1", port: 3479, scopeId: 0 },
      },
      { type: "SOURCE-ADDRESS", address: { family: "v4", ip: "192.0.2.1", port: 2 } },
      { type: "CHANGED-ADDRESS", address: { family: "v4", ip: "192.0.2.2", port: 3 } },
      { type: "CHANGE-REQUEST", changeIp: true, changePort: false },
      { type: "RESPONSE-PORT", port: 40000 },
      { type: "PADDING", length: 5 },
      { type: "SOFTWARE", text: "peerlink ✓" },
      { type: "ERROR-CODE", code: 420, reason: "Unknown Attribute" },
      { type: "UNKNOWN-ATTRIBUTES", types: [0x0024, 0x0006, 0x7fff] },
      { type: "raw", code: 0xc001, value: Uint8Array.of(1, 2, 3) },
    ],
    fingerprint: true,
  };
  const bytes = encodeStunMessage(message);
  assert.equal(bytes.length % 4, 0);
  const decoded = decodeStunMessage(bytes);
  assert.deepEqual(decoded, message);
  // The class and method bits are interleaved as RFC 8489 §5 Figure 3 shows.
  assert.equal((bytes[0]! << 8) | bytes[1]!, 0x2a6c | 0x0110); // 0xabc: M0-3 0xc, M4-6 at bit 5, M7-11 at bit 9
  const types = ["request", "indication", "success", "error"] as const;
  const expected = [0x0001, 0x0011, 0x0101, 0x0111];
  types.forEach((cls, i) => {
    const out = encodeStunMessage({ ...message, class: cls, method: 1, attributes: [] });
    assert.equal((out[0]! << 8) | out[1]!, expected[i]);
    assert.equal(decodeStunMessage(out).class, cls);
  });
});

Deno.test("decodeStunMessage() rejects malformed messages with a typed StunError", () => {
  const good = encodeStunMessage({
    class: "request",
    method: 1,
    transactionId: new Uint8Array(12).fill(9),
    attributes: [{ type: "SOFTWARE", text: "abc" }],
    fingerprint: true,
  });
  const patch = (at: number, ...values: number[]): Uint8Array => {
    const copy = good.slice();
    values.forEach((v, i) => (copy[at + i] = v));
    return copy;
  };
  expectError(good.subarray(0, 19), "truncated");
  expectError(new Uint8Array(MAX_STUN_BYTES + 1), "too-large");
  expectError(patch(0, 0xc0), "not-stun");
  expectError(patch(3, good[3]! + 2), "bad-length");
  expectError(patch(3, good[3]! + 4), "truncated");
  expectError(Uint8Array.of(...good, 0, 0, 0, 0), "bad-length");
  expectError(patch(4, 0x21, 0x12, 0xa4, 0x43), "bad-cookie");
  expectError(patch(22, 0x00, 0xff), "bad-attribute");
  expectError(patch(good.length - 1, good.at(-1)! ^ 1), "bad-fingerprint");
  expectError(patch(24, 0x62), "bad-fingerprint");
  // FINGERPRINT not last.
  const early = encodeStunMessage({
    class: "request",
    method: 1,
    transactionId: new Uint8Array(12),
    attributes: [
      { type: "raw", code: 0x8029, value: new Uint8Array(8) },
    ],
  });
  early.set([0x80, 0x28, 0x00, 0x04], 20);
  expectError(early, "bad-attribute");
  const header = (body: number[]): Uint8Array =>
    Uint8Array.of(0, 1, 0, body.length, 0x21, 0x12, 0xa4, 0x42, ...new Uint8Array(12), ...body);
  expectError(header([0, 0x20, 0, 8, 0, 3, 0, 0, 1, 2, 3, 4]), "bad-value"); // unknown family
  expectError(header([0, 0x20, 0, 8, 0, 2, 0, 0, 1, 2, 3, 4]), "bad-value"); // v6, 8 bytes
  expectError(header([0, 0x03, 0, 2, 0, 0, 0, 0]), "bad-value"); // CHANGE-REQUEST of 2 bytes
  expectError(header([0, 0x09, 0, 4, 0, 0, 7, 0]), "bad-value"); // ERROR-CODE class 7
  expectError(header([0, 0x0a, 0, 3, 0, 1, 0, 0]), "bad-value"); // odd UNKNOWN-ATTRIBUTES
  expectError(header([0, 0x01, 0]), "bad-length");
  expectError(header([0, 0x01, 0, 0]), "bad-value"); // MAPPED-ADDRESS without a value
});

Deno.test("encodeStunMessage() refuses values it cannot encode", () => {
  const base = { class: "request" as const, method: 1, transactionId: new Uint8Array(12) };
  const refuses = (message: StunMessage): void => {
    assert.throws(() => encodeStunMessage(message), StunError);
  };
  refuses({ ...base, transactionId: new Uint8Array(11), attributes: [] });
  refuses({ ...base, method: 0x1000, attributes: [] });
  refuses({ ...base, attributes: [{ type: "ERROR-CODE", code: 200, reason: "" }] });
  refuses({ ...base, attributes: [{ type: "SOFTWARE", text: "x".repeat(800) }] });
  refuses({ ...base, attributes: [{ type: "RESPONSE-PORT", port: 70000 }] });
  refuses({
    ...base,
    attributes: [{ type: "MAPPED-ADDRESS", address: { family: "v4", ip: "1.2.3", port: 1 } }],
  });
  refuses({ ...base, attributes: [{ type: "raw", code: 0x8028, value: new Uint8Array(4) }] });
  refuses({ ...base, attributes: [{ type: "PADDING", length: MAX_STUN_BYTES }] });
  refuses({
    ...base,
    transactionId: new Uint8Array(16),
    attributes: [{ type: "XOR-MAPPED-ADDRESS", address: { family: "v4", ip: "1.2.3.4", port: 1 } }],
  });
  assert.throws(
    () => encodeStunMessage({ ...base, attributes: [] }, { paddingByte: 256 }),
    RangeError,
  );
});

Deno.test("decodeStunMessage() reads RFC 3489 requests only when asked to", () => {
  // Sent by Debian's stun-client 0.97: a 128-bit id, CHANGE-REQUEST with no flags.
  const classic = Uint8Array.fromHex("0001000801dcac12ce62bf0d127d5a391900a6770003000400000000");
  expectError(classic, "bad-cookie");
  assert.equal(isStunMessage(classic), false);
  const message = decodeStunMessage(classic, { allowRfc3489: true });
  assert.equal(message.transactionId.toHex(), "01dcac12ce62bf0d127d5a391900a677");
  assert.deepEqual(getStunAttribute(message, "CHANGE-REQUEST"), {
    type: "CHANGE-REQUEST",
    changeIp: false,
    changePort: false,
  });
  assert.equal(encodeStunMessage(message).toHex(), classic.toHex());
  // An XOR address in an RFC 3489 message has no cookie to undo: it stays raw.
  const xor = Uint8Array.of(
    ...classic.subarray(0, 2),
    0,
    12,
    ...classic.subarray(4, 20),
    0,
    0x20,
    0,
    8,
    0,
    1,
    0,
    0,
    1,
    2,
    3,
    4,
  );
  const kept = decodeStunMessage(xor, { allowRfc3489: true }).attributes[0];
  assert.equal(kept?.type, "raw");
  assert.equal(
    kept?.type === "raw" && kept.code,
    STUN_ATTRIBUTE_CODES["XOR-MAPPED-ADDRESS"],
  );
});

Deno.test("decodeStunMessage() throws only StunErrors on random and mutated input", () => {
  const valid = encodeStunMessage({
    class: "success",
    method: 1,
    transactionId: new Uint8Array(12).fill(3),
    attributes: [
      { type: "XOR-MAPPED-ADDRESS", address: { family: "v4", ip: "198.51.100.1", port: 4000 } },
      { type: "OTHER-ADDRESS", address: { family: "v4", ip: "198.51.100.10", port: 3479 } },
      { type: "SOFTWARE", text: "peerlink" },
    ],
    fingerprint: true,
  });
  let decoded = 0;
  for (let i = 0; i < 3000; i++) {
    let bytes: Uint8Array;
    if (i % 3 === 0) {
      bytes = crypto.getRandomValues(new Uint8Array(Math.floor(Math.random() * 80)));
    } else {
      bytes = valid.slice(0, i % 3 === 1 ? valid.length : Math.floor(Math.random() * valid.length));
      const at = Math.floor(Math.random() * bytes.length);
      if (bytes.length > 0) bytes[at] = Math.floor(Math.random() * 256);
    }
    try {
      decodeStunMessage(bytes, { allowRfc3489: i % 2 === 0 });
      decoded++;
    } catch (error) {
      assert.ok(error instanceof StunError, `${bytes.toHex()}: ${error}`);
    }
  }
  assert.ok(decoded < 3000);
});
