/**
 * Benchmark: relay throughput on loopback against direct throughput, measured in the same run.
 *
 * - **relay (TCP)**: `server.ts` runs as its own process, as an operator runs it (relay on a
 *   free port, rate and byte limits off, `--log-level warn`); two `relayConnect()` clients in
 *   this process pair through it, and one pipes `megabytes` MB to the other.
 * - **relay (WebSocket)**: the same over `ws://` on the server's HTTP port (for information).
 * - **direct (TCP)**: the same two sides connected directly over loopback TCP (one dials a
 *   listener in this process), with the same socket-to-stream adapter the relay client uses.
 *
 * Each figure is the median of `runs` transfers; the target is relay ≥ 50% of direct.
 * Run directly (`deno run -A bench/relay_throughput.ts [MB] [runs]`) to print the section.
 *
 * @example
 * ```ts ignore
 * import { benchRelayThroughput } from "./relay_throughput.ts";
 * const { ratio } = await benchRelayThroughput({ megabytes: 32, runs: 1 });
 * ```
 *
 * @module
 */

import { freePort, waitForPort, withProcess } from "./process.ts";
import { relayConnect, type RelayTransport } from "../client/relay.ts";
import type { Duplex } from "../net/duplex.ts";
import { type BenchSection, fmt, machineLine } from "./report.ts";

export type { BenchSection };

const CHUNK_BYTES = 64 * 1024;

/** Options of {@linkcode benchRelayThroughput}. */
export interface RelayBenchOptions {
  /** MB (10^6 bytes) piped per transfer. @default {200} */
  megabytes?: number;
  /** Transfers per path; the median counts. @default {3} */
  runs?: number;
}

/** What {@linkcode benchRelayThroughput} measured, in MB/s (10^6 bytes per second). */
export interface RelayBenchResult extends BenchSection {
  /** Direct loopback TCP. */
  directMBps: number;
  /** Through `server.ts`'s relay over TCP. */
  relayMBps: number;
  /** Through `server.ts`'s relay over WebSocket. */
  relayWsMBps: number;
  /** `relayMBps / directMBps` (target ≥ 0.5). */
  ratio: number;
}

/** A socket as streams, as `client/relay.ts` adapts its own (half-close, BYOB reads). */
function byteStreams(conn: Deno.Conn): Duplex {
  const readable = new ReadableStream({
    type: "bytes",
    autoAllocateChunkSize: CHUNK_BYTES,
    async pull(controller) {
      const request = controller.byobRequest!;
      const n = await conn.read(request.view as Uint8Array);
      if (n === null) {
        controller.close();
        request.respond(0);
      } else {
        request.respond(n);
      }
    },
  }) as ReadableStream<Uint8Array>;
  const writable = new WritableStream<Uint8Array>({
    async write(chunk) {
      let offset = 0;
      while (offset < chunk.length) offset += await conn.write(chunk.subarray(offset));
    },
    async close() {
      await conn.closeWrite();
    },
  });
  return { readable, writable };
}

/** Pipe `bytes` from `a` to `b`; resolves with MB/s (from the first write to `b`'s end). */
async function transfer(a: Duplex, b: Duplex, bytes: number): Promise<number> {
  const chunk = crypto.getRandomValues(new Uint8Array(CHUNK_BYTES));
  const started = performance.now();
  const send = (async () => {
    const writer = a.writable.getWriter();
    for (let sent = 0; sent < bytes; sent += CHUNK_BYTES) {
      await writer.write(chunk.subarray(0, Math.min(CHUNK_BYTES, bytes - sent)));
    }
    await writer.close();
  })();
  let received = 0;
  for await (const piece of b.readable) received += piece.length;
  await send;
  const seconds = (performance.now() - started) / 1000;
  if (received !== bytes) throw new Error(`Received ${received} of ${bytes} bytes`);
  return bytes / 1e6 / seconds;
}

async function direct(bytes: number): Promise<number> {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const [a, b] = await Promise.all([
    Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port }),
    listener.accept(),
  ]);
  try {
    a.setNoDelay(true);
    (b as Deno.TcpConn).setNoDelay(true);
    return await transfer(byteStreams(a), byteStreams(b), bytes);
  } finally {
    a.close();
    b.close();
  }
}

async function relayed(server: string, transport: RelayTransport, bytes: number): Promise<number> {
  const token = crypto.getRandomValues(new Uint8Array(32));
  const [a, b] = await Promise.all([
    relayConnect({ server, transport, token }),
    relayConnect({ server, transport, token }),
  ]);
  try {
    return await transfer(a, b, bytes);
  } finally {
    a.close();
    b.close();
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((x, y) => x - y);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/** Run the benchmark; returns the section for RESULTS.md. */
export async function benchRelayThroughput(
  options: RelayBenchOptions = {},
): Promise<RelayBenchResult> {
  const megabytes = options.megabytes ?? 200;
  const runs = options.runs ?? 3;
  const bytes = megabytes * 1e6;
  const relayPort = freePort();
  const httpPort = freePort();
  const samples = { direct: [] as number[], relay: [] as number[], ws: [] as number[] };
  await withProcess(
    [
      "run",
      "-A",
      "server.ts",
      "--host",
      "127.0.0.1",
      "--gday-port",
      "0",
      "--no-stun",
      "--relay-port",
      String(relayPort),
      "--http-port",
      String(httpPort),
      "--relay-rate",
      "0",
      "--relay-max-bytes",
      "0",
      "--rate-limit",
      "0",
      "--log-level",
      "warn",
    ],
    relayPort,
    async () => {
      await waitForPort(httpPort);
      // Interleaved, so that a busy moment of the machine hits every path alike.
      for (let i = 0; i < runs; i++) {
        samples.direct.push(await direct(bytes));
        samples.relay.push(await relayed(`127.0.0.1:${relayPort}`, "tcp", bytes));
        samples.ws.push(await relayed(`127.0.0.1:${httpPort}`, "ws", bytes));
      }
    },
  );
  const directMBps = median(samples.direct);
  const relayMBps = median(samples.relay);
  const relayWsMBps = median(samples.ws);
  const ratio = relayMBps / directMBps;
  const row = (name: string, values: number[], value: number): string =>
    `| ${name} | ${fmt(value)} | ${values.map((v) => fmt(v)).join(", ")} | ${
      fmt((value / directMBps) * 100, 1)
    }% |`;
  const markdown = `## Relay throughput (issue 5)

${megabytes} MB piped from one peer to the other on loopback, median of ${runs} transfers per
path (interleaved). The relay is \`server.ts\` in its own process (relay rate and byte limits
off); both peers run in the benchmark process with the same socket adapter in every case.

| path | MB/s | runs | vs direct |
| --- | ---: | ---: | ---: |
${row("direct TCP", samples.direct, directMBps)}
${row("relay over TCP (server.ts)", samples.relay, relayMBps)}
${row("relay over WebSocket (server.ts)", samples.ws, relayWsMBps)}

Relay over TCP / direct: **${fmt(ratio * 100, 1)}%** (target ≥ 50%).

${machineLine()}
`;
  return { id: "relay-throughput", markdown, directMBps, relayMBps, relayWsMBps, ratio };
}

if (import.meta.main) {
  const result = await benchRelayThroughput({
    megabytes: Number(Deno.args[0] ?? 200),
    runs: Number(Deno.args[1] ?? 3),
  });
  console.log(result.markdown);
}
