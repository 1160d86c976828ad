import assert from "node:assert/strict";
import { LineReader, runClientProcess, spawnServer } from "./_helpers.ts";

const ROOT = new URL("../", import.meta.url).pathname;

async function relayTransfer(kind: "tcp" | "ws"): Promise<void> {
  const extra = kind === "ws" ? ["--http-port", "0"] : [];
  await using server = await spawnServer(
    ["--host", "127.0.0.1", "--gday-port", "0", "--relay-port", "0", "--rate-limit", "0", ...extra],
    kind === "ws" ? 3 : 2,
  );
  const gday = server.listeners.find((l) => l.service === "gday")!;
  const relay = kind === "ws"
    ? `ws://127.0.0.1:${server.listeners.find((l) => l.service === "http")!.port}/relay`
    : `127.0.0.1:${server.listeners.find((l) => l.service === "relay")!.port}`;
  const dir = await Deno.makeTempDir({ prefix: "peerlink-relay-transfer-" });
  try {
    const data = new Uint8Array(1_000_000).map((_, i) => (i * 31) & 0xff);
    await Deno.writeFile(`${dir}/data.bin`, data);
    const at = `127.0.0.1:${gday.port}`;
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
        relay,
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
      assert.ok(
        hint.includes(`--relay ${relay} --relay-only`),
        "the receiver is told the relay flags",
      );
      const received = await runClientProcess([
        "receive",
        code,
        "--server",
        at,
        "--relay",
        relay,
        "--relay-only",
        "--out",
        `${dir}/in`,
      ]);
      assert.equal(received.code, 0, received.stderr);
      assert.match(received.stderr, /over relay/);
      assert.deepEqual(await Deno.readFile(`${dir}/in/data.bin`), data);
      // The sender must finish on its own once the receiver has verified (not wait for a resume).
      let timer: ReturnType<typeof setTimeout> | undefined;
      const status = await Promise.race([
        sender.status,
        new Promise<null>((r) => (timer = setTimeout(() => r(null), 20_000))),
      ]);
      clearTimeout(timer);
      assert.ok(
        status !== null,
        "the sender did not finish within 20 s after the receiver verified",
      );
      assert.equal(status.code, 0, await lines.rest());
      assert.match(await stdout, /the receiver verified and saved every file/);
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
}

Deno.test("cli: send and receive --relay-only move a file through server.ts's relay (TCP)", () =>
  relayTransfer("tcp"));

Deno.test("cli: send and receive --relay-only move a file through server.ts's relay (WebSocket); both sides finish", () =>
  relayTransfer("ws"));
