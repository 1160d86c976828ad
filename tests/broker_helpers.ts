/**
 * Helpers for the broker tests: an in-process server running a broker, and a raw protocol
 * client (over `Deno.connect`) to play a misbehaving receiver or sender.
 */

import { LengthPrefixedDecoder } from "../framing/length_prefixed.ts";
import { type BrokerMessage, decodeBrokerMessage, encodeBrokerFrame } from "../protocol/broker.ts";
import { silentLogger } from "../server/logger.ts";
import { type PeerlinkServer, startServer } from "../server/server.ts";
import { BrokerService, type BrokerServiceOptions } from "../server/services/broker.ts";

/** A server with a broker on a free loopback port. */
export interface BrokerFixture extends AsyncDisposable {
  server: PeerlinkServer;
  broker: BrokerService;
  /** `127.0.0.1:PORT`. */
  address: string;
  port: number;
}

/** Start a server with only a broker (no rate limit), on a free port unless `port` is given. */
export async function startBroker(
  options: BrokerServiceOptions = {},
  hostname = "127.0.0.1",
): Promise<BrokerFixture> {
  const broker = new BrokerService({ port: 0, ...options });
  const server = await startServer({
    hostname,
    gdayPort: null,
    logger: silentLogger,
    limits: { requestsPerMinute: 0, maxConnectionsPerIp: 100_000, maxConnections: 100_000 },
    services: [broker.factory],
  });
  const port = server.listeners[0]!.addr.port;
  return {
    server,
    broker,
    port,
    address: hostname.includes(":") ? `[${hostname}]:${port}` : `${hostname}:${port}`,
    [Symbol.asyncDispose]: () => server.close(),
  };
}

/** A raw broker-protocol client: frames in, frames out. */
export class RawBroker implements Disposable {
  readonly conn: Deno.TcpConn;
  #decoder = new LengthPrefixedDecoder();
  #closed = false;

  constructor(conn: Deno.TcpConn) {
    this.conn = conn;
  }

  static async connect(port: number, hostname = "127.0.0.1"): Promise<RawBroker> {
    return new RawBroker(await Deno.connect({ hostname, port }));
  }

  get localPort(): number {
    return this.conn.localAddr.port;
  }

  async send(msg: BrokerMessage): Promise<void> {
    await this.sendBytes(encodeBrokerFrame(msg));
  }

  async sendBytes(bytes: Uint8Array): Promise<void> {
    let offset = 0;
    while (offset < bytes.length) offset += await this.conn.write(bytes.subarray(offset));
  }

  /** The next message, or `null` when the broker closed the connection. */
  async recv(timeoutMs = 5000): Promise<BrokerMessage | null> {
    const timer = setTimeout(() => this.close(), timeoutMs);
    try {
      for (;;) {
        const frame = this.#decoder.next();
        if (frame !== undefined) return decodeBrokerMessage(frame);
        const buf = new Uint8Array(2048);
        let n: number | null;
        try {
          n = await this.conn.read(buf);
        } catch {
          n = null;
        }
        if (n === null) return null;
        this.#decoder.push(buf.slice(0, n));
      }
    } finally {
      clearTimeout(timer);
    }
  }

  /** Read until a message of `type` (skipping keep-alive answers); throws on the end. */
  async expect<T extends BrokerMessage["type"]>(
    type: T,
    timeoutMs = 5000,
  ): Promise<Extract<BrokerMessage, { type: T }>> {
    for (;;) {
      const msg = await this.recv(timeoutMs);
      if (msg === null) throw new Error(`Connection closed while waiting for ${type}`);
      if (msg.type === type) return msg as Extract<BrokerMessage, { type: T }>;
      if (msg.type !== "keepalive_ack") {
        throw new Error(`Expected ${type}, got ${JSON.stringify(msg)}`);
      }
    }
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.conn.close();
    } catch { /* closed */ }
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/** Wait until the broker's tables (receivers, requests, connections) are all empty. */
export async function brokerEmpty(broker: BrokerService, timeoutMs = 5000): Promise<void> {
  await broker.waitFor(
    (b) => b.receiverCount === 0 && b.requestCount === 0 && b.connectionCount === 0,
    AbortSignal.timeout(timeoutMs),
  ).catch(() => {
    throw new Error(
      `Broker not empty after ${timeoutMs} ms: ${broker.receiverCount} receivers, ` +
        `${broker.requestCount} requests, ${broker.connectionCount} connections`,
    );
  });
}
