/**
 * SPAKE2 against every vector of the gday spec §6.3 and the spake2 0.4.0 crate's own tests,
 * plus input validation in strict (native) and lax (gday) modes.
 *
 * @module
 */

import assert from "node:assert/strict";
import { ed25519, ED25519_TORSION_SUBGROUP } from "@noble/curves/ed25519.js";
import { Spake2Error } from "../secure/errors.ts";
import {
  spake2HashAB,
  spake2HashSymmetric,
  spake2PasswordScalar,
  startSpake2,
} from "../secure/spake2.ts";
import vectors from "../testdata/secure/vectors.json" with { type: "json" };

const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text);
const hex = (text: string): Uint8Array => Uint8Array.fromHex(text);

function decimalToLe(decimal: string): Uint8Array {
  let n = BigInt(decimal);
  const bytes = new Uint8Array(32);
  for (let i = 0; i < 32; i++, n >>= 8n) bytes[i] = Number(n & 0xffn);
  assert.equal(n, 0n, "the scalar must fit 32 bytes");
  return bytes;
}

const gday = vectors.gday_spake2;
const gdayOptions = (scalarHex: string, strict = false) => ({
  identity: utf8(gday.identity_utf8),
  scalar: hex(scalarHex),
  strict,
});

Deno.test("spake2PasswordScalar() matches the crate vector and the gday w", () => {
  const crate = vectors.spake2_crate.password_to_scalar;
  assert.equal(spake2PasswordScalar(utf8(crate.password_utf8)), BigInt(crate.w_decimal));
  const w = spake2PasswordScalar(hex(gday.password_hex));
  assert.deepEqual(decimalToLe(w.toString()), hex(gday.w_le_hex));
});

Deno.test("decimal scalars convert to the crate's little-endian bytes", () => {
  const convert = vectors.spake2_crate.convert;
  assert.equal(decimalToLe(convert.decimal).toHex(), convert.le_hex);
  assert.equal(ed25519.Point.BASE.toHex(), vectors.spake2_crate.basepoint_hex);
});

Deno.test("spake2HashSymmetric() and spake2HashAB() match the crate vectors", () => {
  const s = vectors.spake2_crate.hash_symmetric;
  const symmetric = {
    password: utf8(s.pw),
    identity: utf8(s.idS),
    pointU: utf8(s.x),
    pointV: utf8(s.y),
    key: utf8(s.k),
  };
  assert.equal(spake2HashSymmetric(symmetric).toHex(), s.key_hex);
  // Symmetric: the order of the two points does not matter.
  const swapped = { ...symmetric, pointU: symmetric.pointV, pointV: symmetric.pointU };
  assert.equal(spake2HashSymmetric(swapped).toHex(), s.key_hex);
  const ab = vectors.spake2_crate.hash_ab;
  const asymmetric = {
    password: utf8(ab.pw),
    identityA: utf8(ab.idA),
    identityB: utf8(ab.idB),
    pointA: utf8(ab.x),
    pointB: utf8(ab.y),
    key: utf8(ab.k),
  };
  assert.equal(spake2HashAB(asymmetric).toHex(), ab.key_hex);
  // Asymmetric: the order matters.
  const flipped = { ...asymmetric, pointA: asymmetric.pointB, pointB: asymmetric.pointA };
  assert.notEqual(spake2HashAB(flipped).toHex(), ab.key_hex);
  assert.throws(() => spake2HashAB({ ...asymmetric, pointA: utf8("X") }), RangeError);
});

Deno.test("startSpake2() reproduces the crate's asymmetric test vectors", () => {
  const v = vectors.spake2_crate.asymmetric;
  const common = { identityA: utf8(v.idA), identityB: utf8(v.idB) };
  const a = startSpake2(utf8(v.password_utf8), {
    ...common,
    side: "A",
    scalar: decimalToLe(v.scalar_a_decimal),
  });
  const b = startSpake2(utf8(v.password_utf8), {
    ...common,
    side: "B",
    scalar: decimalToLe(v.scalar_b_decimal),
  });
  assert.equal(a.message.toHex(), v.msg_a_hex);
  assert.equal(b.message.toHex(), v.msg_b_hex);
  assert.equal(a.finish(b.message).toHex(), v.key_hex);
  assert.equal(b.finish(a.message).toHex(), v.key_hex);
});

Deno.test("startSpake2() reproduces every gday §6.3 symmetric vector", () => {
  const password = hex(gday.password_hex);
  const a = startSpake2(password, gdayOptions(gday.x_a_le_hex));
  const b = startSpake2(password, gdayOptions(gday.y_b_le_hex));
  assert.equal(a.message.toHex(), gday.msg_a_hex);
  assert.equal(b.message.toHex(), gday.msg_b_hex);
  assert.equal(a.finish(b.message).toHex(), gday.key_hex);
  assert.equal(b.finish(a.message).toHex(), gday.key_hex);
  // compress(K): the vector K, hashed with the transcript, gives the vector key.
  const key = spake2HashSymmetric({
    password,
    identity: utf8(gday.identity_utf8),
    pointU: hex(gday.msg_a_hex).subarray(1),
    pointV: hex(gday.msg_b_hex).subarray(1),
    key: hex(gday.k_hex),
  });
  assert.equal(key.toHex(), gday.key_hex);
  // And K itself: x·(Y − w·S) from the curve library directly.
  const Point = ed25519.Point;
  const w = spake2PasswordScalar(password);
  const x = BigInt("0x" + hex(gday.x_a_le_hex).reverse().toHex());
  const k = Point.fromBytes(hex(gday.msg_b_hex).subarray(1))
    .subtract(
      Point.fromHex("6f00dae87c1be1a73b5922ef431cd8f57879569c222d22b1cd71e8546ab8e6f1").multiply(w),
    )
    .multiply(x);
  assert.equal(k.toHex(), gday.k_hex);
  // Strict mode gives the same key for honest messages.
  const strict = startSpake2(password, gdayOptions(gday.x_a_le_hex, true));
  assert.equal(strict.finish(b.message).toHex(), gday.key_hex);
});

Deno.test("a mismatched gday secret gives the §6.3 mismatch key", () => {
  const a = startSpake2(hex(gday.password_hex), gdayOptions(gday.x_a_le_hex));
  const b = startSpake2(hex(gday.mismatch_password_hex), gdayOptions(gday.y_b_le_hex));
  const key = a.finish(b.message);
  assert.equal(key.toHex(), gday.mismatch_key_a_hex);
  assert.notEqual(key.toHex(), gday.key_hex);
});

Deno.test("startSpake2() with random scalars agrees, and differs per run", () => {
  const a = startSpake2(utf8("pw"), { identity: utf8("id") });
  const b = startSpake2(utf8("pw"), { identity: utf8("id") });
  assert.notEqual(a.message.toHex(), b.message.toHex());
  assert.equal(a.finish(b.message).toHex(), b.finish(a.message).toHex());
  const c = startSpake2(utf8("pw"), { identity: utf8("other id") });
  const d = startSpake2(utf8("pw"), { identity: utf8("id") });
  assert.notEqual(c.finish(d.message).toHex(), d.finish(c.message).toHex());
});

function reasonOf(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof Spake2Error, String(error));
    return error.reason;
  }
  throw new Error("Expected a Spake2Error");
}

function withPoint(side: number, point: Uint8Array): Uint8Array {
  const message = new Uint8Array(33);
  message[0] = side;
  message.set(point, 1);
  return message;
}

Deno.test("finish() rejects a bad length, a bad side byte and a second call", () => {
  const own = startSpake2(utf8("pw"));
  const peer = startSpake2(utf8("pw"));
  assert.equal(reasonOf(() => own.finish(peer.message.subarray(1))), "length");
  const bad = peer.message.slice();
  bad[0] = 0x41;
  assert.equal(reasonOf(() => startSpake2(utf8("pw")).finish(bad)), "side");
  const a = startSpake2(utf8("pw"), { side: "A" });
  assert.equal(reasonOf(() => a.finish(startSpake2(utf8("pw"), { side: "A" }).message)), "side");
  // finish() is one-shot, even after a rejected message.
  assert.equal(reasonOf(() => own.finish(peer.message)), "finished");
  const fresh = startSpake2(utf8("pw"));
  fresh.finish(peer.message);
  assert.equal(reasonOf(() => fresh.finish(peer.message)), "finished");
  assert.throws(() => startSpake2(utf8("pw"), { scalar: new Uint8Array(31) }), RangeError);
  assert.throws(() => startSpake2(utf8("pw"), { scalar: new Uint8Array(32) }), RangeError);
});

Deno.test("finish() rejects an undecodable point in both modes", () => {
  let y = 2;
  const point = new Uint8Array(32);
  for (;; y++) {
    point[0] = y;
    try {
      ed25519.Point.fromBytes(point, true);
    } catch {
      break;
    }
  }
  for (const strict of [true, false]) {
    const state = startSpake2(utf8("pw"), { strict });
    assert.equal(reasonOf(() => state.finish(withPoint(0x53, point))), "point");
  }
});

Deno.test("strict mode rejects small-order, mixed-order, non-canonical and echoed points; lax accepts them", () => {
  const Point = ed25519.Point;
  const honest = startSpake2(utf8("pw")).message.subarray(1);
  const mixed = Point.fromBytes(honest).add(Point.fromHex(ED25519_TORSION_SUBGROUP[1]!)).toBytes();
  // y = p + 1 (non-canonical encoding of y = 1, the identity).
  const nonCanonical = Uint8Array.fromHex(
    "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
  );
  const cases: [string, Uint8Array, string][] = [
    ["identity", Point.ZERO.toBytes(), "small-order"],
    ...ED25519_TORSION_SUBGROUP.slice(1).map((h, i): [string, Uint8Array, string] => [
      `torsion point ${i + 1}`,
      Uint8Array.fromHex(h),
      "small-order",
    ]),
    ["honest point plus torsion", mixed, "small-order"],
    ["non-canonical y", nonCanonical, "point"],
  ];
  for (const [name, point, reason] of cases) {
    const strict = startSpake2(utf8("pw"));
    assert.equal(reasonOf(() => strict.finish(withPoint(0x53, point))), reason, name);
    const lax = startSpake2(utf8("pw"), { strict: false });
    assert.equal(lax.finish(withPoint(0x53, point)).length, 32, name);
  }
  const strict = startSpake2(utf8("pw"));
  assert.equal(reasonOf(() => strict.finish(strict.message)), "reflected");
  const lax = startSpake2(utf8("pw"), { strict: false });
  assert.equal(lax.finish(lax.message).length, 32);
});
