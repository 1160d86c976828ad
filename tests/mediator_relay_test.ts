import assert from "node:assert/strict";
import { generateIdentity } from "../client/identity.ts";
import { connect } from "../client/mediator.ts";
import { relayDialer } from "../client/relay.ts";
import { silentLogger } from "../server/logger.ts";
import { startServer } from "../server/server.ts";
import { mediatorPlugin } from "../server/services/mediator.ts";
import { relayPlugin, type RelayTapEvent } from "../server/services/relay.ts";

Deno.test("mediator: two peers paired by public key reach each other through the relay (relay-only), which sees only ciphertext", async () => {
  const [alice, bob] = await Promise.all([generateIdentity(), generateIdentity()]);
  const relayed: Uint8Array[] = [];
  await using server = await startServer({
    hostname: "127.0.0.1",
    gdayPort: null,
    logger: silentLogger,
    services: [
      mediatorPlugin({ port: 0 }),
      relayPlugin({
        port: 0,
        tap: (event: RelayTapEvent) => void relayed.push(event.bytes.slice()),
      }),
    ],
  });
  const mediator = `127.0.0.1:${server.listeners.find((l) => l.service === "mediator")!.addr.port}`;
  const relay = relayDialer({
    server: `127.0.0.1:${server.listeners.find((l) => l.service === "relay")!.addr.port}`,
  });
  const [a, b] = await Promise.all([
    connect({ identity: alice, peer: bob.publicKey, mediator, relay, policy: "relay-only" }),
    connect({ identity: bob, peer: alice.publicKey, mediator, relay, policy: "relay-only" }),
  ]);
  try {
    assert.equal(a.path, "relay");
    assert.equal(b.path, "relay");
    const secret = "the plaintext the relay must never see";
    const writer = a.writable.getWriter();
    await writer.write(new TextEncoder().encode(secret));
    await writer.close();
    const w2 = b.writable.getWriter();
    await w2.close();
    assert.equal(await new Response(b.readable).text(), secret);
    await new Response(a.readable).arrayBuffer();
    const seen = new TextDecoder().decode(new Uint8Array(relayed.flatMap((c) => [...c])));
    assert.ok(relayed.length > 0, "the relay carried the pipe");
    assert.ok(!seen.includes("plaintext"), "the relay saw only ciphertext");
  } finally {
    await Promise.all([a.close(), b.close()]);
  }
});
