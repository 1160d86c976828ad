/**
 * `client.ts send` / `client.ts receive` across the NAT lab: server.ts in the lab's server
 * namespace, the two CLIs on hosts behind routers of different kinds, a 50 MB file each time.
 * Skipped (with a message) when the lab is unavailable (not root, no `ip`/`nft`).
 */

import { spawnLabServer } from "../lab/harness.ts";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { Lab, type LabProcess, type RouterKind, skipReason } from "../lab/mod.ts";

const reason = await skipReason();
if (reason !== null) console.warn(`NAT lab transfer tests are skipped: ${reason}`);
const ignore = reason !== null;

const ROOT = new URL("../", import.meta.url).pathname;
const DENO = Deno.execPath();
const FILE_BYTES = 50 * 1024 * 1024;
const STEP_TIMEOUT_MS = 60_000;

/** `server.ts` in the server namespace on its default gday port, stderr (the log) on stdout. */
async function startServer(lab: Lab): Promise<LabProcess> {
  const proc = spawnLabServer(lab, [
    "--rate-limit",
    "0",
  ]);
  await proc.waitForLine(/"event":"listening","service":"gday"/, { timeoutMs: STEP_TIMEOUT_MS });
  return proc;
}

function serverArgs(lab: Lab): string[] {
  const args = ["--server", lab.server.v4];
  if (lab.server.v6 !== null) args.push("--server", `[${lab.server.v6}]`);
  return args;
}

function client(args: string[]): string[] {
  return [DENO, "run", "-A", `${ROOT}client.ts`, ...args];
}

async function sha256File(path: string): Promise<string> {
  const hash = createHash("sha256");
  using file = await Deno.open(path);
  for await (const chunk of file.readable) hash.update(chunk);
  return hash.digest("hex");
}

/** A 50 MB file of random bytes and its hash. */
async function bigFile(dir: string): Promise<{ path: string; sha256: string }> {
  const path = `${dir}/payload.bin`;
  using file = await Deno.open(path, { write: true, create: true });
  const hash = createHash("sha256");
  const block = new Uint8Array(1024 * 1024);
  for (let i = 0; i < FILE_BYTES / block.length; i++) {
    for (let j = 0; j < block.length; j += 65536) {
      crypto.getRandomValues(block.subarray(j, j + 65536));
    }
    hash.update(block);
    for (let off = 0; off < block.length;) off += await file.write(block.subarray(off));
  }
  return { path, sha256: hash.digest("hex") };
}

function lastJson(text: string): Record<string, unknown> {
  const line = text.trim().split("\n").at(-1) ?? "";
  try {
    return JSON.parse(line);
  } catch {
    throw new Error(`Expected a JSON line, got: ${text.slice(-2000)}`);
  }
}

async function sendAcross(a: RouterKind, b: RouterKind, extra: string[] = []): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "peerlink-lab-transfer-" });
  try {
    const payload = await bigFile(dir);
    await using lab = await Lab.create({ a, b });
    await using _server = await startServer(lab);
    // `--path direct-tcp`: this test is about the TCP pipe (UDP and QUIC have their own tests).
    await using sender = lab.spawn(
      "a",
      client([
        "send",
        payload.path,
        ...serverArgs(lab),
        ...extra,
        "--path",
        "direct-tcp",
        "--json",
      ]),
      { cwd: ROOT },
    );
    const code = JSON.parse(
      await sender.waitForLine(/"event":"code"/, { timeoutMs: STEP_TIMEOUT_MS }),
    )
      .code as string;
    const started = performance.now();
    const received = await lab.exec(
      "b",
      client(["receive", code, ...serverArgs(lab), ...extra, "--out", `${dir}/in`, "--json"]),
      { cwd: ROOT, timeoutMs: 180_000 },
    );
    const seconds = (performance.now() - started) / 1000;
    assert.equal(received.code, 0, `receive failed: ${received.stderr}${received.stdout}`);
    const done = lastJson(received.stdout);
    assert.equal(done.event, "done");
    assert.equal(done.path, "direct-tcp");
    const files = done.files as { sha256: string; verified: boolean; size: number }[];
    assert.equal(files[0]!.size, FILE_BYTES);
    assert.equal(files[0]!.sha256, payload.sha256);
    assert.ok(files[0]!.verified);
    assert.equal(await sha256File(`${dir}/in/payload.bin`), payload.sha256);
    const connected = received.stdout.split("\n").find((l) => l.includes('"event":"connected"'));
    if (extra.includes("-4")) assert.doesNotMatch(connected ?? "", /"remote":"\[/);
    console.log(`${a} -> ${b} ${extra.join(" ")}: ${connected} in ${seconds.toFixed(1)} s`);
    const status = await sender.status;
    assert.equal(status.code, 0, sender.stderr);
    let line: string | null;
    let last = "";
    while ((line = await sender.readLine({ timeoutMs: 5000 })) !== null) last = line;
    const sent = JSON.parse(last);
    assert.equal(sent.event, "done");
    assert.equal(sent.confirmed, true);
    assert.equal(sent.path, "direct-tcp");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test({
  name: "lab: none <-> cone reach a direct TCP pipe and move 50 MB intact (IPv4 and IPv6)",
  ignore,
  sanitizeResources: false,
  fn: () => sendAcross("none", "cone"),
});

Deno.test({
  name: "lab: none <-> cone reach a direct TCP pipe through the IPv4 NAT and move 50 MB intact",
  ignore,
  sanitizeResources: false,
  fn: () => sendAcross("none", "cone", ["-4"]),
});

Deno.test({
  name: "lab: cone <-> cone reach a direct TCP pipe and move 50 MB intact (IPv4 and IPv6)",
  ignore,
  sanitizeResources: false,
  fn: () => sendAcross("cone", "cone"),
});

Deno.test({
  name: "lab: cone <-> cone reach a direct TCP pipe through the IPv4 NAT and move 50 MB intact",
  ignore,
  sanitizeResources: false,
  fn: () => sendAcross("cone", "cone", ["-4"]),
});

Deno.test({
  name: "lab: cgnat <-> cone reach a direct TCP pipe and move 50 MB intact (IPv4 and IPv6)",
  ignore,
  sanitizeResources: false,
  fn: () => sendAcross("cgnat", "cone"),
});

Deno.test({
  name: "lab: cgnat <-> cone reach a direct TCP pipe through the IPv4 NAT and move 50 MB intact",
  ignore,
  sanitizeResources: false,
  fn: () => sendAcross("cgnat", "cone", ["-4"]),
});

Deno.test({
  name: "lab: symmetric <-> symmetric over IPv4 fails in time, saying no direct TCP path exists",
  ignore,
  sanitizeResources: false,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "peerlink-lab-transfer-" });
    try {
      await Deno.writeTextFile(`${dir}/note.txt`, "never arrives");
      await using lab = await Lab.create({ a: "symmetric", b: "symmetric" });
      await using _server = await startServer(lab);
      const flags = [...serverArgs(lab), "-4", "--path", "direct-tcp", "--json"];
      await using sender = lab.spawn("a", client(["send", `${dir}/note.txt`, ...flags]), {
        cwd: ROOT,
      });
      const code = JSON.parse(
        await sender.waitForLine(/"event":"code"/, { timeoutMs: STEP_TIMEOUT_MS }),
      )
        .code as string;
      const started = performance.now();
      const received = await lab.exec(
        "b",
        client(["receive", code, ...flags, "--out", `${dir}/in`]),
        { cwd: ROOT, timeoutMs: 60_000 },
      );
      const seconds = (performance.now() - started) / 1000;
      assert.equal(received.code, 1, received.stdout + received.stderr);
      const error = lastJson(received.stdout);
      assert.equal(error.error, "NoDirectPathError");
      assert.match(String(error.message), /No direct TCP path to the peer/);
      assert.ok(seconds < 30, `took ${seconds.toFixed(1)} s`);
      assert.equal((await sender.status).code, 1);
      let line: string | null;
      let last = "";
      while ((line = await sender.readLine({ timeoutMs: 5000 })) !== null) last = line;
      assert.match(last, /No direct TCP path/);
      assert.equal(await Deno.stat(`${dir}/in`).then(() => true, () => false), false);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
