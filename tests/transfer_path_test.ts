import assert from "node:assert/strict";
import {
  checkPathSet,
  MAX_PATH_BYTES,
  MAX_PATH_DEPTH,
  MAX_SEGMENT_BYTES,
  sanitizePath,
  UnsafePathError,
} from "../transfer/mod.ts";

const HOSTILE: [string, RegExp][] = [
  ["", /empty/],
  ["/etc/passwd", /absolute/],
  ["//server/share/x", /absolute/],
  ["..", /'\.\.'/],
  ["../x", /'\.\.'/],
  ["a/../../etc/passwd", /'\.\.'/],
  ["a/..", /'\.\.'/],
  ["./a", /'\.'/],
  ["a/./b", /'\.'/],
  ["a//b", /empty segment/],
  ["a/", /empty segment/],
  ["C:/Windows/x", /drive/],
  ["c:x", /drive/],
  ["a/D:evil", /drive/],
  ["a\\..\\..\\x", /backslash/],
  ["..\\x", /backslash/],
  ["a\u0000b", /control/],
  ["a\nb", /control/],
  ["\u001b[2Jx", /control/],
  ["a\u007f", /control/],
  ["a\u009bb", /control/],
  ["\ud800x", /Unicode/],
  ["x".repeat(MAX_SEGMENT_BYTES + 1), /longer than 255/],
  ["é".repeat(128), /longer than 255/],
  [Array.from({ length: MAX_PATH_DEPTH + 1 }, () => "a").join("/"), /levels deep/],
  [Array.from({ length: 20 }, () => "x".repeat(250)).join("/"), /longer than 4096/],
  [".a.txt.peerlink-0123abcd.part", /temporary/],
  ["dir/.b.peerlink-ffffffff.part", /temporary/],
];

Deno.test("sanitizePath() refuses hostile names, saying why", () => {
  for (const [path, why] of HOSTILE) {
    assert.throws(() => sanitizePath(path), (error: unknown) => {
      assert.ok(error instanceof UnsafePathError, `${JSON.stringify(path)}: ${error}`);
      assert.match(error.message, why, JSON.stringify(path));
      assert.equal(error.path, path);
      return true;
    });
  }
  assert.throws(() => sanitizePath(42 as unknown as string), UnsafePathError);
});

Deno.test("sanitizePath() keeps ordinary names exactly as they are", () => {
  for (
    const path of [
      "a.txt",
      ".hidden",
      "..foo",
      "foo..",
      "a/b/c.tar.gz",
      "photos/2024/IMG 0001.JPG",
      "café/日本語/😀.txt",
      "10:30 notes.txt",
      "x".repeat(MAX_SEGMENT_BYTES),
      ".a.peerlink-0123abcd.partial",
      Array.from({ length: MAX_PATH_DEPTH }, () => "a").join("/"),
    ]
  ) {
    assert.equal(sanitizePath(path), path);
  }
  assert.ok(MAX_PATH_BYTES >= 4096);
});

Deno.test("checkPathSet() refuses duplicates and files that are also folders", () => {
  checkPathSet([]);
  checkPathSet(["a/b", "a/c", "ab", "a b/c"]);
  assert.throws(() => checkPathSet(["x", "x"]), /listed twice/);
  assert.throws(() => checkPathSet(["a", "a/b"]), /needs it as a folder|needs a folder/);
  assert.throws(() => checkPathSet(["a/b/c", "a/b"]), /needs it as a folder/);
  assert.throws(() => checkPathSet(["a/b", "a/b/c/d"]), /needs a folder/);
});
