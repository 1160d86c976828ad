import assert from "node:assert/strict";
import { LineReader, runClientProcess, spawnServer } from "./_helpers.ts";

const ROOT = new URL("../", import.meta.url).pathname;

Deno.test("cli: send and receive --relay-only move a file through server.ts's relay", async () => {
  await using server = await spawnServer([
    "--host",
    "127.0.0.1",
    "--gday-port",
    "0",
    "--relay-port",
    "0",
    "--rate-limit",
    "0",
  ], 2);
  const gday = server.listeners.find((l) => l.service === "gday")!;
  const relay = server.listeners.find((l) => l.service === "relay")!;
  const dir = await Deno.makeTempDir({ prefix: "peerlink-relay-transfer-" });
  try {
    const data = new Uint8Array(1_000_000).map((_, i) => (i * 31) & 0xff);
    await Deno.writeFile(`${dir}/data.bin`, data);
    const at = `127.0.0.1:${gday.port}`;
    const via = `127.0.0.1:${relay.port}`;
    const sender = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        `${ROOT}client.ts`,
        "send",
        `${dir}/data.bin`,
        "--server",
        at,
        "--relay",
        via,
        "--relay-only",
      ],
      cwd: ROOT,
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const lines = new LineReader(sender.stderr);
    const stdout = new Response(sender.stdout).text();
    try {
      const code = (await lines.waitFor((l) => l.startsWith("Code: "), 30_000)).slice(
        "Code: ".length,
      );
      const hint = await lines.waitFor((l) => l.includes("client.ts receive"), 5000);
      assert.match(
        hint,
        new RegExp(`--relay ${via} --relay-only`),
        "the receiver is told the relay flags",
      );
      const received = await runClientProcess([
        "receive",
        code,
        "--server",
        at,
        "--relay",
        via,
        "--relay-only",
        "--out",
        `${dir}/in`,
      ]);
      assert.equal(received.code, 0, received.stderr);
      assert.match(received.stderr, /over relay/);
      assert.deepEqual(await Deno.readFile(`${dir}/in/data.bin`), data);
      assert.equal((await sender.status).code, 0);
      await lines.rest();
      await stdout;
    } finally {
      try {
        sender.kill("SIGKILL");
      } catch { /* exited */ }
      await sender.status;
      await lines.cancel();
    }
    const stopped = await server.stop();
    assert.equal(stopped.code, 0);
    const closed = server.log.lines.map((l) => JSON.parse(l)).find((e) =>
      e.event === "relay_circuit_closed"
    );
    assert.ok(closed, "the relay carried a circuit");
    assert.ok(closed.bytes >= data.length, `the relay carried ${closed.bytes} bytes`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
