/**
 * Helpers of the hardening suite (`hardening_test.ts`): a seeded random source, a corpus of
 * valid messages for every protocol the server speaks, mutators that derive bad ones from them
 * (bit flips, truncations, length-prefix lies, huge lengths, random bytes, JSON-level damage),
 * and drivers that throw frames at a listener with bounded concurrency: TCP/TLS streams,
 * datagrams, WebSocket messages.
 */

import { encodeClientFrame, encodeClientMsg } from "../protocol/gday.ts";
import { encodeBrokerFrame, encodeBrokerMessage } from "../protocol/broker.ts";
import { encodeMediatorClientFrame, encodeMediatorClientMsg } from "../protocol/mediator.ts";
import { encodePeerPunchMessage } from "../protocol/peer_punch.ts";
import { encodeStunMessage, STUN_METHOD_BINDING, type StunMessage } from "../protocol/stun.ts";
import { encodeRelayHello, encodeRelayHelloFrame } from "../protocol/relay.ts";
import { advertiseJson, advertiseResponseJson, KEYS } from "./mediator_p2psc_client.ts";
import { concatBytes } from "../bytes/mod.ts";

const encoder = new TextEncoder();

/** A seeded pseudo-random source (mulberry32): the same seed, the same frames. */
export class Random {
  #state: number;
  constructor(seed: number) {
    this.#state = seed >>> 0;
  }
  /** A float in [0, 1). */
  next(): number {
    let t = (this.#state = (this.#state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  /** An integer in [min, max]. */
  range(min: number, max: number): number {
    return min + this.int(max - min + 1);
  }
  /** One of the items. */
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }
  /** `n` random bytes. */
  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = this.int(256);
    return out;
  }
  /** True with probability `p`. */
  chance(p: number): boolean {
    return this.next() < p;
  }
}

function prefixed(body: Uint8Array, length = body.length): Uint8Array {
  const out = new Uint8Array(4 + body.length);
  new DataView(out.buffer).setUint32(0, length >>> 0);
  out.set(body, 4);
  return out;
}

/** Valid messages of one protocol: whole frames as sent, and (for framed ones) their bodies. */
export interface Corpus {
  /** Whether messages carry a 4-byte big-endian length prefix. */
  framed: boolean;
  /** Message bodies (without the prefix when framed). */
  bodies: Uint8Array[];
  /** The largest body the server accepts, for huge-length lies. */
  maxBody: number;
}

const ADDRS = ["10.0.0.1:4000", "[2001:db8::1]:443", "192.0.2.7:1", "[::ffff:1.2.3.4]:65535"];

/** gday 0.1.1 client messages. */
export function gdayCorpus(): Corpus {
  const bodies: Uint8Array[] = [];
  for (const code of [0n, 1n, 4242n, 2n ** 64n - 1n, 123_456_789_012n]) {
    bodies.push(encodeClientMsg({ type: "CreateRoom", roomCode: code }));
    for (const isCreator of [true, false]) {
      bodies.push(
        encodeClientMsg({ type: "SendAddr", roomCode: code, isCreator, privateAddr: null }),
      );
      bodies.push(encoder.encode(
        `{"SendAddr":{"room_code":${code},"is_creator":${isCreator},"private_addr":"${
          ADDRS[Number(code % 4n)]
        }"}}`,
      ));
      bodies.push(encodeClientMsg({ type: "DoneSending", roomCode: code, isCreator }));
    }
  }
  return { framed: true, bodies, maxBody: 65_536 };
}

/** Broker messages (every type a client may send). */
export function brokerCorpus(): Corpus {
  const token = "0123456789abcdef0123456789abcdef";
  const bodies = [
    encodeBrokerMessage({ type: "register", uid: "alice" }),
    encodeBrokerMessage({ type: "register", uid: "bob", secret: "s3cret" }),
    encodeBrokerMessage({ type: "connect", uid: "alice" }),
    encodeBrokerMessage({ type: "accept", req: 1, token }),
    encodeBrokerMessage({ type: "punched", req: 1, token, step6: "timeout" }),
    encodeBrokerMessage({ type: "fallback", req: 1, token, step12: "refused" }),
    encodeBrokerMessage({ type: "keepalive" }),
    encodeBrokerMessage({ type: "kill" }),
    encodeBrokerMessage({ type: "done", req: 1, via: "twelve-step" }),
    encodeBrokerMessage({ type: "done", req: 2, error: "no_path" }),
    encodeBrokerMessage({ type: "decline", req: 3 }),
    encodeBrokerMessage({ type: "hello", req: 1, token, role: "sender" }),
  ];
  return { framed: true, bodies, maxBody: 1024 };
}

/** Mediator native-mode client messages. */
export function mediatorNativeCorpus(): Corpus {
  const key = new Uint8Array(32).fill(7);
  const peer = new Uint8Array(32).fill(9);
  const bodies = [
    encodeMediatorClientMsg({
      type: "hello",
      version: 1,
      key,
      peer,
      nonce: new Uint8Array(32).fill(1),
      privateAddr: { family: "v4", ip: "10.0.0.2", port: 5000 },
    }),
    encodeMediatorClientMsg({
      type: "hello",
      version: 1,
      key: peer,
      peer: key,
      nonce: new Uint8Array(32).fill(2),
      privateAddr: null,
    }),
    encodeMediatorClientMsg({ type: "register", signature: new Uint8Array(64).fill(3) }),
  ];
  return { framed: true, bodies, maxBody: 16_384 };
}

/** A whole native-mode opening: hello then register, framed. */
export function mediatorNativeSession(): Uint8Array {
  const c = mediatorNativeCorpus();
  return concatBytes([
    encodeMediatorClientFrame({
      type: "hello",
      version: 1,
      key: new Uint8Array(32).fill(4),
      peer: new Uint8Array(32).fill(5),
      nonce: new Uint8Array(32).fill(6),
      privateAddr: null,
    }),
    prefixed(c.bodies[2]!),
  ]);
}

/** p2psc messages (unframed JSON). */
export function p2pscCorpus(): Corpus {
  return {
    framed: false,
    bodies: [
      encoder.encode(advertiseJson(KEYS.alice.public, KEYS.bob.public)),
      encoder.encode(advertiseJson(KEYS.bob.public, KEYS.alice.public, 3)),
      encoder.encode(advertiseResponseJson("0123456789")),
      encoder.encode('{"type":0,"payload":{"version":0,"our_key":"x","their_key":"y"}}'),
    ],
    maxBody: 16_384,
  };
}

/** Peer-Punch datagrams for the chat introducer. */
export function chatCorpus(): Corpus {
  return {
    framed: false,
    bodies: [
      encodePeerPunchMessage({ type: "Register", username: "alice" }),
      encodePeerPunchMessage({ type: "Register", username: "bob_2" }),
      encodePeerPunchMessage({ type: "Connect", targetUsername: "alice" }),
      encodePeerPunchMessage({ type: "Connect", targetUsername: "nobody" }),
      encodePeerPunchMessage({ type: "Ping" }),
      encodePeerPunchMessage({ type: "SessionFinished" }),
      encodePeerPunchMessage({ type: "Goodbye" }),
      encodePeerPunchMessage({ type: "DirectMessage", content: "hello there" }),
      encodePeerPunchMessage({
        type: "PeerInfo",
        peer: { family: "v4", ip: "192.0.2.1", port: 9 },
        username: "eve",
      }),
      encoder.encode('{"Register":["alice"]}'),
    ],
    maxBody: 1024,
  };
}

/** STUN requests: plain, with change requests, response port, padding, unknown attributes. */
export function stunCorpus(): Corpus {
  const id = () => new Uint8Array(12).fill(0x42);
  const messages: StunMessage[] = [
    { class: "request", method: STUN_METHOD_BINDING, transactionId: id(), attributes: [] },
    {
      class: "request",
      method: STUN_METHOD_BINDING,
      transactionId: id(),
      attributes: [{ type: "CHANGE-REQUEST", changeIp: false, changePort: true }],
      fingerprint: true,
    },
    {
      class: "request",
      method: STUN_METHOD_BINDING,
      transactionId: id(),
      attributes: [{ type: "RESPONSE-PORT", port: 40000 }],
    },
    {
      class: "request",
      method: STUN_METHOD_BINDING,
      transactionId: id(),
      attributes: [{ type: "PADDING", length: 200 }, { type: "SOFTWARE", text: "fuzz" }],
      fingerprint: true,
    },
    {
      class: "request",
      method: STUN_METHOD_BINDING,
      transactionId: id(),
      attributes: [{ type: "raw", code: 0x0030, value: new Uint8Array(4) }],
    },
    { class: "indication", method: STUN_METHOD_BINDING, transactionId: id(), attributes: [] },
    { class: "request", method: 0x003, transactionId: id(), attributes: [] },
    {
      class: "request",
      method: STUN_METHOD_BINDING,
      transactionId: new Uint8Array(16).fill(0x17),
      attributes: [],
    },
  ];
  return { framed: false, bodies: messages.map((m) => encodeStunMessage(m)), maxBody: 2048 };
}

/** Relay hellos (framed) for TCP, TLS and WebSocket. */
export function relayCorpus(): Corpus {
  return {
    framed: true,
    bodies: [
      encodeRelayHello({ version: 1, token: new Uint8Array(32).fill(1) }),
      encodeRelayHello({ version: 1, token: new Uint8Array(32).fill(2) }),
      encodeRelayHello({ version: 9, token: new Uint8Array(32).fill(3) }),
      encoder.encode('{"v":1,"token":"AAAA"}'),
    ],
    maxBody: 1024,
  };
}

/** A relay hello frame with a token of this fuzz run (pairs may form: that is fine). */
export function relayHelloFrame(token: Uint8Array): Uint8Array {
  return encodeRelayHelloFrame({ version: 1, token });
}

/**
 * A valid WebSocket upgrade request for the relay. Send it only as the first request of a
 * connection: Deno (2.9.6) never closes a WebSocket whose upgrade request was pipelined behind
 * another request once the client has gone, and `Deno.serve`'s shutdown then waits for it for
 * ever (a runtime bug, reported with the hardening suite); the fuzz suite steers clear of it.
 */
export function httpUpgradeRequest(): Uint8Array {
  return encoder.encode(
    "GET /relay HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
  );
}

/** HTTP/1.1 requests to the server's routes (the WebSocket upgrade apart, see above). */
export function httpCorpus(): Corpus {
  const lines = (...l: string[]) => encoder.encode(l.join("\r\n") + "\r\n\r\n");
  return {
    framed: false,
    bodies: [
      lines("GET /metrics HTTP/1.1", "Host: x"),
      lines("GET /healthz HTTP/1.1", "Host: x", "Connection: keep-alive"),
      lines("GET /readyz HTTP/1.1", "Host: x"),
      lines("HEAD /metrics HTTP/1.1", "Host: x"),
      lines("GET /relay HTTP/1.1", "Host: x", "Upgrade: h2c", "Connection: Upgrade"),
      lines("GET /relay HTTP/1.1", "Host: x"),
      encoder.encode("POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"),
      encoder.encode(
        "POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
      ),
      lines("GET /nothing?x=%00%ff HTTP/1.1", "Host: x", "X-A: " + "a".repeat(100)),
      lines("GET http://x/metrics HTTP/1.0"),
    ],
    maxBody: 65_536,
  };
}

const INTERESTING = [0x00, 0x01, 0x7f, 0x80, 0xff, 0x22, 0x5c, 0x7b, 0x7d, 0x5b, 0x5d, 0x3a, 0x2c];

function jsonDamage(body: Uint8Array, random: Random): Uint8Array {
  const text = new TextDecoder().decode(body);
  switch (random.int(8)) {
    case 0: // A number made huge, negative or fractional.
      return encoder.encode(
        text.replace(
          /\d+/,
          random.pick(["18446744073709551616", "-1", "1e400", "0.5", "9".repeat(400)]),
        ),
      );
    case 1: // A string made long.
      return encoder.encode(text.replace(/"([^"]*)"/, `"${"x".repeat(random.range(100, 5000))}"`));
    case 2: { // Deep nesting (parsers that recurse).
      const depth = random.range(1_000, 50_000);
      return encoder.encode("[".repeat(depth) + "]".repeat(random.chance(0.5) ? depth : 0));
    }
    case 3: // A field duplicated or a key dropped.
      return encoder.encode(text.replace(/,/, random.chance(0.5) ? ",," : ',"x":1,'));
    case 4: // Invalid UTF-8 and control bytes in a string.
      return concatBytes([
        body.subarray(0, body.length >> 1),
        new Uint8Array([0xc3, 0x28, 0xed, 0xa0, 0x80, 0x00, 0x1b]),
        body.subarray(body.length >> 1),
      ]);
    case 5: // Another type where an object was.
      return encoder.encode(random.pick(["null", "[]", "1", '"x"', "{}", "true", '{"":{}}']));
    case 6: // Unicode escapes of surrogates and nulls.
      return encoder.encode(text.replace(/"([^"]*)"/, '"\\ud800\\u0000\\udfff"'));
    default: // Trailing garbage after the value.
      return concatBytes([body, encoder.encode(random.pick(["x", "}", "{}", " \n", "\u0000"]))]);
  }
}

/** One mutation of `bytes` (any protocol). */
export function mutate(bytes: Uint8Array, random: Random): Uint8Array {
  const out = bytes.slice();
  switch (random.int(7)) {
    case 0: { // Bit flips.
      for (let i = random.range(1, 8); i > 0 && out.length > 0; i--) {
        out[random.int(out.length)]! ^= 1 << random.int(8);
      }
      return out;
    }
    case 1: { // Interesting bytes.
      for (let i = random.range(1, 4); i > 0 && out.length > 0; i--) {
        out[random.int(out.length)] = random.pick(INTERESTING);
      }
      return out;
    }
    case 2: // Truncation.
      return out.subarray(0, random.int(out.length + 1));
    case 3: { // A chunk duplicated.
      if (out.length === 0) return out;
      const from = random.int(out.length);
      const to = random.range(from, out.length);
      return concatBytes([out.subarray(0, to), out.subarray(from, to), out.subarray(to)]);
    }
    case 4: { // A chunk deleted.
      if (out.length === 0) return out;
      const from = random.int(out.length);
      return concatBytes([out.subarray(0, from), out.subarray(random.range(from, out.length))]);
    }
    case 5: // Random bytes inserted.
      return concatBytes([
        out.subarray(0, random.int(out.length + 1)),
        random.bytes(random.range(1, 32)),
        out.subarray(random.int(out.length + 1)),
      ]);
    default: // JSON-level damage (harmless noise for binary protocols).
      return jsonDamage(out, random);
  }
}

/**
 * One bad (or, sometimes, valid) message of a corpus, as bytes on the wire: valid (10%),
 * a mutated body re-framed with a true length (30% of framed), a mutated whole frame, a
 * length-prefix lie, a huge length, or random bytes.
 */
export function fuzzFrame(corpus: Corpus, random: Random): Uint8Array {
  const body = random.pick(corpus.bodies);
  const roll = random.next();
  if (roll < 0.1) return corpus.framed ? prefixed(body) : body;
  if (roll < 0.18) {
    // Random bytes, mostly short, sometimes long.
    return random.bytes(random.chance(0.9) ? random.int(64) : random.int(4096));
  }
  if (!corpus.framed) {
    let bad = mutate(body, random);
    if (random.chance(0.3)) bad = mutate(bad, random);
    return bad;
  }
  if (roll < 0.5) return prefixed(mutate(body, random));
  if (roll < 0.62) {
    // A length-prefix lie: a little more or less than the body, or zero.
    const lie = random.pick([0, 1, body.length - 1, body.length + 1, body.length + 7, 3]);
    return prefixed(body, Math.max(0, lie));
  }
  if (roll < 0.72) {
    // A huge length: just over the limit, or absurd.
    const huge = random.pick([corpus.maxBody + 1, 0x7fffffff, 0xffffffff, 0x01000000, 65_537]);
    return prefixed(body.subarray(0, random.int(body.length + 1)), huge);
  }
  return mutate(prefixed(body), random);
}

/** How one connection of a stream fuzzer ends. */
export type StreamEnd = "half-close" | "close" | "wait";

/** Options for {@linkcode fuzzStream}. */
export interface StreamFuzzOptions {
  /** The port. */
  port: number;
  /** Frames to send in all. */
  frames: number;
  /** Frames per connection, at most. @default {6} */
  perConnection?: number;
  /** Connections at once. @default {48} */
  concurrency?: number;
  /** Makes one frame. */
  frame: (random: Random) => Uint8Array;
  /** Bytes written first on every connection (e.g. a valid opening), if any. */
  opening?: (random: Random) => Uint8Array | null;
  /** TLS: the CA to trust. */
  tls?: { caCerts: string[] };
  /** How long to wait for the server after writing, at most, in ms. @default {400} */
  readTimeoutMs?: number;
  /** The seed. */
  seed: number;
  /** Stops early (a time budget). */
  signal?: AbortSignal;
  /** Told what each connection sent and how it ended (to replay a failure). */
  onConnection?: (bytes: Uint8Array, end: StreamEnd) => void;
}

async function writeSplit(
  conn: Deno.Conn,
  bytes: Uint8Array,
  random: Random,
): Promise<void> {
  // Sometimes in small pieces, to exercise partial reads.
  const pieces = random.chance(0.2) ? random.range(2, 6) : 1;
  let off = 0;
  for (let i = 0; i < pieces && off < bytes.length; i++) {
    const end = i === pieces - 1 ? bytes.length : random.range(off, bytes.length);
    let at = off;
    while (at < end) at += await conn.write(bytes.subarray(at, end));
    off = end;
  }
}

/** Read until the end of the stream, an error, or `ms`. */
async function drain(conn: Deno.Conn, ms: number): Promise<void> {
  const buf = new Uint8Array(16 * 1024);
  const timer = setTimeout(() => {
    try {
      conn.close();
    } catch { /* closed */ }
  }, ms);
  try {
    for (;;) {
      const n = await conn.read(buf);
      if (n === null) return;
    }
  } catch {
    /* reset or closed */
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Throw `frames` frames at a TCP (or TLS) listener over many connections with bounded
 * concurrency. Each connection writes a few frames (some split into pieces), then half-closes
 * and waits for the server to close, closes at once, or waits a moment first. Resolves with
 * the frames sent.
 */
export async function fuzzStream(options: StreamFuzzOptions): Promise<number> {
  const perConnection = options.perConnection ?? 6;
  const concurrency = options.concurrency ?? 48;
  const readTimeoutMs = options.readTimeoutMs ?? 400;
  let left = options.frames;
  let sent = 0;
  const worker = async (w: number): Promise<void> => {
    const random = new Random(options.seed * 7919 + w);
    while (left > 0 && !options.signal?.aborted) {
      const count = Math.min(left, random.range(1, perConnection));
      left -= count;
      let written = 0;
      let conn: Deno.Conn | null = null;
      try {
        conn = options.tls
          ? await Deno.connectTls({ hostname: "127.0.0.1", port: options.port, ...options.tls })
          : await Deno.connect({ hostname: "127.0.0.1", port: options.port });
        const opening = options.opening?.(random);
        if (opening) await writeSplit(conn, opening, random);
        const frames = Array.from({ length: count }, () => options.frame(random));
        const together = random.chance(0.5);
        if (together) {
          await writeSplit(conn, concatBytes(frames), random);
          written = count;
        } else {
          for (const frame of frames) {
            await writeSplit(conn, frame, random);
            written++;
          }
        }
        const end: StreamEnd = random.pick(["half-close", "half-close", "close", "wait"]);
        options.onConnection?.(concatBytes([opening ?? new Uint8Array(0), ...frames]), end);
        if (end === "half-close") {
          await (conn as Deno.TcpConn).closeWrite().catch(() => {});
          await drain(conn, readTimeoutMs);
        } else if (end === "wait") {
          await drain(conn, random.range(10, readTimeoutMs));
        }
      } catch {
        // Refused, reset, or a write after the server closed: frames not written go back.
      } finally {
        try {
          conn?.close();
        } catch { /* closed */ }
        sent += written;
        left += count - written;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, (_, w) => worker(w)));
  return sent;
}

/** Options for {@linkcode fuzzDatagrams}. */
export interface DatagramFuzzOptions {
  /** The ports to send to (e.g. both STUN ports). */
  ports: number[];
  /** Datagrams to send in all. */
  datagrams: number;
  /** Makes one datagram. */
  datagram: (random: Random) => Uint8Array;
  /** Client sockets (source addresses) to send from. @default {16} */
  sockets?: number;
  /** Datagrams per burst before yielding a moment. @default {64} */
  burst?: number;
  /** The seed. */
  seed: number;
  /** Stops early (a time budget). */
  signal?: AbortSignal;
}

/**
 * Send `datagrams` datagrams to `ports` from several sockets, in paced bursts (so the server's
 * receive buffer is not simply overrun), reading and discarding any answers. Resolves with the
 * datagrams sent.
 */
export async function fuzzDatagrams(options: DatagramFuzzOptions): Promise<number> {
  const random = new Random(options.seed);
  const sockets = Array.from(
    { length: options.sockets ?? 16 },
    () => Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 }),
  );
  const readers = sockets.map(async (socket) => {
    for (;;) {
      try {
        await socket.receive();
      } catch {
        return;
      }
    }
  });
  const burst = options.burst ?? 64;
  let sent = 0;
  try {
    while (sent < options.datagrams && !options.signal?.aborted) {
      const sends: Promise<unknown>[] = [];
      for (let i = 0; i < burst && sent < options.datagrams; i++, sent++) {
        const socket = random.pick(sockets);
        const bytes = options.datagram(random);
        sends.push(
          socket.send(bytes.subarray(0, 65_000), {
            transport: "udp",
            hostname: "127.0.0.1",
            port: random.pick(options.ports),
          }).catch(() => {}),
        );
      }
      await Promise.all(sends);
      await new Promise((r) => setTimeout(r, 1));
    }
  } finally {
    for (const socket of sockets) socket.close();
    await Promise.all(readers);
  }
  return sent;
}

/** Wait for `promise` at most `ms` (the timer is always cleared). */
async function within(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await Promise.race([promise, new Promise((r) => (timer = setTimeout(r, ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

/** Options for {@linkcode fuzzWebSocket}. */
export interface WebSocketFuzzOptions {
  /** The URL (`ws://127.0.0.1:PORT/relay`). */
  url: string;
  /** Messages to send in all. */
  messages: number;
  /** Messages per WebSocket, at most. @default {8} */
  perSocket?: number;
  /** WebSockets at once. @default {24} */
  concurrency?: number;
  /** Makes one message (a string is sent as a text message). */
  message: (random: Random) => Uint8Array | string;
  /** The seed. */
  seed: number;
  /** Stops early (a time budget). */
  signal?: AbortSignal;
}

/** Open a WebSocket, send a few messages, close; repeat until `messages` are sent. */
export async function fuzzWebSocket(options: WebSocketFuzzOptions): Promise<number> {
  const perSocket = options.perSocket ?? 8;
  let left = options.messages;
  let sent = 0;
  const worker = async (w: number): Promise<void> => {
    const random = new Random(options.seed * 104_729 + w);
    while (left > 0 && !options.signal?.aborted) {
      const count = Math.min(left, random.range(1, perSocket));
      left -= count;
      const ws = new WebSocket(options.url);
      ws.binaryType = "arraybuffer";
      const closed = new Promise<void>((resolve) => {
        ws.addEventListener("close", () => resolve());
        ws.addEventListener("error", () => resolve());
      });
      const opened = await Promise.race([
        new Promise<boolean>((resolve) => ws.addEventListener("open", () => resolve(true))),
        closed.then(() => false),
      ]);
      let sentHere = 0;
      if (opened) {
        for (; sentHere < count && ws.readyState === WebSocket.OPEN; sentHere++) {
          ws.send(options.message(random));
        }
        // Wait a moment for the server's answer, sometimes not at all.
        await within(closed, random.int(150));
      }
      if (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING) {
        // Clients may close with 1000 or 3000–4999 only.
        try {
          ws.close(random.pick([1000, 3000, 4000, 4999]), "");
        } catch {
          ws.close();
        }
      }
      await within(closed, 2000);
      sent += sentHere;
      left += count - sentHere;
    }
  };
  await Promise.all(Array.from({ length: options.concurrency ?? 24 }, (_, w) => worker(w)));
  return sent;
}

/**
 * A real TLS ClientHello as Deno sends it (captured from a raw listener), to mutate and to
 * trickle at the TLS listener.
 */
export async function captureClientHello(): Promise<Uint8Array> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const port = (listener.addr as Deno.NetAddr).port;
    const client = await Deno.connectTls({ hostname: "localhost", port });
    const handshake = client.handshake().catch(() => {});
    const server = await listener.accept();
    const buf = new Uint8Array(8192);
    let got: Uint8Array = new Uint8Array(0);
    try {
      // The record header says how long the ClientHello is.
      while (got.length < 5 || got.length < 5 + ((got[3]! << 8) | got[4]!)) {
        const n = await server.read(buf);
        if (n === null) break;
        got = concatBytes([got, buf.subarray(0, n)]);
      }
    } finally {
      server.close();
      client.close();
      await handshake;
    }
    return got;
  } finally {
    listener.close();
  }
}

/** Frame `body` with a 4-byte big-endian length. */
export function frameBody(body: Uint8Array, length = body.length): Uint8Array {
  return prefixed(body, length);
}

/** A gday client frame (valid). */
export { encodeBrokerFrame, encodeClientFrame, encodeMediatorClientFrame };
