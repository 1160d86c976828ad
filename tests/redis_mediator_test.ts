/**
 * One case suite for every MediatorStore: MediatorRegistry (both "processes" are the same
 * registry) and RedisMediatorStore (two stores on two connections). Then Redis going away.
 */

import assert from "node:assert/strict";
import { MediatorRegistry, type MediatorStore } from "../server/services/mediator_registry.ts";
import { RedisMediatorStore } from "../server/redis/mediator.ts";
import { StateUnavailableError } from "../server/state_errors.ts";
import {
  type RedisServer,
  skipWithoutRedis,
  startRedisServer,
  testConnection,
} from "./redis_helpers.ts";
import type { RedisConnection } from "../server/redis/connection.ts";

interface Pair extends AsyncDisposable {
  a: MediatorStore<string>;
  b: MediatorStore<string>;
}

type Make = (maxPending: number) => Promise<Pair>;

function suite(name: string, make: Make, ignore = false): void {
  const test = (title: string, fn: () => Promise<void>): void =>
    Deno.test({ name: `${name}: ${title}`, ignore, fn });

  test("two keys that name each other pair across sides, with the handoff", async () => {
    await using p = await make(10);
    const first = await p.a.register("alice", "bob", "alice@a");
    assert.equal(first.kind, "waiting");
    const second = await p.b.register("bob", "alice", "bob@b");
    assert.equal(second.kind, "matched");
    if (second.kind !== "matched" || first.kind !== "waiting") return;
    assert.equal(second.peer, "alice@a");
    const outcome = await first.outcome;
    assert.equal(outcome.kind, "paired");
    if (outcome.kind !== "paired") return;
    assert.equal(outcome.peer, "bob@b");
    second.settle(true);
    assert.equal(await outcome.handoff, true);
  });

  test("a failed handoff reaches the waiter", async () => {
    await using p = await make(10);
    const first = await p.a.register("a", "b", "1");
    const second = await p.b.register("b", "a", "2");
    if (second.kind !== "matched" || first.kind !== "waiting") throw new Error("Not paired");
    second.settle(false);
    const outcome = await first.outcome;
    if (outcome.kind !== "paired") throw new Error("Not paired");
    assert.equal(await outcome.handoff, false);
  });

  test("one direction only does not pair", async () => {
    await using p = await make(10);
    const first = await p.a.register("a", "b", "1");
    const second = await p.b.register("b", "c", "2");
    assert.equal(first.kind, "waiting");
    assert.equal(second.kind, "waiting");
    if (first.kind === "waiting") assert.equal(await p.a.cancel("a", first.ticket), true);
    if (second.kind === "waiting") assert.equal(await p.b.cancel("b", second.ticket), true);
  });

  test("registering at the same instant pairs exactly once", async () => {
    await using p = await make(10);
    for (let i = 0; i < 10; i++) {
      const [x, y] = await Promise.all([
        p.a.register(`x${i}`, `y${i}`, "x"),
        p.b.register(`y${i}`, `x${i}`, "y"),
      ]);
      assert.deepEqual([x.kind, y.kind].sort(), ["matched", "waiting"], `round ${i}`);
      const matched = x.kind === "matched" ? x : y.kind === "matched" ? y : null;
      const waiting = x.kind === "waiting" ? x : y.kind === "waiting" ? y : null;
      matched!.settle(true);
      const outcome = await waiting!.outcome;
      assert.equal(outcome.kind, "paired");
      if (outcome.kind === "paired") assert.equal(await outcome.handoff, true);
    }
  });

  test("the same key registering again replaces the earlier wait", async () => {
    await using p = await make(10);
    const first = await p.a.register("a", "b", "old");
    const second = await p.b.register("a", "b", "new");
    if (first.kind !== "waiting" || second.kind !== "waiting") throw new Error("Not waiting");
    assert.deepEqual(await first.outcome, { kind: "replaced" });
    assert.equal(await p.a.cancel("a", first.ticket), false);
    const peer = await p.a.register("b", "a", "b");
    assert.equal(peer.kind === "matched" && peer.peer, "new");
    if (peer.kind === "matched") peer.settle(true);
    assert.equal((await second.outcome).kind, "paired");
  });

  test("a cancelled registration is not paired", async () => {
    await using p = await make(10);
    const first = await p.a.register("a", "b", "1");
    if (first.kind !== "waiting") throw new Error("Not waiting");
    assert.equal(await p.a.cancel("a", first.ticket), true);
    assert.equal((await p.b.register("b", "a", "2")).kind, "waiting");
  });

  test("waiting registrations are bounded", async () => {
    await using p = await make(1);
    assert.equal((await p.a.register("a", "b", "1")).kind, "waiting");
    assert.equal((await p.a.register("c", "d", "2")).kind, "full");
  });

  test("clear ends every wait", async () => {
    await using p = await make(10);
    const first = await p.a.register("a", "b", "1");
    if (first.kind !== "waiting") throw new Error("Not waiting");
    p.a.clear();
    assert.deepEqual(await first.outcome, { kind: "closed" });
  });
}

suite("MediatorRegistry", (maxPending) => {
  const registry = new MediatorRegistry<string>({ maxPending });
  return Promise.resolve({
    a: registry,
    b: registry,
    [Symbol.asyncDispose]: () => Promise.resolve(registry.clear()),
  });
});

const ignore = skipWithoutRedis();

async function redisPair(
  server: RedisServer,
  maxPending: number,
  own: boolean,
): Promise<Pair & { connections: RedisConnection[] }> {
  const ca = await testConnection(server);
  const cb = await testConnection(server);
  const options = { mode: "native", maxPending, ttlMs: 10_000, lostPairingMs: 500 };
  const a = new RedisMediatorStore<string>({ redis: ca, ...options });
  const b = new RedisMediatorStore<string>({ redis: cb, ...options });
  return {
    a,
    b,
    connections: [ca, cb],
    [Symbol.asyncDispose]: async () => {
      a.clear();
      b.clear();
      await Promise.all([ca.close(), cb.close()]);
      if (own) await server.stop();
    },
  };
}

suite(
  "RedisMediatorStore",
  async (maxPending) => await redisPair(await startRedisServer(), maxPending, true),
  ignore,
);

Deno.test({
  name: "RedisMediatorStore: waits end 'unavailable' when Redis goes away, and pairing resumes",
  ignore,
  async fn() {
    await using server = await startRedisServer();
    await using p = await redisPair(server, 10, false);
    const first = await p.a.register("a", "b", "1");
    if (first.kind !== "waiting") throw new Error("Not waiting");
    await server.stop();
    assert.deepEqual(await first.outcome, { kind: "unavailable" });
    await assert.rejects(async () => await p.b.register("b", "a", "2"), StateUnavailableError);
    await server.start();
    await Promise.all(p.connections.map((c) => c.waitReady(AbortSignal.timeout(5000))));
    const again = await p.a.register("a", "b", "1");
    const peer = await p.b.register("b", "a", "2");
    assert.equal(again.kind, "waiting");
    assert.equal(peer.kind, "matched");
    if (peer.kind === "matched") peer.settle(true);
    if (again.kind === "waiting") assert.equal((await again.outcome).kind, "paired");
  },
});
