/**
 * The gday §7 file offer/response codec.
 *
 * @module
 */

import assert from "node:assert/strict";
import { GdayMessageError } from "../secure/errors.ts";
import {
  decodeGdayOffer,
  decodeGdayResponse,
  encodeGdayOffer,
  encodeGdayResponse,
  MAX_GDAY_OFFER_BYTES,
} from "../secure/gday_offer.ts";

const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text);

function framed(json: string): Uint8Array {
  const body = utf8(json);
  const bytes = new Uint8Array(4 + body.length);
  new DataView(bytes.buffer).setUint32(0, body.length);
  bytes.set(body, 4);
  return bytes;
}

Deno.test("encodeGdayOffer() writes serde_json's compact text, escapes included", () => {
  const bytes = encodeGdayOffer({
    files: [
      { shortPath: 'dir/a "q" \\ \n\t\u0001\u007f é🎉.txt', len: 0n },
      { shortPath: "b", len: 2n ** 64n - 1n },
    ],
  });
  const expected =
    '{"files":[{"short_path":"dir/a \\"q\\" \\\\ \\n\\t\\u0001\u007f é🎉.txt","len":0},' +
    '{"short_path":"b","len":18446744073709551615}]}';
  assert.deepEqual(bytes, framed(expected));
  assert.deepEqual(encodeGdayOffer({ files: [] }), framed('{"files":[]}'));
  assert.throws(() => encodeGdayOffer({ files: [{ shortPath: "x", len: 2n ** 64n }] }), RangeError);
  assert.throws(() => encodeGdayOffer({ files: [{ shortPath: "x", len: -1n }] }), RangeError);
});

Deno.test("decodeGdayOffer() keeps u64 lengths exact and returns the next offset", () => {
  const first = framed('{"files":[{"short_path":"a","len":9007199254740993}],"extra":true}');
  const second = encodeGdayOffer({ files: [{ shortPath: "b", len: 1n }] });
  const bytes = new Uint8Array([...first, ...second]);
  const [offer, next] = decodeGdayOffer(bytes);
  assert.deepEqual(offer, { files: [{ shortPath: "a", len: 9007199254740993n }] });
  assert.equal(next, first.length);
  const [offer2, end] = decodeGdayOffer(bytes, next);
  assert.deepEqual(offer2.files, [{ shortPath: "b", len: 1n }]);
  assert.equal(end, bytes.length);
});

Deno.test("encode/decodeGdayResponse() round-trip null and u64 offsets", () => {
  const response = { response: [null, 0n, 2n ** 64n - 1n] };
  const bytes = encodeGdayResponse(response);
  assert.deepEqual(bytes, framed('{"response":[null,0,18446744073709551615]}'));
  assert.deepEqual(decodeGdayResponse(bytes), [response, bytes.length]);
});

Deno.test("the gday message decoders reject malformed input with GdayMessageError", () => {
  const bad = [
    new Uint8Array([0, 0]),
    framed('{"files":[]}').subarray(0, 10),
    framed("{not json"),
    new Uint8Array([0, 0, 0, 1, 0xff]),
    framed('{"file":[]}'),
    framed('{"files":[{"len":1}]}'),
    framed('{"files":[{"short_path":"a","len":-1}]}'),
    framed('{"files":[{"short_path":"a","len":1.0}]}'),
    framed('{"files":[{"short_path":"a","len":1e3}]}'),
    framed('{"files":[{"short_path":"a","len":"1"}]}'),
    framed('{"files":[{"short_path":"a","len":18446744073709551616}]}'),
    framed('{"files":[{"short_path":"a","len":01}]}'),
  ];
  for (const bytes of bad) {
    assert.throws(() => decodeGdayOffer(bytes), GdayMessageError, new TextDecoder().decode(bytes));
  }
  assert.throws(() => decodeGdayResponse(framed('{"response":[true]}')), GdayMessageError);
  assert.throws(() => decodeGdayResponse(framed('{"response":null}')), GdayMessageError);
  const huge = new Uint8Array(4);
  new DataView(huge.buffer).setUint32(0, MAX_GDAY_OFFER_BYTES + 1);
  assert.throws(() => decodeGdayOffer(huge), /more than the 1048576 allowed/);
});
