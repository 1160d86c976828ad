/**
 * `client.ts listen` / `client.ts dial` (in process, with injected stdin/stdout) against a broker
 * on loopback, `server.ts --broker-*` flags, and one run of the real processes.
 */

import assert from "node:assert/strict";
import { dialCommand } from "../cli/commands/dial.ts";
import { listenCommand, type PipeIo } from "../cli/commands/listen.ts";
import { runClient } from "../cli/main.ts";
import { runServer } from "../cli/server_main.ts";
import { brokerEmpty, startBroker } from "./broker_helpers.ts";
import { LineReader, spawnServer } from "./_helpers.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A PipeIo with the given stdin text; collects stdout bytes and stderr text. */
function pipeIo(input: string, signal = new AbortController().signal) {
  const out: Uint8Array[] = [];
  let err = "";
  let text = "";
  const lines: ((line: string) => void)[] = [];
  const io: PipeIo = {
    out: (t) => void (text += t),
    err: (t) => {
      err += t;
      for (const l of lines) l(t);
    },
    env: () => undefined,
    isTerminal: false,
    signal,
    stdin: ReadableStream.from([encoder.encode(input)]),
    stdout: new WritableStream({ write: (c) => void out.push(c.slice()) }),
  };
  return {
    io,
    stdout: () => decoder.decode(new Uint8Array(out.flatMap((c) => [...c]))),
    stderr: () => err,
    text: () => text,
    /** Resolves when stderr contains `needle`. */
    waitErr: (needle: string) =>
      new Promise<void>((resolve) => {
        if (err.includes(needle)) return resolve();
        lines.push(() => err.includes(needle) && resolve());
      }),
  };
}

async function pair(
  address: string,
  listenArgs: string[],
  dialArgs: string[],
): Promise<{ l: ReturnType<typeof pipeIo>; d: ReturnType<typeof pipeIo>; codes: number[] }> {
  const l = pipeIo("from the listener\n");
  const d = pipeIo("from the dialer\n");
  const listening = listenCommand(["--uid", "alice", "--server", address, ...listenArgs], l.io);
  await Promise.race([l.waitErr("waiting for a connection"), listening]);
  const codes = await Promise.all([
    listening,
    dialCommand(["alice", "--server", address, ...dialArgs], d.io),
  ]);
  return { l, d, codes };
}

Deno.test("cli: listen and dial pipe stdin/stdout both ways", async () => {
  await using fx = await startBroker();
  const { l, d, codes } = await pair(fx.address, ["-v"], []);
  assert.deepEqual(codes, [0, 0], l.stderr() + d.stderr());
  assert.equal(l.stdout(), "from the dialer\n");
  assert.equal(d.stdout(), "from the listener\n");
  assert.match(l.stderr(), /Registered as alice/);
  assert.match(l.stderr(), /step 6: connect from/);
  assert.match(l.stderr(), /via twelve-step, request 1/);
  assert.match(d.stderr(), /Connected to alice at 127\.0\.0\.1:\d+ \(via twelve-step/);
  await brokerEmpty(fx.broker);
});

Deno.test("cli: --secret makes an encrypted pipe; a wrong secret fails on both sides", async () => {
  await using fx = await startBroker();
  const ok = await pair(fx.address, ["--secret", "7-lemon"], ["--secret", "7-lemon"]);
  assert.deepEqual(ok.codes, [0, 0], ok.l.stderr() + ok.d.stderr());
  assert.equal(ok.l.stdout(), "from the dialer\n");
  assert.equal(ok.d.stdout(), "from the listener\n");
  assert.match(ok.l.stderr(), /encrypted/);

  const bad = await pair(fx.address, ["--secret", "7-lemon"], ["--secret", "8-lemon"]);
  assert.deepEqual(bad.codes, [1, 1]);
  assert.match(bad.l.stderr(), /Wrong code/);
  assert.match(bad.d.stderr(), /Wrong code/);
  assert.equal(bad.l.stdout(), "");
  await brokerEmpty(fx.broker);
});

Deno.test("cli: failures exit 1 with a clear message, wrong usage exits 2", async () => {
  await using fx = await startBroker();
  const d = pipeIo("");
  assert.equal(await dialCommand(["nobody", "--server", fx.address], d.io), 1);
  assert.match(d.stderr(), /error: No receiver is registered as "nobody"/);

  const l = pipeIo("");
  assert.equal(
    await listenCommand(["--uid", "x", "--server", fx.address, "--timeout", "0.05"], l.io),
    1,
  );
  assert.match(l.stderr(), /no connection within 0.05 s/);

  for (
    const args of [
      ["listen"],
      ["listen", "--uid", "a b"],
      ["dial"],
      ["dial", "a", "b"],
      ["dial", "a", "--server", "host:99999"],
      ["dial", "a", "-4", "-6"],
    ]
  ) {
    const io = pipeIo("");
    assert.equal(await runClient(args, io.io), 2, args.join(" "));
    assert.match(io.stderr(), /error: /);
  }
  for (const command of ["listen", "dial"]) {
    const io = pipeIo("");
    assert.equal(await runClient([command, "--help"], io.io), 0);
    assert.match(io.text(), /--secret CODE/);
  }
  await brokerEmpty(fx.broker);
});

Deno.test("cli: server.ts broker flags", async () => {
  const io = pipeIo("");
  assert.equal(await runServer(["--help"], io.io), 0);
  for (const flag of ["--broker-port", "--broker-keepalive", "--broker-timeout"]) {
    assert.ok(io.text().includes(flag), flag);
  }
  const bad = pipeIo("");
  assert.equal(
    await runServer(["--broker-port", "0", "--broker-keepalive", "70"], bad.io),
    2,
  );
  assert.match(bad.stderr(), /--broker-keepalive \(70 s\) must be shorter than --broker-timeout/);
});

Deno.test("cli: the real processes, server.ts logs the broker as its own service", async () => {
  await using server = await spawnServer([
    "--host",
    "127.0.0.1",
    "--gday-port",
    "0",
    "--no-stun",
    "--broker-port",
    "0",
  ], 2);
  const broker = server.listeners.find((l) => l.service === "broker");
  assert.ok(broker, JSON.stringify(server.listeners));
  const address = `127.0.0.1:${broker.port}`;
  const ROOT = new URL("../", import.meta.url).pathname;
  const listen = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${ROOT}client.ts`, "listen", "--uid", "proc", "--server", address],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const status = new LineReader(listen.stderr);
  await status.waitFor((l) => l.includes("waiting for a connection"), 20_000);
  const writer = listen.stdin.getWriter();
  await writer.write(encoder.encode("hello dialer\n"));
  await writer.close();
  const dial = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${ROOT}client.ts`, "dial", "proc", "--server", address],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const dialIn = dial.stdin.getWriter();
  await dialIn.write(encoder.encode("hello listener\n"));
  await dialIn.close();
  const [dialOut, listenStatus, listenText, listenErr] = await Promise.all([
    dial.output(),
    listen.status,
    new Response(listen.stdout).text(),
    status.rest(),
  ]);
  assert.equal(dialOut.code, 0, decoder.decode(dialOut.stderr));
  assert.equal(listenStatus.code, 0, listenErr);
  assert.equal(decoder.decode(dialOut.stdout), "hello dialer\n");
  assert.equal(listenText, "hello listener\n");
  const line = await server.log.waitFor((l) => l.includes('"event":"broker_request"'));
  assert.match(line, /"steps":"1,2,3,4,5,6,7,8,9,10,11,12","via":"twelve-step"/);
});
