import assert from "node:assert/strict";
import { type ConnectOptions, connectPeer, type PeerConnection } from "../client/connect.ts";
import { PathStats } from "../client/path_stats.ts";
import { PeerCodeError } from "../client/peer_code.ts";
import { NoDirectPathError } from "../punch/errors.ts";
import { WrongCodeError } from "../secure/errors.ts";
import { silentLogger, startServer } from "../server/mod.ts";

type Extra = Omit<ConnectOptions, "server" | "code" | "onCode">;

/** Connect a creator and a joiner through `server`; the joiner uses `mutate(code)`. */
async function pair(
  server: string,
  creatorOptions: Extra = {},
  joinerOptions: Extra = {},
  mutate: (code: string) => string = (c) => c,
): Promise<[PeerConnection, PeerConnection]> {
  let gotCode!: (code: string) => void;
  const code = new Promise<string>((resolve) => (gotCode = resolve));
  const creator = connectPeer({ server, onCode: gotCode, ...creatorOptions });
  const joiner = Promise.race([code, creator.then(() => "")]).then((c) =>
    connectPeer({ server, code: mutate(c), ...joinerOptions })
  );
  const results = await Promise.allSettled([creator, joiner]);
  if (results.some((r) => r.status === "rejected")) {
    for (const r of results) if (r.status === "fulfilled") await r.value.close();
    throw results.find((r) => r.status === "rejected")!.reason;
  }
  return [
    (results[0] as PromiseFulfilledResult<PeerConnection>).value,
    (results[1] as PromiseFulfilledResult<PeerConnection>).value,
  ];
}

async function roundTrip(a: PeerConnection, b: PeerConnection): Promise<void> {
  const enc = new TextEncoder();
  const big = new Uint8Array(200_000);
  for (let i = 0; i < big.length; i += 65536) crypto.getRandomValues(big.subarray(i, i + 65536));
  const writeA = (async () => {
    const w = a.writable.getWriter();
    await w.write(enc.encode("hello from creator "));
    await w.write(big);
    await w.close();
  })();
  const writeB = (async () => {
    const w = b.writable.getWriter();
    await w.write(enc.encode("hello from joiner"));
    await w.close();
  })();
  const [atB, atA] = await Promise.all([
    new Response(b.readable).bytes(),
    new Response(a.readable).bytes(),
    writeA,
    writeB,
  ]);
  assert.equal(new TextDecoder().decode(atA), "hello from joiner");
  assert.equal(new TextDecoder().decode(atB.subarray(0, 19)), "hello from creator ");
  assert.deepEqual(atB.subarray(19), big);
}

async function withServer(fn: (server: string) => Promise<void>): Promise<void> {
  await using server = await startServer({
    hostname: "::",
    gdayPort: 0,
    logger: silentLogger,
    limits: { requestsPerMinute: 0 },
  });
  await fn(`localhost:${server.listeners[0]!.addr.port}`);
}

Deno.test("connectPeer() over loopback: both sides agree on one direct path and data flows both ways with half-close", async () => {
  await withServer(async (server) => {
    for (let i = 0; i < 3; i++) {
      const [a, b] = await pair(server);
      try {
        assert.equal(a.path, b.path);
        assert.ok(a.path === "direct-tcp" || a.path === "direct-udp");
        assert.equal(a.isCreator, true);
        assert.equal(b.isCreator, false);
        assert.equal(a.code, b.code);
        await roundTrip(a, b);
      } finally {
        await Promise.all([a.close(), b.close()]);
      }
    }
  });
});

Deno.test("connectPeer() with UDP only: QUIC over the punched port carries the secure stream", async () => {
  await withServer(async (server) => {
    const stats = new PathStats();
    const options: Extra = { disable: ["direct-tcp"], stats };
    const [a, b] = await pair(server, options, options);
    try {
      assert.equal(a.path, "direct-udp");
      assert.equal(b.path, "direct-udp");
      await roundTrip(a, b);
      assert.equal(stats.get("direct-udp", "won"), 2);
      assert.equal(stats.get("direct-tcp", "attempted"), 0);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });
});

Deno.test("connectPeer() with TCP only, in gday mode (gday 0.1.1's handshake and stream)", async () => {
  await withServer(async (server) => {
    const options: Extra = { mode: "gday" };
    const [a, b] = await pair(server, options, options);
    try {
      assert.equal(a.path, "direct-tcp");
      assert.equal(a.mode, "gday");
      const w = a.writable.getWriter();
      await w.write(new TextEncoder().encode("g'day"));
      const r = b.readable.getReader();
      const { value } = await r.read();
      assert.equal(new TextDecoder().decode(value), "g'day");
      r.releaseLock();
      w.releaseLock();
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });
});

Deno.test("connectPeer() with a wrong secret: both sides fail with WrongCodeError at once, without waiting out the other paths", async () => {
  // Long enough that waiting for the UDP path (which never hears an authentic probe) would show.
  const punchTimeoutMs = 30_000;
  const started = Date.now();
  await withServer(async (server) => {
    const results = await Promise.allSettled([
      (async () => {
        let gotCode!: (c: string) => void;
        const code = new Promise<string>((r) => (gotCode = r));
        const creator = connectPeer({ server, onCode: gotCode, punchTimeoutMs });
        const c = await code;
        // Same room, different secret: recompute the checksum so only the secret differs.
        const [s, room] = c.split(".");
        const { formatPeerCode } = await import("../client/peer_code.ts");
        const wrong = formatPeerCode({
          serverId: BigInt(`0x${s}`),
          roomCode: BigInt(`0x${room}`),
          secret: 12345n,
        });
        const joiner = connectPeer({ server, code: wrong, punchTimeoutMs });
        return await Promise.allSettled([creator, joiner]);
      })(),
    ]);
    const [inner] = results;
    assert.equal(inner!.status, "fulfilled");
    const [creator, joiner] =
      (inner as PromiseFulfilledResult<PromiseSettledResult<PeerConnection>[]>).value;
    for (const side of [creator!, joiner!]) {
      assert.equal(side.status, "rejected");
      assert.ok(
        (side as PromiseRejectedResult).reason instanceof WrongCodeError,
        String((side as PromiseRejectedResult).reason),
      );
    }
  });
  const elapsed = Date.now() - started;
  assert.ok(elapsed < punchTimeoutMs / 2, `took ${elapsed} ms: a path's timeout was waited out`);
});

Deno.test("connectPeer() catches a typo in the code before any network traffic", async () => {
  await assert.rejects(
    connectPeer({ server: "127.0.0.1:1", code: "0.1234.5678.0" }),
    PeerCodeError,
  );
});

Deno.test("connectPeer() with no reachable path reports NoDirectPathError", async () => {
  await withServer(async (server) => {
    // Joiner's paths are all disabled but the creator's; the creator cannot reach anyone.
    const [a, b] = await Promise.allSettled(
      (() => {
        let gotCode!: (c: string) => void;
        const code = new Promise<string>((r) => (gotCode = r));
        const creator = connectPeer({
          server,
          onCode: gotCode,
          punchTimeoutMs: 1500,
          disable: ["direct-udp"],
        });
        const joiner = code.then((c) =>
          connectPeer({ server, code: c, punchTimeoutMs: 1500, disable: ["direct-tcp"] })
        );
        return [creator, joiner];
      })(),
    );
    assert.equal(a.status, "rejected");
    assert.ok((a as PromiseRejectedResult).reason instanceof NoDirectPathError);
    assert.equal(b.status, "rejected");
    assert.ok((b as PromiseRejectedResult).reason instanceof NoDirectPathError);
  });
});

Deno.test("connectPeer() is cancelled by its signal while waiting for the peer", async () => {
  await withServer(async (server) => {
    const controller = new AbortController();
    const pending = connectPeer({
      server,
      onCode: () => controller.abort(new Error("Stop")),
      signal: controller.signal,
    });
    await assert.rejects(pending);
  });
});
