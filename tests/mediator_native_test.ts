/**
 * The native mediator mode and `connect()` over loopback: pairing by public keys, the proof of
 * possession and its faults, and mediators in the middle that swap keys.
 */

import assert from "node:assert/strict";
import { generateIdentity, type Identity } from "../client/identity.ts";
import { connect, type MediatedConnection, registerWithMediator } from "../client/mediator.ts";
import {
  MediatorIdentityError,
  MediatorRefusedError,
  MediatorUnreachableError,
  PeerNeverCameError,
} from "../client/mediator_errors.ts";
import { encodeFrame, FrameReader } from "../framing/length_prefixed.ts";
import {
  decodeMediatorClientMsg,
  decodeMediatorServerMsg,
  encodeMediatorClientFrame,
  encodeMediatorServerFrame,
  IDENTITY_HELLO_BYTES,
  identityHandshake,
  type MediatorClientMsg,
  mediatorProofBytes,
  type MediatorServerMsg,
  registrationBytes,
  signEd25519,
} from "../mod.ts";
import { toSocketAddr } from "../protocol/socket_addr.ts";
import { HandshakeError } from "../secure/errors.ts";
import { PeerAuthenticationError, PeerKeyMismatchError } from "../secure/identity_handshake.ts";
import { silentLogger } from "../server/logger.ts";
import { type PeerlinkServer, startServer } from "../server/server.ts";
import { mediatorPlugin, type MediatorServiceOptions } from "../server/services/mediator.ts";

const [alice, bob, carol, mallory] = await Promise.all([
  generateIdentity(),
  generateIdentity(),
  generateIdentity(),
  generateIdentity(),
]);
const enc = new TextEncoder();

async function mediator(
  options: MediatorServiceOptions = {},
): Promise<{ server: PeerlinkServer; address: string }> {
  const server = await startServer({
    hostname: "127.0.0.1",
    gdayPort: null,
    logger: silentLogger,
    services: [mediatorPlugin({ port: 0, ...options })],
  });
  return { server, address: `127.0.0.1:${server.listeners[0]!.addr.port}` };
}

async function counted(server: PeerlinkServer, event: string, n = 1): Promise<void> {
  for (let i = 0; i < 1000; i++) {
    if (server.counters.get("mediator_native", event) >= n) return;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error(`The mediator never counted ${n} ${event}`);
}

async function exchange(a: MediatedConnection, b: MediatedConnection): Promise<[string, string]> {
  const send = async (c: MediatedConnection, text: string): Promise<void> => {
    const w = c.writable.getWriter();
    await w.write(enc.encode(text));
    await w.close();
  };
  const [toB, toA] = await Promise.all([
    new Response(b.readable).text(),
    new Response(a.readable).text(),
    send(a, "from alice"),
    send(b, "from bob"),
  ]);
  return [toB, toA];
}

/** A native client driven by hand, message by message. */
class RawClient implements Disposable {
  #reader: FrameReader;
  constructor(readonly conn: Deno.TcpConn) {
    this.#reader = new FrameReader(conn);
  }
  static async dial(address: string): Promise<RawClient> {
    const port = Number(address.slice(address.lastIndexOf(":") + 1));
    return new RawClient(await Deno.connect({ hostname: "127.0.0.1", port }));
  }
  async send(msg: MediatorClientMsg): Promise<void> {
    await this.conn.write(encodeMediatorClientFrame(msg));
  }
  async sendRaw(bytes: Uint8Array): Promise<void> {
    await this.conn.write(bytes);
  }
  async recv(timeoutMs = 5000): Promise<MediatorServerMsg | null> {
    const frame = await this.#reader.read(AbortSignal.timeout(timeoutMs));
    return frame === null ? null : decodeMediatorServerMsg(frame);
  }
  /** hello, then the signature `sign` makes for the transcript. */
  async register(
    key: Identity,
    peer: Identity,
    signer: Identity = key,
  ): Promise<{ register: MediatorClientMsg; reply: MediatorServerMsg | null }> {
    const nonce = crypto.getRandomValues(new Uint8Array(32));
    const local = this.conn.localAddr as Deno.NetAddr;
    const privateAddr = toSocketAddr(local.hostname, local.port);
    await this.send({
      type: "hello",
      version: 1,
      key: key.publicKey,
      peer: peer.publicKey,
      nonce,
      privateAddr,
    });
    const challenge = await this.recv();
    assert.equal(challenge?.type, "challenge");
    if (challenge?.type !== "challenge") throw new Error("unreachable");
    const signature = await signEd25519(
      signer.privateKey,
      registrationBytes({
        mediatorKey: challenge.mediatorKey,
        mediatorNonce: challenge.nonce,
        clientNonce: nonce,
        key: key.publicKey,
        peer: peer.publicKey,
        privateAddr,
      }),
    );
    const register: MediatorClientMsg = { type: "register", signature };
    await this.send(register);
    return { register, reply: await this.recv() };
  }
  close(): void {
    try {
      this.conn.close();
    } catch { /* closed */ }
  }
  [Symbol.dispose](): void {
    this.close();
  }
}

Deno.test("native mediator: two peers pair by public keys and move data both ways", async () => {
  const { server, address } = await mediator();
  await using _server = server;
  const events: string[] = [];
  const [a, b] = await Promise.all([
    connect({
      identity: alice,
      peer: bob.text,
      mediator: address,
      onEvent: (e) => events.push(`a:${e.kind}`),
    }),
    connect({
      identity: bob,
      peer: alice.publicKey,
      mediator: address,
      onEvent: (e) => events.push(`b:${e.kind}`),
    }),
  ]);
  await using _a = a;
  await using _b = b;
  assert.deepEqual(a.peerKey, bob.publicKey);
  assert.deepEqual(b.peerKey, alice.publicKey);
  assert.equal(a.path, "direct-tcp");
  assert.deepEqual(await exchange(a, b), ["from alice", "from bob"]);
  for (const side of ["a", "b"]) {
    for (const step of ["mediator", "paired", "connected"]) {
      assert.ok(events.includes(`${side}:${step}`));
    }
  }
  assert.equal(server.counters.get("mediator_native", "paired"), 1);
});

Deno.test("native mediator: reached by name over the preferred family that answers", async () => {
  const { server, address } = await mediator();
  await using _server = server;
  const port = address.slice(address.lastIndexOf(":") + 1);
  // The mediator listens on 127.0.0.1 only: ::1 refuses, so both fall back to IPv4.
  const [a, b] = await Promise.all([
    connect({
      identity: alice,
      peer: bob.text,
      mediator: `localhost:${port}`,
      families: ["v6", "v4"],
    }),
    connect({ identity: bob, peer: alice.text, mediator: `localhost:${port}` }),
  ]);
  assert.equal(a.localAddr.family, "v4");
  await Promise.all([a.close(), b.close()]);
  await assert.rejects(
    connect({ identity: alice, peer: bob.text, mediator: `localhost:${port}`, families: ["v6"] }),
    (e) => e instanceof MediatorUnreachableError && /localhost/.test(e.message),
  );
});

Deno.test("native mediator: a pinned mediator key is checked", async () => {
  const identity = await generateIdentity();
  const { server, address } = await mediator({ identity });
  await using _server = server;
  const [a, b] = await Promise.all([
    connect({ identity: alice, peer: bob.text, mediator: address, mediatorKey: identity.text }),
    connect({
      identity: bob,
      peer: alice.text,
      mediator: address,
      mediatorKey: identity.publicKey,
    }),
  ]);
  await Promise.all([a.close(), b.close()]);
  await assert.rejects(
    connect({ identity: alice, peer: bob.text, mediator: address, mediatorKey: carol.text }),
    (e) => {
      assert.ok(e instanceof MediatorIdentityError);
      assert.match(e.message, /not the expected/);
      return true;
    },
  );
});

Deno.test("native mediator: a wrong private key cannot register", async () => {
  const { server, address } = await mediator();
  await using _server = server;
  using raw = await RawClient.dial(address);
  const { reply } = await raw.register(alice, bob, mallory);
  assert.deepEqual(reply?.type === "error" && reply.code, "bad_signature");
  assert.equal(await raw.recv(), null, "closed after the error");
  // The same through connect(): Alice's public key with Mallory's private key.
  await assert.rejects(
    connect({
      identity: { publicKey: alice.publicKey, privateKey: mallory.privateKey },
      peer: bob.text,
      mediator: address,
    }),
    (e) => e instanceof MediatorRefusedError && e.code === "bad_signature",
  );
  assert.equal(server.counters.get("mediator_native", "registered"), 0);
});

Deno.test("native mediator: a replayed answer is refused (fresh nonce per session)", async () => {
  const { server, address } = await mediator();
  await using _server = server;
  using first = await RawClient.dial(address);
  const { register, reply } = await first.register(alice, bob);
  assert.equal(reply?.type, "registered");
  // Eve replays Alice's hello and register on a new connection.
  using eve = await RawClient.dial(address);
  await eve.send({
    type: "hello",
    version: 1,
    key: alice.publicKey,
    peer: carol.publicKey,
    nonce: new Uint8Array(32),
    privateAddr: null,
  });
  assert.equal((await eve.recv())?.type, "challenge");
  await eve.send(register);
  const refused = await eve.recv();
  assert.equal(refused?.type === "error" && refused.code, "bad_signature");
  // Alice's own registration is untouched: Bob pairs with her.
  using b = await RawClient.dial(address);
  const paired = await b.register(bob, alice);
  assert.equal(paired.reply?.type, "paired");
  assert.equal((await first.recv())?.type, "paired");
});

Deno.test("native mediator: a peer that names someone who never comes gets a clear timeout", async () => {
  const { server, address } = await mediator({ waitTimeoutMs: 300 });
  await using _server = server;
  const started = Date.now();
  await assert.rejects(connect({ identity: alice, peer: bob.text, mediator: address }), (e) => {
    assert.ok(e instanceof PeerNeverCameError, String(e));
    assert.equal(e.code, "timeout");
    assert.ok(e.message.includes(bob.text) && e.message.includes(alice.text), e.message);
    assert.match(e.message, /did not register with the mediator within 0 s/);
    return true;
  });
  assert.ok(Date.now() - started < 5000);
  // The client's own limit applies too, when shorter than the mediator's.
  const patient = await mediator({ waitTimeoutMs: 60_000 });
  await using _patient = patient.server;
  await assert.rejects(
    connect({
      identity: alice,
      peer: bob.text,
      mediator: patient.address,
      waitTimeoutMs: 200,
      stepTimeoutMs: 200,
    }),
    PeerNeverCameError,
  );
});

Deno.test("native mediator: the same key registering twice replaces the first", async () => {
  const { server, address } = await mediator();
  await using _server = server;
  using first = await RawClient.dial(address);
  assert.equal((await first.register(alice, bob)).reply?.type, "registered");
  const [a, b] = await Promise.all([
    connect({ identity: alice, peer: bob.text, mediator: address }),
    (async () => {
      await counted(server, "registered", 2);
      return await connect({ identity: bob, peer: alice.text, mediator: address });
    })(),
  ]);
  const replaced = await first.recv();
  assert.equal(replaced?.type === "error" && replaced.code, "replaced");
  await Promise.all([a.close(), b.close()]);
});

Deno.test("native mediator: versions, bounds, bad and misordered messages", async () => {
  const { server, address } = await mediator({ maxPending: 1, stepTimeoutMs: 500 });
  await using _server = server;
  using newer = await RawClient.dial(address);
  await newer.sendRaw(encodeFrame(enc.encode('{"type":"hello","version":2,"future":true}')));
  const version = await newer.recv();
  assert.equal(version?.type === "error" && version.code, "version");
  assert.match((version as { message: string }).message, /speaks protocol version 1/);

  using garbage = await RawClient.dial(address);
  await garbage.sendRaw(encodeFrame(enc.encode("not json")));
  assert.equal((await garbage.recv())?.type === "error", true);

  using early = await RawClient.dial(address);
  await early.send({ type: "register", signature: new Uint8Array(64) });
  const order = await early.recv();
  assert.match((order as { message: string }).message, /Expected hello, got register/);

  using huge = await RawClient.dial(address);
  await huge.sendRaw(new Uint8Array([0, 1, 0, 0]));
  const big = await huge.recv();
  assert.equal(big?.type === "error" && big.code, "bad_message");

  using self = await RawClient.dial(address);
  await self.send({
    type: "hello",
    version: 1,
    key: alice.publicKey,
    peer: alice.publicKey,
    nonce: new Uint8Array(32),
    privateAddr: null,
  });
  assert.match(((await self.recv()) as { message: string }).message, /your own key/);

  using waiting = await RawClient.dial(address);
  assert.equal((await waiting.register(alice, bob)).reply?.type, "registered");
  using full = await RawClient.dial(address);
  const busy = (await full.register(carol, mallory)).reply;
  assert.equal(busy?.type === "error" && busy.code, "busy");

  using silent = await RawClient.dial(address);
  await silent.sendRaw(new Uint8Array([0, 0]));
  const step = await silent.recv();
  assert.equal(step?.type === "error" && step.code, "timeout");
});

Deno.test("native mediator: only peers that name each other are paired", async () => {
  const { server, address } = await mediator({ waitTimeoutMs: 400 });
  await using _server = server;
  const results = await Promise.allSettled([
    registerWithMediator({ identity: alice, peer: bob.text, mediator: address }),
    registerWithMediator({ identity: bob, peer: carol.text, mediator: address }),
  ]);
  for (const r of results) {
    assert.equal(r.status, "rejected");
    assert.ok((r as PromiseRejectedResult).reason instanceof PeerNeverCameError);
  }
  assert.equal(server.counters.get("mediator_native", "paired"), 0);
});

/**
 * A mediator in the middle: it speaks the protocol (with its own key) but tells both peers that
 * the other is at Mallory's address. Mallory then either answers with her own key, or relays
 * the two peers' connections to each other with one field of each hello replaced.
 */
async function evilMediatorFull(
  behaviour: "own-key" | "swap-ephemeral" | "swap-key",
): Promise<{ address: string; close: () => Promise<void>; attempts: () => number }> {
  const identity = await generateIdentity();
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const mallorySocket = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const malloryAddr = toSocketAddr("127.0.0.1", mallorySocket.addr.port)!;
  const conns = new Set<Deno.Conn>();
  const tasks: Promise<unknown>[] = [];
  let attempts = 0;
  const spawn = (task: Promise<unknown>): void => void tasks.push(task.catch(() => {}));

  // The mediator half: challenge (properly signed), accept any register, pair the first two.
  const registered: { conn: Deno.Conn; peer: Uint8Array }[] = [];
  spawn((async () => {
    for await (const conn of listener) {
      conns.add(conn);
      spawn((async () => {
        const reader = new FrameReader(conn);
        const hello = decodeMediatorClientMsg((await reader.read())!);
        if (hello.type !== "hello") return;
        const nonce = crypto.getRandomValues(new Uint8Array(32));
        await conn.write(encodeMediatorServerFrame({
          type: "challenge",
          version: 1,
          mediatorKey: identity.publicKey,
          nonce,
          signature: await signEd25519(
            identity.privateKey,
            mediatorProofBytes({
              mediatorKey: identity.publicKey,
              mediatorNonce: nonce,
              clientNonce: hello.nonce,
              key: hello.key,
              peer: hello.peer,
              privateAddr: hello.privateAddr,
            }),
          ),
        }));
        await reader.read(); // register: not even checked
        registered.push({ conn, peer: hello.peer });
        if (registered.length !== 2) return;
        for (const r of registered) {
          const remote = r.conn.remoteAddr as Deno.NetAddr;
          await r.conn.write(encodeMediatorServerFrame({
            type: "paired",
            peer: r.peer,
            publicAddr: malloryAddr,
            privateAddr: null,
            observed: toSocketAddr(remote.hostname, remote.port)!,
          }));
        }
      })());
    }
  })());

  // Mallory's half.
  const waiting = new Map<string, { conn: Deno.Conn; hello: Uint8Array }>();
  const x25519 = new Uint8Array(
    await crypto.subtle.exportKey(
      "raw",
      ((await crypto.subtle.generateKey({ name: "X25519" }, true, ["deriveBits"])) as CryptoKeyPair)
        .publicKey,
    ),
  );
  const edit = (hello: Uint8Array): Uint8Array => {
    const out = hello.slice();
    if (behaviour === "swap-key") out.set(mallory.publicKey, 1);
    else out.set(x25519, 33);
    return out;
  };
  spawn((async () => {
    for await (const conn of mallorySocket) {
      attempts++;
      conns.add(conn);
      spawn((async () => {
        if (behaviour === "own-key") {
          await identityHandshake(conn, {
            identity: mallory,
            peerKey: alice.publicKey,
            timeoutMs: 2000,
          });
          return;
        }
        const hello = new Uint8Array(IDENTITY_HELLO_BYTES);
        for (let got = 0; got < hello.length;) {
          const n = await conn.read(hello.subarray(got));
          if (n === null) return;
          got += n;
        }
        const who = hello.subarray(1, 33).toHex();
        const other = [...waiting.entries()].find(([key]) => key !== who);
        if (other === undefined) {
          waiting.set(who, { conn, hello });
          return;
        }
        waiting.delete(other[0]);
        const peer = other[1];
        await conn.write(edit(peer.hello));
        await peer.conn.write(edit(hello));
        await Promise.allSettled([
          conn.readable.pipeTo(peer.conn.writable),
          peer.conn.readable.pipeTo(conn.writable),
        ]);
      })());
    }
  })());

  return {
    address: `127.0.0.1:${listener.addr.port}`,
    attempts: () => attempts,
    close: async () => {
      listener.close();
      mallorySocket.close();
      for (const conn of conns) {
        try {
          conn.close();
        } catch { /* closed */ }
      }
      await Promise.allSettled(tasks);
    },
  };
}

Deno.test("native mediator: a mediator in the middle that swaps keys makes the peers refuse the pipe", async (t) => {
  for (const behaviour of ["own-key", "swap-key", "swap-ephemeral"] as const) {
    await t.step(behaviour, async () => {
      const evil = await evilMediatorFull(behaviour);
      try {
        const results = await Promise.allSettled([
          connect({
            identity: alice,
            peer: bob.text,
            mediator: evil.address,
            punchTimeoutMs: 2000,
          }),
          connect({
            identity: bob,
            peer: alice.text,
            mediator: evil.address,
            punchTimeoutMs: 2000,
          }),
        ]);
        for (const r of results) {
          if (r.status === "fulfilled") await r.value.close();
          assert.equal(r.status, "rejected", `${behaviour}: a peer accepted the pipe`);
          const reason = (r as PromiseRejectedResult).reason;
          assert.ok(reason instanceof HandshakeError, `${behaviour}: ${reason}`);
        }
        const reasons = results.map((r) => (r as PromiseRejectedResult).reason);
        const expected = behaviour === "swap-ephemeral"
          ? PeerAuthenticationError
          : PeerKeyMismatchError;
        assert.ok(reasons.some((e) => e instanceof expected), reasons.join("; "));
        assert.ok(evil.attempts() > 0, "the peers never reached Mallory");
      } finally {
        await evil.close();
      }
    });
  }
});
