/**
 * The cryptography of end-to-end encrypted chat (`--secret CODE`): a SPAKE2 handshake carried in
 * datagrams, then sealed records, one key per direction, with replay protection. Pure state: no
 * sockets or timers; the chat session decides what to send when. The byte format is in
 * `protocol/chat_secure.ts`.
 *
 * Handshake (both sides run the same steps; datagrams may be lost, so HELLO is repeated):
 *
 * 1. Send HELLO (SPAKE2 message for `pw = HMAC-SHA256("peerlink/1 password", secret)`,
 *    identity `"peerlink/1"`, strict checks) until the handshake is confirmed.
 * 2. On the peer's first HELLO, derive roles, transcript `T` and keys exactly as
 *    `secure/handshake.ts` steps 3–6, with `hello_X` = the 35-byte HELLO records and
 *    `context` = `chatSecureContext(own name, peer name)`; send CONFIRM =
 *    `HMAC-SHA256(key_confirm_own, T)`. A repeat of that HELLO is answered with the same
 *    CONFIRM; a different HELLO is ignored.
 * 3. On the peer's CONFIRM, compare it in constant time with `HMAC-SHA256(key_confirm_peer, T)`:
 *    equal confirms the handshake; different means another code ({@linkcode WrongCodeError}).
 *    Both sides send CONFIRM before they check one, so both see the wrong code. A SEALED record
 *    that opens with the peer's key confirms the handshake as well (its CONFIRM was lost).
 *
 * Afterwards each side seals with `key_data <own role>` and opens with the peer's, counters
 * start at 0, and each counter is accepted once within a window of
 * {@linkcode CHAT_REPLAY_WINDOW}.
 *
 * @example Two sides agree, then exchange a sealed record
 * ```ts
 * import { ChatCrypto } from "./chat_secure.ts";
 * import { decodeChatSecureContent } from "../protocol/chat_secure.ts";
 * const alice = new ChatCrypto("apple-7", "alice", "bob");
 * const bob = new ChatCrypto("apple-7", "bob", "alice");
 * const hello = (c: ChatCrypto) => (decodeChatSecureContent(c.helloContent) as { spake: Uint8Array }).spake;
 * const confirmA = alice.receiveHello(hello(bob))!, confirmB = bob.receiveHello(hello(alice))!;
 * const mac = (content: string) => (decodeChatSecureContent(content) as { mac: Uint8Array }).mac;
 * if (!alice.receiveConfirm(mac(confirmB)) || !bob.receiveConfirm(mac(confirmA))) throw new Error("Not confirmed");
 * const sealed = decodeChatSecureContent(alice.seal({ type: "ping" }).content);
 * if (sealed?.kind !== "sealed" || bob.open(sealed)?.type !== "ping") throw new Error("Not opened");
 * if (bob.open(sealed) !== null) throw new Error("Replay accepted");
 * ```
 *
 * @module
 */

import { hmac } from "@noble/hashes/hmac.js";
import { sha256 } from "@noble/hashes/sha2.js";
import {
  CHAT_REPLAY_WINDOW,
  chatSecureContext,
  type ChatSecureInner,
  type ChatSecureSealed,
  decodeChatSecureInner,
  encodeChatSecureContent,
  encodeChatSecureInner,
  encodeChatSecureRecord,
} from "../protocol/chat_secure.ts";
import {
  deriveNativeKeys,
  NATIVE_IDENTITY,
  type NativeKeys,
  nativePassword,
  openChunk,
  sealChunk,
  type Spake2,
  startSpake2,
  WrongCodeError,
} from "../secure/mod.ts";
import { equalBytes } from "../bytes/mod.ts";

const encoder = new TextEncoder();

/**
 * The bytes of a chat secret: a string's UTF-8 in Unicode NFC (so the same code typed on two
 * keyboards matches), or the bytes given.
 *
 * @throws {RangeError} for an empty secret.
 *
 * @example
 * ```ts
 * import { chatSecretBytes } from "./chat_secure.ts";
 * if (chatSecretBytes("e\u0301").toHex() !== chatSecretBytes("\u00e9").toHex()) throw new Error("Not NFC");
 * ```
 */
export function chatSecretBytes(secret: string | Uint8Array): Uint8Array {
  const bytes = typeof secret === "string" ? encoder.encode(secret.normalize("NFC")) : secret;
  if (bytes.length === 0) throw new RangeError("The chat secret is empty");
  return bytes;
}

/**
 * Which counters a receiver has accepted: each at most once, and none more than
 * {@linkcode CHAT_REPLAY_WINDOW} below the highest.
 *
 * @example
 * ```ts
 * import { ChatReplayWindow } from "./chat_secure.ts";
 * const window = new ChatReplayWindow();
 * window.mark(5);
 * if (window.check(5) || !window.check(4) || !window.check(6)) throw new Error("Wrong window");
 * ```
 */
export class ChatReplayWindow {
  #top = -1;
  #bits = new Uint8Array(CHAT_REPLAY_WINDOW / 8);

  /**
   * Would `counter` be new (not seen, not too old)?
   *
   * @example
   * ```ts
   * import { ChatReplayWindow } from "./chat_secure.ts";
   * const window = new ChatReplayWindow();
   * window.mark(5000);
   * if (window.check(1)) throw new Error("Too old accepted");
   * ```
   */
  check(counter: number): boolean {
    if (counter > this.#top) return true;
    if (this.#top - counter >= CHAT_REPLAY_WINDOW) return false;
    const slot = counter % CHAT_REPLAY_WINDOW;
    return (this.#bits[slot >> 3]! & (1 << (slot & 7))) === 0;
  }

  /**
   * Record `counter` as seen (call only after it authenticated).
   *
   * @example
   * ```ts
   * import { ChatReplayWindow } from "./chat_secure.ts";
   * const window = new ChatReplayWindow();
   * window.mark(0);
   * if (window.check(0)) throw new Error("Seen twice");
   * ```
   */
  mark(counter: number): void {
    if (counter > this.#top) {
      if (counter - this.#top >= CHAT_REPLAY_WINDOW) this.#bits.fill(0);
      else {
        for (let c = this.#top + 1; c <= counter; c++) {
          const slot = c % CHAT_REPLAY_WINDOW;
          this.#bits[slot >> 3]! &= ~(1 << (slot & 7));
        }
      }
      this.#top = counter;
    }
    const slot = counter % CHAT_REPLAY_WINDOW;
    this.#bits[slot >> 3]! |= 1 << (slot & 7);
  }
}

/** Options for {@linkcode ChatCrypto}. */
export interface ChatCryptoOptions {
  /** The SPAKE2 scalar (32 bytes, little-endian), for test vectors only. @default {random} */
  scalar?: Uint8Array;
}

/**
 * One side of an encrypted chat: its HELLO, the keys once the peer's HELLO came, sealing and
 * opening. See the module documentation for the steps.
 *
 * @example
 * ```ts
 * import { ChatCrypto } from "./chat_secure.ts";
 * const side = new ChatCrypto("code", "alice", "bob");
 * if (!side.helloContent.startsWith("peerlink-e2e:") || side.established) throw new Error("Bad start");
 * ```
 */
export class ChatCrypto {
  #spake: Spake2;
  #hello: Uint8Array;
  #context: Uint8Array;
  #peerSpake: Uint8Array | null = null;
  #keys: NativeKeys | null = null;
  #confirm: string | null = null;
  #established = false;
  #sendCounter = 0;
  #window = new ChatReplayWindow();

  /**
   * Start: draw a SPAKE2 scalar and make the HELLO.
   *
   * @throws {RangeError} for an empty secret.
   *
   * @example
   * ```ts
   * import { ChatCrypto } from "./chat_secure.ts";
   * const a = new ChatCrypto("code", "alice", "bob"), b = new ChatCrypto("code", "alice", "bob");
   * if (a.helloContent === b.helloContent) throw new Error("HELLOs must be random");
   * ```
   */
  constructor(
    secret: string | Uint8Array,
    ownName: string,
    peerName: string,
    options: ChatCryptoOptions = {},
  ) {
    this.#spake = startSpake2(nativePassword(chatSecretBytes(secret)), {
      identity: encoder.encode(NATIVE_IDENTITY),
      scalar: options.scalar,
      strict: true,
    });
    this.#hello = encodeChatSecureRecord({ kind: "hello", spake: this.#spake.message });
    this.#context = chatSecureContext(ownName, peerName);
  }

  /**
   * The HELLO to send (as a `DirectMessage` content) until {@linkcode ChatCrypto.established}.
   *
   * @example
   * ```ts
   * import { ChatCrypto } from "./chat_secure.ts";
   * import { decodeChatSecureContent } from "../protocol/chat_secure.ts";
   * const hello = decodeChatSecureContent(new ChatCrypto("code", "a", "b").helloContent);
   * if (hello?.kind !== "hello") throw new Error("Not a HELLO");
   * ```
   */
  get helloContent(): string {
    return encodeChatSecureContent({ kind: "hello", spake: this.#spake.message });
  }

  /**
   * The CONFIRM to send, once the peer's HELLO came (else `null`).
   *
   * @example
   * ```ts
   * import { ChatCrypto } from "./chat_secure.ts";
   * if (new ChatCrypto("code", "a", "b").confirmContent !== null) throw new Error("No keys yet");
   * ```
   */
  get confirmContent(): string | null {
    return this.#confirm;
  }

  /**
   * Whether the peer proved the same secret (its CONFIRM, or a record that opened).
   *
   * @example
   * ```ts
   * import { ChatCrypto } from "./chat_secure.ts";
   * if (new ChatCrypto("code", "a", "b").established) throw new Error("Too early");
   * ```
   */
  get established(): boolean {
    return this.#established;
  }

  /**
   * The agreed role once keys exist: `"A"` for the side with the smaller HELLO.
   *
   * @example
   * ```ts
   * import { ChatCrypto } from "./chat_secure.ts";
   * if (new ChatCrypto("code", "a", "b").role !== null) throw new Error("No role yet");
   * ```
   */
  get role(): "A" | "B" | null {
    return this.#keys?.role ?? null;
  }

  /**
   * The peer's HELLO: derive the keys and return the CONFIRM to send. The same HELLO again
   * returns the same CONFIRM; a different one returns `null` (ignored).
   *
   * @throws {Spake2Error} when the peer's SPAKE2 message is malformed or unsafe (for example our
   * own HELLO reflected back).
   *
   * @example
   * ```ts
   * import { ChatCrypto } from "./chat_secure.ts";
   * import { decodeChatSecureContent } from "../protocol/chat_secure.ts";
   * const a = new ChatCrypto("code", "a", "b"), b = new ChatCrypto("code", "b", "a");
   * const spake = (decodeChatSecureContent(b.helloContent) as { spake: Uint8Array }).spake;
   * if (a.receiveHello(spake) !== a.receiveHello(spake)) throw new Error("Not repeatable");
   * ```
   */
  receiveHello(spake: Uint8Array): string | null {
    if (this.#peerSpake !== null) return equalBytes(spake, this.#peerSpake) ? this.#confirm : null;
    const key = this.#spake.finish(spake);
    const peerHello = encodeChatSecureRecord({ kind: "hello", spake });
    const keys = deriveNativeKeys(this.#hello, peerHello, key, this.#context);
    this.#peerSpake = spake.slice();
    this.#keys = keys;
    this.#confirm = encodeChatSecureContent({
      kind: "confirm",
      mac: hmac(sha256, keys.confirmOwn, keys.transcript),
    });
    return this.#confirm;
  }

  /**
   * The peer's CONFIRM: `true` when it proves the same secret, `false` when it came before the
   * peer's HELLO (keys unknown yet; wait for the HELLO).
   *
   * @throws {WrongCodeError} when the peer used another secret.
   *
   * @example
   * ```ts
   * import { ChatCrypto } from "./chat_secure.ts";
   * if (new ChatCrypto("code", "a", "b").receiveConfirm(new Uint8Array(32)) !== false) throw new Error("Keys too early");
   * ```
   */
  receiveConfirm(mac: Uint8Array): boolean {
    const keys = this.#keys;
    if (keys === null) return false;
    if (!equalBytes(mac, hmac(sha256, keys.confirmPeer, keys.transcript))) {
      throw new WrongCodeError();
    }
    this.#established = true;
    return true;
  }

  /**
   * Seal an inner message with the next counter; returns the content to send and the counter.
   *
   * @throws {RangeError} before the keys exist.
   * @throws {NonceExhaustedError} after 2^53 records.
   *
   * @example
   * ```ts
   * import { ChatCrypto } from "./chat_secure.ts";
   * let failed = false;
   * try { new ChatCrypto("code", "a", "b").seal({ type: "ping" }); } catch { failed = true; }
   * if (!failed) throw new Error("Sealed without keys");
   * ```
   */
  seal(inner: ChatSecureInner): { content: string; counter: number } {
    const keys = this.#keys;
    if (keys === null) throw new RangeError("Cannot seal before the peer's HELLO gave keys");
    const counter = this.#sendCounter;
    const chunk = sealChunk(keys.send, counter, encodeChatSecureInner(inner));
    this.#sendCounter++;
    return { content: encodeChatSecureContent({ kind: "sealed", counter, chunk }), counter };
  }

  /**
   * Open a SEALED record from the peer: the inner message, or `null` when it does not
   * authenticate, was seen before, is too old, or came before the keys. A record that opens
   * confirms the handshake.
   *
   * @example
   * ```ts
   * import { ChatCrypto } from "./chat_secure.ts";
   * const forged = { kind: "sealed", counter: 0, chunk: new Uint8Array(20) } as const;
   * if (new ChatCrypto("code", "a", "b").open(forged) !== null) throw new Error("Forgery opened");
   * ```
   */
  open(record: ChatSecureSealed): ChatSecureInner | null {
    const keys = this.#keys;
    if (keys === null || !this.#window.check(record.counter)) return null;
    let plaintext: Uint8Array;
    try {
      const opened = openChunk(keys.receive, record.counter, record.chunk);
      if (opened.final) return null;
      plaintext = opened.plaintext;
    } catch {
      return null;
    }
    this.#window.mark(record.counter);
    this.#established = true;
    try {
      return decodeChatSecureInner(plaintext);
    } catch {
      return null; // authentic but from a newer peerlink: skip it
    }
  }
}
