/**
 * The connection broker in the NAT lab, end to end through the command line: `server.ts
 * --broker-port` on the public segment, `client.ts listen` on host A (the receiver) and
 * `client.ts dial` on host B (the sender). Each test checks the broker's step log (its
 * `broker_request` line), which path formed, and that bytes flowed both ways.
 *
 * The lab's routers are Linux conntrack NATs. Two things decide whether the faithful p2prs flow
 * can work through them, and the tests cover both sides of each:
 *
 * - A NAT that tracks TCP windows (Linux's default, `nf_conntrack_tcp_be_liberal=0`) remembers
 *   the sequence number of the receiver's aborted step-6 SYN; the SYN-ACK the receiver's
 *   listener sends for step 12 starts a new sequence, so the NAT drops it as out of window.
 *   Many home routers do not track windows; `liberal: true` makes the receiver's routers behave
 *   so (`be_liberal=1`), and then the twelve steps connect. Otherwise the simultaneous-open
 *   fallback connects.
 * - A sender without NAT answers the step-6 SYN with a RST, and Linux conntrack deletes a
 *   mapping whose only reply was a RST: step 12 cannot pass, the fallback connects.
 */

import { spawnLabServer } from "../lab/harness.ts";
import assert from "node:assert/strict";
import { Lab, type LabProcess, type RouterKind, skipReason } from "../lab/mod.ts";

const reason = await skipReason();
if (reason !== null) console.warn(`NAT lab tests of the connection broker are skipped: ${reason}`);
const ignore = reason !== null;

const ROOT = new URL("../", import.meta.url).pathname;
const DENO = Deno.execPath();
const STEP_TIMEOUT_MS = 40_000;
const PORT = 2314;

interface Scenario {
  receiver: RouterKind;
  sender: RouterKind;
  /** Make the receiver's routers ignore TCP windows (`nf_conntrack_tcp_be_liberal=1`). */
  liberal: boolean;
  via: "twelve-step" | "simultaneous-open";
  secret?: string;
}

const TWELVE = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];
const FALLBACK = [...TWELVE, "fallback", "simultaneous-open"];

async function run(s: Scenario): Promise<void> {
  await using lab = await Lab.create({ a: s.receiver, b: s.sender, ipv6: false });
  if (s.liberal) {
    const routers = s.receiver === "cgnat" ? ["routerA", "ispA"] as const : ["routerA"] as const;
    for (const router of routers) {
      await lab.exec(router, ["sysctl", "-qw", "net.netfilter.nf_conntrack_tcp_be_liberal=1"], {
        check: true,
      });
    }
  }
  const broker = lab.server.v4;
  await using server = spawnLabServer(lab, [
    "--host",
    broker,
    "--gday-port",
    "0",
    "--no-stun",
    "--broker-port",
    String(PORT),
  ]);
  await server.waitForLine(/"event":"listening","service":"broker"/, {
    timeoutMs: STEP_TIMEOUT_MS,
  });
  const secret = s.secret ? ["--secret", s.secret] : [];
  await using listener = lab.spawn("a", [
    DENO,
    "run",
    "-A",
    `${ROOT}client.ts`,
    "listen",
    "--uid",
    "alice",
    "--server",
    broker,
    "-v",
    ...secret,
  ], { cwd: ROOT, stdin: true });
  await waitFor(server, /"event":"broker_registered"/, listener);
  await listener.write("hello from the receiver\n");
  await listener.closeStdin();

  const dial = await lab.exec("b", [
    DENO,
    "run",
    "-A",
    `${ROOT}client.ts`,
    "dial",
    "alice",
    "--server",
    broker,
    "-v",
    ...secret,
  ], { cwd: ROOT, stdin: "hello from the sender\n", timeoutMs: STEP_TIMEOUT_MS });
  assert.equal(dial.code, 0, `dial failed:\n${dial.stderr}\nlistener:\n${listener.stderr}`);
  assert.equal(dial.stdout, "hello from the receiver\n");
  assert.match(dial.stderr, new RegExp(`via ${s.via}`), dial.stderr);
  assert.equal(await listener.readLine({ timeoutMs: STEP_TIMEOUT_MS }), "hello from the sender");
  const status = await listener.status;
  assert.equal(status.code, 0, listener.stderr);
  assert.match(listener.stderr, new RegExp(`via ${s.via}`), listener.stderr);
  if (s.secret) assert.match(listener.stderr, /encrypted/);

  // The broker's step log, in order.
  const line = await server.waitForLine(/"event":"broker_request"/, { timeoutMs: 5000 });
  const record = JSON.parse(line);
  assert.equal(record.via, s.via, line);
  assert.deepEqual(
    String(record.steps).split(",").map((x: string) => (/^\d+$/.test(x) ? Number(x) : x)),
    s.via === "twelve-step" ? TWELVE : FALLBACK,
    line,
  );
  // The receiver's public port is the port it registered R1 from (port-preserving NAT), and
  // its steps ran in order on its side too.
  const steps = [...listener.stderr.matchAll(/\] step (\d+|fallback):/g)].map((m) => m[1]);
  assert.deepEqual(
    steps,
    s.via === "twelve-step"
      ? ["3", "4", "5", "6", "7", "8", "9", "12"]
      : ["3", "4", "5", "6", "7", "8", "9", "fallback"],
  );
  // The listener killed its registration: the broker's tables are empty.
  await server.waitForLine(/"event":"broker_unregistered".*"reason":"kill".*"receivers":0/, {
    timeoutMs: 5000,
  });
}

/** Wait for a server line, reporting the listener's stderr if it never comes. */
async function waitFor(server: LabProcess, pattern: RegExp, other: LabProcess): Promise<void> {
  try {
    await server.waitForLine(pattern, { timeoutMs: STEP_TIMEOUT_MS });
  } catch (error) {
    throw new Error(`${(error as Error).message}\nlistener stderr:\n${other.stderr}`);
  }
}

Deno.test({
  name: "broker lab: receiver behind cone (no window tracking), sender behind cone: twelve steps",
  ignore,
  fn: () => run({ receiver: "cone", sender: "cone", liberal: true, via: "twelve-step" }),
});

Deno.test({
  name:
    "broker lab: receiver behind cone (Linux default), sender behind cone: steps, then fallback",
  ignore,
  fn: () => run({ receiver: "cone", sender: "cone", liberal: false, via: "simultaneous-open" }),
});

Deno.test({
  name: "broker lab: receiver behind cone, sender without NAT: the RST forces the fallback",
  ignore,
  fn: () => run({ receiver: "cone", sender: "none", liberal: true, via: "simultaneous-open" }),
});

Deno.test({
  name: "broker lab: both behind cgnat (no window tracking): twelve steps, encrypted pipe",
  ignore,
  fn: () =>
    run({
      receiver: "cgnat",
      sender: "cgnat",
      liberal: true,
      via: "twelve-step",
      secret: "7-lemon-harbour",
    }),
});

Deno.test({
  name: "broker lab: both behind cgnat (Linux default): steps, then fallback",
  ignore,
  fn: () => run({ receiver: "cgnat", sender: "cgnat", liberal: false, via: "simultaneous-open" }),
});
