/**
 * A client of a UDP chat introducer (peerlink's, or Peer-Punch's relay): register a name, ask to
 * meet someone, and learn who asks to meet you, all over one UDP socket that stays usable for
 * hole punching and the chat itself afterwards.
 *
 * The client never owns the socket's `receive()`: it subscribes to the introducer's address on a
 * shared {@linkcode UdpEndpoint}, so a hole puncher or chat session on the same endpoint gets
 * every other datagram. Only datagrams from the introducer's address are believed (Peer-Punch
 * peers accept `PeerInfo` from anyone, spec §3.6 weakness 4).
 *
 * Peer-Punch has no request ids (spec §3.6 weakness 7), so the client runs one `register()` and
 * one `connect()` at a time and matches replies by kind: `RegisterAck` answers `register()`;
 * `TargetNotFound`, `TargetBusy` and a `PeerInfo` naming the target answer `connect()`; any
 * other `PeerInfo` is someone calling, delivered by {@linkcode IntroducerClient.incoming}.
 *
 * @example Two clients meet through a local introducer
 * ```ts
 * import { createIntroducerClient } from "./introducer.ts";
 * import { chatPlugin } from "../server/services/chat.ts";
 * import { startServer } from "../server/server.ts";
 * import { silentLogger } from "../server/logger.ts";
 * await using server = await startServer({
 *   hostname: "127.0.0.1", gdayPort: null, logger: silentLogger, services: [chatPlugin({ port: 0 })],
 * });
 * const introducer = server.listeners[0]!.addr;
 * await using alice = await createIntroducerClient({ introducer });
 * await using bob = await createIntroducerClient({ introducer });
 * await alice.register("alice");
 * await bob.register("bob");
 * const calls = bob.incoming()[Symbol.asyncIterator]();
 * const peer = await alice.connect("bob");
 * const caller = (await calls.next()).value!;
 * if (peer.addr.port !== bob.endpoint.localAddr.port || caller.username !== "alice") throw new Error("Not introduced");
 * await alice.finish();
 * ```
 *
 * @module
 */

import { resolveHost } from "../net/resolve.ts";
import { deadline, DeadlineError } from "../async/deadline.ts";
import { abortable } from "../async/abortable.ts";
import { UdpEndpoint } from "../net/udp_endpoint.ts";
import {
  decodePeerPunchMessage,
  DEFAULT_PEER_PUNCH_PORT,
  encodePeerPunchMessage,
  isValidChatUsername,
  type PeerPunchMessage,
} from "../protocol/peer_punch.ts";
import { formatSocketAddr, type SocketAddr, toSocketAddr } from "../protocol/socket_addr.ts";
import { parseServerAddress } from "./server_address.ts";

/** Default for {@linkcode IntroducerClientInit.attempts}. */
export const DEFAULT_INTRODUCER_ATTEMPTS = 5;
/** Default for {@linkcode IntroducerClientInit.attemptTimeoutMs}: 500 ms, doubled per attempt. */
export const DEFAULT_INTRODUCER_ATTEMPT_TIMEOUT_MS = 500;
/** The longest wait for one attempt's reply, in ms. */
export const MAX_INTRODUCER_ATTEMPT_TIMEOUT_MS = 4_000;
/**
 * Default for {@linkcode IntroducerClientInit.keepAliveMs}: 25 s, under the 30 s after which
 * many NATs drop an idle UDP mapping, and well under the introducer's 120 s idle timeout.
 */
export const DEFAULT_INTRODUCER_KEEPALIVE_MS = 25_000;
/** Calls queued for {@linkcode IntroducerClient.incoming} at most; older ones are dropped. */
export const MAX_QUEUED_CALLS = 32;

/** A peer the introducer introduced: where it is (as the introducer saw it) and its name. */
export interface IntroducedPeer {
  /** Its public address, as the introducer saw it. */
  readonly addr: SocketAddr;
  /** Its registered name. */
  readonly username: string;
}

/** Base class of the introducer client's errors. */
export class IntroducerError extends Error {
  /**
   * Make the error.
   *
   * @example
   * ```ts
   * import { IntroducerError } from "./introducer.ts";
   * if (new IntroducerError("x").name !== "IntroducerError") throw new Error("Bad name");
   * ```
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "IntroducerError";
  }
}

/** The introducer knows no other user by that name (`TargetNotFound`). */
export class TargetNotFoundError extends IntroducerError {
  /** The name asked for. */
  readonly target: string;
  /**
   * Make the error.
   *
   * @example
   * ```ts
   * import { TargetNotFoundError } from "./introducer.ts";
   * if (new TargetNotFoundError("bob").target !== "bob") throw new Error("No target");
   * ```
   */
  constructor(target: string, options?: ErrorOptions) {
    super(
      `No user ${
        JSON.stringify(target)
      } is registered with the introducer (or this client's registration expired)`,
      options,
    );
    this.name = "TargetNotFoundError";
    this.target = target;
  }
}

/** The target, or this client, is already in a session (`TargetBusy`). */
export class TargetBusyError extends IntroducerError {
  /** The name asked for. */
  readonly target: string;
  /**
   * Make the error.
   *
   * @example
   * ```ts
   * import { TargetBusyError } from "./introducer.ts";
   * if (new TargetBusyError("bob").name !== "TargetBusyError") throw new Error("Bad name");
   * ```
   */
  constructor(target: string, options?: ErrorOptions) {
    super(
      `${
        JSON.stringify(target)
      } is in another session, or this client still is: call finish() and try again later`,
      options,
    );
    this.name = "TargetBusyError";
    this.target = target;
  }
}

/** No answer came after every attempt. */
export class IntroducerTimeoutError extends IntroducerError {
  /** What was asked: `"register"` or `"connect"`. */
  readonly operation: "register" | "connect";
  /**
   * Make the error.
   *
   * @example
   * ```ts
   * import { IntroducerTimeoutError } from "./introducer.ts";
   * if (new IntroducerTimeoutError("register", 5).operation !== "register") throw new Error("Bad op");
   * ```
   */
  constructor(operation: "register" | "connect", attempts: number, options?: ErrorOptions) {
    super(
      operation === "register"
        ? `The introducer did not acknowledge the registration after ${attempts} attempts: the name may be taken or invalid, or the introducer unreachable`
        : `The introducer did not answer the connect request after ${attempts} attempts`,
      options,
    );
    this.name = "IntroducerTimeoutError";
    this.operation = operation;
  }
}

/** Options of one request. */
export interface IntroducerRequestOptions {
  /** Give up (rejecting with its reason) when this aborts. */
  signal?: AbortSignal;
}

/** What {@linkcode IntroducerClient} needs: a resolved introducer and an endpoint. */
export interface IntroducerClientInit {
  /** The shared UDP endpoint to talk through. */
  endpoint: UdpEndpoint;
  /** The introducer's address. */
  introducer: SocketAddr;
  /** Close the endpoint in {@linkcode IntroducerClient.close}. @default {false} */
  ownsEndpoint?: boolean;
  /** Requests sent per `register()` / `connect()` before giving up. @default {5} */
  attempts?: number;
  /**
   * The wait for a reply to the first request, in ms; doubled for each further attempt, up to
   * 4 s. The defaults give up after 11.5 s.
   * @default {500}
   */
  attemptTimeoutMs?: number;
  /**
   * After `register()`, send a keep-alive (`Ping`) to the introducer this often, in ms, so the
   * registration and the NAT mapping to the introducer stay alive. 0 turns it off.
   * @default {25000}
   */
  keepAliveMs?: number;
  /** Close the client when this aborts. */
  signal?: AbortSignal;
}

/** Options for {@linkcode createIntroducerClient}. */
export interface IntroducerClientOptions
  extends Omit<IntroducerClientInit, "introducer" | "endpoint" | "ownsEndpoint"> {
  /**
   * The introducer: a socket address, or `host[:port]` text (port 8080 by default, as
   * Peer-Punch; IPv6 as `[addr]:port`). Names are resolved with the system resolver.
   */
  introducer: SocketAddr | string;
  /**
   * A shared endpoint to use (it is left open by `close()`). Without it, the client binds its
   * own (`0.0.0.0` for an IPv4 introducer, `::` for IPv6) and closes it.
   */
  endpoint?: UdpEndpoint;
}

interface Deferred<T> {
  promise: Promise<T>;
  resolve: (value: T) => void;
  reject: (error: unknown) => void;
}

function deferred<T>(): Deferred<T> {
  const d = Promise.withResolvers<T>();
  d.promise.catch(() => {});
  return d;
}

function samePeer(a: IntroducedPeer | null, b: IntroducedPeer): boolean {
  return a !== null && a.username === b.username &&
    formatSocketAddr(a.addr) === formatSocketAddr(b.addr);
}

/**
 * An introducer client on a shared UDP endpoint. Make one with
 * {@linkcode createIntroducerClient}, or with `new` when the introducer's address is known.
 *
 * @example Built on an existing endpoint
 * ```ts
 * import { IntroducerClient } from "./introducer.ts";
 * import { UdpEndpoint } from "../net/udp_endpoint.ts";
 * await using endpoint = UdpEndpoint.bind({ hostname: "127.0.0.1" });
 * const client = new IntroducerClient({
 *   endpoint, introducer: { family: "v4", ip: "127.0.0.1", port: 9 }, attempts: 1, attemptTimeoutMs: 20,
 * });
 * const error = await client.register("alice").catch((e) => e);
 * await client.close();
 * if (error.name !== "IntroducerTimeoutError" || endpoint.closed) throw new Error("Unexpected");
 * ```
 */
export class IntroducerClient implements AsyncDisposable {
  #endpoint: UdpEndpoint;
  #introducer: SocketAddr;
  #ownsEndpoint: boolean;
  #attempts: number;
  #attemptMs: number;
  #keepAliveMs: number;
  #subscription: Disposable;
  #closer = new AbortController();
  #signal: AbortSignal | undefined;
  #onAbort = (): void => void this.close();
  #username: string | null = null;
  #peer: IntroducedPeer | null = null;
  #pendingRegister: { name: string; done: Deferred<void> } | null = null;
  #pendingConnect: { target: string; done: Deferred<IntroducedPeer> } | null = null;
  #calls: IntroducedPeer[] = [];
  #wakers = new Set<() => void>();
  #keepAlive: ReturnType<typeof setInterval> | undefined;
  #heard = false;
  #silentTicks = 0;
  #dropped = 0;
  #closing: Promise<void> | null = null;

  /**
   * Start listening for the introducer's datagrams on `init.endpoint`.
   *
   * @example
   * ```ts
   * import { IntroducerClient } from "./introducer.ts";
   * import { UdpEndpoint } from "../net/udp_endpoint.ts";
   * await using endpoint = UdpEndpoint.bind({ hostname: "127.0.0.1" });
   * await using client = new IntroducerClient({ endpoint, introducer: { family: "v4", ip: "127.0.0.1", port: 8080 } });
   * if (client.username !== null) throw new Error("Registered already");
   * ```
   */
  constructor(init: IntroducerClientInit) {
    const {
      attempts = DEFAULT_INTRODUCER_ATTEMPTS,
      attemptTimeoutMs = DEFAULT_INTRODUCER_ATTEMPT_TIMEOUT_MS,
      keepAliveMs = DEFAULT_INTRODUCER_KEEPALIVE_MS,
    } = init;
    if (!(Number.isInteger(attempts) && attempts >= 1)) {
      throw new RangeError(`attempts is ${attempts}, it must be an integer >= 1`);
    }
    if (!(Number.isFinite(attemptTimeoutMs) && attemptTimeoutMs > 0)) {
      throw new RangeError(`attemptTimeoutMs is ${attemptTimeoutMs}, it must be > 0`);
    }
    if (!(Number.isFinite(keepAliveMs) && keepAliveMs >= 0)) {
      throw new RangeError(`keepAliveMs is ${keepAliveMs}, it must be >= 0`);
    }
    this.#endpoint = init.endpoint;
    this.#introducer = init.introducer;
    this.#ownsEndpoint = init.ownsEndpoint ?? false;
    this.#attempts = attempts;
    this.#attemptMs = attemptTimeoutMs;
    this.#keepAliveMs = keepAliveMs;
    this.#subscription = this.#endpoint.subscribe(this.#introducer, (d) => this.#receive(d.data));
    this.#signal = init.signal;
    if (this.#signal?.aborted) void this.close();
    else this.#signal?.addEventListener("abort", this.#onAbort, { once: true });
  }

  /**
   * The shared endpoint: use it for hole punching and the chat once a peer is known.
   *
   * @example
   * ```ts
   * import { createIntroducerClient } from "./introducer.ts";
   * await using client = await createIntroducerClient({ introducer: "127.0.0.1:9" });
   * if (client.endpoint.localAddr.family !== "v4") throw new Error("Wrong family");
   * ```
   */
  get endpoint(): UdpEndpoint {
    return this.#endpoint;
  }

  /**
   * The introducer's address.
   *
   * @example
   * ```ts
   * import { createIntroducerClient } from "./introducer.ts";
   * await using client = await createIntroducerClient({ introducer: "[::1]" });
   * if (client.introducer.port !== 8080) throw new Error("Wrong default port");
   * ```
   */
  get introducer(): SocketAddr {
    return this.#introducer;
  }

  /**
   * The name acknowledged by the introducer, or `null` before `register()` succeeds.
   *
   * @example
   * ```ts
   * import { createIntroducerClient } from "./introducer.ts";
   * await using client = await createIntroducerClient({ introducer: "127.0.0.1:9" });
   * if (client.username !== null) throw new Error("Not registered yet");
   * ```
   */
  get username(): string | null {
    return this.#username;
  }

  /**
   * The peer of the current session (from `connect()` or an incoming call), or `null` before
   * one and after {@linkcode IntroducerClient.finish}.
   *
   * @example
   * ```ts
   * import { createIntroducerClient } from "./introducer.ts";
   * await using client = await createIntroducerClient({ introducer: "127.0.0.1:9" });
   * if (client.peer !== null) throw new Error("No session yet");
   * ```
   */
  get peer(): IntroducedPeer | null {
    return this.#peer;
  }

  /**
   * Datagrams from the introducer's address that did not decode.
   *
   * @example
   * ```ts
   * import { createIntroducerClient } from "./introducer.ts";
   * await using client = await createIntroducerClient({ introducer: "127.0.0.1:9" });
   * if (client.dropped !== 0) throw new Error("Not zero");
   * ```
   */
  get dropped(): number {
    return this.#dropped;
  }

  #receive(data: Uint8Array): void {
    let message: PeerPunchMessage;
    try {
      message = decodePeerPunchMessage(data);
    } catch {
      this.#dropped++;
      return;
    }
    this.#heard = true;
    switch (message.type) {
      case "RegisterAck":
        this.#pendingRegister?.done.resolve();
        return;
      case "PeerInfo": {
        const peer: IntroducedPeer = { addr: message.peer, username: message.username };
        const pending = this.#pendingConnect;
        if (pending !== null && peer.username === pending.target) {
          this.#peer = peer;
          pending.done.resolve(peer);
          return;
        }
        // A repeat of the current session's introduction is not a new call.
        if (samePeer(this.#peer, peer)) return;
        this.#peer = peer;
        this.#calls.push(peer);
        if (this.#calls.length > MAX_QUEUED_CALLS) this.#calls.shift();
        this.#wake();
        return;
      }
      case "TargetNotFound":
        this.#pendingConnect?.done.reject(new TargetNotFoundError(this.#pendingConnect.target));
        return;
      case "TargetBusy":
        this.#pendingConnect?.done.reject(new TargetBusyError(this.#pendingConnect.target));
        return;
      default:
        return; // Pong, and what an introducer never sends
    }
  }

  #wake(): void {
    for (const wake of [...this.#wakers]) wake();
  }

  #send(message: PeerPunchMessage): Promise<void> {
    return this.#endpoint.send(encodePeerPunchMessage(message), this.#introducer);
  }

  #checkOpen(): void {
    if (this.#closer.signal.aborted) throw new IntroducerError("The introducer client is closed");
  }

  /** Send `message` until `done` settles, with growing waits; bounded by `attempts`. */
  async #exchange<T>(
    operation: "register" | "connect",
    message: PeerPunchMessage,
    done: Deferred<T>,
    signal: AbortSignal | undefined,
  ): Promise<T> {
    const stop = signal ? AbortSignal.any([signal, this.#closer.signal]) : this.#closer.signal;
    for (let attempt = 1; attempt <= this.#attempts; attempt++) {
      stop.throwIfAborted();
      await abortable(this.#send(message), stop);
      const wait = Math.min(
        this.#attemptMs * 2 ** (attempt - 1),
        MAX_INTRODUCER_ATTEMPT_TIMEOUT_MS,
      );
      try {
        return await deadline(done.promise, wait, { signal: stop });
      } catch (error) {
        if (!(error instanceof DeadlineError)) throw error;
      }
    }
    throw new IntroducerTimeoutError(operation, this.#attempts);
  }

  /**
   * Register `name` from this endpoint's address; resolves when the introducer acknowledges it
   * (`RegisterAck`), sending `Register` again when no answer comes. Registering again with the
   * same name is harmless; with another name it renames this client. Starts the keep-alive.
   *
   * @throws {RangeError} for a name outside peerlink's rule (see `isValidChatUsername`).
   * @throws {IntroducerTimeoutError} when no acknowledgement came: peerlink's introducer does
   * not answer a name that another address holds.
   *
   * @example
   * ```ts
   * import { createIntroducerClient } from "./introducer.ts";
   * await using client = await createIntroducerClient({ introducer: "127.0.0.1:9" });
   * const error = await client.register("not a name").catch((e) => e);
   * if (!(error instanceof RangeError)) throw new Error("Invalid name accepted");
   * ```
   */
  async register(name: string, options: IntroducerRequestOptions = {}): Promise<void> {
    if (!isValidChatUsername(name)) {
      throw new RangeError(
        `Username ${
          JSON.stringify(name)
        } is invalid: use 1 to 32 letters, digits, "_", "." or "-", starting with a letter or digit`,
      );
    }
    this.#checkOpen();
    if (this.#pendingRegister !== null) {
      throw new IntroducerError("A register() call is already in progress");
    }
    const done = deferred<void>();
    this.#pendingRegister = { name, done };
    try {
      await this.#exchange("register", { type: "Register", username: name }, done, options.signal);
    } finally {
      this.#pendingRegister = null;
    }
    this.#username = name;
    this.#startKeepAlive();
  }

  /**
   * Ask the introducer to introduce this client to `target`; resolves with the target's address
   * and name (`PeerInfo`). The target is told about this client at the same time, and both are
   * busy until one of them calls {@linkcode IntroducerClient.finish}.
   *
   * @throws {TargetNotFoundError} when no one has that name (or this client's registration
   * lapsed).
   * @throws {TargetBusyError} when the target, or this client, is in a session.
   * @throws {IntroducerTimeoutError} when no answer came.
   *
   * @example
   * ```ts
   * import { createIntroducerClient } from "./introducer.ts";
   * await using client = await createIntroducerClient({ introducer: "127.0.0.1:9" });
   * const error = await client.connect("bob").catch((e) => e);
   * if (!error.message.includes("register()")) throw new Error("Connected unregistered");
   * ```
   */
  async connect(target: string, options: IntroducerRequestOptions = {}): Promise<IntroducedPeer> {
    this.#checkOpen();
    if (this.#username === null) throw new IntroducerError("Call register() before connect()");
    if (this.#pendingConnect !== null) {
      throw new IntroducerError("A connect() call is already in progress");
    }
    const done = deferred<IntroducedPeer>();
    this.#pendingConnect = { target, done };
    try {
      return await this.#exchange(
        "connect",
        { type: "Connect", targetUsername: target },
        done,
        options.signal,
      );
    } finally {
      this.#pendingConnect = null;
    }
  }

  /**
   * Peers that asked the introducer to meet this client (a `PeerInfo` that answers no
   * `connect()`), in arrival order. Ends when the client closes; rejects with the signal's
   * reason when it aborts. Calls that arrive while no one iterates are queued (at most 32).
   *
   * @example
   * ```ts
   * import { createIntroducerClient } from "./introducer.ts";
   * await using client = await createIntroducerClient({ introducer: "127.0.0.1:9" });
   * const error = await client.incoming({ signal: AbortSignal.timeout(10) })[Symbol.asyncIterator]().next()
   *   .catch((e) => e);
   * if (error.name !== "TimeoutError") throw new Error("Expected a timeout");
   * ```
   */
  async *incoming(options: IntroducerRequestOptions = {}): AsyncGenerator<IntroducedPeer> {
    const { signal } = options;
    for (;;) {
      signal?.throwIfAborted();
      const next = this.#calls.shift();
      if (next !== undefined) {
        yield next;
        continue;
      }
      if (this.#closer.signal.aborted) return;
      let wake!: () => void;
      const woken = new Promise<void>((resolve) => (wake = resolve));
      this.#wakers.add(wake);
      try {
        await abortable(woken, signal);
      } finally {
        this.#wakers.delete(wake);
      }
    }
  }

  /**
   * Tell the introducer this client's session is over (`SessionFinished`), so both sides can be
   * introduced again. peerlink's introducer frees both sides; one datagram is sent, and the
   * introducer's busy timeout covers its loss.
   *
   * @example
   * ```ts
   * import { createIntroducerClient } from "./introducer.ts";
   * await using client = await createIntroducerClient({ introducer: "127.0.0.1:9" });
   * await client.finish();
   * if (client.peer !== null) throw new Error("Session kept");
   * ```
   */
  async finish(options: IntroducerRequestOptions = {}): Promise<void> {
    this.#checkOpen();
    this.#peer = null;
    await abortable(this.#send({ type: "SessionFinished" }), options.signal);
  }

  #startKeepAlive(): void {
    if (this.#keepAliveMs === 0 || this.#keepAlive !== undefined) return;
    this.#heard = true;
    this.#keepAlive = setInterval(() => {
      const name = this.#username;
      if (name === null || this.#closer.signal.aborted) return;
      this.#silentTicks = this.#heard ? 0 : this.#silentTicks + 1;
      this.#heard = false;
      // Two keep-alives without any answer: the introducer may have forgotten this client
      // (restart, expiry); registering again is harmless when it has not.
      const message: PeerPunchMessage = this.#silentTicks >= 2
        ? { type: "Register", username: name }
        : { type: "Ping" };
      this.#send(message).catch(() => {});
    }, this.#keepAliveMs);
  }

  /**
   * Stop: the keep-alive ends, pending requests reject, `incoming()` iterations end, and the
   * endpoint is closed if this client made it. Sends nothing; call
   * {@linkcode IntroducerClient.finish} first to end a session.
   *
   * @example
   * ```ts
   * import { createIntroducerClient } from "./introducer.ts";
   * const client = await createIntroducerClient({ introducer: "127.0.0.1:9" });
   * await client.close();
   * if (!client.endpoint.closed) throw new Error("Own endpoint left open");
   * ```
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#closer.abort(new IntroducerError("The introducer client is closed"));
      this.#signal?.removeEventListener("abort", this.#onAbort);
      clearInterval(this.#keepAlive);
      this.#subscription[Symbol.dispose]();
      this.#wake();
      if (this.#ownsEndpoint) await this.#endpoint.close();
    })();
    return this.#closing;
  }

  /**
   * Same as {@linkcode IntroducerClient.close}, for `await using`.
   *
   * @example
   * ```ts
   * import { createIntroducerClient } from "./introducer.ts";
   * { await using _client = await createIntroducerClient({ introducer: "127.0.0.1:9" }); }
   * ```
   */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

function canUse(endpoint: UdpEndpoint | undefined, family: "v4" | "v6"): boolean {
  if (endpoint === undefined) return true;
  const local = endpoint.localAddr;
  if (local.family === "v4") return family === "v4";
  // A dual-stack wildcard reaches both families; a specific IPv6 address only IPv6.
  return family === "v6" || local.ip === "::";
}

async function resolveIntroducer(
  text: string,
  endpoint: UdpEndpoint | undefined,
  signal: AbortSignal | undefined,
): Promise<SocketAddr> {
  let hostname: string;
  let port: number;
  try {
    ({ hostname, port } = parseServerAddress(text, DEFAULT_PEER_PUNCH_PORT));
  } catch (error) {
    throw new TypeError((error as Error).message.replace("server address", "introducer address"));
  }
  const candidates = await resolveHost(hostname, signal);
  for (const { ip } of candidates) {
    const addr = toSocketAddr(ip, port);
    if (addr !== null && canUse(endpoint, addr.family)) return addr;
  }
  throw new IntroducerError(
    candidates.length === 0
      ? `Cannot resolve the introducer ${JSON.stringify(hostname)}`
      : `The introducer ${JSON.stringify(hostname)} has no address this endpoint can reach`,
  );
}

/**
 * Make an introducer client: resolve the introducer, bind an endpoint unless one is given, and
 * start listening. Nothing is sent until `register()`.
 *
 * @example
 * ```ts
 * import { createIntroducerClient } from "./introducer.ts";
 * await using client = await createIntroducerClient({ introducer: "localhost:8080" });
 * if (client.introducer.ip !== "127.0.0.1") throw new Error("Wrong address");
 * ```
 */
export async function createIntroducerClient(
  options: IntroducerClientOptions,
): Promise<IntroducerClient> {
  const { introducer, endpoint, ...rest } = options;
  options.signal?.throwIfAborted();
  const addr = typeof introducer === "string"
    ? await resolveIntroducer(introducer, endpoint, options.signal)
    : introducer;
  if (endpoint !== undefined && !canUse(endpoint, addr.family)) {
    throw new IntroducerError(
      `The endpoint ${formatSocketAddr(endpoint.localAddr)} cannot reach ${formatSocketAddr(addr)}`,
    );
  }
  const own = endpoint ?? UdpEndpoint.bind({ hostname: addr.family === "v4" ? "0.0.0.0" : "::" });
  try {
    return new IntroducerClient({
      ...rest,
      endpoint: own,
      introducer: addr,
      ownsEndpoint: endpoint === undefined,
    });
  } catch (error) {
    if (endpoint === undefined) await own.close();
    throw error;
  }
}
