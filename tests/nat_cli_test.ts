import assert from "node:assert/strict";
import { runClientProcess, type ServerProcess, spawnServer } from "./_helpers.ts";
import { runServer } from "../cli/server_main.ts";

/** Start `server.ts` and wait for its two STUN listening lines (whatever else it runs). */
async function spawnWithStun(
  args: string[],
): Promise<{ server: ServerProcess; port: number; altPort: number }> {
  const server = await spawnServer(args, 1);
  const ports = server.listeners.filter((l) => l.service === "stun").map((l) => l.port);
  try {
    while (ports.length < 2) {
      const line = await server.log.waitFor(
        (l) => l.includes('"event":"listening"') && l.includes('"service":"stun"'),
        20_000,
      );
      const addr = JSON.parse(line).addr as string;
      ports.push(Number(addr.slice(addr.lastIndexOf(":") + 1)));
    }
  } catch (error) {
    await server.stop();
    throw error;
  }
  return { server, port: ports[0]!, altPort: ports[1]! };
}

function memoryIo(): {
  io: Parameters<typeof runServer>[1];
  out: () => string;
  err: () => string;
} {
  let out = "";
  let err = "";
  return {
    io: {
      out: (t: string) => void (out += t),
      err: (t: string) => void (err += t),
      env: () => undefined,
      isTerminal: false,
      signal: AbortSignal.abort(),
    },
    out: () => out,
    err: () => err,
  };
}

Deno.test("cli: client.ts nat reports no NAT on loopback, as text and as JSON", async () => {
  const { server, port, altPort } = await spawnWithStun([
    "--host",
    "::",
    "--gday-port",
    "0",
    "--stun-port",
    "0",
    "--stun-alt-port",
    "0",
  ]);
  try {
    const text = await runClientProcess(["nat", "--server", `localhost:${port}`]);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /^STUN server localhost:\d+\n/);
    assert.match(text.stdout, /IPv4 {2}public 127\.0\.0\.1:\d+ \(local port \d+, no NAT\)/);
    assert.match(text.stdout, /IPv6 {2}public \[::1\]:\d+/);
    assert.match(text.stdout, /mapping {4}endpoint-independent/);
    assert.match(text.stdout, /filtering {2}endpoint-independent or address-dependent/);
    assert.match(text.stdout, /\nVerdict: no NAT \(IPv4\)\n$/);

    const json = await runClientProcess(["nat", "--server", `127.0.0.1:${port}`, "--json"]);
    assert.equal(json.code, 0, json.stderr);
    assert.equal(json.stdout.trim().split("\n").length, 1, "one JSON object");
    const report = JSON.parse(json.stdout);
    assert.equal(report.verdict, "no-nat");
    assert.equal(report.v4.nat, false);
    assert.equal(report.v4.mapping, "endpoint-independent");
    assert.equal(report.v4.otherAddress, `0.0.0.0:${altPort}`);
    assert.equal(report.v4.public, `127.0.0.1:${report.v4.local.split(":")[1]}`);
    assert.equal(report.v6.verdict, "not-tested");

    const six = await runClientProcess(["nat", "-6", "--server", `[::1]:${port}`, "--json"]);
    assert.equal(six.code, 0, six.stderr);
    assert.equal(JSON.parse(six.stdout).v4, null);
    assert.match(JSON.parse(six.stdout).v6.public, /^\[::1\]:\d+$/);
  } finally {
    await server.stop();
  }
});

Deno.test("cli: client.ts nat exit codes: usage 2, no answer 1, help 0", async () => {
  const help = await runClientProcess(["nat", "--help"]);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /--server HOST\[:PORT\]/);
  assert.match((await runClientProcess(["--help"])).stdout, /nat +Report your public addresses/);
  assert.equal((await runClientProcess(["nat", "-4", "-6"])).code, 2);
  assert.equal((await runClientProcess(["nat", "--server", "host:99999"])).code, 2);
  assert.equal((await runClientProcess(["nat", "--bogus"])).code, 2);
  // A UDP port that never answers: the tests give up after their retransmissions.
  const silent = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  try {
    const port = (silent.addr as Deno.NetAddr).port;
    const none = await runClientProcess(["nat", "-4", "--server", `127.0.0.1:${port}`]);
    assert.equal(none.code, 1);
    assert.match(none.stdout, /No STUN answer over IPv4/);
    assert.match(none.stderr, /error: no STUN answer/);
    const timedOut = await runClientProcess([
      "nat",
      "-4",
      "--server",
      `127.0.0.1:${port}`,
      "--timeout",
      "0.2",
    ]);
    assert.equal(timedOut.code, 1);
    assert.match(timedOut.stderr, /No report within 0\.2 s/);
  } finally {
    silent.close();
  }
});

Deno.test("cli: server.ts STUN flags: --no-stun, help, and refused combinations", async () => {
  {
    await using server = await spawnServer([
      "--host",
      "127.0.0.1",
      "--gday-port",
      "0",
      "--no-stun",
    ], 1);
    await server.stop();
    assert.ok(!server.log.lines.some((l) => l.includes('"service":"stun"')), "no STUN listener");
  }
  const help = memoryIo();
  assert.equal(await runServer(["--help"], help.io), 0);
  for (
    const flag of ["--stun ", "--no-stun", "--stun-port", "--stun-alt-port", "--stun-alt-host"]
  ) {
    assert.ok(help.out().includes(flag), flag);
  }
  const refused = async (args: string[], message: RegExp): Promise<void> => {
    const run = memoryIo();
    assert.equal(await runServer(["--gday-port", "0", ...args], run.io), 2, args.join(" "));
    assert.match(run.err(), message);
  };
  await refused(["--stun-port", "5000", "--stun-alt-port", "5000"], /both 5000/);
  await refused(["--stun-alt-host", "127.0.0.2"], /needs --host set/);
  await refused(["--host", "127.0.0.1", "--stun-alt-host", "::1"], /same IP family/);
  await refused(["--host", "127.0.0.1", "--stun-alt-host", "nope"], /one IP address/);
  await refused(
    ["--host", "127.0.0.1", "--stun-alt-host", "127.0.0.2", "--stun-port", "0"],
    /fixed ports/,
  );
  await refused(["--stun-port", "70000"], /--stun-port must be between/);
});
