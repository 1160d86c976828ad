import assert from "node:assert/strict";
import {
  relayConnect,
  type RelayConnection,
  RelayError,
  RelayRefusedError,
  RelayTimeoutError,
  relayToken,
  type RelayTransport,
  RelayUnreachableError,
} from "../client/relay.ts";
import { encodeRelayHelloFrame } from "../protocol/relay.ts";
import { handshake } from "../secure/handshake.ts";
import { relayPlugin, type RelayTapEvent } from "../server/services/relay.ts";
import { startServer } from "../server/server.ts";
import { silentLogger } from "../server/logger.ts";
import {
  pattern,
  randomToken,
  rawExchange,
  readAll,
  type RelayTestServer,
  sha256Hex,
  startRelay,
  statusFrames,
  until,
  writeAllAndClose,
} from "./relay_helpers.ts";
import { concatBytes } from "../bytes/mod.ts";

const encoder = new TextEncoder();

function target(relay: RelayTestServer, transport: RelayTransport): string {
  const where = { tcp: relay.tcp, tls: relay.tls, ws: relay.ws, wss: relay.wss }[transport];
  assert.ok(where, `no ${transport} listener`);
  return where;
}

function connect(
  relay: RelayTestServer,
  transport: RelayTransport,
  token: Uint8Array,
  extra: { timeoutMs?: number; signal?: AbortSignal } = {},
): Promise<RelayConnection> {
  return relayConnect({
    server: target(relay, transport),
    transport,
    token,
    tls: relay.cert ? { caCerts: [relay.cert] } : undefined,
    timeoutMs: extra.timeoutMs ?? 10_000,
    signal: extra.signal,
  });
}

/** A pairs first (it waits), then B. */
async function pair(
  relay: RelayTestServer,
  ta: RelayTransport,
  tb: RelayTransport,
  token = randomToken(),
): Promise<[RelayConnection, RelayConnection]> {
  const before = relay.state.size;
  const a = connect(relay, ta, token);
  await until(() => relay.state.size > before, 5000, "the first peer to wait");
  const b = connect(relay, tb, token);
  return await Promise.all([a, b]);
}

/** A sends `up` and half-closes; B reads it all, then answers `down` and closes. */
async function exchange(a: RelayConnection, b: RelayConnection, up: Uint8Array, down: Uint8Array) {
  const aSends = writeAllAndClose(a, up);
  const bSide = (async () => {
    const got = await readAll(b.readable);
    // B's direction still works after A's half-close.
    await writeAllAndClose(b, down);
    return got;
  })();
  const [, atB, atA] = await Promise.all([aSends, bSide, readAll(a.readable)]);
  assert.equal(atB.length, up.length);
  assert.equal(sha256Hex(atB), sha256Hex(up));
  assert.equal(atA.length, down.length);
  assert.equal(sha256Hex(atA), sha256Hex(down));
}

const PAIRS: [RelayTransport, RelayTransport][] = [
  ["tcp", "tcp"],
  ["tls", "tls"],
  ["ws", "ws"],
  ["wss", "wss"],
  ["tcp", "wss"],
  ["ws", "tls"],
];

for (const [ta, tb] of PAIRS) {
  Deno.test(`relay: two clients pair over ${ta}/${tb} and move data both ways with half-close`, async () => {
    await using relay = await startRelay({
      tls: ta.includes("s") || tb.includes("s") || ta === "tls" || tb === "tls",
      http: ta.startsWith("ws") || tb.startsWith("ws"),
    });
    const [a, b] = await pair(relay, ta, tb);
    try {
      assert.equal(relay.state.activeCircuits, 1);
      assert.equal(a.transport, ta);
      if (ta === "tcp" || ta === "tls") assert.equal(a.remoteAddr?.ip, "127.0.0.1");
      else assert.equal(a.remoteAddr, null);
      await exchange(a, b, pattern(1_500_000, 1), pattern(300_000, 2));
      await until(() => relay.state.activeCircuits === 0, 5000, "the circuit to end");
      assert.equal(relay.state.size, 0);
      const counters = relay.server.counters;
      assert.equal(counters.get("relay_circuits", "opened"), 1);
      assert.equal(counters.get("relay_circuits", "closed"), 1);
      assert.equal(counters.get("relay_circuit_end", "done"), 1);
      assert.equal(counters.get("relay_bytes"), 1_800_000);
    } finally {
      a.close();
      b.close();
    }
  });
}

Deno.test("relay: the relay sees only ciphertext while the PAKE-secured peers exchange plaintext", async () => {
  const seen: RelayTapEvent[] = [];
  await using relay = await startRelay({ http: true, tap: (event) => seen.push(event) });
  const secret = encoder.encode("4-correct-horse");
  const token = relayToken(secret, encoder.encode("peerlink/connect room=77"));
  const [a, b] = await pair(relay, "tcp", "ws", token);
  const [alice, bob] = await Promise.all([handshake(a, secret), handshake(b, secret)]);
  const marker = "TOP-SECRET plaintext that only the two peers may read; ";
  const plaintext = encoder.encode(marker.repeat(2000));
  const reply = encoder.encode("ACK from bob, also secret; ".repeat(100));
  try {
    await exchange(
      { ...a, readable: alice.readable, writable: alice.writable } as RelayConnection,
      { ...b, readable: bob.readable, writable: bob.writable } as RelayConnection,
      plaintext,
      reply,
    );
  } finally {
    await Promise.all([alice.close(), bob.close()]);
  }
  await until(() => relay.state.activeCircuits === 0);
  const relayed = (direction: string): Uint8Array => {
    return concatBytes(seen.filter((e) => e.direction === direction).map((e) => e.bytes));
  };
  const up = relayed("a-to-b");
  const down = relayed("b-to-a");
  // The relay carried at least every plaintext byte (as ciphertext, plus framing)...
  assert.ok(up.length > plaintext.length, `relayed ${up.length} bytes`);
  assert.ok(down.length > reply.length);
  // ...and never a recognisable piece of it.
  const text = (bytes: Uint8Array): string => new TextDecoder("latin1").decode(bytes);
  for (const needle of ["TOP-SECRET", "only the two peers", "ACK from bob"]) {
    assert.ok(!text(up).includes(needle), `"${needle}" relayed in clear (a-to-b)`);
    assert.ok(!text(down).includes(needle), `"${needle}" relayed in clear (b-to-a)`);
  }
});

Deno.test("relay: a third party without the secret is not paired with either peer", async () => {
  await using relay = await startRelay({ limits: { waitTimeoutMs: 400 } });
  const context = encoder.encode("peerlink/connect room=5");
  const secret = encoder.encode("right secret");
  const token = relayToken(secret, context);
  const eveToken = relayToken(encoder.encode("a guess"), context);
  const a = connect(relay, "tcp", token);
  await until(() => relay.state.waitingCircuits === 1);
  // Eve comes before Bob, with her own derivation: she gets her own (empty) circuit.
  const eve = connect(relay, "tcp", eveToken).catch((e) => e);
  await until(() => relay.state.waitingCircuits === 2);
  const b = connect(relay, "tcp", token);
  const [ca, cb] = await Promise.all([a, b]);
  const eveResult = await eve;
  assert.ok(eveResult instanceof RelayTimeoutError, String(eveResult));
  assert.equal(eveResult.by, "server");
  // Alice and Bob did pair with each other: the PAKE succeeds.
  const [alice, bob] = await Promise.all([handshake(ca, secret), handshake(cb, secret)]);
  await Promise.all([alice.close(), bob.close()]);
  await until(() => relay.state.size === 0);
});

Deno.test("relay: a third connection with a paired token is refused (busy); the circuit goes on", async () => {
  await using relay = await startRelay({ http: true });
  const token = randomToken();
  const [a, b] = await pair(relay, "tcp", "tcp", token);
  try {
    for (const transport of ["tcp", "ws"] as const) {
      const error = await connect(relay, transport, token).catch((e) => e);
      assert.ok(error instanceof RelayRefusedError, String(error));
      assert.equal(error.reason, "busy");
    }
    assert.equal(relay.server.counters.get("relay_refused", "busy"), 2);
    await exchange(a, b, pattern(10_000), pattern(10_000, 9));
  } finally {
    a.close();
    b.close();
  }
  // Once the circuit is over, the token can be used again.
  await until(() => relay.state.size === 0);
  const [c, d] = await pair(relay, "tcp", "ws", token);
  c.close();
  d.close();
});

Deno.test("relay limit: bytes per circuit", async () => {
  await using relay = await startRelay({ limits: { maxCircuitBytes: 100_000 } });
  const [a, b] = await pair(relay, "tcp", "tcp");
  try {
    const sending = writeAllAndClose(a, pattern(400_000)).catch(() => {});
    const reader = b.readable.getReader();
    let received = 0;
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        received += value.length;
      }
    } catch { /* the relay closed the circuit */ }
    await sending;
    assert.ok(received <= 100_000, `received ${received}`);
    assert.ok(received >= 64_000, `received ${received}`);
    await until(() => relay.state.activeCircuits === 0);
    assert.equal(relay.server.counters.get("relay_circuit_end", "bytes-limit"), 1);
    assert.ok(relay.server.counters.get("relay_bytes") <= 100_000);
  } finally {
    a.close();
    b.close();
  }
});

Deno.test("relay limit: circuit duration", async () => {
  await using relay = await startRelay({ http: true, limits: { maxCircuitDurationMs: 300 } });
  const started = Date.now();
  const [a, b] = await pair(relay, "tcp", "ws");
  try {
    // Nobody sends anything: the circuit still ends, on time.
    const ends = await Promise.allSettled([readAll(a.readable), readAll(b.readable)]);
    const elapsed = Date.now() - started;
    assert.ok(elapsed >= 250 && elapsed < 3000, `ended after ${elapsed} ms`);
    // Over WebSocket the reason is visible (close code 4001, "limit").
    assert.equal(ends[1].status, "rejected");
    assert.match(String((ends[1] as PromiseRejectedResult).reason), /4001.*limit/);
    await until(() => relay.server.counters.get("relay_circuit_end", "duration-limit") === 1);
    assert.equal(relay.state.size, 0);
  } finally {
    a.close();
    b.close();
  }
});

Deno.test("relay limit: bandwidth per circuit pauses the sender (rate bounded, nothing dropped)", async () => {
  const rate = 500_000;
  await using relay = await startRelay({ limits: { bytesPerSecond: rate } });
  const [a, b] = await pair(relay, "tcp", "tcp");
  try {
    const data = pattern(1_000_000, 5);
    const started = performance.now();
    const [, got] = await Promise.all([writeAllAndClose(a, data), readAll(b.readable)]);
    const seconds = (performance.now() - started) / 1000;
    assert.equal(sha256Hex(got), sha256Hex(data), "every byte arrives");
    const measured = data.length / seconds;
    // Burst (125 kB) then 500 kB/s: about 1.75 s. Loosely: at most 1.4x the limit, not absurdly slow.
    assert.ok(measured <= rate * 1.4, `${Math.round(measured)} B/s over a ${rate} B/s limit`);
    assert.ok(seconds < 8, `took ${seconds} s`);
    b.close();
    await readAll(a.readable).catch(() => {});
  } finally {
    a.close();
    b.close();
  }
});

Deno.test("relay limit: concurrent circuits per client IP", async () => {
  await using relay = await startRelay({ http: true, limits: { maxCircuitsPerIp: 2 } });
  const controller = new AbortController();
  const waiting = [
    connect(relay, "tcp", randomToken(), { signal: controller.signal }).catch((e) => e),
    connect(relay, "ws", randomToken(), { signal: controller.signal }).catch((e) => e),
  ];
  await until(() => relay.state.waitingCircuits === 2);
  for (const transport of ["tcp", "ws"] as const) {
    const error = await connect(relay, transport, randomToken()).catch((e) => e);
    assert.ok(error instanceof RelayRefusedError, String(error));
    assert.equal(error.reason, "limit");
  }
  assert.equal(relay.server.counters.get("relay_refused", "limit"), 2);
  controller.abort(new Error("Enough"));
  for (const result of await Promise.all(waiting)) {
    assert.equal((result as Error).message, "Enough");
  }
  // The waiters left: the address has its slots back.
  await until(() => relay.state.size === 0 && relay.state.clients === 0);
  const [c, d] = await pair(relay, "tcp", "tcp");
  c.close();
  d.close();
});

Deno.test("relay limit: hellos count against the server's per-client rate limit", async () => {
  await using relay = await startRelay({ requestsPerMinute: 2 });
  const controller = new AbortController();
  const waiting = [1, 2].map(() =>
    connect(relay, "tcp", randomToken(), { signal: controller.signal }).catch((e) => e)
  );
  await until(() => relay.state.waitingCircuits === 2);
  const error = await connect(relay, "tcp", randomToken()).catch((e) => e);
  assert.ok(error instanceof RelayRefusedError && error.reason === "limit", String(error));
  assert.equal(relay.server.counters.get("relay_rate_limited"), 1);
  controller.abort(new Error("Enough"));
  await Promise.all(waiting);
});

Deno.test("relay limit: a lone waiter times out (server) and its token is forgotten", async () => {
  await using relay = await startRelay({ http: true, limits: { waitTimeoutMs: 200 } });
  for (const transport of ["tcp", "ws"] as const) {
    let told = -1;
    const started = Date.now();
    const error = await relayConnect({
      server: target(relay, transport),
      transport,
      token: randomToken(),
      onWaiting: (ms) => (told = ms),
    }).catch((e) => e);
    assert.ok(error instanceof RelayTimeoutError, String(error));
    assert.equal(error.by, "server");
    assert.equal(told, 200);
    assert.ok(Date.now() - started < 3000);
  }
  assert.equal(relay.server.counters.get("relay_waits", "timeout"), 2);
  assert.equal(relay.state.size, 0);
});

Deno.test("relayConnect(): client timeout, abort, and an unreachable relay", async () => {
  await using relay = await startRelay();
  const timedOut = await connect(relay, "tcp", randomToken(), { timeoutMs: 100 }).catch((e) => e);
  assert.ok(timedOut instanceof RelayTimeoutError && timedOut.by === "client", String(timedOut));
  const reason = new Error("User cancelled");
  const controller = new AbortController();
  const pending = connect(relay, "tcp", randomToken(), { signal: controller.signal });
  await until(() => relay.state.waitingCircuits === 1);
  controller.abort(reason);
  assert.equal(await pending.catch((e) => e), reason);
  await until(() => relay.state.size === 0);
  const port = (() => {
    using l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    return l.addr.port;
  })();
  for (const transport of ["tcp", "ws"] as const) {
    const error = await relayConnect({
      server: `127.0.0.1:${port}`,
      transport,
      token: randomToken(),
    }).catch((e) => e);
    assert.ok(error instanceof RelayUnreachableError, String(error));
  }
  await assert.rejects(
    () => relayConnect({ server: relay.tcp, token: new Uint8Array(3) }),
    RangeError,
  );
});

Deno.test("relay: bad hellos get an error status and a close", async () => {
  await using relay = await startRelay({ helloTimeoutMs: 300 });
  const frame = (json: string): Uint8Array => {
    const body = encoder.encode(json);
    const out = new Uint8Array(4 + body.length);
    new DataView(out.buffer).setUint32(0, body.length);
    out.set(body, 4);
    return out;
  };
  const hello = encodeRelayHelloFrame({ version: 1, token: randomToken() });
  const cases: [string, Uint8Array, string][] = [
    ["garbage (an HTTP request)", encoder.encode("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), "bad-hello"],
    ["oversize", new Uint8Array([0, 1, 0, 0, ...new Array(100).fill(0x20)]), "bad-hello"],
    ["not JSON", frame("hello relay"), "bad-hello"],
    ["bad token", frame('{"version":1,"token":"abc"}'), "bad-hello"],
    ["wrong version", frame(`{"version":7,"token":"${"00".repeat(32)}"}`), "version"],
    ["bytes after the hello", new Uint8Array([...hello, 1, 2, 3]), "bad-hello"],
    ["nothing (hello timeout)", new Uint8Array(0), "bad-hello"],
  ];
  for (const [name, bytes, code] of cases) {
    const { reply, closed } = await rawExchange(relay.tcp, bytes);
    assert.ok(closed, `${name}: not closed`);
    const frames = statusFrames(reply);
    assert.equal(frames.length, 1, `${name}: ${JSON.stringify(frames)}`);
    assert.equal(frames[0]!.status, "error", name);
    assert.equal(frames[0]!.code, code, name);
    if (code === "version") assert.deepEqual(frames[0]!.versions, [1]);
  }
  assert.equal(relay.server.counters.get("relay_refused", "bad-hello"), 6);
  assert.equal(relay.server.counters.get("relay_refused", "version"), 1);
  assert.equal(relay.state.size, 0);
});

Deno.test("relay: a waiter that sends before paired is refused; one that leaves frees its token", async () => {
  await using relay = await startRelay();
  const [hostname, port] = relay.tcp.split(":") as [string, string];
  const conn = await Deno.connect({ hostname, port: Number(port) });
  try {
    await conn.write(encodeRelayHelloFrame({ version: 1, token: randomToken() }));
    const buf = new Uint8Array(1024);
    const n = await conn.read(buf);
    assert.equal(statusFrames(buf.subarray(0, n!))[0]!.status, "waiting");
    await conn.write(new Uint8Array([1]));
    const rest = await readAll(conn.readable);
    assert.equal(statusFrames(rest)[0]!.code, "bad-hello");
  } finally {
    try {
      conn.close();
    } catch { /* closed */ }
  }
  await until(() => relay.state.size === 0);
  const left = await Deno.connect({ hostname, port: Number(port) });
  await left.write(encodeRelayHelloFrame({ version: 1, token: randomToken() }));
  await until(() => relay.state.waitingCircuits === 1);
  left.close();
  await until(() => relay.state.size === 0);
  assert.equal(relay.server.counters.get("relay_waits", "left"), 1);
});

Deno.test("relay over WebSocket: bad messages, and a plain GET gets 426", async () => {
  await using relay = await startRelay({ http: true });
  const response = await fetch(relay.ws!.replace("ws:", "http:"));
  assert.equal(response.status, 426);
  await response.body?.cancel();
  const notFound = await fetch(relay.ws!.replace("ws:", "http:").replace("/relay", "/nope"));
  assert.equal(notFound.status, 404);
  await notFound.body?.cancel();
  const cases: [string, (ws: WebSocket) => void][] = [
    ["text hello", (ws) => ws.send('{"version":1}')],
    ["truncated frame", (ws) => ws.send(new Uint8Array([0, 0, 0, 9, 1]))],
    ["two messages", (ws) => {
      ws.send(encodeRelayHelloFrame({ version: 1, token: randomToken() }));
      ws.send(new Uint8Array([1]));
    }],
  ];
  for (const [name, send] of cases) {
    const ws = new WebSocket(relay.ws!);
    ws.binaryType = "arraybuffer";
    const frames: Record<string, unknown>[] = [];
    ws.onmessage = (e) => frames.push(...statusFrames(new Uint8Array(e.data as ArrayBuffer)));
    await new Promise((r) => (ws.onopen = r));
    const closed = new Promise((r) => (ws.onclose = r));
    send(ws);
    await closed;
    const last = frames.at(-1);
    assert.equal(last?.code, "bad-hello", `${name}: ${JSON.stringify(frames)}`);
  }
  await until(() => relay.state.size === 0);
});

Deno.test("relay: shutdown tells waiters (shutdown) and closes open circuits", async () => {
  const relay = await startRelay({ http: true });
  const waiter = connect(relay, "ws", randomToken()).catch((e) => e);
  const [a, b] = await pair(relay, "tcp", "tcp");
  await until(() => relay.state.waitingCircuits === 1);
  await relay.server.close();
  const error = await waiter;
  assert.ok(error instanceof RelayRefusedError || error instanceof RelayError, String(error));
  if (error instanceof RelayRefusedError) assert.equal(error.reason, "shutdown");
  const reads = await Promise.allSettled([readAll(a.readable), readAll(b.readable)]);
  assert.equal(reads.length, 2);
  assert.equal(relay.state.size, 0);
  a.close();
  b.close();
});

Deno.test("relay: IPv6 and IPv4 clients meet on a dual-stack listener", async () => {
  await using server = await startServer({
    hostname: "::",
    gdayPort: null,
    logger: silentLogger,
    limits: { requestsPerMinute: 0 },
    services: [relayPlugin({ port: 0, limits: { bytesPerSecond: 0 } })],
  });
  const port = server.listeners[0]!.addr.port;
  if (server.listeners[0]!.addr.family !== "v6") return; // No IPv6 on this host.
  const token = randomToken();
  const [a, b] = await Promise.all([
    relayConnect({ server: `[::1]:${port}`, token }),
    relayConnect({ server: `127.0.0.1:${port}`, token }),
  ]);
  assert.equal(a.remoteAddr?.family, "v6");
  assert.equal(b.remoteAddr?.family, "v4");
  await exchange(a, b, pattern(50_000), pattern(5_000, 3));
  a.close();
  b.close();
});
