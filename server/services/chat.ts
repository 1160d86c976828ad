/**
 * The UDP chat introducer: Peer-Punch's relay (spec: peer-punch.md §3.3), byte-compatible with
 * Peer-Punch peers, as a server plugin. Its rules are in `chat_state.ts`; this file reads
 * datagrams, drops and counts bad ones, sends replies and runs the expiry timer.
 *
 * Every datagram goes through, in order:
 * 1. the rate limit per client (IPv4 address or IPv6 /64): over it, dropped
 *    (`chat_dropped{rate_limited}`);
 * 2. a refresh of the sender's registration, if it has one;
 * 3. the size cap, 1024 bytes, the peers' buffer (`chat_dropped{oversize}`);
 * 4. the decoder (`chat_dropped{malformed}`), then the state machine (`chat_requests{<variant>}`).
 *
 * Nothing a client sends can stop the service: bad datagrams are dropped and counted, never
 * logged one by one, and send errors are counted (`chat_send_errors`).
 *
 * @module
 */

import {
  decodePeerPunchMessage,
  DEFAULT_PEER_PUNCH_PORT,
  encodePeerPunchMessage,
  isValidChatUsername,
  MAX_PEER_PUNCH_DATAGRAM_BYTES,
  type PeerPunchMessage,
} from "../../protocol/peer_punch.ts";
import {
  canonicalSocketAddr,
  formatSocketAddr,
  type SocketAddr,
  toSocketAddr,
} from "../../protocol/socket_addr.ts";
import { RateLimiter } from "../limits.ts";
import { type Logger, newRequestId, withRequestId } from "../logger.ts";
import type { ListenerInfo, ServiceFactory } from "../plugin.ts";
import type { Counters } from "../stats.ts";
import {
  type ChatEvent,
  ChatState,
  type ChatStateOptions,
  DEFAULT_CHAT_IDLE_TIMEOUT_MS,
} from "./chat_state.ts";
import type { ChatNameStore } from "./chat_names.ts";
import { RedisChatNames } from "../redis/chat.ts";

export * from "./chat_state.ts";

/** Default for {@linkcode ChatPluginOptions.rateLimit}: datagrams per minute per client. */
export const DEFAULT_CHAT_RATE_LIMIT = 600;

/** Options for {@linkcode chatPlugin}. */
export interface ChatPluginOptions extends ChatStateOptions {
  /** The UDP port; 0 lets the OS choose. @default {8080} (Peer-Punch's relay port) */
  port?: number;
  /**
   * Datagrams per minute per client (IPv4 address or IPv6 /64); more are dropped. 0 turns the
   * limit off.
   * @default {600}
   */
  rateLimit?: number;
  /**
   * The tables to use, e.g. to inspect them in tests. When given, `idleTimeoutMs`,
   * `busyTimeoutMs`, `maxUsers` and `now` are the state's own, and the options' are ignored.
   * The plugin's expiry timer runs on `Date.now`, so the state's clock must too.
   * @default {a new ChatState from these options}
   */
  state?: ChatState;
  /**
   * Usernames shared with the introducers of other processes: a name is then unique across
   * them (a `Register` for a name another address holds anywhere gets no reply, like a local
   * one). Introductions still pair users of the same process only.
   * @default {with the server's `redis`, Redis; else none}
   */
  names?: ChatNameStore | null;
}

function logEvent(logger: Logger, counters: Counters, event: ChatEvent): void {
  switch (event.kind) {
    case "registered":
      counters.inc("chat_registrations", "registered");
      logger.log("info", "chat_registered", {
        username: event.user.username,
        addr: formatSocketAddr(event.user.addr),
        renamed_from: event.renamedFrom,
      });
      return;
    case "register_refused":
      counters.inc("chat_register_refused", event.reason);
      logger.log("info", "chat_register_refused", {
        reason: event.reason,
        addr: formatSocketAddr(event.addr),
      });
      return;
    case "expired":
      counters.inc("chat_registrations", "expired");
      logger.log("info", "chat_expired", {
        username: event.user.username,
        addr: formatSocketAddr(event.user.addr),
      });
      return;
    case "paired":
      counters.inc("chat_sessions", "paired");
      logger.log("info", "chat_paired", {
        requester: event.requester.username,
        target: event.target.username,
      });
      return;
    case "reintroduced":
      counters.inc("chat_sessions", "reintroduced");
      return;
    case "connect_refused":
      counters.inc("chat_connect_refused", event.reason);
      return;
    case "released":
      counters.inc("chat_sessions", event.reason);
      logger.log("info", "chat_released", {
        reason: event.reason,
        a: event.users[0].username,
        b: event.users[1].username,
      });
      return;
  }
}

/**
 * The UDP chat introducer as a server plugin: one UDP listener (`service: "chat"`).
 *
 * @example Run it on a free port and read its tables
 * ```ts
 * import { ChatState, chatPlugin } from "./chat.ts";
 * import { startServer } from "../server.ts";
 * import { silentLogger } from "../logger.ts";
 * const state = new ChatState({ idleTimeoutMs: 60_000 });
 * await using server = await startServer({
 *   hostname: "127.0.0.1", gdayPort: null, logger: silentLogger,
 *   services: [chatPlugin({ port: 0, state })],
 * });
 * const listener = server.listeners[0]!;
 * if (listener.service !== "chat" || listener.transport !== "udp") throw new Error("No listener");
 * if (state.registrations !== 0) throw new Error("Not empty");
 * ```
 */
export function chatPlugin(options: ChatPluginOptions = {}): ServiceFactory {
  const port = options.port ?? DEFAULT_PEER_PUNCH_PORT;
  if (!(Number.isInteger(port) && port >= 0 && port <= 65535)) {
    throw new RangeError(`Chat port is ${port}, it must be an integer from 0 to 65535`);
  }
  const rateLimit = options.rateLimit ?? DEFAULT_CHAT_RATE_LIMIT;
  // Validate now, so bad options fail before any listener opens.
  new RateLimiter({ limit: rateLimit });
  const given = options.state;
  if (given === undefined) new ChatState(options);

  return (ctx) => {
    const { logger, counters } = ctx;
    const state = given ?? new ChatState(options);
    const limiter = new RateLimiter({ limit: rateLimit });
    const unsubscribe = state.subscribe((event) => logEvent(logger, counters, event));
    // Several processes (server.ts --redis): usernames are claimed in the shared store too.
    const names = options.names !== undefined
      ? options.names
      : ctx.redis
      ? new RedisChatNames(ctx.redis)
      : null;
    const nameTtlMs = options.idleTimeoutMs ?? DEFAULT_CHAT_IDLE_TIMEOUT_MS;
    /** Registered users of this process by address, and when their name was last renewed. */
    const heard = new Map<string, { username: string; renewed: number }>();
    const addrKey = (addr: SocketAddr): string => formatSocketAddr(canonicalSocketAddr(addr));
    const unsubscribeNames = names === null ? () => {} : state.subscribe((event) => {
      if (event.kind === "registered") {
        const key = addrKey(event.user.addr);
        heard.set(key, { username: event.user.username, renewed: Date.now() });
        if (event.renamedFrom !== undefined) names.release(event.renamedFrom, key).catch(() => {});
      } else if (event.kind === "expired") {
        const key = addrKey(event.user.addr);
        heard.delete(key);
        names.release(event.user.username, key).catch(() => {});
      }
    });
    ctx.gauges.add("chat_users", undefined, () => state.registrations);
    ctx.gauges.add("chat_busy_pairs", undefined, () => state.busyPairs);
    const now = (): number => Date.now();
    let timer: ReturnType<typeof setTimeout> | undefined;
    let armedFor = Infinity;
    let closed = false;
    const sweeper = setInterval(() => limiter.sweep(), 60_000);

    const schedule = (): void => {
      if (closed) return;
      const next = state.nextDeadline();
      if (next === null || next >= armedFor) return;
      clearTimeout(timer);
      armedFor = next;
      timer = setTimeout(() => {
        timer = undefined;
        armedFor = Infinity;
        state.expire();
        schedule();
      }, Math.max(0, next - now()) + 1);
    };

    const send = async (
      socket: Deno.DatagramConn,
      to: SocketAddr,
      message: PeerPunchMessage,
    ): Promise<void> => {
      try {
        await socket.send(encodePeerPunchMessage(message), {
          transport: "udp",
          hostname: to.ip,
          port: to.port,
        });
      } catch (error) {
        if (closed) return;
        counters.inc("chat_send_errors");
        logger.log("warn", "chat_send_failed", {
          to: formatSocketAddr(to),
          error: String(error),
        });
      }
    };

    const serveDatagrams = async (
      socket: Deno.DatagramConn,
      _listener: ListenerInfo,
    ): Promise<void> => {
      // One byte more than a peer reads: a longer datagram is truncated to it, and so spotted.
      const buffer = new Uint8Array(MAX_PEER_PUNCH_DATAGRAM_BYTES + 1);
      for (;;) {
        let data: Uint8Array;
        let addr: Deno.NetAddr;
        try {
          [data, addr] = (await socket.receive(buffer)) as [Uint8Array, Deno.NetAddr];
        } catch (error) {
          if (closed || ctx.signal.aborted) return;
          if (
            error instanceof Deno.errors.BadResource || error instanceof Deno.errors.Interrupted
          ) return;
          counters.inc("chat_receive_errors");
          continue;
        }
        const from = toSocketAddr(addr.hostname, addr.port);
        if (from === null) {
          counters.inc("chat_dropped", "malformed");
          continue;
        }
        if (!limiter.take(from.ip)) {
          counters.inc("chat_dropped", "rate_limited");
          continue;
        }
        state.touch(from);
        const known = names === null ? undefined : heard.get(addrKey(from));
        if (known !== undefined && Date.now() - known.renewed > nameTtlMs / 4) {
          known.renewed = Date.now();
          names!.refresh(known.username, addrKey(from), nameTtlMs).catch(() => {});
        }
        if (data.length > MAX_PEER_PUNCH_DATAGRAM_BYTES) {
          counters.inc("chat_dropped", "oversize");
          continue;
        }
        let message: PeerPunchMessage;
        try {
          message = decodePeerPunchMessage(data);
        } catch {
          counters.inc("chat_dropped", "malformed");
          continue;
        }
        counters.inc("chat_requests", message.type);
        if (
          names !== null && message.type === "Register" && isValidChatUsername(message.username)
        ) {
          let claim: "claimed" | "taken";
          try {
            claim = await names.claim(message.username, addrKey(from), nameTtlMs);
          } catch {
            // Shared state unreachable: no reply, so the peer retries its Register.
            counters.inc("chat_dropped", "unavailable");
            continue;
          }
          if (claim === "taken") {
            counters.inc("chat_register_refused", "name_taken");
            continue;
          }
        }
        let replies;
        try {
          // Each datagram is one request: what it causes is logged with its request_id.
          replies = withRequestId(newRequestId(), () => state.handle(from, message));
        } catch (error) {
          // A bug, not bad input; the service carries on.
          counters.inc("chat_handler_errors");
          logger.log("error", "chat_handler_failed", { error: String(error) });
          continue;
        }
        for (const reply of replies) await send(socket, reply.to, reply.message);
        if (names !== null && message.type === "Register") {
          const held = state.lookup(message.username);
          if (held === null || addrKey(held.addr) !== addrKey(from)) {
            // Refused here (full, or held locally): give the shared claim back.
            names.release(message.username, addrKey(from)).catch(() => {});
          }
        }
        schedule();
      }
    };

    return {
      name: "chat",
      listeners: [{ transport: "udp", port }],
      serveDatagrams,
      close: () => {
        closed = true;
        clearTimeout(timer);
        clearInterval(sweeper);
        unsubscribe();
        unsubscribeNames();
        state.clear();
      },
    };
  };
}
