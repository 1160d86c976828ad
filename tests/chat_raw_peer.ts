/**
 * Test helper: a Peer-Punch peer made of a bare UDP socket that sends and receives JSON text
 * exactly as written in the spec, without peerlink's codec or endpoint.
 */

import assert from "node:assert/strict";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A bare UDP socket with a receive queue, so waits can time out without leaking a receive. */
export class RawPeer implements AsyncDisposable {
  readonly socket: Deno.DatagramConn;
  #queue: { text: string; bytes: Uint8Array; port: number; hostname: string }[] = [];
  #waiters = new Set<() => void>();
  #loop: Promise<void>;
  #closed = false;

  constructor(hostname = "127.0.0.1") {
    const socket = Deno.listenDatagram({ transport: "udp", hostname, port: 0 });
    this.socket = socket;
    this.#loop = (async () => {
      for (;;) {
        let data: Uint8Array;
        let addr: Deno.NetAddr;
        try {
          [data, addr] = (await socket.receive()) as [Uint8Array, Deno.NetAddr];
        } catch {
          return;
        }
        this.#queue.push({
          text: decoder.decode(data),
          bytes: data,
          port: addr.port,
          hostname: addr.hostname,
        });
        for (const wake of [...this.#waiters]) wake();
      }
    })();
  }

  get port(): number {
    return (this.socket.addr as Deno.NetAddr).port;
  }

  /** This peer's address as Rust prints it: `127.0.0.1:port` or `[::1]:port`. */
  get addrText(): string {
    const { hostname, port } = this.socket.addr as Deno.NetAddr;
    return hostname.includes(":") ? `[${hostname}]:${port}` : `${hostname}:${port}`;
  }

  /** Send text (UTF-8) or raw bytes. */
  async send(payload: string | Uint8Array, port: number, hostname = "127.0.0.1"): Promise<void> {
    const bytes = typeof payload === "string" ? encoder.encode(payload) : payload;
    await this.socket.send(bytes, { transport: "udp", hostname, port });
  }

  /** The next datagram's text, or throws after `timeoutMs`. */
  async recv(timeoutMs = 3000): Promise<string> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const next = this.#queue.shift();
      if (next !== undefined) return next.text;
      const left = end - Date.now();
      if (left <= 0 || this.#closed) throw new Error("No datagram arrived in time");
      let wake!: () => void;
      const woken = new Promise<void>((r) => (wake = r));
      this.#waiters.add(wake);
      const timer = setTimeout(wake, left);
      try {
        await woken;
      } finally {
        clearTimeout(timer);
        this.#waiters.delete(wake);
      }
    }
  }

  /** Send `request` and assert the next reply is exactly `reply`. */
  async expect(request: string, port: number, reply: string, hostname?: string): Promise<void> {
    await this.send(request, port, hostname);
    assert.equal(await this.recv(), reply, `reply to ${request}`);
  }

  /** Datagrams received and not read yet. */
  get pending(): number {
    return this.#queue.length;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.socket.close();
    await this.#loop;
    for (const wake of [...this.#waiters]) wake();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/** Resolve when `predicate` holds, polling every few ms; throws after `timeoutMs`. */
export async function waitUntil(
  predicate: () => boolean,
  timeoutMs = 5000,
  what = "condition",
): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > end) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
