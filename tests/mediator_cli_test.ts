/**
 * `client.ts keygen`, `client.ts pair` and `server.ts --mediator-*`: in memory and as processes.
 */

import assert from "node:assert/strict";
import { runClient } from "../cli/main.ts";
import type { PairIo } from "../cli/commands/pair.ts";
import { runServer } from "../cli/server_main.ts";
import { silentLogger } from "../server/logger.ts";
import { startServer } from "../server/server.ts";
import { mediatorPlugin } from "../server/services/mediator.ts";
import { spawnServer } from "./_helpers.ts";
import { freePortArgs, mediatorPortOf } from "./mediator_helpers.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const enc = new TextEncoder();
const dec = new TextDecoder();

function memoryIo(
  extra: Partial<PairIo> = {},
): PairIo & { stdout_: () => string; stderr_: () => string } {
  let out = "", err = "";
  return {
    out: (t) => void (out += t),
    err: (t) => void (err += t),
    env: () => undefined,
    isTerminal: false,
    signal: new AbortController().signal,
    ...extra,
    stdout_: () => out,
    stderr_: () => err,
  };
}

async function tempDir(): Promise<string> {
  return await Deno.makeTempDir({ prefix: "peerlink-pair-" });
}

Deno.test("keygen writes a 0600 key file and prints the public key", async () => {
  const dir = await tempDir();
  try {
    const io = memoryIo();
    assert.equal(await runClient(["keygen", "--out", `${dir}/a.key`], io), 0, io.stderr_());
    const pub = io.stdout_().trim();
    assert.match(pub, /^pk1[a-z2-7]{55}$/);
    assert.equal((await Deno.stat(`${dir}/a.key`)).mode! & 0o777, 0o600);
    assert.equal((await Deno.readTextFile(`${dir}/a.key.pub`)).trim(), pub);
    assert.match(io.stderr_(), /client\.ts pair --peer pk1/);

    const again = memoryIo();
    assert.equal(await runClient(["keygen", "--out", `${dir}/a.key`], again), 1);
    assert.match(again.stderr_(), /already exists \(pass --force/);
    const forced = memoryIo();
    assert.equal(
      await runClient(["keygen", "--out", `${dir}/a.key`, "--force", "--json"], forced),
      0,
    );
    const json = JSON.parse(forced.stdout_());
    assert.notEqual(json.publicKey, pub);
    assert.equal(json.keyFile, `${dir}/a.key`);

    const help = memoryIo();
    assert.equal(await runClient(["keygen", "--help"], help), 0);
    assert.match(help.stdout_(), /--out FILE/);
    assert.equal(await runClient(["keygen", "--bogus"], memoryIo()), 2);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("pair: usage errors exit 2, a missing key file exits 1", async () => {
  const dir = await tempDir();
  try {
    const keygen = memoryIo();
    await runClient(["keygen", "--out", `${dir}/me.key`], keygen);
    const me = keygen.stdout_().trim();
    const help = memoryIo();
    assert.equal(await runClient(["pair", "--help"], help), 0);
    assert.match(help.stdout_(), /--peer PUBKEY/);
    assert.match(help.stdout_(), /--mediator HOST\[:PORT\]/);

    const noPeer = memoryIo();
    assert.equal(await runClient(["pair", "--key", `${dir}/me.key`], noPeer), 2);
    assert.match(noPeer.stderr_(), /--peer/);
    const badPeer = memoryIo();
    assert.equal(await runClient(["pair", "--peer", "pk1oops"], badPeer), 2);
    assert.match(badPeer.stderr_(), /not a peerlink public key/);
    const self = memoryIo();
    assert.equal(await runClient(["pair", "--key", `${dir}/me.key`, "--peer", me], self), 2);
    assert.match(self.stderr_(), /your own public key/);
    const both = memoryIo();
    assert.equal(await runClient(["pair", "--peer", me, "-4", "-6"], both), 2);
    const missing = memoryIo();
    assert.equal(await runClient(["pair", "--key", `${dir}/none.key`, "--peer", me], missing), 1);
    assert.match(missing.stderr_(), /not found \(make one with: client\.ts keygen/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("pair: a peer who never comes ends with a clear error and exit 1", async () => {
  const dir = await tempDir();
  await using server = await startServer({
    hostname: "127.0.0.1",
    gdayPort: null,
    logger: silentLogger,
    services: [mediatorPlugin({ port: 0, waitTimeoutMs: 300 })],
  });
  try {
    const a = memoryIo(), b = memoryIo();
    await runClient(["keygen", "--out", `${dir}/a.key`], a);
    await runClient(["keygen", "--out", `${dir}/b.key`], b);
    const io = memoryIo({ stdin: ReadableStream.from<Uint8Array>([]) });
    const code = await runClient([
      "pair",
      "--key",
      `${dir}/a.key`,
      "--peer",
      b.stdout_().trim(),
      "--mediator",
      `127.0.0.1:${server.listeners[0]!.addr.port}`,
    ], io);
    assert.equal(code, 1, io.stderr_());
    assert.match(io.stderr_(), /Registered; waiting for your peer/);
    assert.match(
      io.stderr_(),
      /error: Your peer pk1\w+ did not register with the mediator within 0 s/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("pair in memory: stdin goes to the peer, the peer's data to stdout", async () => {
  const dir = await tempDir();
  await using server = await startServer({
    hostname: "127.0.0.1",
    gdayPort: null,
    logger: silentLogger,
    services: [mediatorPlugin({ port: 0 })],
  });
  try {
    const ka = memoryIo(), kb = memoryIo();
    await runClient(["keygen", "--out", `${dir}/a.key`], ka);
    await runClient(["keygen", "--out", `${dir}/b.key`], kb);
    const mediator = `127.0.0.1:${server.listeners[0]!.addr.port}`;
    const sink = (): { stream: WritableStream<Uint8Array>; text: () => string } => {
      const chunks: Uint8Array[] = [];
      return {
        stream: new WritableStream({ write: (c) => void chunks.push(c.slice()) }),
        text: () => dec.decode(new Uint8Array(chunks.flatMap((c) => [...c]))),
      };
    };
    const outA = sink(), outB = sink();
    const big = "x".repeat(100_000);
    const ioA = memoryIo({
      stdin: ReadableStream.from([enc.encode("hello "), enc.encode("bob")]),
      stdout: outA.stream,
    });
    const ioB = memoryIo({ stdin: ReadableStream.from([enc.encode(big)]), stdout: outB.stream });
    const [codeA, codeB] = await Promise.all([
      runClient([
        "pair",
        "--key",
        `${dir}/a.key`,
        "--peer",
        kb.stdout_().trim(),
        "--mediator",
        mediator,
      ], ioA),
      runClient([
        "pair",
        "--key",
        `${dir}/b.key`,
        "--peer",
        ka.stdout_().trim(),
        "--mediator",
        mediator,
      ], ioB),
    ]);
    assert.equal(codeA, 0, ioA.stderr_());
    assert.equal(codeB, 0, ioB.stderr_());
    assert.equal(outB.text(), "hello bob");
    assert.equal(outA.text(), big);
    assert.match(ioA.stderr_(), /Connected to pk1/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("server.ts --help lists the mediator flags; bad values exit 2", async () => {
  const io = memoryIo();
  assert.equal(await runServer(["--help"], io), 0);
  for (
    const flag of ["--mediator-port", "--mediator-key", "--mediator-wait", "--mediator-max-pending"]
  ) {
    assert.ok(io.stdout_().includes(flag), flag);
  }
  const bad = memoryIo();
  assert.equal(await runServer(["--mediator-port", "70000"], bad), 2);
  const modes = memoryIo();
  assert.equal(await runServer(["--mediator-port", "0", "--mediator-modes", "x"], modes), 2);
});

Deno.test("client.ts pair as processes through server.ts --mediator-port", async () => {
  const dir = await tempDir();
  try {
    const ka = memoryIo(), kb = memoryIo(), km = memoryIo();
    await runClient(["keygen", "--out", `${dir}/a.key`], ka);
    await runClient(["keygen", "--out", `${dir}/b.key`], kb);
    await runClient(["keygen", "--out", `${dir}/mediator.key`], km);
    await using server = await spawnServer([
      "--host",
      "127.0.0.1",
      ...freePortArgs(),
      "--mediator-port",
      "0",
      "--mediator-key",
      `${dir}/mediator.key`,
    ], 1);
    const port = await mediatorPortOf(server);
    const pair = (keyFile: string, peer: string, input: string) => {
      const child = new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          `${ROOT}client.ts`,
          "pair",
          "--key",
          keyFile,
          "--peer",
          peer,
          "--mediator",
          `127.0.0.1:${port}`,
          "--mediator-key",
          km.stdout_().trim(),
        ],
        stdin: "piped",
        stdout: "piped",
        stderr: "piped",
        signal: AbortSignal.timeout(60_000),
      }).spawn();
      const writer = child.stdin.getWriter();
      writer.write(enc.encode(input)).then(() => writer.close()).catch(() => {});
      return child.output();
    };
    const [a, b] = await Promise.all([
      pair(`${dir}/a.key`, kb.stdout_().trim(), "ping from a\n"),
      pair(`${dir}/b.key`, ka.stdout_().trim(), "pong from b\n"),
    ]);
    assert.equal(a.code, 0, dec.decode(a.stderr));
    assert.equal(b.code, 0, dec.decode(b.stderr));
    assert.equal(dec.decode(a.stdout), "pong from b\n");
    assert.equal(dec.decode(b.stdout), "ping from a\n");
    assert.match(dec.decode(a.stderr), /Connected to pk1/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
