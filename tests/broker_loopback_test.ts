/**
 * The broker end to end over loopback sockets: the twelve steps with the library receiver and
 * sender, keep-alives with short intervals over real sockets, reconnection when the broker dies,
 * and the simultaneous-open fallback (with a protocol-level receiver that makes step 12 fail).
 */

import assert from "node:assert/strict";
import { dialBroker, listenBroker } from "../client/broker.ts";
import type { BrokerReceiverEvent } from "../client/broker_receiver.ts";
import { exchangeHello } from "../client/broker_link.ts";
import { connectTcp } from "../net/tcp.ts";
import { punchTcp } from "../punch/tcp.ts";
import { silentLogger } from "../server/logger.ts";
import { startServer } from "../server/server.ts";
import { BrokerService } from "../server/services/broker.ts";
import { brokerEmpty, RawBroker, startBroker } from "./broker_helpers.ts";

const encoder = new TextEncoder();
const TWELVE = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];

async function readAll(readable: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(await new Response(readable).arrayBuffer());
}

async function writeAndClose(
  writable: WritableStream<Uint8Array>,
  bytes: Uint8Array,
): Promise<void> {
  const writer = writable.getWriter();
  await writer.write(bytes);
  await writer.close();
}

Deno.test("broker loopback: the twelve steps in order, bytes both ways, tables empty after", async () => {
  await using fx = await startBroker();
  const events: BrokerReceiverEvent[] = [];
  const receiver = await listenBroker({
    server: fx.address,
    uid: "alice",
    onEvent: (e) => events.push(e),
  });
  assert.ok(receiver.registered);
  assert.equal(receiver.publicAddr?.ip, "127.0.0.1");
  const [out, incoming] = await Promise.all([
    dialBroker({ server: fx.address, uid: "alice" }),
    receiver.accept(),
  ]);
  assert.equal(out.via, "twelve-step");
  assert.equal(incoming.via, "twelve-step");
  assert.equal(out.requestId, incoming.requestId);
  // Step 12 came from the sender's S1 port: the receiver sees the port of step 1.
  const record = await fx.broker.finished(out.requestId);
  assert.deepEqual(record.steps.map((s) => s.step), TWELVE);
  assert.equal(record.via, "twelve-step");
  assert.match(record.steps[0]!.detail, new RegExp(`:${incoming.remoteAddr.port}$`));
  assert.equal(out.localAddr.port, incoming.remoteAddr.port);
  // The receiver listened on the port of its step-3 connection.
  assert.match(record.steps[2]!.detail, new RegExp(`:${out.remoteAddr.port} `));

  // 1 MiB one way, a reply the other, with half-close.
  const big = crypto.getRandomValues(new Uint8Array(1 << 20).subarray(0, 65536));
  const payload = new Uint8Array(1 << 20);
  for (let i = 0; i < payload.length; i += big.length) payload.set(big, i);
  const [got] = await Promise.all([
    readAll(incoming.readable),
    writeAndClose(out.writable, payload),
  ]);
  assert.deepEqual(got, payload);
  await writeAndClose(incoming.writable, encoder.encode("thanks"));
  assert.equal(new TextDecoder().decode(await readAll(out.readable)), "thanks");
  out.close();
  incoming.close();

  const steps = events.filter((e) => e.kind === "step").map((e) => e.kind === "step" && e.step);
  assert.deepEqual(steps, [3, 4, 5, 6, 7, 8, 9, 12]);
  await receiver.close();
  await brokerEmpty(fx.broker);
});

Deno.test("broker loopback: several dials in a row, and the receiver as an async iterable", async () => {
  await using fx = await startBroker();
  await using receiver = await listenBroker({ server: fx.address, uid: "echo" });
  const serving = (async () => {
    let n = 0;
    for await (const conn of receiver) {
      await conn.readable.pipeTo(conn.writable); // echo, then half-close
      conn.close();
      if (++n === 3) break;
    }
    return n;
  })();
  for (let i = 0; i < 3; i++) {
    const conn = await dialBroker({ server: fx.address, uid: "echo" });
    const [text] = await Promise.all([
      readAll(conn.readable),
      writeAndClose(conn.writable, encoder.encode(`message ${i}`)),
    ]);
    assert.equal(new TextDecoder().decode(text), `message ${i}`);
    conn.close();
  }
  assert.equal(await serving, 3);
  await receiver.close();
  await brokerEmpty(fx.broker);
  assert.equal(fx.broker.history.length, 3);
  for (const record of fx.broker.history) assert.equal(record.via, "twelve-step");
});

Deno.test("broker loopback: IPv6", async () => {
  await using fx = await startBroker({}, "::1");
  await using receiver = await listenBroker({ server: fx.address, uid: "six" });
  const [out, incoming] = await Promise.all([
    dialBroker({ server: fx.address, uid: "six" }),
    receiver.accept(),
  ]);
  assert.equal(out.remoteAddr.family, "v6");
  assert.equal(out.via, "twelve-step");
  out.close();
  incoming.close();
  await receiver.close();
  await brokerEmpty(fx.broker);
});

Deno.test("broker keep-alive over sockets: silence drops, keep-alives keep, both on time", async () => {
  await using fx = await startBroker({ keepAliveMs: 100, dropTimeoutMs: 300 });
  // A raw receiver that registers and then says nothing: dropped after 300 ms.
  using raw = await RawBroker.connect(fx.port);
  await raw.send({ type: "register", uid: "silent" });
  const ack = await raw.expect("registered");
  assert.equal(ack.keepaliveMs, 100);
  assert.equal(ack.timeoutMs, 300);
  const registeredAt = performance.now();
  // A library receiver keeps its registration with the broker's interval.
  const events: BrokerReceiverEvent[] = [];
  const receiver = await listenBroker({
    server: fx.address,
    uid: "chatty",
    onEvent: (e) => events.push(e),
  });
  assert.equal(await raw.recv(2000), null, "the silent receiver was not dropped");
  const elapsed = performance.now() - registeredAt;
  assert.ok(elapsed >= 290, `dropped after ${elapsed} ms`);
  assert.ok(elapsed < 1500, `dropped late, after ${elapsed} ms`);
  await fx.broker.waitFor((b) => !b.isRegistered("silent"));
  // The library receiver survives many drop timeouts.
  // (Survival is about time passing: wait five drop timeouts.)
  await new Promise((r) => setTimeout(r, 1500));
  assert.ok(fx.broker.isRegistered("chatty"));
  assert.deepEqual(events.map((e) => e.kind), ["registered"]);
  await receiver.close();
  await brokerEmpty(fx.broker);
});

Deno.test("broker receiver: notices a silent broker and reconnects", async () => {
  // A fake broker that acknowledges registrations and then never answers keep-alives.
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  let registrations = 0;
  const conns: Deno.Conn[] = [];
  const fake = (async () => {
    for await (const conn of listener) {
      conns.push(conn);
      registrations++;
      const raw = new RawBroker(conn as Deno.TcpConn);
      await raw.expect("register").catch(() => {});
      await raw.send({
        type: "registered",
        uid: "alice",
        keepaliveMs: 50,
        timeoutMs: 200,
        addr: { family: "v4", ip: "127.0.0.1", port: 1 },
      }).catch(() => {});
    }
  })();
  const events: BrokerReceiverEvent[] = [];
  const second = Promise.withResolvers<void>();
  const receiver = await listenBroker({
    server: `127.0.0.1:${listener.addr.port}`,
    uid: "alice",
    reconnectMinMs: 20,
    onEvent: (e) => {
      events.push(e);
      if (e.kind === "registered" && events.filter((x) => x.kind === "registered").length === 2) {
        second.resolve();
      }
    },
  });
  await second.promise;
  await receiver.close();
  listener.close();
  for (const conn of conns) {
    try {
      conn.close();
    } catch { /* closed */ }
  }
  await fake;
  const disconnected = events.find((e) => e.kind === "disconnected");
  assert.ok(disconnected && disconnected.kind === "disconnected");
  assert.match(disconnected.error.message, /sent nothing for 200 ms/);
  assert.ok(registrations >= 2);
  assert.ok(events.some((e) => e.kind === "reconnecting"));
});

Deno.test("broker receiver: re-registers with backoff after the broker restarts, then takes dials", async () => {
  const first = await startBroker();
  const port = first.port;
  const events: BrokerReceiverEvent[] = [];
  const back = Promise.withResolvers<void>();
  const receiver = await listenBroker({
    server: first.address,
    uid: "phoenix",
    reconnectMinMs: 50,
    reconnectMaxMs: 200,
    onEvent: (e) => {
      events.push(e);
      if (e.kind === "registered" && events.some((x) => x.kind === "disconnected")) back.resolve();
    },
  });
  await first.server.close(); // the broker dies (its receivers are told "shutdown")
  // A new broker process on the same port.
  const broker = new BrokerService({ port });
  await using server = await startServer({
    hostname: "127.0.0.1",
    gdayPort: null,
    logger: silentLogger,
    limits: { requestsPerMinute: 0 },
    services: [broker.factory],
  });
  assert.equal(server.listeners[0]!.addr.port, port);
  await back.promise;
  assert.ok(broker.isRegistered("phoenix"));
  assert.ok(events.some((e) => e.kind === "reconnecting"));
  const [out, incoming] = await Promise.all([
    dialBroker({ server: first.address, uid: "phoenix" }),
    receiver.accept(),
  ]);
  assert.equal(out.requestId, incoming.requestId);
  out.close();
  incoming.close();
  await receiver.close();
  await brokerEmpty(broker);
});

Deno.test("broker fallback: when step 12 fails, both sides meet by simultaneous open", async () => {
  await using fx = await startBroker();
  // A protocol-level receiver that does steps 3–9 but never listens, so step 12 is refused.
  using registration = await RawBroker.connect(fx.port);
  await registration.send({ type: "register", uid: "stubborn" });
  await registration.expect("registered");
  const dialing = dialBroker({ server: fx.address, uid: "stubborn", step12TimeoutMs: 1000 });
  const request = await registration.expect("request");
  const r1 = await connectTcp({ hostname: "127.0.0.1", port: fx.port, localAddress: "127.0.0.1" });
  const writer = r1.writable.getWriter();
  const { encodeBrokerFrame } = await import("../protocol/broker.ts");
  await writer.write(encodeBrokerFrame({ type: "accept", req: request.req, token: request.token }));
  writer.releaseLock();
  const reader = r1.readable.getReader();
  await reader.read(); // step 4
  reader.releaseLock();
  const local = r1.localAddr;
  r1.close();
  using r2 = await RawBroker.connect(fx.port);
  await r2.send({ type: "punched", req: request.req, token: request.token, step6: "timeout" });
  assert.equal(await r2.recv(), null, "the broker closes R2");
  // The sender's step 12 is refused; it asks for the fallback and the broker relays it.
  const start = await registration.expect("fallback_start", 10_000);
  const result = await punchTcp({
    pairs: [{ local, remote: start.addr, kind: "public" }],
    timeoutMs: 10_000,
    authenticate: async (conn, _pair, { claim, signal }) => {
      const readable = await exchangeHello(conn, {
        type: "hello",
        req: request.req,
        token: request.token,
        role: "receiver",
      }, { signal });
      if (!claim()) throw new Error("lost");
      return readable;
    },
  });
  const out = await dialing;
  assert.equal(out.via, "simultaneous-open");
  await registration.send({ type: "done", req: request.req, via: "simultaneous-open" });
  const [text] = await Promise.all([
    readAll(result.value),
    writeAndClose(out.writable, encoder.encode("through the fallback")),
  ]);
  assert.equal(new TextDecoder().decode(text), "through the fallback");
  out.close();
  result.conn.close();
  const record = await fx.broker.finished(request.req);
  assert.deepEqual(record.steps.map((s) => s.step), [
    ...TWELVE,
    "fallback",
    "simultaneous-open",
  ]);
  assert.match(record.steps[11]!.detail, /failed: refused/);
  await registration.send({ type: "kill" });
  await brokerEmpty(fx.broker);
});
