/**
 * Thin helpers over `ip netns`: list, create and remove named network namespaces and build
 * command lines that run inside one.
 *
 * @module
 */

import { runCommand } from "./command.ts";

/** Where `ip netns` keeps its named namespaces. */
export const NETNS_DIR = "/run/netns";

/**
 * The command line that runs `argv` inside namespace `ns` (`ip netns exec` replaces itself with
 * the command, so the child's pid is the command's pid).
 *
 * @example
 * ```ts
 * import { netnsArgv } from "./netns.ts";
 * const argv = netnsArgv("pl1-pub", ["ip", "addr"]);
 * if (argv.join(" ") !== "ip netns exec pl1-pub ip addr") throw new Error("Bad argv");
 * ```
 */
export function netnsArgv(ns: string, argv: readonly string[]): string[] {
  return ["ip", "netns", "exec", ns, ...argv];
}

/**
 * Names of all named network namespaces on this machine, sorted.
 *
 * @example
 * ```ts
 * import { listNetns } from "./netns.ts";
 * const names = await listNetns();
 * if (!Array.isArray(names)) throw new Error("Expected a list");
 * ```
 */
export async function listNetns(): Promise<string[]> {
  const names: string[] = [];
  try {
    for await (const entry of Deno.readDir(NETNS_DIR)) names.push(entry.name);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return [];
    throw error;
  }
  return names.sort();
}

/**
 * Create namespaces `names` with one `ip -batch` call; fails if any already exists.
 *
 * @example
 * ```ts ignore
 * import { addNetns, deleteNetns } from "./netns.ts";
 * await addNetns(["demo-a", "demo-b"]);
 * await deleteNetns(["demo-a", "demo-b"]);
 * ```
 */
export async function addNetns(names: readonly string[], signal?: AbortSignal): Promise<void> {
  if (names.length === 0) return;
  await runCommand(["ip", "-batch", "-"], {
    stdin: names.map((name) => `netns add ${name}\n`).join(""),
    check: true,
    signal,
  });
}

/**
 * Ids of the processes running inside namespace `ns` (empty when it does not exist).
 *
 * @example
 * ```ts ignore
 * import { netnsPids } from "./netns.ts";
 * const pids = await netnsPids("pl1-pub");
 * console.log(pids);
 * ```
 */
export async function netnsPids(ns: string): Promise<number[]> {
  const result = await runCommand(["ip", "netns", "pids", ns]);
  if (!result.success) return [];
  return result.stdout.split(/\s+/).filter((s) => /^\d+$/.test(s)).map(Number);
}

/**
 * Remove namespaces `names`: kill (SIGKILL) every process still inside them, then delete them.
 * Names that do not exist are skipped. Returns the names that are still present afterwards
 * (empty on success).
 *
 * @example
 * ```ts ignore
 * import { deleteNetns } from "./netns.ts";
 * const left = await deleteNetns(["demo-a"]);
 * if (left.length > 0) throw new Error(`Still there: ${left}`);
 * ```
 */
export async function deleteNetns(names: readonly string[]): Promise<string[]> {
  const present = new Set(await listNetns());
  const targets = names.filter((name) => present.has(name));
  if (targets.length === 0) return [];
  const pidLists = await Promise.all(targets.map(netnsPids));
  for (const pid of pidLists.flat()) {
    try {
      Deno.kill(pid, "SIGKILL");
    } catch {
      // Already gone.
    }
  }
  await runCommand(["ip", "-force", "-batch", "-"], {
    stdin: targets.map((name) => `netns del ${name}\n`).join(""),
  });
  const after = new Set(await listNetns());
  return targets.filter((name) => after.has(name));
}
