/**
 * JSON logs carry a request id: every line a connection, an HTTP request or a chat datagram
 * causes has the same `request_id`, unique per request; lines outside requests have none.
 */

import assert from "node:assert/strict";
import { createLogger, MAX_LOG_FIELD_LENGTH, REQUEST_ID_FIELD } from "../server/logger.ts";
import { startServer } from "../server/server.ts";
import { httpPlugin, HttpRoutes } from "../server/services/http.ts";
import { chatPlugin } from "../server/services/chat.ts";
import { relayPlugin } from "../server/services/relay.ts";
import { relayConnect } from "../client/relay.ts";
import { RawClient } from "./_helpers.ts";

type Line = Record<string, unknown>;

function capture(): { lines: Line[]; logger: ReturnType<typeof createLogger> } {
  const lines: Line[] = [];
  return {
    lines,
    logger: createLogger({ format: "json", print: (line) => lines.push(JSON.parse(line)) }),
  };
}

async function until(check: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error("Timed out");
    await new Promise((r) => setTimeout(r, 10));
  }
}

const ID = /^[0-9a-f]{8}-[0-9a-z]+$/;

Deno.test("logs: each gday connection's lines share one request_id, distinct per connection", async () => {
  const { lines, logger } = capture();
  await using server = await startServer({
    hostname: "127.0.0.1",
    gdayPort: 0,
    logger,
    limits: { requestsPerMinute: 0 },
  });
  const port = server.listeners[0]!.addr.port;
  using creator = await RawClient.connect(port);
  assert.equal(await creator.request('{"CreateRoom":{"room_code":77}}'), '"RoomCreated"');
  using broken = await RawClient.connect(port);
  await broken.writeBytes(new Uint8Array([0, 0, 0, 2, 0x5b, 0x5d]));
  assert.equal(await broken.recv(), '"ErrorSyntax"');
  // Waiting for its peer, the creator leaves: the room is abandoned in its request.
  assert.equal(
    await creator.request('{"SendAddr":{"room_code":77,"is_creator":true,"private_addr":null}}'),
    '"ReceivedAddr"',
  );
  creator.close();
  await until(() => server.openConnections === 0);

  const created = lines.find((l) => l.event === "room_created")!;
  const bad = lines.find((l) => l.event === "bad_message")!;
  assert.match(String(created[REQUEST_ID_FIELD]), ID);
  assert.match(String(bad[REQUEST_ID_FIELD]), ID);
  assert.notEqual(created[REQUEST_ID_FIELD], bad[REQUEST_ID_FIELD]);
  // The listening line is no request's.
  assert.equal(lines.find((l) => l.event === "listening")![REQUEST_ID_FIELD], undefined);
  // Every line about a connection carries the request id, and one connection keeps one id.
  const byConn = new Map<unknown, Set<unknown>>();
  for (const line of lines) {
    if (line.conn === undefined) continue;
    assert.match(String(line[REQUEST_ID_FIELD]), ID, JSON.stringify(line));
    const ids = byConn.get(line.conn) ?? new Set();
    ids.add(line[REQUEST_ID_FIELD]);
    byConn.set(line.conn, ids);
  }
  for (const ids of byConn.values()) assert.equal(ids.size, 1);
  // The field comes first after the event, so people see it.
  const keys = Object.keys(bad);
  assert.deepEqual(keys.slice(0, 4), ["time", "level", "event", REQUEST_ID_FIELD]);
});

Deno.test("logs: an HTTP request and the relay WebSocket it upgrades to share a request_id", async () => {
  const { lines, logger } = capture();
  const routes = new HttpRoutes();
  routes.add("GET", "/boom", () => {
    throw new Error("Handler broke");
  });
  let httpPort = 0;
  await using server = await startServer({
    hostname: "127.0.0.1",
    gdayPort: null,
    logger,
    limits: { requestsPerMinute: 0 },
    services: [
      httpPlugin({
        hostname: "127.0.0.1",
        port: 0,
        routes,
        onListening: (l) => (httpPort = l.addr.port),
      }),
      relayPlugin({ port: null, routes }),
    ],
  });
  assert.ok(server.listeners.length === 0 && httpPort > 0);
  const response = await fetch(`http://127.0.0.1:${httpPort}/boom`);
  await response.body?.cancel();
  assert.equal(response.status, 500);
  const failed = lines.find((l) => l.event === "http_handler_failed")!;
  assert.match(String(failed[REQUEST_ID_FIELD]), ID);

  // Two WebSocket peers pair: the circuit's lines carry the upgrade request's id.
  const url = `ws://127.0.0.1:${httpPort}/relay`;
  const token = crypto.getRandomValues(new Uint8Array(32));
  const [a, b] = await Promise.all([
    relayConnect({ server: url, token }),
    relayConnect({ server: url, token }),
  ]);
  a.close();
  b.close();
  await until(() => lines.some((l) => l.event === "relay_circuit_closed"));
  const opened = lines.find((l) => l.event === "relay_circuit_opened")!;
  const closed = lines.find((l) => l.event === "relay_circuit_closed")!;
  assert.match(String(opened[REQUEST_ID_FIELD]), ID);
  assert.notEqual(opened[REQUEST_ID_FIELD], failed[REQUEST_ID_FIELD]);
  assert.equal(closed[REQUEST_ID_FIELD], opened[REQUEST_ID_FIELD]);
});

Deno.test("logs: each chat datagram is a request", async () => {
  const { lines, logger } = capture();
  await using server = await startServer({
    hostname: "127.0.0.1",
    gdayPort: null,
    logger,
    services: [chatPlugin({ port: 0, rateLimit: 0 })],
  });
  const port = server.listeners[0]!.addr.port;
  const socket = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  using _socket = { [Symbol.dispose]: () => socket.close() };
  const register = (name: string) =>
    socket.send(new TextEncoder().encode(`{"Register":{"username":"${name}"}}`), {
      transport: "udp",
      hostname: "127.0.0.1",
      port,
    });
  await register("alice");
  await socket.receive();
  await register("alice2");
  await socket.receive();
  const registered = lines.filter((l) => l.event === "chat_registered");
  assert.equal(registered.length, 2);
  for (const line of registered) assert.match(String(line[REQUEST_ID_FIELD]), ID);
  assert.notEqual(registered[0]![REQUEST_ID_FIELD], registered[1]![REQUEST_ID_FIELD]);
});

Deno.test("logs: a client cannot make a line longer than the field limit", () => {
  const printed: string[] = [];
  const logger = createLogger({ format: "json", print: (l) => printed.push(l) });
  logger.log("info", "bad_message", { error: "x".repeat(100_000), n: 1 });
  const line = JSON.parse(printed[0]!);
  assert.ok(line.error.length < MAX_LOG_FIELD_LENGTH + 40);
  assert.ok(line.error.endsWith(`…(${100_000 - MAX_LOG_FIELD_LENGTH} more)`));
  assert.equal(line.n, 1);
  // Text lines escape what could forge another line.
  const text: string[] = [];
  createLogger({ print: (l) => text.push(l) }).log("info", "x", { v: 'a\nb "c"' });
  assert.equal(text.length, 1);
  assert.ok(!text[0]!.includes("\n"));
});
