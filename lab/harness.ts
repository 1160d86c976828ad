/**
 * Run peerlink inside the NAT lab: a `server.ts` in the public segment and `lab/peer_main.ts`
 * peers on the hosts. Used by the lab tests and the lab benchmarks.
 *
 * @module
 */

import type { Lab } from "./lab.ts";
import type { LabNode } from "./topology.ts";
import type { LabProcess } from "./process.ts";

const ROOT = new URL("../", import.meta.url).pathname;

/** A `listening` log line of `server.ts`. */
export interface ListeningEvent {
  /** The service, e.g. `"gday"`. */
  service: string;
  /** `"tcp"`, `"tls"`, `"udp"`, ... */
  transport: string;
  /** The bound address, e.g. `"198.51.100.10:2310"`. */
  addr: string;
  /** Its port. */
  port: number;
}

/**
 * Spawn `server.ts` (JSON logs) in the lab's server namespace, its log (stderr) on the process's
 * stdout so tests can wait for lines.
 *
 * @example
 * ```ts ignore
 * await using server = spawnLabServer(lab, ["--relay-port", "2316"]);
 * await waitForListener(server, "relay");
 * ```
 */
export function spawnLabServer(lab: Lab, args: readonly string[] = []): LabProcess {
  return lab.spawn("server", [
    "sh",
    "-c",
    'exec "$@" 2>&1',
    "sh",
    Deno.execPath(),
    "run",
    "-A",
    `${ROOT}server.ts`,
    "--log-format",
    "json",
    ...args,
  ], { cwd: ROOT });
}

/**
 * Wait for the server's next `listening` line (of `service`, when given) and return it.
 *
 * @example
 * ```ts ignore
 * const { port } = await waitForListener(server, "mediator");
 * ```
 */
export async function waitForListener(
  server: LabProcess,
  service?: string,
  timeoutMs = 60_000,
): Promise<ListeningEvent> {
  const line = await server.waitForLine(
    (l) =>
      l.includes('"event":"listening"') &&
      (service === undefined || l.includes(`"service":"${service}"`)),
    { timeoutMs },
  );
  const event = JSON.parse(line);
  return {
    service: event.service,
    transport: event.transport,
    addr: event.addr,
    port: Number(event.addr.slice(event.addr.lastIndexOf(":") + 1)),
  };
}

/**
 * Start `server.ts` (no rate limit) in the lab's server namespace; resolves once `listeners`
 * listeners are up.
 *
 * @example
 * ```ts ignore
 * await using server = await startLabServer(lab, ["--relay-port", "2312"]);
 * ```
 */
export async function startLabServer(
  lab: Lab,
  args: string[] = [],
  listeners = 1,
): Promise<LabProcess> {
  const server = spawnLabServer(lab, ["--rate-limit", "0", ...args]);
  for (let i = 0; i < listeners; i++) await waitForListener(server, undefined, 30_000);
  return server;
}

/** One JSON event line from `lab/peer_main.ts`. */
export interface PeerEvent {
  event: "code" | "connected" | "first-byte" | "done" | "error";
  [key: string]: unknown;
}

/**
 * Read events from a peer until one of `kinds` (or an error) arrives.
 *
 * @example
 * ```ts ignore
 * const event = await nextEvent(peer, ["connected"]);
 * ```
 */
export async function nextEvent(
  peer: LabProcess,
  kinds: PeerEvent["event"][],
  timeoutMs = 60_000,
): Promise<PeerEvent> {
  for (;;) {
    const line = await peer.readLine({ timeoutMs });
    if (line === null) throw new Error(`Peer exited early; stderr:\n${peer.stderr}`);
    let event: PeerEvent;
    try {
      event = JSON.parse(line);
    } catch {
      continue;
    }
    if (event.event === "error" || kinds.includes(event.event)) return event;
  }
}

/** The result of one creator/joiner pair. */
export interface PairResult {
  creator: { connected: PeerEvent; done: PeerEvent };
  joiner: { connected: PeerEvent; firstByte: PeerEvent | null; done: PeerEvent };
}

/**
 * Run `lab/peer_main.ts` on host A (creator) and host B (joiner) with the same arguments.
 *
 * @example
 * ```ts ignore
 * const { creator, joiner } = await runPeers(lab, ["--server", `${lab.server.v4}:2310`, "-4"]);
 * ```
 */
export async function runPeers(
  lab: Lab,
  args: string[],
  from: [LabNode, LabNode] = ["a", "b"],
): Promise<PairResult> {
  const peer = (node: LabNode, extra: string[]): LabProcess =>
    lab.spawn(node, ["deno", "run", "-A", `${ROOT}lab/peer_main.ts`, ...args, ...extra]);
  const creator = peer(from[0], []);
  const first = await nextEvent(creator, ["code"], 60_000);
  if (first.event === "error") throw new Error(`Creator failed: ${first.message}`);
  const joiner = peer(from[1], ["--code", String(first.code)]);
  try {
    const [cConnected, jConnected] = await Promise.all([
      nextEvent(creator, ["connected"]),
      nextEvent(joiner, ["connected"]),
    ]);
    if (cConnected.event === "error" || jConnected.event === "error") {
      return {
        creator: { connected: cConnected, done: cConnected },
        joiner: { connected: jConnected, firstByte: null, done: jConnected },
      };
    }
    const jFirst = await nextEvent(joiner, ["first-byte"]);
    const [cDone, jDone] = await Promise.all([
      nextEvent(creator, ["done"]),
      nextEvent(joiner, ["done"]),
    ]);
    return {
      creator: { connected: cConnected, done: cDone },
      joiner: { connected: jConnected, firstByte: jFirst, done: jDone },
    };
  } finally {
    await Promise.all([creator.stop(), joiner.stop()]);
  }
}
