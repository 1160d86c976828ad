import assert from "node:assert/strict";
import { runClientProcess, selfSignedCert, spawnServer } from "./_helpers.ts";

const LIMITS = ["--rate-limit", "0"];

// Addresses may be null; assertions on them fail clearly when they are.
type Slots = { v4: string; v6: string };
type ContactPair = { private: Slots; public: Slots };
interface ExchangeJson {
  room: string;
  own: ContactPair;
  peer: ContactPair;
}

async function exchangeBoth(
  server: string,
  code: string,
  extra: string[] = [],
): Promise<[ExchangeJson, ExchangeJson]> {
  const [a, b] = await Promise.all([
    runClientProcess([
      "exchange",
      "--create",
      "--code",
      code,
      "--server",
      server,
      "--json",
      ...extra,
    ]),
    // The joiner may arrive before the room exists: retry NoSuchRoom a few times, as a person would.
    (async () => {
      for (let i = 0;; i++) {
        const r = await runClientProcess([
          "exchange",
          "--join",
          code,
          "--server",
          server,
          "--json",
          ...extra,
        ]);
        if (r.code === 0 || i >= 20 || !r.stderr.includes("No room")) return r;
        await new Promise((res) => setTimeout(res, 200));
      }
    })(),
  ]);
  assert.equal(a.code, 0, a.stderr);
  assert.equal(b.code, 0, b.stderr);
  return [JSON.parse(a.stdout), JSON.parse(b.stdout)];
}

Deno.test("cli: server.ts as the README starts it, two client.ts exchanges over IPv4, IPv6, TCP and TLS", async () => {
  const { dir } = await selfSignedCert();
  try {
    await using server = await spawnServer([
      "--host",
      "::",
      "--gday-port",
      "0",
      "--gday-tls-port",
      "0",
      "--tls-cert",
      `${dir}/cert.pem`,
      "--tls-key",
      `${dir}/key.pem`,
      ...LIMITS,
    ], 2);
    const tcp = server.listeners.find((l) => l.transport === "tcp")!;
    const tls = server.listeners.find((l) => l.transport === "tls")!;
    assert.equal(tcp.service, "gday");
    assert.match(tcp.addr, /^\[::\]:\d+$/);

    const [a, b] = await exchangeBoth(`127.0.0.1:${tcp.port}`, "1111-0001");
    assert.equal(a.room, "1111-0001");
    assert.equal(a.peer.public.v4, b.own.public.v4);
    assert.match(a.peer.public.v4, /^127\.0\.0\.1:\d+$/);

    const [c, d] = await exchangeBoth(`[::1]:${tcp.port}`, "1111-0002");
    assert.match(c.peer.public.v6, /^\[::1\]:\d+$/);
    assert.equal(c.peer.public.v6, d.own.public.v6);

    const [e, f] = await exchangeBoth(`localhost:${tls.port}`, "1111-0003", [
      "--tls",
      "--ca",
      `${dir}/cert.pem`,
    ]);
    assert.match(e.peer.public.v4, /^127\.0\.0\.1:\d+$/);
    assert.match(e.peer.public.v6, /^\[::1\]:\d+$/);
    assert.deepEqual(e.peer, f.own);

    const [g] = await exchangeBoth(`[::1]:${tls.port}`, "1111-0004", ["--insecure"]);
    assert.match(g.peer.public.v6, /^\[::1\]:\d+$/);

    const status = await server.stop();
    assert.equal(status.code, 0, "graceful shutdown on SIGTERM exits 0");
    assert.ok(server.log.lines.some((l) => l.includes('"event":"room_exchanged"')));
    assert.ok(!server.log.lines.some((l) => l.includes("1111")), "room codes are never logged");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cli: client.ts exchange prints a readable code and contacts", async () => {
  await using server = await spawnServer(["--host", "127.0.0.1", "--gday-port", "0", ...LIMITS]);
  const port = server.listeners[0]!.port;
  const create = runClientProcess(["exchange", "--create", "--server", `127.0.0.1:${port}`]);
  // A second creator with a known code, so the joiner can type it.
  const known = runClientProcess([
    "exchange",
    "--create",
    "--code",
    "2222-3333",
    "--server",
    `127.0.0.1:${port}`,
  ]);
  await new Promise((r) => setTimeout(r, 300));
  const join = await runClientProcess([
    "exchange",
    "--join",
    "2222 3333",
    "--server",
    `127.0.0.1:${port}`,
  ]);
  const created = await known;
  assert.equal(join.code, 0, join.stderr);
  assert.equal(created.code, 0, created.stderr);
  assert.match(created.stderr, /Room code: 2222-3333/);
  assert.match(created.stderr, /exchange --join 2222-3333 --server 127\.0\.0\.1:\d+/);
  assert.match(join.stdout, /^Room 2222-3333\nYou : public {3}v4 127\.0\.0\.1:\d+ {2}v6 -\n/);
  assert.match(join.stdout, /Peer: public {3}v4 127\.0\.0\.1:\d+/);
  // The random-code creator is still waiting: stop the server, it fails with exit 1.
  await server.stop();
  const lonely = await create;
  assert.equal(lonely.code, 1);
  assert.match(lonely.stderr, /Room code: \d{4}-\d{4}/);
  assert.match(lonely.stderr, /error: /);
});

Deno.test("cli: exit codes: usage 2, failure 1, help 0", async () => {
  const help = await runClientProcess(["exchange", "--help"]);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /--join CODE/);
  assert.equal((await runClientProcess(["--help"])).code, 0);
  assert.equal((await runClientProcess([])).code, 2);
  assert.equal((await runClientProcess(["nonsense"])).code, 2);
  const both = await runClientProcess(["exchange", "--create", "--join", "1"]);
  assert.equal(both.code, 2);
  assert.match(both.stderr, /exactly one of --create or --join/);
  assert.equal((await runClientProcess(["exchange", "--join", "12ab"])).code, 2);
  assert.equal(
    (await runClientProcess(["exchange", "--join", "1", "--server", "host:99999"])).code,
    2,
  );
  // Nothing listens on port 1 of loopback.
  const down = await runClientProcess(["exchange", "--join", "1", "--server", "127.0.0.1:1"]);
  assert.equal(down.code, 1);
  assert.match(down.stderr, /Cannot reach the server at 127\.0\.0\.1:1/);
});

Deno.test("cli: server.ts --help, bad flags and missing TLS files", async () => {
  const run = async (args: string[]) => {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", new URL("../server.ts", import.meta.url).pathname, ...args],
      stdout: "piped",
      stderr: "piped",
    }).output();
    return {
      code: out.code,
      stdout: new TextDecoder().decode(out.stdout),
      stderr: new TextDecoder().decode(out.stderr),
    };
  };
  const help = await run(["--help"]);
  assert.equal(help.code, 0);
  for (
    const flag of [
      "--host",
      "--gday-port",
      "--gday-tls-port",
      "--tls-cert",
      "--tls-key",
      "--room-ttl",
      "--rate-limit",
      "--max-rooms",
      "--max-connections",
      "--max-connections-per-ip",
      "--max-frame-bytes",
      "--idle-timeout",
      "--log-format",
    ]
  ) {
    assert.ok(help.stdout.includes(flag), flag);
  }
  assert.equal((await run(["--gday-port", "70000"])).code, 2);
  assert.equal((await run(["--tls-cert", "x.pem"])).code, 2);
  const missing = await run([
    "--tls-cert",
    "/nonexistent.pem",
    "--tls-key",
    "/nonexistent.pem",
    "--gday-port",
    "0",
  ]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /cannot read the TLS certificate/);
});
