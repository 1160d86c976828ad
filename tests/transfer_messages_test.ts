import assert from "node:assert/strict";
import { encodeFrame } from "../framing/length_prefixed.ts";
import {
  decodeGdayOffer,
  decodeGdayResponse,
  encodeGdayOffer,
  encodeGdayResponse,
} from "../secure/gday_offer.ts";
import {
  decodeTransferMessage,
  encodeTransferMessage,
  MAX_CONTROL_BYTES,
  MAX_FINAL_BYTES,
  MAX_TRANSFER_FILES,
  type TransferMessage,
  TransferProtocolError,
  UnsafePathError,
} from "../transfer/mod.ts";

interface Vector {
  name: string;
  message: Record<string, unknown>;
  json: string;
  hex: string;
}

const { vectors } = JSON.parse(
  await Deno.readTextFile(new URL("../testdata/transfer_vectors.json", import.meta.url)),
) as { vectors: Vector[] };

/** The vector's wire JSON as the typed message (u64 strings → bigint). */
function typed(message: Record<string, unknown>): TransferMessage {
  const copy = structuredClone(message) as Record<string, unknown> & { files?: unknown[] };
  if (copy.type === "offer") {
    copy.files = (copy.files as Record<string, unknown>[]).map((f) => ({
      ...f,
      size: BigInt(f.size as string),
    }));
  }
  if (copy.type === "response") {
    copy.files = (copy.files as Record<string, unknown>[]).map((a) =>
      a.offset === undefined ? a : { ...a, offset: BigInt(a.offset as string) }
    );
  }
  return copy as unknown as TransferMessage;
}

const frame = (json: string): Uint8Array => encodeFrame(new TextEncoder().encode(json));
const H = "ab".repeat(32);

function refused(json: string, kind: typeof TransferProtocolError | typeof UnsafePathError): void {
  assert.throws(() => decodeTransferMessage(frame(json)), kind, json.slice(0, 120));
}

Deno.test("encodeTransferMessage() produces the vectors byte for byte", () => {
  assert.ok(vectors.length >= 7);
  for (const v of vectors) {
    assert.equal(encodeTransferMessage(typed(v.message)).toHex(), v.hex, v.name);
  }
});

Deno.test("decodeTransferMessage() decodes the vectors exactly, bigints beyond 2^53 included", () => {
  for (const v of vectors) {
    const bytes = Uint8Array.fromHex(v.hex);
    const [message, next] = decodeTransferMessage(bytes);
    assert.deepEqual(message, typed(v.message), v.name);
    assert.equal(next, bytes.length);
  }
  const big = vectors.find((v) => v.name.includes("2^53"))!;
  const [offer] = decodeTransferMessage(Uint8Array.fromHex(big.hex));
  assert.equal(offer.type === "offer" && offer.files[0]!.size, 2n ** 64n - 1n);
});

Deno.test("decodeTransferMessage() reads frames back to back and honours the offset", () => {
  const a = encodeTransferMessage({ type: "done" });
  const b = encodeTransferMessage({ type: "error", reason: "io", message: "disk full" });
  const both = new Uint8Array([...a, ...b]);
  const [first, next] = decodeTransferMessage(both);
  assert.equal(first.type, "done");
  const [second, end] = decodeTransferMessage(both, next);
  assert.deepEqual(second, { type: "error", reason: "io", message: "disk full" });
  assert.equal(end, both.length);
});

Deno.test("decodeTransferMessage() refuses truncated, oversized and non-JSON frames", () => {
  const done = encodeTransferMessage({ type: "done" });
  assert.throws(() => decodeTransferMessage(done.subarray(0, 3)), TransferProtocolError);
  assert.throws(
    () => decodeTransferMessage(done.subarray(0, done.length - 1)),
    TransferProtocolError,
  );
  // The cap is checked from the prefix alone, before anything is allocated.
  const huge = new Uint8Array([0xff, 0xff, 0xff, 0xff]);
  assert.throws(() => decodeTransferMessage(huge), /exceeds/);
  assert.throws(
    () =>
      decodeTransferMessage(
        frame(`{"type":"error","reason":"x","message":"${"y".repeat(1000)}"}`),
        0,
        100,
      ),
    TransferProtocolError,
  );
  assert.ok(MAX_FINAL_BYTES < MAX_CONTROL_BYTES);
  refused("not json", TransferProtocolError);
  refused("[]", TransferProtocolError);
  refused('{"type":42}', TransferProtocolError);
  refused('{"type":"hello"}', TransferProtocolError);
  assert.throws(
    () => decodeTransferMessage(encodeFrame(new Uint8Array([0x7b, 0xff, 0x7d]))),
    TransferProtocolError,
  );
});

Deno.test("decodeTransferMessage() refuses bad sizes, hashes, modes, times and answers", () => {
  const offer = (file: string): string => `{"type":"offer","version":1,"files":[${file}]}`;
  const ok = `"path":"a","sha256":"${H}"`;
  decodeTransferMessage(frame(offer(`{${ok},"size":"0"}`)));
  for (
    const size of [
      "1",
      '"18446744073709551616"',
      '"-1"',
      '"01"',
      '"1e3"',
      '"0x10"',
      '" 1"',
      '""',
      "null",
    ]
  ) {
    refused(offer(`{${ok},"size":${size}}`), TransferProtocolError);
  }
  refused(offer(`{"path":"a","size":"1","sha256":"${H.toUpperCase()}"}`), TransferProtocolError);
  refused(offer(`{"path":"a","size":"1","sha256":"${H.slice(2)}"}`), TransferProtocolError);
  refused(offer(`{${ok},"size":"1","mode":4096}`), TransferProtocolError);
  refused(offer(`{${ok},"size":"1","mode":1.5}`), TransferProtocolError);
  refused(offer(`{${ok},"size":"1","mtime":"1"}`), TransferProtocolError);
  refused(offer(`{${ok},"size":"1","mtime":1e300}`), TransferProtocolError);
  refused(offer(`{"size":"1","sha256":"${H}"}`), TransferProtocolError);
  refused('{"type":"offer","files":[]}', TransferProtocolError);
  refused('{"type":"offer","version":1}', TransferProtocolError);
  refused('{"type":"response","files":[{"action":"send"}]}', TransferProtocolError);
  refused('{"type":"response","files":[{"action":"send","offset":5}]}', TransferProtocolError);
  refused('{"type":"response","files":[{"action":"maybe"}]}', TransferProtocolError);
  refused('{"type":"response","files":[null]}', TransferProtocolError);
  refused(`{"type":"reject","reason":"${"r".repeat(65)}","message":""}`, TransferProtocolError);
  refused('{"type":"error","reason":"x"}', TransferProtocolError);
});

Deno.test("decodeTransferMessage() refuses hostile paths and bounds the file count", () => {
  const offer = (paths: string[]): string =>
    `{"type":"offer","version":1,"files":[${
      paths.map((p) => `{"path":${JSON.stringify(p)},"size":"1","sha256":"${H}"}`).join(",")
    }]}`;
  for (const path of ["../x", "/etc/passwd", "a/../../b", "C:x", "a\\b", "a//b", "", "a/."]) {
    refused(offer([path]), UnsafePathError);
  }
  refused(offer(["a", "a"]), UnsafePathError);
  refused(offer(["a", "a/b"]), UnsafePathError);
  refused(offer(["a/b", "a"]), UnsafePathError);
  refused(
    `{"type":"offer","version":1,"files":[{"path":7,"size":"1","sha256":"${H}"}]}`,
    TransferProtocolError,
  );
  const many = `{"type":"offer","version":1,"files":[${"0,".repeat(MAX_TRANSFER_FILES)}0]}`;
  assert.throws(() => decodeTransferMessage(frame(many)), /more than 100000/);
  assert.throws(
    () =>
      encodeTransferMessage({
        type: "offer",
        version: 1,
        files: Array.from({ length: MAX_TRANSFER_FILES + 1 }, (_, i) => ({
          path: `f${i}`,
          size: 0n,
          sha256: H,
        })),
      }),
    RangeError,
  );
});

Deno.test("decodeTransferMessage() keeps unknown keys out, other versions opaque, and strips control characters", () => {
  const [later] = decodeTransferMessage(
    frame('{"type":"offer","version":2,"files":"something new","extra":true}'),
  );
  assert.deepEqual(later, { type: "offer", version: 2, files: [] });
  const [extra] = decodeTransferMessage(
    frame(
      `{"type":"offer","version":1,"files":[{"path":"a","size":"1","sha256":"${H}","xattr":1}],"note":"x"}`,
    ),
  );
  assert.deepEqual(extra, {
    type: "offer",
    version: 1,
    files: [{ path: "a", size: 1n, sha256: H }],
  });
  const [error] = decodeTransferMessage(
    frame('{"type":"error","reason":"io","message":"bad\\u001b[2Jthing"}'),
  );
  assert.equal(error.type === "error" && error.message, "bad\ufffd[2Jthing");
});

Deno.test("encodeTransferMessage() refuses out-of-range fields and cuts long messages", () => {
  const file = { path: "a", size: 1n, sha256: H };
  const offer = (f: Record<string, unknown>): TransferMessage =>
    ({ type: "offer", version: 1, files: [{ ...file, ...f }] }) as TransferMessage;
  assert.throws(() => encodeTransferMessage(offer({ size: -1n })), RangeError);
  assert.throws(() => encodeTransferMessage(offer({ size: 2n ** 64n })), RangeError);
  assert.throws(() => encodeTransferMessage(offer({ sha256: "x" })), RangeError);
  assert.throws(() => encodeTransferMessage(offer({ mode: -1 })), RangeError);
  assert.throws(() => encodeTransferMessage(offer({ mtime: 0.5 })), RangeError);
  assert.throws(() => encodeTransferMessage(offer({ path: "../a" })), UnsafePathError);
  assert.throws(
    () => encodeTransferMessage({ type: "response", files: [{ action: "send", offset: -1n }] }),
    RangeError,
  );
  assert.throws(
    () => encodeTransferMessage({ type: "reject", reason: "", message: "" }),
    RangeError,
  );
  const long = encodeTransferMessage({ type: "error", reason: "io", message: "z".repeat(5000) });
  const [decoded] = decodeTransferMessage(long);
  assert.equal(decoded.type === "error" && decoded.message.length, 1024);
});

Deno.test("gday offer and response frames match the gday spec §6.5 plaintexts", () => {
  // The codec lives in secure/gday_offer.ts; these are the exact frames gday mode sends.
  const offer = encodeGdayOffer({ files: [{ shortPath: "msg.txt", len: 5n }] });
  assert.equal(
    offer.toHex(),
    "0000002c" + new TextEncoder().encode('{"files":[{"short_path":"msg.txt","len":5}]}').toHex(),
  );
  assert.deepEqual(decodeGdayOffer(offer)[0], { files: [{ shortPath: "msg.txt", len: 5n }] });
  const response = encodeGdayResponse({ response: [0n] });
  assert.equal(response.toHex(), "00000010" + new TextEncoder().encode('{"response":[0]}').toHex());
  assert.deepEqual(decodeGdayResponse(encodeGdayResponse({ response: [null, 7n] }))[0], {
    response: [null, 7n],
  });
});
