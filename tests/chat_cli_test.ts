/** `server.ts --chat-port`: the introducer from the command line, spoken to in the spec's bytes. */

import assert from "node:assert/strict";
import { runServer, SERVER_FLAGS } from "../cli/server_main.ts";
import { spawnServer } from "./_helpers.ts";
import { RawPeer } from "./chat_raw_peer.ts";

const io = (sink: { text: string }) => ({
  out: (t: string) => void (sink.text += t),
  err: (t: string) => void (sink.text += t),
  env: () => undefined,
  isTerminal: false,
  signal: new AbortController().signal,
});

/** Other services' ports set to 0, so this test never collides with a port in use. */
const OTHER_PORTS = SERVER_FLAGS.filter((f) =>
  f.type === "integer" && f.name.endsWith("-port") && !["gday-port", "chat-port"].includes(f.name)
).flatMap((f) => [`--${f.name}`, "0"]);

Deno.test("server.ts --help lists the chat flags; bad values are usage errors", async () => {
  const help = { text: "" };
  assert.equal(await runServer(["--help"], io(help)), 0);
  for (
    const flag of [
      "--chat-port",
      "--chat-idle-timeout",
      "--chat-busy-timeout",
      "--chat-rate-limit",
      "--chat-max-users",
    ]
  ) {
    assert.ok(help.text.includes(flag), flag);
  }
  const bad = { text: "" };
  assert.equal(await runServer(["--chat-port", "70000"], io(bad)), 2);
  assert.match(bad.text, /--chat-port/);
});

Deno.test("server.ts --chat-port 0 runs the introducer; SIGTERM stops it cleanly", async () => {
  await using server = await spawnServer([
    "--host",
    "127.0.0.1",
    "--gday-port",
    "0",
    "--chat-port",
    "0",
    "--chat-idle-timeout",
    "30",
    ...OTHER_PORTS,
  ]);
  const line = JSON.parse(
    server.log.lines.find((l) => l.includes('"service":"chat"')) ??
      await server.log.waitFor((l) =>
        l.includes('"event":"listening"') && l.includes('"service":"chat"')
      ),
  );
  assert.equal(line.transport, "udp");
  const port = Number(line.addr.slice(line.addr.lastIndexOf(":") + 1));
  await using alice = new RawPeer();
  await using bob = new RawPeer();
  await alice.expect('{"Register":{"username":"alice"}}', port, '"RegisterAck"');
  await bob.expect('{"Register":{"username":"bob"}}', port, '"RegisterAck"');
  await alice.send('{"Connect":{"target_username":"bob"}}', port);
  assert.equal(
    await alice.recv(),
    `{"PeerInfo":{"peer":"127.0.0.1:${bob.port}","username":"bob"}}`,
  );
  assert.equal(
    await bob.recv(),
    `{"PeerInfo":{"peer":"127.0.0.1:${alice.port}","username":"alice"}}`,
  );
  await server.log.waitFor((l) => l.includes('"event":"chat_paired"'));
  const status = await server.stop();
  assert.equal(status.code, 0);
});

Deno.test("server.ts without --chat-port has no chat listener", async () => {
  await using server = await spawnServer([
    "--host",
    "127.0.0.1",
    "--gday-port",
    "0",
    ...OTHER_PORTS,
  ]);
  assert.deepEqual(server.listeners.map((l) => l.service), ["gday"]);
  const status = await server.stop();
  assert.ok(!server.log.lines.some((l) => l.includes('"service":"chat"')));
  assert.equal(status.code, 0);
});
