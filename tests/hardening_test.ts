/**
 * Hardening: a fuzz suite that throws 100,000 random and mutated frames at every listener of a
 * real `server.ts`, a slowloris attack of 1,000 connections trickling bytes, and a soak of 1,000
 * concurrent clients. Each runs against its own `server.ts` process, watched through `/metrics`.
 *
 * Bounded in time: the fuzz takes about a minute, the slowloris about 15 s, the soak 20 s (60 s,
 * as the issue asks, with `PEERLINK_SOAK=1`; `deno task bench soak` measures the 60 s figures).
 * `PEERLINK_FUZZ_SEED=N` replays a fuzz run (the seed is printed when a run fails).
 */

import assert from "node:assert/strict";
import { exchangeContacts } from "../client/exchange.ts";
import { relayConnect } from "../client/relay.ts";
import {
  familySum,
  type PeerlinkProcess,
  runSoak,
  scrapeMetrics,
  startPeerlinkOnFreePorts,
  startSoakServer,
} from "../bench/soak_load.ts";
import {
  brokerCorpus,
  captureClientHello,
  chatCorpus,
  encodeBrokerFrame,
  encodeClientFrame,
  frameBody,
  fuzzDatagrams,
  fuzzFrame,
  fuzzStream,
  fuzzWebSocket,
  gdayCorpus,
  httpCorpus,
  httpUpgradeRequest,
  mediatorNativeCorpus,
  mediatorNativeSession,
  mutate,
  p2pscCorpus,
  relayCorpus,
  relayHelloFrame,
  stunCorpus,
} from "./hardening_helpers.ts";
import { selfSignedCert } from "./_helpers.ts";

const SOAK = Deno.env.get("PEERLINK_SOAK") === "1";
const SEED = Number(Deno.env.get("PEERLINK_FUZZ_SEED") ?? Math.floor(Math.random() * 1e9));
const MiB = 1024 * 1024;

/** A gday exchange with the library, bounded in time. */
async function exchange(
  port: number,
  code: bigint,
  timeoutMs = 10_000,
  tls: { caCerts: string[] } | false = false,
): Promise<void> {
  const server = `127.0.0.1:${port}`;
  const signal = AbortSignal.timeout(timeoutMs);
  let created!: () => void;
  const room = new Promise<void>((resolve) => (created = resolve));
  const a = exchangeContacts({
    server,
    tls,
    create: true,
    roomCode: code,
    onRoom: () => created(),
    signal,
  });
  const b = Promise.race([room, a]).then(() =>
    exchangeContacts({ server, tls, create: false, roomCode: code, signal })
  );
  const [x, y] = await Promise.all([a, b]);
  x.close();
  y.close();
}

async function until(
  check: () => Promise<boolean>,
  timeoutMs: number,
  what: string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** The gauges that must return to zero once every client has gone. */
const STATE_GAUGES = [
  "peerlink_connections_open",
  "peerlink_rooms",
  "peerlink_broker_receivers",
  "peerlink_broker_pending_requests",
  "peerlink_mediator_waiting",
  "peerlink_relay_circuits_open",
  "peerlink_relay_circuits_waiting",
  "peerlink_chat_users",
];

function stateLeft(samples: Map<string, number>): string[] {
  return STATE_GAUGES.filter((g) => familySum(samples, g) !== 0).map((g) =>
    `${g}=${familySum(samples, g)}`
  );
}

/** The least RSS and heap over a few scrapes a moment apart (allocations settle). */
async function settledMemory(
  httpPort: number,
): Promise<{ rss: number; heap: number; fds: number }> {
  let rss = Infinity;
  let heap = Infinity;
  let fds = Infinity;
  for (let i = 0; i < 5; i++) {
    const samples = await scrapeMetrics(httpPort);
    rss = Math.min(rss, samples.get("peerlink_process_resident_memory_bytes")!);
    heap = Math.min(heap, samples.get("peerlink_process_heap_used_bytes")!);
    fds = Math.min(fds, samples.get("peerlink_process_open_fds")!);
    await new Promise((r) => setTimeout(r, 400));
  }
  return { rss, heap, fds };
}

function assertHealthy(server: PeerlinkProcess, seed: number): void {
  assert.ok(server.alive, `server.ts died (seed ${seed}):\n${server.lines.slice(-30).join("\n")}`);
  assert.deepEqual(
    server.problems,
    [],
    `server.ts logged errors or non-JSON lines (seed ${seed})`,
  );
}

/** The TCP listeners of the server-wide hardening tests. */
const TCP_SERVICES = {
  gday: "tcp",
  gdayTls: "tcp",
  http: "tcp",
  relay: "tcp",
  broker: "tcp",
  mediator: "tcp",
} as const;

/** `server.ts` flags for {@linkcode TCP_SERVICES} on loopback, with TLS from `certDir`. */
function tcpServiceArgs(
  ports: Readonly<Record<keyof typeof TCP_SERVICES, number>>,
  certDir: string,
): string[] {
  return [
    "--host",
    "127.0.0.1",
    "--gday-port",
    String(ports.gday),
    "--gday-tls-port",
    String(ports.gdayTls),
    "--tls-cert",
    `${certDir}/cert.pem`,
    "--tls-key",
    `${certDir}/key.pem`,
    "--http-port",
    String(ports.http),
    "--relay-port",
    String(ports.relay),
    "--relay-tls-port",
    "0",
    "--broker-port",
    String(ports.broker),
    "--mediator-port",
    String(ports.mediator),
  ];
}

Deno.test({
  name: "hardening: 100,000 random and mutated frames at every listener; the server survives",
  // The frames' connections close before each worker finishes; nothing lingers past the test.
  async fn() {
    const cert = await selfSignedCert();
    await using _certDir = {
      [Symbol.asyncDispose]: () => Deno.remove(cert.dir, { recursive: true }),
    };
    const started = await startPeerlinkOnFreePorts(
      {
        ...TCP_SERVICES,
        chat: "udp",
        stun: "udp",
        stunAlt: "udp",
      },
      (ports) => [
        ...tcpServiceArgs(ports, cert.dir),
        "--chat-port",
        String(ports.chat),
        "--stun-port",
        String(ports.stun),
        "--stun-alt-port",
        String(ports.stunAlt),
        "--rate-limit",
        "0",
        "--stun-rate-limit",
        "0",
        "--chat-rate-limit",
        "0",
        "--max-connections",
        "50000",
        "--max-connections-per-ip",
        "50000",
        "--relay-max-circuits-per-ip",
        "100000",
        "--idle-timeout",
        "2",
        "--room-ttl",
        "4",
        "--broker-step-timeout",
        "2",
        "--broker-keepalive",
        "1",
        "--broker-timeout",
        "2.5",
        "--mediator-timeout",
        "2",
        "--mediator-wait",
        "2",
        "--relay-wait-timeout",
        "2",
        "--chat-idle-timeout",
        "2",
        "--chat-busy-timeout",
        "2",
        "--log-level",
        "warn",
      ],
      "http",
    );
    await using server = started.server;
    const ports = started.ports;

    const clientHello = await captureClientHello();
    const tls = { caCerts: [cert.cert] };
    const gday = gdayCorpus();
    const relay = relayCorpus();
    const fuzzToken = new Uint8Array(32).fill(0xa5);

    /** Every listener and its share of the frames (they add up to 100,000). */
    const plan = (seed: number, scale: number, signal: AbortSignal) => {
      const n = (frames: number) => Math.max(1, Math.round(frames * scale));
      return {
        "gday tcp": () =>
          fuzzStream({
            port: ports.gday,
            frames: n(14_000),
            frame: (r) => fuzzFrame(gday, r),
            opening: (r) =>
              r.chance(0.3)
                ? encodeClientFrame({ type: "CreateRoom", roomCode: BigInt(r.int(1000)) })
                : null,
            seed: seed + 1,
            concurrency: 16,
            signal,
          }),
        "gday tls": () =>
          fuzzStream({
            port: ports.gdayTls,
            frames: n(4_000),
            frame: (r) => fuzzFrame(gday, r),
            tls,
            concurrency: 8,
            seed: seed + 2,
            signal,
          }),
        "gday tls handshake": () =>
          fuzzStream({
            port: ports.gdayTls,
            frames: n(1_000),
            perConnection: 1,
            frame: (r) => (r.chance(0.8) ? mutate(clientHello, r) : r.bytes(r.int(600))),
            concurrency: 8,
            seed: seed + 3,
            signal,
          }),
        "broker": () =>
          fuzzStream({
            port: ports.broker,
            frames: n(9_000),
            frame: (r) => fuzzFrame(brokerCorpus(), r),
            opening: (r) =>
              r.chance(0.3)
                ? encodeBrokerFrame({ type: "register", uid: `fuzz${r.int(50)}` })
                : null,
            concurrency: 12,
            seed: seed + 4,
            signal,
          }),
        "mediator native": () =>
          fuzzStream({
            port: ports.mediator,
            frames: n(6_000),
            frame: (r) => fuzzFrame(mediatorNativeCorpus(), r),
            opening: (r) =>
              r.chance(0.2)
                ? mediatorNativeSession().subarray(0, 4 + mediatorNativeCorpus().bodies[0]!.length)
                : null,
            concurrency: 10,
            seed: seed + 5,
            signal,
          }),
        "mediator p2psc": () =>
          fuzzStream({
            port: ports.mediator,
            frames: n(6_000),
            frame: (r) => fuzzFrame(p2pscCorpus(), r),
            opening: (r) => (r.chance(0.3) ? new TextEncoder().encode(" \n\t") : null),
            concurrency: 10,
            seed: seed + 6,
            signal,
          }),
        "relay tcp": () =>
          fuzzStream({
            port: ports.relay,
            frames: n(7_000),
            frame: (r) => (r.chance(0.05) ? relayHelloFrame(fuzzToken) : fuzzFrame(relay, r)),
            concurrency: 12,
            seed: seed + 7,
            signal,
          }),
        "relay websocket": () =>
          fuzzWebSocket({
            url: `ws://127.0.0.1:${ports.http}/relay`,
            messages: n(5_000),
            message: (r) =>
              r.chance(0.1)
                ? new TextDecoder().decode(r.bytes(r.int(64)))
                : r.chance(0.05)
                ? relayHelloFrame(fuzzToken)
                : fuzzFrame(relay, r),
            concurrency: 12,
            seed: seed + 8,
            signal,
          }),
        "http": () =>
          fuzzStream({
            port: ports.http,
            frames: n(8_000),
            frame: (r) => fuzzFrame(httpCorpus(), r),
            // A WebSocket upgrade (sometimes damaged) only first: see httpUpgradeRequest().
            opening: (r) =>
              r.chance(0.1)
                ? (r.chance(0.5) ? httpUpgradeRequest() : mutate(httpUpgradeRequest(), r))
                : null,
            concurrency: 12,
            seed: seed + 9,
            signal,
          }),
        "stun udp": () =>
          fuzzDatagrams({
            ports: [ports.stun, ports.stunAlt],
            datagrams: n(20_000),
            datagram: (r) => fuzzFrame(stunCorpus(), r),
            seed: seed + 10,
            signal,
          }),
        "chat udp": () =>
          fuzzDatagrams({
            ports: [ports.chat],
            datagrams: n(20_000),
            datagram: (r) => fuzzFrame(chatCorpus(), r),
            seed: seed + 11,
            signal,
          }),
      };
    };
    const run = async (seed: number, scale: number, budgetMs: number) => {
      // Stop at the time budget, or at once if the server dies.
      const dead = new AbortController();
      const watch = setInterval(() => server.alive || dead.abort(), 200);
      const signal = AbortSignal.any([AbortSignal.timeout(budgetMs), dead.signal]);
      const started = performance.now();
      const entries = Object.entries(plan(seed, scale, signal));
      const counts = await Promise.all(entries.map(([, go]) => go())).finally(() =>
        clearInterval(watch)
      );
      assertHealthy(server, seed);
      return {
        ms: performance.now() - started,
        sent: Object.fromEntries(entries.map(([name], i) => [name, counts[i]!])),
        total: counts.reduce((a, b) => a + b, 0),
      };
    };
    const settle = async () => {
      await until(
        async () => stateLeft(await scrapeMetrics(ports.http)).length === 0,
        20_000,
        "the server's tables and connections to empty",
      ).catch(async (error) => {
        throw new Error(`${error.message}: ${stateLeft(await scrapeMetrics(ports.http))}`);
      });
    };

    let failure: unknown;
    try {
      // Warm up (JIT, buffers, TLS sessions, the allocator's pools) with a first pass of half
      // the frames, then take the baseline: what the main pass adds beyond it is what it kept.
      await run(SEED + 1_000_000, 0.5, 120_000);
      await settle();
      const baseline = await settledMemory(ports.http);

      const result = await run(SEED, 1, 240_000);
      console.log(
        `fuzz seed ${SEED}: ${result.total} frames in ${(result.ms / 1000).toFixed(1)} s`,
        result.sent,
      );
      assert.ok(
        result.total >= 100_000,
        `Only ${result.total} frames sent: ${JSON.stringify(result.sent)}`,
      );
      assertHealthy(server, SEED);

      // Every connection, room, registration, circuit and chat user is gone again.
      await settle();
      const after = await settledMemory(ports.http);
      console.log(
        `memory: RSS ${(baseline.rss / MiB).toFixed(1)} → ${(after.rss / MiB).toFixed(1)} MiB, ` +
          `heap ${(baseline.heap / MiB).toFixed(1)} → ${(after.heap / MiB).toFixed(1)} MiB, ` +
          `descriptors ${baseline.fds} → ${after.fds}`,
      );
      // Back near the baseline: RSS within 50% + 32 MiB (the allocator keeps some pages), the
      // V8 heap within 16 MiB + 50% (garbage not yet collected).
      assert.ok(after.rss <= baseline.rss * 1.5 + 32 * MiB, "RSS did not come back");
      assert.ok(after.heap <= baseline.heap * 1.5 + 16 * MiB, "The heap did not come back");
      assert.ok(after.fds <= baseline.fds + 5, "File descriptors leaked");

      // And it still serves: a gday exchange, a relay circuit, readiness.
      await exchange(ports.gday, 987_654_321n);
      const token = crypto.getRandomValues(new Uint8Array(32));
      const [a, b] = await Promise.all([
        relayConnect({ server: `127.0.0.1:${ports.relay}`, token }),
        relayConnect({ server: `127.0.0.1:${ports.relay}`, token }),
      ]);
      a.close();
      b.close();
      const ready = await fetch(`http://127.0.0.1:${ports.http}/readyz`);
      assert.equal(ready.status, 200, await ready.text());
      assertHealthy(server, SEED);
      const samples = await scrapeMetrics(ports.http);
      assert.ok(familySum(samples, "peerlink_errors_total") > 10_000, "The fuzz found no errors?");
    } catch (error) {
      failure = error;
    }
    // SIGTERM: a graceful stop (exit code 0) even after all that.
    const stopped = performance.now();
    const status = await server.stop();
    const stopMs = performance.now() - stopped;
    if (failure !== undefined || status.code !== 0) {
      console.log(server.lines.slice(-40).join("\n"));
    }
    if (failure !== undefined) throw failure;
    assert.equal(
      status.code,
      0,
      `server.ts exited with ${status.code} after ${stopMs} ms (seed ${SEED})`,
    );
    assert.deepEqual(server.problems, [], `Errors at shutdown (seed ${SEED})`);
  },
});

/** One slowloris connection: what it sends, a byte at a time, and when it was closed. */
interface Attacker {
  service: string;
  closable: boolean;
  conn: Deno.Conn;
  payload: Uint8Array;
  sent: number;
  openedAt: number;
  closedAt: number | null;
}

Deno.test("hardening: 1,000 slowloris connections are closed by the idle timeout while clients are served", async () => {
  const IDLE_S = 3;
  const SLACK_MS = 5_000;
  const cert = await selfSignedCert();
  await using _certDir = {
    [Symbol.asyncDispose]: () => Deno.remove(cert.dir, { recursive: true }),
  };
  const started = await startPeerlinkOnFreePorts(
    TCP_SERVICES,
    (ports) => [
      ...tcpServiceArgs(ports, cert.dir),
      "--no-stun",
      "--rate-limit",
      "0",
      // One address plays 1,000 clients here: the per-IP limit (100 by default) would stop the
      // attack at once; this test is about the idle timeouts.
      "--max-connections-per-ip",
      "5000",
      "--idle-timeout",
      String(IDLE_S),
      "--broker-step-timeout",
      String(IDLE_S),
      "--mediator-timeout",
      String(IDLE_S),
      "--log-level",
      "warn",
    ],
    "http",
  );
  await using server = started.server;
  const ports = started.ports;

  const clientHello = await captureClientHello();
  const enc = new TextEncoder();
  const gdayFrame = (length: number) =>
    frameBody(enc.encode(`{"CreateRoom":{"room_code":1}}`), length);
  const tcp = (port: number) => () => Deno.connect({ hostname: "127.0.0.1", port });
  const groups: {
    service: string;
    count: number;
    connect: () => Promise<Deno.Conn>;
    payload: () => Uint8Array;
    /** Whether the server can close it (see the TLS handshake note below). */
    closable: boolean;
  }[] = [
    // A frame that announces 1,000 bytes and never finishes.
    {
      service: "gday",
      count: 400,
      connect: tcp(ports.gday),
      payload: () => gdayFrame(1000),
      closable: true,
    },
    // The same inside TLS, after the handshake.
    {
      service: "gday tls",
      count: 100,
      connect: async () => {
        const conn = await Deno.connectTls({
          hostname: "127.0.0.1",
          port: ports.gdayTls,
          caCerts: [cert.cert],
        });
        await conn.handshake();
        return conn;
      },
      payload: () => gdayFrame(1000),
      closable: true,
    },
    // A TLS ClientHello, a byte at a time: the handshake never ends. The server ends these
    // connections at the idle timeout, but Deno (2.9) finishes a TLS handshake before it shuts
    // a connection down (denoland/deno#14547), so their sockets stay open until the client
    // goes: only the listener's availability is asserted for them.
    {
      service: "gday tls handshake",
      count: 50,
      connect: tcp(ports.gdayTls),
      payload: () => clientHello,
      closable: false,
    },
    {
      service: "broker",
      count: 150,
      connect: tcp(ports.broker),
      payload: () => frameBody(enc.encode('{"type":"register","v":1,"uid":"x"}'), 500),
      closable: true,
    },
    // p2psc clients may send whitespace before their first `{`: an attacker sends only that.
    {
      service: "mediator p2psc",
      count: 75,
      connect: tcp(ports.mediator),
      payload: () => new Uint8Array(1024).fill(0x20),
      closable: true,
    },
    {
      service: "mediator native",
      count: 75,
      connect: tcp(ports.mediator),
      payload: () => frameBody(new Uint8Array(64), 300),
      closable: true,
    },
    {
      service: "relay",
      count: 150,
      connect: tcp(ports.relay),
      payload: () => frameBody(enc.encode('{"v":1}'), 200),
      closable: true,
    },
  ];
  const attackers: Attacker[] = [];
  const watchers: Promise<void>[] = [];
  const tick = 50;
  let ticker: ReturnType<typeof setInterval> | undefined;
  try {
    for (const group of groups) {
      for (let i = 0; i < group.count; i++) {
        const conn = await group.connect();
        const attacker: Attacker = {
          service: group.service,
          closable: group.closable,
          conn,
          payload: group.payload(),
          sent: 0,
          openedAt: performance.now(),
          closedAt: null,
        };
        attackers.push(attacker);
        watchers.push((async () => {
          const buf = new Uint8Array(4096);
          try {
            while ((await conn.read(buf)) !== null) { /* an error reply: keep reading */ }
          } catch { /* reset */ }
          attacker.closedAt ??= performance.now();
        })());
      }
    }
    // Each attacker sends its next byte every 500 ms, spread over the ticks.
    let next = 0;
    const perTick = Math.ceil(attackers.length / (500 / tick));
    ticker = setInterval(() => {
      for (let i = 0; i < perTick; i++) {
        const attacker = attackers[next++ % attackers.length]!;
        if (attacker.closedAt !== null || attacker.sent >= attacker.payload.length) continue;
        const byte = attacker.payload.subarray(attacker.sent, attacker.sent + 1);
        attacker.sent++;
        attacker.conn.write(byte).catch(() => {
          attacker.closedAt ??= performance.now();
        });
      }
    }, tick);

    // During the attack: the attackers hold their connections, and a normal client is served.
    await new Promise((r) => setTimeout(r, 1000));
    const during = await scrapeMetrics(ports.http);
    const open = familySum(during, "peerlink_connections_open");
    assert.ok(open >= 900, `Only ${open} connections open during the attack`);
    const served = performance.now();
    await exchange(ports.gday, 31_337n, 5000);
    const servedMs = performance.now() - served;
    await exchange(ports.gdayTls, 31_338n, 5000, { caCerts: [cert.cert] });
    assert.ok(
      attackers.filter((a) => a.closedAt === null).length >= 900,
      "The attack ended before the client was served",
    );

    // Then every attacker is closed by the idle timeout (not before it), within the slack.
    const lastOpened = Math.max(...attackers.map((a) => a.openedAt));
    const deadline = lastOpened + IDLE_S * 1000 + SLACK_MS;
    while (
      attackers.some((a) => a.closable && a.closedAt === null) && performance.now() < deadline
    ) {
      await new Promise((r) => setTimeout(r, 100));
    }
    const lifetimes = new Map<string, number[]>();
    for (const a of attackers) {
      const list = lifetimes.get(a.service) ?? [];
      list.push(a.closedAt === null ? Infinity : a.closedAt - a.openedAt);
      lifetimes.set(a.service, list);
    }
    const summary = [...lifetimes].map(([service, list]) => {
      const sorted = list.toSorted((x, y) => x - y);
      return `${service}: ${sorted.length} closed after ${(sorted[0]! / 1000).toFixed(2)}–${
        (sorted.at(-1)! / 1000).toFixed(2)
      } s`;
    });
    console.log(`slowloris: client served in ${servedMs.toFixed(0)} ms; ${summary.join("; ")}`);
    for (const [service, list] of lifetimes) {
      if (!groups.find((g) => g.service === service)!.closable) continue;
      const open = list.filter((ms) => ms === Infinity).length;
      assert.equal(open, 0, `${open} ${service} attackers still open after the timeout + slack`);
      const early = list.filter((ms) => ms < IDLE_S * 1000 - 250).length;
      assert.equal(early, 0, `${early} ${service} attackers closed before the idle timeout`);
    }
    await until(
      async () => familySum(await scrapeMetrics(ports.http), "peerlink_connections_open") === 0,
      5000,
      "the server to release the attackers' connections",
    );
    assertHealthy(server, 0);
  } finally {
    clearInterval(ticker);
    for (const attacker of attackers) {
      try {
        attacker.conn.close();
      } catch { /* closed */ }
    }
    await Promise.all(watchers);
  }
});

Deno.test("hardening: a soak of 1,000 concurrent clients shows no growth in descriptors or memory", async () => {
  const durationMs = SOAK ? 60_000 : 20_000;
  const { server, ports } = await startSoakServer();
  await using _server = server;
  const result = await runSoak(ports, { durationMs, sampleEveryMs: SOAK ? 2000 : 1000 });
  const mb = (n: number) => (n / MiB).toFixed(1);
  const peakRss = Math.max(...result.samples.map((s) => s.rssBytes));
  const peakFds = Math.max(...result.samples.map((s) => s.openFds));
  console.log(
    `soak ${durationMs / 1000} s, ${result.requestsPerSecond.toFixed(0)} requests/s; ` +
      `RSS ${mb(result.start.rssBytes)} → peak ${mb(peakRss)} → end ${
        mb(result.end.rssBytes)
      } MiB; ` +
      `FDs ${result.start.openFds} → peak ${peakFds} → end ${result.end.openFds}; ops ${
        JSON.stringify(result.ops)
      }, failures ${JSON.stringify(result.failures)}`,
  );
  // Every kind of client was served, nearly without failures.
  for (const kind of ["gday", "broker", "stun", "relay"] as const) {
    assert.ok(result.ops[kind] > 0, `No ${kind} operation completed`);
    assert.ok(
      result.failures[kind] <= result.ops[kind] * 0.01 + 2,
      `${result.failures[kind]} ${kind} failures`,
    );
  }
  // Descriptors: bounded by the clients while they run, back to the start once they are gone.
  assert.ok(peakFds <= result.start.openFds + 1000 + 50, `Peak of ${peakFds} descriptors`);
  assert.ok(
    result.end.openFds <= result.start.openFds + 5,
    `Descriptors ${result.start.openFds} → ${result.end.openFds}`,
  );
  // Memory: after the first third (warm-up: JIT, buffers, pools), the later samples do not grow.
  const judged = result.samples.filter((s) => s.atMs >= durationMs / 3);
  const half = Math.floor(judged.length / 2);
  const earlier = Math.max(...judged.slice(0, half).map((s) => s.rssBytes));
  const later = Math.max(...judged.slice(half).map((s) => s.rssBytes));
  const allowed = SOAK ? earlier * 1.1 + 8 * MiB : earlier * 1.2 + 16 * MiB;
  assert.ok(later <= allowed, `RSS grew from ${mb(earlier)} to ${mb(later)} MiB`);
  const laterFds = Math.max(...judged.slice(half).map((s) => s.openFds));
  const earlierFds = Math.max(...judged.slice(0, half).map((s) => s.openFds));
  assert.ok(laterFds <= earlierFds + 100, `Descriptors grew from ${earlierFds} to ${laterFds}`);
  // And nothing was left behind.
  assert.deepEqual(stateLeft(await scrapeMetrics(ports.http)), []);
  assertHealthy(server, 0);
  const status = await server.stop();
  assert.equal(status.code, 0);
});
