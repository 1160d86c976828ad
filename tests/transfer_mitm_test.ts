/**
 * A hostile rendezvous server: it speaks gday to both peers but answers `PeerContact` with an
 * attacker's address, so every direct connection goes through the attacker. The attacker does
 * not know the code. Either it relays (then the stream must stay private and intact), or it
 * tampers (the transfer must fail cleanly), or it runs the handshake itself with a guessed code
 * (both peers must fail authentication).
 */

import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { createHash } from "node:crypto";
import { connectPeer, type PeerConnection } from "../client/connect.ts";
import { FrameReader } from "../framing/length_prefixed.ts";
import { decodeClientMsg, encodeServerFrame, type ServerMsg } from "../protocol/gday.ts";
import type { SocketAddr } from "../protocol/socket_addr.ts";
import { handshake, WrongCodeError } from "../secure/mod.ts";
import {
  ConnectionLostError,
  prepareFiles,
  receiveFiles,
  sendFiles,
  type TransferMode,
} from "../transfer/mod.ts";

type Behaviour = "relay" | "tamper" | "guess";

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  for (let offset = 0; offset < bytes.length;) offset += await conn.write(bytes.subarray(offset));
}

function v4(addr: Deno.Addr): SocketAddr {
  const { hostname, port } = addr as Deno.NetAddr;
  return { family: "v4", ip: hostname, port };
}

/** The attacker: two listeners, one posing as each peer. */
class Attacker implements AsyncDisposable {
  readonly forCreator = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  readonly forJoiner = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  /** Every byte relayed, both directions. */
  readonly seen: Uint8Array[] = [];
  roomCode = 0n;
  #conns = new Set<Deno.Conn>();
  #tasks: Promise<unknown>[] = [];
  #waiting: { creator: Deno.Conn[]; joiner: Deno.Conn[] } = { creator: [], joiner: [] };

  constructor(readonly behaviour: Behaviour, readonly guess = 0x1234n) {
    this.#tasks.push(
      this.#accept(this.forCreator, "creator"),
      this.#accept(this.forJoiner, "joiner"),
    );
  }

  async #accept(listener: Deno.Listener, side: "creator" | "joiner"): Promise<void> {
    for await (const conn of listener) {
      this.#conns.add(conn);
      if (this.behaviour === "guess") {
        // Pose as the peer with a guessed code, bound to the right room.
        const secret = new Uint8Array(8);
        new DataView(secret.buffer).setBigUint64(0, this.guess);
        const context = new TextEncoder().encode(`peerlink/connect room=${this.roomCode}`);
        this.#tasks.push(
          handshake(conn, secret, { context, timeoutMs: 5000 }).then((s) => s.close(), () => {}),
        );
        continue;
      }
      const other = side === "creator" ? "joiner" : "creator";
      const peer = this.#waiting[other].shift();
      if (peer === undefined) this.#waiting[side].push(conn);
      else this.#tasks.push(this.#pipe(conn, peer), this.#pipe(peer, conn));
    }
  }

  async #pipe(from: Deno.Conn, to: Deno.Conn): Promise<void> {
    const buffer = new Uint8Array(65536);
    let total = 0;
    let flipped = false;
    try {
      for (;;) {
        const n = await from.read(buffer);
        if (n === null) break;
        const chunk = buffer.slice(0, n);
        this.seen.push(chunk);
        if (this.behaviour === "tamper" && !flipped && total + n > 100_000) {
          chunk[chunk.length - 1]! ^= 0x40;
          flipped = true;
        }
        total += n;
        await writeAll(to, chunk);
      }
    } catch { /* either side went away */ }
    for (const conn of [from, to]) {
      try {
        conn.close();
      } catch { /* closed */ }
    }
  }

  relayed(): Buffer {
    return Buffer.concat(this.seen);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.forCreator.close();
    this.forJoiner.close();
    for (const conn of this.#conns) {
      try {
        conn.close();
      } catch { /* closed */ }
    }
    await Promise.allSettled(this.#tasks);
  }
}

/** A gday server that tells each peer the attacker is its peer. */
class HostileServer implements AsyncDisposable {
  readonly listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  #conns = new Set<Deno.Conn>();
  #tasks: Promise<unknown>[] = [];
  #done = new Map<"creator" | "joiner", Deno.Conn>();

  constructor(readonly attacker: Attacker) {
    this.#tasks.push(this.#accept());
  }

  get address(): string {
    return `127.0.0.1:${this.listener.addr.port}`;
  }

  async #accept(): Promise<void> {
    for await (const conn of this.listener) {
      this.#conns.add(conn);
      this.#tasks.push(this.#serve(conn));
    }
  }

  async #serve(conn: Deno.Conn): Promise<void> {
    const reader = new FrameReader(conn);
    const reply = (msg: ServerMsg): Promise<void> => writeAll(conn, encodeServerFrame(msg));
    let own: SocketAddr | null = null;
    try {
      for (;;) {
        const frame = await reader.read();
        if (frame === null) break;
        const msg = decodeClientMsg(frame);
        if (msg.type === "CreateRoom") {
          this.attacker.roomCode = msg.roomCode;
          await reply({ type: "RoomCreated" });
        } else if (msg.type === "SendAddr") {
          own = msg.privateAddr;
          await reply({ type: "ReceivedAddr" });
        } else {
          const side = msg.isCreator ? "creator" : "joiner";
          await reply({
            type: "ClientContact",
            contact: {
              private: { v4: own as never, v6: null },
              public: { v4: v4(conn.remoteAddr) as never, v6: null },
            },
          });
          this.#done.set(side, conn);
          if (this.#done.size === 2) {
            for (const [who, c] of this.#done) {
              // The swap: each peer is told the attacker's address, public and private.
              const fake = v4(
                who === "creator" ? this.attacker.forCreator.addr : this.attacker.forJoiner.addr,
              ) as never;
              await writeAll(
                c,
                encodeServerFrame({
                  type: "PeerContact",
                  contact: { private: { v4: fake, v6: null }, public: { v4: fake, v6: null } },
                }),
              );
            }
          }
        }
      }
    } catch { /* the client went away */ }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.listener.close();
    for (const conn of this.#conns) {
      try {
        conn.close();
      } catch { /* closed */ }
    }
    await Promise.allSettled(this.#tasks);
  }
}

async function connectBoth(
  server: string,
  mode: TransferMode,
): Promise<[PromiseSettledResult<PeerConnection>, PromiseSettledResult<PeerConnection>]> {
  let gotCode!: (code: string) => void;
  const code = new Promise<string>((resolve) => (gotCode = resolve));
  const common = {
    server,
    mode,
    disable: ["direct-udp" as const],
    stun: false as const,
    punchTimeoutMs: 5000,
  };
  return await Promise.allSettled([
    connectPeer({ ...common, onCode: gotCode }),
    code.then((c) => connectPeer({ ...common, code: c })),
  ]);
}

const MARKER = "PEERLINK-PLAINTEXT-MARKER-";

async function secretFile(dir: string): Promise<Uint8Array> {
  const random = crypto.getRandomValues(new Uint8Array(4096)).toHex();
  const text = (MARKER + random).repeat(100);
  await Deno.writeTextFile(`${dir}/secret-plans.txt`, text);
  return new TextEncoder().encode(text);
}

for (const mode of ["native", "gday"] as const) {
  Deno.test(`mitm (${mode}): a relaying attacker sees only ciphertext, and the file arrives intact`, async () => {
    const dir = await Deno.makeTempDir();
    try {
      const content = await secretFile(dir);
      await using attacker = new Attacker("relay");
      await using server = new HostileServer(attacker);
      const [a, b] = await connectBoth(server.address, mode);
      assert.equal(a.status, "fulfilled", String((a as PromiseRejectedResult).reason));
      assert.equal(b.status, "fulfilled", String((b as PromiseRejectedResult).reason));
      await using sender = (a as PromiseFulfilledResult<PeerConnection>).value;
      await using receiver = (b as PromiseFulfilledResult<PeerConnection>).value;
      // Both think they talk to each other; both really talk to the attacker.
      assert.equal(sender.remoteAddr.port, attacker.forCreator.addr.port);
      assert.equal(receiver.remoteAddr.port, attacker.forJoiner.addr.port);
      const { files } = await prepareFiles([`${dir}/secret-plans.txt`]);
      const [, got] = await Promise.all([
        sendFiles(sender, files),
        receiveFiles(receiver, { dir: `${dir}/in` }),
      ]);
      const saved = await Deno.readFile(`${dir}/in/secret-plans.txt`);
      assert.equal(got.files[0]!.sha256, createHash("sha256").update(content).digest("hex"));
      assert.deepEqual(saved, content);
      const relayed = attacker.relayed();
      assert.ok(relayed.length > content.length, "the attacker relayed everything");
      for (
        const needle of [
          MARKER,
          "secret-plans.txt",
          new TextDecoder().decode(content.subarray(26, 90)),
        ]
      ) {
        assert.equal(relayed.indexOf(needle), -1, `the attacker saw ${needle.slice(0, 20)}…`);
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}

Deno.test("mitm (native): an attacker that changes one relayed byte makes the transfer fail cleanly", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await secretFile(dir);
    await using attacker = new Attacker("tamper");
    await using server = new HostileServer(attacker);
    const [a, b] = await connectBoth(server.address, "native");
    await using sender = (a as PromiseFulfilledResult<PeerConnection>).value;
    await using receiver = (b as PromiseFulfilledResult<PeerConnection>).value;
    const { files } = await prepareFiles([`${dir}/secret-plans.txt`]);
    const [sent, got] = await Promise.allSettled([
      sendFiles(sender, files),
      receiveFiles(receiver, { dir: `${dir}/in` }),
    ]);
    assert.equal(sent.status, "rejected");
    assert.equal(got.status, "rejected");
    const error = (got as PromiseRejectedResult).reason;
    assert.ok(error instanceof ConnectionLostError, String(error));
    assert.match(error.message, /modified in transit/);
    assert.equal(
      await Deno.stat(`${dir}/in/secret-plans.txt`).then(() => true, () => false),
      false,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("mitm (native): an attacker that runs the handshake with a guessed code fails both peers", async () => {
  await using attacker = new Attacker("guess");
  await using server = new HostileServer(attacker);
  const [a, b] = await connectBoth(server.address, "native");
  for (const result of [a, b]) {
    assert.equal(result.status, "rejected");
    const error = (result as PromiseRejectedResult).reason;
    assert.ok(error instanceof WrongCodeError, String(error));
  }
});
