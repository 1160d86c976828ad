/**
 * The sender's side of the broker's twelve-step flow: {@linkcode dialBroker} connects to a
 * receiver by its UID.
 *
 * 1. **S1**: connect to the broker from a random local port that can be bound again, and send
 *    `connect` (step 1). S1 stays open while the broker runs steps 2–9 with the receiver.
 * 2. Read the receiver's public address (step 10); the broker then closes S1 (step 11). Waiting
 *    for the broker to close first means this side has no `TIME_WAIT` on the port.
 * 3. **Step 12**: connect from S1's exact local address and port (p2prs never says so, but the
 *    receiver's NAT only lets in a SYN from the address and port its step-6 SYN went to, so the
 *    sender must bind that port, and its NAT must map it to the same public port again), then
 *    exchange `hello`s to check the peer is the one the broker introduced.
 * 4. **Fallback**: when step 12 fails (timeout, refused, wrong `hello`), ask the broker on a new
 *    connection S2 (from a new reusable port), then run the TCP simultaneous open of
 *    `punch/tcp.ts` from S2's port to the receiver's public address while the receiver does
 *    the same towards S2's public address. The new port matters: the failed attempt left NAT
 *    state for the old pair of ports in which the new SYNs would be dropped.
 *
 * The result says which happened: `via: "twelve-step"` or `via: "simultaneous-open"`.
 *
 * @module
 */

import { punchTcp } from "../punch/tcp.ts";
import type { TcpConnection } from "../net/tcp.ts";
import { connectTcp } from "../net/tcp.ts";
import {
  type BrokerFallbackReadyMsg,
  type BrokerFamily,
  type BrokerHelloMsg,
  type BrokerReceiverMsg,
  type BrokerStep12Failure,
  isValidBrokerUid,
} from "../protocol/broker.ts";
import { formatSocketAddr, type SocketAddr } from "../protocol/socket_addr.ts";
import { BrokerError, BrokerRefusedError, BrokerStepTimeoutError } from "./broker_errors.ts";
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

/** Progress of {@linkcode dialBroker}, for status lines. */
export type BrokerDialEvent =
  | { kind: "step"; step: number | "fallback"; detail: string }
  | { kind: "connected"; via: "twelve-step" | "simultaneous-open"; remote: SocketAddr };

/** Options for {@linkcode dialBroker}. */
export interface BrokerDialOptions {
  /** The broker, `host[:port]` (default port 2314) or an address. */
  server: string | ServerAddress;
  /** The receiver's UID. */
  uid: string;
  /** Reach the broker over this IP family only. @default {IPv4 first, then IPv6} */
  family?: BrokerFamily;
  /** Give up on the whole dial after this long. @default {30000} */
  timeoutMs?: number;
  /** Give up on opening a connection to the broker after this long. @default {5000} */
  connectTimeoutMs?: number;
  /**
   * Give up on step 12 after this long, then fall back (1 s at most when the receiver's step-6
   * connect was refused: its NAT mapping is gone then). @default {2000}
   */
  step12TimeoutMs?: number;
  /** Fall back to a simultaneous open when step 12 fails. @default {true} */
  fallback?: boolean;
  /** How long the fallback punch may take. @default {10000} */
  punchTimeoutMs?: number;
  /** Cancels the dial. */
  signal?: AbortSignal;
  /** Told about each step. */
  onEvent?: (event: BrokerDialEvent) => void;
}

/** Longest wait for the broker to close S1 after step 10 (step 11). */
const STEP11_WAIT_MS = 2000;
/** Longest wait for a `hello` on a direct connection. */
const HELLO_TIMEOUT_MS = 5000;

/**
 * Connect to the receiver registered as `uid` through a broker.
 *
 * @throws {UnknownUidError} when no receiver has that UID.
 * @throws {ReceiverBusyError} when the receiver takes no more connections now.
 * @throws {ReceiverGoneError} when the receiver went away mid-flow.
 * @throws {BrokerStepTimeoutError} when a step did not happen in time.
 * @throws {BrokerUnreachableError} when the broker cannot be reached.
 * @throws {BrokerVersionMismatchError} when the broker speaks another protocol version.
 * @throws `NoDirectPathError` when step 12 and the fallback both failed.
 * @throws the signal's reason when `signal` aborts.
 *
 * @example Dial a receiver on a local broker
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
 * await using receiver = await listenBroker({ server: address, uid: "alice" });
 * const [conn, incoming] = await Promise.all([
 *   dialBroker({ server: address, uid: "alice" }),
 *   receiver.accept(),
 * ]);
 * if (conn.via !== "twelve-step" || incoming.requestId !== conn.requestId) throw new Error("Bad link");
 * conn.close();
 * incoming.close();
 * ```
 */
export async function dialBroker(options: BrokerDialOptions): Promise<BrokerConnection> {
  const {
    uid,
    timeoutMs = 30_000,
    connectTimeoutMs = 5000,
    step12TimeoutMs = 2000,
    fallback = true,
    punchTimeoutMs = 10_000,
    onEvent,
  } = options;
  if (!isValidBrokerUid(uid)) {
    throw new RangeError(
      `Cannot dial "${uid}": a UID is 1 to 64 letters, digits, ".", "_" or "-", starting with a ` +
        "letter or digit",
    );
  }
  for (const [name, value] of Object.entries({ timeoutMs, step12TimeoutMs, punchTimeoutMs })) {
    if (!(value > 0)) throw new RangeError(`Cannot dial: ${name} is ${value}, it must be > 0`);
  }
  options.signal?.throwIfAborted();
  const overall = AbortSignal.timeout(timeoutMs);
  const signal = options.signal ? AbortSignal.any([options.signal, overall]) : overall;
  const emit = (event: BrokerDialEvent): void => {
    try {
      onEvent?.(event);
    } catch { /* a listener's bug is not ours */ }
  };
  const timedOut = (): never => {
    if (options.signal?.aborted) throw options.signal.reason;
    throw new BrokerStepTimeoutError(null, `no connection within ${timeoutMs} ms`);
  };

  const targets = await resolveBroker(options.server, options.family);
  const tried = new Set<BrokerFamily>();
  let target: BrokerTarget | undefined = targets[0];
  let lastError: unknown;
  while (target !== undefined) {
    tried.add(target.family);
    try {
      return await dialVia(target);
    } catch (error) {
      if (signal.aborted) timedOut();
      lastError = error;
      const wanted = error instanceof BrokerError && error.code === "family_mismatch"
        ? (error.cause as { family?: BrokerFamily } | undefined)?.family
        : undefined;
      const next = targets.find((t) => !tried.has(t.family) && (wanted ?? t.family) === t.family);
      if (wanted === undefined && error instanceof BrokerError && error.code !== "unreachable") {
        throw error;
      }
      target = next;
    }
  }
  throw lastError;

  async function dialVia(target: BrokerTarget): Promise<BrokerConnection> {
    // Step 1: S1 from a reusable port.
    const s1 = await connectBroker(target, {
      reusable: true,
      timeoutMs: connectTimeoutMs,
      signal,
    });
    const local = s1.localAddr;
    let details: BrokerReceiverMsg;
    try {
      const channel = new BrokerChannel(s1);
      await channel.send({ type: "connect", uid });
      emit({ kind: "step", step: 1, detail: `connection request sent from ${fmt(local)}` });
      const reply = await channel.read(signal).catch((error) => {
        if (signal.aborted) timedOut();
        throw protocolErrorFor(error);
      });
      if (reply === null) {
        throw new BrokerRefusedError(
          "closed",
          "The broker closed the connection before giving the receiver's address (step 10)",
        );
      }
      if (reply.type === "error") {
        const error = brokerErrorFor(reply, { uid, step: null });
        if (reply.error === "family_mismatch") {
          throw new BrokerRefusedError("family_mismatch", error.message, {
            cause: { family: reply.family },
          });
        }
        throw error;
      }
      if (reply.type !== "receiver") {
        throw protocolErrorFor(new Error(`expected the receiver's address, got ${reply.type}`));
      }
      details = reply;
      emit({
        kind: "step",
        step: 10,
        detail: `receiver at ${fmt(details.addr)} (request ${details.req}); you are ` +
          fmt(details.you),
      });
      // Step 11: the broker closes S1; we close only after it did.
      await stepDeadline(channel.read(signal), STEP11_WAIT_MS, 11, "the broker kept S1 open")
        .catch(() => {});
      emit({ kind: "step", step: 11, detail: "S1 closed by the broker" });
    } finally {
      s1.close();
    }

    // Step 12: from the exact local port of S1.
    const hello: BrokerHelloMsg = {
      type: "hello",
      req: details.req,
      token: details.token,
      role: "sender",
    };
    const limitMs = details.step6 === "refused" ? Math.min(1000, step12TimeoutMs) : step12TimeoutMs;
    let failure: BrokerStep12Failure;
    try {
      const tcp = await connectTcp({
        hostname: details.addr.ip,
        port: details.addr.port,
        localAddress: local.ip,
        localPort: local.port,
        timeoutMs: limitMs,
        signal,
      });
      try {
        const readable = await exchangeHello(tcp, hello, { timeoutMs: HELLO_TIMEOUT_MS, signal });
        emit({ kind: "step", step: 12, detail: `connected from ${fmt(local)}` });
        emit({ kind: "connected", via: "twelve-step", remote: tcp.remoteAddr });
        return brokerConnection(tcp, readable, {
          via: "twelve-step",
          requestId: details.req,
          uid,
          role: "sender",
        });
      } catch {
        tcp.close();
        if (signal.aborted) timedOut();
        failure = "hello";
      }
    } catch (error) {
      if (signal.aborted) timedOut();
      const kind = connectFailure(error);
      failure = kind === "cancelled" ? "error" : kind;
    }
    emit({ kind: "step", step: 12, detail: `failed (${failure})` });
    if (!fallback) {
      throw new BrokerError("no_path", `Step 12 failed (${failure}) and the fallback is off`);
    }
    return await fallbackVia(target, details, hello, failure);
  }

  async function fallbackVia(
    target: BrokerTarget,
    details: BrokerReceiverMsg,
    hello: BrokerHelloMsg,
    failure: BrokerStep12Failure,
  ): Promise<BrokerConnection> {
    const s2 = await connectBroker(target, { reusable: true, timeoutMs: connectTimeoutMs, signal });
    let ready: BrokerFallbackReadyMsg;
    try {
      const channel = new BrokerChannel(s2);
      await channel.send({
        type: "fallback",
        req: details.req,
        token: details.token,
        step12: failure,
      });
      const reply = await channel.read(signal).catch((error) => {
        if (signal.aborted) timedOut();
        throw protocolErrorFor(error);
      });
      if (reply === null) {
        throw new BrokerRefusedError("closed", "The broker closed the fallback connection");
      }
      if (reply.type === "error") throw brokerErrorFor(reply, { uid, req: details.req });
      if (reply.type !== "fallback_ready") {
        throw protocolErrorFor(new Error(`expected fallback_ready, got ${reply.type}`));
      }
      ready = reply;
      // The broker closes S2 first, as it closed S1.
      await stepDeadline(channel.read(signal), STEP11_WAIT_MS, 12, "").catch(() => {});
    } finally {
      s2.close();
    }
    emit({
      kind: "step",
      step: "fallback",
      detail: `simultaneous open from ${fmt(s2.localAddr)} (public ${fmt(ready.you)}) to ` +
        fmt(ready.addr),
    });
    const result = await punchTcp<ReadableStream<Uint8Array>>({
      pairs: [{ local: s2.localAddr, remote: ready.addr, kind: "public" }],
      listenFirst: true,
      timeoutMs: punchTimeoutMs,
      signal,
      authenticate: async (conn: TcpConnection, _pair, context) => {
        const readable = await exchangeHello(conn, hello, {
          timeoutMs: HELLO_TIMEOUT_MS,
          signal: context.signal,
        });
        if (!context.claim()) throw new Error("Another connection won");
        return readable;
      },
    }).catch((error) => {
      if (signal.aborted) timedOut();
      throw error;
    });
    emit({ kind: "connected", via: "simultaneous-open", remote: result.conn.remoteAddr });
    return brokerConnection(result.conn, result.value, {
      via: "simultaneous-open",
      requestId: details.req,
      uid,
      role: "sender",
    });
  }
}

function fmt(addr: SocketAddr): string {
  return formatSocketAddr(addr);
}
