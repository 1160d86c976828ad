/**
 * Benchmark: complete gday room exchanges per second on loopback with 200 concurrent pairs,
 * against a baseline server (connect, one length-prefixed request/reply, close, twice per pair)
 * measured in the same run. Both servers run as their own processes (`server.ts` as an operator
 * runs it, with `--log-level warn`), the load generator in this one.
 *
 * @module
 */

import { freePort, LOAD_SERVER_ARGS, withProcess } from "./process.ts";
import { baselinePair, gdayExchange, type LoadResult, runLoad } from "./load.ts";
import { type BenchSection, fmt, machineLine, percentile } from "./report.ts";

/** Options of the benchmark. */
export interface GdayBenchOptions {
  /** Concurrent pairs. @default {200} */
  pairs?: number;
  /** Measured seconds per server. @default {5} */
  seconds?: number;
}

/** Run the benchmark; returns the section for RESULTS.md. */
export async function benchGdayExchange(
  options: GdayBenchOptions = {},
): Promise<BenchSection & { exchange: LoadResult; baseline: LoadResult }> {
  const pairs = options.pairs ?? 200;
  const ms = (options.seconds ?? 5) * 1000;
  const gdayPort = freePort();
  const exchange = await withProcess(
    [
      "run",
      "-A",
      "server.ts",
      "--host",
      "127.0.0.1",
      "--gday-port",
      String(gdayPort),
      ...LOAD_SERVER_ARGS,
    ],
    gdayPort,
    () =>
      runLoad((w, i) => gdayExchange(gdayPort, BigInt(w) * 1_000_000n + BigInt(i) + 1n), pairs, ms),
  );
  const basePort = freePort();
  const baseline = await withProcess(
    ["run", "-A", "bench/baseline_server.ts", String(basePort)],
    basePort,
    () => runLoad(() => baselinePair(basePort), pairs, ms),
  );
  const ratio = exchange.perSecond / baseline.perSecond;
  const row = (name: string, r: LoadResult): string =>
    `| ${name} | ${fmt(r.perSecond)} | ${fmt(percentile(r.latencies, 0.5), 1)} | ${
      fmt(percentile(r.latencies, 0.99), 1)
    } | ${r.failures} |`;
  const markdown = `## Contact exchange (issue 3)

${pairs} concurrent pairs on loopback, ${ms / 1000} s measured per server. One exchange = two
connections, CreateRoom, SendAddr ×2, DoneSending ×2, both PeerContacts. Baseline unit = connect,
one length-prefixed request/reply, close, twice (in parallel) per pair.

| server | per second | p50 ms | p99 ms | failures |
| --- | ---: | ---: | ---: | ---: |
${row("peerlink server.ts: gday exchanges", exchange)}
${row("baseline: 2 × connect + request/reply + close", baseline)}

Exchanges per second / baseline pairs per second: **${fmt(ratio * 100, 1)}%** (target ≥ 40%);
absolute: **${fmt(exchange.perSecond)} exchanges/s** (target ≥ 3,000).

${machineLine()}
`;
  return { id: "gday-exchange", markdown, exchange, baseline };
}

if (import.meta.main) {
  const result = await benchGdayExchange({ seconds: Number(Deno.args[0] ?? 5) });
  console.log(result.markdown);
}
