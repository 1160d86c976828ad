/**
 * The receiver's side of the broker: {@linkcode listenBroker} registers a UID, keeps the
 * registration alive, reconnects with backoff when the broker goes away, and yields each
 * incoming connection.
 *
 * Per incoming request (p2prs steps 2–12, see `protocol/broker.ts`):
 *
 * - **3–5**: open R1 to the broker from a random reusable local port (`PORT_RECEIVER`), send
 *   `accept`, read the sender's public address (4), close R1 (5).
 * - **6–7**: connect from `PORT_RECEIVER` to the sender's public address. The SYN creates this
 *   side's NAT mapping towards the sender; the sender's NAT drops it, so the connect would hang
 *   for about two minutes: it is aborted after `punchAbortMs` (250 ms), or ends at once when a
 *   RST comes back ("refused", e.g. a sender without NAT). Linux lets the socket bind
 *   `PORT_RECEIVER` again only because every connection here sets `SO_REUSEADDR` (R1 is in
 *   `TIME_WAIT` after step 5).
 * - **8**: listen on `PORT_RECEIVER` (the step-6 socket is closed first: Deno cannot bind a port
 *   a listener holds, and vice versa).
 * - **9**: "finished hole punch" on a new connection R2 (any local port).
 * - **12**: accept the sender's connection, check its `hello`, report `done` to the broker.
 * - **fallback**: when the broker relays `fallback_start`, close the listener and run the TCP
 *   simultaneous open of `punch/tcp.ts` from `PORT_RECEIVER` to the sender's new address.
 *
 * Failures of one incoming request never end the receiver: they are reported to `onEvent` (as
 * typed errors) and to the broker. Only a UID taken by someone else (`UidHeldError`,
 * `UidReplacedError`), another protocol version, or {@linkcode BrokerReceiver.close} end it.
 *
 * @module
 */

import { fromDenoConn } from "../net/deno_conn.ts";
import { delay } from "../async/delay.ts";
import { connectTcp, type TcpConnection } from "../net/tcp.ts";
import { punchTcp } from "../punch/tcp.ts";
import {
  type BrokerErrorCode,
  type BrokerFamily,
  type BrokerHelloMsg,
  type BrokerMessage,
  type BrokerRegisteredMsg,
  type BrokerStep6Outcome,
  type BrokerVia,
  isValidBrokerUid,
  MAX_BROKER_SECRET_BYTES,
} from "../protocol/broker.ts";
import { formatSocketAddr, type SocketAddr } from "../protocol/socket_addr.ts";
import {
  BrokerError,
  BrokerRefusedError,
  BrokerStepTimeoutError,
  BrokerUnreachableError,
} from "./broker_errors.ts";
import {
  BrokerChannel,
  type BrokerConnection,
  brokerConnection,
  brokerErrorFor,
  type BrokerTarget,
  connectBroker,
  connectFailure,
  exchangeHello,
  protocolErrorFor,
  resolveBroker,
  stepDeadline,
} from "./broker_link.ts";
import type { ServerAddress } from "./server_address.ts";

/** Progress of a {@linkcode BrokerReceiver}, for status lines and tests. */
export type BrokerReceiverEvent =
  | { kind: "registered"; addr: SocketAddr; keepAliveMs: number; timeoutMs: number }
  | { kind: "disconnected"; error: Error }
  | { kind: "reconnecting"; attempt: number; delayMs: number }
  | { kind: "request"; req: number }
  | { kind: "step"; req: number; step: number | "fallback"; detail: string }
  | { kind: "connected"; req: number; via: BrokerVia; remote: SocketAddr }
  | { kind: "failed"; req: number; error: Error };

/** Options for {@linkcode listenBroker}. */
export interface BrokerListenOptions {
  /** The broker, `host[:port]` (default port 2314) or an address. */
  server: string | ServerAddress;
  /** The UID to register: 1–64 letters, digits, `.`, `_`, `-`. */
  uid: string;
  /** Protects the UID: registering it again (after a restart) needs the same secret. */
  secret?: string;
  /** Reach the broker over this IP family only. @default {IPv4 first, then IPv6} */
  family?: BrokerFamily;
  /** Keep-alive interval. @default {what the broker says, 30 s} */
  keepAliveMs?: number;
  /** Treat the broker as dead after this long without a message. @default {what the broker says, 65 s} */
  brokerTimeoutMs?: number;
  /** First reconnection delay; it doubles up to `reconnectMaxMs`, with jitter. @default {500} */
  reconnectMinMs?: number;
  /** Longest reconnection delay. @default {30000} */
  reconnectMaxMs?: number;
  /** Give up on opening a connection to the broker after this long. @default {5000} */
  connectTimeoutMs?: number;
  /** How long to wait for each step of a request. @default {10000} */
  stepTimeoutMs?: number;
  /** Abort the step-6 connect after this long. @default {250} */
  punchAbortMs?: number;
  /** How long the fallback punch may take. @default {10000} */
  punchTimeoutMs?: number;
  /** Requests in progress plus connections not yet taken, above which requests are declined. @default {4} */
  maxPending?: number;
  /** Stops the receiver (as {@linkcode BrokerReceiver.close} does). */
  signal?: AbortSignal;
  /** Told about registrations, reconnections and each request's steps and outcome. */
  onEvent?: (event: BrokerReceiverEvent) => void;
}

/** A registered receiver: an async iterable of incoming connections. */
export interface BrokerReceiver extends AsyncIterable<BrokerConnection>, AsyncDisposable {
  /** The registered UID. */
  readonly uid: string;
  /** Whether the registration is live now (false while reconnecting). */
  readonly registered: boolean;
  /** This receiver's public address on its registration, as the broker saw it last. */
  readonly publicAddr: SocketAddr | null;
  /**
   * The next incoming connection.
   *
   * @throws the error that ended the receiver, or a `BrokerError` (code `closed`) once closed.
   */
  accept(options?: { signal?: AbortSignal }): Promise<BrokerConnection>;
  /** Send `kill`, close the registration, end the iteration; resolves when all is closed. */
  close(): Promise<void>;
}

interface Flow {
  readonly req: number;
  readonly token: string;
  readonly abort: AbortController;
  fallback: ((addr: SocketAddr) => void) | null;
}

/** A live registration connection. */
interface Session {
  channel: BrokerChannel;
  conn: TcpConnection;
  ack: BrokerRegisteredMsg;
}

const HELLO_TIMEOUT_MS = 5000;
/** Errors after which registering again cannot help. */
const FATAL = new Set(["uid_held", "replaced", "version"]);

class Receiver implements BrokerReceiver {
  readonly uid: string;
  #options: BrokerListenOptions;
  #targets: BrokerTarget[] = [];
  #target: BrokerTarget | null = null;
  #channel: BrokerChannel | null = null;
  #conn: TcpConnection | null = null;
  #publicAddr: SocketAddr | null = null;
  #queue: BrokerConnection[] = [];
  #takers: { resolve: (c: BrokerConnection) => void; reject: (e: unknown) => void }[] = [];
  #ended: Error | null = null;
  #flows = new Map<number, Flow>();
  #flowTasks = new Set<Promise<void>>();
  #stop = new AbortController();
  #loop: Promise<void> | null = null;
  #closing: Promise<void> | null = null;
  #onSignal: (() => void) | null = null;

  constructor(options: BrokerListenOptions) {
    this.uid = options.uid;
    this.#options = options;
  }

  get registered(): boolean {
    return this.#channel !== null;
  }

  get publicAddr(): SocketAddr | null {
    return this.#publicAddr;
  }

  #emit(event: BrokerReceiverEvent): void {
    try {
      this.#options.onEvent?.(event);
    } catch { /* a listener's bug is not ours */ }
  }

  /** Register once; then keep the registration alive in the background. */
  async start(): Promise<void> {
    const signal = this.#options.signal;
    if (signal) {
      signal.throwIfAborted();
      this.#onSignal = () => void this.close();
      signal.addEventListener("abort", this.#onSignal, { once: true });
    }
    let first: Session;
    try {
      this.#targets = await resolveBroker(this.#options.server, this.#options.family);
      first = await this.#register();
    } catch (error) {
      if (this.#onSignal) signal?.removeEventListener("abort", this.#onSignal);
      if (signal?.aborted) throw signal.reason;
      throw error;
    }
    this.#loop = this.#run(first);
  }

  /** Connect to the first reachable broker address and register. */
  async #register(): Promise<Session> {
    let lastError: unknown;
    for (const target of this.#targets) {
      let conn: TcpConnection;
      try {
        conn = await connectBroker(target, {
          timeoutMs: this.#options.connectTimeoutMs ?? 5000,
          signal: this.#stop.signal,
        });
      } catch (error) {
        lastError = error;
        if (this.#stop.signal.aborted) throw error;
        continue;
      }
      try {
        const channel = new BrokerChannel(conn);
        await channel.send({
          type: "register",
          uid: this.uid,
          ...(this.#options.secret !== undefined ? { secret: this.#options.secret } : {}),
        });
        const reply = await stepDeadline(
          channel.read(this.#stop.signal).catch((error) => {
            throw protocolErrorFor(error);
          }),
          this.#options.connectTimeoutMs ?? 5000,
          0,
          "the broker did not acknowledge the registration",
          this.#stop.signal,
        ).catch((error) => {
          throw error instanceof BrokerStepTimeoutError
            ? new BrokerRefusedError("timeout", "The broker did not acknowledge the registration")
            : error;
        });
        if (reply === null) {
          throw new BrokerRefusedError("closed", "The broker closed the registration");
        }
        if (reply.type === "error") throw brokerErrorFor(reply, { uid: this.uid });
        if (reply.type !== "registered") {
          throw protocolErrorFor(new Error(`expected registered, got ${reply.type}`));
        }
        this.#target = target;
        return { channel, conn, ack: reply };
      } catch (error) {
        conn.close();
        throw error;
      }
    }
    throw lastError ?? new BrokerUnreachableError(this.#targets[0]?.label ?? "?");
  }

  /** Serve registrations until closed, reconnecting with backoff. */
  async #run(first: Session): Promise<void> {
    let current: Session | null = first;
    let attempt = 0;
    const minMs = this.#options.reconnectMinMs ?? 500;
    const maxMs = this.#options.reconnectMaxMs ?? 30_000;
    while (!this.#stop.signal.aborted) {
      if (current === null) {
        attempt++;
        const base = Math.min(maxMs, minMs * 2 ** Math.min(attempt - 1, 30));
        const delayMs = Math.round(base * (0.5 + Math.random() / 2));
        this.#emit({ kind: "reconnecting", attempt, delayMs });
        try {
          await delay(delayMs, { signal: this.#stop.signal });
          current = await this.#register();
        } catch (error) {
          if (this.#stop.signal.aborted) break;
          if (error instanceof BrokerError && FATAL.has(error.code)) {
            this.#end(error);
            break;
          }
          this.#emit({ kind: "disconnected", error: error as Error });
          continue;
        }
      }
      attempt = 0;
      const error = await this.#serve(current);
      current = null;
      if (this.#stop.signal.aborted) break;
      if (error instanceof BrokerError && FATAL.has(error.code)) {
        this.#end(error);
        break;
      }
      this.#emit({ kind: "disconnected", error });
    }
  }

  /** One live registration: keep-alives, dead-broker detection, requests. */
  async #serve(session: Session): Promise<Error> {
    const { channel, conn, ack } = session;
    const keepAliveMs = this.#options.keepAliveMs ?? ack.keepaliveMs;
    const timeoutMs = this.#options.brokerTimeoutMs ?? ack.timeoutMs;
    this.#channel = channel;
    this.#conn = conn;
    this.#publicAddr = ack.addr;
    this.#emit({ kind: "registered", addr: ack.addr, keepAliveMs, timeoutMs });
    let lastHeard = Date.now();
    let dead: Error | null = null;
    const keepAlive = setInterval(() => void channel.send({ type: "keepalive" }), keepAliveMs);
    let watchdog: ReturnType<typeof setTimeout>;
    const check = (): void => {
      const left = lastHeard + timeoutMs - Date.now();
      if (left > 0) {
        watchdog = setTimeout(check, left);
        return;
      }
      dead = new BrokerRefusedError(
        "closed",
        `The broker sent nothing for ${timeoutMs} ms; reconnecting`,
      );
      conn.close();
    };
    watchdog = setTimeout(check, timeoutMs);
    const onStop = (): void => conn.close();
    this.#stop.signal.addEventListener("abort", onStop, { once: true });
    try {
      for (;;) {
        let msg: BrokerMessage | null;
        try {
          msg = await channel.read();
        } catch (error) {
          return protocolErrorFor(error);
        }
        if (msg === null) {
          return dead ?? new BrokerRefusedError("closed", "The broker closed the registration");
        }
        lastHeard = Date.now();
        switch (msg.type) {
          case "keepalive_ack":
            break;
          case "request":
            this.#startFlow(msg.req, msg.token);
            break;
          case "fallback_start":
            this.#flows.get(msg.req)?.fallback?.(msg.addr);
            break;
          case "abort": {
            const flow = this.#flows.get(msg.req);
            flow?.abort.abort(brokerErrorFor(msg, { uid: this.uid, req: msg.req }));
            break;
          }
          case "error":
            return brokerErrorFor(msg, { uid: this.uid });
          default:
            return protocolErrorFor(new Error(`unexpected ${msg.type} on the registration`));
        }
      }
    } finally {
      clearInterval(keepAlive);
      clearTimeout(watchdog!);
      this.#stop.signal.removeEventListener("abort", onStop);
      if (this.#channel === channel) {
        this.#channel = null;
        this.#conn = null;
      }
      conn.close();
    }
  }

  #startFlow(req: number, token: string): void {
    this.#emit({ kind: "request", req });
    const max = this.#options.maxPending ?? 4;
    if (this.#flows.size + this.#queue.length >= max || this.#ended !== null) {
      void this.#channel?.send({ type: "decline", req });
      return;
    }
    const flow: Flow = { req, token, abort: new AbortController(), fallback: null };
    this.#flows.set(req, flow);
    const task = this.#runFlow(flow).catch((error) => {
      // The broker ended the request (e.g. the sender left): report its reason, not the symptom.
      throw flow.abort.signal.aborted ? flow.abort.signal.reason : error;
    }).then(
      (conn) => {
        this.#flows.delete(req);
        void this.#channel?.send({ type: "done", req, via: conn.via });
        this.#emit({ kind: "connected", req, via: conn.via, remote: conn.remoteAddr });
        this.#deliver(conn);
      },
      (error) => {
        this.#flows.delete(req);
        const code: BrokerErrorCode = error instanceof BrokerError &&
            error.code !== "protocol" && error.code !== "closed" && error.code !== "peer" &&
            error.code !== "unreachable"
          ? error.code
          : error?.name === "NoDirectPathError"
          ? "no_path"
          : "timeout";
        if (!flow.abort.signal.aborted) {
          void this.#channel?.send({ type: "done", req, error: code });
        }
        this.#emit({ kind: "failed", req, error: error as Error });
      },
    );
    this.#flowTasks.add(task);
    task.finally(() => this.#flowTasks.delete(task));
  }

  async #runFlow(flow: Flow): Promise<BrokerConnection> {
    const { req, token } = flow;
    const signal = AbortSignal.any([flow.abort.signal, this.#stop.signal]);
    const stepMs = this.#options.stepTimeoutMs ?? 10_000;
    const target = this.#target!;
    const step = (n: number | "fallback", detail: string): void =>
      this.#emit({ kind: "step", req, step: n, detail });
    const failed = (error: unknown): never => {
      if (signal.aborted) throw signal.reason;
      throw error;
    };

    // Steps 3–5 on R1, from a reusable port: PORT_RECEIVER.
    const r1 = await connectBroker(target, {
      reusable: true,
      timeoutMs: this.#options.connectTimeoutMs ?? 5000,
      signal,
    }).catch(failed);
    const local = r1.localAddr;
    let senderAddr: SocketAddr;
    try {
      const channel = new BrokerChannel(r1);
      await channel.send({ type: "accept", req, token });
      step(3, `acknowledged from ${formatSocketAddr(local)}`);
      const reply = await stepDeadline(
        channel.read(signal).catch((error) => failed(protocolErrorFor(error))),
        stepMs,
        4,
        "the broker did not send the sender's address",
        signal,
      ).catch(failed);
      if (reply === null) {
        throw new BrokerRefusedError("closed", "The broker closed R1 before step 4");
      }
      if (reply.type === "error") throw brokerErrorFor(reply, { uid: this.uid, req, step: 4 });
      if (reply.type !== "sender") {
        throw protocolErrorFor(new Error(`expected the sender's address, got ${reply.type}`));
      }
      senderAddr = reply.addr;
      step(4, `sender at ${formatSocketAddr(senderAddr)}; this side is ${fmt(reply.you)}`);
    } finally {
      r1.close(); // step 5
    }
    step(5, "R1 closed");

    // Steps 6–7: a SYN from PORT_RECEIVER to the sender, aborted quickly.
    let step6: BrokerStep6Outcome;
    try {
      const probe = await connectTcp({
        hostname: senderAddr.ip,
        port: senderAddr.port,
        localAddress: local.ip,
        localPort: local.port,
        timeoutMs: this.#options.punchAbortMs ?? 250,
        signal,
      });
      probe.close();
      step6 = "connected";
    } catch (error) {
      if (signal.aborted) throw signal.reason;
      const kind = connectFailure(error);
      step6 = kind === "cancelled" ? "error" : kind;
    }
    step(6, `connect from ${fmt(local)} to ${fmt(senderAddr)}`);
    step(7, `the connect ended: ${step6}`);

    // Step 8: listen on PORT_RECEIVER.
    let listener: Deno.Listener;
    try {
      listener = Deno.listen({ hostname: local.ip, port: local.port });
    } catch (error) {
      throw new BrokerError(
        "closed",
        `Cannot listen on ${fmt(local)}: ${(error as Error).message}`,
        {
          cause: error,
        },
      );
    }
    step(8, `listening on ${fmt(local)}`);
    let listening = true;
    const stopListening = (): void => {
      if (!listening) return;
      listening = false;
      try {
        listener.close();
      } catch { /* closed */ }
    };
    const hello: BrokerHelloMsg = { type: "hello", req, token, role: "receiver" };
    try {
      let fallbackAddr!: (addr: SocketAddr) => void;
      const fallback = new Promise<SocketAddr>((resolve) => (fallbackAddr = resolve));
      flow.fallback = (addr) => fallbackAddr(addr);
      const accepted = this.#acceptGreeted(listener, hello, signal);
      accepted.catch(() => {});

      // Step 9: "finished hole punch" on R2 (any local port).
      const r2 = await connectBroker(target, {
        timeoutMs: this.#options.connectTimeoutMs ?? 5000,
        signal,
      }).catch(failed);
      try {
        const channel = new BrokerChannel(r2);
        await channel.send({ type: "punched", req, token, step6 });
        step(9, "finished hole punch sent");
        const reply = await stepDeadline(channel.read(signal), stepMs, 9, "", signal)
          .catch(() => null);
        if (reply?.type === "error") throw brokerErrorFor(reply, { uid: this.uid, req, step: 9 });
      } finally {
        r2.close();
      }

      // Step 12, or the fallback.
      const aborted = new Promise<never>((_, reject) => {
        if (signal.aborted) reject(signal.reason);
        signal.addEventListener("abort", () => reject(signal.reason), { once: true });
      });
      aborted.catch(() => {});
      const outcome = await stepDeadline(
        Promise.race([
          accepted.then((r) => ({ kind: "accepted" as const, ...r })),
          fallback.then((addr) => ({ kind: "fallback" as const, addr })),
          aborted,
        ]),
        stepMs,
        12,
        "the sender neither connected nor asked for the fallback",
        signal,
      ).catch((error) => {
        accepted.then((late) => late.tcp.close(), () => {});
        return failed(error);
      });
      if (outcome.kind === "accepted") {
        stopListening();
        step(12, `connection from ${fmt(outcome.tcp.remoteAddr)}`);
        return brokerConnection(outcome.tcp, outcome.readable, {
          via: "twelve-step",
          requestId: req,
          uid: this.uid,
          role: "receiver",
        });
      }
      stopListening();
      accepted.then((late) => late.tcp.close(), () => {}); // a greeting too late to count
      step("fallback", `simultaneous open from ${fmt(local)} to ${fmt(outcome.addr)}`);
      const result = await punchTcp<ReadableStream<Uint8Array>>({
        pairs: [{ local, remote: outcome.addr, kind: "public" }],
        listenFirst: false,
        timeoutMs: this.#options.punchTimeoutMs ?? 10_000,
        signal,
        authenticate: async (conn, _pair, context) => {
          const readable = await exchangeHello(conn, hello, {
            timeoutMs: HELLO_TIMEOUT_MS,
            signal: context.signal,
          });
          if (!context.claim()) throw new Error("Another connection won");
          return readable;
        },
      }).catch(failed);
      return brokerConnection(result.conn, result.value, {
        via: "simultaneous-open",
        requestId: req,
        uid: this.uid,
        role: "receiver",
      });
    } finally {
      stopListening();
    }
  }

  /** Accept on `listener` until a connection greets with the right `hello`. */
  async #acceptGreeted(
    listener: Deno.Listener,
    hello: BrokerHelloMsg,
    signal: AbortSignal,
  ): Promise<{ tcp: TcpConnection; readable: ReadableStream<Uint8Array> }> {
    for (;;) {
      const tcp = fromDenoConn(await listener.accept());
      try {
        const readable = await exchangeHello(tcp, hello, { timeoutMs: HELLO_TIMEOUT_MS, signal });
        return { tcp, readable };
      } catch {
        tcp.close();
        if (signal.aborted) throw signal.reason;
      }
    }
  }

  #deliver(conn: BrokerConnection): void {
    const taker = this.#takers.shift();
    if (taker) taker.resolve(conn);
    else if (this.#ended !== null) conn.close();
    else this.#queue.push(conn);
  }

  #end(error: Error): void {
    if (this.#ended !== null) return;
    this.#ended = error;
    for (const taker of this.#takers.splice(0)) taker.reject(error);
  }

  accept(options: { signal?: AbortSignal } = {}): Promise<BrokerConnection> {
    const queued = this.#queue.shift();
    if (queued) return Promise.resolve(queued);
    if (this.#ended !== null) return Promise.reject(this.#ended);
    const { signal } = options;
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise((resolve, reject) => {
      const taker = {
        resolve: (c: BrokerConnection) => {
          signal?.removeEventListener("abort", onAbort);
          resolve(c);
        },
        reject: (e: unknown) => {
          signal?.removeEventListener("abort", onAbort);
          reject(e);
        },
      };
      const onAbort = (): void => {
        this.#takers = this.#takers.filter((t) => t !== taker);
        reject(signal!.reason);
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#takers.push(taker);
    });
  }

  async *[Symbol.asyncIterator](): AsyncIterator<BrokerConnection> {
    for (;;) {
      let conn: BrokerConnection;
      try {
        conn = await this.accept();
      } catch (error) {
        if (error instanceof BrokerError && error.code === "closed" && this.#stop.signal.aborted) {
          return;
        }
        throw error;
      }
      yield conn;
    }
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      const channel = this.#channel;
      if (channel !== null) {
        const grace = new AbortController();
        await Promise.race([
          channel.send({ type: "kill" }),
          delay(1000, { signal: grace.signal }).catch(() => {}),
        ]);
        grace.abort();
      }
      if (this.#onSignal) this.#options.signal?.removeEventListener("abort", this.#onSignal);
      this.#stop.abort(new BrokerError("closed", "The receiver was closed"));
      this.#end(new BrokerError("closed", "The receiver was closed"));
      this.#conn?.close();
      await this.#loop?.catch(() => {});
      await Promise.allSettled([...this.#flowTasks]);
      for (const conn of this.#queue.splice(0)) conn.close();
    })();
    return this.#closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

function fmt(addr: SocketAddr): string {
  return formatSocketAddr(addr);
}

/**
 * Register `uid` at a broker and receive connections: resolves once the broker acknowledged the
 * registration, then keeps it alive (reconnecting with backoff) until closed.
 *
 * @throws {UidHeldError} when another receiver holds the UID and the secret does not match.
 * @throws {BrokerUnreachableError} when the broker cannot be reached.
 * @throws {BrokerVersionMismatchError} when the broker speaks another protocol version.
 * @throws {RangeError} for an invalid UID or secret.
 *
 * @example Receive one connection
 * ```ts
 * import { dialBroker, listenBroker } from "./broker.ts";
 * import { BrokerService } from "../server/services/broker.ts";
 * import { startServer } from "../server/server.ts";
 * import { silentLogger } from "../server/logger.ts";
 * const broker = new BrokerService({ port: 0 });
 * await using server = await startServer({
 *   hostname: "127.0.0.1", gdayPort: null, logger: silentLogger, services: [broker.factory],
 * });
 * const address = `127.0.0.1:${server.listeners[0]!.addr.port}`;
 * await using receiver = await listenBroker({ server: address, uid: "bob", secret: "s3cret" });
 * const sender = dialBroker({ server: address, uid: "bob" });
 * for await (const conn of receiver) {
 *   const writer = conn.writable.getWriter();
 *   await writer.write(new TextEncoder().encode("hi"));
 *   await writer.close();
 *   conn.close();
 *   break;
 * }
 * const conn = await sender;
 * if ((await new Response(conn.readable).text()) !== "hi") throw new Error("Nothing received");
 * conn.close();
 * ```
 */
export async function listenBroker(options: BrokerListenOptions): Promise<BrokerReceiver> {
  if (!isValidBrokerUid(options.uid)) {
    throw new RangeError(
      `Cannot register "${options.uid}": a UID is 1 to 64 letters, digits, ".", "_" or "-", ` +
        "starting with a letter or digit",
    );
  }
  if (options.secret !== undefined) {
    const bytes = new TextEncoder().encode(options.secret).length;
    if (bytes < 1 || bytes > MAX_BROKER_SECRET_BYTES) {
      throw new RangeError(
        `Cannot register: the secret is ${bytes} bytes, it must be 1 to ${MAX_BROKER_SECRET_BYTES}`,
      );
    }
  }
  for (
    const name of [
      "keepAliveMs",
      "brokerTimeoutMs",
      "reconnectMinMs",
      "reconnectMaxMs",
      "stepTimeoutMs",
      "punchAbortMs",
      "punchTimeoutMs",
      "maxPending",
    ] as const
  ) {
    const value = options[name];
    if (value !== undefined && !(value > 0)) {
      throw new RangeError(`Cannot register: ${name} is ${value}, it must be > 0`);
    }
  }
  const receiver = new Receiver(options);
  await receiver.start();
  return receiver;
}
