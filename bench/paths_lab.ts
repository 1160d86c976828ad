/**
 * Benchmark (NAT lab, root only): time to first byte per path, and birthday probing.
 *
 * - Time to first byte, from the peer's contact (PeerContact) to the first plaintext byte at the
 *   joiner, cone↔cone, for each path forced alone: direct TCP, direct UDP (QUIC), relay.
 * - Time from PeerContact to the authenticated pipe, cone↔cone, auto policy (target: median
 *   under 300 ms).
 * - Birthday probing: cone↔symmetric over UDP only, success rate and time.
 *
 * @module
 */

import { Lab, skipReason } from "../lab/mod.ts";
import { type PairResult, runPeers, startLabServer } from "../lab/harness.ts";
import { type BenchSection, fmt, machineLine, percentile } from "./report.ts";

/** Options of the benchmark. */
export interface PathsLabOptions {
  /** Runs per direct/relay path. @default {10} */
  runs?: number;
  /** Birthday runs. @default {20} */
  birthdayRuns?: number;
}

interface Series {
  label: string;
  ms: number[];
  failures: number;
  paths: Map<string, number>;
}

async function series(
  label: string,
  a: "cone" | "symmetric",
  b: "cone" | "symmetric",
  args: string[],
  runs: number,
  measure: (r: PairResult) => number,
): Promise<Series> {
  const result: Series = { label, ms: [], failures: 0, paths: new Map() };
  await using lab = await Lab.create({ a, b });
  await using _server = await startLabServer(lab, ["--relay-port", "2312", "--relay-rate", "0"]);
  for (let i = 0; i < runs; i++) {
    const r = await runPeers(lab, [
      "--server",
      `${lab.server.v4}:2310`,
      "--relay",
      `${lab.server.v4}:2312`,
      "-4",
      ...args,
    ]);
    if (r.joiner.connected.event !== "connected" || r.joiner.done.event !== "done") {
      result.failures++;
      continue;
    }
    const path = String(r.joiner.connected.path);
    result.paths.set(path, (result.paths.get(path) ?? 0) + 1);
    result.ms.push(measure(r));
  }
  result.ms.sort((x, y) => x - y);
  return result;
}

const row = (s: Series, runs: number): string =>
  `| ${s.label} | ${runs - s.failures}/${runs} | ${fmt(percentile(s.ms, 0.5))} | ${
    fmt(percentile(s.ms, 0.9))
  } | ${[...s.paths].map(([p, n]) => `${p} ×${n}`).join(", ")} |`;

/** Run the benchmark; returns the section for RESULTS.md (a note when the lab is unavailable). */
export async function benchPathsLab(options: PathsLabOptions = {}): Promise<BenchSection> {
  const runs = options.runs ?? 10;
  const birthdayRuns = options.birthdayRuns ?? 20;
  const reason = await skipReason();
  if (reason !== null) {
    return {
      id: "paths-lab",
      markdown: `## Paths in the NAT lab (issues 4 and 5)\n\nNot measured: ${reason}\n`,
    };
  }
  const firstByte = (r: PairResult): number => Number(r.joiner.firstByte?.ms);
  const pipe = (r: PairResult): number => Number(r.joiner.connected.ms);
  const ttfb = [
    await series(
      "direct-tcp (UDP and relay off)",
      "cone",
      "cone",
      ["--disable", "direct-udp,relay"],
      runs,
      firstByte,
    ),
    await series(
      "direct-udp (TCP and relay off)",
      "cone",
      "cone",
      ["--disable", "direct-tcp,relay"],
      runs,
      firstByte,
    ),
    await series("relay (relay-only)", "cone", "cone", ["--policy", "relay-only"], runs, firstByte),
  ];
  const auto = await series("auto, cone↔cone", "cone", "cone", [], 20, pipe);
  const birthday = await series(
    "cone↔symmetric, UDP only",
    "cone",
    "symmetric",
    ["--disable", "direct-tcp,relay"],
    birthdayRuns,
    pipe,
  );
  const markdown = `## Paths in the NAT lab (issues 4 and 5)

Measured in the network-namespace lab (no added latency: \`tc netem\` is missing on these
kernels), IPv4, \`server.ts\` with the relay in the public segment, \`lab/peer_main.ts\` on the
hosts. Times are from the peer's contact (PeerContact) to the event, in ms.

### Time to first byte per path (cone↔cone, ${runs} runs each)

| path | connected | median ms | p90 ms | path taken |
| --- | ---: | ---: | ---: | --- |
${ttfb.map((s) => row(s, runs)).join("\n")}

### PeerContact to authenticated pipe (cone↔cone, auto policy, 20 runs; target median < 300 ms)

| pair | connected | median ms | p90 ms | path taken |
| --- | ---: | ---: | ---: | --- |
${row(auto, 20)}

### Birthday probing (cone↔symmetric, UDP only, ${birthdayRuns} runs)

| pair | success | median ms | p90 ms | path taken |
| --- | ---: | ---: | ---: | --- |
${row(birthday, birthdayRuns)}

The symmetric side opens 256 extra sockets toward the cone side's public address; the cone side
sprays random ports of the symmetric side's public IP (32 probes every 20 ms, at most 6,000,
starting after 1 s without a direct path).

${machineLine()}
`;
  return { id: "paths-lab", markdown };
}

if (import.meta.main) {
  console.log(
    (await benchPathsLab({
      runs: Number(Deno.args[0] ?? 10),
      birthdayRuns: Number(Deno.args[1] ?? 20),
    })).markdown,
  );
}
