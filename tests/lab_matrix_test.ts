/**
 * Issue "Every pair connects": the whole NAT matrix over IPv4 (none, cone, symmetric and cgnat
 * on each side, 10 pairs). Each pair connects through `server.ts` (gday, STUN and relay) and
 * moves 5 MB with matching hashes; the path is asserted: direct for none/cone/cgnat pairs,
 * direct-udp or relay for cone↔symmetric, relay for symmetric↔symmetric.
 */

import assert from "node:assert/strict";
import { Lab, type RouterKind, skipReason } from "../lab/mod.ts";
import { runPeers, startLabServer } from "../lab/harness.ts";

const reason = await skipReason();
if (reason) console.error(`lab_matrix_test: skipped: ${reason}`);

const KINDS: RouterKind[] = ["none", "cone", "symmetric", "cgnat"];
const BYTES = 5 * 1024 * 1024;

function expectedPaths(a: RouterKind, b: RouterKind): string[] {
  const easy = (k: RouterKind): boolean => k !== "symmetric";
  if (easy(a) && easy(b)) return ["direct-tcp", "direct-udp"];
  if (a === "symmetric" && b === "symmetric") return ["relay"];
  if ([a, b].includes("cone") && [a, b].includes("symmetric")) return ["direct-udp", "relay"];
  return ["direct-tcp", "direct-udp", "relay"]; // none↔symmetric, cgnat↔symmetric: any path
}

for (let i = 0; i < KINDS.length; i++) {
  for (let j = i; j < KINDS.length; j++) {
    const a = KINDS[i]!;
    const b = KINDS[j]!;
    Deno.test({
      name: `lab matrix: ${a} ↔ ${b} connects and moves 5 MB (IPv4)`,
      ignore: reason !== null,
      sanitizeOps: false,
      sanitizeResources: false,
      fn: async () => {
        await using lab = await Lab.create({ a, b });
        await using _server = await startLabServer(lab, [
          "--relay-port",
          "2312",
          "--relay-rate",
          "0",
        ]);
        const result = await runPeers(lab, [
          "--server",
          `${lab.server.v4}:2310`,
          "--relay",
          `${lab.server.v4}:2312`,
          "--bytes",
          String(BYTES),
          "-4",
        ]);
        const { creator, joiner } = result;
        console.log(
          `${a}↔${b}: ${creator.connected.path} connected in ${
            Math.round(Number(creator.connected.ms))
          } ms, ${joiner.done.bytes} bytes`,
        );
        assert.equal(creator.connected.event, "connected", JSON.stringify(creator.connected));
        assert.equal(joiner.connected.event, "connected", JSON.stringify(joiner.connected));
        assert.equal(
          creator.connected.path,
          joiner.connected.path,
          "both sides report the same path",
        );
        assert.ok(
          expectedPaths(a, b).includes(String(creator.connected.path)),
          `${a}↔${b} took ${creator.connected.path}, expected one of ${expectedPaths(a, b)}`,
        );
        assert.equal(joiner.done.bytes, BYTES);
        assert.equal(joiner.done.sha256, creator.done.sha256);
      },
    });
  }
}
