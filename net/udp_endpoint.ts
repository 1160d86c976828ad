/**
 * One UDP socket shared by several users: a single receive loop hands each datagram to the
 * subscribers of its source address, so an introducer client, a hole puncher and a chat session
 * can all work on the same local port (which is what keeps a NAT mapping useful) without any of
 * them owning `receive()`.
 *
 * @module
 */

import {
  canonicalSocketAddr,
  formatSocketAddr,
  type SocketAddr,
  toSocketAddr,
} from "../protocol/socket_addr.ts";

/** One received datagram. */
export interface UdpDatagram {
  /** The payload (a copy; every subscriber of this datagram sees the same array). */
  readonly data: Uint8Array;
  /** Where it came from, IPv4-mapped addresses turned into IPv4. */
  readonly from: SocketAddr;
}

/** Called for each datagram a subscription matches. Must not throw (errors are swallowed). */
export type UdpDatagramHandler = (datagram: UdpDatagram) => void;

/** A UDP endpoint failed to send, or was used after it closed. */
export class UdpEndpointError extends Error {
  /**
   * Make the error.
   *
   * @example
   * ```ts
   * import { UdpEndpointError } from "./udp_endpoint.ts";
   * if (new UdpEndpointError("x").name !== "UdpEndpointError") throw new Error("Bad name");
   * ```
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "UdpEndpointError";
  }
}

/** Options for {@linkcode UdpEndpoint.bind}. */
export interface UdpEndpointBindOptions {
  /**
   * The local address. `"::"` takes IPv6 and IPv4 (dual stack) and falls back to `"0.0.0.0"`
   * on hosts without IPv6.
   * @default {"::"}
   */
  hostname?: string;
  /** The local port; 0 lets the OS choose. @default {0} */
  port?: number;
}

/** Receive buffer size: larger than any UDP payload (65,527 bytes over IPv6). */
const RECEIVE_BUFFER_BYTES = 65_536;

/** The key datagrams are dispatched by: canonical `ip:port` text. */
function addrKey(addr: SocketAddr): string {
  return formatSocketAddr(canonicalSocketAddr(addr));
}

/**
 * A UDP socket with a receive loop that dispatches datagrams by source address.
 *
 * A datagram goes to every subscriber of its exact source address; when there is none, to every
 * catch-all subscriber (`subscribe(null, ...)`); when there is none either, it is counted in
 * {@linkcode UdpEndpoint.unclaimed} and dropped.
 *
 * @example Two endpoints on loopback
 * ```ts
 * import { UdpEndpoint } from "./udp_endpoint.ts";
 * await using a = UdpEndpoint.bind({ hostname: "127.0.0.1" });
 * await using b = UdpEndpoint.bind({ hostname: "127.0.0.1" });
 * const got = b.receive(a.localAddr);
 * await a.send(new TextEncoder().encode("hi"), b.localAddr);
 * const datagram = await got;
 * if (new TextDecoder().decode(datagram.data) !== "hi") throw new Error("Not received");
 * ```
 */
export class UdpEndpoint implements AsyncDisposable {
  #socket: Deno.DatagramConn;
  #localAddr: SocketAddr;
  #exact = new Map<string, Set<UdpDatagramHandler>>();
  #any = new Set<UdpDatagramHandler>();
  #closed = false;
  #unclaimed = 0;
  #loop: Promise<void>;

  /**
   * Bind a new socket and start receiving.
   *
   * @example
   * ```ts
   * import { UdpEndpoint } from "./udp_endpoint.ts";
   * await using endpoint = UdpEndpoint.bind({ hostname: "::1" });
   * if (endpoint.localAddr.family !== "v6" || endpoint.localAddr.port === 0) throw new Error("Not bound");
   * ```
   */
  static bind(options: UdpEndpointBindOptions = {}): UdpEndpoint {
    const { hostname = "::", port = 0 } = options;
    if (!(Number.isInteger(port) && port >= 0 && port <= 65535)) {
      throw new RangeError(`Port is ${port}, it must be an integer from 0 to 65535`);
    }
    const open = (host: string): Deno.DatagramConn =>
      Deno.listenDatagram({ transport: "udp", hostname: host, port });
    let socket: Deno.DatagramConn;
    try {
      socket = open(hostname);
    } catch (error) {
      // No IPv6 on this host: take IPv4 only.
      if (hostname !== "::" || error instanceof Deno.errors.AddrInUse) throw error;
      socket = open("0.0.0.0");
    }
    return new UdpEndpoint(socket);
  }

  /**
   * Take over an open socket and start receiving from it. Nothing else may call its
   * `receive()`; {@linkcode UdpEndpoint.close} closes it.
   *
   * @example
   * ```ts
   * import { UdpEndpoint } from "./udp_endpoint.ts";
   * const socket = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
   * await using endpoint = new UdpEndpoint(socket);
   * if (endpoint.localAddr.port !== (socket.addr as Deno.NetAddr).port) throw new Error("Wrong port");
   * ```
   */
  constructor(socket: Deno.DatagramConn) {
    this.#socket = socket;
    const addr = socket.addr as Deno.NetAddr;
    const local = toSocketAddr(addr.hostname, addr.port);
    if (local === null) throw new UdpEndpointError(`Unexpected local address ${addr.hostname}`);
    // Keep the bound family: a dual-stack "::" socket reports "::", not an IPv4 address.
    this.#localAddr = addr.hostname.includes(":") && local.family === "v4"
      ? { family: "v6", ip: `::ffff:${local.ip}`, port: local.port, scopeId: 0 }
      : local;
    this.#loop = this.#receiveLoop();
  }

  /**
   * The bound address (with the real port when 0 was asked for).
   *
   * @example
   * ```ts
   * import { UdpEndpoint } from "./udp_endpoint.ts";
   * await using endpoint = UdpEndpoint.bind({ hostname: "127.0.0.1" });
   * if (endpoint.localAddr.ip !== "127.0.0.1") throw new Error("Wrong address");
   * ```
   */
  get localAddr(): SocketAddr {
    return this.#localAddr;
  }

  /**
   * Whether {@linkcode UdpEndpoint.close} was called or the socket failed.
   *
   * @example
   * ```ts
   * import { UdpEndpoint } from "./udp_endpoint.ts";
   * const endpoint = UdpEndpoint.bind({ hostname: "127.0.0.1" });
   * await endpoint.close();
   * if (!endpoint.closed) throw new Error("Not closed");
   * ```
   */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Datagrams dropped because no subscription matched them.
   *
   * @example
   * ```ts
   * import { UdpEndpoint } from "./udp_endpoint.ts";
   * await using endpoint = UdpEndpoint.bind({ hostname: "127.0.0.1" });
   * if (endpoint.unclaimed !== 0) throw new Error("Not zero");
   * ```
   */
  get unclaimed(): number {
    return this.#unclaimed;
  }

  /**
   * Send one datagram. An IPv4 destination works from a dual-stack (`"::"`) endpoint.
   *
   * @throws {UdpEndpointError} when the endpoint is closed or the OS refuses (for example an
   * IPv6 destination from an IPv4 socket).
   *
   * @example
   * ```ts
   * import { UdpEndpoint } from "./udp_endpoint.ts";
   * await using a = UdpEndpoint.bind({ hostname: "127.0.0.1" });
   * await a.send(new Uint8Array([1]), { family: "v4", ip: "127.0.0.1", port: a.localAddr.port });
   * ```
   */
  async send(data: Uint8Array, to: SocketAddr): Promise<void> {
    if (this.#closed) throw new UdpEndpointError("The UDP endpoint is closed");
    try {
      await this.#socket.send(data, { transport: "udp", hostname: to.ip, port: to.port });
    } catch (cause) {
      throw new UdpEndpointError(
        `Cannot send to ${formatSocketAddr(to)}: ${(cause as Error).message}`,
        { cause },
      );
    }
  }

  /**
   * Call `handler` for each datagram from `from` (or, with `null`, for each datagram no
   * address subscription claims) until the returned subscription is disposed.
   *
   * @example
   * ```ts
   * import { UdpEndpoint } from "./udp_endpoint.ts";
   * await using endpoint = UdpEndpoint.bind({ hostname: "127.0.0.1" });
   * let count = 0;
   * const subscription = endpoint.subscribe(null, () => count++);
   * subscription[Symbol.dispose]();
   * if (count !== 0) throw new Error("Unexpected datagram");
   * ```
   */
  subscribe(from: SocketAddr | null, handler: UdpDatagramHandler): Disposable {
    if (from === null) {
      this.#any.add(handler);
      return { [Symbol.dispose]: () => void this.#any.delete(handler) };
    }
    const key = addrKey(from);
    let set = this.#exact.get(key);
    if (set === undefined) this.#exact.set(key, set = new Set());
    set.add(handler);
    return {
      [Symbol.dispose]: () => {
        const current = this.#exact.get(key);
        if (current === undefined) return;
        current.delete(handler);
        if (current.size === 0) this.#exact.delete(key);
      },
    };
  }

  /**
   * Wait for the next datagram from `from` (`null`: one no address subscription claims) that
   * passes `accept`.
   *
   * @throws the signal's reason when it aborts, and {@linkcode UdpEndpointError} when the
   * endpoint closes first.
   *
   * @example
   * ```ts
   * import { UdpEndpoint } from "./udp_endpoint.ts";
   * await using endpoint = UdpEndpoint.bind({ hostname: "127.0.0.1" });
   * const error = await endpoint.receive(null, { signal: AbortSignal.timeout(10) }).catch((e) => e);
   * if (error.name !== "TimeoutError") throw new Error("Expected a timeout");
   * ```
   */
  receive(
    from: SocketAddr | null,
    options: { signal?: AbortSignal; accept?: (datagram: UdpDatagram) => boolean } = {},
  ): Promise<UdpDatagram> {
    const { signal, accept = () => true } = options;
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.#closed) return Promise.reject(new UdpEndpointError("The UDP endpoint is closed"));
    return new Promise((resolve, reject) => {
      const finish = (): void => {
        subscription[Symbol.dispose]();
        signal?.removeEventListener("abort", onAbort);
        this.#waiters.delete(onClose);
      };
      const onAbort = (): void => {
        finish();
        reject(signal!.reason);
      };
      const onClose = (): void => {
        finish();
        reject(new UdpEndpointError("The UDP endpoint is closed"));
      };
      const subscription = this.subscribe(from, (datagram) => {
        if (!accept(datagram)) return;
        finish();
        resolve(datagram);
      });
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#waiters.add(onClose);
    });
  }

  #waiters = new Set<() => void>();

  async #receiveLoop(): Promise<void> {
    const buffer = new Uint8Array(RECEIVE_BUFFER_BYTES);
    while (!this.#closed) {
      let data: Uint8Array;
      let addr: Deno.NetAddr;
      try {
        [data, addr] = (await this.#socket.receive(buffer)) as [Uint8Array, Deno.NetAddr];
      } catch (error) {
        if (this.#closed) return;
        // ICMP errors some systems report on unconnected sockets: the socket is still fine.
        if (
          error instanceof Deno.errors.ConnectionReset ||
          error instanceof Deno.errors.ConnectionRefused
        ) continue;
        this.#shutdown();
        return;
      }
      const from = toSocketAddr(addr.hostname, addr.port);
      if (from === null) continue;
      this.#dispatch({ data: data.slice(), from });
    }
  }

  #dispatch(datagram: UdpDatagram): void {
    const exact = this.#exact.get(addrKey(datagram.from));
    const handlers = exact !== undefined && exact.size > 0 ? exact : this.#any;
    if (handlers.size === 0) {
      this.#unclaimed++;
      return;
    }
    for (const handler of [...handlers]) {
      try {
        handler(datagram);
      } catch { /* handlers must not throw; one that does cannot stop the others */ }
    }
  }

  #shutdown(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#socket.close();
    } catch { /* already closed */ }
    for (const waiter of [...this.#waiters]) waiter();
  }

  /**
   * Close the socket; resolves when the receive loop has stopped. Pending
   * {@linkcode UdpEndpoint.receive} calls reject.
   *
   * @example
   * ```ts
   * import { UdpEndpoint } from "./udp_endpoint.ts";
   * const endpoint = UdpEndpoint.bind({ hostname: "127.0.0.1" });
   * await endpoint.close();
   * await endpoint.close(); // idempotent
   * ```
   */
  async close(): Promise<void> {
    this.#shutdown();
    await this.#loop;
  }

  /**
   * Same as {@linkcode UdpEndpoint.close}, for `await using`.
   *
   * @example
   * ```ts
   * import { UdpEndpoint } from "./udp_endpoint.ts";
   * { await using _endpoint = UdpEndpoint.bind({ hostname: "127.0.0.1" }); }
   * ```
   */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
