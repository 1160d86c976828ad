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

/**
 * Start `server.ts` in the lab's server namespace; resolves once `listeners` listeners are up.
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
  const server = lab.spawn("server", [
    "sh",
    "-c",
    `exec deno run -A ${ROOT}server.ts --log-format json --rate-limit 0 ${args.join(" ")} 2>&1`,
  ]);
  for (let i = 0; i < listeners; i++) {
    await server.waitForLine((line) => line.includes('"event":"listening"'), { timeoutMs: 30_000 });
  }
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
