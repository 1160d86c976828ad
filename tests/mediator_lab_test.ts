/**
 * In the NAT lab: two peerlink clients behind NAT routers pair by public keys through a
 * mediator on the public segment, punch through their NATs and move data both ways
 * (`client.ts pair`, `server.ts --mediator-port`, as people run them).
 */

import { spawnLabServer } from "../lab/harness.ts";
import assert from "node:assert/strict";
import { runClient } from "../cli/main.ts";
import { Lab, type LabProcess, skipReason } from "../lab/mod.ts";
import { freePortArgs } from "./mediator_helpers.ts";

const reason = await skipReason();
if (reason !== null) console.warn(`NAT lab tests of the mediator are skipped: ${reason}`);
const ignore = reason !== null;

const ROOT = new URL("../", import.meta.url).pathname;
const DENO = Deno.execPath();
const STEP_TIMEOUT_MS = 30_000;

async function keygen(path: string): Promise<string> {
  let out = "";
  const io = {
    out: (t: string) => void (out += t),
    err: () => {},
    env: () => undefined,
    isTerminal: false,
    signal: new AbortController().signal,
  };
  assert.equal(await runClient(["keygen", "--out", path], io), 0);
  return out.trim();
}

/** `server.ts` with a mediator in the server namespace; resolves with the mediator's port. */
async function startMediator(lab: Lab): Promise<{ proc: LabProcess; port: number }> {
  const proc = spawnLabServer(lab, [
    ...freePortArgs(),
    "--mediator-port",
    "0",
  ]);
  const line = await proc.waitForLine(/"event":"listening","service":"mediator"/, {
    timeoutMs: STEP_TIMEOUT_MS,
  });
  const addr = JSON.parse(line).addr as string;
  return { proc, port: Number(addr.slice(addr.lastIndexOf(":") + 1)) };
}

Deno.test({
  name: "mediator lab: two clients behind cone NATs pair by public keys and move data both ways",
  ignore,
  fn: async () => {
    await using lab = await Lab.create({ a: "cone", b: "cone" });
    const dir = await Deno.makeTempDir({ prefix: "peerlink-lab-pair-" });
    try {
      const [pubA, pubB] = await Promise.all([keygen(`${dir}/a.key`), keygen(`${dir}/b.key`)]);
      const { port } = await startMediator(lab);
      const mediator = `${lab.server.v4}:${port}`;
      const pair = (site: "a" | "b", key: string, peer: string): LabProcess =>
        lab.spawn(site, [
          DENO,
          "run",
          "-A",
          `${ROOT}client.ts`,
          "pair",
          "-4",
          "--key",
          key,
          "--peer",
          peer,
          "--mediator",
          mediator,
          "--timeout",
          "30",
        ], { cwd: ROOT, stdin: true });
      await using procA = pair("a", `${dir}/a.key`, pubB);
      await using procB = pair("b", `${dir}/b.key`, pubA);
      const fromA = "hello from behind router A\n".repeat(2000);
      const fromB = "and hello back from behind router B\n";
      await Promise.all([
        procA.write(fromA).then(() => procA.closeStdin()),
        procB.write(fromB).then(() => procB.closeStdin()),
      ]);
      const readAll = async (proc: LabProcess): Promise<string> => {
        const lines: string[] = [];
        for (;;) {
          const line = await proc.readLine({ timeoutMs: STEP_TIMEOUT_MS });
          if (line === null) return lines.map((l) => l + "\n").join("");
          lines.push(line);
        }
      };
      const [outA, outB] = await Promise.all([readAll(procA), readAll(procB)]);
      const [statusA, statusB] = await Promise.all([procA.status, procB.status]);
      assert.equal(statusA.code, 0, procA.stderr);
      assert.equal(statusB.code, 0, procB.stderr);
      assert.equal(outB, fromA);
      assert.equal(outA, fromB);
      // Each reached the other through the other's router: a public address, not 10.77.x.
      assert.match(
        procA.stderr,
        new RegExp(`Connected to ${pubB} at ${lab.hostB.publicV4.replaceAll(".", "\\.")}:\\d+`),
      );
      assert.match(
        procB.stderr,
        new RegExp(`Connected to ${pubA} at ${lab.hostA.publicV4.replaceAll(".", "\\.")}:\\d+`),
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
