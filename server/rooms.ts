/**
 * Rooms of the gday contact exchange: the state a server keeps between `CreateRoom` and the two
 * `PeerContact` replies (spec: gday-0.1.1.md §2).
 *
 * {@linkcode RoomStore} is the interface the gday service talks to; {@linkcode MemoryRoomStore}
 * keeps rooms in this process. Differences from gday 0.1.1, all on purpose:
 * - a room's lifetime timer belongs to that room, so a code that completed and was created again
 *   keeps its full lifetime;
 * - the connections that touched a room are tracked per role; when every connection of one role
 *   has closed before the exchange, a waiting peer is answered at once (`peer-left`) instead of
 *   waiting for the timer;
 * - the number of rooms is bounded.
 *
 * @module
 */

import type { Contact, FullContact } from "../protocol/gday.ts";
import type { SocketAddr } from "../protocol/socket_addr.ts";

/** Which side of a room: the creator (`is_creator: true`) or the joiner. */
export type Role = "creator" | "joiner";

/** Identifies one client connection to the store (any unique value). */
export type OwnerId = number;

/**
 * Why a wait for the peer ended without a contact. `unavailable`: the store lost its shared
 * state (Redis) while waiting; the in-memory store never says it.
 */
export type PeerFailure = "expired" | "peer-left" | "replaced" | "closed" | "unavailable";

/** How a wait for the peer ended. */
export type PeerOutcome = { ok: true; contact: FullContact } | { ok: false; reason: PeerFailure };

/** The answer to `DoneSending` for a room that exists. */
export interface DoneResult {
  /** This side's contact as the server holds it now (the `ClientContact` reply). */
  own: FullContact;
  /** Settles when the peer is done too (`PeerContact`) or the wait fails (`ErrorPeerTimedOut`). */
  peer: Promise<PeerOutcome>;
  /** The outcome when it was known at once (the peer was already waiting), so replies can be sent together. */
  settled: PeerOutcome | null;
}

/** Something that happened to a room, for logs and metrics. Never carries the room code. */
export interface RoomEvent {
  /** What happened. */
  kind: "created" | "exchanged" | "expired" | "abandoned";
  /** A per-store sequence number naming the room in logs (not the code, which is a secret). */
  roomId: number;
}

/**
 * The rooms a gday service works on: {@linkcode MemoryRoomStore} in this process, or
 * `RedisRoomStore` (`server/redis/rooms.ts`) shared by processes. Methods that reach shared
 * state may reject with a `StateUnavailableError` (`server/state_errors.ts`); the service
 * answers those `ErrorInternal`.
 */
export interface RoomStore {
  /** Reserve `code` for a new room owned (as creator) by `owner`. */
  create(code: bigint, owner: OwnerId): Promise<"created" | "taken" | "full">;
  /** Does a room with this code exist? */
  has(code: bigint): Promise<boolean>;
  /**
   * Record a connection's observed public address and reported private address for `role`.
   * Resolves false when there is no such room.
   */
  sendAddr(
    code: bigint,
    role: Role,
    owner: OwnerId,
    publicAddr: SocketAddr,
    privateAddr: SocketAddr | null,
  ): Promise<boolean>;
  /** Mark `role` done; `null` when there is no such room. */
  done(code: bigint, role: Role, owner: OwnerId): Promise<DoneResult | null>;
  /** The connection `owner` closed. */
  release(owner: OwnerId): void;
  /** End every wait (`closed`) and drop every room and timer. */
  close(): void;
  /** Rooms held now. */
  readonly size: number;
}

/** Options for {@linkcode MemoryRoomStore}. */
export interface MemoryRoomStoreOptions {
  /** A room's lifetime from its creation, in milliseconds. @default {600000} */
  ttlMs?: number;
  /** Rooms held at most. @default {100000} */
  maxRooms?: number;
  /** Told about every room event. */
  onEvent?: (event: RoomEvent) => void;
}

interface Side {
  contact: FullContact;
  owners: Set<OwnerId>;
  /** Some connection of this side touched the room and every one of them has closed since. */
  departed: boolean;
  waiter: { owner: OwnerId; resolve: (outcome: PeerOutcome) => void } | null;
}

interface Room {
  id: number;
  code: bigint;
  timer: ReturnType<typeof setTimeout>;
  sides: Record<Role, Side>;
}

const other = (role: Role): Role => (role === "creator" ? "joiner" : "creator");

function newSide(): Side {
  return {
    contact: { private: { v4: null, v6: null }, public: { v4: null, v6: null } },
    owners: new Set(),
    departed: false,
    waiter: null,
  };
}

function setAddr(contact: Contact, addr: SocketAddr): void {
  if (addr.family === "v4") contact.v4 = addr;
  else contact.v6 = addr;
}

function copy(contact: FullContact): FullContact {
  return { private: { ...contact.private }, public: { ...contact.public } };
}

/**
 * Rooms held in this process's memory.
 *
 * @example A complete exchange
 * ```ts
 * import { MemoryRoomStore } from "./rooms.ts";
 * const store = new MemoryRoomStore();
 * await store.create(7n, 1);
 * await store.sendAddr(7n, "creator", 1, { family: "v4", ip: "192.0.2.1", port: 1000 }, null);
 * await store.sendAddr(7n, "joiner", 2, { family: "v4", ip: "192.0.2.2", port: 2000 }, null);
 * const a = await store.done(7n, "creator", 1);
 * const b = await store.done(7n, "joiner", 2);
 * const outcome = await a!.peer;
 * if (!outcome.ok || outcome.contact.public.v4?.port !== 2000) throw new Error("Wrong peer");
 * if (!(await b!.peer).ok || store.size !== 0) throw new Error("Room not removed");
 * store.close();
 * ```
 */
export class MemoryRoomStore implements RoomStore {
  #rooms = new Map<bigint, Room>();
  #owned = new Map<OwnerId, Set<Room>>();
  #ttlMs: number;
  #maxRooms: number;
  #onEvent: (event: RoomEvent) => void;
  #nextId = 1;

  /**
   * Make an empty store.
   *
   * @example
   * ```ts
   * import { MemoryRoomStore } from "./rooms.ts";
   * const store = new MemoryRoomStore({ ttlMs: 1000, maxRooms: 10 });
   * if (store.size !== 0) throw new Error("Not empty");
   * store.close();
   * ```
   */
  constructor(options: MemoryRoomStoreOptions = {}) {
    const { ttlMs = 600_000, maxRooms = 100_000, onEvent = () => {} } = options;
    if (!(ttlMs > 0)) throw new RangeError(`Room lifetime is ${ttlMs} ms, it must be > 0`);
    if (!(Number.isInteger(maxRooms) && maxRooms > 0)) {
      throw new RangeError(`Max rooms is ${maxRooms}, it must be an integer > 0`);
    }
    this.#ttlMs = ttlMs;
    this.#maxRooms = maxRooms;
    this.#onEvent = onEvent;
  }

  /**
   * Rooms held now.
   *
   * @example
   * ```ts
   * import { MemoryRoomStore } from "./rooms.ts";
   * const store = new MemoryRoomStore();
   * await store.create(1n, 1);
   * if (store.size !== 1) throw new Error("Not counted");
   * store.close();
   * ```
   */
  get size(): number {
    return this.#rooms.size;
  }

  /**
   * Reserve a room code.
   *
   * @example
   * ```ts
   * import { MemoryRoomStore } from "./rooms.ts";
   * const store = new MemoryRoomStore();
   * if (await store.create(5n, 1) !== "created" || await store.create(5n, 2) !== "taken") throw new Error("Wrong");
   * store.close();
   * ```
   */
  create(code: bigint, owner: OwnerId): Promise<"created" | "taken" | "full"> {
    if (this.#rooms.has(code)) return Promise.resolve("taken");
    if (this.#rooms.size >= this.#maxRooms) return Promise.resolve("full");
    const room: Room = {
      id: this.#nextId++,
      code,
      timer: setTimeout(() => this.#end(room, "expired"), this.#ttlMs),
      sides: { creator: newSide(), joiner: newSide() },
    };
    this.#rooms.set(code, room);
    this.#attach(room, "creator", owner);
    this.#onEvent({ kind: "created", roomId: room.id });
    return Promise.resolve("created");
  }

  /**
   * Does a room with this code exist?
   *
   * @example
   * ```ts
   * import { MemoryRoomStore } from "./rooms.ts";
   * if (await new MemoryRoomStore().has(1n)) throw new Error("Phantom room");
   * ```
   */
  has(code: bigint): Promise<boolean> {
    return Promise.resolve(this.#rooms.has(code));
  }

  /**
   * Record addresses for one side of a room.
   *
   * @example
   * ```ts
   * import { MemoryRoomStore } from "./rooms.ts";
   * const store = new MemoryRoomStore();
   * if (await store.sendAddr(1n, "joiner", 1, { family: "v4", ip: "192.0.2.1", port: 1 }, null)) {
   *   throw new Error("No such room, yet accepted");
   * }
   * ```
   */
  sendAddr(
    code: bigint,
    role: Role,
    owner: OwnerId,
    publicAddr: SocketAddr,
    privateAddr: SocketAddr | null,
  ): Promise<boolean> {
    const room = this.#rooms.get(code);
    if (room === undefined) return Promise.resolve(false);
    this.#attach(room, role, owner);
    const side = room.sides[role];
    setAddr(side.contact.public, publicAddr);
    if (privateAddr !== null) setAddr(side.contact.private, privateAddr);
    return Promise.resolve(true);
  }

  /**
   * Mark one side done and learn its own contact; the peer's follows.
   *
   * @example
   * ```ts
   * import { MemoryRoomStore } from "./rooms.ts";
   * if (await new MemoryRoomStore().done(1n, "creator", 1) !== null) throw new Error("No such room, yet done");
   * ```
   */
  done(code: bigint, role: Role, owner: OwnerId): Promise<DoneResult | null> {
    const room = this.#rooms.get(code);
    if (room === undefined) return Promise.resolve(null);
    this.#attach(room, role, owner);
    const side = room.sides[role];
    const peerSide = room.sides[other(role)];
    const own = copy(side.contact);
    // The same role done again: the earlier wait is replaced (gday answers it ErrorPeerTimedOut).
    side.waiter?.resolve({ ok: false, reason: "replaced" });
    let settled: PeerOutcome | null = null;
    let resolve!: (outcome: PeerOutcome) => void;
    const peer = new Promise<PeerOutcome>((r) => (resolve = r));
    side.waiter = {
      owner,
      resolve: (outcome) => {
        settled = outcome;
        resolve(outcome);
      },
    };
    if (peerSide.departed) {
      this.#end(room, "abandoned");
    } else if (peerSide.waiter !== null) {
      const peerWaiter = peerSide.waiter;
      const ownWaiter = side.waiter;
      side.waiter = null;
      peerSide.waiter = null;
      this.#remove(room);
      ownWaiter.resolve({ ok: true, contact: copy(peerSide.contact) });
      peerWaiter.resolve({ ok: true, contact: copy(side.contact) });
      this.#onEvent({ kind: "exchanged", roomId: room.id });
    }
    return Promise.resolve({ own, peer, settled });
  }

  /**
   * A connection closed: forget it, and end the rooms a departed side leaves waiting.
   *
   * @example
   * ```ts
   * import { MemoryRoomStore } from "./rooms.ts";
   * const store = new MemoryRoomStore();
   * await store.create(1n, 1);
   * await store.sendAddr(1n, "joiner", 2, { family: "v4", ip: "192.0.2.2", port: 2 }, null);
   * const waiting = await store.done(1n, "joiner", 2);
   * store.release(1);
   * const outcome = await waiting!.peer;
   * if (outcome.ok || outcome.reason !== "peer-left") throw new Error("Waiter not told");
   * ```
   */
  release(owner: OwnerId): void {
    const rooms = this.#owned.get(owner);
    if (rooms === undefined) return;
    this.#owned.delete(owner);
    for (const room of rooms) {
      if (this.#rooms.get(room.code) !== room) continue;
      for (const role of ["creator", "joiner"] as const) {
        const side = room.sides[role];
        if (!side.owners.delete(owner)) continue;
        if (side.waiter?.owner === owner) side.waiter = null;
        if (side.owners.size === 0) {
          side.departed = true;
          if (room.sides[other(role)].waiter !== null) this.#end(room, "abandoned");
        }
      }
    }
  }

  /**
   * End every wait and drop every room.
   *
   * @example
   * ```ts
   * import { MemoryRoomStore } from "./rooms.ts";
   * const store = new MemoryRoomStore();
   * await store.create(1n, 1);
   * store.close();
   * if (store.size !== 0) throw new Error("Rooms left");
   * ```
   */
  close(): void {
    for (const room of [...this.#rooms.values()]) {
      this.#remove(room);
      for (const side of Object.values(room.sides)) {
        side.waiter?.resolve({ ok: false, reason: "closed" });
      }
    }
    this.#owned.clear();
  }

  #attach(room: Room, role: Role, owner: OwnerId): void {
    const side = room.sides[role];
    side.owners.add(owner);
    side.departed = false;
    let rooms = this.#owned.get(owner);
    if (rooms === undefined) this.#owned.set(owner, rooms = new Set());
    rooms.add(room);
  }

  #remove(room: Room): void {
    clearTimeout(room.timer);
    if (this.#rooms.get(room.code) === room) this.#rooms.delete(room.code);
    for (const side of Object.values(room.sides)) {
      for (const owner of side.owners) {
        const rooms = this.#owned.get(owner);
        rooms?.delete(room);
        if (rooms?.size === 0) this.#owned.delete(owner);
      }
    }
  }

  #end(room: Room, kind: "expired" | "abandoned"): void {
    this.#remove(room);
    const reason: PeerFailure = kind === "expired" ? "expired" : "peer-left";
    for (const side of Object.values(room.sides)) {
      side.waiter?.resolve({ ok: false, reason });
      side.waiter = null;
    }
    this.#onEvent({ kind, roomId: room.id });
  }
}
