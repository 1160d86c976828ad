/**
 * Benchmark: time from `PeerContact` to an authenticated direct pipe, in the NAT lab, cone
 * router on both sides: `server.ts` in the server namespace and `bench/pipe_peer.ts` on each
 * host, 20 connections per series, measured by `connectPeer`'s `onEvent` (`contacts` →
 * resolved) on both peers. Series: the TCP pipe over IPv4 and IPv6 (as the CLI does it), the
 * TCP pipe over IPv4 only (through the NATs), and every path racing. Target: median < 300 ms.
 * Needs root, `ip` and `nft`; otherwise the section says why it was skipped.
 *
 * @module
 */

import { spawnLabServer } from "../lab/harness.ts";
import { Lab, type LabProcess, skipReason } from "../lab/mod.ts";
import { type BenchSection, fmt, machineLine, percentile } from "./report.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const DENO = Deno.execPath();

/** Options of the benchmark. */
export interface PipeBenchOptions {
  /** Connections per series. @default {20} */
  runs?: number;
}

/** One series' measurements. */
export interface PipeSeries {
  /** What was measured. */
  name: string;
  /** Per connection: the later of the two peers' times, in ms. */
  ms: number[];
  /** The paths that won. */
  paths: string[];
  /** Connections that failed. */
  failures: number;
}

interface Sample {
  ms?: number;
  path?: string;
  error?: string;
}

async function series(
  lab: Lab,
  name: string,
  runs: number,
  path: string,
  servers: string[],
): Promise<PipeSeries> {
  const peer = (role: string): string[] => [
    DENO,
    "run",
    "-A",
    `${ROOT}bench/pipe_peer.ts`,
    role,
    String(runs),
    path,
    ...servers,
  ];
  await using creator = lab.spawn("a", peer("create"), { cwd: ROOT });
  await using joiner = lab.spawn("b", peer("join"), { cwd: ROOT, stdin: true });
  const result: PipeSeries = { name, ms: [], paths: [], failures: 0 };
  const next = async (proc: LabProcess): Promise<Sample> =>
    JSON.parse(await proc.waitForLine(/"run"/, { timeoutMs: 60_000 }));
  for (let i = 0; i < runs; i++) {
    const { code } = JSON.parse(await creator.waitForLine(/"code"/, { timeoutMs: 60_000 }));
    await joiner.write(`${code}\n`);
    const [a, b] = await Promise.all([next(creator), next(joiner)]);
    if (a.ms === undefined || b.ms === undefined) {
      result.failures++;
      continue;
    }
    result.ms.push(Math.max(a.ms, b.ms));
    result.paths.push(a.path ?? "?");
  }
  await joiner.closeStdin();
  return result;
}

/** Run the benchmark; returns the section for RESULTS.md (and the raw series). */
export async function benchPipeConnect(
  options: PipeBenchOptions = {},
): Promise<BenchSection & { series: PipeSeries[] }> {
  const runs = options.runs ?? 20;
  const heading = "## Direct pipe: PeerContact to authenticated pipe (NAT lab, cone ↔ cone)";
  const reason = await skipReason();
  if (reason !== null) {
    return {
      id: "pipe-connect",
      markdown: `${heading}\n\nSkipped: the NAT lab is unavailable here (${reason}).\n`,
      series: [],
    };
  }
  await using lab = await Lab.create({ a: "cone", b: "cone" });
  await using server = spawnLabServer(lab, [
    "--rate-limit",
    "0",
  ]);
  await server.waitForLine(/"event":"listening","service":"gday"/, { timeoutMs: 60_000 });
  const both = [lab.server.v4, `[${lab.server.v6}]`];
  const all: PipeSeries[] = [
    await series(lab, "direct TCP, IPv4 + IPv6 (as the CLI)", runs, "direct-tcp", both),
    await series(lab, "direct TCP, IPv4 only (through both NATs)", runs, "direct-tcp", [
      lab.server.v4,
    ]),
    await series(lab, "every path racing (TCP, UDP/QUIC), IPv4 + IPv6", runs, "any", both),
  ];
  const rows = all.map((s) => {
    const sorted = [...s.ms].sort((x, y) => x - y);
    const won = [...new Set(s.paths)].map((p) => `${p} ×${s.paths.filter((q) => q === p).length}`)
      .join(", ");
    return `| ${s.name} | ${sorted.length} | ${fmt(percentile(sorted, 0.5), 1)} | ${
      fmt(percentile(sorted, 0.9), 1)
    } | ${fmt(sorted.at(-1) ?? NaN, 1)} | ${s.failures} | ${won} |`;
  });
  const main = [...all[0]!.ms].sort((x, y) => x - y);
  const markdown = `${heading}

${runs} connections per series, both peers behind cone NATs (the lab's IPv6 is untranslated but
firewalled, so it is punched too). Time per connection = from \`PeerContact\` (the \`contacts\`
event of \`connectPeer\`) to the resolved, authenticated pipe, the later of the two peers.

| series | runs | median ms | p90 ms | max ms | failures | path won |
| --- | ---: | ---: | ---: | ---: | ---: | --- |
${rows.join("\n")}

Direct TCP (as the CLI) median: **${fmt(percentile(main, 0.5), 1)} ms** (target < 300 ms).

${machineLine()}
`;
  return { id: "pipe-connect", markdown, series: all };
}

if (import.meta.main) {
  const result = await benchPipeConnect({ runs: Number(Deno.args[0] ?? 20) });
  console.log(result.markdown);
}
