/**
 * A direct UDP chat with one peer, found through an introducer (peerlink's, or Peer-Punch's
 * relay): the chat session of issue 8, as a library. It runs on the introducer client's shared
 * {@linkcode UdpEndpoint}, the socket whose NAT mapping the introducer saw, so hole punching
 * works through cone NATs.
 *
 * What a session does, compared with a Peer-Punch peer (spec: peer-punch.md §3.4, §3.6):
 *
 * | | Peer-Punch peer | peerlink session |
 * | --- | --- | --- |
 * | punch | one `"Punch!"` `DirectMessage` | `Ping` bursts (every 50 ms for 1 s, then every 200 ms) until the peer sends any valid message, with a timeout |
 * | keep-alive | `Ping` every 20 s, `Pong` never checked | `Ping` every 20 s; the peer is reported lost when no `Pong` came for `peerTimeoutMs` |
 * | sources | messages from anyone are shown | only datagrams from the introduced address are read |
 * | long lines | cut at 1024 bytes, then unreadable | split on UTF-8 boundaries into parts that fit, joined again by peerlink peers |
 * | end | `Goodbye` then `SessionFinished` on Ctrl-C | the same on {@linkcode ChatSession.close}; `SessionFinished` also after the peer's `Goodbye` or loss |
 * | encryption | none | with `secret`: SPAKE2 and sealed records inside `DirectMessage` (see `chat_secure.ts`) |
 *
 * Without `secret` every datagram is a Peer-Punch message, so a session talks to Peer-Punch
 * peers; one-datagram lines are byte for byte what Peer-Punch sends. With `secret` both sides
 * must be peerlink sessions with the same secret.
 *
 * @example Two sessions meet through a local introducer
 * ```ts
 * import { chatWith, waitForChat } from "./chat.ts";
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
 * const [a, b] = await Promise.all([chatWith(alice, "bob"), waitForChat(bob)]);
 * await a.send("hello bob");
 * const events = b[Symbol.asyncIterator]();
 * const first = (await events.next()).value;
 * if (first?.type !== "message" || first.text !== "hello bob") throw new Error("Not received");
 * await a.close(); // Goodbye and SessionFinished
 * if ((await events.next()).value?.type !== "goodbye") throw new Error("No goodbye");
 * await b.close();
 * ```
 *
 * @module
 */

import { abortable } from "../async/abortable.ts";
import { delay } from "../async/delay.ts";
import type { UdpDatagram, UdpEndpoint } from "../net/udp_endpoint.ts";
import {
  decodePeerPunchMessage,
  encodePeerPunchMessage,
  PEER_PUNCH_KEEPALIVE_MS,
  type PeerPunchMessage,
} from "../protocol/peer_punch.ts";
import {
  type ChatSecureInner,
  type ChatSecureRecord,
  decodeChatSecureContent,
  isChatSecureContent,
  MAX_CHAT_SECURE_TEXT_BYTES,
} from "../protocol/chat_secure.ts";
import { formatSocketAddr } from "../protocol/socket_addr.ts";
import { Spake2Error } from "../secure/errors.ts";
import {
  ChatReassembler,
  chatUtf8Cost,
  checkChatText,
  encodeChatPlainParts,
  readChatPart,
  splitChatText,
} from "./chat_parts.ts";
import { ChatCrypto, chatSecretBytes } from "./chat_secure.ts";
import {
  createIntroducerClient,
  type IntroducedPeer,
  type IntroducerClient,
  type IntroducerClientOptions,
} from "./introducer.ts";

/** Default for {@linkcode ChatSessionOptions.pingIntervalMs}: 20 s, as Peer-Punch (spec §3.5). */
export const DEFAULT_CHAT_PING_INTERVAL_MS: number = PEER_PUNCH_KEEPALIVE_MS;
/**
 * Default for {@linkcode ChatSessionOptions.peerTimeoutMs}: 65 s, three missed pings and some
 * slack.
 */
export const DEFAULT_CHAT_PEER_TIMEOUT_MS = 65_000;
/** Default for {@linkcode ChatSessionOptions.punchTimeoutMs}: 10 s, as `punchUdp`. */
export const DEFAULT_CHAT_PUNCH_TIMEOUT_MS = 10_000;
/** Default for {@linkcode ChatSessionOptions.handshakeTimeoutMs}: 10 s. */
export const DEFAULT_CHAT_HANDSHAKE_TIMEOUT_MS = 10_000;
/** Default for {@linkcode ChatSessionOptions.partTimeoutMs}: 10 s. */
export const DEFAULT_CHAT_PART_TIMEOUT_MS = 10_000;
/** Events queued while no one iterates, at most; more messages are dropped and counted. */
export const MAX_QUEUED_CHAT_EVENTS = 1024;

/** Punch bursts: every 50 ms during the first second, then every 200 ms (as `punch/udp.ts`). */
const BURST_FAST_MS = 50;
const BURST_FAST_PHASE_MS = 1000;
const BURST_SLOW_MS = 200;
/** Parts of a long line sent back to back, then a pause of `PART_PAUSE_MS`. */
const PART_BURST = 8;
const PART_PAUSE_MS = 2;
/** Keep-alive pings whose answer is still awaited, at most (encrypted mode). */
const MAX_PINGS_IN_FLIGHT = 8;

/** Something that happened in a chat. */
export type ChatSessionEvent =
  | {
    /** A chat line from the peer. */
    type: "message";
    /** The peer's name. */
    from: string;
    /** The text, exactly as sent (parts joined). */
    text: string;
    /** Some parts never came (each is shown as `[…]`); always `false` for one-part lines. */
    incomplete: boolean;
  }
  | {
    /** The peer answered one of our keep-alive pings. */
    type: "pong";
    /** Round-trip time in ms. */
    rttMs: number;
  }
  | {
    /** The peer said goodbye; the session has ended. */
    type: "goodbye";
  }
  | {
    /** No pong came for `peerTimeoutMs`; the session has ended. */
    type: "peer-lost";
    /** Time since the last pong (or since the session opened), in ms. */
    silentMs: number;
  }
  | {
    /**
     * A plain session received an encrypted record: the peer uses a secret, so it will not chat
     * in the clear. The session has ended (it said goodbye).
     */
    type: "secret-mismatch";
  };

/** Why a session ended. */
export type ChatEndReason = "closed" | "goodbye" | "peer-lost" | "secret-mismatch";

/** Counters of a session. */
export interface ChatSessionStats {
  /** Chat lines sent. */
  messagesSent: number;
  /** Chat lines received (complete or not). */
  messagesReceived: number;
  /** Datagrams sent to the peer (punches, parts, pings, pongs, handshake). */
  datagramsSent: number;
  /** Valid datagrams received from the peer. */
  datagramsReceived: number;
  /** Punch pings sent before the peer answered. */
  punchesSent: number;
  /** Keep-alive pings sent. */
  pingsSent: number;
  /** Pongs received. */
  pongsReceived: number;
  /** Pings from the peer answered with a pong (its punch pings too). */
  pingsAnswered: number;
  /** Datagrams from the peer's address that were dropped: undecodable, unauthentic, replayed. */
  ignored: number;
  /** Events dropped because no one read them. */
  droppedEvents: number;
}

/** Base class of the chat session's errors. */
export class ChatError extends Error {
  /**
   * Make the error.
   *
   * @example
   * ```ts
   * import { ChatError } from "./chat.ts";
   * if (new ChatError("x").name !== "ChatError") throw new Error("Bad name");
   * ```
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ChatError";
  }
}

/** The peer never answered the punch: there is no direct path (or it is gone). */
export class ChatPunchError extends ChatError {
  /** The peer that did not answer. */
  readonly peer: IntroducedPeer;
  /** Pings sent. */
  readonly probes: number;
  /**
   * Make the error.
   *
   * @example
   * ```ts
   * import { ChatPunchError } from "./chat.ts";
   * const peer = { username: "bob", addr: { family: "v4", ip: "192.0.2.1", port: 1 } } as const;
   * if (!new ChatPunchError(peer, 3, 1000).message.includes("bob")) throw new Error("No name");
   * ```
   */
  constructor(peer: IntroducedPeer, probes: number, timeoutMs: number, options?: ErrorOptions) {
    super(
      `No answer from ${peer.username} at ${formatSocketAddr(peer.addr)} after ${probes} pings in ${
        timeoutMs / 1000
      } s: no direct path (a symmetric NAT or a firewall on either side?), or it left`,
      options,
    );
    this.name = "ChatPunchError";
    this.peer = peer;
    this.probes = probes;
  }
}

/** The encrypted handshake failed for another reason than a wrong code. */
export class ChatHandshakeError extends ChatError {
  /**
   * Make the error.
   *
   * @example
   * ```ts
   * import { ChatHandshakeError } from "./chat.ts";
   * if (new ChatHandshakeError("x").name !== "ChatHandshakeError") throw new Error("Bad name");
   * ```
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ChatHandshakeError";
  }
}

/** The session has ended: nothing more can be sent. */
export class ChatClosedError extends ChatError {
  /**
   * Make the error.
   *
   * @example
   * ```ts
   * import { ChatClosedError } from "./chat.ts";
   * if (!new ChatClosedError("goodbye").message.includes("goodbye")) throw new Error("No reason");
   * ```
   */
  constructor(reason: ChatEndReason, options?: ErrorOptions) {
    super(`The chat session has ended (${reason})`, options);
    this.name = "ChatClosedError";
  }
}

/** Options of a chat session. */
export interface ChatSessionOptions {
  /**
   * Encrypt and authenticate the chat end to end with this shared code (both sides peerlink,
   * the same code). A string is taken as UTF-8 in Unicode NFC.
   * @default {none: a plain, Peer-Punch compatible chat}
   */
  secret?: string | Uint8Array;
  /** Send a keep-alive `Ping` this often, in ms. @default {20000} */
  pingIntervalMs?: number;
  /** Report the peer lost when no `Pong` came for this long, in ms; above `pingIntervalMs`. @default {65000} */
  peerTimeoutMs?: number;
  /** Give up punching when the peer sent nothing valid for this long, in ms. @default {10000} */
  punchTimeoutMs?: number;
  /** Give up the encrypted handshake after this long, in ms. @default {10000} */
  handshakeTimeoutMs?: number;
  /** Deliver a split line with its missing parts marked after this long, in ms. @default {10000} */
  partTimeoutMs?: number;
  /**
   * Close the introducer client when the session ends (for a client made just for it).
   * @default {false}
   */
  closeClient?: boolean;
  /**
   * Before the session opens: give up (rejecting with the reason). Afterwards: close the
   * session (Goodbye and SessionFinished).
   */
  signal?: AbortSignal;
  /** The SPAKE2 scalar (32 bytes), for test vectors only. @default {random} */
  spakeScalar?: Uint8Array;
}

/** Options of {@linkcode ChatSession.events}. */
export interface ChatEventsOptions {
  /** Stop waiting (rejecting with the reason) when this aborts; the session stays open. */
  signal?: AbortSignal;
}

type State = "punching" | "handshaking" | "open" | "ended";

function positive(name: string, value: number): number {
  if (!(Number.isFinite(value) && value > 0)) {
    throw new RangeError(`${name} is ${value}, it must be a number > 0`);
  }
  return value;
}

interface Timing {
  pingIntervalMs: number;
  peerTimeoutMs: number;
  punchTimeoutMs: number;
  handshakeTimeoutMs: number;
  partTimeoutMs: number;
}

/** Check options before anything is asked of the introducer. */
function checkOptions(client: IntroducerClient, options: ChatSessionOptions): Timing {
  const timing: Timing = {
    pingIntervalMs: options.pingIntervalMs ?? DEFAULT_CHAT_PING_INTERVAL_MS,
    peerTimeoutMs: options.peerTimeoutMs ?? DEFAULT_CHAT_PEER_TIMEOUT_MS,
    punchTimeoutMs: options.punchTimeoutMs ?? DEFAULT_CHAT_PUNCH_TIMEOUT_MS,
    handshakeTimeoutMs: options.handshakeTimeoutMs ?? DEFAULT_CHAT_HANDSHAKE_TIMEOUT_MS,
    partTimeoutMs: options.partTimeoutMs ?? DEFAULT_CHAT_PART_TIMEOUT_MS,
  };
  for (const [name, value] of Object.entries(timing)) positive(name, value);
  if (timing.peerTimeoutMs <= timing.pingIntervalMs) {
    throw new RangeError(
      `peerTimeoutMs (${timing.peerTimeoutMs}) must be above pingIntervalMs (${timing.pingIntervalMs})`,
    );
  }
  if (options.secret !== undefined) {
    chatSecretBytes(options.secret);
    if (client.username === null) {
      throw new ChatError("Call register() before an encrypted chat: the keys bind both names");
    }
  }
  return timing;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * A chat with one peer. Make one with {@linkcode startChatSession}, {@linkcode chatWith},
 * {@linkcode waitForChat} or {@linkcode openChat}; it is open when you get it.
 *
 * Read what happens with `for await (const event of session)` (one reader at a time): chat
 * lines, pongs (answers to our keep-alive pings), and at most one final event (`goodbye`, `peer-lost`,
 * `secret-mismatch`), after which the iteration ends. It also ends after
 * {@linkcode ChatSession.close}.
 *
 * @example The events of a session
 * ```ts ignore
 * for await (const event of session) {
 *   if (event.type === "message") console.log(`[${event.from}]> ${event.text}`);
 *   if (event.type === "peer-lost") console.log("peer lost");
 * }
 * ```
 */
export class ChatSession implements AsyncIterable<ChatSessionEvent>, AsyncDisposable {
  #client: IntroducerClient;
  #endpoint: UdpEndpoint;
  #peer: IntroducedPeer;
  #crypto: ChatCrypto | null;
  #pingMs: number;
  #peerTimeoutMs: number;
  #punchTimeoutMs: number;
  #handshakeTimeoutMs: number;
  #partTimeoutMs: number;
  #closeClient: boolean;
  #signal: AbortSignal | undefined;

  #state: State = "punching";
  #endReason: ChatEndReason | null = null;
  #ready = Promise.withResolvers<void>();
  #finishing: Promise<void> | null = null;
  #subscription: Disposable;
  #events: ChatSessionEvent[] = [];
  #wakers = new Set<() => void>();
  #reassembler = new ChatReassembler();
  #nextId = 0;
  #heard = false;
  #phaseStarted = 0;
  #burstTimer: ReturnType<typeof setTimeout> | undefined;
  #phaseTimer: ReturnType<typeof setTimeout> | undefined;
  #pingTimer: ReturnType<typeof setInterval> | undefined;
  #liveTimer: ReturnType<typeof setTimeout> | undefined;
  #partTimer: ReturnType<typeof setTimeout> | undefined;
  #lastPongAt = 0;
  #plainPingAt: number | null = null;
  #sealedPings = new Map<number, number>();
  #stats: ChatSessionStats = {
    messagesSent: 0,
    messagesReceived: 0,
    datagramsSent: 0,
    datagramsReceived: 0,
    punchesSent: 0,
    pingsSent: 0,
    pongsReceived: 0,
    pingsAnswered: 0,
    ignored: 0,
    droppedEvents: 0,
  };

  private constructor(client: IntroducerClient, peer: IntroducedPeer, options: ChatSessionOptions) {
    const timing = checkOptions(client, options);
    this.#client = client;
    this.#endpoint = client.endpoint;
    this.#peer = peer;
    this.#pingMs = timing.pingIntervalMs;
    this.#peerTimeoutMs = timing.peerTimeoutMs;
    this.#punchTimeoutMs = timing.punchTimeoutMs;
    this.#handshakeTimeoutMs = timing.handshakeTimeoutMs;
    this.#partTimeoutMs = timing.partTimeoutMs;
    this.#closeClient = options.closeClient ?? false;
    this.#crypto = options.secret === undefined
      ? null
      : new ChatCrypto(options.secret, client.username!, peer.username, {
        scalar: options.spakeScalar,
      });
    this.#signal = options.signal;
    this.#ready.promise.catch(() => {});
    this.#subscription = this.#endpoint.subscribe(peer.addr, (d) => this.#receive(d));
    this.#signal?.addEventListener("abort", this.#onAbort, { once: true });
    this.#phaseStarted = Date.now();
    this.#phaseTimer = setTimeout(() => {
      this.#fail(new ChatPunchError(peer, this.#stats.punchesSent, this.#punchTimeoutMs));
    }, this.#punchTimeoutMs);
    this.#burst();
  }

  /**
   * Open a session with an introduced peer: punch, run the encrypted handshake when a secret is
   * given, and resolve once the peer answered. Same as {@linkcode startChatSession}.
   *
   * @example
   * ```ts ignore
   * const session = await ChatSession.start(client, await client.connect("bob"));
   * ```
   */
  static async start(
    client: IntroducerClient,
    peer: IntroducedPeer,
    options: ChatSessionOptions = {},
  ): Promise<ChatSession> {
    options.signal?.throwIfAborted();
    const session = new ChatSession(client, peer, options);
    try {
      await session.#ready.promise;
    } catch (error) {
      await session.#finishing;
      throw error;
    }
    return session;
  }

  /**
   * The peer: its name and the address the chat uses (the only one it reads from).
   *
   * @example
   * ```ts ignore
   * console.log(session.peer.username, session.peer.addr);
   * ```
   */
  get peer(): IntroducedPeer {
    return this.#peer;
  }

  /**
   * Whether the chat is end-to-end encrypted (a secret was given and the handshake succeeded).
   *
   * @example
   * ```ts ignore
   * console.log(session.encrypted ? "encrypted" : "NOT encrypted");
   * ```
   */
  get encrypted(): boolean {
    return this.#crypto !== null;
  }

  /**
   * Whether the session has ended (closed here, goodbye, peer lost, secret mismatch).
   *
   * @example
   * ```ts ignore
   * if (session.closed) console.log(session.endReason);
   * ```
   */
  get closed(): boolean {
    return this.#state === "ended";
  }

  /**
   * Why the session ended, or `null` while it is open.
   *
   * @example
   * ```ts ignore
   * await session.close();
   * console.log(session.endReason); // "closed"
   * ```
   */
  get endReason(): ChatEndReason | null {
    return this.#endReason;
  }

  /**
   * A snapshot of the session's counters.
   *
   * @example
   * ```ts ignore
   * console.log(session.stats.pongsReceived);
   * ```
   */
  get stats(): ChatSessionStats {
    return { ...this.#stats };
  }

  /**
   * The session's events (see the class documentation), one reader at a time.
   *
   * @example
   * ```ts ignore
   * for await (const event of session.events({ signal: AbortSignal.timeout(60_000) })) {
   *   console.log(event.type);
   * }
   * ```
   */
  async *events(options: ChatEventsOptions = {}): AsyncGenerator<ChatSessionEvent> {
    const { signal } = options;
    for (;;) {
      signal?.throwIfAborted();
      const next = this.#events.shift();
      if (next !== undefined) {
        yield next;
        continue;
      }
      if (this.#state === "ended") return;
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
   * Same as {@linkcode ChatSession.events} without options.
   *
   * @example
   * ```ts ignore
   * for await (const event of session) console.log(event);
   * ```
   */
  [Symbol.asyncIterator](): AsyncIterator<ChatSessionEvent> {
    return this.events();
  }

  /**
   * Send one chat line. A line that does not fit one datagram is split on UTF-8 character
   * boundaries; peerlink peers join it again, Peer-Punch peers show the parts as lines.
   *
   * @throws {ChatClosedError} when the session has ended.
   * @throws {TypeError} for text with a lone surrogate.
   * @throws {RangeError} for text above `MAX_CHAT_TEXT_BYTES` (16 KiB of UTF-8).
   * @throws {UdpEndpointError} when the socket is closed or the OS refuses.
   *
   * @example
   * ```ts ignore
   * await session.send("hello " + "x".repeat(5000)); // five datagrams, one line for the peer
   * ```
   */
  async send(text: string, options: ChatEventsOptions = {}): Promise<void> {
    if (this.#state === "ended") throw new ChatClosedError(this.#endReason ?? "closed");
    checkChatText(text);
    const id = this.#nextId;
    this.#nextId = (this.#nextId + 1) >>> 0;
    let datagrams: Uint8Array[];
    const crypto = this.#crypto;
    if (crypto === null) datagrams = encodeChatPlainParts(text, id);
    else {
      const pieces = splitChatText(text, MAX_CHAT_SECURE_TEXT_BYTES, chatUtf8Cost);
      datagrams = pieces.map((piece, index) =>
        this.#sealedDatagram(crypto, {
          type: "text",
          id,
          index,
          count: pieces.length,
          text: encoder.encode(piece),
        })
      );
    }
    for (const [i, datagram] of datagrams.entries()) {
      // Pace long lines, so a burst of parts does not overflow the receiver's socket buffer.
      if (i > 0 && i % PART_BURST === 0) await delay(PART_PAUSE_MS, options);
      options.signal?.throwIfAborted();
      if (this.closed) throw new ChatClosedError(this.#endReason ?? "closed");
      await this.#endpoint.send(datagram, this.#peer.addr);
      this.#stats.datagramsSent++;
    }
    this.#stats.messagesSent++;
  }

  /**
   * End the chat: send `Goodbye` to the peer (sealed when encrypted) and `SessionFinished` to
   * the introducer, stop the timers and end the iteration. Idempotent; after the peer's goodbye
   * or loss it only waits for that ending to finish.
   *
   * @example
   * ```ts ignore
   * await session.close();
   * ```
   */
  close(): Promise<void> {
    if (this.#state !== "ended") this.#end("closed", null, true);
    return this.#finishing ?? Promise.resolve();
  }

  /**
   * Same as {@linkcode ChatSession.close}, for `await using`.
   *
   * @example
   * ```ts ignore
   * await using session = await chatWith(client, "bob");
   * ```
   */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  // --- receiving --------------------------------------------------------------------------

  #receive(datagram: UdpDatagram): void {
    if (this.#state === "ended") return;
    let message: PeerPunchMessage;
    try {
      message = decodePeerPunchMessage(datagram.data);
    } catch {
      this.#stats.ignored++;
      return;
    }
    this.#stats.datagramsReceived++;
    this.#heard = true;
    if (this.#state === "punching") this.#punched();
    switch (message.type) {
      case "Ping":
        this.#stats.pingsAnswered++;
        this.#sendMessage({ type: "Pong" });
        return;
      case "Pong":
        if (this.#state === "open" && this.#crypto === null) {
          const sent = this.#plainPingAt;
          this.#plainPingAt = null;
          this.#pong(sent === null ? null : Date.now() - sent);
        }
        return;
      case "Goodbye":
        if (this.#crypto === null) this.#end("goodbye", { type: "goodbye" }, false);
        else if (this.#state === "handshaking") {
          this.#fail(
            new ChatHandshakeError(
              `${this.#peer.username} left during the encrypted handshake ` +
                "(did it start without --secret, or with another code?)",
            ),
          );
        } else this.#stats.ignored++; // unauthenticated: an encrypted chat needs a sealed one
        return;
      case "DirectMessage":
        this.#direct(message.content, datagram.data);
        return;
      default:
        this.#stats.ignored++; // introducer messages have no business coming from the peer
    }
  }

  #direct(content: string, data: Uint8Array): void {
    const secure = isChatSecureContent(content);
    const crypto = this.#crypto;
    if (crypto === null) {
      if (!secure) {
        const part = readChatPart(data);
        if (part === null) this.#message(content, false);
        else {
          const now = Date.now();
          const whole = this.#reassembler.add(part, content, now);
          if (whole !== null) this.#message(whole, false);
          this.#expireParts(now);
        }
        return;
      }
      // A valid HELLO: the peer encrypts and we do not, so it will never chat in the clear.
      // Anything else that merely looks like a record is someone's chat line.
      let record: ChatSecureRecord | null = null;
      try {
        record = decodeChatSecureContent(content);
      } catch { /* a line that happens to start with the prefix */ }
      if (record?.kind === "hello") {
        this.#end("secret-mismatch", { type: "secret-mismatch" }, true);
      } else if (record === null) this.#message(content, false);
      else this.#stats.ignored++;
      return;
    }
    if (!secure) {
      if (this.#state === "handshaking") {
        this.#fail(
          new ChatHandshakeError(
            `${this.#peer.username} is chatting without encryption (no --secret, or not ` +
              "peerlink): nothing was sent",
          ),
        );
      } else this.#stats.ignored++;
      return;
    }
    let record: ChatSecureRecord | null;
    try {
      record = decodeChatSecureContent(content);
    } catch {
      this.#stats.ignored++;
      return;
    }
    if (record !== null) this.#record(crypto, record);
  }

  #record(crypto: ChatCrypto, record: ChatSecureRecord): void {
    switch (record.kind) {
      case "hello": {
        let confirm: string | null;
        try {
          confirm = crypto.receiveHello(record.spake);
        } catch (error) {
          if (!(error instanceof Spake2Error)) throw error;
          if (this.#state === "handshaking") {
            this.#fail(
              new ChatHandshakeError(
                `${this.#peer.username} sent an invalid handshake message: ${error.message}`,
                { cause: error },
              ),
            );
          } else this.#stats.ignored++;
          return;
        }
        if (confirm === null) this.#stats.ignored++;
        else this.#sendContent(confirm);
        return;
      }
      case "confirm": {
        let ok: boolean;
        try {
          ok = crypto.receiveConfirm(record.mac);
        } catch (error) {
          if (this.#state !== "handshaking") {
            this.#stats.ignored++;
            return;
          }
          // Make sure the peer sees our CONFIRM too, so it reports the wrong code as well.
          const own = crypto.confirmContent;
          if (own !== null) this.#sendContent(own);
          this.#fail(error);
          return;
        }
        if (ok && this.#state === "handshaking") this.#open();
        return;
      }
      case "sealed": {
        const inner = crypto.open(record);
        if (inner === null) {
          this.#stats.ignored++;
          return;
        }
        if (this.#state === "handshaking") this.#open();
        this.#inner(crypto, inner, record.counter);
        return;
      }
    }
  }

  #inner(crypto: ChatCrypto, inner: ChatSecureInner, counter: number): void {
    switch (inner.type) {
      case "text": {
        const now = Date.now();
        const piece = decoder.decode(inner.text);
        const whole = this.#reassembler.add(inner, piece, now);
        if (whole !== null) this.#message(whole, false);
        this.#expireParts(now);
        return;
      }
      case "ping":
        this.#stats.pingsAnswered++;
        this.#sendMessage({
          type: "DirectMessage",
          content: crypto.seal({ type: "pong", counter }).content,
        });
        return;
      case "pong": {
        const sent = this.#sealedPings.get(inner.counter);
        this.#sealedPings.delete(inner.counter);
        this.#pong(sent === undefined ? null : Date.now() - sent);
        return;
      }
      case "goodbye":
        this.#end("goodbye", { type: "goodbye" }, false);
        return;
    }
  }

  #message(text: string, incomplete: boolean): void {
    this.#stats.messagesReceived++;
    this.#emit({ type: "message", from: this.#peer.username, text, incomplete });
  }

  #pong(rttMs: number | null): void {
    this.#stats.pongsReceived++;
    this.#lastPongAt = Date.now();
    if (rttMs !== null) this.#emit({ type: "pong", rttMs });
  }

  #expireParts(now: number): void {
    for (const text of this.#reassembler.expire(now, this.#partTimeoutMs)) {
      this.#message(text, true);
    }
    clearTimeout(this.#partTimer);
    this.#partTimer = undefined;
    const next = this.#reassembler.nextExpiry(this.#partTimeoutMs);
    if (next === null || this.#state === "ended") return;
    this.#partTimer = setTimeout(() => this.#expireParts(Date.now()), Math.max(0, next - now) + 1);
  }

  #emit(event: ChatSessionEvent): void {
    const final = event.type === "goodbye" || event.type === "peer-lost" ||
      event.type === "secret-mismatch";
    if (!final && this.#events.length >= MAX_QUEUED_CHAT_EVENTS) {
      this.#stats.droppedEvents++;
      return;
    }
    this.#events.push(event);
    this.#wake();
  }

  #wake(): void {
    for (const wake of [...this.#wakers]) wake();
  }

  // --- sending ----------------------------------------------------------------------------

  #sendBytes(bytes: Uint8Array): void {
    this.#stats.datagramsSent++;
    this.#endpoint.send(bytes, this.#peer.addr).catch(() => {});
  }

  #sendMessage(message: PeerPunchMessage): void {
    this.#sendBytes(encodePeerPunchMessage(message));
  }

  #sendContent(content: string): void {
    this.#sendMessage({ type: "DirectMessage", content });
  }

  #sealedDatagram(crypto: ChatCrypto, inner: ChatSecureInner): Uint8Array {
    return encodePeerPunchMessage({ type: "DirectMessage", content: crypto.seal(inner).content });
  }

  // --- the phases -------------------------------------------------------------------------

  /** One burst: a punch `Ping`, or the HELLO while the handshake runs; then the next. */
  #burst(): void {
    this.#burstTimer = undefined;
    if (this.#state === "punching") {
      this.#stats.punchesSent++;
      this.#sendMessage({ type: "Ping" });
    } else if (this.#state === "handshaking" && this.#crypto !== null) {
      this.#sendContent(this.#crypto.helloContent);
    } else return;
    const elapsed = Date.now() - this.#phaseStarted;
    this.#burstTimer = setTimeout(
      () => this.#burst(),
      elapsed < BURST_FAST_PHASE_MS ? BURST_FAST_MS : BURST_SLOW_MS,
    );
  }

  /** The peer answered the punch: open, or start the encrypted handshake. */
  #punched(): void {
    clearTimeout(this.#burstTimer);
    clearTimeout(this.#phaseTimer);
    if (this.#crypto === null) {
      this.#open();
      return;
    }
    this.#state = "handshaking";
    this.#phaseStarted = Date.now();
    this.#phaseTimer = setTimeout(() => {
      this.#fail(
        new ChatHandshakeError(
          `${this.#peer.username} did not complete the encrypted handshake in ${
            this.#handshakeTimeoutMs / 1000
          } s: both sides must run peerlink chat with --secret (Peer-Punch peers cannot encrypt)`,
        ),
      );
    }, this.#handshakeTimeoutMs);
    this.#burst();
  }

  #open(): void {
    clearTimeout(this.#burstTimer);
    clearTimeout(this.#phaseTimer);
    this.#burstTimer = this.#phaseTimer = undefined;
    this.#state = "open";
    this.#lastPongAt = Date.now();
    this.#pingTimer = setInterval(() => this.#ping(), this.#pingMs);
    this.#armLiveness();
    this.#ready.resolve();
  }

  #ping(): void {
    if (this.#state !== "open") return;
    this.#stats.pingsSent++;
    const crypto = this.#crypto;
    if (crypto === null) {
      this.#plainPingAt = Date.now();
      this.#sendMessage({ type: "Ping" });
      return;
    }
    const { content, counter } = crypto.seal({ type: "ping" });
    this.#sealedPings.set(counter, Date.now());
    for (const key of this.#sealedPings.keys()) {
      if (this.#sealedPings.size <= MAX_PINGS_IN_FLIGHT) break;
      this.#sealedPings.delete(key);
    }
    this.#sendContent(content);
  }

  #armLiveness(): void {
    const due = this.#lastPongAt + this.#peerTimeoutMs;
    this.#liveTimer = setTimeout(() => {
      if (this.#state !== "open") return;
      const silent = Date.now() - this.#lastPongAt;
      if (silent >= this.#peerTimeoutMs) {
        this.#end("peer-lost", { type: "peer-lost", silentMs: silent }, true);
      } else this.#armLiveness();
    }, Math.max(0, due - Date.now()) + 1);
  }

  #onAbort = (): void => {
    if (this.#state === "open") void this.close();
    else this.#fail(this.#signal!.reason);
  };

  #stopTimers(): void {
    clearTimeout(this.#burstTimer);
    clearTimeout(this.#phaseTimer);
    clearInterval(this.#pingTimer);
    clearTimeout(this.#liveTimer);
    clearTimeout(this.#partTimer);
    this.#burstTimer =
      this.#phaseTimer =
      this.#pingTimer =
      this.#liveTimer =
      this.#partTimer =
        undefined;
    this.#signal?.removeEventListener("abort", this.#onAbort);
  }

  /** Establishing failed: say goodbye if the peer was heard, finish with the introducer. */
  #fail(error: unknown): void {
    if (this.#state === "ended" || this.#state === "open") return;
    this.#state = "ended";
    this.#endReason = "closed";
    this.#stopTimers();
    this.#ready.reject(error);
    const goodbye = this.#heard ? encodePeerPunchMessage({ type: "Goodbye" }) : null;
    this.#finishing = this.#finish(goodbye);
  }

  /** The open session ends; `event` is the final event, `sayGoodbye` whether to tell the peer. */
  #end(reason: ChatEndReason, event: ChatSessionEvent | null, sayGoodbye: boolean): void {
    if (this.#state === "ended") return;
    if (this.#state !== "open") {
      // Not open yet (a plain chat that never got past punching cannot get here; an encrypted
      // one fails its handshake instead).
      this.#fail(new ChatClosedError(reason));
      return;
    }
    this.#state = "ended";
    this.#endReason = reason;
    this.#stopTimers();
    for (const text of this.#reassembler.expire(Infinity, 0)) this.#message(text, true);
    if (event !== null) this.#emit(event);
    let goodbye: Uint8Array | null = null;
    if (sayGoodbye) {
      goodbye = this.#crypto === null
        ? encodePeerPunchMessage({ type: "Goodbye" })
        : this.#sealedDatagram(this.#crypto, { type: "goodbye" });
    }
    this.#finishing = this.#finish(goodbye);
    this.#wake();
  }

  async #finish(goodbye: Uint8Array | null): Promise<void> {
    this.#subscription[Symbol.dispose]();
    if (goodbye !== null) {
      this.#stats.datagramsSent++;
      await this.#endpoint.send(goodbye, this.#peer.addr).catch(() => {});
    }
    await this.#client.finish().catch(() => {});
    if (this.#closeClient) await this.#client.close();
    this.#wake();
  }
}

/**
 * Open a chat with a peer the introducer introduced (from `client.connect()` or
 * `client.incoming()`): punch with `Ping` bursts until the peer answers, run the encrypted
 * handshake when `secret` is given, and resolve with the open session. On failure it sends
 * `SessionFinished` (and `Goodbye` when the peer was heard) before rejecting.
 *
 * @throws {ChatPunchError} when the peer never answered.
 * @throws {WrongCodeError} when the peer used another secret (it sees the same error).
 * @throws {ChatHandshakeError} when the encrypted handshake failed otherwise (the peer chats
 * in the clear, left, or never answered it).
 * @throws {RangeError} for bad options.
 * @throws the signal's reason when it aborts first.
 *
 * @example A peer that is not there
 * ```ts
 * import { ChatPunchError, startChatSession } from "./chat.ts";
 * import { createIntroducerClient } from "./introducer.ts";
 * await using client = await createIntroducerClient({ introducer: "127.0.0.1:9" });
 * const peer = { username: "ghost", addr: { family: "v4", ip: "127.0.0.1", port: 9 } } as const;
 * const error = await startChatSession(client, peer, { punchTimeoutMs: 100 }).catch((e) => e);
 * if (!(error instanceof ChatPunchError)) throw error;
 * ```
 */
export function startChatSession(
  client: IntroducerClient,
  peer: IntroducedPeer,
  options: ChatSessionOptions = {},
): Promise<ChatSession> {
  return ChatSession.start(client, peer, options);
}

/**
 * Ask the introducer for `target` (`Connect`) and open a chat with it.
 *
 * @throws {TargetNotFoundError}, {TargetBusyError} or {IntroducerTimeoutError} from the
 * introducer, else as {@linkcode startChatSession}.
 *
 * @example
 * ```ts
 * import { chatWith } from "./chat.ts";
 * import { createIntroducerClient } from "./introducer.ts";
 * await using client = await createIntroducerClient({ introducer: "127.0.0.1:9" });
 * const error = await chatWith(client, "bob").catch((e) => e);
 * if (!error.message.includes("register()")) throw error;
 * ```
 */
export async function chatWith(
  client: IntroducerClient,
  target: string,
  options: ChatSessionOptions = {},
): Promise<ChatSession> {
  checkOptions(client, options);
  const peer = await client.connect(target, { signal: options.signal });
  return await ChatSession.start(client, peer, options);
}

/**
 * Wait until someone asks the introducer for this client, and open a chat with them.
 *
 * @throws {ChatError} when the client closes before anyone called, else as
 * {@linkcode startChatSession}.
 *
 * @example
 * ```ts
 * import { waitForChat } from "./chat.ts";
 * import { createIntroducerClient } from "./introducer.ts";
 * await using client = await createIntroducerClient({ introducer: "127.0.0.1:9" });
 * const error = await waitForChat(client, { signal: AbortSignal.timeout(20) }).catch((e) => e);
 * if (error.name !== "TimeoutError") throw error;
 * ```
 */
export async function waitForChat(
  client: IntroducerClient,
  options: ChatSessionOptions = {},
): Promise<ChatSession> {
  checkOptions(client, options);
  for await (const peer of client.incoming({ signal: options.signal })) {
    return await ChatSession.start(client, peer, options);
  }
  throw new ChatError("The introducer client closed before anyone called");
}

/** Options of {@linkcode openChat}. */
export interface OpenChatOptions
  extends Omit<ChatSessionOptions, "closeClient">, Omit<IntroducerClientOptions, "signal"> {
  /** The name to register. */
  name: string;
  /** Whom to call; without it, wait to be called. */
  to?: string;
}

/**
 * Everything in one call, for programs that embed a chat: make an introducer client, register
 * `name`, call `to` or wait to be called, and open the session. The session owns the client:
 * it is closed when the session ends.
 *
 * @example
 * ```ts
 * import { openChat } from "./chat.ts";
 * import { chatPlugin } from "../server/services/chat.ts";
 * import { startServer } from "../server/server.ts";
 * import { silentLogger } from "../server/logger.ts";
 * await using server = await startServer({
 *   hostname: "127.0.0.1", gdayPort: null, logger: silentLogger, services: [chatPlugin({ port: 0 })],
 * });
 * const introducer = server.listeners[0]!.addr;
 * const bob = openChat({ introducer, name: "bob", secret: "7-apple" });
 * await new Promise((r) => setTimeout(r, 100)); // let bob register first
 * await using alice = await openChat({ introducer, name: "alice", to: "bob", secret: "7-apple" });
 * await using bobSession = await bob;
 * if (!alice.encrypted || bobSession.peer.username !== "alice") throw new Error("Not connected");
 * ```
 */
export async function openChat(options: OpenChatOptions): Promise<ChatSession> {
  const { name, to, introducer, endpoint, attempts, attemptTimeoutMs, keepAliveMs, ...rest } =
    options;
  const client = await createIntroducerClient({
    introducer,
    endpoint,
    attempts,
    attemptTimeoutMs,
    keepAliveMs,
  });
  try {
    await client.register(name, { signal: options.signal });
    const sessionOptions = { ...rest, closeClient: true };
    return to === undefined
      ? await waitForChat(client, sessionOptions)
      : await chatWith(client, to, sessionOptions);
  } catch (error) {
    await client.close();
    throw error;
  }
}
