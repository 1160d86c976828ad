/**
 * The `deno task lab` command line, as a function of its arguments and injected output so it
 * can be tested. `lab/main.ts` wires it to `Deno.args`, the console and Ctrl-C.
 *
 * @module
 */

import { Lab } from "./lab.ts";
import { listNetns } from "./netns.ts";
import {
  isRouterKind,
  type LabHost,
  type LabRouter,
  PREFIX_PATTERN,
  ROUTER_KINDS,
  type RouterKind,
} from "./topology.ts";

/** Where the CLI writes, and how it learns about Ctrl-C. */
export interface LabCliIo {
  /** Print a line of normal output. */
  stdout(line: string): void;
  /** Print a line of diagnostics. */
  stderr(line: string): void;
  /** Aborts on Ctrl-C: cancels `up` (removing what was built) and ends `up --foreground`. */
  signal?: AbortSignal;
}

/** The prefix of the lab the CLI manages unless `--prefix` says otherwise. */
export const DEFAULT_CLI_PREFIX = "plab";

/** Exit code for a bad command line. */
export const USAGE_EXIT_CODE = 2;

/**
 * The CLI's help text.
 *
 * @example
 * ```ts
 * import { LAB_USAGE } from "./cli.ts";
 * if (!LAB_USAGE.includes("deno task lab up")) throw new Error("Bad usage text");
 * ```
 */
export const LAB_USAGE: string =
  `peerlink NAT lab: a small internet in Linux network namespaces (root only)

Usage:
  deno task lab up [KIND_A] [KIND_B] [options]   build the lab (default: cone cone)
  deno task lab down [--prefix P | --all]        remove it (and processes still inside it)
  deno task lab status [--prefix P]              show it, and any other labs left behind
  deno task lab --help                           show this help

Router kinds:
  none       routing only, no NAT: the host's private address is routed
  cone       port-preserving, endpoint-independent mapping, port-restricted filtering
  symmetric  a random public port per destination (masquerade random,fully-random)
  cgnat      a cone home router behind a cone ISP router (100.64.0.0/10 between)

Options:
  --prefix P        namespace prefix (default ${DEFAULT_CLI_PREFIX}): namespaces are P-pub,
                    P-router-a, P-host-a, P-isp-a (cgnat), and the same for b
  --no-ipv6         IPv4 only (IPv6 disabled in every namespace)
  --no-v6-firewall  let unsolicited IPv6 reach hosts behind NAT routers
  --foreground, -f  keep the lab while this command runs; Ctrl-C removes it
  --all             (down) remove every lab found, including ones tests left behind

Example:
  deno task lab up cone symmetric
  ip netns exec ${DEFAULT_CLI_PREFIX}-host-a bash
  deno task lab down`;

interface Parsed {
  command: "up" | "down" | "status" | "help";
  kinds: RouterKind[];
  prefix: string;
  ipv6: boolean;
  ipv6Firewall: boolean;
  foreground: boolean;
  all: boolean;
}

class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/**
 * Run the lab CLI with `args` (without the program name). Resolves with the exit code:
 * 0 on success, 1 on failure (e.g. not root), {@linkcode USAGE_EXIT_CODE} on a bad command line.
 *
 * @example A bad router kind is a usage error
 * ```ts
 * import { runLabCli, USAGE_EXIT_CODE } from "./cli.ts";
 * const errors: string[] = [];
 * const code = await runLabCli(["up", "fullcone"], {
 *   stdout: () => {},
 *   stderr: (line) => errors.push(line),
 * });
 * if (code !== USAGE_EXIT_CODE || !errors.join("\n").includes("fullcone")) {
 *   throw new Error("Expected a usage error");
 * }
 * ```
 */
export async function runLabCli(args: readonly string[], io: LabCliIo): Promise<number> {
  let parsed: Parsed;
  try {
    parsed = parseArgs(args);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    io.stderr(`error: ${error.message}`);
    io.stderr("Run `deno task lab --help` for usage.");
    return USAGE_EXIT_CODE;
  }
  try {
    switch (parsed.command) {
      case "help":
        io.stdout(LAB_USAGE);
        return 0;
      case "up":
        return await up(parsed, io);
      case "down":
        return await down(parsed, io);
      case "status":
        return await status(parsed, io);
    }
  } catch (error) {
    io.stderr(`error: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  }
}

function parseArgs(args: readonly string[]): Parsed {
  const parsed: Parsed = {
    command: "help",
    kinds: [],
    prefix: DEFAULT_CLI_PREFIX,
    ipv6: true,
    ipv6Firewall: true,
    foreground: false,
    all: false,
  };
  const positional: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] ?? "";
    switch (arg) {
      case "-h":
      case "--help":
      case "help":
        return { ...parsed, command: "help" };
      case "--no-ipv6":
        parsed.ipv6 = false;
        break;
      case "--no-v6-firewall":
        parsed.ipv6Firewall = false;
        break;
      case "-f":
      case "--foreground":
        parsed.foreground = true;
        break;
      case "--all":
        parsed.all = true;
        break;
      case "--prefix": {
        const value = args[++i];
        if (value === undefined) throw new UsageError("--prefix needs a value, e.g. --prefix plab");
        parsed.prefix = value;
        break;
      }
      default:
        if (arg.startsWith("--prefix=")) parsed.prefix = arg.slice("--prefix=".length);
        else if (arg.startsWith("-")) throw new UsageError(`unknown option '${arg}'`);
        else positional.push(arg);
    }
  }
  if (!PREFIX_PATTERN.test(parsed.prefix)) {
    throw new UsageError(
      `bad prefix '${parsed.prefix}': use a lower-case letter and up to 11 lower-case letters ` +
        "or digits",
    );
  }
  const [command, ...rest] = positional;
  if (command === undefined) return parsed;
  if (command !== "up" && command !== "down" && command !== "status") {
    throw new UsageError(`unknown command '${command}': use up, down or status`);
  }
  parsed.command = command;
  if (command === "up") {
    if (rest.length > 2) {
      throw new UsageError(
        `up takes at most two router kinds, got ${rest.length}: ${rest.join(" ")}`,
      );
    }
    for (const kind of rest) {
      if (!isRouterKind(kind)) {
        throw new UsageError(
          `unknown router kind '${kind}': use one of ${ROUTER_KINDS.join(", ")}`,
        );
      }
      parsed.kinds.push(kind);
    }
  } else if (rest.length > 0) {
    throw new UsageError(`${command} takes no arguments, got: ${rest.join(" ")}`);
  }
  if (parsed.all && command !== "down") throw new UsageError("--all only goes with down");
  if (parsed.foreground && command !== "up") throw new UsageError("--foreground only goes with up");
  return parsed;
}

async function up(parsed: Parsed, io: LabCliIo): Promise<number> {
  const [a = "cone", b = "cone"] = parsed.kinds;
  if (parsed.foreground && !io.signal) {
    throw new Error("--foreground needs a way to be interrupted (no signal given)");
  }
  const lab = await Lab.create({
    a,
    b,
    prefix: parsed.prefix,
    ipv6: parsed.ipv6,
    ipv6Firewall: parsed.ipv6Firewall,
    signal: io.signal,
  });
  if (parsed.foreground) {
    try {
      describe(lab, io);
      io.stdout("");
      io.stdout("Press Ctrl-C to remove the lab.");
      await new Promise<void>((resolve) => {
        if (io.signal?.aborted) resolve();
        else io.signal?.addEventListener("abort", () => resolve(), { once: true });
      });
    } finally {
      await lab.destroy();
      io.stdout(`Lab '${lab.prefix}' removed.`);
    }
    return 0;
  }
  describe(lab, io);
  io.stdout("");
  io.stdout(`Remove it with: deno task lab down${prefixFlag(parsed.prefix)}`);
  return 0;
}

async function down(parsed: Parsed, io: LabCliIo): Promise<number> {
  const prefixes = parsed.all ? await labPrefixes() : [parsed.prefix];
  let removed = 0;
  for (const prefix of prefixes) {
    const names = await Lab.remove(prefix);
    removed += names.length;
    if (names.length > 0) io.stdout(`Removed lab '${prefix}': ${names.join(", ")}`);
  }
  if (removed === 0) io.stdout(parsed.all ? "No labs found." : `No lab '${parsed.prefix}' found.`);
  return 0;
}

async function status(parsed: Parsed, io: LabCliIo): Promise<number> {
  const lab = await Lab.open(parsed.prefix);
  if (lab) describe(lab, io);
  else {
    io.stdout(
      `No lab '${parsed.prefix}' is up; start one with \`deno task lab up${
        prefixFlag(parsed.prefix)
      } cone cone\`.`,
    );
  }
  const others = (await labPrefixes()).filter((prefix) => prefix !== parsed.prefix);
  if (others.length > 0) {
    io.stdout("");
    io.stdout(`Other labs present: ${others.join(", ")}`);
    io.stdout(
      "Remove one with `deno task lab down --prefix P`, or all with `deno task lab down --all` " +
        "(this also removes labs of tests still running).",
    );
  }
  return lab ? 0 : 1;
}

/** Prefixes of every namespace set that looks like a lab (has a `<prefix>-pub` or site). */
async function labPrefixes(): Promise<string[]> {
  const pattern = /^([a-z][a-z0-9]{0,11})-(pub|host-[ab]|router-[ab]|isp-[ab])$/;
  const prefixes = new Set<string>();
  for (const name of await listNetns()) {
    const match = pattern.exec(name);
    if (match?.[1]) prefixes.add(match[1]);
  }
  return [...prefixes].sort();
}

function prefixFlag(prefix: string): string {
  return prefix === DEFAULT_CLI_PREFIX ? "" : ` --prefix ${prefix}`;
}

function describe(lab: Lab, io: LabCliIo): void {
  const { server, hostA, hostB } = lab;
  const v6 = lab.ipv6
    ? hostA.router.v6Firewall || hostB.router.v6Firewall
      ? "IPv6 on, no NAT, firewalled on NAT sites"
      : "IPv6 on, no NAT, no firewall"
    : "IPv4 only";
  io.stdout(`Lab '${lab.prefix}': site A ${hostA.kind}, site B ${hostB.kind}; ${v6}`);
  io.stdout("");
  const rows: string[][] = [["node", "namespace", "IPv4", "IPv6", "notes"]];
  rows.push([
    "server",
    server.ns,
    `${server.v4}, ${server.v4Alt}`,
    server.v6 ? `${server.v6}, ${server.v6Alt}` : "-",
    "public segment (bridge br0)",
  ]);
  for (const host of [hostA, hostB]) rows.push(...siteRows(host));
  const widths = rows[0]?.map((_, col) => Math.max(...rows.map((row) => (row[col] ?? "").length)));
  for (const row of rows) {
    io.stdout("  " + row.map((cell, col) => cell.padEnd(widths?.[col] ?? 0)).join("  ").trimEnd());
  }
  io.stdout("");
  io.stdout("Run commands inside a namespace, e.g.:");
  io.stdout(`  ip netns exec ${hostA.ns} bash`);
  io.stdout(`  ip netns exec ${hostA.ns} ip route get ${server.v4}`);
  io.stdout(`  ip netns exec ${server.ns} deno run -A server.ts`);
  io.stdout(`  ip netns exec ${hostA.router.ns} nft list ruleset`);
  io.stdout(`  ip netns exec ${hostA.router.ns} conntrack -L   (if conntrack-tools is installed)`);
}

function siteRows(host: LabHost): string[][] {
  const site = host.site.toUpperCase();
  const router = (name: string, r: LabRouter): string[] => [
    name,
    r.ns,
    `wan ${r.wanV4}, lan ${r.lanV4}`,
    r.wanV6 ? `wan ${r.wanV6}, lan ${r.lanV6}` : "-",
    `${r.nat === "none" ? "no NAT" : `${r.nat} NAT`}${r.v6Firewall ? ", IPv6 firewall" : ""}`,
  ];
  return [
    [
      `host ${site}`,
      host.ns,
      host.v4,
      host.v6 ?? "-",
      `${host.kind}; the server sees ${host.publicV4}`,
    ],
    router(`router ${site}`, host.router),
    ...(host.isp ? [router(`isp ${site}`, host.isp)] : []),
  ];
}
