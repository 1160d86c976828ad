/**
 * No secret is ever logged: a real `server.ts` with JSON logs and every service on serves a gday
 * exchange (TCP and TLS), a file transfer over the relay, relay circuits (TCP, TLS,
 * WebSocket), a broker dial, mediator pairings (native and p2psc), an encrypted chat and STUN;
 * then its whole log is searched for every secret those flows used, in every spelling, and for
 * anything that looks like key material.
 */

import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { exchangeContacts } from "../client/exchange.ts";
import { relayConnect } from "../client/relay.ts";
import { dialBroker, listenBroker } from "../client/broker.ts";
import { connect as mediatorConnect } from "../client/mediator.ts";
import { generateIdentity } from "../client/identity.ts";
import { createIntroducerClient } from "../client/introducer.ts";
import { chatWith, waitForChat } from "../client/chat.ts";
import { parsePeerCode } from "../client/peer_code.ts";
import { encodeStunMessage, STUN_METHOD_BINDING } from "../protocol/stun.ts";
import { formatRoomCode } from "../client/room_code.ts";
import { KEYS, mediatorHandshake, SpecConn } from "./mediator_p2psc_client.ts";
import {
  LineReader,
  runClientProcess,
  selfSignedCert,
  type ServerProcess,
  spawnServer,
} from "./_helpers.ts";

const ROOT = new URL("../", import.meta.url).pathname;

function port(server: ServerProcess, service: string, transport: string): number {
  const listener = server.listeners.find((l) => l.service === service && l.transport === transport);
  assert.ok(listener, `No ${service}/${transport} listener`);
  return listener.port;
}

/** Every way a byte string may be spelled in a log. */
function spellings(bytes: Uint8Array): string[] {
  const buffer = Buffer.from(bytes);
  return [
    bytes.toHex(),
    bytes.toHex().toUpperCase(),
    buffer.toString("base64"),
    buffer.toString("base64").replace(/=+$/, ""),
    buffer.toString("base64url"),
  ];
}

/** Drain a stream into text. */
async function text(readable: ReadableStream<Uint8Array>): Promise<string> {
  return await new Response(readable).text();
}

Deno.test("logs: no secret of any flow appears in server.ts's JSON log", async () => {
  const cert = await selfSignedCert();
  await using _certDir = {
    [Symbol.asyncDispose]: () => Deno.remove(cert.dir, { recursive: true }),
  };
  const tls = { caCerts: [cert.cert] };
  const server = await spawnServer([
    "--host",
    "127.0.0.1",
    "--gday-port",
    "0",
    "--gday-tls-port",
    "0",
    "--tls-cert",
    `${cert.dir}/cert.pem`,
    "--tls-key",
    `${cert.dir}/key.pem`,
    "--http-port",
    "0",
    "--relay-port",
    "0",
    "--relay-tls-port",
    "0",
    "--broker-port",
    "0",
    "--mediator-port",
    "0",
    "--chat-port",
    "0",
    "--stun-port",
    "0",
    "--stun-alt-port",
    "0",
    "--rate-limit",
    "0",
    "--chat-rate-limit",
    "0",
  ], 10);
  /** Each secret, in every spelling it could be logged in. */
  const secrets: { what: string; texts: string[] }[] = [];
  try {
    const gday = port(server, "gday", "tcp");
    const gdayTls = port(server, "gday", "tls");
    const http = port(server, "http", "http");

    // 1. gday contact exchange, over TCP and over TLS, with full 64-bit room codes.
    for (const [at, options] of [[gday, {}], [gdayTls, { tls }]] as const) {
      const code = crypto.getRandomValues(new BigUint64Array(1))[0]! | (1n << 62n);
      secrets.push({
        what: "room code",
        texts: [String(code), formatRoomCode(code), code.toString(16)],
      });
      const serverAt = `127.0.0.1:${at}`;
      let created!: () => void;
      const room = new Promise<void>((resolve) => (created = resolve));
      const a = exchangeContacts({
        server: serverAt,
        ...options,
        create: true,
        roomCode: code,
        onRoom: () => created(),
      });
      const b = Promise.race([room, a]).then(() =>
        exchangeContacts({ server: serverAt, ...options, create: false, roomCode: code })
      );
      const [x, y] = await Promise.all([a, b]);
      x.close();
      y.close();
    }

    // 2. A file transfer through the CLI over TLS gday and the relay (the PAKE and the
    //    encrypted file cross the relay).
    const dir = await Deno.makeTempDir({ prefix: "peerlink-logs-" });
    try {
      const payload = "the file's plaintext: correct horse battery staple";
      await Deno.writeTextFile(`${dir}/secret.txt`, payload);
      const common = [
        "--server",
        `127.0.0.1:${gdayTls}`,
        "--tls",
        "--ca",
        `${cert.dir}/cert.pem`,
        "--relay-only",
        "--relay",
        `127.0.0.1:${port(server, "relay", "tls")}`,
        "--timeout",
        "60",
      ];
      const sender = new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", `${ROOT}client.ts`, "send", `${dir}/secret.txt`, ...common],
        cwd: ROOT,
        stdout: "null",
        stderr: "piped",
        stdin: "null",
      }).spawn();
      const senderLines = new LineReader(sender.stderr);
      try {
        const codeLine = await senderLines.waitFor((l) => l.startsWith("Code: "), 30_000);
        const peerCode = codeLine.slice("Code: ".length).trim();
        const parsed = parsePeerCode(peerCode);
        secrets.push({ what: "peer code", texts: [peerCode] });
        // The short parts of the code are checked as whole words (see the search below).
        secrets.push({
          what: "peer code secret",
          texts: [String(parsed.secret), parsed.secret.toString(16)].filter((t) => t.length >= 6),
        });
        secrets.push({ what: "file contents", texts: [payload] });
        const received = await runClientProcess([
          "receive",
          peerCode,
          ...common,
          "--out",
          `${dir}/in`,
        ]);
        assert.equal(received.code, 0, received.stderr);
        assert.equal(await Deno.readTextFile(`${dir}/in/secret.txt`), payload);
        const senderOutput = senderLines.rest();
        const status = await sender.status;
        assert.ok(status.success, `client.ts send failed:\n${await senderOutput}`);
      } finally {
        try {
          sender.kill("SIGKILL");
        } catch { /* exited */ }
        await sender.status;
        await senderLines.rest().catch(() => "");
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }

    // 3. Relay circuits over TCP, TLS and WebSocket with known tokens; PAKE-like bytes cross.
    for (
      const target of [
        { server: `127.0.0.1:${port(server, "relay", "tcp")}` },
        { server: `127.0.0.1:${port(server, "relay", "tls")}`, transport: "tls" as const, tls },
        { server: `ws://127.0.0.1:${http}/relay` },
      ]
    ) {
      const token = crypto.getRandomValues(new Uint8Array(32));
      const message = crypto.getRandomValues(new Uint8Array(33));
      secrets.push({ what: "relay token", texts: spellings(token) });
      secrets.push({ what: "relayed PAKE message", texts: spellings(message) });
      const [a, b] = await Promise.all([
        relayConnect({ ...target, token }),
        relayConnect({ ...target, token }),
      ]);
      const writer = a.writable.getWriter();
      await writer.write(message);
      await writer.close();
      const got = new Uint8Array(await new Response(b.readable).arrayBuffer());
      assert.deepEqual(got, message);
      a.close();
      b.close();
    }

    // 4. A broker dial: the receiver's UID secret.
    const brokerAt = `127.0.0.1:${port(server, "broker", "tcp")}`;
    const brokerSecret = `broker-secret-${crypto.randomUUID()}`;
    secrets.push({ what: "broker UID secret", texts: [brokerSecret] });
    {
      await using receiver = await listenBroker({
        server: brokerAt,
        uid: "logs-test-receiver",
        secret: brokerSecret,
      });
      const dialed = dialBroker({ server: brokerAt, uid: "logs-test-receiver" });
      for await (const conn of receiver) {
        const writer = conn.writable.getWriter();
        await writer.write(new TextEncoder().encode("hi over the broker"));
        await writer.close();
        conn.close();
        break;
      }
      const conn = await dialed;
      assert.equal(await text(conn.readable), "hi over the broker");
      conn.close();
    }

    // 5. Mediator, native mode: two Ed25519 identities (their private keys are secrets).
    const mediatorPort = port(server, "mediator", "tcp");
    const [alice, bob] = await Promise.all([generateIdentity(), generateIdentity()]);
    for (const identity of [alice, bob]) {
      assert.ok(identity.pkcs8 !== null);
      secrets.push({ what: "Ed25519 private key", texts: spellings(identity.pkcs8) });
      // The 32-byte seed at the end of the PKCS#8 structure.
      secrets.push({ what: "Ed25519 seed", texts: spellings(identity.pkcs8.slice(-32)) });
    }
    {
      const mediator = `127.0.0.1:${mediatorPort}`;
      const [a, b] = await Promise.all([
        mediatorConnect({ identity: alice, peer: bob.text, mediator }),
        mediatorConnect({ identity: bob, peer: alice.text, mediator }),
      ]);
      await Promise.all([a.close(), b.close()]);
    }

    // 6. Mediator, p2psc mode: RSA key pairs and the challenge (their private keys are secrets).
    for (const key of [KEYS.alice, KEYS.bob]) {
      const body = key.private.split("\n").filter((l) => !l.startsWith("-----")).join("");
      secrets.push({ what: "RSA private key", texts: [body.slice(40, 104), body.slice(-80, -16)] });
    }
    {
      using a = await SpecConn.dial(mediatorPort);
      using b = await SpecConn.dial(mediatorPort);
      const aliceDone = mediatorHandshake(a, KEYS.alice, KEYS.bob);
      aliceDone.catch(() => {});
      await server.log.waitFor(
        (l) => l.includes('"event":"mediator_registered"') && l.includes('"mode":"p2psc"'),
      );
      const bobOutcome = await mediatorHandshake(b, KEYS.bob, KEYS.alice);
      assert.equal(bobOutcome.role, "Peer");
      b.close();
      assert.equal((await aliceDone).role, "Client");
    }

    // 7. An encrypted chat through the introducer (the secret never reaches the server).
    const chatSecret = `chat-secret-${crypto.randomUUID()}`;
    const chatLine = `a chat line ${crypto.randomUUID()}`;
    secrets.push({ what: "chat secret", texts: [chatSecret] });
    secrets.push({ what: "chat text", texts: [chatLine] });
    {
      const introducer = `127.0.0.1:${port(server, "chat", "udp")}`;
      await using carol = await createIntroducerClient({ introducer });
      await using dave = await createIntroducerClient({ introducer });
      await carol.register("carol");
      await dave.register("dave");
      const [c, d] = await Promise.all([
        chatWith(carol, "dave", { secret: chatSecret }),
        waitForChat(dave, { secret: chatSecret }),
      ]);
      await c.send(chatLine);
      const events = d[Symbol.asyncIterator]();
      for (;;) {
        const event = (await events.next()).value;
        if (event?.type === "message") {
          assert.equal(event.text, chatLine);
          break;
        }
      }
      await c.close();
      await d.close();
    }

    // 8. STUN.
    {
      const socket = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
      try {
        const transactionId = crypto.getRandomValues(new Uint8Array(12));
        await socket.send(
          encodeStunMessage({
            class: "request",
            method: STUN_METHOD_BINDING,
            transactionId,
            attributes: [],
          }),
          {
            transport: "udp",
            hostname: "127.0.0.1",
            port: server.listeners.find((l) => l.service === "stun")!.port,
          },
        );
        await socket.receive();
      } finally {
        socket.close();
      }
    }

    // The flows all happened.
    const metrics = await (await fetch(`http://127.0.0.1:${http}/metrics`)).text();
    for (
      const sample of [
        'peerlink_exchanges_total{service="gday"} 3',
        'peerlink_exchanges_total{service="mediator"} 2',
        'peerlink_exchanges_total{service="broker"} 1',
        'peerlink_exchanges_total{service="chat"} 1',
      ]
    ) assert.ok(metrics.includes(sample), `${sample} missing:\n${metrics}`);
    assert.match(metrics, /peerlink_relay_circuits_total\{event="opened"\} [4-9]/);
  } finally {
    await server.stop();
  }

  const lines = server.log.lines;
  const log = lines.join("\n");
  assert.ok(lines.length > 20, "Too few log lines to mean anything");
  // Every line is JSON.
  const entries = lines.map((line) => {
    try {
      return JSON.parse(line) as Record<string, unknown>;
    } catch {
      throw new Error(`Not a JSON log line: ${line}`);
    }
  });
  // No secret, in any spelling, anywhere; short ones as whole words.
  const lower = log.toLowerCase();
  for (const { what, texts } of secrets) {
    for (const secret of texts) {
      assert.ok(secret.length >= 6, `${what} too short to search for: ${secret}`);
      const found = secret.length >= 16
        ? lower.includes(secret.toLowerCase())
        : new RegExp(`(^|[^0-9A-Za-z])${secret}($|[^0-9A-Za-z])`, "i").test(log);
      assert.ok(!found, `The ${what} (${secret}) appears in the log`);
    }
  }
  // Nothing that looks like key material or a token: long hex or base64 runs. The mediator's
  // own public key (published on purpose, for clients to pin) is the one exception.
  for (const entry of entries) {
    for (const [field, value] of Object.entries(entry)) {
      if (typeof value !== "string") continue;
      if (entry.event === "mediator_identity" && field === "key") continue;
      assert.ok(
        !/[0-9a-fA-F]{32,}/.test(value) && !/[A-Za-z0-9+/_-]{43,}/.test(value),
        `A key-like value in ${field}: ${JSON.stringify(entry)}`,
      );
    }
  }
  // The log did record the flows (so the search was over something).
  for (
    const event of [
      "room_exchanged",
      "relay_circuit_opened",
      "broker_registered",
      "mediator_paired",
      "chat_paired",
    ]
  ) assert.ok(entries.some((e) => e.event === event), `No ${event} line`);
  // And every line about a client connection names its request.
  for (const entry of entries) {
    if (entry.conn !== undefined) assert.ok(entry.request_id, JSON.stringify(entry));
  }
});
