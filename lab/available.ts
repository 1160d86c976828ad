/**
 * Can this machine run the lab? Tests call {@linkcode skipReason} and ignore themselves when it
 * returns a reason.
 *
 * @module
 */

import { runCommand } from "./command.ts";
import { LabUnavailableError } from "./errors.ts";
import { addNetns, deleteNetns, NETNS_DIR, netnsArgv } from "./netns.ts";
import { ipv4Ruleset } from "./nat.ts";

/** Options for {@linkcode labProblems}. */
export interface CheckOptions {
  /**
   * Also create a throwaway namespace and load a NAT ruleset into it, which proves the kernel
   * supports everything (takes about 100 ms). @default {true}
   */
  probe?: boolean;
}

const TOOLS: readonly { argv: readonly string[]; fix: string }[] = [
  { argv: ["ip", "-V"], fix: "install iproute2 (apt-get install iproute2)" },
  { argv: ["bridge", "-V"], fix: "install iproute2 (apt-get install iproute2)" },
  { argv: ["nft", "--version"], fix: "install nftables (apt-get install nftables)" },
  { argv: ["sysctl", "--version"], fix: "install procps (apt-get install procps)" },
];

/**
 * Everything that stops the lab from running here, one line each with how to fix it; empty
 * when the lab can run.
 *
 * @example
 * ```ts
 * import { labProblems } from "./available.ts";
 * const problems = await labProblems({ probe: false });
 * if (!Array.isArray(problems)) throw new Error("Expected a list");
 * ```
 */
export async function labProblems(options: CheckOptions = {}): Promise<string[]> {
  const { probe = true } = options;
  if (Deno.build.os !== "linux") {
    return [`The lab needs Linux network namespaces; this is ${Deno.build.os}`];
  }
  const permissions: Deno.PermissionDescriptor[] = [
    { name: "run" },
    { name: "sys", kind: "uid" },
    { name: "read", path: NETNS_DIR },
  ];
  const denied = permissions.filter((p) => Deno.permissions.querySync(p).state !== "granted");
  if (denied.length > 0) {
    return [
      `Deno lacks ${denied.map((p) => `--allow-${p.name}`).join(", ")}; run with -A ` +
      "(e.g. `deno test -A --unstable-net tests/lab_test.ts`)",
    ];
  }
  const problems: string[] = [];
  if (Deno.uid() !== 0) {
    problems.push("The lab must run as root; re-run with sudo (e.g. `sudo deno task lab up`)");
  }
  const tools = await Promise.all(
    TOOLS.map(async (tool) => {
      const result = await runCommand(tool.argv).catch(() => null);
      return result?.success ? null : `\`${tool.argv[0]}\` is missing: ${tool.fix}`;
    }),
  );
  problems.push(...tools.filter((problem) => problem !== null));
  if (problems.length === 0 && probe) {
    const problem = await probeKernel();
    if (problem) problems.push(problem);
  }
  return problems;
}

async function probeKernel(): Promise<string | null> {
  const ns = `plprobe${crypto.getRandomValues(new Uint32Array(1))[0]?.toString(36)}`;
  try {
    await addNetns([ns]);
    await runCommand(netnsArgv(ns, ["nft", "-f", "-"]), {
      stdin: ipv4Ruleset("symmetric"),
      check: true,
      timeoutMs: 10_000,
    });
    return null;
  } catch (error) {
    const why = error instanceof Error ? error.message : String(error);
    return `Cannot create a network namespace with NAT rules (${why}); the lab needs ` +
      "CAP_SYS_ADMIN/CAP_NET_ADMIN and a kernel with nf_tables and nf_nat";
  } finally {
    await deleteNetns([ns]);
  }
}

/**
 * `null` when the lab can run here, else one sentence saying why not and how to fix it. Use it
 * to skip lab tests cleanly.
 *
 * @example Skip a test when the lab cannot run
 * ```ts
 * import { skipReason } from "./available.ts";
 * const reason = await skipReason();
 * if (reason !== null && reason.length === 0) throw new Error("Reasons are never empty");
 * // Deno.test({ name: "lab works", ignore: reason !== null, fn: async () => {} });
 * ```
 */
export async function skipReason(): Promise<string | null> {
  const problems = await labProblems();
  return problems.length === 0 ? null : problems.join("; ");
}

/**
 * Throw a {@linkcode LabUnavailableError} unless the lab can run here.
 *
 * @example
 * ```ts ignore
 * import { assertLabAvailable } from "./available.ts";
 * await assertLabAvailable();
 * ```
 */
export async function assertLabAvailable(options: CheckOptions = {}): Promise<void> {
  const problems = await labProblems(options);
  if (problems.length > 0) throw new LabUnavailableError(problems);
}
