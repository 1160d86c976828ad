/**
 * The UDP chat introducer's state machine: Peer-Punch's relay (spec: peer-punch.md §3.3) with the
 * weaknesses of §3.6 fixed inside the same wire format. Pure bookkeeping with an injected clock:
 * no sockets and no timers (the plugin in `chat.ts` drives {@linkcode ChatState.expire}).
 *
 * | input from address A | Peer-Punch | peerlink |
 * | --- | --- | --- |
 * | `Register{name}` | overwrite `peers[A]`, no checks, ack | the name must be valid and not held by another live address; otherwise no reply |
 * | `Connect{T}`, A unknown or T unknown | `TargetNotFound` | same; also when T is A's own name |
 * | `Connect{T}`, T busy | `TargetBusy` | same; also when A is busy with someone else |
 * | `Connect{T}`, A already paired with T | `TargetBusy` | `PeerInfo` about T again to A (a retry) |
 * | `Connect{T}`, both idle | `PeerInfo` to A, then to T; both busy | same |
 * | `SessionFinished` | A idle, partner stays busy | both idle |
 * | `Ping` | ignored | `Pong` when A is registered (a keep-alive) |
 * | silence | kept for ever | forgotten after `idleTimeoutMs`; its partner becomes idle |
 * | a pairing | busy for ever | both idle after `busyTimeoutMs` |
 *
 * Every datagram from a registered address (even one that does not decode) refreshes it.
 *
 * @module
 */

import { isValidChatUsername, type PeerPunchMessage } from "../../protocol/peer_punch.ts";
import {
  canonicalSocketAddr,
  formatSocketAddr,
  type SocketAddr,
} from "../../protocol/socket_addr.ts";

/** Default for {@linkcode ChatStateOptions.idleTimeoutMs}: 120 s. */
export const DEFAULT_CHAT_IDLE_TIMEOUT_MS = 120_000;
/** Default for {@linkcode ChatStateOptions.busyTimeoutMs}: 600 s. */
export const DEFAULT_CHAT_BUSY_TIMEOUT_MS = 600_000;
/** Default for {@linkcode ChatStateOptions.maxUsers}. */
export const DEFAULT_CHAT_MAX_USERS = 100_000;

/** Options for {@linkcode ChatState}. */
export interface ChatStateOptions {
  /** Forget a registration that sends nothing for this long, in ms. @default {120000} */
  idleTimeoutMs?: number;
  /** Make a pair idle again this long after it was introduced, in ms. @default {600000} */
  busyTimeoutMs?: number;
  /** Registrations held at most; more `Register`s get no reply. @default {100000} */
  maxUsers?: number;
  /** The clock, in ms. @default {Date.now} */
  now?: () => number;
}

/** A registered user, as events report it. */
export interface ChatUser {
  /** The registered name. */
  readonly username: string;
  /** The address it registered from. */
  readonly addr: SocketAddr;
}

/** Something that changed in the introducer's tables, for logs, counters and tests. */
export type ChatEvent =
  | { kind: "registered"; user: ChatUser; renamedFrom?: string }
  | {
    kind: "register_refused";
    reason: "name_invalid" | "name_taken" | "full";
    username: string;
    addr: SocketAddr;
  }
  | { kind: "expired"; user: ChatUser }
  | { kind: "paired"; requester: ChatUser; target: ChatUser }
  | { kind: "reintroduced"; requester: ChatUser; target: ChatUser }
  | {
    kind: "connect_refused";
    reason: "not_registered" | "not_found" | "self" | "target_busy" | "requester_busy";
    addr: SocketAddr;
    target: string;
  }
  | {
    kind: "released";
    reason: "session_finished" | "busy_timeout" | "expired" | "renamed";
    users: readonly [ChatUser, ChatUser];
  };

/** A reply to send. */
export interface ChatReply {
  /** Where to. */
  to: SocketAddr;
  /** What. */
  message: PeerPunchMessage;
}

interface User {
  key: string;
  addr: SocketAddr;
  username: string;
  lastSeen: number;
  pair: Pair | null;
}

interface Pair {
  a: User;
  b: User;
  deadline: number;
}

function keyOf(addr: SocketAddr): string {
  return formatSocketAddr(canonicalSocketAddr(addr));
}

function positive(name: string, value: number): number {
  if (!(Number.isFinite(value) && value > 0)) {
    throw new RangeError(`${name} is ${value}, it must be a number > 0`);
  }
  return value;
}

/**
 * The introducer's tables: registrations by address and by name, and busy pairs.
 *
 * @example A pairing, as the spec's relay does it
 * ```ts
 * import { ChatState } from "./chat_state.ts";
 * const state = new ChatState();
 * const alice = { family: "v4", ip: "192.0.2.1", port: 4000 } as const;
 * const bob = { family: "v4", ip: "198.51.100.2", port: 5000 } as const;
 * state.handle(alice, { type: "Register", username: "alice" });
 * state.handle(bob, { type: "Register", username: "bob" });
 * const replies = state.handle(alice, { type: "Connect", targetUsername: "bob" });
 * if (replies.length !== 2 || replies[0]!.message.type !== "PeerInfo") throw new Error("Not paired");
 * if (state.busyPairs !== 1) throw new Error("Not busy");
 * ```
 */
export class ChatState {
  #idleMs: number;
  #busyMs: number;
  #maxUsers: number;
  #now: () => number;
  /** By address key, least recently seen first (a refresh moves a user to the end). */
  #byAddr = new Map<string, User>();
  #byName = new Map<string, User>();
  /** Oldest first, which is also earliest deadline first (one timeout for all). */
  #pairs = new Set<Pair>();
  #listeners = new Set<(event: ChatEvent) => void>();

  /**
   * Make empty tables.
   *
   * @example
   * ```ts
   * import { ChatState } from "./chat_state.ts";
   * const state = new ChatState({ idleTimeoutMs: 1000, busyTimeoutMs: 5000 });
   * if (state.registrations !== 0 || state.busyPairs !== 0) throw new Error("Not empty");
   * ```
   */
  constructor(options: ChatStateOptions = {}) {
    this.#idleMs = positive("idleTimeoutMs", options.idleTimeoutMs ?? DEFAULT_CHAT_IDLE_TIMEOUT_MS);
    this.#busyMs = positive("busyTimeoutMs", options.busyTimeoutMs ?? DEFAULT_CHAT_BUSY_TIMEOUT_MS);
    const maxUsers = options.maxUsers ?? DEFAULT_CHAT_MAX_USERS;
    if (!(Number.isInteger(maxUsers) && maxUsers > 0)) {
      throw new RangeError(`maxUsers is ${maxUsers}, it must be an integer > 0`);
    }
    this.#maxUsers = maxUsers;
    this.#now = options.now ?? Date.now;
  }

  /**
   * Registrations held now.
   *
   * @example
   * ```ts
   * import { ChatState } from "./chat_state.ts";
   * const state = new ChatState();
   * state.handle({ family: "v4", ip: "192.0.2.1", port: 1 }, { type: "Register", username: "a" });
   * if (state.registrations !== 1) throw new Error("Not registered");
   * ```
   */
  get registrations(): number {
    return this.#byAddr.size;
  }

  /**
   * Pairs introduced and not yet released.
   *
   * @example
   * ```ts
   * import { ChatState } from "./chat_state.ts";
   * if (new ChatState().busyPairs !== 0) throw new Error("Not empty");
   * ```
   */
  get busyPairs(): number {
    return this.#pairs.size;
  }

  /**
   * Who holds `username` now: its address and whether it is busy, or `null`.
   *
   * @example
   * ```ts
   * import { ChatState } from "./chat_state.ts";
   * const state = new ChatState();
   * state.handle({ family: "v4", ip: "192.0.2.1", port: 1 }, { type: "Register", username: "a" });
   * if (state.lookup("a")?.busy !== false || state.lookup("b") !== null) throw new Error("Wrong lookup");
   * ```
   */
  lookup(username: string): { addr: SocketAddr; busy: boolean } | null {
    const user = this.#byName.get(username);
    return user === undefined ? null : { addr: user.addr, busy: user.pair !== null };
  }

  /**
   * Call `listener` for every event until the returned function is called.
   *
   * @example
   * ```ts
   * import { type ChatEvent, ChatState } from "./chat_state.ts";
   * const state = new ChatState();
   * const events: ChatEvent[] = [];
   * const stop = state.subscribe((e) => events.push(e));
   * state.handle({ family: "v4", ip: "192.0.2.1", port: 1 }, { type: "Register", username: "a" });
   * stop();
   * if (events[0]?.kind !== "registered") throw new Error("No event");
   * ```
   */
  subscribe(listener: (event: ChatEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => void this.#listeners.delete(listener);
  }

  #emit(event: ChatEvent): void {
    for (const listener of [...this.#listeners]) {
      try {
        listener(event);
      } catch { /* a listener cannot break the state machine */ }
    }
  }

  /**
   * Refresh the registration of `from`, if any: any datagram from a registered address keeps it
   * alive (its NAT mapping is refreshed by the same datagram).
   *
   * @example
   * ```ts
   * import { ChatState } from "./chat_state.ts";
   * let t = 0;
   * const state = new ChatState({ idleTimeoutMs: 10, now: () => t });
   * const a = { family: "v4", ip: "192.0.2.1", port: 1 } as const;
   * state.handle(a, { type: "Register", username: "a" });
   * t = 9;
   * state.touch(a);
   * t = 15;
   * state.expire();
   * if (state.registrations !== 1) throw new Error("Expired despite the refresh");
   * ```
   */
  touch(from: SocketAddr): void {
    const user = this.#byAddr.get(keyOf(from));
    if (user !== undefined) this.#refresh(user);
  }

  #refresh(user: User): void {
    user.lastSeen = this.#now();
    this.#byAddr.delete(user.key);
    this.#byAddr.set(user.key, user);
  }

  /**
   * Handle one decoded message from `from`; returns the replies to send, in order.
   *
   * @example Names are unique
   * ```ts
   * import { ChatState } from "./chat_state.ts";
   * const state = new ChatState();
   * const ack = state.handle({ family: "v4", ip: "192.0.2.1", port: 1 }, { type: "Register", username: "a" });
   * const refused = state.handle({ family: "v4", ip: "192.0.2.2", port: 1 }, { type: "Register", username: "a" });
   * if (ack[0]?.message.type !== "RegisterAck" || refused.length !== 0) throw new Error("Name taken over");
   * ```
   */
  handle(from: SocketAddr, message: PeerPunchMessage): ChatReply[] {
    this.expire();
    from = canonicalSocketAddr(from);
    const key = keyOf(from);
    const user = this.#byAddr.get(key);
    if (user !== undefined) this.#refresh(user);
    switch (message.type) {
      case "Register":
        return this.#register(from, key, user, message.username);
      case "Connect":
        return this.#connect(from, user, message.targetUsername);
      case "SessionFinished":
        if (user?.pair) this.#release(user.pair, "session_finished");
        return [];
      case "Ping":
        return user === undefined ? [] : [{ to: from, message: { type: "Pong" } }];
      default:
        // Peer-Punch's relay ignores every other variant; so does this one.
        return [];
    }
  }

  #register(from: SocketAddr, key: string, user: User | undefined, username: string): ChatReply[] {
    if (!isValidChatUsername(username)) {
      this.#emit({ kind: "register_refused", reason: "name_invalid", username, addr: from });
      return [];
    }
    const holder = this.#byName.get(username);
    if (holder !== undefined && holder !== user) {
      this.#emit({ kind: "register_refused", reason: "name_taken", username, addr: from });
      return [];
    }
    const ack: ChatReply[] = [{ to: from, message: { type: "RegisterAck" } }];
    if (user !== undefined) {
      if (user.username === username) return ack; // a retry: idempotent
      const renamedFrom = user.username;
      if (user.pair) this.#release(user.pair, "renamed");
      this.#byName.delete(renamedFrom);
      user.username = username;
      this.#byName.set(username, user);
      this.#emit({ kind: "registered", user: { username, addr: from }, renamedFrom });
      return ack;
    }
    if (this.#byAddr.size >= this.#maxUsers) {
      this.#emit({ kind: "register_refused", reason: "full", username, addr: from });
      return [];
    }
    const created: User = { key, addr: from, username, lastSeen: this.#now(), pair: null };
    this.#byAddr.set(key, created);
    this.#byName.set(username, created);
    this.#emit({ kind: "registered", user: { username, addr: from } });
    return ack;
  }

  #connect(from: SocketAddr, user: User | undefined, target: string): ChatReply[] {
    const refuse = (
      reason: "not_registered" | "not_found" | "self" | "target_busy" | "requester_busy",
      reply: "TargetNotFound" | "TargetBusy",
    ): ChatReply[] => {
      this.#emit({ kind: "connect_refused", reason, addr: from, target });
      return [{ to: from, message: { type: reply } }];
    };
    if (user === undefined) return refuse("not_registered", "TargetNotFound");
    if (target === user.username) return refuse("self", "TargetNotFound");
    if (user.pair !== null) {
      const partner = user.pair.a === user ? user.pair.b : user.pair.a;
      if (partner.username !== target) return refuse("requester_busy", "TargetBusy");
      // The requester's PeerInfo was lost and it asks again: tell it again (only it).
      this.#emit({ kind: "reintroduced", requester: view(user), target: view(partner) });
      return [{ to: user.addr, message: peerInfo(partner) }];
    }
    const other = this.#byName.get(target);
    if (other === undefined) return refuse("not_found", "TargetNotFound");
    if (other.pair !== null) return refuse("target_busy", "TargetBusy");
    const pair: Pair = { a: user, b: other, deadline: this.#now() + this.#busyMs };
    user.pair = pair;
    other.pair = pair;
    this.#pairs.add(pair);
    this.#emit({ kind: "paired", requester: view(user), target: view(other) });
    // Peer-Punch's order: the requester first, then the target.
    return [{ to: user.addr, message: peerInfo(other) }, {
      to: other.addr,
      message: peerInfo(user),
    }];
  }

  #release(
    pair: Pair,
    reason: "session_finished" | "busy_timeout" | "expired" | "renamed",
  ): void {
    if (!this.#pairs.delete(pair)) return;
    pair.a.pair = null;
    pair.b.pair = null;
    this.#emit({ kind: "released", reason, users: [view(pair.a), view(pair.b)] });
  }

  /**
   * Forget registrations idle for `idleTimeoutMs` and release pairs older than
   * `busyTimeoutMs`. Cheap: it looks only at the oldest entries.
   *
   * @example
   * ```ts
   * import { ChatState } from "./chat_state.ts";
   * let t = 0;
   * const state = new ChatState({ idleTimeoutMs: 10, now: () => t });
   * state.handle({ family: "v4", ip: "192.0.2.1", port: 1 }, { type: "Register", username: "a" });
   * t = 10;
   * state.expire();
   * if (state.registrations !== 0) throw new Error("Not expired");
   * ```
   */
  expire(): void {
    const now = this.#now();
    for (const user of this.#byAddr.values()) {
      if (user.lastSeen + this.#idleMs > now) break;
      if (user.pair) this.#release(user.pair, "expired");
      this.#byAddr.delete(user.key);
      this.#byName.delete(user.username);
      this.#emit({ kind: "expired", user: view(user) });
    }
    for (const pair of this.#pairs) {
      if (pair.deadline > now) break;
      this.#release(pair, "busy_timeout");
    }
  }

  /**
   * When {@linkcode ChatState.expire} next has work, on the state's clock; `null` when the
   * tables are empty.
   *
   * @example
   * ```ts
   * import { ChatState } from "./chat_state.ts";
   * const state = new ChatState({ idleTimeoutMs: 10, now: () => 5 });
   * state.handle({ family: "v4", ip: "192.0.2.1", port: 1 }, { type: "Register", username: "a" });
   * if (state.nextDeadline() !== 15) throw new Error("Wrong deadline");
   * ```
   */
  nextDeadline(): number | null {
    let next: number | null = null;
    for (const user of this.#byAddr.values()) {
      next = user.lastSeen + this.#idleMs;
      break;
    }
    for (const pair of this.#pairs) {
      if (next === null || pair.deadline < next) next = pair.deadline;
      break;
    }
    return next;
  }

  /**
   * Forget everything (no events).
   *
   * @example
   * ```ts
   * import { ChatState } from "./chat_state.ts";
   * const state = new ChatState();
   * state.handle({ family: "v4", ip: "192.0.2.1", port: 1 }, { type: "Register", username: "a" });
   * state.clear();
   * if (state.registrations !== 0) throw new Error("Not cleared");
   * ```
   */
  clear(): void {
    this.#byAddr.clear();
    this.#byName.clear();
    this.#pairs.clear();
  }
}

function view(user: User): ChatUser {
  return { username: user.username, addr: user.addr };
}

function peerInfo(user: User): PeerPunchMessage {
  return { type: "PeerInfo", peer: user.addr, username: user.username };
}
