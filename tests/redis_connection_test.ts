import assert from "node:assert/strict";
import {
  connectRedis,
  defineRedisScript,
  RedisUnavailableError,
} from "../server/redis/connection.ts";
import { silentLogger } from "../server/logger.ts";
import { eventually, skipWithoutRedis, startRedisServer, testConnection } from "./redis_helpers.ts";

const ignore = skipWithoutRedis();

Deno.test({
  name: "RedisConnection runs scripts and delivers messages between instances",
  ignore,
  async fn() {
    await using server = await startRedisServer();
    await using a = await testConnection(server);
    await using b = await testConnection(server);
    assert.notEqual(a.instanceId, b.instanceId);
    const script = defineRedisScript("return redis.call('INCRBY', KEYS[1], ARGV[1])", 1);
    assert.equal(await a.run(script, [a.key("n")], [2]), 2);
    assert.equal(await b.run(script, [b.key("n")], [3]), 5);
    const got: unknown[] = [];
    const stop = b.handle("test", (m) => got.push(m.value));
    await a.send(b.instanceId, "test", { value: 42 });
    await eventually(() => got.length === 1, 2000, "the message");
    assert.deepEqual(got, [42]);
    stop();
  },
});

Deno.test({
  name: "RedisConnection fails fast while Redis is down and recovers after it returns",
  ignore,
  async fn() {
    await using server = await startRedisServer();
    await using redis = await testConnection(server);
    const changes: boolean[] = [];
    const stop = redis.onReadyChange((r) => changes.push(r));
    await server.stop();
    await eventually(() => !redis.ready, 3000, "not ready");
    await assert.rejects(
      () => redis.command((c) => c.get(redis.key("x"))),
      RedisUnavailableError,
    );
    await server.start();
    await redis.waitReady(AbortSignal.timeout(5000));
    assert.equal(await redis.command((c) => c.set(redis.key("x"), "1")), "OK");
    const got: unknown[] = [];
    const unhandle = redis.handle("t", (m) => got.push(m.v));
    await redis.send(redis.instanceId, "t", { v: 1 });
    await eventually(() => got.length === 1, 2000, "a message after reconnecting");
    assert.deepEqual(changes, [false, true]);
    stop();
    unhandle();
  },
});

Deno.test("RedisConnection.close() returns while the connection waits to reconnect", async () => {
  // Nothing listens on the port, so each attempt is refused at once and the connection spends
  // nearly all its time waiting for the next one: ioredis sends no "end" event for that state.
  const port = (() => {
    using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    return listener.addr.port;
  })();
  for (let i = 0; i < 3; i++) {
    const redis = await connectRedis({
      url: `redis://127.0.0.1:${port}`,
      logger: silentLogger,
      connectWaitMs: 300,
    });
    assert.equal(redis.ready, false);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const closed = await Promise.race([
      redis.close().then(() => true),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), 5000))),
    ]);
    clearTimeout(timer);
    assert.ok(closed, "close() did not return within 5 s");
  }
});
