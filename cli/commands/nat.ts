/**
 * `client.ts nat`: ask a STUN server for this machine's public addresses and NAT behaviour, and
 * say what it means for direct connections.
 *
 * @module
 */

import type { Family } from "../../client/exchange.ts";
import {
  type NatFamilyReport,
  type NatFiltering,
  type NatMapping,
  natReport,
  type NatVerdict,
} from "../../client/nat.ts";
import { parseServerAddress, type ServerAddress } from "../../client/server_address.ts";
import { DEFAULT_STUN_PORT } from "../../protocol/stun.ts";
import { formatSocketAddr, type SocketAddr } from "../../protocol/socket_addr.ts";
import { flagHelp, type FlagSpec, parseFlags } from "../flags.ts";
import { type CliIo, EXIT, UsageError } from "../io.ts";
import { SERVER_ENV } from "./server_flags.ts";

const FLAGS: readonly FlagSpec[] = [
  {
    name: "server",
    type: "string",
    value: "HOST[:PORT]",
    help:
      `The STUN server (default: the host of $${SERVER_ENV}, or localhost; port ${DEFAULT_STUN_PORT})`,
  },
  { name: "ipv4", type: "boolean", short: "4", help: "Test IPv4 only" },
  { name: "ipv6", type: "boolean", short: "6", help: "Test IPv6 only" },
  {
    name: "timeout",
    type: "number",
    value: "SECONDS",
    min: 0.001,
    default: 30,
    help: "Give up after this long",
  },
  { name: "json", type: "boolean", help: "Print the report as one JSON object" },
];

const USAGE =
  `Report this machine's public addresses and how its NAT treats UDP, as a STUN server sees it.

Usage:
  client.ts nat [--server HOST[:PORT]] [-4|-6] [--json]

Tests run over IPv4 and IPv6 from one UDP socket per family: the public address, whether the
public address stays the same towards the server's two ports (mapping), and whether an answer
from the server's other port gets in (filtering). Without an answer from the other port a test
waits 3.5 s before concluding, so a report takes a few seconds.

Options:
`;

const VERDICT_WORDS: Readonly<Record<NatVerdict, string>> = {
  "no-nat": "no NAT",
  "direct-likely": "direct likely",
  "relay-for-symmetric-peers": "needs relay for symmetric peers",
  "unknown": "unknown",
  "no-answer": "no answer",
  "not-tested": "not tested",
};

const LABEL: Readonly<Record<Family, string>> = { v4: "IPv4", v6: "IPv6" };

const show = (addr: SocketAddr | null): string | null => addr && formatSocketAddr(addr);

function mappingWords(family: NatFamilyReport): string {
  const towards = family.changeIp ? "server addresses" : "server ports";
  const words: Record<NatMapping, string> = {
    "endpoint-independent": `the same public address towards both ${towards}`,
    "address-dependent": "a new public address for each server address",
    "address-and-port-dependent": `a new public port for each destination: ${
      show(family.public)
    }, then ${show(family.publicAlt)}`,
    "unknown": "not tested",
  };
  return `${family.mapping} (${words[family.mapping]})`;
}

function filteringWords(family: NatFamilyReport): string {
  const words: Record<NatFiltering, string> = {
    "endpoint-independent": "answers from another IP and port get in",
    "address-dependent": "answers from another port get in, from another IP they do not",
    "endpoint-independent-or-address-dependent":
      "answers from another port get in; the server has no second IP to tell more",
    "address-and-port-dependent": "answers from another port do not get in",
    "unknown": "not tested",
  };
  return `${family.filtering.replaceAll("-or-", " or ")} (${words[family.filtering]})`;
}

function familyLines(family: NatFamilyReport): string {
  const label = LABEL[family.family];
  if (family.public === null) return `${label}  ${family.summary}\n`;
  const nat = family.nat === null ? "" : family.nat ? ", behind NAT" : ", no NAT";
  return `${label}  public ${show(family.public)} (local port ${
    family.local?.port ?? "?"
  }${nat})\n` +
    `      mapping    ${mappingWords(family)}\n` +
    `      filtering  ${filteringWords(family)}\n` +
    `      => ${family.summary}\n`;
}

function familyJson(family: NatFamilyReport | null): Record<string, unknown> | null {
  if (family === null) return null;
  return {
    family: family.family,
    server: show(family.server),
    local: show(family.local),
    public: show(family.public),
    publicAlt: show(family.publicAlt),
    nat: family.nat,
    mapping: family.mapping,
    filtering: family.filtering,
    otherAddress: show(family.otherAddress),
    changeIp: family.changeIp,
    software: family.software,
    verdict: family.verdict,
    summary: family.summary,
    error: family.error,
  };
}

function chooseServer(values: Record<string, unknown>, io: CliIo): ServerAddress {
  const given = values.server as string | undefined;
  const text = given ?? io.env(SERVER_ENV) ?? "localhost";
  try {
    const address = parseServerAddress(text, DEFAULT_STUN_PORT);
    // $PEERLINK_SERVER names the gday server: only its host is the STUN server's.
    return given === undefined ? { ...address, port: DEFAULT_STUN_PORT } : address;
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

/**
 * Run `nat` with its arguments; resolves with the exit code: 0 when some family got an answer,
 * 1 when none did. Wrong usage throws a `UsageError` (exit code 2).
 *
 * @example
 * ```ts
 * import { natCommand } from "./nat.ts";
 * let out = "";
 * const io = { out: (t: string) => void (out += t), err: () => {}, env: () => undefined, isTerminal: false, signal: new AbortController().signal };
 * if (await natCommand(["--help"], io) !== 0 || !out.includes("--server")) throw new Error(out);
 * ```
 */
export async function natCommand(args: readonly string[], io: CliIo): Promise<number> {
  const { values } = parseFlags(args, FLAGS);
  if (values.help) {
    io.out(USAGE + flagHelp(FLAGS));
    return EXIT.ok;
  }
  if (values.ipv4 && values.ipv6) throw new UsageError("Give at most one of --ipv4 and --ipv6");
  const families: Family[] = values.ipv4 ? ["v4"] : values.ipv6 ? ["v6"] : ["v4", "v6"];
  const server = chooseServer(values, io);
  const json = values.json === true;
  const timeoutMs = (values.timeout as number) * 1000;
  const timeout = new AbortController();
  const timer = setTimeout(
    () => timeout.abort(new Error(`No report within ${values.timeout} s`)),
    timeoutMs,
  );
  const signal = AbortSignal.any([io.signal, timeout.signal]);
  let report;
  try {
    if (!json) io.err(`Asking the STUN server at ${server.hostname}:${server.port}...\n`);
    report = await natReport({ server, families, signal });
  } catch (error) {
    if (io.signal.aborted) {
      io.err("Cancelled\n");
      return EXIT.failed;
    }
    if (timeout.signal.aborted) {
      io.err(`error: ${(timeout.signal.reason as Error).message}\n`);
      return EXIT.failed;
    }
    throw error;
  } finally {
    clearTimeout(timer);
  }
  const answered = [report.v4, report.v6].some((family) => family?.public != null);
  if (json) {
    io.out(
      JSON.stringify({
        server: report.server,
        verdict: report.verdict,
        summary: report.summary,
        v4: familyJson(report.v4),
        v6: familyJson(report.v6),
      }) + "\n",
    );
  } else {
    io.out(`STUN server ${report.server}\n`);
    for (const family of [report.v4, report.v6]) if (family) io.out(familyLines(family));
    const best = [report.v4, report.v6].find((family) => family?.verdict === report.verdict);
    io.out(`Verdict: ${VERDICT_WORDS[report.verdict]}${best ? ` (${LABEL[best.family]})` : ""}\n`);
  }
  if (!answered && !json) {
    io.err("error: no STUN answer: check the server address, and that UDP can reach it\n");
  }
  return answered ? EXIT.ok : EXIT.failed;
}
