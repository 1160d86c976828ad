import assert from "node:assert/strict";
import { runServer } from "../cli/server_main.ts";
import type { CliIo } from "../cli/io.ts";
import { relayConnect, type RelayConnection } from "../client/relay.ts";
import { spawnServer } from "./_helpers.ts";
import {
  pattern,
  randomToken,
  readAll,
  sha256Hex,
  testCert,
  writeAllAndClose,
} from "./relay_helpers.ts";

function io(sink: { text: string }): CliIo {
  return {
    out: (t) => void (sink.text += t),
    err: (t) => void (sink.text += t),
    env: () => undefined,
    isTerminal: false,
    signal: new AbortController().signal,
  };
}

async function roundTrip(a: RelayConnection, b: RelayConnection): Promise<void> {
  const data = pattern(200_000, 4);
  const [, got] = await Promise.all([writeAllAndClose(a, data), readAll(b.readable)]);
  assert.equal(sha256Hex(got), sha256Hex(data));
  await writeAllAndClose(b, data.subarray(0, 1000));
  assert.equal((await readAll(a.readable)).length, 1000);
  a.close();
  b.close();
}

Deno.test("server.ts --help lists the relay and HTTP flags; bad combinations are usage errors", async () => {
  const help = { text: "" };
  assert.equal(await runServer(["--help"], io(help)), 0);
  for (
    const flag of [
      "--relay ",
      "--relay-port",
      "--relay-tls-port",
      "--relay-max-bytes",
      "--relay-max-duration",
      "--relay-rate",
      "--relay-max-circuits-per-ip",
      "--relay-wait-timeout",
      "--http-port",
      "--https-port",
    ]
  ) {
    assert.ok(help.text.includes(flag), flag);
  }
  const cases: [string[], RegExp][] = [
    [["--relay-port", "5000", "--relay-tls-port", "5000"], /both 5000/],
    [["--http-port", "5001", "--https-port", "5001"], /both 5001/],
    [["--relay-rate=-1"], /--relay-rate must be between/],
    [["--relay-wait-timeout", "0"], /--relay-wait-timeout must be between/],
  ];
  for (const [args, message] of cases) {
    const bad = { text: "" };
    assert.equal(await runServer(args, io(bad)), 2, args.join(" "));
    assert.match(bad.text, message);
  }
});

Deno.test("server.ts --relay-port 0 --http-port 0: peers pair over TCP and WebSocket; logs carry no token", async () => {
  await using server = await spawnServer([
    "--host",
    "127.0.0.1",
    "--gday-port",
    "0",
    "--relay-port",
    "0",
    "--http-port",
    "0",
    "--relay-wait-timeout",
    "10",
  ], 3);
  const relay = server.listeners.find((l) => l.service === "relay" && l.transport === "tcp")!;
  const http = server.listeners.find((l) => l.service === "http" && l.transport === "http")!;
  assert.ok(relay && http, JSON.stringify(server.listeners));
  const token = randomToken();
  const [a, b] = await Promise.all([
    relayConnect({ server: `127.0.0.1:${relay.port}`, token }),
    relayConnect({ server: `127.0.0.1:${http.port}`, transport: "ws", token }),
  ]);
  await roundTrip(a, b);
  await server.log.waitFor((l) => l.includes('"event":"relay_circuit_closed"'));
  assert.equal((await server.stop()).code, 0);
  const log = server.log.lines.join("\n");
  assert.ok(log.includes('"event":"relay_circuit_opened"'));
  assert.ok(!log.includes(token.toHex()), "the token is logged");
});

Deno.test("server.ts with a certificate: the relay over TLS and over WebSocket on HTTPS", async () => {
  const { cert, key } = await testCert();
  const dir = await Deno.makeTempDir({ prefix: "peerlink-relay-cli-" });
  try {
    await Deno.writeTextFile(`${dir}/cert.pem`, cert);
    await Deno.writeTextFile(`${dir}/key.pem`, key);
    await using server = await spawnServer([
      "--host",
      "127.0.0.1",
      "--gday-port",
      "0",
      "--gday-tls-port",
      "0",
      "--tls-cert",
      `${dir}/cert.pem`,
      "--tls-key",
      `${dir}/key.pem`,
      "--relay-port",
      "0",
      "--relay-tls-port",
      "0",
      "--https-port",
      "0",
    ], 5);
    const tls = server.listeners.find((l) => l.service === "relay" && l.transport === "tls")!;
    const https = server.listeners.find((l) => l.service === "http" && l.transport === "https")!;
    assert.ok(tls && https, JSON.stringify(server.listeners));
    const token = randomToken();
    const [a, b] = await Promise.all([
      relayConnect({
        server: `localhost:${tls.port}`,
        transport: "tls",
        token,
        tls: { caCerts: [cert] },
      }),
      relayConnect({
        server: `wss://localhost:${https.port}/relay`,
        token,
        tls: { caCerts: [cert] },
      }),
    ]);
    await roundTrip(a, b);
    assert.equal((await server.stop()).code, 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
