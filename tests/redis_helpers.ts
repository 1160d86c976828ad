/**
 * A real `redis-server` for tests: on a free loopback port, no persistence, stopped in `finally`.
 * Tests that need one skip (with a message) when `redis-server` is not installed.
 */

import { connectRedis, type RedisConnection } from "../server/redis/connection.ts";
import { silentLogger } from "../server/logger.ts";

/** Whether `redis-server` can be run here. */
export const HAVE_REDIS: boolean = (() => {
  try {
    return new Deno.Command("redis-server", { args: ["--version"], stdout: "null", stderr: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
})();

/** Why Redis tests skip, printed once. */
export const NO_REDIS_MESSAGE =
  "redis-server is not installed (apt-get install redis-server): skipping the Redis tests";

let warned = false;
/** `ignore` for Deno.test: true (and a message, once) when there is no redis-server. */
export function skipWithoutRedis(): boolean {
  if (!HAVE_REDIS && !warned) {
    warned = true;
    console.warn(NO_REDIS_MESSAGE);
  }
  return !HAVE_REDIS;
}

function freePort(): number {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  return (listener.addr as Deno.NetAddr).port;
}

async function ping(port: number): Promise<boolean> {
  try {
    using conn = await Deno.connect({ hostname: "127.0.0.1", port });
    await conn.write(new TextEncoder().encode("PING\r\n"));
    const buf = new Uint8Array(16);
    const timer = setTimeout(() => conn.close(), 500);
    try {
      const n = await conn.read(buf);
      return n !== null && new TextDecoder().decode(buf.subarray(0, n)).startsWith("+PONG");
    } finally {
      clearTimeout(timer);
    }
  } catch {
    return false;
  }
}

/** A running redis-server. */
export interface RedisServer extends AsyncDisposable {
  /** Its port on 127.0.0.1. */
  readonly port: number;
  /** `redis://127.0.0.1:<port>`. */
  readonly url: string;
  /** Stop it (SIGTERM, then wait). */
  stop(): Promise<void>;
  /** Start it again on the same port (after {@linkcode RedisServer.stop}); empty, as no data persists. */
  start(): Promise<void>;
}

/**
 * Start `redis-server` on a free loopback port and wait until it answers PING (10 s at most). If
 * it exits at once (another program took the port meanwhile), try again on a fresh port.
 */
export async function startRedisServer(): Promise<RedisServer> {
  let port = freePort();
  let child: Deno.ChildProcess | null = null;
  const start = async (): Promise<void> => {
    const spawned = new Deno.Command("redis-server", {
      args: [
        "--port",
        String(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--loglevel",
        "warning",
      ],
      stdout: "null",
      stderr: "null",
      stdin: "null",
    }).spawn();
    child = spawned;
    let exited = false;
    spawned.status.then(() => (exited = true));
    const deadline = Date.now() + 10_000;
    while (!(await ping(port))) {
      if (exited) {
        child = null;
        throw new Error(`redis-server exited before answering on port ${port}`);
      }
      if (Date.now() > deadline) {
        await stop();
        throw new Error(`redis-server did not answer on port ${port} within 10 s`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const stop = async (): Promise<void> => {
    const running = child;
    child = null;
    if (running === null) return;
    try {
      running.kill("SIGTERM");
    } catch { /* exited */ }
    await running.status;
  };
  for (let attempt = 1;; attempt++) {
    try {
      await start();
      break;
    } catch (error) {
      if (attempt >= 3) throw error;
      port = freePort();
    }
  }
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    stop,
    start,
    [Symbol.asyncDispose]: stop,
  };
}

/** A ready connection to `server` (short timeouts for tests). */
export async function testConnection(
  server: RedisServer,
  options: { prefix?: string } = {},
): Promise<RedisConnection> {
  const redis = await connectRedis({
    url: server.url,
    logger: silentLogger,
    commandTimeoutMs: 1000,
    reconnectMaxDelayMs: 200,
    connectWaitMs: 5000,
    prefix: options.prefix,
  });
  if (!redis.ready) {
    await redis.close();
    throw new Error("Redis connection not ready");
  }
  return redis;
}

/** Poll `predicate` every 20 ms until true, at most `ms`. */
export async function eventually(
  predicate: () => boolean | Promise<boolean>,
  ms = 5000,
  what = "a condition",
): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
