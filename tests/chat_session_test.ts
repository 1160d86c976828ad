/**
 * The chat session library (`client/chat.ts`) over real UDP loopback, with a real introducer
 * (`server.ts`'s chat service, in process): plain and encrypted chats, long lines, keep-alive,
 * peer loss, goodbye, source validation, interop with a Peer-Punch peer played from the spec's
 * exact bytes (peer-punch.md §3.2, §3.4), and the encrypted format's vectors.
 */

import assert from "node:assert/strict";
import { createCipheriv } from "node:crypto";
import { hkdf } from "@noble/hashes/hkdf.js";
import { hmac } from "@noble/hashes/hmac.js";
import { sha256 } from "@noble/hashes/sha2.js";
import {
  ChatClosedError,
  ChatHandshakeError,
  ChatPunchError,
  type ChatSession,
  type ChatSessionEvent,
  type ChatSessionOptions,
  chatWith,
  openChat,
  startChatSession,
  waitForChat,
} from "../client/chat.ts";
import {
  ChatReassembler,
  checkChatText,
  encodeChatPlainParts,
  MAX_CHAT_TEXT_BYTES,
  readChatPart,
} from "../client/chat_parts.ts";
import { ChatCrypto, ChatReplayWindow } from "../client/chat_secure.ts";
import { createIntroducerClient, type IntroducerClient } from "../client/introducer.ts";
import {
  CHAT_REPLAY_WINDOW,
  chatSecureContext,
  type ChatSecureSealed,
  decodeChatSecureContent,
  decodeChatSecureInner,
  MAX_CHAT_SECURE_TEXT_BYTES,
} from "../protocol/chat_secure.ts";
import {
  decodePeerPunchMessage,
  MAX_PEER_PUNCH_CONTENT_BYTES,
  MAX_PEER_PUNCH_DATAGRAM_BYTES,
} from "../protocol/peer_punch.ts";
import type { UdpDatagram } from "../net/udp_endpoint.ts";
import { ChatState } from "../server/services/chat.ts";
import type { PeerlinkServer } from "../server/server.ts";
import { WrongCodeError } from "../secure/errors.ts";
import { RawPeer, waitUntil } from "./chat_raw_peer.ts";
import { aliceAndBob, nextIntroducerEvent, startIntroducer } from "./chat_helpers.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const FAST = { attempts: 3, attemptTimeoutMs: 200, keepAliveMs: 0 };

/** The next event that matches, skipping others; fails after `timeoutMs`. */
async function expectEvent(
  events: AsyncIterator<ChatSessionEvent>,
  match: (event: ChatSessionEvent) => boolean,
  what: string,
  timeoutMs = 5000,
): Promise<ChatSessionEvent> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const result = await Promise.race([
      events.next(),
      new Promise<"timeout">((r) => (timer = setTimeout(() => r("timeout"), until - Date.now()))),
    ]);
    clearTimeout(timer);
    if (result === "timeout") throw new Error(`Timed out waiting for ${what}`);
    if (result.done) throw new Error(`The events ended before ${what}`);
    if (match(result.value)) return result.value;
  }
}

const isMessage = (text: string) => (e: ChatSessionEvent): boolean =>
  e.type === "message" && e.text === text;

/** Two registered clients ("alice", "bob") at an in-process introducer, and their chat. */
interface Pair extends AsyncDisposable {
  state: ChatState;
  server: PeerlinkServer;
  alice: IntroducerClient;
  bob: IntroducerClient;
  a: ChatSession;
  b: ChatSession;
  aEvents: AsyncIterator<ChatSessionEvent>;
  bEvents: AsyncIterator<ChatSessionEvent>;
}

async function chatPair(
  options: ChatSessionOptions = {},
  bobOptions: ChatSessionOptions = options,
): Promise<Pair> {
  const state = new ChatState();
  const server = await startIntroducer(state);
  const introducer = server.listeners[0]!.addr;
  const alice = await createIntroducerClient({ introducer, ...FAST });
  const bob = await createIntroducerClient({ introducer, ...FAST });
  const cleanup = async (): Promise<void> => {
    await alice.close();
    await bob.close();
    await server.close();
  };
  try {
    await alice.register("alice");
    await bob.register("bob");
    const [a, b] = await Promise.all([
      chatWith(alice, "bob", options),
      waitForChat(bob, bobOptions),
    ]);
    return {
      state,
      server,
      alice,
      bob,
      a,
      b,
      aEvents: a[Symbol.asyncIterator](),
      bEvents: b[Symbol.asyncIterator](),
      async [Symbol.asyncDispose]() {
        await a.close();
        await b.close();
        await cleanup();
      },
    };
  } catch (error) {
    await cleanup();
    throw error;
  }
}

// --- plain chats ------------------------------------------------------------------------------

Deno.test("chat: two sessions connect by name and chat both ways; one-datagram lines are Peer-Punch bytes", async () => {
  await using pair = await chatPair();
  const { a, b } = pair;
  assert.equal(a.encrypted, false);
  assert.equal(a.peer.username, "bob");
  assert.equal(b.peer.username, "alice");
  assert.equal(a.peer.addr.port, pair.bob.endpoint.localAddr.port);
  assert.equal(b.peer.addr.port, pair.alice.endpoint.localAddr.port);
  assert.ok(a.stats.punchesSent >= 1);

  // Watch what bob's socket receives from alice, next to the session.
  const raw: string[] = [];
  using _tap = pair.bob.endpoint.subscribe(b.peer.addr, (d) => raw.push(decoder.decode(d.data)));
  await a.send("hello bob");
  assert.deepEqual(
    await expectEvent(pair.bEvents, (e) => e.type === "message", "bob's message"),
    { type: "message", from: "alice", text: "hello bob", incomplete: false },
  );
  assert.ok(raw.includes('{"DirectMessage":{"content":"hello bob"}}'));
  await b.send('hi alice ✓ "quoted" \\ tab\t');
  await expectEvent(pair.aEvents, isMessage('hi alice ✓ "quoted" \\ tab\t'), "alice's message");
  await a.send("");
  await expectEvent(pair.bEvents, isMessage(""), "an empty line");
  assert.equal(a.stats.messagesSent, 2);
  assert.equal(b.stats.messagesReceived, 2);
});

const LONG_LINES: [string, string][] = [
  ["ASCII", "x".repeat(5000)],
  ["two-byte characters across every boundary", "ü".repeat(3001)],
  ["emoji (4 bytes) and combining marks", "😀e\u0301".repeat(1500)],
  ["characters JSON escapes", '"\\\u0001\n'.repeat(1200)],
  ["the largest message", "€".repeat(MAX_CHAT_TEXT_BYTES / 3) + "a"],
  ["the most parts: control characters escaped to 6 bytes", "\u0001".repeat(MAX_CHAT_TEXT_BYTES)],
];

Deno.test("chat parts: long lines split into Peer-Punch datagrams on UTF-8 boundaries, joined exactly", () => {
  for (const [what, line] of LONG_LINES) {
    const datagrams = encodeChatPlainParts(line, 4_000_000_000);
    assert.ok(datagrams.length > 1, what);
    const joiner = new ChatReassembler();
    let joined: string | null = null;
    datagrams.forEach((datagram, i) => {
      assert.ok(datagram.length <= MAX_PEER_PUNCH_DATAGRAM_BYTES, `${what}: ${datagram.length}`);
      // A Peer-Punch peer decodes every part (serde ignores the extra field).
      const message = decodePeerPunchMessage(datagram);
      assert.equal(message.type, "DirectMessage");
      const content = (message as { content: string }).content;
      assert.ok(content.isWellFormed(), `${what}: part ${i} cut inside a character`);
      const part = readChatPart(datagram)!;
      assert.deepEqual(part, { id: 4_000_000_000, index: i, count: datagrams.length });
      joined = joiner.add(part, content, 0) ?? joined;
    });
    assert.equal(joined, line, what);
  }
  // One that fits is byte for byte Peer-Punch's.
  const fits = "y".repeat(MAX_PEER_PUNCH_CONTENT_BYTES);
  const [only, ...none] = encodeChatPlainParts(fits, 0);
  assert.equal(none.length, 0);
  assert.equal(decoder.decode(only), `{"DirectMessage":{"content":"${fits}"}}`);
  assert.equal(encodeChatPlainParts(fits + "y", 0).length, 2);
  assert.throws(() => checkChatText("x".repeat(MAX_CHAT_TEXT_BYTES + 1)), RangeError);
  assert.throws(() => checkChatText("\ud800"), TypeError);
});

Deno.test("chat parts: out of order, duplicates, and lost parts after the timeout", () => {
  const joiner = new ChatReassembler();
  assert.equal(joiner.add({ id: 1, index: 2, count: 3 }, "c", 0), null);
  assert.equal(joiner.add({ id: 1, index: 0, count: 3 }, "a", 0), null);
  assert.equal(joiner.add({ id: 1, index: 0, count: 3 }, "a", 0), null);
  assert.equal(joiner.add({ id: 1, index: 1, count: 3 }, "b", 0), "abc");
  assert.equal(joiner.add({ id: 1, index: 1, count: 3 }, "b", 0), null, "delivered once");
  joiner.add({ id: 2, index: 1, count: 3 }, "middle", 100);
  assert.deepEqual(joiner.expire(150, 100), []);
  assert.equal(joiner.nextExpiry(100), 200);
  assert.deepEqual(joiner.expire(200, 100), ["[…]middle[…]"]);
  assert.equal(joiner.pending, 0);
  // Too many half-received messages: the oldest are given up.
  for (let id = 10; id < 30; id++) joiner.add({ id, index: 0, count: 2 }, String(id), 0);
  assert.deepEqual(joiner.expire(0, 1000), ["10[…]", "11[…]", "12[…]", "13[…]"]);
});

Deno.test("chat: long lines are split and reassembled exactly between two sessions, plain and encrypted", async () => {
  for (const secret of [undefined, "long-lines-code"]) {
    await using pair = await chatPair({ secret });
    for (const [what, line] of LONG_LINES) {
      await pair.a.send(line);
      const got = await expectEvent(pair.bEvents, (e) => e.type === "message", what);
      assert.ok(got.type === "message" && got.text === line && !got.incomplete, `${what}`);
      await pair.b.send(line);
      await expectEvent(pair.aEvents, isMessage(line), `${what} back`);
    }
    await assert.rejects(pair.a.send("x".repeat(MAX_CHAT_TEXT_BYTES + 1)), RangeError);
  }
});

Deno.test("chat: Ping every interval, Pong answered, both sides see pongs", async () => {
  await using pair = await chatPair({ pingIntervalMs: 40, peerTimeoutMs: 2000 });
  for (const events of [pair.aEvents, pair.bEvents]) {
    for (let i = 0; i < 2; i++) {
      const pong = await expectEvent(events, (e) => e.type === "pong", "a pong");
      assert.ok(pong.type === "pong" && pong.rttMs >= 0 && pong.rttMs < 2000);
    }
  }
  assert.ok(pair.a.stats.pingsSent >= 2);
  assert.ok(pair.b.stats.pingsAnswered >= 2);
  assert.equal(pair.a.closed, false);
});

Deno.test("chat: the peer is reported lost when pongs stop; SessionFinished frees the introducer", async () => {
  await using pair = await chatPair({ pingIntervalMs: 30, peerTimeoutMs: 250 });
  await expectEvent(pair.aEvents, (e) => e.type === "pong", "a first pong");
  const released = nextIntroducerEvent(pair.state, (e) => e.kind === "released");
  // Bob vanishes without a word: his socket closes.
  await pair.bob.close();
  const started = Date.now();
  const lost = await expectEvent(pair.aEvents, (e) => e.type === "peer-lost", "peer lost", 3000);
  assert.ok(lost.type === "peer-lost" && lost.silentMs >= 250);
  assert.ok(Date.now() - started < 2000);
  assert.deepEqual(await pair.aEvents.next(), { value: undefined, done: true });
  assert.equal(pair.a.endReason, "peer-lost");
  await assert.rejects(pair.a.send("anyone?"), ChatClosedError);
  await released;
  assert.equal(pair.state.busyPairs, 0);
});

Deno.test("chat: close() sends Goodbye and SessionFinished; the peer's iteration ends", async () => {
  await using pair = await chatPair();
  const raw: string[] = [];
  using _tap = pair.bob.endpoint.subscribe(
    pair.b.peer.addr,
    (d) => raw.push(decoder.decode(d.data)),
  );
  const released = nextIntroducerEvent(pair.state, (e) => e.kind === "released");
  await pair.a.close();
  assert.equal(pair.a.endReason, "closed");
  assert.deepEqual(await expectEvent(pair.bEvents, () => true, "goodbye"), { type: "goodbye" });
  assert.deepEqual(await pair.bEvents.next(), { value: undefined, done: true });
  assert.equal(pair.b.endReason, "goodbye");
  assert.ok(raw.includes('"Goodbye"'));
  const event = await released;
  assert.ok(event.kind === "released" && event.reason === "session_finished");
  assert.equal(pair.state.busyPairs, 0);
  assert.equal(pair.alice.peer, null);
  await assert.rejects(pair.a.send("late"), ChatClosedError);
  await pair.a.close(); // idempotent
  // Both can be introduced again.
  const [again, answered] = await Promise.all([
    chatWith(pair.bob, "alice"),
    waitForChat(pair.alice),
  ]);
  await again.send("round two");
  await expectEvent(answered[Symbol.asyncIterator](), isMessage("round two"), "round two");
  await again.close();
  await answered.close();
});

Deno.test("chat: datagrams from any address but the peer's are ignored", async () => {
  await using pair = await chatPair();
  await using mallory = new RawPeer();
  const port = pair.alice.endpoint.localAddr.port;
  const before = pair.alice.endpoint.unclaimed;
  for (
    const forged of ['{"DirectMessage":{"content":"evil"}}', '"Goodbye"', '"Pong"', '"Ping"']
  ) await mallory.send(forged, port);
  await waitUntil(() => pair.alice.endpoint.unclaimed >= before + 4, 3000, "unclaimed datagrams");
  await pair.b.send("the real bob");
  const next = await expectEvent(pair.aEvents, () => true, "bob's line");
  assert.deepEqual(next, { type: "message", from: "bob", text: "the real bob", incomplete: false });
  assert.equal(pair.a.closed, false);
  assert.equal(mallory.pending, 0, "mallory's Ping was not answered");
});

Deno.test("chat: an incomplete split line is delivered with its lost parts marked", async () => {
  const state = new ChatState();
  await using server = await startIntroducer(state);
  const port = server.listeners[0]!.addr.port;
  await using bob = new RawPeer();
  await bob.expect('{"Register":{"username":"bob"}}', port, '"RegisterAck"');
  await using alice = await createIntroducerClient({
    introducer: server.listeners[0]!.addr,
    ...FAST,
  });
  await alice.register("alice");
  const opening = chatWith(alice, "bob", { partTimeoutMs: 100 });
  await bob.recv(); // PeerInfo
  const alicePort = alice.endpoint.localAddr.port;
  await bob.send('"Ping"', alicePort);
  await using a = await opening;
  const events = a[Symbol.asyncIterator]();
  await bob.send('{"DirectMessage":{"content":"first half ","peerlink_part":[3,0,2]}}', alicePort);
  const got = await expectEvent(events, (e) => e.type === "message", "the incomplete line");
  assert.deepEqual(got, { type: "message", from: "bob", text: "first half […]", incomplete: true });
});

// --- interop with Peer-Punch peers (the spec's exact bytes) -----------------------------------

Deno.test("chat interop: our session calls a Peer-Punch peer played from the spec's bytes", async () => {
  const state = new ChatState();
  await using server = await startIntroducer(state);
  const port = server.listeners[0]!.addr.port;
  await using bob = new RawPeer(); // a Peer-Punch peer
  await bob.expect('{"Register":{"username":"bob"}}', port, '"RegisterAck"');
  await using alice = await createIntroducerClient({
    introducer: server.listeners[0]!.addr,
    ...FAST,
  });
  await alice.register("alice");
  const alicePort = alice.endpoint.localAddr.port;

  const opening = chatWith(alice, "bob", { pingIntervalMs: 100, peerTimeoutMs: 5000 });
  // Peer-Punch: on PeerInfo, store the partner and send one "Punch!" (spec §3.4 step 4).
  assert.equal(
    await bob.recv(),
    `{"PeerInfo":{"peer":"127.0.0.1:${alicePort}","username":"alice"}}`,
  );
  await bob.send('{"DirectMessage":{"content":"Punch!"}}', alicePort);
  await using a = await opening;
  const events = a[Symbol.asyncIterator]();
  // The Punch! is a chat line, as Peer-Punch shows it.
  assert.deepEqual(await expectEvent(events, () => true, "Punch!"), {
    type: "message",
    from: "bob",
    text: "Punch!",
    incomplete: false,
  });

  // Our punch was Ping bursts, each exactly "Ping"; Peer-Punch answers "Pong" (step 6).
  const seen: string[] = [];
  const answerPings = async (until: (text: string) => boolean): Promise<string> => {
    for (;;) {
      const text = await bob.recv();
      seen.push(text);
      if (text === '"Ping"') await bob.send('"Pong"', alicePort);
      if (until(text)) return text;
    }
  };
  await a.send("hello bob");
  assert.equal(
    await answerPings((t) => t.startsWith('{"DirectMessage"')),
    '{"DirectMessage":{"content":"hello bob"}}',
  );
  assert.ok(seen.includes('"Ping"'));
  // Keep-alive pings come every 100 ms and our Pongs answer them.
  await answerPings(() => seen.filter((t) => t === '"Ping"').length >= 3);
  await expectEvent(events, (e) => e.type === "pong", "a pong from the Peer-Punch peer");

  // Bob pings us: we answer exactly "Pong".
  await bob.send('"Ping"', alicePort);
  assert.equal(await answerPings((t) => t === '"Pong"'), '"Pong"');

  // A long line reaches a Peer-Punch peer as several readable DirectMessages.
  const line = "ß".repeat(1200);
  await a.send(line);
  let received = "";
  while (received.length < line.length) {
    const text = await answerPings((t) => t.startsWith('{"DirectMessage"'));
    assert.ok(encoder.encode(text).length <= 1024);
    const message = decodePeerPunchMessage(encoder.encode(text));
    received += (message as { content: string }).content;
  }
  assert.equal(received, line);

  // Peer-Punch's chat lines arrive as they are, any content.
  await bob.send('{"DirectMessage":{"content":"hi \\"alice\\" 🎉"}}', alicePort);
  await expectEvent(events, isMessage('hi "alice" 🎉'), "bob's line");
  // Text that only looks like an encrypted record is a chat line like any other.
  await bob.send('{"DirectMessage":{"content":"peerlink-e2e: a funny way to start"}}', alicePort);
  await expectEvent(events, isMessage("peerlink-e2e: a funny way to start"), "the look-alike");

  // Bob's Ctrl-C: "Goodbye" to us, "SessionFinished" to the relay (step 9).
  const released = nextIntroducerEvent(state, (e) => e.kind === "released");
  await bob.send('"Goodbye"', alicePort);
  await bob.send('"SessionFinished"', port);
  assert.deepEqual(await expectEvent(events, (e) => e.type === "goodbye", "goodbye"), {
    type: "goodbye",
  });
  await released;
  assert.equal(state.busyPairs, 0);
});

Deno.test("chat interop: a Peer-Punch peer calls our waiting session; our Goodbye is exact", async () => {
  const state = new ChatState();
  await using server = await startIntroducer(state);
  const port = server.listeners[0]!.addr.port;
  await using alice = await createIntroducerClient({
    introducer: server.listeners[0]!.addr,
    ...FAST,
  });
  await alice.register("alice");
  await using bob = new RawPeer();
  await bob.expect('{"Register":{"username":"bob"}}', port, '"RegisterAck"');
  const alicePort = alice.endpoint.localAddr.port;
  const waiting = waitForChat(alice);
  await bob.send('{"Connect":{"target_username":"alice"}}', port);
  assert.equal(
    await bob.recv(),
    `{"PeerInfo":{"peer":"127.0.0.1:${alicePort}","username":"alice"}}`,
  );
  await bob.send('{"DirectMessage":{"content":"Punch!"}}', alicePort);
  const a = await waiting;
  assert.equal(a.peer.username, "bob");
  assert.equal(a.peer.addr.port, bob.port);
  await a.send("welcome");
  for (;;) {
    const text = await bob.recv();
    if (text === '"Ping"') continue; // punch bursts
    assert.equal(text, '{"DirectMessage":{"content":"welcome"}}');
    break;
  }
  const released = nextIntroducerEvent(state, (e) => e.kind === "released");
  await a.close();
  for (;;) {
    const text = await bob.recv();
    if (text === '"Ping"') continue;
    assert.equal(text, '"Goodbye"');
    break;
  }
  await released; // our SessionFinished reached the relay
});

Deno.test("chat: no answer from the peer is a ChatPunchError, and the introducer is told", async () => {
  const state = new ChatState();
  await using server = await startIntroducer(state);
  const port = server.listeners[0]!.addr.port;
  await using ghost = new RawPeer(); // registers, then never answers
  await ghost.expect('{"Register":{"username":"ghost"}}', port, '"RegisterAck"');
  await using alice = await createIntroducerClient({
    introducer: server.listeners[0]!.addr,
    ...FAST,
  });
  await alice.register("alice");
  const released = nextIntroducerEvent(state, (e) => e.kind === "released");
  const started = Date.now();
  const error = await chatWith(alice, "ghost", { punchTimeoutMs: 400 }).catch((e) => e);
  assert.ok(error instanceof ChatPunchError, String(error));
  assert.match(error.message, /No answer from ghost at 127\.0\.0\.1:\d+ after \d+ pings/);
  assert.ok(error.probes >= 8, `${error.probes} pings in 400 ms`);
  assert.ok(Date.now() - started < 2000);
  await released;
});

Deno.test("chat: signals abort waiting and close an open session", async () => {
  const state = new ChatState();
  await using server = await startIntroducer(state);
  await using alice = await createIntroducerClient({
    introducer: server.listeners[0]!.addr,
    ...FAST,
  });
  await alice.register("alice");
  const controller = new AbortController();
  const waiting = assert.rejects(waitForChat(alice, { signal: controller.signal }), /Not now/);
  controller.abort(new Error("Not now"));
  await waiting;

  await using bob = await createIntroducerClient({
    introducer: server.listeners[0]!.addr,
    ...FAST,
  });
  await bob.register("bob");
  const closing = new AbortController();
  const [a, b] = await Promise.all([
    chatWith(alice, "bob", { signal: closing.signal }),
    waitForChat(bob),
  ]);
  closing.abort();
  assert.deepEqual(await expectEvent(b[Symbol.asyncIterator](), () => true, "goodbye"), {
    type: "goodbye",
  });
  assert.equal(a.endReason, "closed");
  await b.close();
  await assert.rejects(
    chatWith(alice, "bob", { pingIntervalMs: 100, peerTimeoutMs: 50 }),
    RangeError,
  );
});

Deno.test("openChat: one call registers, calls or waits, and the session owns its client", async () => {
  const state = new ChatState();
  await using server = await startIntroducer(state);
  const introducer = server.listeners[0]!.addr;
  const bobOpening = openChat({ introducer, name: "bob", ...FAST });
  await waitUntil(() => state.lookup("bob") !== null, 3000, "bob's registration");
  const a = await openChat({ introducer, name: "alice", to: "bob", ...FAST });
  const b = await bobOpening;
  await b.send("hi");
  await expectEvent(a[Symbol.asyncIterator](), isMessage("hi"), "hi");
  await a.close();
  await expectEvent(b[Symbol.asyncIterator](), (e) => e.type === "goodbye", "goodbye");
  await b.close();
});

// --- encrypted chats ----------------------------------------------------------------------------

Deno.test("chat --secret: encrypted both ways; nothing readable on the wire", async () => {
  await using pair = await chatPair({ secret: "7-crossover-clockwork", pingIntervalMs: 50 });
  assert.ok(pair.a.encrypted && pair.b.encrypted);
  const wire: UdpDatagram[] = [];
  using _tap = pair.bob.endpoint.subscribe(pair.b.peer.addr, (d) => wire.push(d));
  await pair.a.send("the eagle lands at noon");
  await expectEvent(pair.bEvents, isMessage("the eagle lands at noon"), "the secret line");
  await pair.b.send("understood ✓");
  await expectEvent(pair.aEvents, isMessage("understood ✓"), "the answer");
  await expectEvent(pair.aEvents, (e) => e.type === "pong", "a sealed pong");
  await expectEvent(pair.bEvents, (e) => e.type === "pong", "a sealed pong");
  const texts = wire.map((d) => decoder.decode(d.data));
  assert.ok(texts.length > 0);
  for (const text of texts) {
    assert.ok(!text.includes("eagle"), text);
    assert.ok(
      text === '"Ping"' || text === '"Pong"' ||
        text.startsWith('{"DirectMessage":{"content":"peerlink-e2e:'),
      text,
    );
  }
  // Plain Goodbye from the peer's address is not believed in an encrypted chat...
  const ignored = pair.a.stats.ignored;
  await pair.bob.endpoint.send(encoder.encode('"Goodbye"'), pair.b.peer.addr);
  await waitUntil(() => pair.a.stats.ignored > ignored, 3000, "the plain Goodbye to be ignored");
  assert.equal(pair.a.closed, false);
  // ...the sealed one is.
  await pair.b.close();
  assert.deepEqual(await expectEvent(pair.aEvents, (e) => e.type === "goodbye", "goodbye"), {
    type: "goodbye",
  });
});

Deno.test("chat --secret: a wrong code fails clearly on both sides", async () => {
  await using users = await aliceAndBob(FAST);
  const { state, alice, bob } = users;
  const released = nextIntroducerEvent(state, (e) => e.kind === "released");
  const [a, b] = await Promise.allSettled([
    chatWith(alice, "bob", { secret: "4-apple" }),
    waitForChat(bob, { secret: "4-orange" }),
  ]);
  for (const result of [a, b]) {
    assert.equal(result.status, "rejected");
    assert.ok(result.reason instanceof WrongCodeError, String(result.reason));
    assert.match(result.reason.message, /Wrong code/);
  }
  await released;
  assert.equal(state.busyPairs, 0);
});

Deno.test("chat --secret: a plain peer is refused; the plain side learns why", async () => {
  await using users = await aliceAndBob(FAST);
  const { alice, bob } = users;
  const [a, b] = await Promise.allSettled([
    chatWith(alice, "bob", { secret: "4-apple" }),
    waitForChat(bob),
  ]);
  assert.equal(a.status, "rejected");
  assert.ok(a.reason instanceof ChatHandshakeError, String(a.reason));
  assert.match(a.reason.message, /bob/);
  assert.equal(b.status, "fulfilled");
  const plain = b.value;
  assert.deepEqual(
    await expectEvent(plain[Symbol.asyncIterator](), () => true, "the mismatch"),
    { type: "secret-mismatch" },
  );
  assert.equal(plain.endReason, "secret-mismatch");
});

Deno.test("chat --secret: a Peer-Punch peer cannot pass for an encrypted one", async () => {
  const state = new ChatState();
  await using server = await startIntroducer(state);
  const port = server.listeners[0]!.addr.port;
  await using bob = new RawPeer();
  await bob.expect('{"Register":{"username":"bob"}}', port, '"RegisterAck"');
  await using alice = await createIntroducerClient({
    introducer: server.listeners[0]!.addr,
    ...FAST,
  });
  await alice.register("alice");
  const opening = chatWith(alice, "bob", { secret: "code" });
  await bob.recv(); // PeerInfo
  await bob.send('{"DirectMessage":{"content":"Punch!"}}', alice.endpoint.localAddr.port);
  const error = await opening.catch((e) => e);
  assert.ok(error instanceof ChatHandshakeError);
  assert.match(error.message, /without encryption/);
});

// --- the encrypted format ---------------------------------------------------------------------

interface Vectors {
  secret: string;
  nameA: string;
  nameB: string;
  context: string;
  alice: { scalar: string; hello: string; role: "A" | "B"; confirm: string };
  bob: { scalar: string; hello: string; role: "A" | "B"; confirm: string };
  spakeKey: string;
  records: {
    from: "alice" | "bob";
    inner: Record<string, unknown>;
    counter: number;
    content: string;
  }[];
}

const VECTORS: Vectors = JSON.parse(
  await Deno.readTextFile(new URL("../testdata/chat_secure_vectors.json", import.meta.url)),
);

Deno.test("chat secure format: peerlink reproduces the vectors", () => {
  const v = VECTORS;
  const alice = new ChatCrypto(v.secret, v.nameA, v.nameB, {
    scalar: Uint8Array.fromHex(v.alice.scalar),
  });
  const bob = new ChatCrypto(v.secret, v.nameB, v.nameA, {
    scalar: Uint8Array.fromHex(v.bob.scalar),
  });
  assert.equal(alice.helloContent, v.alice.hello);
  assert.equal(bob.helloContent, v.bob.hello);
  const spake = (content: string): Uint8Array =>
    (decodeChatSecureContent(content) as { spake: Uint8Array }).spake;
  assert.equal(alice.receiveHello(spake(v.bob.hello)), v.alice.confirm);
  assert.equal(bob.receiveHello(spake(v.alice.hello)), v.bob.confirm);
  assert.equal(alice.role, v.alice.role);
  assert.equal(bob.role, v.bob.role);
  const mac = (content: string): Uint8Array =>
    (decodeChatSecureContent(content) as { mac: Uint8Array }).mac;
  assert.ok(alice.receiveConfirm(mac(v.bob.confirm)));
  assert.ok(bob.receiveConfirm(mac(v.alice.confirm)));
  for (const record of v.records) {
    const [sender, receiver] = record.from === "alice" ? [alice, bob] : [bob, alice];
    const inner = record.inner.type === "text"
      ? { ...record.inner, text: encoder.encode(record.inner.text as string) }
      : record.inner;
    const sealed = sender.seal(inner as unknown as Parameters<ChatCrypto["seal"]>[0]);
    assert.equal(sealed.counter, record.counter);
    assert.equal(sealed.content, record.content);
    const opened = receiver.open(decodeChatSecureContent(record.content) as ChatSecureSealed);
    assert.deepEqual(opened, inner);
  }
});

Deno.test("chat secure format: the vectors follow the documented key schedule and record layout", () => {
  const v = VECTORS;
  const label = (s: string): Uint8Array => encoder.encode(s);
  const concat = (...parts: Uint8Array[]): Uint8Array => {
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let offset = 0;
    for (const p of parts) {
      out.set(p, offset);
      offset += p.length;
    }
    return out;
  };
  const u = (bits: 16 | 32, n: number): Uint8Array => {
    const out = new Uint8Array(bits / 8);
    const view = new DataView(out.buffer);
    if (bits === 16) view.setUint16(0, n);
    else view.setUint32(0, n);
    return out;
  };
  // context = "peerlink chat/1" 0x00 u16 len "alice" u16 len "bob"
  const context = concat(
    label("peerlink chat/1"),
    new Uint8Array([0]),
    u(16, 5),
    label("alice"),
    u(16, 3),
    label("bob"),
  );
  assert.equal(context.toHex(), v.context);
  assert.equal(chatSecureContext("bob", "alice").toHex(), v.context);
  // hello = base64 of 01 01 ‖ SPAKE2 message; A is the smaller record.
  const record = (content: string): Uint8Array => {
    assert.ok(content.startsWith("peerlink-e2e:"));
    return Uint8Array.fromBase64(content.slice("peerlink-e2e:".length));
  };
  const helloAlice = record(v.alice.hello), helloBob = record(v.bob.hello);
  for (const hello of [helloAlice, helloBob]) {
    assert.equal(hello.length, 35);
    assert.deepEqual([...hello.subarray(0, 3)], [1, 1, 0x53]);
  }
  const aliceIsA = helloAlice.toHex() < helloBob.toHex();
  assert.equal(v.alice.role, aliceIsA ? "A" : "B");
  const [helloA, helloB] = aliceIsA ? [helloAlice, helloBob] : [helloBob, helloAlice];
  const transcript = sha256(
    concat(label("peerlink/1 transcript"), u(32, context.length), context, helloA, helloB),
  );
  const k = Uint8Array.fromHex(v.spakeKey);
  const key = (name: string): Uint8Array =>
    hkdf(sha256, k, transcript, label(`peerlink/1 ${name}`), 32);
  const [confirmAlice, confirmBob] = aliceIsA
    ? [key("confirm A"), key("confirm B")]
    : [key("confirm B"), key("confirm A")];
  const confirm = (content: string): Uint8Array => record(content);
  assert.deepEqual(
    confirm(v.alice.confirm),
    concat(new Uint8Array([1, 2]), hmac(sha256, confirmAlice, transcript)),
  );
  assert.deepEqual(
    confirm(v.bob.confirm),
    concat(new Uint8Array([1, 2]), hmac(sha256, confirmBob, transcript)),
  );
  const dataKey = (from: "alice" | "bob"): Uint8Array =>
    (from === "alice") === aliceIsA ? key("data A to B") : key("data B to A");
  const innerBytes = (inner: Record<string, unknown>): Uint8Array => {
    switch (inner.type) {
      case "text":
        return concat(
          new Uint8Array([1]),
          u(32, inner.id as number),
          u(16, inner.index as number),
          u(16, inner.count as number),
          label(inner.text as string),
        );
      case "ping":
        return new Uint8Array([2]);
      case "pong":
        return concat(new Uint8Array([3]), new Uint8Array(4), u(32, inner.counter as number));
      default:
        return new Uint8Array([4]);
    }
  };
  for (const r of v.records) {
    // record = 01 03 ‖ u64 counter ‖ u32 len ‖ ChaCha20-Poly1305(nonce = 0^4 ‖ u64 counter, aad = len)
    const plaintext = innerBytes(r.inner);
    const counter = concat(new Uint8Array(4), u(32, r.counter));
    const header = u(32, plaintext.length + 16);
    const cipher = createCipheriv(
      "chacha20-poly1305",
      dataKey(r.from),
      concat(new Uint8Array(4), counter),
      {
        authTagLength: 16,
      },
    );
    cipher.setAAD(header, { plaintextLength: plaintext.length });
    const body = concat(cipher.update(plaintext), cipher.final(), cipher.getAuthTag());
    assert.deepEqual(
      record(r.content),
      concat(new Uint8Array([1, 3]), counter, header, body),
      JSON.stringify(r.inner),
    );
    assert.deepEqual(
      decodeChatSecureInner(innerBytes(r.inner)).type,
      r.inner.type,
    );
  }
});

Deno.test("chat secure: replayed, reflected, tampered and foreign records are refused", () => {
  const alice = new ChatCrypto("code", "alice", "bob");
  const bob = new ChatCrypto("code", "bob", "alice");
  const eve = new ChatCrypto("other", "bob", "alice");
  const spake = (c: ChatCrypto): Uint8Array =>
    (decodeChatSecureContent(c.helloContent) as { spake: Uint8Array }).spake;
  alice.receiveHello(spake(bob));
  bob.receiveHello(spake(alice));
  eve.receiveHello(spake(alice));
  const sealed = (content: string): ChatSecureSealed =>
    decodeChatSecureContent(content) as ChatSecureSealed;
  const first = sealed(alice.seal({ type: "ping" }).content);
  const second = sealed(alice.seal({ type: "goodbye" }).content);
  // Out of order is fine, each once.
  assert.equal(bob.open(second)?.type, "goodbye");
  assert.equal(bob.open(first)?.type, "ping");
  assert.equal(bob.open(first), null, "replay");
  // Reflected back at its sender: alice cannot open her own direction's key.
  assert.equal(alice.open(first), null);
  // A flipped bit, a changed counter.
  const third = sealed(alice.seal({ type: "ping" }).content);
  const flipped = { ...third, chunk: third.chunk.slice() };
  flipped.chunk[6]! ^= 1;
  assert.equal(bob.open(flipped), null);
  assert.equal(bob.open({ ...third, counter: 99 }), null);
  assert.equal(bob.open(third)?.type, "ping");
  // Someone with another code.
  assert.equal(bob.open(sealed(eve.seal({ type: "ping" }).content)), null);
  assert.throws(
    () =>
      alice.receiveConfirm(
        (decodeChatSecureContent(eve.confirmContent!) as { mac: Uint8Array }).mac,
      ),
    WrongCodeError,
  );
  // Reflecting our own HELLO is refused by SPAKE2's strict checks.
  assert.throws(() => new ChatCrypto("code", "a", "b").receiveHello(new Uint8Array(33)));

  const window = new ChatReplayWindow();
  window.mark(CHAT_REPLAY_WINDOW * 3);
  assert.ok(!window.check(CHAT_REPLAY_WINDOW * 2), "too old");
  assert.ok(window.check(CHAT_REPLAY_WINDOW * 2 + 1));
  assert.ok(!window.check(CHAT_REPLAY_WINDOW * 3));
});

Deno.test("chat secure format: every sealed part fits a Peer-Punch datagram", () => {
  const alice = new ChatCrypto("code", "alice", "bob");
  const bob = new ChatCrypto("code", "bob", "alice");
  alice.receiveHello((decodeChatSecureContent(bob.helloContent) as { spake: Uint8Array }).spake);
  const { content } = alice.seal({
    type: "text",
    id: 0xffff_ffff,
    index: 0,
    count: 1,
    text: new Uint8Array(MAX_CHAT_SECURE_TEXT_BYTES).fill(0x41),
  });
  assert.ok(content.length <= MAX_PEER_PUNCH_CONTENT_BYTES, `${content.length}`);
  assert.throws(() =>
    alice.seal({
      type: "text",
      id: 0,
      index: 0,
      count: 1,
      text: new Uint8Array(MAX_CHAT_SECURE_TEXT_BYTES + 1),
    })
  );
  assert.equal(decodeChatSecureContent("Punch!"), null);
  for (
    const bad of ["peerlink-e2e:", "peerlink-e2e:AQ", "peerlink-e2e:AgE=", "peerlink-e2e:AQE = "]
  ) {
    assert.throws(() => decodeChatSecureContent(bad), bad);
  }
});

Deno.test("startChatSession: options are checked before anything is sent", async () => {
  await using client = await createIntroducerClient({ introducer: "127.0.0.1:9", ...FAST });
  const peer = { username: "bob", addr: { family: "v4", ip: "127.0.0.1", port: 9 } } as const;
  await assert.rejects(startChatSession(client, peer, { pingIntervalMs: 0 }), RangeError);
  await assert.rejects(startChatSession(client, peer, { secret: "" }), RangeError);
  await assert.rejects(startChatSession(client, peer, { secret: "x" }), /register\(\)/);
});
