/**
 * Chat usernames shared by processes: one case suite for MemoryChatNames and RedisChatNames,
 * then two introducers (two servers on one Redis) over real UDP.
 */

import assert from "node:assert/strict";
import { type ChatNameStore, MemoryChatNames } from "../server/services/chat_names.ts";
import { RedisChatNames } from "../server/redis/chat.ts";
import { chatPlugin, ChatState } from "../server/services/chat.ts";
import { startServer } from "../server/server.ts";
import { silentLogger } from "../server/logger.ts";
import { RawPeer } from "./chat_raw_peer.ts";
import { skipWithoutRedis, startRedisServer, testConnection } from "./redis_helpers.ts";

interface Pair extends AsyncDisposable {
  a: ChatNameStore;
  b: ChatNameStore;
}

function suite(name: string, make: () => Promise<Pair>, ignore = false): void {
  const test = (title: string, fn: () => Promise<void>): void =>
    Deno.test({ name: `${name}: ${title}`, ignore, fn });

  test("a name belongs to one address across sides", async () => {
    await using p = await make();
    assert.equal(await p.a.claim("alice", "192.0.2.1:1", 5000), "claimed");
    assert.equal(await p.b.claim("alice", "192.0.2.2:2", 5000), "taken");
    assert.equal(await p.b.claim("alice", "192.0.2.1:1", 5000), "claimed");
    assert.equal(await p.b.holder("alice"), "192.0.2.1:1");
    await p.b.release("alice", "192.0.2.2:2"); // not the holder: no effect
    assert.equal(await p.a.holder("alice"), "192.0.2.1:1");
    await p.a.release("alice", "192.0.2.1:1");
    assert.equal(await p.b.claim("alice", "192.0.2.2:2", 5000), "claimed");
    assert.equal(await p.a.refresh("alice", "192.0.2.1:1", 5000), "lost");
  });

  test("claims at once: one address wins", async () => {
    await using p = await make();
    for (let i = 0; i < 10; i++) {
      const results = await Promise.all([
        p.a.claim(`n${i}`, "192.0.2.1:1", 5000),
        p.b.claim(`n${i}`, "192.0.2.2:2", 5000),
      ]);
      assert.deepEqual(results.sort(), ["claimed", "taken"]);
    }
  });

  test("a name expires unless refreshed", async () => {
    await using p = await make();
    await p.a.claim("bob", "192.0.2.1:1", 200);
    await new Promise((r) => setTimeout(r, 120));
    assert.equal(await p.a.refresh("bob", "192.0.2.1:1", 200), "ok");
    await new Promise((r) => setTimeout(r, 120));
    assert.equal(await p.b.holder("bob"), "192.0.2.1:1");
    await new Promise((r) => setTimeout(r, 150));
    assert.equal(await p.b.holder("bob"), null);
  });
}

suite("MemoryChatNames", () => {
  const names = new MemoryChatNames();
  return Promise.resolve({ a: names, b: names, [Symbol.asyncDispose]: () => Promise.resolve() });
});

const ignore = skipWithoutRedis();

suite("RedisChatNames", async () => {
  const server = await startRedisServer();
  const [ca, cb] = await Promise.all([testConnection(server), testConnection(server)]);
  return {
    a: new RedisChatNames(ca),
    b: new RedisChatNames(cb),
    [Symbol.asyncDispose]: async () => {
      await Promise.all([ca.close(), cb.close()]);
      await server.stop();
    },
  };
}, ignore);

Deno.test({
  name: "chat introducers on one Redis: a name registered on one is taken on the other",
  ignore,
  async fn() {
    await using redis = await startRedisServer();
    await using c1 = await testConnection(redis);
    await using c2 = await testConnection(redis);
    const start = (connection: typeof c1) =>
      startServer({
        hostname: "127.0.0.1",
        gdayPort: null,
        logger: silentLogger,
        redis: connection,
        services: [chatPlugin({ port: 0, rateLimit: 0, state: new ChatState() })],
      });
    await using s1 = await start(c1);
    await using s2 = await start(c2);
    const port1 = s1.listeners[0]!.addr.port;
    const port2 = s2.listeners[0]!.addr.port;
    await using alice = new RawPeer();
    await using mallory = new RawPeer();
    await alice.expect('{"Register":{"username":"alice"}}', port1, '"RegisterAck"');
    // Another address asks for the name on the other process: no reply, as for a local clash.
    await mallory.send('{"Register":{"username":"alice"}}', port2);
    await assert.rejects(() => mallory.recv(500), /No datagram/);
    await mallory.expect('{"Register":{"username":"mallory"}}', port2, '"RegisterAck"');
    // Renaming frees the old name everywhere.
    await alice.expect('{"Register":{"username":"alice2"}}', port1, '"RegisterAck"');
    let freed = false;
    for (let i = 0; i < 20 && !freed; i++) {
      await mallory.send('{"Register":{"username":"alice"}}', port2);
      freed = await mallory.recv(200).then((r) => r === '"RegisterAck"', () => false);
    }
    assert.ok(freed, "The old name was not freed");
  },
});
