/** The introducer client library and the shared UDP endpoint, over real UDP loopback. */

import assert from "node:assert/strict";
import {
  createIntroducerClient,
  IntroducerClient,
  IntroducerError,
  IntroducerTimeoutError,
  TargetBusyError,
  TargetNotFoundError,
} from "../client/introducer.ts";
import { UdpEndpoint, UdpEndpointError } from "../net/udp_endpoint.ts";
import { ChatState } from "../server/services/chat.ts";
import type { PeerlinkServer } from "../server/server.ts";
import type { SocketAddr } from "../protocol/socket_addr.ts";
import { RawPeer } from "./chat_raw_peer.ts";
import { aliceAndBob, nextIntroducerEvent, startIntroducer } from "./chat_helpers.ts";

const text = (s: string): Uint8Array => new TextEncoder().encode(s);
const str = (b: Uint8Array): string => new TextDecoder().decode(b);

const FAST = { attempts: 3, attemptTimeoutMs: 100 };

// --- UdpEndpoint ---------------------------------------------------------------------------

Deno.test("UdpEndpoint: dispatches by source address, then to catch-all, else counts unclaimed", async () => {
  await using hub = UdpEndpoint.bind({ hostname: "127.0.0.1" });
  await using a = UdpEndpoint.bind({ hostname: "127.0.0.1" });
  await using b = UdpEndpoint.bind({ hostname: "127.0.0.1" });
  const fromA: string[] = [];
  const other: string[] = [];
  using _subA = hub.subscribe(a.localAddr, (d) => fromA.push(str(d.data)));
  // Unclaimed: no catch-all yet.
  const sync = hub.receive(a.localAddr, { accept: (d) => str(d.data) === "sync" });
  await b.send(text("lost"), hub.localAddr);
  await a.send(text("sync"), hub.localAddr);
  await sync;
  // Datagrams from one sender arrive in order; b's "lost" was sent before a's "sync" but from
  // another socket, so wait for the count rather than assume.
  const deadline = Date.now() + 2000;
  while (hub.unclaimed < 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  assert.equal(hub.unclaimed, 1);
  {
    using _any = hub.subscribe(null, (d) => other.push(`${d.from.port}:${str(d.data)}`));
    const got = hub.receive(null);
    await b.send(text("hello"), hub.localAddr);
    const datagram = await got;
    assert.equal(datagram.from.port, b.localAddr.port);
    assert.equal(datagram.from.family, "v4");
  }
  assert.deepEqual(fromA, ["sync"]);
  assert.deepEqual(other, [`${b.localAddr.port}:hello`]);
});

Deno.test("UdpEndpoint: receive() honours its signal and rejects when the endpoint closes", async () => {
  const endpoint = UdpEndpoint.bind({ hostname: "127.0.0.1" });
  const aborted = new AbortController();
  aborted.abort(new Error("Stop"));
  await assert.rejects(endpoint.receive(null, { signal: aborted.signal }), /Stop/);
  await assert.rejects(
    endpoint.receive(null, { signal: AbortSignal.timeout(20) }),
    (e: Error) => e.name === "TimeoutError",
  );
  const pending = assert.rejects(endpoint.receive(null), UdpEndpointError);
  await endpoint.close();
  await pending;
  await assert.rejects(endpoint.send(new Uint8Array(1), endpoint.localAddr), UdpEndpointError);
});

Deno.test("UdpEndpoint: a dual-stack endpoint talks to IPv4 and IPv6; IPv4-only cannot reach IPv6", async () => {
  await using dual = UdpEndpoint.bind();
  await using v4 = UdpEndpoint.bind({ hostname: "127.0.0.1" });
  const got = v4.receive(null);
  await dual.send(text("x"), v4.localAddr);
  assert.equal((await got).from.family, "v4"); // mapped sender seen as IPv4
  const back = dual.receive(null);
  await v4.send(text("y"), { family: "v4", ip: "127.0.0.1", port: dual.localAddr.port });
  const datagram = await back;
  assert.equal(datagram.from.family, "v4");
  assert.equal(datagram.from.ip, "127.0.0.1");
  if (dual.localAddr.family === "v6") {
    await assert.rejects(
      v4.send(text("z"), { family: "v6", ip: "::1", port: dual.localAddr.port, scopeId: 0 }),
      UdpEndpointError,
    );
  }
});

// --- IntroducerClient against peerlink's introducer -----------------------------------------

Deno.test("IntroducerClient: register, connect, incoming call, finish; the endpoint stays usable", async () => {
  await using users = await aliceAndBob(FAST);
  const { state, alice, bob } = users;
  assert.equal(alice.username, "alice");
  assert.equal(state.registrations, 2);

  const calls = bob.incoming()[Symbol.asyncIterator]();
  const peer = await alice.connect("bob");
  assert.deepEqual(peer, {
    addr: { family: "v4", ip: "127.0.0.1", port: bob.endpoint.localAddr.port },
    username: "bob",
  });
  const call = await calls.next();
  assert.equal(call.done, false);
  assert.equal(call.value!.username, "alice");
  assert.equal(call.value!.addr.port, alice.endpoint.localAddr.port);
  assert.deepEqual(bob.peer, call.value);

  // The same sockets carry the chat: alice → bob directly, bob hears it on its endpoint.
  const heard = bob.endpoint.receive(call.value!.addr);
  await alice.endpoint.send(text("Punch!"), peer.addr);
  assert.equal(str((await heard).data), "Punch!");

  const released = nextIntroducerEvent(state, (e) => e.kind === "released");
  await alice.finish();
  await released; // the introducer handled it
  assert.equal(state.busyPairs, 0);
  assert.equal(alice.peer, null);
  await calls.return?.(undefined);
});

Deno.test("IntroducerClient: TargetNotFoundError, TargetBusyError, and registering first", async () => {
  const state = new ChatState();
  await using server = await startIntroducer(state);
  const introducer = server.listeners[0]!.addr;
  await using alice = await createIntroducerClient({ introducer, ...FAST });
  await using bob = await createIntroducerClient({ introducer, ...FAST });
  await using carol = await createIntroducerClient({ introducer, ...FAST });
  await assert.rejects(
    alice.connect("bob"),
    (e: Error) => e instanceof IntroducerError && /register/.test(e.message),
  );
  await alice.register("alice");
  await bob.register("bob");
  await carol.register("carol");
  await assert.rejects(
    alice.connect("nobody"),
    (e: unknown) => e instanceof TargetNotFoundError && e.target === "nobody",
  );
  await alice.connect("bob");
  await assert.rejects(carol.connect("bob"), TargetBusyError);
  await assert.rejects(alice.connect("carol"), TargetBusyError); // alice is busy herself
  const released = nextIntroducerEvent(state, (e) => e.kind === "released");
  await alice.finish();
  await released;
  const peer = await carol.connect("bob");
  assert.equal(peer.username, "bob");
  await carol.finish();
});

Deno.test("IntroducerClient: simultaneous connects to each other both succeed", async () => {
  await using users = await aliceAndBob(FAST);
  const { state, alice, bob } = users;
  const [a, b] = await Promise.all([alice.connect("bob"), bob.connect("alice")]);
  assert.equal(a.addr.port, bob.endpoint.localAddr.port);
  assert.equal(b.addr.port, alice.endpoint.localAddr.port);
  assert.equal(state.busyPairs, 1);
});

Deno.test("IntroducerClient: a taken name times out (no RegisterAck), bounded by attempts", async () => {
  const state = new ChatState();
  await using server = await startIntroducer(state);
  const introducer = server.listeners[0]!.addr;
  await using alice = await createIntroducerClient({ introducer, ...FAST });
  await using mallory = await createIntroducerClient({
    introducer,
    attempts: 2,
    attemptTimeoutMs: 50,
  });
  await alice.register("alice");
  const started = Date.now();
  await assert.rejects(
    mallory.register("alice"),
    (e: unknown) => e instanceof IntroducerTimeoutError && e.operation === "register",
  );
  assert.ok(Date.now() - started < 1000);
  assert.equal(server.counters.get("chat_register_refused", "name_taken"), 2);
  await assert.rejects(mallory.register("bad name"), RangeError);
});

Deno.test("IntroducerClient: the keep-alive holds the registration; a silent client expires", async () => {
  const state = new ChatState({ idleTimeoutMs: 300 });
  await using server = await startIntroducer(state);
  const introducer = server.listeners[0]!.addr;
  await using kept = await createIntroducerClient({ introducer, ...FAST, keepAliveMs: 60 });
  await using silent = await createIntroducerClient({ introducer, ...FAST, keepAliveMs: 0 });
  await kept.register("kept");
  await silent.register("silent");
  const event = await nextIntroducerEvent(state, (e) => e.kind === "expired");
  assert.ok(event.kind === "expired" && event.user.username === "silent");
  assert.notEqual(state.lookup("kept"), null);
  assert.equal(state.registrations, 1);
  assert.ok(server.counters.get("chat_requests", "Ping") >= 3);
});

Deno.test("IntroducerClient: close() ends incoming() and rejects pending requests; signals abort", async () => {
  await using quiet = UdpEndpoint.bind({ hostname: "127.0.0.1" }); // an introducer that never answers
  await using endpoint = UdpEndpoint.bind({ hostname: "127.0.0.1" });
  const client = new IntroducerClient({
    endpoint,
    introducer: quiet.localAddr,
    attempts: 50,
    attemptTimeoutMs: 1000,
  });
  const pending = assert.rejects(client.register("alice"), IntroducerError);
  const iteration = client.incoming()[Symbol.asyncIterator]().next();
  await client.close();
  await pending;
  assert.deepEqual(await iteration, { value: undefined, done: true });
  assert.equal(endpoint.closed, false, "a shared endpoint stays open");
  await assert.rejects(client.register("alice"), IntroducerError);

  const controller = new AbortController();
  await using other = new IntroducerClient({ endpoint, introducer: quiet.localAddr, attempts: 50 });
  const request = assert.rejects(
    other.register("bob", { signal: controller.signal }),
    /Changed my mind/,
  );
  controller.abort(new Error("Changed my mind"));
  await request;

  const closing = new AbortController();
  const third = new IntroducerClient({
    endpoint,
    introducer: quiet.localAddr,
    signal: closing.signal,
  });
  closing.abort();
  await assert.rejects(third.register("carol"), IntroducerError);
  await third.close();
});

// --- IntroducerClient against a scripted introducer (raw bytes) --------------------------------

Deno.test("IntroducerClient: retries Register until RegisterAck; believes only the introducer", async () => {
  await using fake = new RawPeer(); // plays the introducer
  const introducer: SocketAddr = { family: "v4", ip: "127.0.0.1", port: fake.port };
  await using client = await createIntroducerClient({
    introducer,
    attempts: 5,
    attemptTimeoutMs: 30,
  });
  const registered = client.register("alice");
  // Drop the first two, answer the third.
  assert.equal(await fake.recv(), '{"Register":{"username":"alice"}}');
  assert.equal(await fake.recv(), '{"Register":{"username":"alice"}}');
  assert.equal(await fake.recv(), '{"Register":{"username":"alice"}}');
  const clientPort = client.endpoint.localAddr.port;
  await fake.send('"RegisterAck"', clientPort);
  await registered;

  // A PeerInfo from someone else is not believed (weakness 4): it is left unclaimed.
  await using stranger = new RawPeer();
  await stranger.send('{"PeerInfo":{"peer":"127.0.0.1:9","username":"evil"}}', clientPort);
  // Garbage from the introducer is dropped and counted; a real call still arrives.
  await fake.send("garbage", clientPort);
  await fake.send('{"PeerInfo":{"peer":"[2001:db8::5]:4000","username":"bob"}}', clientPort);
  const call = await client.incoming()[Symbol.asyncIterator]().next();
  assert.deepEqual(call.value, {
    addr: { family: "v6", ip: "2001:db8::5", port: 4000, scopeId: 0 },
    username: "bob",
  });
  assert.equal(client.dropped, 1);
  assert.equal(client.endpoint.unclaimed, 1);

  // connect() sends Connect; finish() sends SessionFinished: exact bytes.
  const connecting = client.connect("carol");
  assert.equal(await fake.recv(), '{"Connect":{"target_username":"carol"}}');
  await fake.send('"TargetBusy"', clientPort);
  await assert.rejects(connecting, TargetBusyError);
  await client.finish();
  assert.equal(await fake.recv(), '"SessionFinished"');
});

Deno.test("IntroducerClient: keep-alive pings, and registers again when the introducer stays silent", async () => {
  await using fake = new RawPeer();
  const introducer: SocketAddr = { family: "v4", ip: "127.0.0.1", port: fake.port };
  await using client = await createIntroducerClient({ introducer, keepAliveMs: 30, attempts: 1 });
  const registered = client.register("alice");
  assert.equal(await fake.recv(), '{"Register":{"username":"alice"}}');
  await fake.send('"RegisterAck"', client.endpoint.localAddr.port);
  await registered;
  // No Pong ever comes: Ping, Ping, then Register again.
  assert.equal(await fake.recv(), '"Ping"');
  assert.equal(await fake.recv(), '"Ping"');
  assert.equal(await fake.recv(), '{"Register":{"username":"alice"}}');
});

Deno.test("IntroducerClient: IPv6 loopback and name resolution", async () => {
  const state = new ChatState();
  let server: PeerlinkServer;
  try {
    server = await startIntroducer(state, "::1");
  } catch (error) {
    console.log(`IPv6 loopback unavailable, skipped: ${error}`);
    return;
  }
  await using _server = server;
  const port = server.listeners[0]!.addr.port;
  await using alice = await createIntroducerClient({ introducer: `[::1]:${port}`, ...FAST });
  await using bob = await createIntroducerClient({ introducer: `[::1]:${port}`, ...FAST });
  assert.equal(alice.endpoint.localAddr.family, "v6");
  await alice.register("alice");
  await bob.register("bob");
  const peer = await alice.connect("bob");
  assert.deepEqual(peer.addr, {
    family: "v6",
    ip: "::1",
    port: bob.endpoint.localAddr.port,
    scopeId: 0,
  });
  await alice.finish();

  // An IPv4-only endpoint cannot reach an IPv6 introducer.
  await using v4 = UdpEndpoint.bind({ hostname: "127.0.0.1" });
  await assert.rejects(
    createIntroducerClient({ introducer: `[::1]:${port}`, endpoint: v4 }),
    IntroducerError,
  );
  await assert.rejects(createIntroducerClient({ introducer: "bad:host:name:x" }), TypeError);
});
