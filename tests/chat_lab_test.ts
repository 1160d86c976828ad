/**
 * `client.ts chat` in the NAT lab: `server.ts --chat-port` in the public segment, two chat
 * clients on hosts behind cone NATs. They register, connect by name through their NATs, chat
 * both ways, ping and pong, and say goodbye; the introducer's log then shows its tables empty
 * (every registration expired, every pairing released). Root only; skipped otherwise.
 */

import { spawnLabServer } from "../lab/harness.ts";
import assert from "node:assert/strict";
import { Lab, type LabNode, type LabProcess, skipReason } from "../lab/mod.ts";

const reason = await skipReason();
if (reason !== null) console.warn(`NAT lab tests of client.ts chat are skipped: ${reason}`);
const ignore = reason !== null;

const ROOT = new URL("../", import.meta.url).pathname;
const DENO = Deno.execPath();
const STEP_MS = 30_000;
const CHAT_PORT = 8080;
/** The introducer forgets a silent user after this long (seconds), so the test can see it. */
const IDLE_S = 3;

interface LogEvent {
  event: string;
  [key: string]: unknown;
}

/** Reads the server's JSON log lines and keeps every event seen. */
class ServerLog {
  events: LogEvent[] = [];
  constructor(readonly proc: LabProcess) {}

  /** Read lines until `done(events)` holds. */
  async until(done: (events: LogEvent[]) => boolean, what: string): Promise<void> {
    const end = Date.now() + STEP_MS;
    while (!done(this.events)) {
      const line = await this.proc.readLine({ timeoutMs: Math.max(1, end - Date.now()) })
        .catch((error) => {
          throw new Error(`Waiting for ${what}: ${error.message}\n${this.#seen()}`);
        });
      if (line === null) throw new Error(`The server exited while waiting for ${what}`);
      try {
        this.events.push(JSON.parse(line));
      } catch { /* not JSON */ }
    }
  }

  count(event: string, match: (e: LogEvent) => boolean = () => true): number {
    return this.events.filter((e) => e.event === event && match(e)).length;
  }

  #seen(): string {
    return this.events.map((e) => JSON.stringify(e)).join("\n");
  }
}

function chat(lab: Lab, node: LabNode, args: string[]): LabProcess {
  return lab.spawn(node, [
    "sh",
    "-c",
    'exec "$@" 2>&1',
    "sh",
    DENO,
    "run",
    "-A",
    `${ROOT}client.ts`,
    "chat",
    "--server",
    `${lab.server.v4}:${CHAT_PORT}`,
    "--ping-interval",
    "0.5",
    "--keepalive",
    "1",
    "--verbose",
    ...args,
  ], { cwd: ROOT, stdin: true });
}

const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
const wait = (proc: LabProcess, pattern: RegExp): Promise<string> =>
  proc.waitForLine(pattern, { timeoutMs: STEP_MS });

/** Two people chat through their NATs; `secret` makes it encrypted; `quit` how alice leaves. */
async function conversation(
  lab: Lab,
  names: [string, string],
  options: { secret?: string; quit: "/quit" | "SIGINT" },
): Promise<void> {
  const [alice, bob] = names;
  const secret = options.secret === undefined ? [] : ["--secret", options.secret];
  const mode = options.secret === undefined ? "NOT encrypted" : "encrypted";
  await using b = chat(lab, "b", ["--name", bob, ...secret]);
  await wait(b, new RegExp(`^\\* Registered as ${bob}$`));
  await using a = chat(lab, "a", ["--name", alice, "--to", bob, ...secret]);
  // Each sees the other at its NAT's public address, not its private one.
  await wait(
    a,
    new RegExp(
      `^\\* Connected to ${bob} at ${escape(lab.hostB.publicV4)}:\\d+ \\(${mode}\\)`,
    ),
  );
  await wait(
    b,
    new RegExp(
      `^\\* Connected to ${alice} at ${escape(lab.hostA.publicV4)}:\\d+ \\(${mode}\\)`,
    ),
  );

  await a.write(`hello ${bob}, from behind my NAT\n`);
  await wait(b, new RegExp(`^\\[${alice}\\]> hello ${bob}, from behind my NAT$`));
  await b.write(`hello ${alice} ✓\n`);
  await wait(a, new RegExp(`^\\[${bob}\\]> hello ${alice} ✓$`));
  const long = "0123456789abcdef".repeat(250); // 4000 bytes: several datagrams
  await a.write(long + "\n");
  await wait(b, new RegExp(`^\\[${alice}\\]> ${long}$`));

  // Keep-alive both ways through the NATs: each side's pings are answered.
  await wait(a, new RegExp(`^\\* Pong from ${bob} \\(\\d+ ms\\)$`));
  await wait(b, new RegExp(`^\\* Pong from ${alice} \\(\\d+ ms\\)$`));

  if (options.quit === "/quit") await a.write("/quit\n");
  else a.kill("SIGINT");
  await wait(a, new RegExp(`^\\* Said goodbye to ${bob}$`));
  await wait(b, new RegExp(`^\\* ${alice} said goodbye$`));
  assert.equal((await a.status).code, 0, a.stderr);
  assert.equal((await b.status).code, 0, b.stderr);
}

Deno.test({
  name: "chat in the lab: two clients behind cone NATs meet, chat, ping, say goodbye; tables empty",
  ignore,
  async fn() {
    await using lab = await Lab.create({ a: "cone", b: "cone", ipv6: false });
    await using server = spawnLabServer(lab, [
      "--host",
      lab.server.v4,
      "--gday-port",
      "0",
      "--no-stun",
      "--chat-port",
      String(CHAT_PORT),
      "--chat-idle-timeout",
      String(IDLE_S),
    ]);
    const log = new ServerLog(server);
    await log.until(
      (events) => events.some((e) => e.event === "listening" && e.service === "chat"),
      "the chat listener",
    );

    await conversation(lab, ["alice", "bob"], { quit: "/quit" });
    await conversation(lab, ["carol", "dave"], { secret: "5-amber-kestrel", quit: "SIGINT" });

    // The introducer saw both sessions end, then forgot all four users.
    await log.until(
      (events) =>
        events.filter((e) => e.event === "chat_expired").length === 4 &&
        events.filter((e) => e.event === "chat_released").length === 2,
      "every registration to expire",
    );
    assert.equal(log.count("chat_registered"), 4);
    assert.equal(log.count("chat_paired"), 2);
    assert.equal(log.count("chat_released", (e) => e.reason === "session_finished"), 2);
    const registrations = log.count("chat_registered") - log.count("chat_expired");
    const busyPairs = log.count("chat_paired") - log.count("chat_released");
    assert.deepEqual({ registrations, busyPairs }, { registrations: 0, busyPairs: 0 });
    // Registered from the NATs' public addresses.
    const from = log.events.filter((e) => e.event === "chat_registered").map((e) =>
      String(e.addr).replace(/:\d+$/, "")
    );
    assert.deepEqual(new Set(from), new Set([lab.hostA.publicV4, lab.hostB.publicV4]));
    assert.equal((await server.stop()).code, 0);
  },
});
