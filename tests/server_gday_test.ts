import assert from "node:assert/strict";
import { type ContactExchange, exchangeContacts } from "../client/exchange.ts";
import {
  NoSuchRoomError,
  PeerTimedOutError,
  RateLimitedError,
  RoomTakenError,
} from "../client/errors.ts";
import { type PeerlinkServer, startServer } from "../server/server.ts";
import type { ServerLimits } from "../server/plugin.ts";
import { silentLogger } from "../server/logger.ts";
import { RawClient, rawFrame, selfSignedCert } from "./_helpers.ts";

const NO_LIMITS: Partial<ServerLimits> = { requestsPerMinute: 0, maxConnectionsPerIp: 2000 };

function start(
  limits: Partial<ServerLimits> = NO_LIMITS,
  hostname = "127.0.0.1",
): Promise<PeerlinkServer> {
  return startServer({ hostname, gdayPort: 0, logger: silentLogger, limits });
}

const port = (server: PeerlinkServer): number => server.listeners[0]!.addr.port;

/** Creator first; the joiner starts once the room exists (as a person reading the code would). */
async function pair(
  server: string,
  code: bigint,
  extra: Record<string, unknown> = {},
): Promise<[ContactExchange, ContactExchange]> {
  let created!: () => void;
  const room = new Promise<void>((r) => (created = r));
  const a = exchangeContacts({
    server,
    create: true,
    roomCode: code,
    ...extra,
    onRoom: () => created(),
  });
  const b = Promise.race([room, a]).then(() =>
    exchangeContacts({ server, create: false, roomCode: code, ...extra })
  );
  return await Promise.all([a, b]);
}

/** A full gday exchange with the library, asserting each side sees the other. */
async function assertExchange(
  server: string,
  code: bigint,
  extra: Record<string, unknown> = {},
): Promise<void> {
  const [a, b] = await pair(server, code, extra);
  try {
    assert.equal(a.roomCode, code);
    for (const [me, other] of [[a, b], [b, a]] as const) {
      const myConn = me.connections[0]!.conn;
      const family = myConn.localAddr.family;
      // The peer sees my observed public address and my reported private address.
      assert.deepEqual(other.peer.public[family], myConn.localAddr);
      assert.deepEqual(other.peer.private[family], myConn.localAddr);
      assert.deepEqual(me.own, other.peer);
    }
  } finally {
    a.close();
    b.close();
  }
}

Deno.test("server: two library clients exchange contacts over IPv4 loopback", async () => {
  await using server = await start();
  await assertExchange(`127.0.0.1:${port(server)}`, 1n);
  assert.equal(server.rooms.size, 0);
});

Deno.test("server: two library clients exchange contacts over IPv6 loopback", async () => {
  await using server = await start(NO_LIMITS, "::1");
  await assertExchange(`[::1]:${port(server)}`, 2n ** 63n + 5n);
  assert.equal(server.rooms.size, 0);
});

Deno.test("server: a dual-stack listener stores IPv4 clients as IPv4 (not ::ffff:) and IPv6 as IPv6", async () => {
  await using server = await start(NO_LIMITS, "::");
  const [a, b] = await pair(`localhost:${port(server)}`, 3n);
  try {
    assert.equal(a.connections.length, 2, "v6 and v4 connections");
    assert.equal(a.connections[0]!.family, "v6");
    assert.equal(a.peer.public.v4?.ip, "127.0.0.1");
    assert.equal(a.peer.public.v6?.ip, "::1");
    assert.equal(
      a.peer.public.v4?.port,
      b.connections.find((c) => c.family === "v4")!.conn.localAddr.port,
    );
    assert.equal(
      a.peer.public.v6?.port,
      b.connections.find((c) => c.family === "v6")!.conn.localAddr.port,
    );
  } finally {
    a.close();
    b.close();
  }
});

Deno.test("server: TLS exchange with a self-signed certificate (trusted by CA, and --insecure)", async () => {
  const { cert, key, dir } = await selfSignedCert();
  try {
    await using server = await startServer({
      hostname: "::",
      gdayPort: null,
      gdayTlsPort: 0,
      tls: { cert, key },
      logger: silentLogger,
      limits: NO_LIMITS,
    });
    assert.equal(server.listeners[0]!.transport, "tls");
    const p = port(server);
    await assertExchange(`localhost:${p}`, 4n, { tls: { caCerts: [cert] } });
    await assertExchange(`127.0.0.1:${p}`, 5n, { tls: { caCerts: [cert] }, families: ["v4"] });
    await assertExchange(`[::1]:${p}`, 6n, { tls: { insecure: true } });
    // Without trusting the certificate the client refuses it.
    await assert.rejects(
      exchangeContacts({
        server: `localhost:${p}`,
        create: true,
        roomCode: 7n,
        tls: true,
        timeoutMs: 5000,
      }),
      (e: Error) => e.name === "ServerUnreachableError",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("server: a raw gday 0.1.1 client (frames from the spec) completes an exchange", async () => {
  await using server = await start();
  using creator = await RawClient.connect(port(server));
  using joiner = await RawClient.connect(port(server));
  // Frames written by hand from spec §1.2 / §6.1, not with peerlink's encoder.
  assert.equal(await creator.request('{"CreateRoom":{"room_code":452932}}'), '"RoomCreated"');
  assert.equal(
    await creator.request(
      `{"SendAddr":{"room_code":452932,"is_creator":true,"private_addr":"10.0.0.5:${creator.localPort}"}}`,
    ),
    '"ReceivedAddr"',
  );
  assert.equal(
    await joiner.request(
      '{"SendAddr":{"room_code":452932,"is_creator":false,"private_addr":null}}',
    ),
    '"ReceivedAddr"',
  );
  const creatorContact =
    `{"private":{"v4":"10.0.0.5:${creator.localPort}","v6":null},"public":{"v4":"127.0.0.1:${creator.localPort}","v6":null}}`;
  const joinerContact =
    `{"private":{"v4":null,"v6":null},"public":{"v4":"127.0.0.1:${joiner.localPort}","v6":null}}`;
  assert.equal(
    await creator.request('{"DoneSending":{"room_code":452932,"is_creator":true}}'),
    `{"ClientContact":${creatorContact}}`,
  );
  assert.equal(
    await joiner.request('{"DoneSending":{"room_code":452932,"is_creator":false}}'),
    `{"ClientContact":${joinerContact}}`,
  );
  assert.equal(await creator.recv(), `{"PeerContact":${joinerContact}}`);
  assert.equal(await joiner.recv(), `{"PeerContact":${creatorContact}}`);
  // The room is gone after the exchange.
  assert.equal(
    await creator.request('{"DoneSending":{"room_code":452932,"is_creator":true}}'),
    '"ErrorNoSuchRoomID"',
  );
  assert.equal(server.rooms.size, 0);
});

Deno.test("server: room codes above 2^53 work exactly", async () => {
  await using server = await start();
  using c = await RawClient.connect(port(server));
  assert.equal(
    await c.request('{"CreateRoom":{"room_code":18446744073709551615}}'),
    '"RoomCreated"',
  );
  assert.equal(
    await c.request('{"CreateRoom":{"room_code":18446744073709551615}}'),
    '"ErrorRoomTaken"',
  );
  assert.equal(
    await c.request('{"SendAddr":{"room_code":18446744073709551614,"is_creator":true}}'),
    '"ErrorNoSuchRoomID"',
  );
  assert.equal(
    await c.request('{"SendAddr":{"room_code":18446744073709551615,"is_creator":true}}'),
    '"ReceivedAddr"',
  );
});

/** After abuse, a normal library exchange on the same server still works. */
async function assertStillServes(server: PeerlinkServer, code: bigint): Promise<void> {
  await assertExchange(`127.0.0.1:${port(server)}`, code);
}

Deno.test("bad input: garbage bytes get ErrorSyntax and a close", async () => {
  await using server = await start();
  using c = await RawClient.connect(port(server));
  await c.writeBytes(rawFrame("this is not json"));
  assert.equal(await c.recv(), '"ErrorSyntax"');
  assert.ok(await c.closedByServer());
  using d = await RawClient.connect(port(server));
  await d.writeBytes(new Uint8Array([0, 0, 0, 3, 0xff, 0xfe, 0xfd]));
  assert.equal(await d.recv(), '"ErrorSyntax"');
  assert.ok(await d.closedByServer());
  await assertStillServes(server, 10n);
});

Deno.test("bad input: a 4 GiB length prefix and a frame over the max are refused without allocating", async () => {
  await using server = await start({ ...NO_LIMITS, maxFrameBytes: 1024 });
  using c = await RawClient.connect(port(server));
  await c.writeBytes(new Uint8Array([0xff, 0xff, 0xff, 0xff, 1, 2, 3]));
  assert.equal(await c.recv(), '"ErrorSyntax"');
  assert.ok(await c.closedByServer());
  using d = await RawClient.connect(port(server));
  await d.writeBytes(rawFrame(`{"CreateRoom":{"room_code":1,"pad":"${"x".repeat(2000)}"}}`));
  assert.equal(await d.recv(), '"ErrorSyntax"');
  assert.ok(await d.closedByServer());
  // Exactly at the limit is fine.
  using e = await RawClient.connect(port(server));
  const body = `{"CreateRoom":{"room_code":11,"pad":"`;
  assert.equal(await e.request(body + "x".repeat(1024 - body.length - 4) + '"}}'), '"RoomCreated"');
  await assertStillServes(server, 12n);
});

Deno.test("bad input: a truncated frame then close, and an unknown variant", async () => {
  await using server = await start();
  {
    using c = await RawClient.connect(port(server));
    await c.writeBytes(rawFrame('{"CreateRoom":{"room_code":1}}').subarray(0, 10));
    await c.conn.closeWrite();
    // gday attempts ErrorSyntax on a read error, then closes.
    assert.equal(await c.recv(), '"ErrorSyntax"');
    assert.ok(await c.closedByServer());
  }
  using d = await RawClient.connect(port(server));
  assert.equal(await d.request('{"JoinRoom":{"room_code":1}}'), '"ErrorSyntax"');
  assert.ok(await d.closedByServer());
  await assertStillServes(server, 13n);
});

Deno.test("bad input: valid JSON with wrong types gets ErrorSyntax", async () => {
  await using server = await start();
  for (
    const json of [
      '{"CreateRoom":{"room_code":"452932"}}',
      '{"CreateRoom":{"room_code":-1}}',
      '{"CreateRoom":{"room_code":1.5}}',
      '{"CreateRoom":{"room_code":18446744073709551616}}',
      '{"SendAddr":{"room_code":1,"is_creator":1}}',
      '{"SendAddr":{"room_code":1,"is_creator":true,"private_addr":"[::1]"}}',
      '"RoomCreated"',
      "[]",
    ]
  ) {
    using c = await RawClient.connect(port(server));
    assert.equal(await c.request(json), '"ErrorSyntax"', json);
    assert.ok(await c.closedByServer(), json);
  }
  await assertStillServes(server, 14n);
});

Deno.test("bad input: SendAddr/DoneSending for a missing room, CreateRoom for a taken code, connection kept", async () => {
  await using server = await start();
  using c = await RawClient.connect(port(server));
  assert.equal(
    await c.request('{"SendAddr":{"room_code":99,"is_creator":true,"private_addr":null}}'),
    '"ErrorNoSuchRoomID"',
  );
  assert.equal(
    await c.request('{"DoneSending":{"room_code":99,"is_creator":false}}'),
    '"ErrorNoSuchRoomID"',
  );
  assert.equal(await c.request('{"CreateRoom":{"room_code":99}}'), '"RoomCreated"');
  assert.equal(await c.request('{"CreateRoom":{"room_code":99}}'), '"ErrorRoomTaken"');
  // The library maps these to typed errors.
  const server_ = `127.0.0.1:${port(server)}`;
  await assert.rejects(
    exchangeContacts({ server: server_, create: true, roomCode: 99n }),
    RoomTakenError,
  );
  await assert.rejects(
    exchangeContacts({ server: server_, create: false, roomCode: 98n }),
    NoSuchRoomError,
  );
  await assertStillServes(server, 15n);
});

Deno.test("bad input: DoneSending twice (second connection of the same role) answers the first ErrorPeerTimedOut", async () => {
  await using server = await start();
  using a = await RawClient.connect(port(server));
  using a2 = await RawClient.connect(port(server));
  assert.equal(await a.request('{"CreateRoom":{"room_code":20}}'), '"RoomCreated"');
  assert.match(
    (await a.request('{"DoneSending":{"room_code":20,"is_creator":true}}'))!,
    /^\{"ClientContact"/,
  );
  assert.match(
    (await a2.request('{"DoneSending":{"room_code":20,"is_creator":true}}'))!,
    /^\{"ClientContact"/,
  );
  assert.equal(await a.recv(), '"ErrorPeerTimedOut"');
  // The same connection sending DoneSending twice: the second is read after the wait ends.
  using b = await RawClient.connect(port(server));
  assert.match(
    (await b.request('{"DoneSending":{"room_code":20,"is_creator":false}}'))!,
    /^\{"ClientContact"/,
  );
  assert.match((await b.recv())!, /^\{"PeerContact"/);
  assert.match((await a2.recv())!, /^\{"PeerContact"/);
  assert.equal(
    await b.request('{"DoneSending":{"room_code":20,"is_creator":false}}'),
    '"ErrorNoSuchRoomID"',
  );
  await assertStillServes(server, 16n);
});

Deno.test("server: a peer that disconnects while the other waits is noticed at once (ErrorPeerTimedOut)", async () => {
  await using server = await start();
  using waiter = await RawClient.connect(port(server));
  const leaver = await RawClient.connect(port(server));
  assert.equal(await waiter.request('{"CreateRoom":{"room_code":30}}'), '"RoomCreated"');
  assert.equal(
    await leaver.request('{"SendAddr":{"room_code":30,"is_creator":false,"private_addr":null}}'),
    '"ReceivedAddr"',
  );
  assert.match(
    (await waiter.request('{"DoneSending":{"room_code":30,"is_creator":true}}'))!,
    /ClientContact/,
  );
  const started = Date.now();
  leaver.close();
  assert.equal(await waiter.recv(3000), '"ErrorPeerTimedOut"');
  assert.ok(Date.now() - started < 2000, "answered at once, not after the room TTL");
  assert.equal(server.rooms.size, 0);
  // And the waiter's own disconnect: the other side is told when it finishes.
  using a = await RawClient.connect(port(server));
  using b = await RawClient.connect(port(server));
  assert.equal(await a.request('{"CreateRoom":{"room_code":31}}'), '"RoomCreated"');
  assert.match(
    (await a.request('{"DoneSending":{"room_code":31,"is_creator":true}}'))!,
    /ClientContact/,
  );
  a.close();
  await new Promise((r) => setTimeout(r, 100));
  assert.match(
    (await b.request('{"DoneSending":{"room_code":31,"is_creator":false}}'))!,
    /ClientContact/,
  );
  assert.equal(await b.recv(3000), '"ErrorPeerTimedOut"');
  assert.equal(server.rooms.size, 0);
});

Deno.test("server: rooms expire after their lifetime and waiters get ErrorPeerTimedOut", async () => {
  await using server = await start({ ...NO_LIMITS, roomTtlMs: 300 });
  using a = await RawClient.connect(port(server));
  assert.equal(await a.request('{"CreateRoom":{"room_code":40}}'), '"RoomCreated"');
  assert.match(
    (await a.request('{"DoneSending":{"room_code":40,"is_creator":true}}'))!,
    /ClientContact/,
  );
  assert.equal(await a.recv(3000), '"ErrorPeerTimedOut"');
  assert.equal(server.rooms.size, 0);
  await assert.rejects(
    exchangeContacts({ server: `127.0.0.1:${port(server)}`, create: true, roomCode: 41n }),
    PeerTimedOutError,
  );
});

Deno.test("server: per-IP rate limit answers ErrorTooManyRequests and closes", async () => {
  await using server = await start({ requestsPerMinute: 5, maxConnectionsPerIp: 100 });
  using c = await RawClient.connect(port(server));
  for (let i = 0; i < 5; i++) {
    assert.equal(await c.request(`{"CreateRoom":{"room_code":${100 + i}}}`), '"RoomCreated"');
  }
  assert.equal(await c.request('{"CreateRoom":{"room_code":200}}'), '"ErrorTooManyRequests"');
  assert.ok(await c.closedByServer());
  assert.equal(server.counters.get("gday_rate_limited"), 1);
  await assert.rejects(
    exchangeContacts({ server: `127.0.0.1:${port(server)}`, create: true }),
    RateLimitedError,
  );
});

Deno.test("server: SendAddr costs 2 with a private address, as in gday", async () => {
  await using server = await start({ requestsPerMinute: 4, maxConnectionsPerIp: 100 });
  using c = await RawClient.connect(port(server));
  assert.equal(await c.request('{"CreateRoom":{"room_code":1}}'), '"RoomCreated"'); // 1
  assert.equal(
    await c.request('{"SendAddr":{"room_code":1,"is_creator":true,"private_addr":"1.2.3.4:5"}}'),
    '"ReceivedAddr"',
  ); // 3
  assert.equal(
    await c.request('{"SendAddr":{"room_code":1,"is_creator":true,"private_addr":"1.2.3.4:5"}}'),
    '"ErrorTooManyRequests"',
  ); // 4, then 5 > 4
  assert.ok(await c.closedByServer());
});

Deno.test("server: a client that connects and sends nothing is closed by the idle timeout", async () => {
  await using server = await start({ ...NO_LIMITS, idleTimeoutMs: 200 });
  using c = await RawClient.connect(port(server));
  const started = Date.now();
  assert.ok(await c.closedByServer(3000));
  assert.ok(Date.now() - started >= 150);
  assert.equal(server.counters.get("gday_idle_closed"), 1);
});

Deno.test("server: 500 clients that connect and stall do not stop a normal exchange, and are closed when idle", async () => {
  await using server = await start({
    requestsPerMinute: 0,
    maxConnectionsPerIp: 1000,
    idleTimeoutMs: 1500,
  });
  const stalled = await Promise.all(
    Array.from({ length: 500 }, () => RawClient.connect(port(server))),
  );
  try {
    // Half of them send a partial frame and stall.
    await Promise.all(
      stalled.slice(0, 250).map((c) => c.writeBytes(new Uint8Array([0, 0, 0, 40, 123]))),
    );
    await assertStillServes(server, 50n);
    const closed = await Promise.all(stalled.map((c) => c.closedByServer(5000)));
    assert.equal(closed.filter(Boolean).length, 500);
    assert.equal(server.openConnections, 0);
  } finally {
    for (const c of stalled) c.close();
  }
});

Deno.test("server: connection limits per IP and in total", async () => {
  await using server = await start({
    requestsPerMinute: 0,
    maxConnectionsPerIp: 3,
    maxConnections: 10,
  });
  const held = await Promise.all([1, 2, 3].map(() => RawClient.connect(port(server))));
  try {
    // Wait until the server counted all three.
    for (let i = 0; i < 50 && server.openConnections < 3; i++) {
      await held[0]!.request('{"CreateRoom":{"room_code":' + (900 + i) + "}}");
    }
    using extra = await RawClient.connect(port(server));
    assert.equal(await extra.recv(), '"ErrorTooManyRequests"');
    assert.ok(await extra.closedByServer());
    assert.equal(server.counters.get("connections_refused", "gday"), 1);
  } finally {
    for (const c of held) c.close();
  }
});

Deno.test("server: max rooms refuses CreateRoom with ErrorTooManyRequests but keeps the connection", async () => {
  await using server = await start({ ...NO_LIMITS, maxRooms: 2 });
  using c = await RawClient.connect(port(server));
  assert.equal(await c.request('{"CreateRoom":{"room_code":1}}'), '"RoomCreated"');
  assert.equal(await c.request('{"CreateRoom":{"room_code":2}}'), '"RoomCreated"');
  assert.equal(await c.request('{"CreateRoom":{"room_code":3}}'), '"ErrorTooManyRequests"');
  assert.equal(await c.request('{"SendAddr":{"room_code":1,"is_creator":true}}'), '"ReceivedAddr"');
});

Deno.test("server: close() ends waiting clients and frees everything", async () => {
  const server = await start();
  using a = await RawClient.connect(port(server));
  assert.equal(await a.request('{"CreateRoom":{"room_code":60}}'), '"RoomCreated"');
  assert.match(
    (await a.request('{"DoneSending":{"room_code":60,"is_creator":true}}'))!,
    /ClientContact/,
  );
  await server.close();
  assert.ok(await a.closedByServer());
  assert.equal(server.rooms.size, 0);
  assert.equal(server.openConnections, 0);
});
