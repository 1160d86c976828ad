/**
 * The connection-broker protocol, version 1: peerlink's byte format for the p2prs twelve-step
 * keep-alive flow (spec: p2prs.md §2; no p2prs source survives, so this format is peerlink's own).
 *
 * ## Framing
 *
 * Every message is one frame of the shared framing (`framing/length_prefixed.ts`): a 4-byte
 * big-endian length, then that many bytes of compact UTF-8 JSON, one object per frame:
 * `{"v":1,"type":"<name>",...fields}`. `v` is the protocol version
 * ({@linkcode BROKER_PROTOCOL_VERSION}); encoders write the keys in the order of the tables below
 * and leave optional fields out when absent. Decoders ignore unknown keys, accept keys in any
 * order, and refuse everything else: unknown `type`, missing or ill-typed fields, frames above
 * {@linkcode MAX_BROKER_MESSAGE_BYTES}. A frame whose `v` is not 1 raises
 * {@linkcode BrokerVersionError}, except `error` frames, which every version decodes (so a
 * client can read a newer broker's refusal).
 *
 * Field formats: `uid` is 1–64 characters `[A-Za-z0-9._-]`, starting with a letter or digit
 * (case-sensitive); `secret` is 1–256 UTF-8 bytes; `req` is an integer from 1 to 2^53−1; `token`
 * is 32 lower-case hex digits (128 random bits the broker draws per request); addresses
 * (`addr`, `you`) are socket-address strings as Rust prints them (`198.51.100.1:40000`,
 * `[2001:db8::1]:40000`); `*_ms` are integers from 1 to 2^31−1.
 *
 * ## Registration (initiation, p2prs I1–I4), on the receiver's long-lived connection
 *
 * | # | direction | message | JSON body |
 * | --- | --- | --- | --- |
 * | I1 | R → B | register | `{"v":1,"type":"register","uid":"alice","secret":"s3cret"}` (`secret` optional) |
 * | I2 | B → R | ack | `{"v":1,"type":"registered","uid":"alice","keepalive_ms":30000,"timeout_ms":65000,"addr":"198.51.100.1:40000"}` |
 * | I3 | R → B | keep-alive | `{"v":1,"type":"keepalive"}`, every `keepalive_ms` (30 s) |
 * | I3 | B → R | keep-alive answer | `{"v":1,"type":"keepalive_ack"}` (lets the receiver notice a dead broker) |
 * | I4 | R → B | kill | `{"v":1,"type":"kill"}`; the broker forgets the UID and closes |
 *
 * The broker drops a receiver after `timeout_ms` (65 s) without any message, or when its
 * connection closes. A UID belongs to whoever registered it first until it drops; registering a
 * held UID again needs the same `secret` (the broker keeps only a keyed hash of it) and replaces
 * the old registration, which is told `error` `replaced`.
 *
 * ## Connection formation: the twelve steps (p2prs §2.3)
 *
 * | # | connection | direction | message |
 * | --- | --- | --- | --- |
 * | 1 | S1: new, sender → broker, kept open until 11 | S → B | `{"v":1,"type":"connect","uid":"alice"}`; the broker records `IP_SENDER:PORT_SENDER` |
 * | 2 | registration | B → R | `{"v":1,"type":"request","req":7,"token":"<32 hex>"}` |
 * | 3 | R1: new, receiver → broker, from `PORT_RECEIVER` | R → B | `{"v":1,"type":"accept","req":7,"token":"<32 hex>"}`; the broker records `IP_RECEIVER:PORT_RECEIVER` |
 * | 4 | R1 | B → R | `{"v":1,"type":"sender","req":7,"addr":"203.0.113.5:40001","you":"198.51.100.1:40000"}` |
 * | 5 | R1 | R closes | |
 * | 6–8 | | R | connect from `PORT_RECEIVER` to `addr`, aborted quickly (7), then listen on `PORT_RECEIVER` (8) |
 * | 9 | R2: new | R → B | `{"v":1,"type":"punched","req":7,"token":"<32 hex>","step6":"timeout"}`, then closes |
 * | 10 | S1 | B → S | `{"v":1,"type":"receiver","req":7,"token":"<32 hex>","addr":"198.51.100.1:40000","you":"203.0.113.5:40001","step6":"timeout"}` |
 * | 11 | S1 | B closes | |
 * | 12 | new, from `PORT_SENDER`'s local port | S → R | TCP connect, then `hello` both ways (below) |
 *
 * `req` links the step-3 and step-9 connections (and the fallback) to the pending request;
 * `token` proves the connection belongs to it. `step6` is what the receiver's step-6 connect did:
 * `timeout` (aborted: the SYN was dropped, the expected case), `refused` (a RST came back),
 * `connected`, or `error`. `you` tells each side its own public address as the broker sees it.
 *
 * After step 12 both peers send `{"v":1,"type":"hello","req":7,"token":"<32 hex>","role":"sender"}`
 * (`role` `receiver` from the receiver) as the first frame of the direct connection, and check
 * the other's; the bytes after it belong to the application. The receiver then reports on its
 * registration: `{"v":1,"type":"done","req":7,"via":"twelve-step"}` (or
 * `{"v":1,"type":"done","req":7,"error":"timeout"}`).
 *
 * ## Fallback: simultaneous open
 *
 * When step 12 fails (no answer in time, refused, or a wrong `hello`), the sender opens S2 from a
 * fresh local port: `{"v":1,"type":"fallback","req":7,"token":"<32 hex>","step12":"timeout"}`.
 * The broker records S2's public address, tells the receiver on its registration
 * `{"v":1,"type":"fallback_start","req":7,"addr":"203.0.113.5:40002"}`, answers S2
 * `{"v":1,"type":"fallback_ready","req":7,"addr":"198.51.100.1:40000","you":"203.0.113.5:40002"}`
 * and closes S2. Both peers then run a TCP simultaneous open (`punch/tcp.ts`): the receiver from
 * `PORT_RECEIVER`, the sender from S2's local port (a new port: the failed attempt left NAT
 * state for the old pair of ports that would drop the new SYNs), then `hello`, then `done` with
 * `"via":"simultaneous-open"`.
 *
 * ## What p2prs's README leaves out (and peerlink does)
 *
 * - The sender must connect in step 12 *from S1's local port*: the receiver's NAT only lets in a
 *   SYN from the address and port its step-6 SYN went to. The sender binds it (`SO_REUSEADDR`);
 *   the broker closing S1 first (step 11) means the sender has no `TIME_WAIT` on it.
 * - The receiver's step-6 connect is aborted after a short time (250 ms by default): the
 *   sender's NAT drops the SYN, so left alone it would hang for about two minutes. The step-7
 *   "error" is that abort (or a RST); the port is free again for step 8 only once that socket is
 *   closed (Deno cannot listen and connect on one port at once).
 * - The receiver listens on its *local* port of R1, and the sender dials R1's *public* port as
 *   the broker saw it; with endpoint-independent mapping these meet even when the NAT does not
 *   keep port numbers (p2prs assumes port-preserving NATs).
 * - Step 12 fails through a NAT that tracks TCP sequence numbers (Linux conntrack by default):
 *   the receiver's listener answers with a new sequence number, not the aborted step-6 SYN's,
 *   and the NAT drops that SYN-ACK as out of window. It also fails when the sender has no NAT:
 *   its host answers the step-6 SYN with a RST, which removes the receiver's NAT mapping. Hence
 *   the fallback below.
 *
 * ## Other messages
 *
 * | direction | JSON body | meaning |
 * | --- | --- | --- |
 * | R → B | `{"v":1,"type":"decline","req":7}` | the receiver is busy; the sender gets `busy` |
 * | B → R | `{"v":1,"type":"abort","req":7,"error":"sender_gone"}` | the request is over |
 * | B → any | `{"v":1,"type":"error","error":"unknown_uid","message":"..."}` | refusal, then close |
 *
 * `error` carries one {@linkcode BrokerErrorCode} and optionally `req`, a human `message` (at
 * most 200 characters), for `timeout` the `step` (1–12) that did not happen in time, and for
 * `family_mismatch` the `family` (`"v4"`/`"v6"`) the receiver uses.
 *
 * Pure functions, no I/O.
 *
 * @example Encode, frame and decode a registration
 * ```ts
 * import { decodeBrokerMessage, encodeBrokerFrame } from "./broker.ts";
 * const frame = encodeBrokerFrame({ type: "register", uid: "alice" });
 * const msg = decodeBrokerMessage(frame.subarray(4));
 * if (msg.type !== "register" || msg.uid !== "alice") throw new Error("No round trip");
 * ```
 *
 * @module
 */

import { encodeFrame } from "../framing/length_prefixed.ts";
import { isJsonObject, JsonNumber, jsonUnsigned, type JsonValue, parseJson } from "./json.ts";
import { formatSocketAddr, parseSocketAddr, type SocketAddr } from "./socket_addr.ts";

/** The broker protocol version this codec speaks (the `v` of every frame). */
export const BROKER_PROTOCOL_VERSION = 1;

/** The broker's default TCP port (p2prs gives none; 2310–2313 are taken by gday, the mediator and the relay). */
export const DEFAULT_BROKER_PORT = 2314;

/** The largest message body, in bytes: every valid message is well under 600 bytes. */
export const MAX_BROKER_MESSAGE_BYTES = 1024;

/** The longest UID, in characters. */
export const MAX_BROKER_UID_LENGTH = 64;

/** The longest registration secret, in UTF-8 bytes. */
export const MAX_BROKER_SECRET_BYTES = 256;

/** The longest human `message` in an `error`, in characters. */
export const MAX_BROKER_ERROR_MESSAGE_LENGTH = 200;

/** Hex digits in a request token (128 bits). */
export const BROKER_TOKEN_HEX_LENGTH = 32;

/** The keep-alive interval of p2prs (§2.4): 30 s. */
export const DEFAULT_BROKER_KEEPALIVE_MS = 30_000;

/** The p2prs broker drops a receiver after 65 s without a message (§2.4: two intervals + 5 s). */
export const DEFAULT_BROKER_DROP_TIMEOUT_MS = 65_000;

/** Every error code an `error` (or `abort`, `done`) message may carry. */
export const BROKER_ERROR_CODES = [
  "unknown_uid",
  "busy",
  "receiver_gone",
  "sender_gone",
  "timeout",
  "version",
  "uid_held",
  "replaced",
  "bad_message",
  "unknown_request",
  "family_mismatch",
  "rate_limited",
  "limit",
  "no_path",
  "shutdown",
] as const;

/** Why the broker (or a peer) refused or ended something. */
export type BrokerErrorCode = typeof BROKER_ERROR_CODES[number];

/** What the receiver's step-6 connect did. */
export type BrokerStep6Outcome = "timeout" | "refused" | "connected" | "error";

/** Why the sender's step-12 connect did not give a connection. */
export type BrokerStep12Failure = "timeout" | "refused" | "error" | "hello";

/** How a broker connection was formed: the p2prs flow, or the simultaneous-open fallback. */
export type BrokerVia = "twelve-step" | "simultaneous-open";

/** Which side of a direct connection sent a `hello`. */
export type BrokerRole = "sender" | "receiver";

/** An IP family. */
export type BrokerFamily = "v4" | "v6";

/** I1, R → B: register `uid` (optionally protected by `secret`). */
export interface BrokerRegisterMsg {
  /** Discriminant. */
  type: "register";
  /** The name senders dial. */
  uid: string;
  /** Needed to register the same UID again while it is held. */
  secret?: string;
}

/** I2, B → R: the registration is accepted. */
export interface BrokerRegisteredMsg {
  /** Discriminant. */
  type: "registered";
  /** The UID registered. */
  uid: string;
  /** Send a keep-alive this often (ms). */
  keepaliveMs: number;
  /** The broker drops a receiver silent for this long (ms). */
  timeoutMs: number;
  /** The receiver's public address as the broker sees it. */
  addr: SocketAddr;
}

/** I3 / I4: a message without fields. */
export interface BrokerUnitMsg {
  /** `keepalive` (R → B), `keepalive_ack` (B → R) or `kill` (R → B). */
  type: "keepalive" | "keepalive_ack" | "kill";
}

/** Step 1, S → B on S1: connect me to `uid`. */
export interface BrokerConnectMsg {
  /** Discriminant. */
  type: "connect";
  /** The receiver's UID. */
  uid: string;
}

/** Step 2, B → R on the registration: a sender wants you. */
export interface BrokerRequestMsg {
  /** Discriminant. */
  type: "request";
  /** The request id. */
  req: number;
  /** The request's token, to present on the step-3 and step-9 connections. */
  token: string;
}

/** Step 3, R → B on R1 (and step 9 on R2 as `punched`): the receiver's acknowledgement. */
export interface BrokerAcceptMsg {
  /** Discriminant. */
  type: "accept";
  /** The request id. */
  req: number;
  /** The request's token. */
  token: string;
}

/** Step 4, B → R on R1: the sender's public address. */
export interface BrokerSenderMsg {
  /** Discriminant. */
  type: "sender";
  /** The request id. */
  req: number;
  /** `IP_SENDER:PORT_SENDER`. */
  addr: SocketAddr;
  /** The receiver's own public address on R1 (`IP_RECEIVER:PORT_RECEIVER`). */
  you: SocketAddr;
}

/** Step 9, R → B on R2: "finished hole punch". */
export interface BrokerPunchedMsg {
  /** Discriminant. */
  type: "punched";
  /** The request id. */
  req: number;
  /** The request's token. */
  token: string;
  /** What the step-6 connect did. */
  step6: BrokerStep6Outcome;
}

/** Step 10, B → S on S1: the receiver's public address; the broker closes S1 next (step 11). */
export interface BrokerReceiverMsg {
  /** Discriminant. */
  type: "receiver";
  /** The request id. */
  req: number;
  /** The request's token (for `hello` and the fallback). */
  token: string;
  /** `IP_RECEIVER:PORT_RECEIVER`. */
  addr: SocketAddr;
  /** The sender's own public address on S1. */
  you: SocketAddr;
  /** What the receiver's step-6 connect did. */
  step6: BrokerStep6Outcome;
}

/** Fallback, S → B on S2: step 12 failed. */
export interface BrokerFallbackMsg {
  /** Discriminant. */
  type: "fallback";
  /** The request id. */
  req: number;
  /** The request's token. */
  token: string;
  /** How step 12 failed. */
  step12: BrokerStep12Failure;
}

/** Fallback, B → R on the registration: punch towards `addr` (the sender's S2 address). */
export interface BrokerFallbackStartMsg {
  /** Discriminant. */
  type: "fallback_start";
  /** The request id. */
  req: number;
  /** The sender's public address on S2. */
  addr: SocketAddr;
}

/** Fallback, B → S on S2: punch towards `addr`; the broker closes S2 next. */
export interface BrokerFallbackReadyMsg {
  /** Discriminant. */
  type: "fallback_ready";
  /** The request id. */
  req: number;
  /** The receiver's public address (`IP_RECEIVER:PORT_RECEIVER`). */
  addr: SocketAddr;
  /** The sender's own public address on S2. */
  you: SocketAddr;
}

/** R → B on the registration: how request `req` ended on the receiver's side. */
export interface BrokerDoneMsg {
  /** Discriminant. */
  type: "done";
  /** The request id. */
  req: number;
  /** How the connection formed (absent on failure). */
  via?: BrokerVia;
  /** Why it failed (absent on success). */
  error?: BrokerErrorCode;
}

/** R → B on the registration: the receiver will not take request `req` (busy). */
export interface BrokerDeclineMsg {
  /** Discriminant. */
  type: "decline";
  /** The request id. */
  req: number;
}

/** B → R on the registration: request `req` is over (the sender left, a step timed out, ...). */
export interface BrokerAbortMsg {
  /** Discriminant. */
  type: "abort";
  /** The request id. */
  req: number;
  /** Why. */
  error: BrokerErrorCode;
}

/** Peer ↔ peer, first frame of a direct connection. */
export interface BrokerHelloMsg {
  /** Discriminant. */
  type: "hello";
  /** The request id. */
  req: number;
  /** The request's token (both peers got it from the broker). */
  token: string;
  /** The sending side. */
  role: BrokerRole;
}

/** B → any: a refusal; the broker closes the connection after it (except on `abort`). */
export interface BrokerErrorMsg {
  /** Discriminant. */
  type: "error";
  /** What went wrong. */
  error: BrokerErrorCode;
  /** The request concerned, if any. */
  req?: number;
  /** Text for people (at most 200 characters). */
  message?: string;
  /** For `timeout`: the step (1–12) that did not happen in time. */
  step?: number;
  /** For `family_mismatch`: the family the receiver is registered over. */
  family?: BrokerFamily;
  /** The version of the frame (set by the decoder; encoders always write 1). */
  version?: number;
}

/** Any broker-protocol message. */
export type BrokerMessage =
  | BrokerRegisterMsg
  | BrokerRegisteredMsg
  | BrokerUnitMsg
  | BrokerConnectMsg
  | BrokerRequestMsg
  | BrokerAcceptMsg
  | BrokerSenderMsg
  | BrokerPunchedMsg
  | BrokerReceiverMsg
  | BrokerFallbackMsg
  | BrokerFallbackStartMsg
  | BrokerFallbackReadyMsg
  | BrokerDoneMsg
  | BrokerDeclineMsg
  | BrokerAbortMsg
  | BrokerHelloMsg
  | BrokerErrorMsg;

/** The `type` of any broker-protocol message. */
export type BrokerMessageType = BrokerMessage["type"];

/** Every message type, in the order of the module tables. */
export const BROKER_MESSAGE_TYPES: readonly BrokerMessageType[] = [
  "register",
  "registered",
  "keepalive",
  "keepalive_ack",
  "kill",
  "connect",
  "request",
  "accept",
  "sender",
  "punched",
  "receiver",
  "fallback",
  "fallback_start",
  "fallback_ready",
  "done",
  "decline",
  "abort",
  "hello",
  "error",
];

/** A broker message could not be encoded or decoded. */
export class BrokerProtocolError extends Error {
  /**
   * Make the error.
   *
   * @example
   * ```ts
   * import { BrokerProtocolError } from "./broker.ts";
   * if (new BrokerProtocolError("Bad").name !== "BrokerProtocolError") throw new Error("Bad name");
   * ```
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "BrokerProtocolError";
  }
}

/** A broker frame carries another protocol version than {@linkcode BROKER_PROTOCOL_VERSION}. */
export class BrokerVersionError extends BrokerProtocolError {
  /** The version the frame carried. */
  readonly version: number;
  /**
   * Make the error.
   *
   * @example
   * ```ts
   * import { BrokerVersionError } from "./broker.ts";
   * const error = new BrokerVersionError(2);
   * if (error.version !== 2 || !error.message.includes("version 2")) throw new Error("Bad error");
   * ```
   */
  constructor(version: number, options?: ErrorOptions) {
    super(
      `The peer speaks broker protocol version ${version}, this peerlink speaks ` +
        `${BROKER_PROTOCOL_VERSION}; run the same peerlink version on both sides`,
      options,
    );
    this.name = "BrokerVersionError";
    this.version = version;
  }
}

const UID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const TOKEN_PATTERN = /^[0-9a-f]{32}$/;
const STEP6: readonly BrokerStep6Outcome[] = ["timeout", "refused", "connected", "error"];
const STEP12: readonly BrokerStep12Failure[] = ["timeout", "refused", "error", "hello"];
const VIAS: readonly BrokerVia[] = ["twelve-step", "simultaneous-open"];
const ROLES: readonly BrokerRole[] = ["sender", "receiver"];
const FAMILIES: readonly BrokerFamily[] = ["v4", "v6"];
const MAX_MS = 2 ** 31 - 1;

const encoder = new TextEncoder();

/**
 * Is `uid` a valid UID: 1–64 characters `[A-Za-z0-9._-]`, starting with a letter or digit?
 *
 * @example
 * ```ts
 * import { isValidBrokerUid } from "./broker.ts";
 * if (!isValidBrokerUid("alice-laptop.1") || isValidBrokerUid("-x") || isValidBrokerUid("a b")) {
 *   throw new Error("Wrong verdict");
 * }
 * ```
 */
export function isValidBrokerUid(uid: string): boolean {
  return typeof uid === "string" && UID_PATTERN.test(uid);
}

/**
 * Is `token` a valid request token (32 lower-case hex digits)?
 *
 * @example
 * ```ts
 * import { isValidBrokerToken } from "./broker.ts";
 * if (!isValidBrokerToken("00112233445566778899aabbccddeeff") || isValidBrokerToken("AB")) {
 *   throw new Error("Wrong verdict");
 * }
 * ```
 */
export function isValidBrokerToken(token: string): boolean {
  return typeof token === "string" && TOKEN_PATTERN.test(token);
}

/**
 * A fresh random request token (128 bits as 32 lower-case hex digits).
 *
 * @example
 * ```ts
 * import { isValidBrokerToken, randomBrokerToken } from "./broker.ts";
 * if (!isValidBrokerToken(randomBrokerToken())) throw new Error("Bad token");
 * ```
 */
export function randomBrokerToken(): string {
  return crypto.getRandomValues(new Uint8Array(16)).toHex();
}

function fail(message: string): never {
  throw new BrokerProtocolError(message);
}

function checkUid(uid: string, where: string): string {
  if (!isValidBrokerUid(uid)) {
    fail(
      `${where}.uid must be 1 to ${MAX_BROKER_UID_LENGTH} characters of letters, digits, ".", "_" ` +
        `or "-", starting with a letter or digit`,
    );
  }
  return uid;
}

function checkSecret(secret: string, where: string): string {
  const bytes = typeof secret === "string" ? encoder.encode(secret).length : 0;
  if (bytes < 1 || bytes > MAX_BROKER_SECRET_BYTES) {
    fail(`${where}.secret must be 1 to ${MAX_BROKER_SECRET_BYTES} bytes of text`);
  }
  return secret;
}

function checkReq(req: number, where: string): number {
  if (!Number.isSafeInteger(req) || req < 1) {
    fail(`${where}.req must be an integer from 1 to 2^53-1`);
  }
  return req;
}

function checkToken(token: string, where: string): string {
  if (!isValidBrokerToken(token)) fail(`${where}.token must be 32 lower-case hex digits`);
  return token;
}

function checkStep(step: number, where: string): number {
  if (!Number.isInteger(step) || step < 1 || step > 12) {
    fail(`${where}.step must be an integer from 1 to 12`);
  }
  return step;
}

function checkMs(ms: number, where: string, key: string): number {
  if (!Number.isInteger(ms) || ms < 1 || ms > MAX_MS) {
    fail(`${where}.${key} must be an integer from 1 to 2^31-1`);
  }
  return ms;
}

function checkOneOf<T extends string>(
  value: T,
  allowed: readonly T[],
  where: string,
  key: string,
): T {
  if (!allowed.includes(value)) fail(`${where}.${key} must be one of ${allowed.join(", ")}`);
  return value;
}

function checkMessageText(text: string, where: string): string {
  if (typeof text !== "string" || text.length > MAX_BROKER_ERROR_MESSAGE_LENGTH) {
    fail(`${where}.message must be text of at most ${MAX_BROKER_ERROR_MESSAGE_LENGTH} characters`);
  }
  return text;
}

function addrText(addr: SocketAddr, where: string, key: string): string {
  try {
    const text = formatSocketAddr(addr);
    if (parseSocketAddr(text) !== null) return text;
  } catch { /* reported below */ }
  fail(`${where}.${key} must be a socket address`);
}

/** Build `{"v":1,"type":...,...}` from ordered [key, JSON text] pairs. */
function body(type: string, fields: [string, string | undefined][]): Uint8Array {
  let text = `{"v":${BROKER_PROTOCOL_VERSION},"type":"${type}"`;
  for (const [key, value] of fields) if (value !== undefined) text += `,"${key}":${value}`;
  const bytes = encoder.encode(text + "}");
  if (bytes.length > MAX_BROKER_MESSAGE_BYTES) {
    fail(`A ${type} message of ${bytes.length} bytes exceeds ${MAX_BROKER_MESSAGE_BYTES} bytes`);
  }
  return bytes;
}

const str = (value: string): string => JSON.stringify(value);
const opt = <T>(value: T | undefined, f: (v: T) => string): string | undefined =>
  value === undefined ? undefined : f(value);

/**
 * Encode a message as its compact JSON body (no length prefix).
 *
 * @throws {BrokerProtocolError} when a field is invalid (bad UID, token, address, ...).
 *
 * @example
 * ```ts
 * import { encodeBrokerMessage } from "./broker.ts";
 * const text = new TextDecoder().decode(encodeBrokerMessage({ type: "connect", uid: "alice" }));
 * if (text !== '{"v":1,"type":"connect","uid":"alice"}') throw new Error(text);
 * ```
 */
export function encodeBrokerMessage(msg: BrokerMessage): Uint8Array {
  const t = msg.type;
  switch (msg.type) {
    case "register":
      return body(t, [
        ["uid", str(checkUid(msg.uid, t))],
        ["secret", opt(msg.secret, (s) => str(checkSecret(s, t)))],
      ]);
    case "registered":
      return body(t, [
        ["uid", str(checkUid(msg.uid, t))],
        ["keepalive_ms", String(checkMs(msg.keepaliveMs, t, "keepalive_ms"))],
        ["timeout_ms", String(checkMs(msg.timeoutMs, t, "timeout_ms"))],
        ["addr", str(addrText(msg.addr, t, "addr"))],
      ]);
    case "keepalive":
    case "keepalive_ack":
    case "kill":
      return body(t, []);
    case "connect":
      return body(t, [["uid", str(checkUid(msg.uid, t))]]);
    case "request":
    case "accept":
      return body(t, [
        ["req", String(checkReq(msg.req, t))],
        ["token", str(checkToken(msg.token, t))],
      ]);
    case "sender":
      return body(t, [
        ["req", String(checkReq(msg.req, t))],
        ["addr", str(addrText(msg.addr, t, "addr"))],
        ["you", str(addrText(msg.you, t, "you"))],
      ]);
    case "punched":
      return body(t, [
        ["req", String(checkReq(msg.req, t))],
        ["token", str(checkToken(msg.token, t))],
        ["step6", str(checkOneOf(msg.step6, STEP6, t, "step6"))],
      ]);
    case "receiver":
      return body(t, [
        ["req", String(checkReq(msg.req, t))],
        ["token", str(checkToken(msg.token, t))],
        ["addr", str(addrText(msg.addr, t, "addr"))],
        ["you", str(addrText(msg.you, t, "you"))],
        ["step6", str(checkOneOf(msg.step6, STEP6, t, "step6"))],
      ]);
    case "fallback":
      return body(t, [
        ["req", String(checkReq(msg.req, t))],
        ["token", str(checkToken(msg.token, t))],
        ["step12", str(checkOneOf(msg.step12, STEP12, t, "step12"))],
      ]);
    case "fallback_start":
      return body(t, [
        ["req", String(checkReq(msg.req, t))],
        ["addr", str(addrText(msg.addr, t, "addr"))],
      ]);
    case "fallback_ready":
      return body(t, [
        ["req", String(checkReq(msg.req, t))],
        ["addr", str(addrText(msg.addr, t, "addr"))],
        ["you", str(addrText(msg.you, t, "you"))],
      ]);
    case "done":
      if ((msg.via === undefined) === (msg.error === undefined)) {
        fail("done needs exactly one of via and error");
      }
      return body(t, [
        ["req", String(checkReq(msg.req, t))],
        ["via", opt(msg.via, (v) => str(checkOneOf(v, VIAS, t, "via")))],
        ["error", opt(msg.error, (e) => str(checkOneOf(e, BROKER_ERROR_CODES, t, "error")))],
      ]);
    case "decline":
      return body(t, [["req", String(checkReq(msg.req, t))]]);
    case "abort":
      return body(t, [
        ["req", String(checkReq(msg.req, t))],
        ["error", str(checkOneOf(msg.error, BROKER_ERROR_CODES, t, "error"))],
      ]);
    case "hello":
      return body(t, [
        ["req", String(checkReq(msg.req, t))],
        ["token", str(checkToken(msg.token, t))],
        ["role", str(checkOneOf(msg.role, ROLES, t, "role"))],
      ]);
    case "error":
      return body(t, [
        ["error", str(checkOneOf(msg.error, BROKER_ERROR_CODES, t, "error"))],
        ["req", opt(msg.req, (r) => String(checkReq(r, t)))],
        ["message", opt(msg.message, (m) => str(checkMessageText(m, t)))],
        ["step", opt(msg.step, (n) => String(checkStep(n, t)))],
        ["family", opt(msg.family, (f) => str(checkOneOf(f, FAMILIES, t, "family")))],
      ]);
    default:
      fail(`Unknown broker message type ${String((msg as { type: unknown }).type)}`);
  }
}

/**
 * Encode a message as a complete frame (4-byte length prefix and body).
 *
 * @example
 * ```ts
 * import { encodeBrokerFrame } from "./broker.ts";
 * const frame = encodeBrokerFrame({ type: "keepalive" });
 * if (frame.subarray(0, 4).toHex() !== "0000001a") throw new Error("Bad length");
 * ```
 */
export function encodeBrokerFrame(msg: BrokerMessage): Uint8Array {
  return encodeFrame(encodeBrokerMessage(msg));
}

type Fields = { [key: string]: JsonValue };

function stringField(f: Fields, where: string, key: string): string {
  const value = f[key];
  if (typeof value !== "string") fail(`${where}.${key} must be a string`);
  return value;
}

function optionalString(f: Fields, where: string, key: string): string | undefined {
  return f[key] === undefined || f[key] === null ? undefined : stringField(f, where, key);
}

function intField(f: Fields, where: string, key: string, bits: number): number {
  const value = jsonUnsigned(f[key], bits);
  if (value === null) fail(`${where}.${key} must be a non-negative integer`);
  return Number(value);
}

function reqField(f: Fields, where: string): number {
  return checkReq(intField(f, where, "req", 53), where);
}

function addrField(f: Fields, where: string, key: string): SocketAddr {
  const addr = parseSocketAddr(stringField(f, where, key));
  if (addr === null) fail(`${where}.${key} must be a socket address such as 198.51.100.1:40000`);
  return addr;
}

function enumField<T extends string>(
  f: Fields,
  where: string,
  key: string,
  allowed: readonly T[],
): T {
  return checkOneOf(stringField(f, where, key) as T, allowed, where, key);
}

/**
 * Decode a message from its JSON body (no length prefix).
 *
 * @throws {BrokerVersionError} when the frame carries another version (except `error` frames).
 * @throws {BrokerProtocolError} for anything that is not a valid version-1 message.
 *
 * @example
 * ```ts
 * import { decodeBrokerMessage } from "./broker.ts";
 * const msg = decodeBrokerMessage(new TextEncoder().encode(
 *   '{"type":"sender","v":1,"req":7,"addr":"203.0.113.5:40001","you":"198.51.100.1:40000","x":0}',
 * ));
 * if (msg.type !== "sender" || msg.addr.port !== 40001) throw new Error("Bad decode");
 * ```
 */
export function decodeBrokerMessage(bytes: Uint8Array): BrokerMessage {
  if (bytes.length > MAX_BROKER_MESSAGE_BYTES) {
    fail(`Message of ${bytes.length} bytes exceeds ${MAX_BROKER_MESSAGE_BYTES} bytes`);
  }
  let value: JsonValue;
  try {
    value = parseJson(bytes);
  } catch (cause) {
    throw new BrokerProtocolError((cause as Error).message, { cause });
  }
  if (!isJsonObject(value)) fail("A broker message must be a JSON object");
  const f = value;
  if (!(f.v instanceof JsonNumber)) fail('A broker message needs a version "v"');
  const version = jsonUnsigned(f.v, 32);
  if (version === null) fail('"v" must be a non-negative integer');
  const type = f.type;
  if (typeof type !== "string") fail('A broker message needs a "type" string');
  const v = Number(version);
  if (type === "error") {
    const msg: BrokerErrorMsg = {
      type,
      error: enumField(f, type, "error", BROKER_ERROR_CODES),
    };
    if (f.req !== undefined && f.req !== null) msg.req = reqField(f, type);
    const message = optionalString(f, type, "message");
    if (message !== undefined) msg.message = checkMessageText(message, type);
    if (f.step !== undefined && f.step !== null) {
      msg.step = checkStep(intField(f, type, "step", 8), type);
    }
    if (f.family !== undefined && f.family !== null) {
      msg.family = enumField(f, type, "family", FAMILIES);
    }
    if (v !== BROKER_PROTOCOL_VERSION) msg.version = v;
    return msg;
  }
  if (v !== BROKER_PROTOCOL_VERSION) throw new BrokerVersionError(v);
  switch (type) {
    case "register": {
      const msg: BrokerRegisterMsg = { type, uid: checkUid(stringField(f, type, "uid"), type) };
      const secret = optionalString(f, type, "secret");
      if (secret !== undefined) msg.secret = checkSecret(secret, type);
      return msg;
    }
    case "registered":
      return {
        type,
        uid: checkUid(stringField(f, type, "uid"), type),
        keepaliveMs: checkMs(intField(f, type, "keepalive_ms", 32), type, "keepalive_ms"),
        timeoutMs: checkMs(intField(f, type, "timeout_ms", 32), type, "timeout_ms"),
        addr: addrField(f, type, "addr"),
      };
    case "keepalive":
    case "keepalive_ack":
    case "kill":
      return { type };
    case "connect":
      return { type, uid: checkUid(stringField(f, type, "uid"), type) };
    case "request":
    case "accept":
      return {
        type,
        req: reqField(f, type),
        token: checkToken(stringField(f, type, "token"), type),
      };
    case "sender":
      return {
        type,
        req: reqField(f, type),
        addr: addrField(f, type, "addr"),
        you: addrField(f, type, "you"),
      };
    case "punched":
      return {
        type,
        req: reqField(f, type),
        token: checkToken(stringField(f, type, "token"), type),
        step6: enumField(f, type, "step6", STEP6),
      };
    case "receiver":
      return {
        type,
        req: reqField(f, type),
        token: checkToken(stringField(f, type, "token"), type),
        addr: addrField(f, type, "addr"),
        you: addrField(f, type, "you"),
        step6: enumField(f, type, "step6", STEP6),
      };
    case "fallback":
      return {
        type,
        req: reqField(f, type),
        token: checkToken(stringField(f, type, "token"), type),
        step12: enumField(f, type, "step12", STEP12),
      };
    case "fallback_start":
      return { type, req: reqField(f, type), addr: addrField(f, type, "addr") };
    case "fallback_ready":
      return {
        type,
        req: reqField(f, type),
        addr: addrField(f, type, "addr"),
        you: addrField(f, type, "you"),
      };
    case "done": {
      const msg: BrokerDoneMsg = { type, req: reqField(f, type) };
      if (f.via !== undefined && f.via !== null) msg.via = enumField(f, type, "via", VIAS);
      if (f.error !== undefined && f.error !== null) {
        msg.error = enumField(f, type, "error", BROKER_ERROR_CODES);
      }
      if ((msg.via === undefined) === (msg.error === undefined)) {
        fail("done needs exactly one of via and error");
      }
      return msg;
    }
    case "decline":
      return { type, req: reqField(f, type) };
    case "abort":
      return {
        type,
        req: reqField(f, type),
        error: enumField(f, type, "error", BROKER_ERROR_CODES),
      };
    case "hello":
      return {
        type,
        req: reqField(f, type),
        token: checkToken(stringField(f, type, "token"), type),
        role: enumField(f, type, "role", ROLES),
      };
    default:
      fail(`Unknown broker message type ${JSON.stringify(type)}`);
  }
}
