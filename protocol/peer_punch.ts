/**
 * The Peer-Punch-POC wire format, byte for byte (spec: peer-punch.md §3.1–§3.2,
 * `dev-dhanushkumar/Peer-Punch-POC@b80a16c:src/lib.rs`).
 *
 * One UDP datagram carries one compact JSON document, serde's default (externally tagged)
 * encoding of Peer-Punch's `Message` enum, with no newline, length, magic or version:
 *
 * | variant | direction | JSON |
 * | --- | --- | --- |
 * | `Register{username}` | peer → relay | `{"Register":{"username":"alice"}}` |
 * | `Connect{target_username}` | peer → relay | `{"Connect":{"target_username":"bob"}}` |
 * | `SessionFinished` | peer → relay | `"SessionFinished"` |
 * | `RegisterAck` | relay → peer | `"RegisterAck"` |
 * | `PeerInfo{peer, username}` | relay → peer | `{"PeerInfo":{"peer":"203.0.113.7:40001","username":"bob"}}` |
 * | `TargetNotFound` | relay → peer | `"TargetNotFound"` |
 * | `TargetBusy` | relay → peer | `"TargetBusy"` |
 * | `DirectMessage{content}` | peer ↔ peer | `{"DirectMessage":{"content":"Punch!"}}` |
 * | `Ping`, `Pong`, `Goodbye` | peer ↔ peer | `"Ping"`, `"Pong"`, `"Goodbye"` |
 *
 * `peer` is a socket address written as Rust prints it (`a.b.c.d:port`, `[v6]:port`), see
 * `socket_addr.ts`. Strings are escaped as serde_json escapes them: `"`, `\` and control
 * characters only, with `/` and non-ASCII characters written raw (UTF-8).
 *
 * The decoder accepts exactly what serde_json 1.0.140 accepts for this enum (spec §3.2): a unit
 * variant as a string or as `{"Ping":null}`; a struct variant as an object or as an array of its
 * fields in order; unknown fields ignored (their values are only checked as JSON, as serde's
 * `IgnoredAny` does); leading and trailing whitespace. It rejects an unknown variant, a struct
 * variant written as a bare string, duplicate or missing fields, invalid UTF-8 or lone surrogates
 * in strings that are read, and anything after the document. Every failure is a
 * {@linkcode PeerPunchError}.
 *
 * Datagrams above {@linkcode MAX_PEER_PUNCH_DATAGRAM_BYTES} are refused both ways: a Peer-Punch
 * peer reads into a 1024-byte buffer, so it could never read them whole.
 *
 * Pure functions, no I/O.
 *
 * @module
 */

import { formatSocketAddr, parseSocketAddr, type SocketAddr } from "./socket_addr.ts";

/**
 * The relay's UDP port in Peer-Punch (spec §3.5: the relay binds `127.0.0.1:8080` and every peer
 * sends there).
 */
export const DEFAULT_PEER_PUNCH_PORT = 8080;

/**
 * The largest datagram a Peer-Punch endpoint reads whole: both the relay and the peers receive
 * into a 1024-byte buffer (spec §3.1, §3.5).
 */
export const MAX_PEER_PUNCH_DATAGRAM_BYTES = 1024;

/**
 * The longest `DirectMessage` content (ASCII) that still fits: the wrapper
 * `{"DirectMessage":{"content":""}}` takes 32 bytes (spec §3.2, "Size limit").
 */
export const MAX_PEER_PUNCH_CONTENT_BYTES = MAX_PEER_PUNCH_DATAGRAM_BYTES - 32;

/** How often a Peer-Punch peer pings its chat partner, in ms (spec §3.5: every 20 s). */
export const PEER_PUNCH_KEEPALIVE_MS = 20_000;

/** The variants that carry no data, in the spec table's order. */
export const PEER_PUNCH_UNIT_VARIANTS = [
  "SessionFinished",
  "RegisterAck",
  "TargetNotFound",
  "TargetBusy",
  "Ping",
  "Pong",
  "Goodbye",
] as const;

/** The name of a variant that carries no data. */
export type PeerPunchUnitVariant = typeof PEER_PUNCH_UNIT_VARIANTS[number];

/** `Register{username}`: peer → relay, "I am `username`, at the address you see". */
export interface PeerPunchRegisterMsg {
  /** Discriminant. */
  type: "Register";
  /** The name to register. */
  username: string;
}

/** `Connect{target_username}`: peer → relay, "introduce me to `targetUsername`". */
export interface PeerPunchConnectMsg {
  /** Discriminant. */
  type: "Connect";
  /** Whom to meet (`target_username` on the wire). */
  targetUsername: string;
}

/** `PeerInfo{peer, username}`: relay → peer, "`username` is at `peer`". */
export interface PeerPunchPeerInfoMsg {
  /** Discriminant. */
  type: "PeerInfo";
  /** The other peer's address as the relay saw it. */
  peer: SocketAddr;
  /** The other peer's name. */
  username: string;
}

/** `DirectMessage{content}`: peer ↔ peer, one chat line (and the punch packet, `"Punch!"`). */
export interface PeerPunchDirectMessageMsg {
  /** Discriminant. */
  type: "DirectMessage";
  /** The text. */
  content: string;
}

/** A variant without data. */
export interface PeerPunchUnitMsg {
  /** Which one. */
  type: PeerPunchUnitVariant;
}

/** One Peer-Punch message. */
export type PeerPunchMessage =
  | PeerPunchRegisterMsg
  | PeerPunchConnectMsg
  | PeerPunchPeerInfoMsg
  | PeerPunchDirectMessageMsg
  | PeerPunchUnitMsg;

/** A Peer-Punch message could not be encoded or decoded. */
export class PeerPunchError extends Error {
  /**
   * Make the error.
   *
   * @example
   * ```ts
   * import { PeerPunchError } from "./peer_punch.ts";
   * if (new PeerPunchError("Bad").name !== "PeerPunchError") throw new Error("Bad name");
   * ```
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "PeerPunchError";
  }
}

/** The longest username peerlink's introducer accepts, in characters (not a Peer-Punch rule). */
export const MAX_CHAT_USERNAME_LENGTH = 32;

const USERNAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$/;

/**
 * Is `name` a username peerlink's introducer accepts? 1 to 32 characters from `A`–`Z`, `a`–`z`,
 * `0`–`9`, `_`, `.` and `-`, starting with a letter or digit; names are case-sensitive. This is
 * peerlink's rule (Peer-Punch accepts any string), kept ASCII so look-alike names cannot
 * impersonate each other.
 *
 * @example
 * ```ts
 * import { isValidChatUsername } from "./peer_punch.ts";
 * if (!isValidChatUsername("alice_01") || isValidChatUsername("") || isValidChatUsername("-x")) {
 *   throw new Error("Wrong rule");
 * }
 * ```
 */
export function isValidChatUsername(name: string): boolean {
  return typeof name === "string" && USERNAME.test(name);
}

const encoder = new TextEncoder();

/** A JSON string as serde_json writes it (JSON.stringify escapes the same set, see the tests). */
function jsonString(where: string, value: unknown): string {
  if (typeof value !== "string") throw new PeerPunchError(`${where} must be a string`);
  if (!value.isWellFormed()) {
    throw new PeerPunchError(`${where} has a lone surrogate; Rust strings are valid UTF-8`);
  }
  return JSON.stringify(value);
}

function socketAddrString(addr: SocketAddr): string {
  let text: string | null = null;
  try {
    text = formatSocketAddr(addr);
  } catch { /* checked below */ }
  if (text === null || parseSocketAddr(text) === null) {
    throw new PeerPunchError("PeerInfo.peer must be a valid socket address");
  }
  return JSON.stringify(text);
}

function encodeText(msg: PeerPunchMessage): string {
  switch (msg.type) {
    case "Register":
      return `{"Register":{"username":${jsonString("Register.username", msg.username)}}}`;
    case "Connect":
      return `{"Connect":{"target_username":${
        jsonString("Connect.target_username", msg.targetUsername)
      }}}`;
    case "PeerInfo":
      return `{"PeerInfo":{"peer":${socketAddrString(msg.peer)},"username":${
        jsonString("PeerInfo.username", msg.username)
      }}}`;
    case "DirectMessage":
      return `{"DirectMessage":{"content":${jsonString("DirectMessage.content", msg.content)}}}`;
    default:
      if (!(PEER_PUNCH_UNIT_VARIANTS as readonly string[]).includes(msg.type)) {
        throw new PeerPunchError(
          `Unknown Peer-Punch message type ${JSON.stringify((msg as { type: unknown }).type)}`,
        );
      }
      return `"${msg.type}"`;
  }
}

/**
 * Encode a message as the datagram Peer-Punch sends (`serde_json::to_vec`).
 *
 * @throws {PeerPunchError} for an invalid message, or one above
 * {@linkcode MAX_PEER_PUNCH_DATAGRAM_BYTES} that no Peer-Punch peer could read.
 *
 * @example
 * ```ts
 * import { encodePeerPunchMessage } from "./peer_punch.ts";
 * const bytes = encodePeerPunchMessage({ type: "Register", username: "alice" });
 * if (new TextDecoder().decode(bytes) !== '{"Register":{"username":"alice"}}') throw new Error("Bad bytes");
 * if (encodePeerPunchMessage({ type: "Ping" }).toHex() !== "2250696e6722") throw new Error("Bad Ping");
 * ```
 */
export function encodePeerPunchMessage(msg: PeerPunchMessage): Uint8Array {
  const bytes = encoder.encode(encodeText(msg));
  if (bytes.length > MAX_PEER_PUNCH_DATAGRAM_BYTES) {
    throw new PeerPunchError(
      `${msg.type} is ${bytes.length} bytes; Peer-Punch peers read at most ${MAX_PEER_PUNCH_DATAGRAM_BYTES}`,
    );
  }
  return bytes;
}

// ---------------------------------------------------------------------------------------------
// Decoding: a small byte-level reader that follows serde_json 1.0.140's `Deserializer` for this
// enum (src/de.rs `deserialize_enum`, `VariantAccess`, `UnitVariantAccess`, `ignore_value`;
// src/read.rs `parse_str_bytes`, `ignore_str`). JSON.parse cannot be used: it keeps the last of
// duplicate keys, accepts lone surrogates and rejects invalid UTF-8 inside ignored strings,
// where serde does the opposite.

const QUOTE = 0x22;
const BACKSLASH = 0x5c;

type FieldKind = "string" | "socket_addr";

const STRUCT_FIELDS: Readonly<Record<string, readonly (readonly [string, FieldKind])[]>> = {
  Register: [["username", "string"]],
  Connect: [["target_username", "string"]],
  PeerInfo: [["peer", "socket_addr"], ["username", "string"]],
  DirectMessage: [["content", "string"]],
};

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

class Reader {
  pos = 0;
  constructor(readonly bytes: Uint8Array) {}

  fail(what: string): never {
    throw new PeerPunchError(`${what} at byte ${this.pos}`);
  }

  /** Skip JSON whitespace; the next byte, or -1 at the end. */
  peek(): number {
    const b = this.bytes;
    while (this.pos < b.length) {
      const c = b[this.pos]!;
      if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) return c;
      this.pos++;
    }
    return -1;
  }

  expect(byte: number, what: string): void {
    if (this.peek() !== byte) this.fail(`Expected ${what}`);
    this.pos++;
  }

  literal(word: string): void {
    for (let i = 0; i < word.length; i++) {
      if (this.bytes[this.pos] !== word.charCodeAt(i)) this.fail("Expected a JSON literal");
      this.pos++;
    }
  }

  hex4(): number {
    if (this.pos + 4 > this.bytes.length) this.fail("Unterminated string");
    let n = 0;
    for (let i = 0; i < 4; i++) {
      const c = this.bytes[this.pos++]!;
      const d = c >= 0x30 && c <= 0x39
        ? c - 0x30
        : c >= 0x41 && c <= 0x46
        ? c - 0x37
        : c >= 0x61 && c <= 0x66
        ? c - 0x57
        : -1;
      if (d < 0) this.fail("Invalid \\u escape");
      n = (n << 4) | d;
    }
    return n;
  }

  /** A string that is read (keys, fields, variant names): UTF-8 and surrogates checked. */
  string(): string {
    this.expect(QUOTE, "a string");
    const out: number[] = [];
    const push = (cp: number): void => {
      if (cp < 0x80) out.push(cp);
      else if (cp < 0x800) out.push(0xc0 | (cp >> 6), 0x80 | (cp & 63));
      else if (cp < 0x10000) {
        out.push(0xe0 | (cp >> 12), 0x80 | ((cp >> 6) & 63), 0x80 | (cp & 63));
      } else {
        out.push(
          0xf0 | (cp >> 18),
          0x80 | ((cp >> 12) & 63),
          0x80 | ((cp >> 6) & 63),
          0x80 | (cp & 63),
        );
      }
    };
    for (;;) {
      if (this.pos >= this.bytes.length) this.fail("Unterminated string");
      const c = this.bytes[this.pos++]!;
      if (c === QUOTE) break;
      if (c < 0x20) this.fail("Control character in a string");
      if (c !== BACKSLASH) {
        out.push(c);
        continue;
      }
      if (this.pos >= this.bytes.length) this.fail("Unterminated string");
      const e = this.bytes[this.pos++]!;
      switch (e) {
        case 0x22:
        case 0x5c:
        case 0x2f:
          out.push(e);
          break;
        case 0x62:
          out.push(0x08);
          break;
        case 0x66:
          out.push(0x0c);
          break;
        case 0x6e:
          out.push(0x0a);
          break;
        case 0x72:
          out.push(0x0d);
          break;
        case 0x74:
          out.push(0x09);
          break;
        case 0x75: {
          const n = this.hex4();
          if (n >= 0xdc00 && n <= 0xdfff) this.fail("Lone surrogate in a \\u escape");
          if (n < 0xd800 || n > 0xdbff) {
            push(n);
            break;
          }
          if (this.bytes[this.pos] !== BACKSLASH || this.bytes[this.pos + 1] !== 0x75) {
            this.fail("Lone surrogate in a \\u escape");
          }
          this.pos += 2;
          const low = this.hex4();
          if (low < 0xdc00 || low > 0xdfff) this.fail("Lone surrogate in a \\u escape");
          push(0x10000 + ((n - 0xd800) << 10) + (low - 0xdc00));
          break;
        }
        default:
          this.fail("Invalid escape");
      }
    }
    try {
      return utf8.decode(new Uint8Array(out));
    } catch (cause) {
      throw new PeerPunchError(`Invalid UTF-8 in a string before byte ${this.pos}`, { cause });
    }
  }

  /** A string that is skipped (serde `ignore_str`): only control characters and escapes checked. */
  skipString(): void {
    this.pos++; // the opening quote
    for (;;) {
      if (this.pos >= this.bytes.length) this.fail("Unterminated string");
      const c = this.bytes[this.pos++]!;
      if (c === QUOTE) return;
      if (c < 0x20) this.fail("Control character in a string");
      if (c !== BACKSLASH) continue;
      if (this.pos >= this.bytes.length) this.fail("Unterminated string");
      const e = this.bytes[this.pos++]!;
      if (e === 0x75) this.hex4();
      else if (!'"\\/bfnrt'.includes(String.fromCharCode(e))) this.fail("Invalid escape");
    }
  }

  digits(): number {
    let n = 0;
    while (this.pos < this.bytes.length) {
      const c = this.bytes[this.pos]!;
      if (c < 0x30 || c > 0x39) break;
      this.pos++;
      n++;
    }
    return n;
  }

  /** A number that is skipped (serde `ignore_integer` and friends): JSON syntax checked. */
  skipNumber(): void {
    if (this.bytes[this.pos] === 0x2d) this.pos++;
    const first = this.bytes[this.pos];
    if (first === 0x30) {
      this.pos++;
      const next = this.bytes[this.pos];
      if (next !== undefined && next >= 0x30 && next <= 0x39) this.fail("Invalid number");
    } else if (first !== undefined && first >= 0x31 && first <= 0x39) {
      this.digits();
    } else this.fail("Invalid number");
    if (this.bytes[this.pos] === 0x2e) {
      this.pos++;
      if (this.digits() === 0) this.fail("Invalid number");
    }
    const e = this.bytes[this.pos];
    if (e === 0x65 || e === 0x45) {
      this.pos++;
      const sign = this.bytes[this.pos];
      if (sign === 0x2b || sign === 0x2d) this.pos++;
      if (this.digits() === 0) this.fail("Invalid number");
    }
  }

  /**
   * Skip any JSON value (serde `ignore_value`, which has no depth limit). Recursion is bounded
   * by the input: decoders never see more than 1024 bytes.
   */
  skipValue(): void {
    const c = this.peek();
    switch (c) {
      case 0x6e:
        return this.literal("null");
      case 0x74:
        return this.literal("true");
      case 0x66:
        return this.literal("false");
      case QUOTE:
        return this.skipString();
      case 0x5b: {
        this.pos++;
        if (this.peek() === 0x5d) {
          this.pos++;
          return;
        }
        for (;;) {
          this.skipValue();
          const next = this.peek();
          this.pos++;
          if (next === 0x5d) return;
          if (next !== 0x2c) this.fail("Expected , or ] in a list");
        }
      }
      case 0x7b: {
        this.pos++;
        if (this.peek() === 0x7d) {
          this.pos++;
          return;
        }
        for (;;) {
          if (this.peek() !== QUOTE) this.fail("Object keys must be strings");
          this.skipString();
          this.expect(0x3a, ":");
          this.skipValue();
          const next = this.peek();
          this.pos++;
          if (next === 0x7d) return;
          if (next !== 0x2c) this.fail("Expected , or } in an object");
        }
      }
      default:
        if (c === 0x2d || (c >= 0x30 && c <= 0x39)) return this.skipNumber();
        this.fail("Expected a JSON value");
    }
  }

  field(variant: string, name: string, kind: FieldKind): string | SocketAddr {
    if (this.peek() !== QUOTE) this.fail(`${variant}.${name} must be a string`);
    const text = this.string();
    if (kind === "string") return text;
    const addr = parseSocketAddr(text);
    if (addr === null) {
      throw new PeerPunchError(
        `${variant}.${name} is not a socket address: ${JSON.stringify(text)}`,
      );
    }
    return addr;
  }

  /** A struct variant's content: an object (any key order, unknown keys ignored) or an array. */
  struct(variant: string): Map<string, string | SocketAddr> {
    const spec = STRUCT_FIELDS[variant]!;
    const values = new Map<string, string | SocketAddr>();
    const open = this.peek();
    if (open === 0x5b) {
      this.pos++;
      spec.forEach(([name, kind], i) => {
        const next = this.peek();
        if (next === 0x5d) this.fail(`${variant} has ${i} fields, it needs ${spec.length}`);
        if (i > 0) {
          if (next !== 0x2c) this.fail("Expected , or ] in a list");
          this.pos++;
        }
        values.set(name, this.field(variant, name, kind));
      });
      if (this.peek() !== 0x5d) this.fail(`${variant} has more than ${spec.length} fields`);
      this.pos++;
      return values;
    }
    if (open !== 0x7b) this.fail(`${variant} must carry an object or an array of fields`);
    this.pos++;
    if (this.peek() === 0x7d) this.pos++;
    else {
      for (;;) {
        if (this.peek() !== QUOTE) this.fail("Object keys must be strings");
        const key = this.string();
        this.expect(0x3a, ":");
        const known = spec.find(([name]) => name === key);
        if (known === undefined) this.skipValue();
        else {
          if (values.has(key)) this.fail(`Duplicate field ${variant}.${key}`);
          values.set(key, this.field(variant, key, known[1]));
        }
        const next = this.peek();
        this.pos++;
        if (next === 0x7d) break;
        if (next !== 0x2c) this.fail("Expected , or } in an object");
      }
    }
    for (const [name] of spec) {
      if (!values.has(name)) throw new PeerPunchError(`${variant} is missing field ${name}`);
    }
    return values;
  }
}

function build(variant: string, fields: Map<string, string | SocketAddr>): PeerPunchMessage {
  const text = (name: string): string => fields.get(name) as string;
  switch (variant) {
    case "Register":
      return { type: "Register", username: text("username") };
    case "Connect":
      return { type: "Connect", targetUsername: text("target_username") };
    case "PeerInfo":
      return {
        type: "PeerInfo",
        peer: fields.get("peer") as SocketAddr,
        username: text("username"),
      };
    default:
      return { type: "DirectMessage", content: text("content") };
  }
}

function variantKind(name: string): "unit" | "struct" {
  if ((PEER_PUNCH_UNIT_VARIANTS as readonly string[]).includes(name)) return "unit";
  if (Object.hasOwn(STRUCT_FIELDS, name)) return "struct";
  throw new PeerPunchError(`Unknown Peer-Punch variant ${JSON.stringify(name)}`);
}

/**
 * Decode one datagram as Peer-Punch's relay and peers do (`serde_json::from_slice`).
 *
 * @throws {PeerPunchError} for anything serde_json would refuse, and for datagrams above
 * {@linkcode MAX_PEER_PUNCH_DATAGRAM_BYTES}.
 *
 * @example The spec's forms
 * ```ts
 * import { decodePeerPunchMessage } from "./peer_punch.ts";
 * const bytes = (s: string) => new TextEncoder().encode(s);
 * const info = decodePeerPunchMessage(bytes('{"PeerInfo":{"peer":"203.0.113.7:40001","username":"bob"}}'));
 * if (info.type !== "PeerInfo" || info.peer.port !== 40001) throw new Error("Bad PeerInfo");
 * if (decodePeerPunchMessage(bytes('{"Ping":null}')).type !== "Ping") throw new Error("Bad Ping");
 * const reg = decodePeerPunchMessage(bytes('{"Register":["alice"]}'));
 * if (reg.type !== "Register" || reg.username !== "alice") throw new Error("Bad Register");
 * ```
 */
export function decodePeerPunchMessage(datagram: Uint8Array): PeerPunchMessage {
  if (datagram.length > MAX_PEER_PUNCH_DATAGRAM_BYTES) {
    throw new PeerPunchError(
      `Datagram is ${datagram.length} bytes; Peer-Punch peers read at most ${MAX_PEER_PUNCH_DATAGRAM_BYTES}`,
    );
  }
  const r: Reader = new Reader(datagram);
  let msg: PeerPunchMessage;
  const first = r.peek();
  if (first === QUOTE) {
    const name = r.string();
    if (variantKind(name) === "struct") {
      throw new PeerPunchError(`${name} carries fields; it cannot be a bare string`);
    }
    msg = { type: name as PeerPunchUnitVariant };
  } else if (first === 0x7b) {
    r.pos++;
    if (r.peek() !== QUOTE) r.fail("Expected a variant name");
    const name = r.string();
    r.expect(0x3a, ":");
    if (variantKind(name) === "unit") {
      if (r.peek() !== 0x6e) r.fail(`${name} carries no data; only null may follow it`);
      r.literal("null");
      msg = { type: name as PeerPunchUnitVariant };
    } else {
      msg = build(name, r.struct(name));
    }
    r.expect(0x7d, "} after the variant (an enum object has exactly one key)");
  } else if (first === -1) {
    r.fail("Empty datagram");
  } else {
    r.fail("Expected a variant name or an object with one key");
  }
  if (r.peek() !== -1) r.fail("Trailing characters after the message");
  return msg;
}
