/**
 * The broker's liveness rules with an injected clock (p2prs §2.2, I3–I4): a receiver is dropped
 * after exactly 65 s of silence and survives as long as it sends a keep-alive every 30 s. The
 * broker's handler runs over in-memory connections, so no time passes for real.
 */

import assert from "node:assert/strict";
import { LengthPrefixedDecoder } from "../framing/length_prefixed.ts";
import { type BrokerMessage, decodeBrokerMessage, encodeBrokerFrame } from "../protocol/broker.ts";
import type { SocketAddr } from "../protocol/socket_addr.ts";
import { silentLogger } from "../server/logger.ts";
import { type BrokerClock, BrokerService } from "../server/services/broker.ts";
import type { ServiceConnection } from "../server/service.ts";

/** A manual clock: timers run only inside {@linkcode FakeClock.advance}. */
export class FakeClock implements BrokerClock {
  #now = 0;
  #next = 1;
  #timers = new Map<number, { at: number; fn: () => void }>();
  now(): number {
    return this.#now;
  }
  setTimeout(fn: () => void, ms: number): number {
    const handle = this.#next++;
    this.#timers.set(handle, { at: this.#now + Math.max(0, ms), fn });
    return handle;
  }
  clearTimeout(handle: number): void {
    this.#timers.delete(handle);
  }
  get pending(): number {
    return this.#timers.size;
  }
  /** Move time forward by `ms`, running due timers in order (and what they set off). */
  async advance(ms: number): Promise<void> {
    const target = this.#now + ms;
    for (;;) {
      let first: [number, { at: number; fn: () => void }] | undefined;
      for (const entry of this.#timers) {
        if (entry[1].at <= target && (first === undefined || entry[1].at < first[1].at)) {
          first = entry;
        }
      }
      if (first === undefined) break;
      this.#timers.delete(first[0]);
      this.#now = first[1].at;
      first[1].fn();
      await settle();
    }
    this.#now = target;
    await settle();
  }
}

/** Let every pending promise reaction run (no time passes on the fake clock). */
async function settle(): Promise<void> {
  for (let i = 0; i < 3; i++) await new Promise((resolve) => setTimeout(resolve, 0));
}

/** An in-memory `Deno.Conn`: the test pushes the client's bytes and reads the broker's frames. */
class MemConn {
  #inbox: Uint8Array[] = [];
  #waiting: ((n: number | null) => void) | null = null;
  #waitingBuf: Uint8Array | null = null;
  #ended = false;
  closed = false;
  #decoder = new LengthPrefixedDecoder();
  received: BrokerMessage[] = [];

  push(msg: BrokerMessage): void {
    this.#inbox.push(encodeBrokerFrame(msg));
    this.#pump();
  }
  end(): void {
    this.#ended = true;
    this.#pump();
  }
  #pump(): void {
    if (this.#waiting === null) return;
    const resolve = this.#waiting;
    const buf = this.#waitingBuf!;
    if (this.closed || (this.#inbox.length === 0 && this.#ended)) {
      this.#waiting = null;
      return resolve(null);
    }
    const chunk = this.#inbox[0];
    if (chunk === undefined) return;
    this.#waiting = null;
    const n = Math.min(buf.length, chunk.length);
    buf.set(chunk.subarray(0, n));
    if (n === chunk.length) this.#inbox.shift();
    else this.#inbox[0] = chunk.subarray(n);
    resolve(n);
  }
  read(p: Uint8Array): Promise<number | null> {
    if (this.closed) return Promise.reject(new Deno.errors.BadResource("closed"));
    return new Promise((resolve) => {
      this.#waiting = resolve;
      this.#waitingBuf = p;
      this.#pump();
    });
  }
  write(p: Uint8Array): Promise<number> {
    if (this.closed) return Promise.reject(new Deno.errors.BadResource("closed"));
    this.#decoder.push(p.slice());
    for (let f = this.#decoder.next(); f !== undefined; f = this.#decoder.next()) {
      this.received.push(decodeBrokerMessage(f));
    }
    return Promise.resolve(p.length);
  }
  close(): void {
    if (this.closed) throw new Deno.errors.BadResource("closed");
    this.closed = true;
    this.#pump();
  }
  types(): string[] {
    return this.received.map((m) => m.type);
  }
}

let nextId = 1;
function open(
  broker: BrokerService,
  remote: SocketAddr = { family: "v4", ip: "203.0.113.9", port: 40000 + nextId },
): { conn: MemConn; done: Promise<void> } {
  const conn = new MemConn();
  const c: ServiceConnection = {
    id: nextId++,
    conn: conn as unknown as Deno.Conn,
    remote,
    transport: "tcp",
    signal: new AbortController().signal,
  };
  return { conn, done: broker.handleConnection(c) };
}

function makeBroker(clock: FakeClock): BrokerService {
  return new BrokerService({ clock, logger: silentLogger });
}

Deno.test("broker keep-alive: a silent receiver is dropped at exactly 65 s", async () => {
  const clock = new FakeClock();
  const broker = makeBroker(clock);
  const { conn, done } = open(broker);
  conn.push({ type: "register", uid: "alice" });
  await settle();
  assert.deepEqual(conn.types(), ["registered"]);
  const ack = conn.received[0] as Extract<BrokerMessage, { type: "registered" }>;
  assert.equal(ack.keepaliveMs, 30_000);
  assert.equal(ack.timeoutMs, 65_000);
  assert.ok(broker.isRegistered("alice"));

  await clock.advance(64_999);
  assert.ok(broker.isRegistered("alice"), "dropped before 65 s");
  assert.equal(conn.closed, false);
  await clock.advance(1);
  assert.equal(broker.isRegistered("alice"), false, "not dropped at 65 s");
  assert.equal(conn.closed, true);
  await done;
  assert.equal(broker.receiverCount, 0);
  assert.equal(broker.connectionCount, 0);
  assert.equal(clock.pending, 0, "a timer was left behind");
  await broker.close();
});

Deno.test("broker keep-alive: a receiver that sends a keep-alive every 30 s stays for 10 minutes", async () => {
  const clock = new FakeClock();
  const broker = makeBroker(clock);
  const { conn, done } = open(broker);
  conn.push({ type: "register", uid: "alice" });
  await settle();
  for (let t = 30_000; t <= 600_000; t += 30_000) {
    await clock.advance(30_000);
    assert.ok(broker.isRegistered("alice"), `dropped at ${t / 1000} s`);
    conn.push({ type: "keepalive" });
    await settle();
  }
  // Every keep-alive was answered (so the receiver can tell the broker is alive).
  assert.equal(conn.types().filter((t) => t === "keepalive_ack").length, 20);
  // Then silence: dropped exactly 65 s after the last keep-alive.
  await clock.advance(64_999);
  assert.ok(broker.isRegistered("alice"));
  await clock.advance(1);
  assert.ok(!broker.isRegistered("alice"));
  await done;
  assert.equal(broker.receiverCount + broker.requestCount + broker.connectionCount, 0);
  assert.equal(clock.pending, 0);
  await broker.close();
});

Deno.test("broker keep-alive: a keep-alive at 60 s moves the drop to exactly 125 s", async () => {
  const clock = new FakeClock();
  const broker = makeBroker(clock);
  const { conn, done } = open(broker);
  conn.push({ type: "register", uid: "alice" });
  await settle();
  await clock.advance(60_000);
  conn.push({ type: "keepalive" }); // at 60 s: the deadline moves to 125 s
  await settle();
  await clock.advance(64_999); // 124.999 s
  assert.ok(broker.isRegistered("alice"));
  await clock.advance(1); // 125 s
  assert.ok(!broker.isRegistered("alice"));
  await done;
  assert.equal(clock.pending, 0);
  await broker.close();
});

Deno.test("broker keep-alive: the intervals are options, and kill or a closed connection drop at once", async () => {
  const clock = new FakeClock();
  const broker = new BrokerService({
    clock,
    logger: silentLogger,
    keepAliveMs: 1000,
    dropTimeoutMs: 2500,
  });
  const a = open(broker);
  const b = open(broker);
  const c = open(broker);
  a.conn.push({ type: "register", uid: "a" });
  b.conn.push({ type: "register", uid: "b" });
  c.conn.push({ type: "register", uid: "c" });
  await settle();
  assert.equal(broker.receiverCount, 3);
  const ack = a.conn.received[0] as Extract<BrokerMessage, { type: "registered" }>;
  assert.equal(ack.keepaliveMs, 1000);
  assert.equal(ack.timeoutMs, 2500);
  a.conn.push({ type: "kill" });
  b.conn.end();
  await Promise.all([a.done, b.done]);
  assert.deepEqual([broker.isRegistered("a"), broker.isRegistered("b")], [false, false]);
  await clock.advance(2499);
  assert.ok(broker.isRegistered("c"));
  await clock.advance(1);
  assert.ok(!broker.isRegistered("c"));
  await c.done;
  assert.equal(broker.receiverCount + broker.connectionCount, 0);
  assert.equal(clock.pending, 0);
  await broker.close();
});

Deno.test("broker keep-alive: a connection that never says anything is closed after the step timeout", async () => {
  const clock = new FakeClock();
  const broker = makeBroker(clock);
  const { conn, done } = open(broker);
  await clock.advance(9_999);
  assert.equal(conn.closed, false);
  await clock.advance(1);
  assert.equal(conn.closed, true);
  await done;
  assert.equal(broker.connectionCount, 0);
  assert.equal(clock.pending, 0);
  await broker.close();
});

Deno.test("broker steps: every step times out on the clock, and the tables empty", async () => {
  const clock = new FakeClock();
  const broker = makeBroker(clock);
  const receiver = open(broker);
  receiver.conn.push({ type: "register", uid: "alice" });
  await settle();
  const sender = open(broker, { family: "v4", ip: "198.51.100.7", port: 50000 });
  sender.conn.push({ type: "connect", uid: "alice" });
  await settle();
  const request = receiver.conn.received.find((m) => m.type === "request");
  assert.ok(request && request.type === "request");
  assert.deepEqual(broker.steps(request.req)!.map((s) => s.step), [1, 2]);
  // Nobody does step 3.
  await clock.advance(9_999);
  assert.equal(broker.requestCount, 1);
  await clock.advance(1);
  await sender.done;
  const error = sender.conn.received.at(-1)!;
  assert.equal(error.type, "error");
  assert.equal(error.type === "error" && error.error, "timeout");
  assert.equal(error.type === "error" && error.step, 3);
  // The receiver was told too.
  const abort = receiver.conn.received.at(-1)!;
  assert.deepEqual(abort, { type: "abort", req: request.req, error: "timeout" });
  assert.equal(broker.requestCount, 0);
  assert.deepEqual(broker.steps(request.req)!.map((s) => s.step), [1, 2, "failed"]);
  receiver.conn.push({ type: "kill" });
  await receiver.done;
  assert.equal(broker.receiverCount + broker.requestCount + broker.connectionCount, 0);
  assert.equal(clock.pending, 0);
  await broker.close();
});
