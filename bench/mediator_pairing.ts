/**
 * Benchmark of the mediator (issue 7):
 *
 * 1. **Native pairings per second** on loopback: `server.ts --mediator-port` as its own process
 *    (as an operator runs it, `--log-level warn`, no rate limit), and a lean load generator in
 *    this process (raw frames, WebCrypto Ed25519) registering pairs of peers that name each
 *    other: hello, challenge, register, paired, on two connections per pairing. Baseline in the
 *    same run: gday room exchanges on the same server at the same concurrency (two peers
 *    meeting through a server, without any public-key cryptography).
 * 2. **End-to-end `connect()`**: pairing, hole punching on loopback and the identity handshake,
 *    to the first byte through the encrypted pipe, at lower concurrency.
 * 3. **Server-side cost of one handshake**, in-process and single-threaded: exactly what the
 *    server computes for one p2psc (RSA-2048) registration (decode `Advertise`, parse and
 *    fingerprint two PKCS#1 keys, make a nonce, RSAES-PKCS1-v1_5 encrypt, encode the challenge,
 *    decode and compare the answer), against one native registration (decode `hello`, sign the
 *    challenge, decode `register`, verify the signature).
 *
 * @module
 */

import { freePort, freePortArgs, LOAD_SERVER_ARGS, withProcess } from "./process.ts";
import { timingSafeEqual } from "node:crypto";
import { generateIdentity, type Identity } from "../client/identity.ts";
import { connect, type MediatedConnection } from "../client/mediator.ts";
import {
  decodeMediatorClientMsg,
  encodeMediatorClientFrame,
  encodeMediatorServerMsg,
  MEDIATOR_PROTOCOL_VERSION,
  mediatorProofBytes,
  registrationBytes,
} from "../protocol/mediator.ts";
import {
  decodeP2pscMessage,
  encodeP2pscMessage,
  encryptP2pscNonce,
  parseP2pscPublicKey,
  randomP2pscNonce,
} from "../protocol/p2psc.ts";
import { signEd25519, verifyEd25519 } from "../secure/identity_handshake.ts";
import { gdayExchange, type LoadResult, runLoad } from "./load.ts";
import { type BenchSection, fmt, machineLine, percentile } from "./report.ts";

const enc = new TextEncoder();

/** A framed native client connection, as lean as possible. */
class Lean {
  #conn: Deno.TcpConn;
  #buf = new Uint8Array(4096);
  #end = 0;
  constructor(conn: Deno.TcpConn) {
    this.#conn = conn;
    conn.setNoDelay(true);
  }
  async write(bytes: Uint8Array): Promise<void> {
    let off = 0;
    while (off < bytes.length) off += await this.#conn.write(bytes.subarray(off));
  }
  async read(): Promise<Record<string, unknown>> {
    for (;;) {
      if (this.#end >= 4) {
        const len = new DataView(this.#buf.buffer).getUint32(0);
        if (this.#end >= 4 + len) {
          const body = JSON.parse(new TextDecoder().decode(this.#buf.subarray(4, 4 + len)));
          this.#buf.copyWithin(0, 4 + len, this.#end);
          this.#end -= 4 + len;
          return body;
        }
      }
      const n = await this.#conn.read(this.#buf.subarray(this.#end));
      if (n === null) throw new Error("The mediator closed the connection");
      this.#end += n;
    }
  }
  close(): void {
    try {
      this.#conn.close();
    } catch { /* closed */ }
  }
}

const b64 = (text: string): Uint8Array =>
  Uint8Array.fromBase64(text, { alphabet: "base64url", lastChunkHandling: "loose" });

/** One side of a native pairing: hello, challenge, register, (registered,) paired. */
async function registerLean(port: number, me: Identity, peer: Identity): Promise<void> {
  const conn = new Lean(await Deno.connect({ hostname: "127.0.0.1", port }));
  try {
    const nonce = crypto.getRandomValues(new Uint8Array(32));
    await conn.write(encodeMediatorClientFrame({
      type: "hello",
      version: MEDIATOR_PROTOCOL_VERSION,
      key: me.publicKey,
      peer: peer.publicKey,
      nonce,
      privateAddr: null,
    }));
    const challenge = await conn.read();
    if (challenge.type !== "challenge") throw new Error(`Got ${challenge.type}`);
    const signature = await signEd25519(
      me.privateKey,
      registrationBytes({
        mediatorKey: b64(challenge.mediator as string),
        mediatorNonce: b64(challenge.nonce as string),
        clientNonce: nonce,
        key: me.publicKey,
        peer: peer.publicKey,
        privateAddr: null,
      }),
    );
    await conn.write(encodeMediatorClientFrame({ type: "register", signature }));
    let reply = await conn.read();
    if (reply.type === "registered") reply = await conn.read();
    if (reply.type !== "paired") throw new Error(`Got ${reply.type}`);
  } finally {
    conn.close();
  }
}

function withServer<T>(args: string[], port: number, fn: () => Promise<T>): Promise<T> {
  return withProcess(
    [
      "run",
      "-A",
      "server.ts",
      "--host",
      "127.0.0.1",
      ...freePortArgs(),
      ...LOAD_SERVER_ARGS,
      ...args,
    ],
    port,
    fn,
  );
}

/** Mean time of `op` in microseconds over `n` runs (after `n / 10` warm-up runs). */
async function timeOp(n: number, op: () => unknown): Promise<number> {
  for (let i = 0; i < Math.ceil(n / 10); i++) await op();
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await op();
  return ((performance.now() - t0) / n) * 1000;
}

/** Options of the benchmark. */
export interface MediatorBenchOptions {
  /** Concurrent pairings for the pairing rate. @default {100} */
  pairs?: number;
  /** Concurrent `connect()` pairs for the end-to-end rate. @default {10} */
  connectPairs?: number;
  /** Measured seconds per figure. @default {4} */
  seconds?: number;
}

/** The figures the benchmark measured, besides the markdown. */
export interface MediatorBenchResult extends BenchSection {
  /** Native pairings (two registrations each). */
  pairing: LoadResult;
  /** gday exchanges on the same server: the baseline. */
  baseline: LoadResult;
  /** `connect()` end to end. */
  connects: LoadResult;
  /** Server-side microseconds per p2psc (RSA-2048) registration. */
  p2pscMicros: number;
  /** Server-side microseconds per native (Ed25519) registration. */
  nativeMicros: number;
}

/**
 * Run the benchmark; returns the section for `bench/RESULTS.md`.
 *
 * @example
 * ```ts ignore
 * import { benchMediator } from "./mediator_pairing.ts";
 * console.log((await benchMediator({ seconds: 2 })).markdown);
 * ```
 */
export async function benchMediator(
  options: MediatorBenchOptions = {},
): Promise<MediatorBenchResult> {
  const pairs = options.pairs ?? 100;
  const connectPairs = options.connectPairs ?? 10;
  const ms = (options.seconds ?? 4) * 1000;

  // 1. Pairings per second, and the gday baseline, on one server process.
  const identities: [Identity, Identity][] = await Promise.all(
    Array.from({ length: pairs }, () => Promise.all([generateIdentity(), generateIdentity()])),
  );
  const mediatorPort = freePort();
  const gdayPort = freePort();
  const { pairing, baseline } = await withServer(
    ["--gday-port", String(gdayPort), "--mediator-port", String(mediatorPort)],
    mediatorPort,
    async () => {
      const pairing = await runLoad(
        async (w) => {
          const [a, b] = identities[w]!;
          await Promise.all([registerLean(mediatorPort, a, b), registerLean(mediatorPort, b, a)]);
        },
        pairs,
        ms,
      );
      const baseline = await runLoad(
        (w, i) => gdayExchange(gdayPort, BigInt(w) * 1_000_000n + BigInt(i) + 1n),
        pairs,
        ms,
      );
      return { pairing, baseline };
    },
  );

  // 2. connect() end to end.
  const connectIds: [Identity, Identity][] = identities.slice(0, connectPairs);
  const connectPort = freePort();
  const connects = await withServer(
    ["--gday-port", "0", "--mediator-port", String(connectPort)],
    connectPort,
    () =>
      runLoad(
        async (w) => {
          const [a, b] = connectIds[w]!;
          const mediator = `127.0.0.1:${connectPort}`;
          // A failure on one side cancels the other, so no registration outlives its operation.
          const cancel = new AbortController();
          const side = (me: Identity, peer: Identity) =>
            connect({
              identity: me,
              peer: peer.publicKey,
              mediator,
              families: ["v4"],
              signal: cancel.signal,
            })
              .catch((error) => {
                cancel.abort(error);
                throw error;
              });
          const results = await Promise.allSettled([side(a, b), side(b, a)]);
          const failed = results.find((r) => r.status === "rejected");
          if (failed) {
            for (const r of results) if (r.status === "fulfilled") await r.value.close();
            throw failed.reason;
          }
          const [ca, cb] = results.map((r) =>
            (r as PromiseFulfilledResult<MediatedConnection>).value
          ) as [
            MediatedConnection,
            MediatedConnection,
          ];
          const writer = ca.writable.getWriter();
          await writer.write(enc.encode("x"));
          writer.releaseLock();
          const reader = cb.readable.getReader();
          await reader.read();
          reader.releaseLock();
          await Promise.all([ca.close(), cb.close()]);
        },
        connectPairs,
        ms,
      ),
  );

  // 3. Server-side cost of one registration, p2psc (RSA-2048) and native (Ed25519).
  const keys = JSON.parse(
    await Deno.readTextFile(new URL("../testdata/p2psc_keys.json", import.meta.url)),
  ) as Record<string, { public: string }>;
  const advertise = encodeP2pscMessage({
    type: "Advertise",
    version: 0,
    ourKey: keys.alice!.public,
    theirKey: keys.bob!.public,
  });
  let answer = "";
  const p2pscMicros = await timeOp(300, () => {
    const msg = decodeP2pscMessage(advertise);
    if (msg.type !== "Advertise") throw new Error("Bad message");
    const ours = parseP2pscPublicKey(msg.ourKey);
    parseP2pscPublicKey(msg.theirKey);
    const nonce = randomP2pscNonce();
    encodeP2pscMessage({
      type: "AdvertiseChallenge",
      encryptedNonce: encryptP2pscNonce(ours.key, nonce),
    });
    answer ||= nonce; // the client's answer (decrypting is the client's cost)
    const response = decodeP2pscMessage(
      enc.encode(`{"type":2,"payload":{"nonce":"${answer}"}}`),
    );
    if (response.type !== "AdvertiseResponse") throw new Error("Bad message");
    const a = enc.encode(response.nonce), b = enc.encode(nonce);
    return a.length === b.length && timingSafeEqual(a, b);
  });
  const [client, peer, server] = [identities[0]![0], identities[0]![1], await generateIdentity()];
  const clientNonce = crypto.getRandomValues(new Uint8Array(32));
  const helloBody = encodeMediatorClientFrame({
    type: "hello",
    version: 1,
    key: client.publicKey,
    peer: peer.publicKey,
    nonce: clientNonce,
    privateAddr: null,
  }).subarray(4);
  const fixedNonce = crypto.getRandomValues(new Uint8Array(32));
  const transcript = {
    mediatorKey: server.publicKey,
    mediatorNonce: fixedNonce,
    clientNonce,
    key: client.publicKey,
    peer: peer.publicKey,
    privateAddr: null,
  };
  const registerBody = encodeMediatorClientFrame({
    type: "register",
    signature: await signEd25519(client.privateKey, registrationBytes(transcript)),
  }).subarray(4);
  const nativeMicros = await timeOp(1000, async () => {
    const hello = decodeMediatorClientMsg(helloBody);
    if (hello.type !== "hello") throw new Error("Bad message");
    const t = { ...transcript, mediatorNonce: crypto.getRandomValues(new Uint8Array(32)) };
    encodeMediatorServerMsg({
      type: "challenge",
      version: 1,
      mediatorKey: server.publicKey,
      nonce: t.mediatorNonce,
      signature: await signEd25519(server.privateKey, mediatorProofBytes(t)),
    });
    const register = decodeMediatorClientMsg(registerBody);
    if (register.type !== "register") throw new Error("Bad message");
    // The signature is over the fixed nonce, so it verifies: the cost is the same either way.
    if (
      !(await verifyEd25519(client.publicKey, register.signature, registrationBytes(transcript)))
    ) {
      throw new Error("Does not verify");
    }
  });

  const row = (name: string, r: LoadResult): string =>
    `| ${name} | ${fmt(r.perSecond)} | ${fmt(percentile(r.latencies, 0.5), 1)} | ${
      fmt(percentile(r.latencies, 0.99), 1)
    } | ${r.failures} |`;
  const markdown = `## Mediator (issue 7)

Loopback, ${ms / 1000} s measured per figure; \`server.ts\` runs as its own process. A native
pairing = two peers that name each other, each on its own connection: hello, challenge (signed
by the mediator), register (signed by the peer, verified), paired. Baseline = a gday room
exchange on the same server at the same concurrency (two peers meeting, no public-key crypto).
End to end = \`connect()\` on both sides: pairing, TCP hole punching on loopback, the X25519 +
Ed25519 identity handshake, one byte through the encrypted pipe.

| what | per second | p50 ms | p99 ms | failures |
| --- | ---: | ---: | ---: | ---: |
${row(`native pairings (${pairs} concurrent)`, pairing)}
${row(`baseline: gday exchanges (${pairs} concurrent)`, baseline)}
${row(`connect() end to end (${connectPairs} concurrent pairs)`, connects)}

Native pairings per second / gday exchanges per second: **${
    fmt((pairing.perSecond / baseline.perSecond) * 100, 1)
  }%**; absolute: **${fmt(pairing.perSecond)} pairings/s**.

Server-side CPU time of one registration (in-process, one thread):

| mode | µs per registration |
| --- | ---: |
| p2psc (RSA-2048: 2 PKCS#1 parses, PKCS1-v1_5 encrypt, JSON) | ${fmt(p2pscMicros, 0)} |
| native (Ed25519: sign the challenge, verify the answer, JSON) | ${fmt(nativeMicros, 0)} |

One RSA-2048 compat handshake costs the server **${fmt(p2pscMicros / 1000, 2)} ms** of CPU
(${fmt(p2pscMicros / nativeMicros, 1)}× a native one); the client's RSA decryption is not counted.

${machineLine()}
`;
  return {
    id: "mediator",
    markdown,
    pairing,
    baseline,
    connects,
    p2pscMicros,
    nativeMicros,
  };
}

if (import.meta.main) {
  const result = await benchMediator({ seconds: Number(Deno.args[0] ?? 4) });
  console.log(result.markdown);
}
