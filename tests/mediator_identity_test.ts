/**
 * Identities (key files, text form) and the identity handshake that authenticates the pipe by
 * the two peers' Ed25519 keys, including parties in the middle who swap keys.
 */

import assert from "node:assert/strict";
import { createHash, createHmac, hkdfSync } from "node:crypto";
import {
  formatIdentityFile,
  generateIdentity,
  type Identity,
  IdentityFileError,
  loadIdentity,
  parseIdentityFile,
  saveIdentity,
  toPublicKey,
} from "../client/identity.ts";
import { formatPublicKeyText, parsePublicKeyText } from "../protocol/mediator.ts";
import { duplexPair } from "../secure/duplex_pair.ts";
import type { Duplex } from "../secure/duplex.ts";
import { HandshakeError } from "../secure/errors.ts";
import {
  deriveIdentityKeys,
  IDENTITY_HELLO_BYTES,
  identityHandshake,
  PeerAuthenticationError,
  PeerKeyMismatchError,
} from "../secure/identity_handshake.ts";

const enc = new TextEncoder();
const [alice, bob, mallory] = await Promise.all([
  generateIdentity(),
  generateIdentity(),
  generateIdentity(),
]);

Deno.test("identity text form: pk1 + base32 with a checksum; typos are caught", () => {
  assert.match(alice.text, /^pk1[a-z2-7]{55}$/);
  assert.deepEqual(parsePublicKeyText(alice.text), alice.publicKey);
  assert.equal(formatPublicKeyText(alice.publicKey), alice.text);
  let caught = 0;
  for (let i = 3; i < alice.text.length; i++) {
    const c = alice.text[i] === "a" ? "b" : "a";
    if (parsePublicKeyText(alice.text.slice(0, i) + c + alice.text.slice(i + 1)) === null) caught++;
  }
  // Every one-character typo in the key is caught except (rarely) in the last, padded character.
  assert.ok(caught >= alice.text.length - 4, `caught ${caught}`);
  assert.equal(parsePublicKeyText(alice.text.slice(0, -1)), null);
  assert.equal(parsePublicKeyText("pk2" + alice.text.slice(3)), null);
  assert.throws(() => toPublicKey("pk1nope"), /not a peerlink public key/);
  assert.throws(() => toPublicKey(new Uint8Array(31)), /32 bytes/);
});

Deno.test("identity files: saved 0600 with a .pub, loaded back, refused when not a key", async () => {
  const dir = await Deno.makeTempDir({ prefix: "peerlink-id-" });
  try {
    const path = `${dir}/me.key`;
    await saveIdentity(path, alice);
    assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
    assert.equal((await Deno.readTextFile(`${path}.pub`)).trim(), alice.text);
    const loaded = await loadIdentity(path);
    assert.equal(loaded.text, alice.text);
    const text = await Deno.readTextFile(path);
    assert.match(
      text,
      /-----BEGIN PRIVATE KEY-----\n[A-Za-z0-9+/=\n]+-----END PRIVATE KEY-----\n$/,
    );
    assert.ok(text.includes(alice.text));
    // The loaded key signs like the original.
    const message = enc.encode("x");
    const sig = new Uint8Array(await crypto.subtle.sign("Ed25519", loaded.privateKey, message));
    const pub = await crypto.subtle.importKey("raw", alice.publicKey.slice(), "Ed25519", false, [
      "verify",
    ]);
    assert.ok(await crypto.subtle.verify("Ed25519", pub, sig, message));

    await assert.rejects(saveIdentity(path, bob), (e) => {
      assert.ok(e instanceof IdentityFileError);
      assert.match(e.message, /already exists/);
      return true;
    });
    await Deno.chmod(path, 0o644);
    await saveIdentity(path, bob, { overwrite: true });
    assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600, "overwrite resets the mode");
    assert.equal((await loadIdentity(path)).text, bob.text);

    await Deno.writeTextFile(
      `${dir}/bad.key`,
      "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
    );
    await assert.rejects(loadIdentity(`${dir}/bad.key`), /not an Ed25519 key/);
    await assert.rejects(loadIdentity(`${dir}/missing.key`), /not found/);
    await assert.rejects(parseIdentityFile("nothing"), TypeError);
    assert.equal((await parseIdentityFile(formatIdentityFile(alice))).text, alice.text);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

type Settled = PromiseSettledResult<Awaited<ReturnType<typeof identityHandshake>>>;

function handshakePair(
  left: Duplex,
  right: Duplex,
  a: Identity = alice,
  b: Identity = bob,
  expect: { a?: Uint8Array; b?: Uint8Array } = {},
): Promise<[Settled, Settled]> {
  return Promise.allSettled([
    identityHandshake(left, { identity: a, peerKey: expect.a ?? b.publicKey, timeoutMs: 3000 }),
    identityHandshake(right, { identity: b, peerKey: expect.b ?? a.publicKey, timeoutMs: 3000 }),
  ]) as Promise<[Settled, Settled]>;
}

Deno.test("identity handshake: data both ways, half-close, fragmented transport", async () => {
  const [left, right] = duplexPair({ chunkSize: 7, randomSplitSeed: 3 });
  const [ra, rb] = await handshakePair(left, right);
  assert.equal(ra.status, "fulfilled");
  assert.equal(rb.status, "fulfilled");
  const a = (ra as PromiseFulfilledResult<Awaited<ReturnType<typeof identityHandshake>>>).value;
  const b = (rb as PromiseFulfilledResult<Awaited<ReturnType<typeof identityHandshake>>>).value;
  assert.deepEqual(a.peerKey, bob.publicKey);
  assert.notEqual(a.role, b.role);
  const big = new Uint8Array(200_000).map((_, i) => i % 251);
  const wa = a.writable.getWriter();
  const [received] = await Promise.all([
    new Response(b.readable).arrayBuffer(),
    wa.write(big).then(() => wa.close()),
  ]);
  assert.deepEqual(new Uint8Array(received), big);
  const wb = b.writable.getWriter();
  await wb.write(enc.encode("back"));
  await wb.close();
  assert.equal(await new Response(a.readable).text(), "back");
});

Deno.test("identity handshake: someone with another key is refused on both sides", async () => {
  // Alice expects Bob but Mallory answers with her own key.
  const [left, right] = duplexPair();
  const [ra, rm] = await handshakePair(left, right, alice, mallory, { a: bob.publicKey });
  assert.equal(ra.status, "rejected");
  assert.ok((ra as PromiseRejectedResult).reason instanceof PeerKeyMismatchError);
  assert.deepEqual((ra as PromiseRejectedResult).reason.presented, mallory.publicKey);
  assert.equal(rm.status, "rejected");
  assert.ok((rm as PromiseRejectedResult).reason instanceof HandshakeError);
});

/** A party in the middle that rewrites part of each hello, then relays. */
function middle(rewrite: (hello: Uint8Array) => Uint8Array): [Duplex, Duplex] {
  const [a, ma] = duplexPair();
  const [mb, b] = duplexPair();
  const forward = async (from: Duplex, to: Duplex): Promise<void> => {
    const reader = from.readable.getReader();
    const writer = to.writable.getWriter();
    let head = new Uint8Array(0);
    let sentHello = false;
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        if (sentHello) {
          await writer.write(value);
          continue;
        }
        const merged = new Uint8Array(head.length + value.length);
        merged.set(head);
        merged.set(value, head.length);
        head = merged;
        if (head.length < IDENTITY_HELLO_BYTES) continue;
        await writer.write(rewrite(head.subarray(0, IDENTITY_HELLO_BYTES)));
        if (head.length > IDENTITY_HELLO_BYTES) {
          await writer.write(head.subarray(IDENTITY_HELLO_BYTES));
        }
        sentHello = true;
      }
      await writer.close().catch(() => {});
    } catch (error) {
      await writer.abort(error).catch(() => {});
      await reader.cancel(error).catch(() => {});
    }
  };
  forward(ma, mb);
  forward(mb, ma);
  return [a, b];
}

Deno.test("identity handshake: a party in the middle that swaps keys makes both refuse", async (t) => {
  const ephemeral = new Uint8Array(
    await crypto.subtle.exportKey(
      "raw",
      ((await crypto.subtle.generateKey({ name: "X25519" }, true, ["deriveBits"])) as CryptoKeyPair)
        .publicKey,
    ),
  );
  const cases: [string, (hello: Uint8Array) => Uint8Array, new (...a: never[]) => Error][] = [
    ["the Ed25519 key", (h) => {
      const out = h.slice();
      out.set(mallory.publicKey, 1);
      return out;
    }, PeerKeyMismatchError],
    ["the ephemeral X25519 key", (h) => {
      const out = h.slice();
      out.set(ephemeral, 33);
      return out;
    }, PeerAuthenticationError],
    ["one bit of the ephemeral key", (h) => {
      const out = h.slice();
      out[40]! ^= 1;
      return out;
    }, PeerAuthenticationError],
  ];
  for (const [what, rewrite, error] of cases) {
    await t.step(what, async () => {
      const [left, right] = middle(rewrite);
      const results = await handshakePair(left, right);
      for (const r of results) {
        assert.equal(r.status, "rejected", `${what}: accepted`);
        const reason = (r as PromiseRejectedResult).reason;
        assert.ok(reason instanceof HandshakeError, String(reason));
      }
      assert.ok(
        results.some((r) => (r as PromiseRejectedResult).reason instanceof error),
        results.map((r) => String((r as PromiseRejectedResult).reason)).join("; "),
      );
    });
  }
});

Deno.test("identity handshake: reflection, versions, timeouts and misuse", async () => {
  // A reflector sends our own hello back.
  const [left, right] = duplexPair();
  const echo = (async () => {
    const reader = right.readable.getReader();
    const writer = right.writable.getWriter();
    const { value } = await reader.read();
    await writer.write(value!).catch(() => {});
    await reader.read().catch(() => {});
    await writer.close().catch(() => {});
  })();
  await assert.rejects(
    identityHandshake(left, {
      identity: alice,
      peerKey: alice.publicKey.map((x) => x ^ 1),
      timeoutMs: 2000,
    }),
    HandshakeError,
  );
  await echo;

  const [l2, r2] = duplexPair();
  const wrongVersion = r2.writable.getWriter().write(new Uint8Array(IDENTITY_HELLO_BYTES).fill(2));
  await assert.rejects(
    identityHandshake(l2, { identity: alice, peerKey: bob.publicKey, timeoutMs: 2000 }),
    /version 2/,
  );
  await wrongVersion.catch(() => {});

  const [l3] = duplexPair();
  await assert.rejects(
    identityHandshake(l3, { identity: alice, peerKey: bob.publicKey, timeoutMs: 50 }),
    /did not finish within 50 ms/,
  );
  const [l4] = duplexPair();
  await assert.rejects(
    identityHandshake(l4, { identity: alice, peerKey: alice.publicKey }),
    RangeError,
  );
});

Deno.test("identity handshake: derived keys match the specification, computed independently", () => {
  const helloA = new Uint8Array(65).fill(1), helloB = new Uint8Array(65).fill(2);
  const shared = new Uint8Array(32).fill(7);
  const context = enc.encode("ctx");
  const keys = deriveIdentityKeys(helloB, helloA, shared, context);
  assert.equal(keys.role, "B");
  const len = new Uint8Array(4);
  new DataView(len.buffer).setUint32(0, context.length);
  const transcript = createHash("sha256")
    .update(enc.encode("peerlink/identity/1 transcript"))
    .update(len).update(context).update(helloA).update(helloB).digest();
  assert.deepEqual(keys.transcript, new Uint8Array(transcript));
  const hk = (label: string): Uint8Array =>
    new Uint8Array(
      hkdfSync("sha256", shared, transcript, enc.encode(`peerlink/identity/1 ${label}`), 32),
    );
  assert.deepEqual(keys.send, hk("data B to A"));
  assert.deepEqual(keys.receive, hk("data A to B"));
  assert.deepEqual(keys.confirmOwn, hk("confirm B"));
  assert.deepEqual(keys.confirmPeer, hk("confirm A"));
  // The confirmation is HMAC-SHA256(key, T).
  assert.equal(createHmac("sha256", keys.confirmOwn).update(transcript).digest().length, 32);
});
