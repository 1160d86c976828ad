/**
 * Both modes over real loopback TCP (`Deno.listen`/`Deno.connect`): a `Deno.Conn` is a
 * `Duplex`. The resource sanitizer checks that sockets are closed once both directions end.
 *
 * @module
 */

import assert from "node:assert/strict";
import { gdayHandshake, gdayPassword } from "../secure/gday_handshake.ts";
import { handshake } from "../secure/handshake.ts";

async function tcpPair(): Promise<[Deno.TcpConn, Deno.TcpConn]> {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const connecting = Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  const accepted = await listener.accept();
  return [await connecting, accepted];
}

const encoder = new TextEncoder();

Deno.test("native mode over TCP: half-close, then the socket closes when both sides end", async () => {
  const [client, server] = await tcpPair();
  const code = encoder.encode("tcp code");
  const [a, b] = await Promise.all([handshake(client, code), handshake(server, code)]);
  const big = new Uint8Array(3_000_000).map((_, i) => i % 251);
  const writerA = a.writable.getWriter();
  const [received] = await Promise.all([
    new Response(b.readable).arrayBuffer(),
    writerA.write(big).then(() => writerA.close()),
  ]);
  assert.deepEqual(new Uint8Array(received), big);
  // A's direction ended; B -> A still works on the same socket.
  const writerB = b.writable.getWriter();
  await writerB.write(encoder.encode("still here"));
  await writerB.close();
  assert.equal(await new Response(a.readable).text(), "still here");
});

Deno.test("native mode over TCP: a wrong code fails on both sides and closes the sockets", async () => {
  const [client, server] = await tcpPair();
  const results = await Promise.allSettled([
    handshake(client, encoder.encode("one")),
    handshake(server, encoder.encode("two")),
  ]);
  for (const result of results) {
    assert.equal(result.status, "rejected");
    assert.equal(result.reason.name, "WrongCodeError");
  }
});

Deno.test("gday mode over TCP: the sender closes, the receiver reads to the end", async () => {
  const [client, server] = await tcpPair();
  const [a, b] = await Promise.all([
    gdayHandshake(client, gdayPassword(42)),
    gdayHandshake(server, gdayPassword(42)),
  ]);
  const data = new Uint8Array(500_000).map((_, i) => i % 13);
  const writer = a.writable.getWriter();
  const [received] = await Promise.all([
    new Response(b.readable).arrayBuffer(),
    writer.write(data).then(() => writer.close()),
  ]);
  assert.deepEqual(new Uint8Array(received), data);
  // In gday mode closing the writable closes the transport (gday has no end chunk), which on a
  // Deno.Conn ends both directions.
  await Promise.all([a.close(), b.close()]);
});
