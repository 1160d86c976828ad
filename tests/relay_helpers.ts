/**
 * Helpers for the relay tests: a server with the relay (TCP, TLS, HTTP and HTTPS), a certificate
 * the WebSocket client accepts, and small stream utilities.
 */

import { httpPlugin, HttpRoutes } from "../server/services/http.ts";
import {
  type RelayLimits,
  relayPlugin,
  RelayState,
  type RelayTapEvent,
} from "../server/services/relay.ts";
import { type PeerlinkServer, startServer } from "../server/server.ts";
import { silentLogger } from "../server/logger.ts";
import type { Logger } from "../server/logger.ts";
import type { Duplex } from "../net/duplex.ts";
import { sha256 } from "@noble/hashes/sha2.js";
import { selfSignedCert } from "./_helpers.ts";

const decoder = new TextDecoder();

/**
 * A self-signed leaf certificate (not a CA: Deno's WebSocket client refuses a CA certificate as a
 * server's own) for localhost, 127.0.0.1 and ::1, its files removed once read.
 */
export async function leafCert(): Promise<{ cert: string; key: string }> {
  const { cert, key, dir } = await selfSignedCert();
  await Deno.remove(dir, { recursive: true });
  return { cert, key };
}

let cachedCert: Promise<{ cert: string; key: string }> | null = null;
/** One certificate for the whole test file. */
export function testCert(): Promise<{ cert: string; key: string }> {
  cachedCert ??= leafCert();
  return cachedCert;
}

/** A running server with the relay, and where to reach it. */
export interface RelayTestServer extends AsyncDisposable {
  server: PeerlinkServer;
  state: RelayState;
  /** `127.0.0.1:port` of each transport that is on. */
  tcp: string;
  tls: string | null;
  ws: string | null;
  wss: string | null;
  cert: string | null;
}

/** Options of {@linkcode startRelay}. */
export interface StartRelayOptions {
  limits?: Partial<RelayLimits>;
  tls?: boolean;
  http?: boolean;
  tap?: (event: RelayTapEvent) => void;
  logger?: Logger;
  helloTimeoutMs?: number;
  wsWindow?: number;
  /** The server's per-client rate limit. @default {0} (off) */
  requestsPerMinute?: number;
}

/** Start a server on loopback with the relay on TCP (and TLS, HTTP, HTTPS when asked). */
export async function startRelay(options: StartRelayOptions = {}): Promise<RelayTestServer> {
  const state = new RelayState();
  const routes = new HttpRoutes();
  const tls = options.tls ? await testCert() : null;
  const http: { ws: string | null; wss: string | null } = { ws: null, wss: null };
  const services = [
    relayPlugin({
      port: 0,
      tlsPort: tls ? 0 : null,
      routes: options.http ? routes : null,
      state,
      tap: options.tap,
      helloTimeoutMs: options.helloTimeoutMs,
      wsWindow: options.wsWindow,
      limits: { bytesPerSecond: 0, ...options.limits },
    }),
  ];
  if (options.http) {
    services.push(httpPlugin({
      routes,
      hostname: "127.0.0.1",
      port: 0,
      tlsPort: tls ? 0 : null,
      tls,
      onListening: (l) => {
        if (l.transport === "http") http.ws = `ws://127.0.0.1:${l.addr.port}/relay`;
        else http.wss = `wss://localhost:${l.addr.port}/relay`;
      },
    }));
  }
  const server = await startServer({
    hostname: "127.0.0.1",
    gdayPort: null,
    gdayTlsPort: null,
    tls,
    logger: options.logger ?? silentLogger,
    limits: { maxConnectionsPerIp: 1000, requestsPerMinute: options.requestsPerMinute ?? 0 },
    services,
  });
  const port = (transport: "tcp" | "tls"): string | null => {
    const l = server.listeners.find((l) => l.service === "relay" && l.transport === transport);
    return l ? `127.0.0.1:${l.addr.port}` : null;
  };
  return {
    server,
    state,
    tcp: port("tcp")!,
    tls: port("tls"),
    ws: http.ws,
    wss: http.wss,
    cert: tls?.cert ?? null,
    [Symbol.asyncDispose]: () => server.close(),
  };
}

/** A random 32-byte token. */
export function randomToken(): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(32));
}

/** Write `bytes` in chunks, then half-close. */
export async function writeAllAndClose(
  duplex: Duplex,
  bytes: Uint8Array,
  chunk = 64 * 1024,
): Promise<void> {
  const writer = duplex.writable.getWriter();
  for (let offset = 0; offset < bytes.length; offset += chunk) {
    await writer.write(bytes.subarray(offset, offset + chunk));
  }
  await writer.close();
}

/** Read everything until the end. */
export async function readAll(readable: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return await new Response(readable).bytes();
}

/** Pseudo-random bytes (fast, not for cryptography). */
export function pattern(length: number, seed = 1): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** SHA-256 as hex. */
export function sha256Hex(bytes: Uint8Array): string {
  return sha256(bytes).toHex();
}

/** Wait until `check()` is true (polling every 5 ms), or throw after `timeoutMs`. */
export async function until(
  check: () => boolean,
  timeoutMs = 5000,
  what = "condition",
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** A raw TCP client for malformed input: write bytes, read what comes back until the close. */
export async function rawExchange(
  addr: string,
  bytes: Uint8Array,
  timeoutMs = 5000,
): Promise<{ reply: Uint8Array; closed: boolean }> {
  const [hostname, port] = [
    addr.slice(0, addr.lastIndexOf(":")),
    Number(addr.slice(addr.lastIndexOf(":") + 1)),
  ];
  const conn = await Deno.connect({ hostname, port });
  const timer = setTimeout(() => {
    try {
      conn.close();
    } catch { /* closed */ }
  }, timeoutMs);
  try {
    if (bytes.length > 0) {
      let off = 0;
      while (off < bytes.length) off += await conn.write(bytes.subarray(off));
    }
    const chunks: Uint8Array[] = [];
    const buf = new Uint8Array(4096);
    let closed = false;
    for (;;) {
      let n: number | null;
      try {
        n = await conn.read(buf);
      } catch {
        break;
      }
      if (n === null) {
        closed = true;
        break;
      }
      chunks.push(buf.slice(0, n));
    }
    const reply = new Uint8Array(chunks.reduce((s, c) => s + c.length, 0));
    let o = 0;
    for (const c of chunks) {
      reply.set(c, o);
      o += c.length;
    }
    return { reply, closed };
  } finally {
    clearTimeout(timer);
    try {
      conn.close();
    } catch { /* closed */ }
  }
}

/** The JSON bodies of the status frames in `bytes`. */
export function statusFrames(bytes: Uint8Array): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  let offset = 0;
  while (offset + 4 <= bytes.length) {
    const length = new DataView(bytes.buffer, bytes.byteOffset + offset, 4).getUint32(0);
    out.push(JSON.parse(decoder.decode(bytes.subarray(offset + 4, offset + 4 + length))));
    offset += 4 + length;
  }
  return out;
}
