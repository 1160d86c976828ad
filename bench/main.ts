/**
 * `deno task bench [name...]`: run the end-to-end benchmarks and write `bench/RESULTS.md`.
 * With names, only those run and only their sections of the file are replaced.
 *
 * @module
 */

import { benchGdayExchange } from "./gday_exchange.ts";
import { benchPathsLab } from "./paths_lab.ts";
import { benchPipeConnect } from "./pipe_connect.ts";
import { benchRelayThroughput } from "./relay_throughput.ts";
import { benchBrokerReceivers } from "./broker_receivers.ts";
import { benchMediator } from "./mediator_pairing.ts";
import { benchRedisExchange } from "./redis_exchange.ts";
import { benchSoak } from "./soak_server.ts";
import { benchSecureThroughputSection } from "./secure_throughput.ts";
import { type BenchSection, mergeSection } from "./report.ts";

/** Every benchmark by name. */
export const BENCHMARKS: Record<string, () => Promise<BenchSection>> = {
  "gday-exchange": () => benchGdayExchange(),
  "paths-lab": () => benchPathsLab(),
  "pipe-connect": () => benchPipeConnect(),
  "secure-throughput": () => benchSecureThroughputSection(),
  "relay-throughput": () => benchRelayThroughput(),
  "broker": () => benchBrokerReceivers(),
  "mediator": () => benchMediator(),
  "redis": () => benchRedisExchange(),
  "soak": () => benchSoak(),
};

if (import.meta.main) {
  const names = Deno.args.length > 0 ? Deno.args : Object.keys(BENCHMARKS);
  for (const name of names) {
    if (!(name in BENCHMARKS)) {
      console.error(`Unknown benchmark "${name}"; known: ${Object.keys(BENCHMARKS).join(", ")}`);
      Deno.exit(2);
    }
  }
  const path = new URL("./RESULTS.md", import.meta.url);
  for (const name of names) {
    console.error(`Running ${name}...`);
    const section = await BENCHMARKS[name]!();
    const text = await Deno.readTextFile(path).catch(() => "");
    await Deno.writeTextFile(path, mergeSection(text, section));
    console.log(section.markdown);
  }
  console.error(`Wrote ${path.pathname}`);
}
