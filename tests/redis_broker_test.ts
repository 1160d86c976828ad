/**
 * One case suite for every BrokerDirectory: MemoryBrokerDirectory (both "processes" share it)
 * and RedisBrokerDirectory (two directories on two connections).
 */

import assert from "node:assert/strict";
import {
  type BrokerDirectory,
  MemoryBrokerDirectory,
} from "../server/services/broker_directory.ts";
import { RedisBrokerDirectory } from "../server/redis/broker.ts";
import { StateUnavailableError } from "../server/state_errors.ts";
import { skipWithoutRedis, startRedisServer, testConnection } from "./redis_helpers.ts";

interface Pair extends AsyncDisposable {
  a: BrokerDirectory;
  b: BrokerDirectory;
}

const p1 = { instance: "p1", reg: "1" };
const p2 = { instance: "p2", reg: "7" };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function suite(name: string, make: () => Promise<Pair>, ignore = false): void {
  const test = (title: string, fn: () => Promise<void>): void =>
    Deno.test({ name: `${name}: ${title}`, ignore, fn });

  test("a name is held by the first claim; another needs the same secret", async () => {
    await using p = await make();
    assert.deepEqual(await p.a.claim("alice", p1, null, 5000), { kind: "claimed", replaced: null });
    assert.deepEqual(await p.b.lookup("alice"), p1);
    assert.deepEqual(await p.b.claim("alice", p2, "aa", 5000), { kind: "held" });
    await p.a.release("alice", p1);
    assert.equal(await p.b.lookup("alice"), null);
    await p.a.claim("bob", p1, "aa", 5000);
    assert.deepEqual(await p.b.claim("bob", p2, "bb", 5000), { kind: "held" });
    assert.deepEqual(await p.b.claim("bob", p2, "aa", 5000), { kind: "claimed", replaced: p1 });
    // The replaced holder's release leaves the new claim alone.
    await p.a.release("bob", p1);
    assert.deepEqual(await p.a.lookup("bob"), p2);
  });

  test("two claims at once: exactly one holds the name", async () => {
    await using p = await make();
    for (let i = 0; i < 10; i++) {
      const results = await Promise.all([
        p.a.claim(`u${i}`, p1, null, 5000),
        p.b.claim(`u${i}`, p2, null, 5000),
      ]);
      assert.deepEqual(results.map((r) => r.kind).sort(), ["claimed", "held"]);
    }
  });

  test("claims expire unless refreshed, and a lost one is reported", async () => {
    await using p = await make();
    await p.a.claim("carol", p1, null, 200);
    await sleep(120);
    assert.equal(await p.a.refresh("carol", p1, 200), "ok");
    await sleep(120);
    assert.deepEqual(await p.b.lookup("carol"), p1);
    await sleep(150);
    assert.equal(await p.b.lookup("carol"), null);
    await p.b.claim("carol", p2, null, 5000);
    assert.equal(await p.a.refresh("carol", p1, 5000), "lost");
    await p.b.release("carol", p2);
    assert.equal(await p.a.refresh("carol", p1, 5000), "restored");
    assert.deepEqual(await p.b.lookup("carol"), p1);
  });

  test("requests get unique ids, are routed, and end", async () => {
    await using p = await make();
    const ids = await Promise.all([
      p.a.openRequest("alice", "p1", 5000),
      p.b.openRequest("alice", "p2", 5000),
      p.a.openRequest("bob", "p1", 200),
    ]);
    assert.equal(new Set(ids).size, 3);
    assert.ok(ids.every((id) => Number.isSafeInteger(id) && id >= 1));
    assert.equal(await p.b.routeRequest(ids[0]!), "p1");
    assert.equal(await p.a.routeRequest(ids[1]!), "p2");
    await p.a.closeRequest(ids[0]!);
    assert.equal(await p.b.routeRequest(ids[0]!), null);
    await sleep(250);
    assert.equal(await p.b.routeRequest(ids[2]!), null);
    assert.equal(await p.b.routeRequest(999_999), null);
  });

  test("every process gets the same secret key", async () => {
    await using p = await make();
    const [a, b] = await Promise.all([p.a.secretKey(), p.b.secretKey()]);
    assert.equal(a.length, 32);
    assert.deepEqual(a, b);
  });
}

suite("MemoryBrokerDirectory", () => {
  const directory = new MemoryBrokerDirectory();
  return Promise.resolve({
    a: directory,
    b: directory,
    [Symbol.asyncDispose]: () => Promise.resolve(),
  });
});

const ignore = skipWithoutRedis();

suite("RedisBrokerDirectory", async () => {
  const server = await startRedisServer();
  const [ca, cb] = await Promise.all([testConnection(server), testConnection(server)]);
  return {
    a: new RedisBrokerDirectory(ca),
    b: new RedisBrokerDirectory(cb),
    [Symbol.asyncDispose]: async () => {
      await Promise.all([ca.close(), cb.close()]);
      await server.stop();
    },
  };
}, ignore);

Deno.test({
  name: "RedisBrokerDirectory: StateUnavailableError while Redis is down",
  ignore,
  async fn() {
    await using server = await startRedisServer();
    await using redis = await testConnection(server);
    const directory = new RedisBrokerDirectory(redis);
    await server.stop();
    await assert.rejects(() => directory.claim("a", p1, null, 1000), StateUnavailableError);
    await assert.rejects(() => directory.lookup("a"), StateUnavailableError);
    await assert.rejects(() => directory.openRequest("a", "p1", 1000), StateUnavailableError);
  },
});
