/**
 * TCP hole punching (spec: gday-0.1.1.md §4.2, improved).
 *
 * From the exact local address and port of each server connection, connect to each of the
 * peer's addresses of the same family, all pairs in parallel, retrying every `retryMs` until
 * `timeoutMs`. When both peers' SYNs cross, each NAT takes the other's SYN for part of its own
 * outgoing connection and the kernel completes a TCP simultaneous open.
 *
 * Deno cannot listen and connect on the same port at once (a listener makes later binds of that
 * port fail), so each local port alternates: a *connect phase* (one attempt to every remote of
 * that port; each attempt's SYN also opens this side's NAT mapping) and a short *listen phase*
 * (accepting a peer whose SYN arrives while this side has no attempt in flight, as happens
 * without NAT, e.g. on one LAN or one machine, where a SYN meets an RST instead of a drop). The
 * room's creator starts with a listen phase and the joiner with a connect phase, and phase
 * lengths are jittered, so the two sides do not stay in lock step.
 *
 * Every connection that forms is handed to `authenticate`. A failed attempt or failed
 * authentication never aborts the others. The first authenticated connection that `claim()`s
 * wins; every other socket is closed. Both peers settle on the same connection because the
 * caller's `authenticate` lets exactly one side decide (see `client/connect.ts`).
 *
 * @module
 */

import { pause } from "../async/delay.ts";
import { connectTcp, type TcpConnection } from "../net/tcp.ts";
import { fromDenoConn } from "../net/deno_conn.ts";
import { formatSocketAddr, type SocketAddr } from "../protocol/socket_addr.ts";
import type { PunchPair } from "./candidates.ts";
import { NoCandidatesError, NoDirectPathError } from "./errors.ts";

/** Called on every formed connection; resolve to accept it, reject to drop it. */
export type Authenticate<T> = (
  conn: TcpConnection,
  pair: PunchPair,
  context: {
    /** Aborts when the punch is over (won elsewhere, timed out, or cancelled). */
    signal: AbortSignal;
    /** Mark this connection the winner; false when another already won (then give it up). */
    claim: () => boolean;
  },
) => Promise<T>;

/** How a punch attempt went, for counters. */
export type AttemptOutcome = "connected" | "accepted" | "failed" | "authenticated" | "rejected";

/** Options for {@linkcode punchTcp}. */
export interface TcpPunchOptions<T> {
  /** The attempts to make (see `punchPairs`). */
  pairs: readonly PunchPair[];
  /** Authenticate a formed connection; it must call `claim()` before resolving. */
  authenticate: Authenticate<T>;
  /** Start with a listen phase (the room's creator) or a connect phase (the joiner). @default {false} */
  listenFirst?: boolean;
  /** Give up after this long (gday: 10 s). @default {10000} */
  timeoutMs?: number;
  /** A new connect phase starts at least this long after the last (gday: 200 ms). @default {100} */
  retryMs?: number;
  /** Abandon one connection attempt (a dropped SYN) after this long. @default {1000} */
  attemptTimeoutMs?: number;
  /** A listen phase lasts between this and twice this long. @default {100} */
  listenMs?: number;
  /** Cancels the punch. */
  signal?: AbortSignal;
  /** Told about each attempt's outcome (for counters). */
  onAttempt?: (pair: PunchPair, outcome: AttemptOutcome) => void;
}

/** The winning connection. */
export interface TcpPunchResult<T> {
  /** The connection, authenticated. */
  conn: TcpConnection;
  /** The pair it came from. */
  pair: PunchPair;
  /** What `authenticate` resolved with. */
  value: T;
  /** Connection attempts made in all. */
  attempts: number;
}

/** After an authentication failure, wait at most this much longer for another path. */
const AUTH_FAILURE_GRACE_MS = 2000;

/**
 * Punch TCP connections on every pair in parallel and return the first authenticated one.
 *
 * @throws {NoCandidatesError} when `pairs` is empty.
 * @throws {NoDirectPathError} when nothing connects and authenticates in time.
 * @throws the first authentication error (such as a wrong code) when connections formed but none
 *   authenticated (later ones are usually fallout: the peer closing its other connections).
 *
 * @example
 * ```ts ignore
 * const result = await punchTcp({ pairs, authenticate: (conn, _pair, { claim }) => Promise.resolve(claim()) });
 * ```
 */
export function punchTcp<T>(options: TcpPunchOptions<T>): Promise<TcpPunchResult<T>> {
  const {
    pairs,
    authenticate,
    timeoutMs = 10_000,
    retryMs = 100,
    attemptTimeoutMs = 1000,
    listenMs = 100,
    onAttempt,
  } = options;
  if (pairs.length === 0) return Promise.reject(new NoCandidatesError());
  if (options.signal?.aborted) return Promise.reject(options.signal.reason);

  return new Promise<TcpPunchResult<T>>((resolve, reject) => {
    const stop = new AbortController();
    const signal = options.signal ? AbortSignal.any([options.signal, stop.signal]) : stop.signal;
    const open = new Set<TcpConnection>();
    let attempts = 0;
    let authFailures = 0;
    let firstAuthError: unknown = null;
    let winner: TcpConnection | null = null;
    let finished = false;
    let deadline = Date.now() + timeoutMs;
    let timer = setTimeout(onDeadline, timeoutMs);

    function finish(): void {
      finished = true;
      clearTimeout(timer);
      options.signal?.removeEventListener("abort", onAbort);
      stop.abort(new Error("Punch finished"));
      for (const conn of open) if (conn !== winner) conn.close();
      open.clear();
    }
    function onDeadline(): void {
      if (finished) return;
      const left = deadline - Date.now();
      if (left > 0) {
        timer = setTimeout(onDeadline, left);
        return;
      }
      finish();
      reject(firstAuthError ?? new NoDirectPathError("TCP", timeoutMs, attempts, authFailures));
    }
    function onAbort(): void {
      if (finished) return;
      finish();
      reject(options.signal!.reason);
    }
    options.signal?.addEventListener("abort", onAbort, { once: true });

    /** Authenticate a formed connection (in the background of the phases). */
    async function handle(conn: TcpConnection, pair: PunchPair): Promise<void> {
      if (finished) {
        conn.close();
        return;
      }
      open.add(conn);
      const claim = (): boolean => {
        if (winner !== null || finished) return winner === conn;
        winner = conn;
        return true;
      };
      try {
        const value = await authenticate(conn, pair, { signal, claim });
        if (winner !== conn || finished) throw new Error("Another connection won");
        onAttempt?.(pair, "authenticated");
        finish();
        resolve({ conn, pair, value, attempts });
      } catch (error) {
        open.delete(conn);
        conn.close();
        if (winner === conn) winner = null;
        if (signal.aborted) return;
        onAttempt?.(pair, "rejected");
        authFailures++;
        firstAuthError ??= error;
        const graceEnd = Date.now() + AUTH_FAILURE_GRACE_MS;
        if (graceEnd < deadline) {
          deadline = graceEnd;
          clearTimeout(timer);
          timer = setTimeout(onDeadline, AUTH_FAILURE_GRACE_MS);
        }
      }
    }

    async function connectPhase(group: readonly PunchPair[]): Promise<void> {
      await Promise.all(group.map(async (pair) => {
        attempts++;
        let conn: TcpConnection;
        try {
          conn = await connectTcp({
            hostname: pair.remote.ip,
            port: pair.remote.port,
            localAddress: pair.local.ip,
            localPort: pair.local.port,
            timeoutMs: attemptTimeoutMs,
            signal,
          });
        } catch {
          onAttempt?.(pair, "failed");
          return;
        }
        onAttempt?.(pair, "connected");
        handle(conn, pair);
      }));
    }

    async function listenPhase(local: SocketAddr, group: readonly PunchPair[]): Promise<void> {
      const ms = Math.max(retryMs, listenMs * (1 + Math.random()));
      let listener: Deno.Listener;
      try {
        listener = Deno.listen({ hostname: local.ip, port: local.port });
      } catch {
        // The port is busy (e.g. a connection closing): wait, then connect again.
        await pause(ms, signal);
        return;
      }
      const onStop = (): void => {
        try {
          listener.close();
        } catch { /* closed */ }
      };
      // onStop, not listener.close: after an abort closed it, a late timer must not throw.
      const closer = setTimeout(onStop, ms);
      signal.addEventListener("abort", onStop, { once: true });
      try {
        for (;;) {
          let accepted: Deno.Conn;
          try {
            accepted = await listener.accept();
          } catch {
            return;
          }
          const conn = fromDenoConn(accepted);
          const remote = formatSocketAddr(conn.remoteAddr);
          const pair = group.find((p) => formatSocketAddr(p.remote) === remote) ??
            { local, remote: conn.remoteAddr, kind: "public" as const };
          onAttempt?.(pair, "accepted");
          handle(conn, pair);
        }
      } finally {
        clearTimeout(closer);
        signal.removeEventListener("abort", onStop);
        onStop();
      }
    }

    async function runLocal(local: SocketAddr, group: readonly PunchPair[]): Promise<void> {
      let listen = options.listenFirst === true;
      while (!signal.aborted) {
        if (listen) await listenPhase(local, group);
        else await connectPhase(group);
        listen = !listen;
      }
    }

    const groups = new Map<string, { local: SocketAddr; pairs: PunchPair[] }>();
    for (const pair of pairs) {
      const key = formatSocketAddr(pair.local);
      const group = groups.get(key) ?? { local: pair.local, pairs: [] };
      group.pairs.push(pair);
      groups.set(key, group);
    }
    for (const { local, pairs: group } of groups.values()) runLocal(local, group).catch(() => {});
  });
}
