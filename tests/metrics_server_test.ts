/**
 * `/healthz`, `/readyz` and `/metrics` of a real `server.ts` process (`--http-port 0`): the
 * counters move during a gday exchange, as scraped with curl.
 */

import assert from "node:assert/strict";
import { exchangeContacts } from "../client/exchange.ts";
import { RawClient, type ServerProcess, spawnServer } from "./_helpers.ts";

const BASE = ["--host", "127.0.0.1", "--gday-port", "0", "--http-port", "0"];

function port(server: ServerProcess, service: string): number {
  const listener = server.listeners.find((l) => l.service === service);
  assert.ok(listener, `No ${service} listener`);
  return listener.port;
}

/** Whether curl can be run here. */
const hasCurl = await new Deno.Command("curl", { args: ["--version"], stdout: "null" })
  .output()
  .then((out) => out.success, () => false);

/** GET with curl (as an operator would), or fetch where there is no curl. */
async function get(url: string): Promise<{ status: number; type: string; body: string }> {
  if (!hasCurl) {
    const response = await fetch(url);
    return {
      status: response.status,
      type: response.headers.get("content-type") ?? "",
      body: await response.text(),
    };
  }
  const out = await new Deno.Command("curl", {
    args: ["-sS", "--max-time", "10", "-w", "\n%{http_code} %{content_type}", url],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  const text = new TextDecoder().decode(out.stdout);
  const split = text.lastIndexOf("\n");
  const [status, ...type] = text.slice(split + 1).split(" ");
  return { status: Number(status), type: type.join(" "), body: text.slice(0, split) };
}

/** Scrape `/metrics` into `name{labels}` → value. */
async function scrape(httpPort: number): Promise<Map<string, number>> {
  const { status, type, body } = await get(`http://127.0.0.1:${httpPort}/metrics`);
  assert.equal(status, 200);
  assert.ok(type.startsWith("text/plain; version=0.0.4"), type);
  const samples = new Map<string, number>();
  for (const line of body.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const space = line.lastIndexOf(" ");
    samples.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return samples;
}

function delta(before: Map<string, number>, after: Map<string, number>, key: string): number {
  return (after.get(key) ?? 0) - (before.get(key) ?? 0);
}

async function exchange(gdayPort: number, code: bigint): Promise<void> {
  const server = `127.0.0.1:${gdayPort}`;
  let created!: () => void;
  const room = new Promise<void>((resolve) => (created = resolve));
  const a = exchangeContacts({ server, create: true, roomCode: code, onRoom: () => created() });
  const b = Promise.race([room, a]).then(() =>
    exchangeContacts({ server, create: false, roomCode: code })
  );
  const [x, y] = await Promise.all([a, b]);
  x.close();
  y.close();
}

async function until(check: () => Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error("Timed out");
    await new Promise((r) => setTimeout(r, 50));
  }
}

Deno.test("metrics: curl /metrics shows the counters moving during a gday exchange", async () => {
  await using server = await spawnServer([...BASE, "--rate-limit", "0"], 2);
  const http = port(server, "http");
  const gday = port(server, "gday");

  const before = await scrape(http);
  assert.equal(before.get("peerlink_rooms"), 0);
  assert.equal(before.get('peerlink_connections_open{service="gday"}'), 0);
  assert.ok((before.get("peerlink_process_resident_memory_bytes") ?? 0) > 1_000_000);
  assert.ok((before.get("peerlink_process_open_fds") ?? 0) > 0);

  await exchange(gday, 123_456_789n);
  // The server sees the clients' closes a moment later.
  await until(async () =>
    (await scrape(http)).get('peerlink_connections_open{service="gday"}') === 0
  );
  const after = await scrape(http);

  assert.equal(delta(before, after, 'peerlink_connections_total{service="gday"}'), 2);
  assert.equal(delta(before, after, 'peerlink_room_events_total{event="created"}'), 1);
  assert.equal(delta(before, after, 'peerlink_room_events_total{event="exchanged"}'), 1);
  assert.equal(delta(before, after, 'peerlink_exchanges_total{service="gday"}'), 1);
  assert.equal(delta(before, after, 'peerlink_gday_requests_total{type="CreateRoom"}'), 1);
  assert.equal(delta(before, after, 'peerlink_gday_requests_total{type="SendAddr"}'), 2);
  assert.equal(delta(before, after, 'peerlink_gday_requests_total{type="DoneSending"}'), 2);
  assert.ok(delta(before, after, 'peerlink_http_requests_total{status="200"}') >= 1);
  assert.equal(after.get("peerlink_rooms"), 0);
  assert.ok(
    (after.get("peerlink_process_uptime_seconds") ?? 0) >
      (before.get("peerlink_process_uptime_seconds") ?? 0),
  );

  // A room held shows in the gauge; a bad frame counts as an error by kind.
  using holder = await RawClient.connect(gday);
  assert.equal(await holder.request('{"CreateRoom":{"room_code":99}}'), '"RoomCreated"');
  using bad = await RawClient.connect(gday);
  await bad.writeBytes(new Uint8Array([0, 0, 0, 3, 0x7b, 0x7b, 0x7b]));
  assert.equal(await bad.recv(), '"ErrorSyntax"');
  const during = await scrape(http);
  assert.equal(during.get("peerlink_rooms"), 1);
  assert.ok((during.get('peerlink_connections_open{service="gday"}') ?? 0) >= 1);
  assert.equal(delta(after, during, 'peerlink_errors_total{service="gday",kind="ErrorSyntax"}'), 1);
  assert.equal(delta(after, during, 'peerlink_gday_error_replies_total{reply="ErrorSyntax"}'), 1);
});

Deno.test("metrics: rate-limited requests and refused connections are counted", async () => {
  await using server = await spawnServer(
    [...BASE, "--rate-limit", "1", "--max-connections-per-ip", "3"],
    2,
  );
  const http = port(server, "http");
  const gday = port(server, "gday");
  using a = await RawClient.connect(gday);
  assert.equal(await a.request('{"CreateRoom":{"room_code":1}}'), '"RoomCreated"');
  assert.equal(await a.request('{"CreateRoom":{"room_code":2}}'), '"ErrorTooManyRequests"');
  assert.ok(await a.closedByServer());
  await until(async () =>
    (await scrape(http)).get('peerlink_connections_open{service="gday"}') === 0
  );
  // Three connections are allowed per IP, the fourth is refused.
  using b = await RawClient.connect(gday);
  using c = await RawClient.connect(gday);
  using d = await RawClient.connect(gday);
  using e = await RawClient.connect(gday);
  assert.equal(await e.recv(), '"ErrorTooManyRequests"');
  const samples = await scrape(http);
  assert.equal(samples.get('peerlink_rate_limited_total{service="gday"}'), 1);
  assert.equal(samples.get('peerlink_connections_refused_total{service="gday"}'), 1);
  for (const client of [b, c, d]) client.close();
});

Deno.test("metrics: /healthz and /readyz answer; --http-port alone serves them", async () => {
  // No relay and no other service: the HTTP service runs for these routes only.
  await using server = await spawnServer(
    ["--host", "127.0.0.1", "--gday-port", "0", "--http-port", "0", "--no-relay"],
    2,
  );
  const http = port(server, "http");
  const health = await get(`http://127.0.0.1:${http}/healthz`);
  assert.deepEqual([health.status, health.body], [200, "ok\n"]);
  const ready = await get(`http://127.0.0.1:${http}/readyz`);
  assert.equal(ready.status, 200);
  assert.ok(ready.type.startsWith("application/json"));
  const report = JSON.parse(ready.body);
  assert.equal(report.ready, true);
  assert.deepEqual(report.checks.map((c: { name: string; ok: boolean }) => [c.name, c.ok]), [
    ["listeners", true],
  ]);
  assert.equal((await get(`http://127.0.0.1:${http}/relay`)).status, 404);
  const post = await fetch(`http://127.0.0.1:${http}/metrics`, { method: "POST" });
  await post.body?.cancel();
  assert.equal(post.status, 405);
});

Deno.test("metrics: --no-metrics leaves the routes out", async () => {
  await using server = await spawnServer([...BASE, "--no-metrics"], 2);
  const http = port(server, "http");
  for (const path of ["/metrics", "/healthz", "/readyz"]) {
    assert.equal((await get(`http://127.0.0.1:${http}${path}`)).status, 404, path);
  }
});
