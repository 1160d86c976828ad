/**
 * The gday 0.1.1 contact-exchange service (spec: gday-0.1.1.md §2): reads one frame at a time,
 * answers it, and repeats. Rate costs, replies and the connections kept or closed follow the
 * spec's §2.2–§2.3, with these differences on purpose:
 * - frames above `maxFrameBytes` are refused (`ErrorSyntax`, then close);
 * - a connection that sends nothing for `idleTimeoutMs` is closed (not while it waits for its
 *   peer: the room's lifetime bounds that wait);
 * - while a client waits for `PeerContact`, its connection is still watched, so a waiter that
 *   disconnects releases the room and its peer is answered `ErrorPeerTimedOut` at once;
 * - IPv4-mapped client addresses are stored as IPv4;
 * - when the server holds its maximum number of rooms, `CreateRoom` is answered
 *   `ErrorTooManyRequests` and the connection stays open;
 * - when the room store cannot reach its shared state (Redis, with `server.ts --redis`), the
 *   request is answered `ErrorInternal` ("try again later" for gday clients) and the
 *   connection stays open; a client waiting for `PeerContact` when Redis goes away gets
 *   `ErrorInternal` too.
 *
 * @module
 */

import { FrameTooLargeError, TruncatedFrameError } from "../../framing/errors.ts";
import { FrameReader } from "../../framing/length_prefixed.ts";
import {
  type ClientMsg,
  decodeClientMsg,
  encodeServerFrame,
  GdayProtocolError,
  type ServerMsg,
  type ServerUnitReply,
} from "../../protocol/gday.ts";
import { writeAll } from "../../net/write.ts";
import type { RateLimiter } from "../limits.ts";
import type { Logger } from "../logger.ts";
import type { RoomStore } from "../rooms.ts";
import type { ServiceConnection, ServiceHandler } from "../service.ts";
import { StateUnavailableError } from "../state_errors.ts";
import type { Counters } from "../stats.ts";
import { concatBytes } from "../../bytes/mod.ts";

/** Options for {@linkcode createGdayService}. */
export interface GdayServiceOptions {
  /** Where rooms live. */
  rooms: RoomStore;
  /** Counts requests per client (costs as gday: §2.3). */
  rateLimiter: RateLimiter;
  /** Largest frame body accepted. */
  maxFrameBytes: number;
  /** Close a connection that sends nothing for this long (ms). */
  idleTimeoutMs: number;
  /** Where events go. */
  logger: Logger;
  /** Counters to update. */
  counters: Counters;
}

type ReadResult = { kind: "frame"; frame: Uint8Array } | { kind: "end" } | {
  kind: "error";
  error: unknown;
};

/**
 * Closes a connection that stays silent for `idleMs`. One timer per connection, re-armed lazily:
 * `touch()` only moves a deadline, so a busy connection costs no timer churn.
 */
class IdleWatchdog {
  #deadline: number;
  #timer: ReturnType<typeof setTimeout>;
  #paused = false;
  fired = false;
  constructor(readonly idleMs: number, onIdle: () => void) {
    this.#deadline = Date.now() + idleMs;
    const check = (): void => {
      const left = this.#deadline - Date.now();
      if (this.#paused || left > 0) {
        this.#timer = setTimeout(check, this.#paused ? idleMs : left);
        return;
      }
      this.fired = true;
      onIdle();
    };
    this.#timer = setTimeout(check, idleMs);
  }
  touch(): void {
    this.#deadline = Date.now() + this.idleMs;
  }
  pause(paused: boolean): void {
    this.#paused = paused;
    this.touch();
  }
  stop(): void {
    clearTimeout(this.#timer);
  }
}

/**
 * Make the gday service's connection handler.
 *
 * @example
 * ```ts
 * import { createGdayService } from "./gday.ts";
 * import { MemoryRoomStore } from "../rooms.ts";
 * import { RateLimiter } from "../limits.ts";
 * import { silentLogger } from "../logger.ts";
 * import { Counters } from "../stats.ts";
 * const rooms = new MemoryRoomStore();
 * const handler = createGdayService({
 *   rooms, rateLimiter: new RateLimiter(), maxFrameBytes: 65536, idleTimeoutMs: 30000,
 *   logger: silentLogger, counters: new Counters(),
 * });
 * if (typeof handler !== "function") throw new Error("No handler");
 * rooms.close();
 * ```
 */
export function createGdayService(options: GdayServiceOptions): ServiceHandler {
  const { rooms, rateLimiter, maxFrameBytes, idleTimeoutMs, logger, counters } = options;

  return async function serveGday(c: ServiceConnection): Promise<void> {
    // An idle connection is ended by closing its socket, which ends any read in progress.
    const closeSocket = (): void => {
      try {
        c.conn.close();
      } catch { /* already closed */ }
    };
    // (Shutdown closes every socket from the server.)
    const watchdog = new IdleWatchdog(idleTimeoutMs, closeSocket);
    const reader = new FrameReader(c.conn, { maxFrameBytes });
    const readNext = (): Promise<ReadResult> =>
      reader.read().then(
        (frame): ReadResult => (frame === null ? { kind: "end" } : { kind: "frame", frame }),
        (error): ReadResult => ({ kind: "error", error }),
      );
    let pending: Promise<ReadResult> | null = null;
    const send = async (msg: ServerMsg): Promise<void> => {
      if (msg.type.startsWith("Error")) counters.inc("gday_errors", msg.type);
      await writeAll(c.conn, encodeServerFrame(msg));
    };
    const reply = (type: ServerUnitReply): Promise<void> => send({ type });
    const take = (cost: number): boolean => {
      if (rateLimiter.take(c.remote.ip, cost)) return true;
      counters.inc("gday_rate_limited");
      logger.log("warn", "rate_limited", { conn: c.id, ip: c.remote.ip });
      return false;
    };

    /** Handle one request; false closes the connection. */
    const handle = async (msg: ClientMsg): Promise<boolean> => {
      counters.inc("gday_requests", msg.type);
      if (!take(1)) {
        await reply("ErrorTooManyRequests");
        return false;
      }
      const role = msg.type === "CreateRoom" || msg.isCreator ? "creator" : "joiner";
      switch (msg.type) {
        case "CreateRoom": {
          const result = await rooms.create(msg.roomCode, c.id);
          await reply(
            result === "created"
              ? "RoomCreated"
              : result === "taken"
              ? "ErrorRoomTaken"
              : "ErrorTooManyRequests",
          );
          return true;
        }
        case "SendAddr": {
          if (!(await rooms.has(msg.roomCode))) {
            await reply("ErrorNoSuchRoomID");
            return true;
          }
          if (msg.privateAddr !== null && !take(1)) {
            await reply("ErrorTooManyRequests");
            return false;
          }
          const found = await rooms.sendAddr(msg.roomCode, role, c.id, c.remote, msg.privateAddr);
          await reply(found ? "ReceivedAddr" : "ErrorNoSuchRoomID");
          return true;
        }
        case "DoneSending":
          return await done(msg.roomCode, role);
      }
    };

    /** `DoneSending`: reply ClientContact, then wait for the peer while watching the socket. */
    const done = async (code: bigint, role: "creator" | "joiner"): Promise<boolean> => {
      const result = await rooms.done(code, role, c.id);
      if (result === null) {
        await reply("ErrorNoSuchRoomID");
        return true;
      }
      if (result.settled?.ok) {
        // The peer was already waiting: both replies in one write.
        await writeAll(
          c.conn,
          concatBytes([
            encodeServerFrame({ type: "ClientContact", contact: result.own }),
            encodeServerFrame({ type: "PeerContact", contact: result.settled.contact }),
          ]),
        );
        return true;
      }
      await send({ type: "ClientContact", contact: result.own });
      pending ??= readNext();
      // A frame that arrives while waiting is kept for after the wait (gday handles frames in
      // order); the end of the stream means this client left.
      const gone = pending.then((r) => (r.kind === "frame" ? new Promise<never>(() => {}) : r));
      watchdog.pause(true);
      const outcome = await Promise.race([result.peer, gone]);
      watchdog.pause(false);
      if ("kind" in outcome) {
        rooms.release(c.id);
        return false;
      }
      if (outcome.ok) {
        await send({ type: "PeerContact", contact: outcome.contact });
        return true;
      }
      logger.log("info", "peer_wait_failed", { conn: c.id, reason: outcome.reason });
      if (outcome.reason === "closed") return false;
      await reply(outcome.reason === "unavailable" ? "ErrorInternal" : "ErrorPeerTimedOut");
      return true;
    };

    try {
      for (;;) {
        const result = await (pending ?? readNext());
        pending = null;
        if (watchdog.fired) {
          counters.inc("gday_idle_closed");
          logger.log("info", "idle_timeout", { conn: c.id });
          return;
        }
        if (result.kind === "end" || c.signal.aborted) return;
        if (result.kind === "error") {
          const error = result.error;
          if (error instanceof FrameTooLargeError || error instanceof TruncatedFrameError) {
            logger.log("info", "bad_frame", { conn: c.id, error: error.message });
            await reply("ErrorSyntax").catch(() => {});
          }
          return;
        }
        watchdog.touch();
        let msg: ClientMsg;
        try {
          msg = decodeClientMsg(result.frame);
        } catch (error) {
          if (!(error instanceof GdayProtocolError)) throw error;
          logger.log("info", "bad_message", { conn: c.id, error: error.message });
          await reply("ErrorSyntax");
          return;
        }
        let keep: boolean;
        try {
          keep = await handle(msg);
        } catch (error) {
          if (!(error instanceof StateUnavailableError)) throw error;
          counters.inc("gday_state_unavailable");
          logger.log("warn", "state_unavailable", { conn: c.id, error: error.message });
          await reply("ErrorInternal");
          keep = true;
        }
        if (!keep) return;
      }
    } catch (error) {
      // A write to a closed socket and the like: nothing to answer, just close.
      logger.log("info", "connection_error", {
        conn: c.id,
        error: (error as Error)?.message ?? String(error),
      });
    } finally {
      watchdog.stop();
      rooms.release(c.id);
    }
  };
}
