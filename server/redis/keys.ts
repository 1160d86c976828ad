/**
 * Where peerlink keeps its shared state in Redis. Every key and channel starts with the prefix
 * (`peerlink:` unless `--redis-prefix` says otherwise), so one Redis can serve several
 * independent clusters, and `redis-cli --scan --pattern 'peerlink:*'` lists everything.
 *
 * | key | type | holds | lifetime |
 * | --- | --- | --- | --- |
 * | `peerlink:instance:<id>` | channel | messages to one server process (JSON, `s` names the service) | — |
 * | `peerlink:gday:room:<h>` | hash | one room: log id `id`, creator process `inst`, per role (`c`/`j`) the addresses `c4p c6p c4r c6r` (public/private, IPv4/IPv6, JSON), owners `co:<owner>` and their count `cn`, departed flag `cd`, waiter `cw` and its owner `cwo` | the room TTL from `CreateRoom`, never extended |
 * | `peerlink:gday:rooms` | sorted set | `<h>` scored by expiry time (ms), to bound rooms across processes | members past their score are dropped on each `CreateRoom` |
 * | `peerlink:gday:seq` | string | the last room log id | — |
 * | `peerlink:broker:uid:<uid>` | hash | the registration: process `inst`, registration `reg`, HMAC of the secret `hash` | the drop timeout, renewed by each keep-alive |
 * | `peerlink:broker:req:<req>` | hash | a pending request: the process running it `inst`, its `uid` | a few step timeouts, renewed at each step; deleted when it ends |
 * | `peerlink:broker:seq` | string | the last request id | — |
 * | `peerlink:broker:hmac` | string | the key for HMACs of registration secrets (random, made once) | — |
 * | `peerlink:mediator:<mode>:wait:<fp>` | string | a waiting registration (JSON: what it wants, its ticket, process and data) | the wait timeout |
 * | `peerlink:chat:name:<username>` | hash | who holds a chat name: `addr`, process `inst` | the chat idle timeout, renewed as the user is heard |
 *
 * `<h>` is the first 32 hex digits of the SHA-256 of the room code's decimal digits
 * ({@linkcode gdayRoomKeyPart}), so codes do not stand in key listings or slow logs; owners are
 * `<process id>:<connection id>`. A state whose key expired is never written again: every
 * script that changes a room, registration or waiter first checks that its key exists.
 *
 * @module
 */

import { sha256 } from "@noble/hashes/sha2.js";

/** Hex digits of a room code's hash used in its key (128 bits). */
export const GDAY_ROOM_HASH_HEX = 32;

/**
 * The part of a room's key that names it: a hash of the code, never the code.
 *
 * @example
 * ```ts
 * import { gdayRoomKeyPart } from "./keys.ts";
 * const part = gdayRoomKeyPart(1234n);
 * if (part.length !== 32 || part.includes("1234") || part !== gdayRoomKeyPart(1234n)) throw new Error("Bad");
 * ```
 */
export function gdayRoomKeyPart(code: bigint): string {
  return sha256(new TextEncoder().encode(code.toString())).toHex().slice(0, GDAY_ROOM_HASH_HEX);
}

/** Every key and channel name of one prefix (see the module's table). */
export interface RedisKeys {
  /** The channel of one process. */
  instance(id: string): string;
  /** One gday room. */
  gdayRoom(part: string): string;
  /** Every live gday room, scored by expiry. */
  readonly gdayRooms: string;
  /** Room log ids. */
  readonly gdaySeq: string;
  /** One broker registration. */
  brokerUid(uid: string): string;
  /** One pending broker request. */
  brokerReq(req: number): string;
  /** Broker request ids. */
  readonly brokerSeq: string;
  /** The key of registration-secret HMACs. */
  readonly brokerHmac: string;
  /** One waiting mediator registration. */
  mediatorWait(mode: string, fingerprint: string): string;
  /** One chat name. */
  chatName(username: string): string;
}

/**
 * The key names for `prefix`.
 *
 * @example
 * ```ts
 * import { redisKeys } from "./keys.ts";
 * const keys = redisKeys("peerlink:");
 * if (keys.brokerUid("alice") !== "peerlink:broker:uid:alice") throw new Error("Bad key");
 * if (keys.instance("ab") !== "peerlink:instance:ab") throw new Error("Bad channel");
 * ```
 */
export function redisKeys(prefix: string): RedisKeys {
  return Object.freeze({
    instance: (id: string) => `${prefix}instance:${id}`,
    gdayRoom: (part: string) => `${prefix}gday:room:${part}`,
    gdayRooms: `${prefix}gday:rooms`,
    gdaySeq: `${prefix}gday:seq`,
    brokerUid: (uid: string) => `${prefix}broker:uid:${uid}`,
    brokerReq: (req: number) => `${prefix}broker:req:${req}`,
    brokerSeq: `${prefix}broker:seq`,
    brokerHmac: `${prefix}broker:hmac`,
    mediatorWait: (mode: string, fingerprint: string) =>
      `${prefix}mediator:${mode}:wait:${fingerprint}`,
    chatName: (username: string) => `${prefix}chat:name:${username}`,
  });
}
