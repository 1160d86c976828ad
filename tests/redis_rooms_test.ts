/**
 * One case suite for every RoomStore: MemoryRoomStore (both "processes" are the same store) and
 * RedisRoomStore (two stores on two connections, as two server processes). Then Redis-only
 * cases: Redis going away and coming back.
 */

import assert from "node:assert/strict";
import { MemoryRoomStore, type RoomEvent, type RoomStore } from "../server/rooms.ts";
import { RedisRoomStore } from "../server/redis/rooms.ts";
import { StateUnavailableError } from "../server/state_errors.ts";
import type { SocketAddr } from "../server/mod.ts";
import {
  eventually,
  type RedisServer,
  skipWithoutRedis,
  startRedisServer,
  testConnection,
} from "./redis_helpers.ts";
import type { RedisConnection } from "../server/redis/connection.ts";

const v4 = (ip: string, port: number): SocketAddr => ({ family: "v4", ip, port });

interface Pair extends AsyncDisposable {
  /** "Process" 1. */
  a: RoomStore;
  /** "Process" 2 (the same store in memory). */
  b: RoomStore;
  events: RoomEvent[];
}

type Make = (options: { ttlMs?: number; maxRooms?: number }) => Promise<Pair>;

function suite(name: string, make: Make, ignore = false): void {
  const test = (title: string, fn: () => Promise<void>): void =>
    Deno.test({ name: `${name}: ${title}`, ignore, fn });

  test("a room created on one side is exchanged on the other", async () => {
    await using p = await make({});
    assert.equal(await p.a.create(7n, 1), "created");
    assert.equal(await p.b.has(7n), true);
    assert.equal(
      await p.a.sendAddr(7n, "creator", 1, v4("192.0.2.1", 1000), v4("10.0.0.1", 1)),
      true,
    );
    assert.equal(await p.b.sendAddr(7n, "joiner", 2, v4("192.0.2.2", 2000), null), true);
    const c = await p.a.done(7n, "creator", 1);
    assert.ok(c);
    assert.equal(c.own.public.v4?.port, 1000);
    assert.equal(c.own.private.v4?.ip, "10.0.0.1");
    const j = await p.b.done(7n, "joiner", 2);
    assert.ok(j);
    assert.deepEqual(j.settled, { ok: true, contact: c.own });
    const outcome = await c.peer;
    assert.ok(outcome.ok);
    assert.equal(outcome.contact.public.v4?.port, 2000);
    assert.equal(outcome.contact.private.v4, null);
    assert.equal(await p.a.has(7n), false);
    await eventually(() => p.events.some((e) => e.kind === "exchanged"), 2000, "exchanged");
  });

  test("two sides creating the same code at once: one wins", async () => {
    await using p = await make({});
    const results = await Promise.all([p.a.create(9n, 1), p.b.create(9n, 2)]);
    assert.deepEqual(results.sort(), ["created", "taken"]);
    assert.equal(await p.b.create(9n, 3), "taken");
  });

  test("both sides finishing at once pair exactly once", async () => {
    await using p = await make({});
    for (let i = 0; i < 10; i++) {
      const code = 100n + BigInt(i);
      await p.a.create(code, 10 + i);
      await p.a.sendAddr(code, "creator", 10 + i, v4("192.0.2.1", 1000 + i), null);
      await p.b.sendAddr(code, "joiner", 50 + i, v4("192.0.2.2", 2000 + i), null);
      const [c, j] = await Promise.all([
        p.a.done(code, "creator", 10 + i),
        p.b.done(code, "joiner", 50 + i),
      ]);
      const [oc, oj] = await Promise.all([c!.peer, j!.peer]);
      assert.ok(oc.ok && oj.ok, `round ${i}`);
      assert.equal(oc.contact.public.v4?.port, 2000 + i);
      assert.equal(oj.contact.public.v4?.port, 1000 + i);
    }
  });

  test("the waiter hears at once when the peer's last connection closes", async () => {
    await using p = await make({});
    await p.a.create(11n, 1);
    await p.b.sendAddr(11n, "joiner", 2, v4("192.0.2.2", 2), null);
    const waiting = await p.b.done(11n, "joiner", 2);
    p.a.release(1);
    assert.deepEqual(await waiting!.peer, { ok: false, reason: "peer-left" });
    assert.equal(await p.a.has(11n), false);
  });

  test("the same role finishing again replaces the earlier wait", async () => {
    await using p = await make({});
    await p.a.create(12n, 1);
    const first = await p.a.done(12n, "creator", 1);
    const second = await p.b.done(12n, "creator", 3);
    assert.deepEqual(await first!.peer, { ok: false, reason: "replaced" });
    await p.b.sendAddr(12n, "joiner", 4, v4("192.0.2.4", 4), null);
    const joiner = await p.b.done(12n, "joiner", 4);
    assert.ok((await second!.peer).ok);
    assert.ok((await joiner!.peer).ok);
  });

  test("an expired room is not resurrected by a late write", async () => {
    await using p = await make({ ttlMs: 150 });
    await p.a.create(13n, 1);
    const waiting = await p.a.done(13n, "creator", 1);
    assert.deepEqual(await waiting!.peer, { ok: false, reason: "expired" });
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(await p.b.has(13n), false);
    assert.equal(await p.b.sendAddr(13n, "joiner", 2, v4("192.0.2.2", 2), null), false);
    assert.equal(await p.b.done(13n, "joiner", 2), null);
    assert.equal(await p.b.has(13n), false);
    await eventually(() => p.events.some((e) => e.kind === "expired"), 2000, "expired event");
    // The code is free again, with a full lifetime.
    assert.equal(await p.b.create(13n, 5), "created");
  });

  test("rooms are bounded across both sides", async () => {
    await using p = await make({ maxRooms: 2 });
    assert.equal(await p.a.create(1n, 1), "created");
    assert.equal(await p.b.create(2n, 2), "created");
    assert.equal(await p.a.create(3n, 3), "full");
    assert.equal(await p.b.create(4n, 4), "full");
  });

  test("unknown rooms are answered as such", async () => {
    await using p = await make({});
    assert.equal(await p.a.has(99n), false);
    assert.equal(await p.a.sendAddr(99n, "creator", 1, v4("192.0.2.1", 1), null), false);
    assert.equal(await p.b.done(99n, "joiner", 2), null);
  });
}

suite("MemoryRoomStore", ({ ttlMs, maxRooms }) => {
  const events: RoomEvent[] = [];
  const store = new MemoryRoomStore({ ttlMs, maxRooms, onEvent: (e) => events.push(e) });
  return Promise.resolve({
    a: store,
    b: store,
    events,
    [Symbol.asyncDispose]: () => Promise.resolve(store.close()),
  });
});

const ignore = skipWithoutRedis();

async function redisPair(
  server: RedisServer,
  options: { ttlMs?: number; maxRooms?: number },
  own: boolean,
): Promise<Pair & { connections: RedisConnection[] }> {
  const events: RoomEvent[] = [];
  const ca = await testConnection(server);
  const cb = await testConnection(server);
  const a = new RedisRoomStore({ redis: ca, ...options, onEvent: (e) => events.push(e) });
  const b = new RedisRoomStore({ redis: cb, ...options, onEvent: (e) => events.push(e) });
  return {
    a,
    b,
    events,
    connections: [ca, cb],
    [Symbol.asyncDispose]: async () => {
      a.close();
      b.close();
      await Promise.all([ca.close(), cb.close()]);
      if (own) await server.stop();
    },
  };
}

suite(
  "RedisRoomStore",
  async (options) => await redisPair(await startRedisServer(), options, true),
  ignore,
);

Deno.test({
  name: "RedisRoomStore answers StateUnavailableError while Redis is down, then resumes",
  ignore,
  async fn() {
    await using server = await startRedisServer();
    await using p = await redisPair(server, {}, false);
    await p.a.create(1n, 1);
    const waiting = await p.a.done(1n, "creator", 1);
    await server.stop();
    assert.deepEqual(await waiting!.peer, { ok: false, reason: "unavailable" });
    await assert.rejects(() => p.b.create(2n, 2), StateUnavailableError);
    await assert.rejects(() => p.b.has(2n), StateUnavailableError);
    p.a.release(1); // must not throw while Redis is down
    await server.start();
    await Promise.all(p.connections.map((c) => c.waitReady(AbortSignal.timeout(5000))));
    // Redis came back empty: the old room is gone and a new exchange works across processes.
    assert.equal(await p.b.has(1n), false);
    assert.equal(await p.a.create(3n, 3), "created");
    await p.b.sendAddr(3n, "joiner", 4, v4("192.0.2.4", 4), null);
    const c = await p.a.done(3n, "creator", 3);
    const j = await p.b.done(3n, "joiner", 4);
    assert.ok((await c!.peer).ok && (await j!.peer).ok);
  },
});
