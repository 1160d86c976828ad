/**
 * Wait until a freshly built lab passes packets: every interface is operationally up and every
 * bridge port forwards. The kernel applies carrier changes asynchronously (rate-limited to about
 * once a second for some devices), so without this wait the first packets can vanish.
 *
 * @module
 */

import { runCommand } from "./command.ts";

/** Options for {@linkcode waitForLinks}. */
export interface WaitForLinksOptions {
  /** Give up after this many milliseconds. @default {5000} */
  timeoutMs?: number;
  /** How often to look, in milliseconds. @default {20} */
  intervalMs?: number;
  /** Give up (rejecting with `signal.reason`) when this aborts. */
  signal?: AbortSignal;
}

interface JsonLink {
  ifname?: string;
  operstate?: string;
  state?: string;
  link_type?: string;
  linkinfo?: { info_kind?: string };
}

/**
 * The interfaces of `ns` that cannot pass packets yet, as `ns:ifname (state)`; empty when all
 * can. Loopback and bridges themselves are not checked (their operstate stays UNKNOWN).
 *
 * @example
 * ```ts ignore
 * import { linksNotReady } from "./ready.ts";
 * console.log(await linksNotReady("pl1-pub")); // e.g. ["pl1-pub:port-a (disabled)"]
 * ```
 */
export async function linksNotReady(ns: string, signal?: AbortSignal): Promise<string[]> {
  const [links, ports] = await Promise.all([
    runCommand(["ip", "-j", "-d", "-n", ns, "link", "show"], { check: true, signal }),
    runCommand(["bridge", "-j", "-n", ns, "link", "show"], { check: true, signal }),
  ]);
  const notReady: string[] = [];
  for (const link of parse(links.stdout)) {
    if (link.link_type === "loopback" || link.linkinfo?.info_kind === "bridge") continue;
    if (link.operstate !== "UP") notReady.push(`${ns}:${link.ifname} (${link.operstate})`);
  }
  for (const port of parse(ports.stdout)) {
    if (port.state !== "forwarding") notReady.push(`${ns}:${port.ifname} (${port.state})`);
  }
  return notReady;
}

/**
 * Wait until {@linkcode linksNotReady} is empty for every namespace in `namespaces`. Rejects
 * with an `Error` naming the stuck interfaces when the time runs out.
 *
 * @example
 * ```ts ignore
 * import { waitForLinks } from "./ready.ts";
 * await waitForLinks(["pl1-pub", "pl1-host-a"], { timeoutMs: 3000 });
 * ```
 */
export async function waitForLinks(
  namespaces: readonly string[],
  options: WaitForLinksOptions = {},
): Promise<void> {
  const { timeoutMs = 5000, intervalMs = 20, signal } = options;
  const until = Date.now() + timeoutMs;
  for (;;) {
    const notReady = (await Promise.all(namespaces.map((ns) => linksNotReady(ns, signal)))).flat();
    if (notReady.length === 0) return;
    if (Date.now() >= until) {
      throw new Error(`Interfaces not up after ${timeoutMs} ms: ${notReady.join(", ")}`);
    }
    signal?.throwIfAborted();
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

function parse(json: string): JsonLink[] {
  const value: unknown = JSON.parse(json.trim() === "" ? "[]" : json);
  return Array.isArray(value) ? value as JsonLink[] : [];
}
