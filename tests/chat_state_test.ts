/** The introducer's state machine alone, on a fake clock. */

import assert from "node:assert/strict";
import { type ChatEvent, ChatState } from "../server/services/chat_state.ts";
import type { PeerPunchMessage } from "../protocol/peer_punch.ts";
import type { SocketAddr } from "../protocol/socket_addr.ts";

const A: SocketAddr = { family: "v4", ip: "192.0.2.1", port: 1000 };
const B: SocketAddr = { family: "v6", ip: "2001:db8::2", port: 2000, scopeId: 0 };
const C: SocketAddr = { family: "v4", ip: "198.51.100.3", port: 3000 };

function setup(
  options: { idleTimeoutMs?: number; busyTimeoutMs?: number; maxUsers?: number } = {},
) {
  const clock = { t: 0 };
  const state = new ChatState({ ...options, now: () => clock.t });
  const events: ChatEvent[] = [];
  state.subscribe((e) => events.push(e));
  const send = (from: SocketAddr, message: PeerPunchMessage) =>
    state.handle(from, message).map((r) => ({
      to: r.to.port,
      type: r.message.type,
      ...(r.message.type === "PeerInfo"
        ? { peer: r.message.peer.port, name: r.message.username }
        : {}),
    }));
  const register = (from: SocketAddr, username: string) =>
    send(from, { type: "Register", username });
  const connect = (from: SocketAddr, target: string) =>
    send(from, { type: "Connect", targetUsername: target });
  return { clock, state, events, send, register, connect };
}

Deno.test("ChatState: a pairing follows Peer-Punch's order, and both sides are busy", () => {
  const { state, register, connect } = setup();
  assert.deepEqual(register(A, "alice"), [{ to: 1000, type: "RegisterAck" }]);
  assert.deepEqual(register(B, "bob"), [{ to: 2000, type: "RegisterAck" }]);
  assert.deepEqual(connect(A, "bob"), [
    { to: 1000, type: "PeerInfo", peer: 2000, name: "bob" },
    { to: 2000, type: "PeerInfo", peer: 1000, name: "alice" },
  ]);
  assert.equal(state.lookup("alice")?.busy, true);
  assert.equal(state.lookup("bob")?.busy, true);
  assert.equal(state.busyPairs, 1);
});

Deno.test("ChatState: refusals within the wire format", () => {
  const { register, connect, send, events } = setup();
  assert.deepEqual(connect(A, "bob"), [{ to: 1000, type: "TargetNotFound" }]); // not registered
  register(A, "alice");
  assert.deepEqual(connect(A, "bob"), [{ to: 1000, type: "TargetNotFound" }]); // no such user
  assert.deepEqual(connect(A, "alice"), [{ to: 1000, type: "TargetNotFound" }]); // self
  register(B, "bob");
  register(C, "carol");
  connect(A, "bob");
  assert.deepEqual(connect(C, "bob"), [{ to: 3000, type: "TargetBusy" }]); // target busy
  assert.deepEqual(connect(A, "carol"), [{ to: 1000, type: "TargetBusy" }]); // requester busy
  assert.deepEqual(connect(B, "alice"), [{
    to: 2000,
    type: "PeerInfo",
    peer: 1000,
    name: "alice",
  }]);
  assert.deepEqual(send(C, { type: "Ping" }), [{ to: 3000, type: "Pong" }]);
  assert.deepEqual(send({ ...C, port: 9 }, { type: "Ping" }), []); // unregistered: no Pong
  for (const type of ["RegisterAck", "TargetBusy", "Pong", "Goodbye"] as const) {
    assert.deepEqual(send(C, { type }), []);
  }
  const reasons = events.flatMap((e) => e.kind === "connect_refused" ? [e.reason] : []);
  assert.deepEqual(reasons, [
    "not_registered",
    "not_found",
    "self",
    "target_busy",
    "requester_busy",
  ]);
});

Deno.test("ChatState: SessionFinished from either side frees both; idempotent", () => {
  const { state, register, connect, send, events } = setup();
  register(A, "alice");
  register(B, "bob");
  connect(A, "bob");
  assert.deepEqual(send(B, { type: "SessionFinished" }), []);
  assert.equal(state.busyPairs, 0);
  assert.equal(state.lookup("alice")?.busy, false);
  send(A, { type: "SessionFinished" });
  assert.equal(events.filter((e) => e.kind === "released").length, 1);
});

Deno.test("ChatState: names are unique; a retry is idempotent; renaming frees the old name and the pair", () => {
  const { state, register, connect, events } = setup();
  register(A, "alice");
  assert.deepEqual(register(B, "alice"), []);
  assert.deepEqual(register(A, "alice"), [{ to: 1000, type: "RegisterAck" }]);
  assert.equal(events.filter((e) => e.kind === "registered").length, 1);
  register(B, "bob");
  connect(A, "bob");
  assert.deepEqual(register(A, "alicia"), [{ to: 1000, type: "RegisterAck" }]);
  assert.equal(state.busyPairs, 0);
  assert.equal(state.lookup("alice"), null);
  assert.deepEqual(register(C, "alice"), [{ to: 3000, type: "RegisterAck" }]);
  const released = events.find((e) => e.kind === "released");
  assert.ok(released?.kind === "released" && released.reason === "renamed");
  // An IPv4-mapped address is the same client as its IPv4 form.
  assert.deepEqual(
    register({ family: "v6", ip: "::ffff:192.0.2.1", port: 1000, scopeId: 0 }, "alicia"),
    [{ to: 1000, type: "RegisterAck" }],
  );
  assert.equal(state.registrations, 3);
});

Deno.test("ChatState: registrations expire when idle; any datagram refreshes", () => {
  const { clock, state, register, events } = setup({ idleTimeoutMs: 100 });
  register(A, "alice");
  clock.t = 50;
  register(B, "bob");
  assert.equal(state.nextDeadline(), 100);
  clock.t = 90;
  state.touch(A); // e.g. a malformed datagram from alice
  assert.equal(state.nextDeadline(), 150);
  clock.t = 150;
  state.expire();
  assert.equal(state.lookup("bob"), null);
  assert.notEqual(state.lookup("alice"), null);
  clock.t = 190;
  state.expire();
  assert.equal(state.registrations, 0);
  assert.equal(state.nextDeadline(), null);
  assert.deepEqual(
    events.filter((e) => e.kind === "expired").map((e) => e.kind === "expired" && e.user.username),
    ["bob", "alice"],
  );
});

Deno.test("ChatState: an expired registration is free before the next request is handled", () => {
  const { clock, register } = setup({ idleTimeoutMs: 100 });
  register(A, "alice");
  clock.t = 100; // no timer ran
  assert.deepEqual(register(B, "alice"), [{ to: 2000, type: "RegisterAck" }]);
});

Deno.test("ChatState: busy pairs time out; a partner's expiry frees the other", () => {
  const { clock, state, register, connect, events } = setup({
    idleTimeoutMs: 1000,
    busyTimeoutMs: 100,
  });
  register(A, "alice");
  register(B, "bob");
  connect(A, "bob");
  assert.equal(state.nextDeadline(), 100);
  clock.t = 100;
  state.expire();
  assert.equal(state.busyPairs, 0);
  connect(B, "alice");
  clock.t = 1000;
  state.touch(B);
  clock.t = 1050; // alice (last seen at 0) expired; the pair (deadline 200) too, but alice first
  state.expire();
  assert.equal(state.lookup("bob")?.busy, false);
  const reasons = events.flatMap((e) => e.kind === "released" ? [e.reason] : []);
  assert.deepEqual(reasons, ["busy_timeout", "expired"]);
  assert.equal(state.busyPairs, 0);
  assert.equal(state.registrations, 1);
});

Deno.test("ChatState: the user limit and invalid names", () => {
  const { state, register, events } = setup({ maxUsers: 2 });
  register(A, "a");
  register(B, "b");
  assert.deepEqual(register(C, "c"), []);
  assert.deepEqual(register(C, "bad name"), []);
  const reasons = events.flatMap((e) => e.kind === "register_refused" ? [e.reason] : []);
  assert.deepEqual(reasons, ["full", "name_invalid"]);
  assert.equal(state.registrations, 2);
  state.clear();
  assert.equal(state.registrations, 0);
});

Deno.test("ChatState: bad options raise RangeError naming the value", () => {
  assert.throws(() => new ChatState({ idleTimeoutMs: 0 }), /idleTimeoutMs is 0/);
  assert.throws(() => new ChatState({ busyTimeoutMs: -1 }), RangeError);
  assert.throws(() => new ChatState({ maxUsers: 1.5 }), /maxUsers is 1.5/);
});
