import assert from "node:assert/strict";
import { MAX_PART_NAME_BYTES, partFileName, partKey, planResume } from "../transfer/mod.ts";

Deno.test("planResume() continues a shorter part, verifies a full one, restarts a longer one", () => {
  assert.deepEqual(planResume(null, 100, true), { offset: 0, truncate: false, verify: false });
  assert.deepEqual(planResume(0, 100, true), { offset: 0, truncate: false, verify: false });
  assert.deepEqual(planResume(37, 100, true), { offset: 37, truncate: false, verify: false });
  assert.deepEqual(planResume(37, 100, false), { offset: 37, truncate: false, verify: false });
  assert.deepEqual(planResume(100, 100, true), { offset: 100, truncate: false, verify: true });
  // gday sends no hash: a full-length part cannot be checked, so it starts over.
  assert.deepEqual(planResume(100, 100, false), { offset: 0, truncate: true, verify: false });
  assert.deepEqual(planResume(101, 100, true), { offset: 0, truncate: true, verify: false });
  assert.deepEqual(planResume(0, 0, true), { offset: 0, truncate: false, verify: true });
  const big = 2 ** 52 + 1;
  assert.equal(planResume(big, big + 10, true).offset, big);
  assert.throws(() => planResume(-1, 10, true), RangeError);
  assert.throws(() => planResume(1.5, 10, true), RangeError);
  assert.throws(() => planResume(1, 2 ** 53, true), RangeError);
});

Deno.test("partFileName() hides the file, keys it, and stays within NAME_MAX", () => {
  assert.equal(partFileName("a.txt", "deadbeef"), ".a.txt.peerlink-deadbeef.part");
  for (const name of ["x".repeat(255), "é".repeat(127), "😀".repeat(63)]) {
    const part = partFileName(name, "00000000");
    assert.ok(new TextEncoder().encode(part).length <= 255, part);
    assert.ok(part.isWellFormed());
    assert.ok(new TextEncoder().encode(part).length <= MAX_PART_NAME_BYTES + 24);
  }
  assert.throws(() => partFileName("a", "DEADBEEF"), RangeError);
  assert.throws(() => partFileName("a", "abc"), RangeError);
});

Deno.test("partKey() follows the content hash (native) or path and size (gday)", () => {
  const sha256 = "0123abcd" + "0".repeat(56);
  assert.equal(partKey({ path: "a", size: 1n, sha256 }), "0123abcd");
  // A changed source (new hash) gets a new temporary name, so it is never mixed with old bytes.
  assert.notEqual(partKey({ path: "a", size: 1n, sha256: "f".repeat(64) }), "0123abcd");
  const gday = partKey({ path: "dir/a.bin", size: 10n });
  assert.match(gday, /^[0-9a-f]{8}$/);
  assert.equal(partKey({ path: "dir/a.bin", size: 10n }), gday);
  assert.notEqual(partKey({ path: "dir/a.bin", size: 11n }), gday);
  assert.notEqual(partKey({ path: "dir/b.bin", size: 10n }), gday);
});
