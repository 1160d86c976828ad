import assert from "node:assert/strict";
import { encodeFrame, FrameReader } from "../framing/length_prefixed.ts";
import { JsonObjectReader } from "../framing/json_stream.ts";
import type { ByteReader } from "../framing/chunk_source.ts";
import { TruncatedFrameError } from "../framing/errors.ts";
import { TruncatedJsonError } from "../framing/json_stream.ts";

/** A `ByteReader` over `bytes` (one read gets everything) that counts its reads. */
function countingReader(bytes: Uint8Array): ByteReader & { reads: number } {
  let given = false;
  return {
    reads: 0,
    read(p: Uint8Array): Promise<number | null> {
      this.reads++;
      if (given) return Promise.resolve(null);
      given = true;
      p.set(bytes);
      return Promise.resolve(bytes.length);
    },
  };
}

const readers = [
  {
    name: "FrameReader",
    bytes: encodeFrame(new Uint8Array([7])),
    message: new Uint8Array([7]),
    open: (source: ByteReader) => new FrameReader(source),
    truncated: new Uint8Array([0, 0, 0, 5, 1]),
    error: TruncatedFrameError,
  },
  {
    name: "JsonObjectReader",
    bytes: new TextEncoder().encode('{"a":1}'),
    message: new TextEncoder().encode('{"a":1}'),
    open: (source: ByteReader) => new JsonObjectReader(source),
    truncated: new TextEncoder().encode('{"a":'),
    error: TruncatedJsonError,
  },
];

for (const r of readers) {
  Deno.test(`${r.name}: a read with an aborted signal starts no read, so no byte is lost`, async () => {
    const source = countingReader(r.bytes);
    const reader = r.open(source);
    const controller = new AbortController();
    controller.abort(new Error("Stop"));
    await assert.rejects(reader.read(controller.signal), /Stop/);
    assert.equal(source.reads, 0);
    assert.deepEqual(await reader.read(), r.message);
    assert.equal(await reader.read(), null);
  });

  Deno.test(`${r.name}: a stream that ends inside a message is a truncation error`, async () => {
    const reader = r.open(countingReader(r.truncated));
    await assert.rejects(reader.read(), r.error);
  });
}
