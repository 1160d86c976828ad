/**
 * Benchmark: complete gday room exchanges per second on loopback with shared state in Redis,
 * three ways in the same run: one `server.ts` process in memory (as today), one process with
 * `--redis`, and two processes sharing one Redis with every exchange split across them (the
 * creator on one, the joiner on the other, alternating). The ratios show what Redis costs and
 * what a second process gives back. Needs `redis-server` (Debian package `redis-server`).
 *
 * @module
 */

import { type LoadResult, runLoad } from "./load.ts";
import { freePort, LOAD_SERVER_ARGS } from "./process.ts";
import { type BenchSection, fmt, machineLine, percentile } from "./report.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

async function waitForPort(port: number, what: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  throw new Error(`${what} does not listen on ${port}`);
}

function spawn(command: string, args: string[]): Deno.ChildProcess {
  return new Deno.Command(command, {
    args,
    cwd: ROOT,
    stdout: "null",
    stderr: "null",
    stdin: "null",
  }).spawn();
}

async function stop(child: Deno.ChildProcess): Promise<void> {
  try {
    child.kill("SIGTERM");
  } catch { /* exited */ }
  await child.status;
}

function serverArgs(port: number, redisUrl: string | null): string[] {
  return [
    "run",
    "-A",
    "server.ts",
    "--host",
    "127.0.0.1",
    "--gday-port",
    String(port),
    "--no-stun",
    "--no-relay",
    ...LOAD_SERVER_ARGS,
    ...(redisUrl === null ? [] : ["--redis", redisUrl]),
  ];
}

/** A connection that writes gday frames and reads replies (first bytes only). */
class Conn {
  #conn: Deno.TcpConn;
  #buf = new Uint8Array(0);
  constructor(conn: Deno.TcpConn) {
    this.#conn = conn;
    conn.setNoDelay(true);
  }
  static async open(port: number): Promise<Conn> {
    return new Conn(await Deno.connect({ hostname: "127.0.0.1", port }));
  }
  async send(json: string): Promise<void> {
    const body = encoder.encode(json);
    const frame = new Uint8Array(4 + body.length);
    new DataView(frame.buffer).setUint32(0, body.length);
    frame.set(body, 4);
    let off = 0;
    while (off < frame.length) off += await this.#conn.write(frame.subarray(off));
  }
  async expect(prefix: string): Promise<void> {
    for (;;) {
      if (this.#buf.length >= 4) {
        const len = new DataView(this.#buf.buffer, this.#buf.byteOffset).getUint32(0);
        if (this.#buf.length >= 4 + len) {
          const text = decoder.decode(this.#buf.subarray(4, 4 + len));
          this.#buf = this.#buf.slice(4 + len);
          if (!text.startsWith(prefix)) throw new Error(`Expected ${prefix}, got ${text}`);
          return;
        }
      }
      const chunk = new Uint8Array(4096);
      const n = await this.#conn.read(chunk);
      if (n === null) throw new Error("Server closed the connection");
      const merged = new Uint8Array(this.#buf.length + n);
      merged.set(this.#buf);
      merged.set(chunk.subarray(0, n), this.#buf.length);
      this.#buf = merged;
    }
  }
  close(): void {
    try {
      this.#conn.close();
    } catch { /* closed */ }
  }
}

/** One exchange: the creator on `creatorPort`, the joiner on `joinerPort`. */
async function splitExchange(creatorPort: number, joinerPort: number, code: bigint) {
  const [c, j] = await Promise.all([Conn.open(creatorPort), Conn.open(joinerPort)]);
  try {
    await c.send(`{"CreateRoom":{"room_code":${code}}}`);
    await c.expect('"RoomCreated"');
    const side = async (conn: Conn, creator: boolean): Promise<void> => {
      await conn.send(
        `{"SendAddr":{"room_code":${code},"is_creator":${creator},"private_addr":"10.0.0.1:4000"}}`,
      );
      await conn.expect('"ReceivedAddr"');
      await conn.send(`{"DoneSending":{"room_code":${code},"is_creator":${creator}}}`);
      await conn.expect('{"ClientContact"');
      await conn.expect('{"PeerContact"');
    };
    await Promise.all([side(c, true), side(j, false)]);
  } finally {
    c.close();
    j.close();
  }
}

/** Options of the benchmark. */
export interface RedisBenchOptions {
  /** Concurrent pairs. @default {100} */
  pairs?: number;
  /** Measured seconds per configuration. @default {5} */
  seconds?: number;
}

/**
 * Run the benchmark; returns the section for RESULTS.md.
 *
 * @example
 * ```ts ignore
 * import { benchRedisExchange } from "./redis_exchange.ts";
 * console.log((await benchRedisExchange({ seconds: 2 })).markdown);
 * ```
 */
export async function benchRedisExchange(
  options: RedisBenchOptions = {},
): Promise<BenchSection & { memory: LoadResult; redis: LoadResult; shared: LoadResult }> {
  const pairs = options.pairs ?? 100;
  const ms = (options.seconds ?? 5) * 1000;
  const redisPort = freePort();
  const redisUrl = `redis://127.0.0.1:${redisPort}`;
  const redis = spawn("redis-server", [
    "--port",
    String(redisPort),
    "--bind",
    "127.0.0.1",
    "--save",
    "",
    "--appendonly",
    "no",
  ]);
  let code = 1n;
  const nextCode = (): bigint => code++;
  try {
    await waitForPort(redisPort, "redis-server");
    const measure = async (
      redisFor: (string | null)[],
      op: (ports: number[], w: number) => Promise<void>,
    ): Promise<LoadResult> => {
      const ports = redisFor.map(() => freePort());
      const children = redisFor.map((url, i) => spawn(Deno.execPath(), serverArgs(ports[i]!, url)));
      try {
        for (const port of ports) await waitForPort(port, "server.ts");
        return await runLoad((w) => op(ports, w), pairs, ms);
      } finally {
        await Promise.all(children.map(stop));
      }
    };
    const memory = await measure([null], ([p]) => splitExchange(p!, p!, nextCode()));
    const withRedis = await measure([redisUrl], ([p]) => splitExchange(p!, p!, nextCode()));
    const shared = await measure(
      [redisUrl, redisUrl],
      ([a, b], w) =>
        w % 2 === 0 ? splitExchange(a!, b!, nextCode()) : splitExchange(b!, a!, nextCode()),
    );
    const row = (name: string, r: LoadResult): string =>
      `| ${name} | ${fmt(r.perSecond)} | ${fmt(percentile(r.latencies, 0.5), 1)} | ${
        fmt(percentile(r.latencies, 0.99), 1)
      } | ${r.failures} |`;
    const markdown = `## Shared state on Redis (issue 9)

${pairs} concurrent pairs on loopback, ${ms / 1000} s measured per configuration, the same
exchange as "Contact exchange" (two connections, CreateRoom, SendAddr ×2, DoneSending ×2, both
PeerContacts). With two processes every exchange is split: the creator on one process, the
joiner on the other (alternating), so each PeerContact crosses Redis pub/sub.

| configuration | per second | p50 ms | p99 ms | failures |
| --- | ---: | ---: | ---: | ---: |
${row("1 process, in memory", memory)}
${row("1 process, --redis", withRedis)}
${row("2 processes sharing Redis (split pairs)", shared)}

1 process with Redis / in memory: **${fmt((withRedis.perSecond / memory.perSecond) * 100, 1)}%**;
2 processes sharing Redis / 1 process in memory: **${
      fmt((shared.perSecond / memory.perSecond) * 100, 1)
    }%**; 2 processes / 1 process, both on Redis: **${
      fmt((shared.perSecond / withRedis.perSecond) * 100, 1)
    }%**. The load generator, the server processes and redis-server share the machine's cores.

${machineLine()}
`;
    return { id: "redis-exchange", markdown, memory, redis: withRedis, shared };
  } finally {
    await stop(redis);
  }
}

if (import.meta.main) {
  const result = await benchRedisExchange({ seconds: Number(Deno.args[0] ?? 5) });
  console.log(result.markdown);
}
