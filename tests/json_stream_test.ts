import assert from "node:assert/strict";
import {
  JsonObjectDecoder,
  JsonObjectReader,
  JsonObjectTooLargeError,
  JsonStreamError,
  TruncatedJsonError,
} from "../framing/json_stream.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

function drain(decoder: JsonObjectDecoder): string[] {
  const out: string[] = [];
  for (let o = decoder.next(); o !== undefined; o = decoder.next()) out.push(dec.decode(o));
  return out;
}

const TRICKY = [
  '{"type":0,"payload":{"our_key":"-----BEGIN RSA PUBLIC KEY-----\\nMIIB/+==\\n"}}',
  '{"a":"}{][","b":"\\"}","c":"\\\\","d":["{",{"e":"\\\\\\""}]}',
  '{"unicode":"héllo ✓ 😀 }","esc":"\\u007d\\u0022"}',
  "{}",
  '{"nested":{"x":[[[]],{}],"y":{"z":{}}}}',
];

Deno.test("JsonObjectDecoder finds each object whatever the split, byte by byte", () => {
  const stream = enc.encode(" \n" + TRICKY.join("\r\n\t ") + "  ");
  const decoder = new JsonObjectDecoder();
  const seen: string[] = [];
  for (const byte of stream) {
    decoder.push(new Uint8Array([byte]));
    seen.push(...drain(decoder));
  }
  assert.deepEqual(seen, TRICKY);
  assert.equal(decoder.buffered, 0);
});

Deno.test("JsonObjectDecoder: every object is valid JSON and splits at every point agree", () => {
  const stream = enc.encode(TRICKY.join(""));
  for (let cut = 0; cut <= stream.length; cut += 7) {
    const decoder = new JsonObjectDecoder();
    decoder.push(stream.subarray(0, cut));
    const first = drain(decoder);
    decoder.push(stream.subarray(cut));
    assert.deepEqual([...first, ...drain(decoder)], TRICKY, `cut at ${cut}`);
  }
  for (const text of TRICKY) JSON.parse(text);
});

Deno.test("JsonObjectDecoder: two messages in one chunk, and a partial third", () => {
  const decoder = new JsonObjectDecoder();
  decoder.push(enc.encode('{"type":2,"payload":{"nonce":"1"}}{"type":10,"payload":{}}{"ty'));
  assert.deepEqual(drain(decoder), [
    '{"type":2,"payload":{"nonce":"1"}}',
    '{"type":10,"payload":{}}',
  ]);
  assert.equal(decoder.buffered, 4);
  decoder.push(enc.encode('pe":1}'));
  assert.deepEqual(drain(decoder), ['{"type":1}']);
});

Deno.test("JsonObjectDecoder tells invalid input apart from need-more", async (t) => {
  const invalid: [string, string][] = [
    ["x{}", "Expected a JSON object"],
    ["[1]", "Expected a JSON object"],
    ['{"a":1}]', "Expected a JSON object"],
    ['{"a":[1}', "Unbalanced"],
    ['{"a":{]}', "Unbalanced"],
    ["\u0000", "byte 0"],
  ];
  for (const [input, message] of invalid) {
    await t.step(JSON.stringify(input), () => {
      const decoder = new JsonObjectDecoder();
      assert.throws(() => decoder.push(enc.encode(input)), (e) => {
        assert.ok(e instanceof JsonStreamError);
        assert.match(e.message, new RegExp(message));
        return true;
      });
    });
  }
  await t.step("need more is not an error", () => {
    const decoder = new JsonObjectDecoder();
    for (const part of ['{"a', '":"\\', '"', "}", '"}']) decoder.push(enc.encode(part));
    assert.deepEqual(drain(decoder), ['{"a":"\\"}"}']);
  });
  await t.step("the offset counts from the first byte pushed", () => {
    const decoder = new JsonObjectDecoder();
    decoder.push(enc.encode("{}  "));
    drain(decoder);
    const error = (() => {
      try {
        decoder.push(enc.encode("  ?"));
      } catch (e) {
        return e;
      }
    })();
    assert.ok(error instanceof JsonStreamError);
    assert.equal(error.offset, 6);
  });
});

Deno.test("JsonObjectDecoder caps an object's size and depth before it ends", () => {
  const decoder = new JsonObjectDecoder({ maxObjectBytes: 64 });
  decoder.push(enc.encode('{"a":"' + "x".repeat(40)));
  assert.throws(() => decoder.push(enc.encode("x".repeat(40))), JsonObjectTooLargeError);

  const exact = new JsonObjectDecoder({ maxObjectBytes: 9 });
  exact.push(enc.encode('{"a":123}{"a":1234}'.slice(0, 9)));
  assert.deepEqual(drain(exact), ['{"a":123}']);
  assert.throws(() => exact.push(enc.encode('{"a":1234}')), JsonObjectTooLargeError);

  const shallow = new JsonObjectDecoder({ maxDepth: 3 });
  shallow.push(enc.encode('{"a":[{}]}'));
  assert.equal(drain(shallow).length, 1);
  assert.throws(() => shallow.push(enc.encode('{"a":[{"b":[]}]}')), /deeper than 3/);

  assert.throws(() => new JsonObjectDecoder({ maxObjectBytes: 1 }), RangeError);
  assert.throws(() => new JsonObjectDecoder({ maxDepth: 0 }), RangeError);
});

Deno.test("JsonObjectReader reads from a Deno.Conn-style reader and a stream", async () => {
  const chunks = [enc.encode('  {"a":'), enc.encode('1}{"b"'), enc.encode(":2} \n")];
  let i = 0;
  const source = {
    read(p: Uint8Array): Promise<number | null> {
      const chunk = chunks[i++];
      if (chunk === undefined) return Promise.resolve(null);
      p.set(chunk);
      return Promise.resolve(chunk.length);
    },
  };
  const reader = new JsonObjectReader(source);
  assert.equal(dec.decode((await reader.read())!), '{"a":1}');
  assert.equal(dec.decode((await reader.read())!), '{"b":2}');
  assert.equal(await reader.read(), null);

  const truncated = new JsonObjectReader(ReadableStream.from([enc.encode('{"a":"}')]));
  await assert.rejects(truncated.read(), TruncatedJsonError);

  const stalled = new JsonObjectReader(new ReadableStream<Uint8Array>());
  const controller = new AbortController();
  const pending = stalled.read(controller.signal);
  controller.abort(new Error("Stop"));
  await assert.rejects(pending, /Stop/);
  await stalled.cancel();
});

Deno.test("JsonObjectReader: a 4 KiB message across many reads, then two in one read", async () => {
  const big = JSON.stringify({ type: 0, payload: { pad: "p".repeat(4096) } });
  const parts: Uint8Array[] = [];
  const bytes = enc.encode(big);
  for (let i = 0; i < bytes.length; i += 37) parts.push(bytes.subarray(i, i + 37));
  parts.push(enc.encode('{"type":2}{"type":3}'));
  const reader = new JsonObjectReader(ReadableStream.from(parts));
  assert.equal(dec.decode((await reader.read())!), big);
  assert.equal(dec.decode((await reader.read())!), '{"type":2}');
  assert.equal(dec.decode((await reader.read())!), '{"type":3}');
  assert.equal(await reader.read(), null);
});
