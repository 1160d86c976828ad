import assert from "node:assert/strict";
import {
  connectWebSocket,
  WebSocketClosedError,
  type WebSocketDuplex,
  websocketDuplex,
} from "../net/websocket.ts";
import { relayConnect } from "../client/relay.ts";
import { pattern, randomToken, readAll, sha256Hex, startRelay, until } from "./relay_helpers.ts";

/** A WebSocket server whose accepted sockets go to `onSocket` (once open). */
function wsServer(onSocket: (ws: WebSocket) => void): Deno.HttpServer<Deno.NetAddr> {
  return Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
    const { socket, response } = Deno.upgradeWebSocket(request);
    socket.addEventListener("open", () => onSocket(socket), { once: true });
    return response;
  });
}

Deno.test("websocketDuplex(): credit mode holds a writer at the window until the reader reads", async () => {
  const window = 64 * 1024;
  let far!: WebSocketDuplex;
  const ready = Promise.withResolvers<void>();
  const server = wsServer((ws) => {
    far = websocketDuplex(ws, { halfClose: true, window });
    ready.resolve();
  });
  try {
    const near = websocketDuplex(await connectWebSocket(`ws://127.0.0.1:${server.addr.port}/`), {
      halfClose: true,
      window,
    });
    await ready.promise;
    const data = pattern(1024 * 1024, 3);
    let written = 0;
    const writer = near.writable.getWriter();
    const writing = (async () => {
      for (let offset = 0; offset < data.length; offset += 16 * 1024) {
        await writer.write(data.subarray(offset, offset + 16 * 1024));
        written = offset + 16 * 1024;
      }
      await writer.close();
    })();
    // Nobody reads on the far side: the writer stops at the window.
    await until(() => written >= window - 16 * 1024, 5000, "the window to fill");
    await new Promise((r) => setTimeout(r, 200));
    assert.ok(written <= window, `${written} bytes written past a ${window}-byte window`);
    // Reading releases it, and every byte arrives in order.
    const got = await readAll(far.readable);
    await writing;
    assert.equal(sha256Hex(got), sha256Hex(data));
    await far.writable.close();
    assert.equal((await readAll(near.readable)).length, 0);
    assert.equal((await near.closed).code, 1000);
  } finally {
    await server.shutdown();
  }
});

Deno.test("websocketDuplex(): abort reaches the peer as a WebSocketClosedError; a window breach is refused", async () => {
  const sockets: WebSocket[] = [];
  const server = wsServer((ws) => sockets.push(ws));
  try {
    // Abort.
    const near = websocketDuplex(await connectWebSocket(`ws://127.0.0.1:${server.addr.port}/`), {
      halfClose: true,
    });
    await until(() => sockets.length === 1);
    const far = websocketDuplex(sockets[0]!, { halfClose: true });
    await near.writable.abort(new Error("Stop"));
    const error = await readAll(far.readable).catch((e) => e);
    assert.ok(error instanceof WebSocketClosedError, String(error));
    assert.equal(error.code, 4000);

    // A peer that ignores the window (a raw socket sending 3 KiB against a 1 KiB window).
    const raw = await connectWebSocket(`ws://127.0.0.1:${server.addr.port}/`);
    await until(() => sockets.length === 2);
    const guarded = websocketDuplex(sockets[1]!, { halfClose: true, window: 1024 });
    const closed = new Promise<CloseEvent>((r) => raw.addEventListener("close", r, { once: true }));
    for (let i = 0; i < 3; i++) raw.send(new Uint8Array(1024));
    // The guarded side closes it (code 4003, though the close may race the third message).
    await closed;
    const breach = await readAll(guarded.readable).catch((e) => e);
    assert.ok(breach instanceof RangeError, String(breach));
  } finally {
    await server.shutdown();
  }
});

Deno.test("relay over WebSocket: the server holds at most the window of a sender whose peer does not read", async () => {
  const wsWindow = 64 * 1024;
  await using relay = await startRelay({ http: true, wsWindow });
  const token = randomToken();
  const a = relayConnect({ server: relay.ws!, token });
  await until(() => relay.state.size === 1);
  const b = await relayConnect({ server: relay.tcp, token });
  const sender = await a;
  let written = 0;
  const writer = sender.writable.getWriter();
  const writing = (async () => {
    const chunk = new Uint8Array(32 * 1024);
    for (;;) {
      await writer.write(chunk);
      written += chunk.length;
    }
  })().catch(() => {});
  // B never reads: once the kernel's buffers toward B are full, the relay stops forwarding...
  let last = -1;
  await until(
    () => {
      const now = relay.server.counters.get("relay_bytes");
      const still = now === last && now > 0;
      last = now;
      return still;
    },
    20_000,
    "forwarding to stall",
  );
  await new Promise((r) => setTimeout(r, 100));
  // ...and the sender is held: the relay has taken at most one window (plus one chunk in hand).
  const forwarded = relay.server.counters.get("relay_bytes");
  assert.ok(
    written - forwarded <= wsWindow + 64 * 1024,
    `sender wrote ${written}, relay forwarded ${forwarded}`,
  );
  sender.close();
  b.close();
  await writing;
  await until(() => relay.state.size === 0);
});
