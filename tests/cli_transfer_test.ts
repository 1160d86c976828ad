import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { formatPeerCode, parsePeerCode } from "../client/peer_code.ts";
import { LineReader, runClientProcess, spawnServer } from "./_helpers.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const SERVER_ARGS = ["--host", "127.0.0.1", "--gday-port", "0", "--rate-limit", "0", "--no-stun"];

function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

function randomBytes(n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i += 65536) crypto.getRandomValues(out.subarray(i, i + 65536));
  return out;
}

async function tempDir(): Promise<{ path: string } & AsyncDisposable> {
  const path = await Deno.makeTempDir({ prefix: "peerlink-cli-transfer-" });
  return { path, [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }) };
}

/** A `client.ts send` child: its stderr (human) or stdout (JSON) read line by line. */
interface SendProcess extends AsyncDisposable {
  lines: LineReader;
  other: Promise<string>;
  status: Promise<Deno.CommandStatus>;
  child: Deno.ChildProcess;
}

function spawnClient(args: string[], json: boolean): SendProcess {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${ROOT}client.ts`, ...args],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
    stdin: "null",
  }).spawn();
  const lines = new LineReader(json ? child.stdout : child.stderr);
  const other = new Response(json ? child.stderr : child.stdout).text();
  return {
    lines,
    other,
    status: child.status,
    child,
    [Symbol.asyncDispose]: async () => {
      try {
        child.kill("SIGKILL");
      } catch { /* exited */ }
      await child.status;
      await lines.rest().catch(() => "");
      await other.catch(() => "");
    },
  };
}

Deno.test("cli: send prints a code, receive gets a folder through server.ts (the README demo)", async () => {
  await using server = await spawnServer(SERVER_ARGS);
  const at = `127.0.0.1:${server.listeners[0]!.port}`;
  await using dir = await tempDir();
  await Deno.mkdir(`${dir.path}/photos/2024`, { recursive: true });
  const big = randomBytes(3_000_000);
  await Deno.writeFile(`${dir.path}/photos/2024/big.raw`, big);
  await Deno.writeTextFile(`${dir.path}/photos/note.txt`, "hello");

  await using send = spawnClient(["send", `${dir.path}/photos`, "--server", at], false);
  const codeLine = await send.lines.waitFor((l) => l.startsWith("Code: "), 30_000);
  const code = codeLine.slice("Code: ".length);
  assert.match(code, /^0\.[0-9A-F]+\.[0-9A-F]+\.[0-9A-F]+$/);
  const command = await send.lines.waitFor((l) => l.includes("client.ts receive"), 5000);
  assert.equal(command.trim(), `client.ts receive ${code} --server ${at}`);

  const received = await runClientProcess([
    "receive",
    code,
    "--server",
    at,
    "--out",
    `${dir.path}/in`,
  ]);
  assert.equal(received.code, 0, received.stderr);
  assert.match(received.stderr, /Connected to 127\.0\.0\.1:\d+ over direct-tcp/);
  assert.match(
    received.stdout,
    /Received 2 files \(3\.00 MB\) .* over direct-tcp into .*; every SHA-256 matched/,
  );
  assert.match(received.stdout, /photos\/2024\/big\.raw {2}3\.00 MB {2}verified/);
  assert.deepEqual(await Deno.readFile(`${dir.path}/in/photos/2024/big.raw`), big);
  assert.equal(await Deno.readTextFile(`${dir.path}/in/photos/note.txt`), "hello");

  assert.equal((await send.status).code, 0);
  const rest = await send.lines.rest();
  assert.match(rest, /over direct-tcp/);
  assert.match(
    await send.other,
    /^Sent 2 files \(3\.00 MB\) .* the receiver verified and saved every file\n$/,
  );
});

Deno.test("cli: a wrong code fails on both sides with a clear error, and no file is created", async () => {
  await using server = await spawnServer(SERVER_ARGS);
  const at = `127.0.0.1:${server.listeners[0]!.port}`;
  await using dir = await tempDir();
  await Deno.writeTextFile(`${dir.path}/secret.txt`, "top secret");
  await using send = spawnClient(
    ["send", `${dir.path}/secret.txt`, "--server", at, "--json"],
    true,
  );
  const first = JSON.parse(await send.lines.waitFor((l) => l.includes('"code"'), 30_000));
  const right = parsePeerCode(first.code);
  // Same room, another secret, a valid checksum: what a mistyped digit that slips past looks like.
  const wrong = formatPeerCode({ ...right, secret: right.secret ^ 1n });

  const received = await runClientProcess([
    "receive",
    wrong,
    "--server",
    at,
    "--out",
    `${dir.path}/in`,
  ]);
  assert.equal(received.code, 1, received.stderr);
  assert.match(received.stderr, /error: Wrong code: .*check it and try again/);
  assert.equal((await send.status).code, 1);
  const rest = await send.lines.rest();
  const last = JSON.parse(rest.trim().split("\n").at(-1)!);
  assert.equal(last.event, "error");
  assert.equal(last.error, "WrongCodeError");
  assert.match(last.message, /^Wrong code/);
  assert.equal(await Deno.stat(`${dir.path}/in`).then(() => true, () => false), false);
});

Deno.test("cli: a typo in the code is caught by its checksum before any network traffic (exit 2)", async () => {
  // Anything that connects here would be network traffic.
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  let connections = 0;
  const accepting = (async () => {
    for await (const conn of listener) {
      connections++;
      conn.close();
    }
  })();
  const at = `127.0.0.1:${listener.addr.port}`;
  const typo = await runClientProcess(["receive", "0.A3F9C2.7D2E91B4.6", "--server", at]);
  assert.equal(typo.code, 2);
  assert.match(typo.stderr, /has a typo \(its checksum does not match\): check it with the sender/);
  const garbage = await runClientProcess(["receive", "hello-world", "--server", at]);
  assert.equal(garbage.code, 2);
  assert.match(garbage.stderr, /is not a peer code/);
  assert.equal(connections, 0);
  listener.close();
  await accepting;
});

Deno.test("cli: send and receive answer --help with 0 and wrong usage with 2", async () => {
  const sendHelp = await runClientProcess(["send", "--help"]);
  assert.equal(sendHelp.code, 0);
  assert.match(sendHelp.stdout, /client\.ts send FILE\|DIR\.\.\./);
  assert.match(sendHelp.stdout, /--gday/);
  const receiveHelp = await runClientProcess(["receive", "--help"]);
  assert.equal(receiveHelp.code, 0);
  assert.match(receiveHelp.stdout, /--out DIR/);
  assert.match(receiveHelp.stdout, /--force/);
  const top = await runClientProcess(["--help"]);
  assert.match(top.stdout, /send +Send files/);
  assert.match(top.stdout, /receive +Receive files/);
  for (
    const [args, message] of [
      [["send"], /at least one FILE or DIR/],
      [["send", "/does/not/exist"], /does not exist/],
      [["send", ROOT, "--path", "carrier-pigeon"], /--path must be one of/],
      [["receive"], /Give the CODE/],
      [["receive", "1.13A.F.B", "extra"], /exactly one CODE/],
      [["receive", "1.13A.F.B", "--out", `${ROOT}deno.json`], /not a folder/],
      [["receive", "1.13A.F.B", "--bogus"], /bogus/],
    ] as const
  ) {
    const result = await runClientProcess([...args]);
    assert.equal(result.code, 2, `${args.join(" ")}: ${result.stderr}`);
    assert.match(result.stderr, message);
  }
});

Deno.test("cli: receive never overwrites without --force; with --force it replaces", async () => {
  await using server = await spawnServer(SERVER_ARGS);
  const at = `127.0.0.1:${server.listeners[0]!.port}`;
  await using dir = await tempDir();
  await Deno.writeTextFile(`${dir.path}/report.txt`, "new version");
  await Deno.mkdir(`${dir.path}/in`);
  await Deno.writeTextFile(`${dir.path}/in/report.txt`, "old version");
  for (const force of [false, true]) {
    await using send = spawnClient(["send", `${dir.path}/report.txt`, "--server", at], false);
    const code = (await send.lines.waitFor((l) => l.startsWith("Code: "), 30_000)).slice(6);
    const received = await runClientProcess([
      "receive",
      code,
      "--server",
      at,
      "--out",
      `${dir.path}/in`,
      ...(force ? ["--force"] : []),
    ]);
    const sent = await send.status;
    if (!force) {
      assert.equal(received.code, 1);
      assert.match(received.stderr, /already exists .*"report\.txt".*use --force to overwrite/);
      assert.equal(sent.code, 1);
      assert.match(await send.lines.rest(), /receiver already has "report\.txt"/);
      assert.equal(await Deno.readTextFile(`${dir.path}/in/report.txt`), "old version");
      assert.deepEqual([...Deno.readDirSync(`${dir.path}/in`)].map((e) => e.name), ["report.txt"]);
    } else {
      assert.equal(received.code, 0, received.stderr);
      assert.equal(sent.code, 0);
      assert.equal(await Deno.readTextFile(`${dir.path}/in/report.txt`), "new version");
    }
  }
});

Deno.test("cli: an interrupted receive resumes when run again with the same code", async () => {
  await using server = await spawnServer(SERVER_ARGS);
  const at = `127.0.0.1:${server.listeners[0]!.port}`;
  await using dir = await tempDir();
  const content = randomBytes(64 * 1024 * 1024);
  await Deno.writeFile(`${dir.path}/disk.img`, content);
  await using send = spawnClient(["send", `${dir.path}/disk.img`, "--server", at, "--json"], true);
  const code = JSON.parse(await send.lines.waitFor((l) => l.includes('"code"'), 60_000)).code;
  const out = `${dir.path}/in`;
  {
    // The first receiver is frozen as soon as data flows, then killed: like a laptop lid closing.
    await using receiver = spawnClient(
      ["receive", code, "--server", at, "--out", out, "--json"],
      true,
    );
    // The first progress line comes 100 ms into the data: far from the end of 64 MB.
    await receiver.lines.waitFor((l) => l.includes('"event":"progress"'), 30_000);
    receiver.child.kill("SIGSTOP");
    receiver.child.kill("SIGKILL");
    assert.notEqual((await receiver.status).code, 0);
  }
  const parts = [...Deno.readDirSync(out)].map((e) => e.name);
  assert.equal(parts.length, 1);
  assert.match(parts[0]!, /^\.disk\.img\.peerlink-[0-9a-f]{8}\.part$/);
  await send.lines.waitFor((l) => l.includes('"event":"interrupted"'), 30_000);

  const again = await runClientProcess(["receive", code, "--server", at, "--out", out, "--json"]);
  assert.equal(again.code, 0, again.stderr);
  const done = JSON.parse(again.stdout.trim().split("\n").at(-1)!);
  assert.equal(done.event, "done");
  assert.equal(done.path, "direct-tcp");
  assert.equal(done.files[0].sha256, sha256(content));
  assert.equal(done.files[0].verified, true);
  assert.ok(done.files[0].offset > 0, "the second run continued the partial file");
  assert.equal(done.bytes + done.files[0].offset, content.length);
  assert.equal(sha256(await Deno.readFile(`${out}/disk.img`)), sha256(content));
  assert.deepEqual([...Deno.readDirSync(out)].map((e) => e.name), ["disk.img"]);
  assert.equal((await send.status).code, 0);
  const last = JSON.parse((await send.lines.rest()).trim().split("\n").at(-1)!);
  assert.equal(last.event, "done");
  assert.equal(last.confirmed, true);
});
