/**
 * The chat introducer over real UDP, driven by Peer-Punch peers that send the spec's exact
 * bytes (hand-written JSON, not peerlink's encoder) and check the exact bytes of every reply.
 */

import assert from "node:assert/strict";
import { ChatState } from "../server/services/chat.ts";
import type { PeerlinkServer } from "../server/server.ts";
import { RawPeer, waitUntil } from "./chat_raw_peer.ts";
import { nextIntroducerEvent, startIntroducer } from "./chat_helpers.ts";

const chatPort = (server: PeerlinkServer): number => server.listeners[0]!.addr.port;

const REGISTER = (name: string): string => `{"Register":{"username":"${name}"}}`;
const CONNECT = (name: string): string => `{"Connect":{"target_username":"${name}"}}`;
const PEER_INFO = (peer: string, name: string): string =>
  `{"PeerInfo":{"peer":"${peer}","username":"${name}"}}`;

Deno.test("chat introducer: register, connect, PeerInfo both ways, busy and not found (spec bytes)", async () => {
  const state = new ChatState();
  await using server = await startIntroducer(state);
  const port = chatPort(server);
  await using alice = new RawPeer();
  await using bob = new RawPeer();
  await using carol = new RawPeer();

  // The spec's exact datagrams (§3.2 table).
  await alice.expect('{"Register":{"username":"alice"}}', port, '"RegisterAck"');
  await bob.expect('{"Register":{"username":"bob"}}', port, '"RegisterAck"');
  await carol.expect(REGISTER("carol"), port, '"RegisterAck"');
  assert.equal(state.registrations, 3);

  // alice → Connect{bob}: PeerInfo about bob to alice, then about alice to bob.
  await alice.send('{"Connect":{"target_username":"bob"}}', port);
  assert.equal(await alice.recv(), PEER_INFO(`127.0.0.1:${bob.port}`, "bob"));
  assert.equal(await bob.recv(), PEER_INFO(`127.0.0.1:${alice.port}`, "alice"));
  assert.equal(state.busyPairs, 1);

  // bob is busy: TargetBusy. Nobody is "dave": TargetNotFound.
  await carol.expect(CONNECT("bob"), port, '"TargetBusy"');
  await carol.expect(CONNECT("dave"), port, '"TargetNotFound"');
  // A busy requester cannot start a second pairing (Peer-Punch allows it).
  await alice.expect(CONNECT("carol"), port, '"TargetBusy"');
  // Asking for your own partner again is a retry: the PeerInfo again, to the requester only.
  await alice.expect(CONNECT("bob"), port, PEER_INFO(`127.0.0.1:${bob.port}`, "bob"));
  // Connecting to yourself is refused.
  await carol.expect(CONNECT("carol"), port, '"TargetNotFound"');

  // SessionFinished from either side frees both (Peer-Punch frees only the sender).
  await bob.send('"SessionFinished"', port);
  await bob.expect('"Ping"', port, '"Pong"'); // in order: SessionFinished was handled
  assert.equal(state.busyPairs, 0);
  assert.equal(state.lookup("alice")?.busy, false);

  // Now bob can call alice.
  await bob.send(CONNECT("alice"), port);
  assert.equal(await bob.recv(), PEER_INFO(`127.0.0.1:${alice.port}`, "alice"));
  assert.equal(await alice.recv(), PEER_INFO(`127.0.0.1:${bob.port}`, "bob"));
  await alice.send('"SessionFinished"', port);
  await alice.expect('"Ping"', port, '"Pong"');
  assert.equal(state.busyPairs, 0);
  assert.equal(bob.pending + alice.pending + carol.pending, 0, "no unexpected replies");
  assert.equal(server.counters.get("chat_dropped", "malformed"), 0);
});

Deno.test("chat introducer: serde's lenient forms are understood, other variants ignored", async () => {
  const state = new ChatState();
  await using server = await startIntroducer(state);
  const port = chatPort(server);
  await using dave = new RawPeer();
  await using erin = new RawPeer();
  await dave.expect('{"Register":["dave"]}', port, '"RegisterAck"');
  await erin.expect(
    ' {"Register":{"extra":[1,{"x":null}],"username":"erin"}}\n',
    port,
    '"RegisterAck"',
  );
  await dave.expect('{"Ping":null}', port, '"Pong"');
  // Variants a relay never handles are ignored, as Peer-Punch's relay does.
  for (
    const ignored of [
      '"RegisterAck"',
      '"Pong"',
      '"Goodbye"',
      '"TargetBusy"',
      '{"DirectMessage":{"content":"hi"}}',
    ]
  ) {
    await dave.send(ignored, port);
  }
  await dave.expect('{"Connect":["erin"]}', port, PEER_INFO(`127.0.0.1:${erin.port}`, "erin"));
  assert.equal(await erin.recv(), PEER_INFO(`127.0.0.1:${dave.port}`, "dave"));
  assert.equal(server.counters.get("chat_requests", "Goodbye"), 1);
});

Deno.test("chat introducer: usernames are validated and unique", async () => {
  const state = new ChatState();
  await using server = await startIntroducer(state);
  const port = chatPort(server);
  await using alice = new RawPeer();
  await using mallory = new RawPeer();

  // Invalid names get no RegisterAck; the next reply mallory sees answers its Connect, which
  // proves nothing came back for the Register (one socket, replies in order).
  const invalid = ["", "a".repeat(33), "has space", "-dash", "\\u00e9", "a/b"];
  for (const name of invalid) {
    await mallory.send(REGISTER(name), port);
    await mallory.expect(CONNECT("anyone"), port, '"TargetNotFound"');
  }
  assert.equal(state.registrations, 0);
  assert.equal(server.counters.get("chat_register_refused", "name_invalid"), invalid.length);
  await mallory.expect(REGISTER("a".repeat(32)), port, '"RegisterAck"');

  // A name held by another live address cannot be taken over.
  await alice.expect(REGISTER("alice"), port, '"RegisterAck"');
  await mallory.send(REGISTER("alice"), port);
  await mallory.expect('"Ping"', port, '"Pong"'); // the first reply: no RegisterAck came
  assert.equal(state.lookup("alice")?.addr.port, alice.port);
  assert.equal(server.counters.get("chat_register_refused", "name_taken"), 1);
  // Registering the same name again from the same address is a harmless retry.
  await alice.expect(REGISTER("alice"), port, '"RegisterAck"');
  // Renaming frees the old name.
  await alice.expect(REGISTER("alice2"), port, '"RegisterAck"');
  assert.equal(state.lookup("alice"), null);
  await mallory.expect(REGISTER("alice"), port, '"RegisterAck"');
  assert.equal(state.lookup("alice")?.addr.port, mallory.port);
  assert.equal(state.registrations, 2);
});

Deno.test("chat introducer: idle registrations and busy pairs expire; the tables empty", async () => {
  const state = new ChatState({ idleTimeoutMs: 400, busyTimeoutMs: 100 });
  await using server = await startIntroducer(state);
  const port = chatPort(server);
  await using alice = new RawPeer();
  await using bob = new RawPeer();
  await alice.expect(REGISTER("alice"), port, '"RegisterAck"');
  await bob.expect(REGISTER("bob"), port, '"RegisterAck"');
  const released = nextIntroducerEvent(state, (e) => e.kind === "released");
  await alice.send(CONNECT("bob"), port);
  assert.equal(await alice.recv(), PEER_INFO(`127.0.0.1:${bob.port}`, "bob"));
  assert.equal(await bob.recv(), PEER_INFO(`127.0.0.1:${alice.port}`, "alice"));
  const event = await released;
  assert.ok(event.kind === "released" && event.reason === "busy_timeout");
  assert.equal(state.busyPairs, 0);
  assert.equal(state.registrations, 2);

  // Nobody sends anything: both registrations expire.
  let expired = 0;
  const stop = state.subscribe((e) => void (e.kind === "expired" && expired++));
  await waitUntil(() => expired === 2, 5000, "both registrations to expire");
  stop();
  assert.equal(state.registrations, 0);
  assert.equal(state.busyPairs, 0);
  assert.equal(server.counters.get("chat_registrations", "expired"), 2);
  // An expired peer is not registered any more.
  await alice.expect(CONNECT("bob"), port, '"TargetNotFound"');
});

Deno.test("chat introducer: a partner's expiry frees the other side; any datagram refreshes", async () => {
  const state = new ChatState({ idleTimeoutMs: 300, busyTimeoutMs: 60_000 });
  await using server = await startIntroducer(state);
  const port = chatPort(server);
  await using alice = new RawPeer();
  await using bob = new RawPeer();
  await alice.expect(REGISTER("alice"), port, '"RegisterAck"');
  await bob.expect(REGISTER("bob"), port, '"RegisterAck"');
  await alice.send(CONNECT("bob"), port);
  await alice.recv();
  await bob.recv();
  const released = nextIntroducerEvent(state, (e) => e.kind === "released");
  // bob keeps sending, even garbage, which refreshes it; alice stays silent and expires.
  let keepGoing = true;
  const keepAlive = (async () => {
    while (keepGoing) {
      await bob.send("not json", port);
      await new Promise((r) => setTimeout(r, 40));
    }
  })();
  const event = await released;
  keepGoing = false;
  await keepAlive;
  assert.ok(event.kind === "released" && event.reason === "expired");
  assert.equal(state.lookup("alice"), null);
  assert.equal(state.lookup("bob")?.busy, false);
  assert.equal(state.busyPairs, 0);
  assert.ok(server.counters.get("chat_dropped", "malformed") > 0);
});

/** Malformed and oversize datagrams of many kinds. */
function badDatagram(i: number): Uint8Array {
  const text = (s: string): Uint8Array => new TextEncoder().encode(s);
  switch (i % 20) {
    case 0:
      return new Uint8Array(0);
    case 1:
      return crypto.getRandomValues(new Uint8Array(1 + (i % 200)));
    case 2:
      return text('{"Register":{"username":"x"'); // truncated
    case 3:
      return text('"Register"');
    case 4:
      return text('{"Nope":null}');
    case 5:
      return text('"Ping" trailing');
    case 6:
      return text('{"Register":{"username":7}}');
    case 7:
      return new Uint8Array([0x22, 0xff, 0xfe, 0x22]);
    case 8:
      return text('{"Connect":{"target_username":"\\ud800"}}');
    case 9:
      return new Uint8Array(1025 + (i % 400)).fill(0x20); // oversize
    case 10:
      return text("[".repeat(600));
    case 11:
      return text('{"PeerInfo":{"peer":"nowhere","username":"x"}}');
    case 12:
      return text('{"Register":{"username":"a","username":"b"}}');
    case 13:
      return text("null");
    case 14:
      return text('{"Ping":{}}');
    case 15:
      return text('{"Register":[]}');
    case 16:
      return text(`{"Register":{"username":"${"y".repeat(1100)}"}}`); // oversize
    case 17:
      return text("\u0000");
    case 18:
      return text("{}");
    default:
      return text('{"SessionFinished":[1]}');
  }
}

Deno.test("chat introducer: 10,000 malformed datagrams are dropped and counted, and it keeps serving", async () => {
  const started = Date.now();
  const state = new ChatState();
  await using server = await startIntroducer(state);
  const port = chatPort(server);
  await using alice = new RawPeer();
  await using bob = new RawPeer();
  await alice.expect(REGISTER("alice"), port, '"RegisterAck"');
  // Batches small enough for the kernel's receive buffer; a Ping/Pong after each proves the
  // introducer read the whole batch (one socket, processed in order).
  const total = 10_000;
  const batch = 50;
  for (let sent = 0; sent < total; sent += batch) {
    for (let i = sent; i < sent + batch; i++) await alice.send(badDatagram(i), port);
    await alice.expect('"Ping"', port, '"Pong"');
  }
  const malformed = server.counters.get("chat_dropped", "malformed");
  const oversize = server.counters.get("chat_dropped", "oversize");
  assert.equal(malformed + oversize, total);
  assert.equal(oversize, total / 10);
  assert.equal(alice.pending, 0, "no replies to garbage");
  // Still serving.
  await bob.expect(REGISTER("bob"), port, '"RegisterAck"');
  await bob.send(CONNECT("alice"), port);
  assert.equal(await bob.recv(), PEER_INFO(`127.0.0.1:${alice.port}`, "alice"));
  assert.equal(await alice.recv(), PEER_INFO(`127.0.0.1:${bob.port}`, "bob"));
  await bob.send('"SessionFinished"', port);
  await bob.expect('"Ping"', port, '"Pong"');
  assert.equal(state.busyPairs, 0);
  assert.ok(Date.now() - started < 30_000, `took ${Date.now() - started} ms`);
});

Deno.test("chat introducer: the rate limit drops and counts datagrams per client", async () => {
  const state = new ChatState();
  await using server = await startIntroducer(state, "127.0.0.1", 5);
  const port = chatPort(server);
  await using alice = new RawPeer();
  await alice.expect(REGISTER("alice"), port, '"RegisterAck"'); // 1
  for (let i = 0; i < 4; i++) await alice.expect('"Ping"', port, '"Pong"'); // 2..5
  for (let i = 0; i < 3; i++) await alice.send('"Ping"', port); // over the limit
  await waitUntil(() => server.counters.get("chat_dropped", "rate_limited") === 3);
  assert.equal(alice.pending, 0);
  // The limit is per client IP: another loopback socket shares it.
  await using bob = new RawPeer();
  await bob.send(REGISTER("bob"), port);
  await waitUntil(() => server.counters.get("chat_dropped", "rate_limited") === 4);
  assert.equal(state.registrations, 1);
});

Deno.test("chat introducer: IPv6 loopback, addresses as [v6]:port", async () => {
  const state = new ChatState();
  let server: PeerlinkServer;
  try {
    server = await startIntroducer(state, "::1");
  } catch (error) {
    console.log(`IPv6 loopback unavailable, skipped: ${error}`);
    return;
  }
  await using _server = server;
  const port = chatPort(server);
  await using alice = new RawPeer("::1");
  await using bob = new RawPeer("::1");
  await alice.expect(REGISTER("alice"), port, '"RegisterAck"', "::1");
  await bob.expect(REGISTER("bob"), port, '"RegisterAck"', "::1");
  await alice.send(CONNECT("bob"), port, "::1");
  assert.equal(await alice.recv(), PEER_INFO(`[::1]:${bob.port}`, "bob"));
  assert.equal(await bob.recv(), PEER_INFO(`[::1]:${alice.port}`, "alice"));
  await alice.send('"SessionFinished"', port, "::1");
  await alice.expect('"Ping"', port, '"Pong"', "::1");
  assert.equal(state.busyPairs, 0);
});

Deno.test("chat introducer: a dual-stack listener reports IPv4 peers as IPv4", async () => {
  const state = new ChatState();
  await using server = await startIntroducer(state, "::");
  const port = chatPort(server);
  await using v4 = new RawPeer("127.0.0.1");
  let v6: RawPeer | null = null;
  try {
    v6 = new RawPeer("::1");
  } catch { /* no IPv6: IPv4 only */ }
  try {
    await v4.expect(REGISTER("four"), port, '"RegisterAck"');
    if (v6 === null) return;
    await v6.expect(REGISTER("six"), port, '"RegisterAck"', "::1");
    await v6.send(CONNECT("four"), port, "::1");
    assert.equal(await v6.recv(), PEER_INFO(`127.0.0.1:${v4.port}`, "four"));
    assert.equal(await v4.recv(), PEER_INFO(`[::1]:${v6.port}`, "six"));
  } finally {
    await v6?.close();
  }
});
