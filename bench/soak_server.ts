/**
 * Benchmark: the soak (issue 9). `server.ts` runs as its own process (as an operator runs it,
 * `--log-level warn`) and serves 1,000 concurrent clients for 60 s: 600 gday clients (300 pairs
 * looping over exchanges), 200 broker receivers sending keep-alives, 100 STUN clients and 100
 * relay clients (50 pairs looping over circuits); see `soak_load.ts`. Its memory and open file
 * descriptors are read from `/metrics` before the clients start (the idle baseline), every 2 s
 * while they run, and after they have gone.
 *
 * @module
 */

import { runSoak, type SoakResult, startSoakServer } from "./soak_load.ts";
import { type BenchSection, fmt, machineLine } from "./report.ts";

/** Options of the benchmark. */
export interface SoakBenchOptions {
  /** How long the clients run, in seconds. @default {60} */
  seconds?: number;
}

const MiB = 1024 * 1024;

/**
 * Run the soak and describe it for `bench/RESULTS.md`.
 *
 * @example
 * ```ts ignore
 * import { benchSoak } from "./soak_server.ts";
 * const section = await benchSoak({ seconds: 60 });
 * console.log(section.markdown);
 * ```
 */
export async function benchSoak(
  options: SoakBenchOptions = {},
): Promise<BenchSection & { result: SoakResult }> {
  const seconds = options.seconds ?? 60;
  const { server, ports } = await startSoakServer();
  let result: SoakResult;
  try {
    result = await runSoak(ports, { durationMs: seconds * 1000, sampleEveryMs: 2000 });
  } finally {
    await server.stop();
  }
  const { start, end, samples } = result;
  const peak = (pick: (s: typeof start) => number): number => Math.max(...samples.map(pick));
  const later = samples.filter((s) => s.atMs >= (seconds * 1000) / 3);
  const half = Math.floor(later.length / 2);
  const steadyEarly = Math.max(...later.slice(0, half).map((s) => s.rssBytes));
  const steadyLate = Math.max(...later.slice(half).map((s) => s.rssBytes));
  const mb = (n: number): string => fmt(n / MiB, 1);
  const ratio = (
    from: number,
    to: number,
  ): string => (from > 0 ? `${fmt((to / from) * 100)}%` : "–");
  const row = (name: string, pick: (s: typeof start) => number, unit: (n: number) => string) =>
    `| ${name} | ${unit(pick(start))} | ${unit(peak(pick))} | ${unit(pick(end))} | ${
      ratio(pick(start), pick(end))
    } |`;
  const { clients, ops } = result;
  const total = clients.gday + clients.broker + clients.stun + clients.relay;
  const failures = Object.values(result.failures).reduce((a, b) => a + b, 0);
  const markdown = [
    "## Soak: 1,000 concurrent clients (issue 9)",
    "",
    `\`server.ts\` as its own process, ${fmt(seconds)} s of ${fmt(total)} concurrent clients on ` +
    `loopback: ${clients.gday} gday (exchanges with a 0.2–0.8 s pause inside and between), ` +
    `${clients.broker} broker receivers (a keep-alive every 2 s), ${clients.stun} STUN (a ` +
    `Binding request every second), ${clients.relay} relay (circuits of 4 KiB each way, ` +
    `0.5–1.5 s apart). Figures from the server's \`/metrics\`: "start" is the idle server ` +
    `before the clients (the baseline), "end" after they have gone.`,
    "",
    "| figure | start | peak | end | end / start |",
    "| --- | ---: | ---: | ---: | ---: |",
    row("resident memory, MiB", (s) => s.rssBytes, mb),
    row("V8 heap used, MiB", (s) => s.heapUsedBytes, mb),
    row("open file descriptors", (s) => s.openFds, (n) => fmt(n)),
    row("client connections open", (s) => s.connectionsOpen, (n) => fmt(n)),
    "",
    `Memory once warm (the first third is warm-up): at most ${mb(steadyEarly)} MiB in the ` +
    `second third, ${mb(steadyLate)} MiB in the last (**${
      fmt((steadyLate / steadyEarly) * 100, 1)
    }%**). Open descriptors: ${fmt(start.openFds)} → peak ${fmt(peak((s) => s.openFds))} → **${
      fmt(end.openFds)
    }** once the clients are gone.`,
    "",
    `Requests: **${fmt(result.requestsPerSecond)} per second** completed by the clients ` +
    `(${fmt(ops.gday)} exchanges of 5 gday requests, ${fmt(ops.broker)} keep-alives, ` +
    `${fmt(ops.stun)} STUN answers, ${fmt(ops.relay)} relay circuits; ${fmt(failures)} ` +
    `failed); the server counted ${fmt(result.serverGdayRequestsPerSecond)} gday requests and ` +
    `accepted ${fmt(result.serverConnectionsPerSecond)} connections per second.`,
    "",
    machineLine(),
    "",
  ].join("\n");
  return { id: "soak", markdown, result };
}

if (import.meta.main) {
  const result = await benchSoak({ seconds: Number(Deno.args[0] ?? 60) });
  console.log(result.markdown);
}
