/**
 * The peerlink relay protocol, version 1: how two peers that cannot reach each other directly
 * ask a server to join their byte streams. Pure encode/decode, no I/O; the server is
 * `server/services/relay.ts` and the client `client/relay.ts`.
 *
 * ## Transports
 *
 * A client opens one connection to the server by any of:
 * - plain TCP to the relay port (`server.ts --relay-port`, the client's default
 *   {@linkcode DEFAULT_RELAY_PORT});
 * - TLS to the relay TLS port (`--relay-tls-port`, default {@linkcode DEFAULT_RELAY_TLS_PORT});
 * - a WebSocket at `GET /relay` ({@linkcode RELAY_WS_PATH}) on the server's HTTP or HTTPS port
 *   (`--http-port`, `--https-port`), which passes proxies and firewalls that only allow web
 *   traffic on 80 and 443.
 *
 * ## Byte-level specification
 *
 * Notation: `u32(n)` is 4 bytes big-endian; JSON texts are UTF-8 with no byte-order mark.
 *
 * 1. **Hello** (client → server, first and only thing the client sends before step 3):
 *    `u32(len) ‖ body`, where `body` is `len` bytes of JSON, `len ≤ 1024`
 *    ({@linkcode MAX_RELAY_HELLO_BYTES}):
 *    `{"version":1,"token":"<token>"}`. `version` is this protocol's version
 *    ({@linkcode RELAY_PROTOCOL_VERSION}); `token` is the 32-byte circuit token
 *    ({@linkcode RELAY_TOKEN_BYTES}) as 64 hex digits (either case) or as 43 base64url
 *    characters without padding. Members other than `version` and `token` are ignored.
 *    Both peers of a circuit send the same token, derived from their shared secret (the client
 *    uses HKDF-SHA256, see `relayToken` in `client/relay.ts`); the server never sees the
 *    secret.
 * 2. **Status frames** (server → client), same framing, `len ≤ 1024`
 *    ({@linkcode MAX_RELAY_STATUS_BYTES}):
 *    - `{"status":"waiting","timeout_ms":N}`: no peer with this token yet; the server waits up to
 *      N ms for one (`--relay-wait-timeout`), then answers the `timeout` error;
 *    - `{"status":"paired"}`: the other peer is here and the circuit is open. Over WebSocket it
 *      carries the flow-control window: `{"status":"paired","window":N}` (step 4);
 *    - `{"status":"error","code":"<code>","message":"<text for people>"}`, then the server closes
 *      the connection. Codes ({@linkcode RELAY_ERROR_CODES}): `bad-hello` (not a hello: bad
 *      framing, too long, not JSON, bad token, or bytes sent before `paired`), `version` (an
 *      unsupported version; the frame also carries `"versions":[1]`), `busy` (two peers
 *      already hold a circuit with this token), `limit` (a server limit: circuits per client
 *      IP, requests per minute), `timeout` (no peer came in time), `shutdown` (the server is
 *      stopping).
 *      Clients treat an unknown code as a refusal too.
 *
 *    A client gets `waiting` (zero or one time) then `paired`, or an error at any point.
 * 3. **Data.** After `paired` the connection carries the peers' bytes unchanged, both ways, until
 *    either peer ends it. Closing one direction (TCP FIN, TLS close_notify) is passed on as the
 *    same half-close to the other peer; when either peer's connection fails or both directions
 *    have ended, the server closes both connections. The server may end a circuit at any time
 *    for a limit (bytes, duration), by closing both connections. Peers must authenticate and
 *    encrypt end to end (peerlink runs its PAKE handshake over the circuit): the relay sees
 *    only ciphertext.
 * 4. **WebSocket.** The hello and each status frame are one binary message holding exactly the
 *    frame bytes above (prefix included). After `paired`:
 *    - a non-empty binary message carries data bytes (message boundaries mean nothing);
 *    - an empty binary message ends the sender's direction (half-close);
 *    - a text message `{"ack":N}` ({@linkcode encodeRelayAck}), `1 ≤ N < 2^32`, says the sender
 *      of the ack has consumed N more data bytes. Flow control, because WebSocket APIs cannot
 *      pause reading: each side keeps at most `window` data bytes sent and not yet
 *      acknowledged, sends data messages of at most `floor(window / 4)` bytes, and acknowledges
 *      the bytes its reader has consumed as soon as they reach `floor(window / 4)` (earlier is
 *      allowed). Together these rules never leave both sides waiting. A side that exceeds the
 *      window, acknowledges more than it was sent, or sends anything else as text is in error
 *      and its connection is closed.
 *    - The server closes a circuit's WebSockets with code 1000 when both directions ended
 *      normally, 4001 with reason `limit` for a limit, 4002 `peer-error` when the other peer's
 *      connection failed, 4003 `protocol` for a protocol error, and 1001 on shutdown.
 *
 * Refusals are final for that connection; a client may retry with a new connection.
 *
 * @example Encode a hello and read it back
 * ```ts
 * import { decodeRelayHello, encodeRelayHello } from "./relay.ts";
 * const token = new Uint8Array(32).fill(0xab);
 * const hello = decodeRelayHello(encodeRelayHello({ version: 1, token }));
 * if (hello.token.toHex() !== token.toHex()) throw new Error("No round trip");
 * ```
 *
 * @module
 */

import { isJsonObject, JsonNumber, jsonUnsigned, type JsonValue, parseJson } from "./json.ts";

/** The relay protocol version this module speaks (hello `version`). */
export const RELAY_PROTOCOL_VERSION = 1;
/** Versions a server of this module accepts (sent back with a `version` error). */
export const RELAY_SUPPORTED_VERSIONS: readonly number[] = Object.freeze([RELAY_PROTOCOL_VERSION]);
/** Bytes in a circuit token (a 256-bit HKDF-SHA256 output). */
export const RELAY_TOKEN_BYTES = 32;
/** The largest hello body (JSON, after the 4-byte length) a server accepts. */
export const MAX_RELAY_HELLO_BYTES = 1024;
/** The largest status body (JSON, after the 4-byte length) a client accepts. */
export const MAX_RELAY_STATUS_BYTES = 1024;
/** The largest acknowledged count in one `{"ack":N}` message (2^32 - 1). */
export const MAX_RELAY_ACK = 0xffffffff;
/** The largest WebSocket text message a relay peer accepts (an ack), in bytes. */
export const MAX_RELAY_ACK_BYTES = 64;
/** The path of the WebSocket relay on the server's HTTP(S) ports. */
export const RELAY_WS_PATH = "/relay";
/** The client's default relay port over plain TCP. */
export const DEFAULT_RELAY_PORT = 2316;
/** The client's default relay port over TLS. */
export const DEFAULT_RELAY_TLS_PORT = 2317;
/** The WebSocket flow-control window a server offers by default, in bytes (1 MiB). */
export const DEFAULT_RELAY_WS_WINDOW = 1024 * 1024;

/** WebSocket close codes a relay server uses once a circuit is open (step 4). */
export interface RelayWsCloseCodes {
  /** Both directions ended normally (1000). */
  readonly normal: 1000;
  /** The server is shutting down (1001). */
  readonly shutdown: 1001;
  /** A limit (bytes, duration) ended the circuit (4001). */
  readonly limit: 4001;
  /** The other peer's connection failed (4002). */
  readonly peerError: 4002;
  /** This side broke the protocol, e.g. exceeded the window (4003). */
  readonly protocol: 4003;
}

/** The close codes of {@linkcode RelayWsCloseCodes}. */
export const RELAY_WS_CLOSE: RelayWsCloseCodes = Object.freeze({
  normal: 1000,
  shutdown: 1001,
  limit: 4001,
  peerError: 4002,
  protocol: 4003,
});

/** The error codes a server sends, in the order of the specification. */
export const RELAY_ERROR_CODES: readonly [
  "bad-hello",
  "version",
  "busy",
  "limit",
  "timeout",
  "shutdown",
] = Object.freeze(["bad-hello", "version", "busy", "limit", "timeout", "shutdown"] as const);

/** A known error code of a status frame. */
export type RelayErrorCode = typeof RELAY_ERROR_CODES[number];

/** What a client says first. */
export interface RelayHello {
  /** The protocol version ({@linkcode RELAY_PROTOCOL_VERSION}). */
  version: number;
  /** The 32-byte circuit token. */
  token: Uint8Array;
}

/** A status frame from the server. */
export type RelayStatus =
  | {
    /** No peer yet. */
    status: "waiting";
    /** How long the server waits for the peer, in ms. */
    timeoutMs: number;
  }
  | {
    /** The circuit is open. */
    status: "paired";
    /** WebSocket only: the flow-control window in bytes. */
    window?: number;
  }
  | {
    /** Refused or ended; the server closes the connection. */
    status: "error";
    /** A {@linkcode RelayErrorCode}, or a code from a newer server. */
    code: string;
    /** Text for people. */
    message: string;
    /** With `version`: the versions the server speaks. */
    versions?: number[];
  };

/** What was wrong with a relay message. */
export type RelayProtocolErrorCode = "bad-hello" | "version" | "bad-status" | "bad-ack";

/** A relay message could not be decoded; `code` says what a server answers (or a client sees). */
export class RelayProtocolError extends Error {
  /** What was wrong: the error code to answer (`bad-hello`, `version`), or a client-side kind. */
  readonly code: RelayProtocolErrorCode;
  /**
   * Make the error.
   *
   * @example
   * ```ts
   * import { RelayProtocolError } from "./relay.ts";
   * const error = new RelayProtocolError("bad-hello", "Not JSON");
   * if (error.name !== "RelayProtocolError" || error.code !== "bad-hello") throw new Error("Bad error");
   * ```
   */
  constructor(code: RelayProtocolErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "RelayProtocolError";
    this.code = code;
  }
}

const encoder = new TextEncoder();

function frame(body: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + body.length);
  new DataView(out.buffer).setUint32(0, body.length, false);
  out.set(body, 4);
  return out;
}

function b64urlToBytes(text: string): Uint8Array {
  const base64 = text.replaceAll("-", "+").replaceAll("_", "/") + "=";
  const binary = atob(base64);
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}

/**
 * Read a circuit token written as 64 hex digits (either case) or 43 base64url characters (no
 * padding); `null` when `text` is neither.
 *
 * @example
 * ```ts
 * import { parseRelayToken } from "./relay.ts";
 * const hex = "ab".repeat(32);
 * if (parseRelayToken(hex)?.toHex() !== hex) throw new Error("Hex refused");
 * if (parseRelayToken("q".repeat(42) + "A")?.length !== 32) throw new Error("base64url refused");
 * if (parseRelayToken("ab") !== null) throw new Error("Short token accepted");
 * ```
 */
export function parseRelayToken(text: string): Uint8Array | null {
  if (/^[0-9a-fA-F]{64}$/.test(text)) return Uint8Array.fromHex(text.toLowerCase());
  // 43 characters carry 258 bits; the last character's 2 low bits must be 0 (canonical form).
  if (/^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$/.test(text)) return b64urlToBytes(text);
  return null;
}

/**
 * Write a token as lowercase hex, the form {@linkcode encodeRelayHello} sends.
 *
 * @example
 * ```ts
 * import { formatRelayToken } from "./relay.ts";
 * if (formatRelayToken(new Uint8Array(32)) !== "0".repeat(64)) throw new Error("Bad text");
 * ```
 */
export function formatRelayToken(token: Uint8Array): string {
  if (token.length !== RELAY_TOKEN_BYTES) {
    throw new RangeError(`Relay token is ${token.length} bytes, it must be ${RELAY_TOKEN_BYTES}`);
  }
  return token.toHex();
}

/**
 * Encode a hello body (the JSON, without the length prefix); {@linkcode encodeRelayHelloFrame}
 * adds the prefix.
 *
 * @throws {RangeError} when the token is not 32 bytes or the version not a positive integer.
 *
 * @example
 * ```ts
 * import { encodeRelayHello } from "./relay.ts";
 * const text = new TextDecoder().decode(encodeRelayHello({ version: 1, token: new Uint8Array(32) }));
 * if (text !== `{"version":1,"token":"${"0".repeat(64)}"}`) throw new Error(text);
 * ```
 */
export function encodeRelayHello(hello: RelayHello): Uint8Array {
  if (!(Number.isInteger(hello.version) && hello.version > 0 && hello.version <= 0xffffffff)) {
    throw new RangeError(`Relay version is ${hello.version}, it must be an integer from 1`);
  }
  return encoder.encode(
    `{"version":${hello.version},"token":"${formatRelayToken(hello.token)}"}`,
  );
}

/**
 * Encode a hello as a frame (4-byte big-endian length, then the JSON body), ready to send.
 *
 * @example
 * ```ts
 * import { encodeRelayHelloFrame } from "./relay.ts";
 * const bytes = encodeRelayHelloFrame({ version: 1, token: new Uint8Array(32) });
 * if (bytes.length !== 4 + 88 || bytes.subarray(0, 4).toHex() !== "00000058") throw new Error("Bad frame");
 * ```
 */
export function encodeRelayHelloFrame(hello: RelayHello): Uint8Array {
  return frame(encodeRelayHello(hello));
}

function parse(bytes: Uint8Array, code: "bad-hello" | "bad-status"): JsonValue {
  try {
    return parseJson(bytes);
  } catch (cause) {
    throw new RelayProtocolError(code, (cause as Error).message, { cause });
  }
}

/**
 * Decode a hello body (the JSON after the length prefix). The caller has already checked the
 * length against {@linkcode MAX_RELAY_HELLO_BYTES}. The version is checked before the token, so
 * a client of a newer version gets `version`, whatever its token looks like.
 *
 * @throws {RelayProtocolError} `version` for another version, `bad-hello` for anything else
 *   wrong.
 *
 * @example
 * ```ts
 * import { decodeRelayHello, RelayProtocolError } from "./relay.ts";
 * const body = (json: string) => new TextEncoder().encode(json);
 * const hello = decodeRelayHello(body(`{"version":1,"token":"${"AB".repeat(32)}","x":0}`));
 * if (hello.token[0] !== 0xab) throw new Error("Bad token");
 * const error = (() => { try { decodeRelayHello(body('{"version":2,"token":""}')); } catch (e) { return e; } })();
 * if (!(error instanceof RelayProtocolError) || error.code !== "version") throw new Error("Expected version");
 * ```
 */
export function decodeRelayHello(body: Uint8Array): RelayHello {
  if (body.length > MAX_RELAY_HELLO_BYTES) {
    throw new RelayProtocolError(
      "bad-hello",
      `Hello of ${body.length} bytes exceeds ${MAX_RELAY_HELLO_BYTES} bytes`,
    );
  }
  const value = parse(body, "bad-hello");
  if (!isJsonObject(value)) throw new RelayProtocolError("bad-hello", "Hello is not a JSON object");
  const version = jsonUnsigned(value.version, 32);
  if (version === null || version === 0n) {
    throw new RelayProtocolError("bad-hello", "Hello has no valid version (a positive integer)");
  }
  if (version !== BigInt(RELAY_PROTOCOL_VERSION)) {
    throw new RelayProtocolError(
      "version",
      `Relay protocol version ${version} is not supported (this server speaks ${
        RELAY_SUPPORTED_VERSIONS.join(", ")
      })`,
    );
  }
  const tokenText = value.token;
  const token = typeof tokenText === "string" ? parseRelayToken(tokenText) : null;
  if (token === null) {
    throw new RelayProtocolError(
      "bad-hello",
      "Hello has no valid token (32 bytes as 64 hex digits or 43 base64url characters)",
    );
  }
  return { version: Number(version), token };
}

/**
 * Encode a status body (the JSON, without the length prefix); {@linkcode encodeRelayStatusFrame}
 * adds the prefix.
 *
 * @throws {RangeError} when the body would exceed {@linkcode MAX_RELAY_STATUS_BYTES}.
 *
 * @example
 * ```ts
 * import { encodeRelayStatus } from "./relay.ts";
 * const text = new TextDecoder().decode(encodeRelayStatus({ status: "waiting", timeoutMs: 30000 }));
 * if (text !== '{"status":"waiting","timeout_ms":30000}') throw new Error(text);
 * ```
 */
export function encodeRelayStatus(status: RelayStatus): Uint8Array {
  let value: Record<string, unknown>;
  switch (status.status) {
    case "waiting":
      value = { status: "waiting", timeout_ms: Math.max(0, Math.round(status.timeoutMs)) };
      break;
    case "paired":
      value = status.window === undefined
        ? { status: "paired" }
        : { status: "paired", window: status.window };
      break;
    case "error":
      value = {
        status: "error",
        code: status.code,
        message: status.message,
        ...(status.versions ? { versions: status.versions } : {}),
      };
      break;
  }
  const body = encoder.encode(JSON.stringify(value));
  if (body.length > MAX_RELAY_STATUS_BYTES) {
    throw new RangeError(`Relay status of ${body.length} bytes exceeds ${MAX_RELAY_STATUS_BYTES}`);
  }
  return body;
}

/**
 * Encode a status as a frame (4-byte big-endian length, then the JSON body), ready to send.
 *
 * @example
 * ```ts
 * import { encodeRelayStatusFrame } from "./relay.ts";
 * const bytes = encodeRelayStatusFrame({ status: "paired" });
 * if (bytes.toHex() !== "00000013" + new TextEncoder().encode('{"status":"paired"}').toHex()) throw new Error("Bad bytes");
 * ```
 */
export function encodeRelayStatusFrame(status: RelayStatus): Uint8Array {
  return frame(encodeRelayStatus(status));
}

function unsigned(value: JsonValue | undefined, what: string, max: number): number {
  const n = jsonUnsigned(value, 53);
  if (n === null || n > BigInt(max)) {
    throw new RelayProtocolError("bad-status", `Status has no valid ${what}`);
  }
  return Number(n);
}

/**
 * Decode a status body (the JSON after the length prefix). Unknown members are ignored; an
 * unknown error code is kept as it is.
 *
 * @throws {RelayProtocolError} `bad-status` when it is not a status.
 *
 * @example
 * ```ts
 * import { decodeRelayStatus } from "./relay.ts";
 * const status = decodeRelayStatus(new TextEncoder().encode('{"status":"error","code":"busy","message":"Taken"}'));
 * if (status.status !== "error" || status.code !== "busy") throw new Error("Bad status");
 * ```
 */
export function decodeRelayStatus(body: Uint8Array): RelayStatus {
  if (body.length > MAX_RELAY_STATUS_BYTES) {
    throw new RelayProtocolError(
      "bad-status",
      `Status of ${body.length} bytes exceeds ${MAX_RELAY_STATUS_BYTES} bytes`,
    );
  }
  const value = parse(body, "bad-status");
  if (!isJsonObject(value)) {
    throw new RelayProtocolError("bad-status", "Status is not a JSON object");
  }
  switch (value.status) {
    case "waiting":
      return { status: "waiting", timeoutMs: unsigned(value.timeout_ms, "timeout_ms", 2 ** 53) };
    case "paired":
      return value.window === undefined
        ? { status: "paired" }
        : { status: "paired", window: unsigned(value.window, "window", MAX_RELAY_ACK) };
    case "error": {
      const { code, message, versions } = value;
      if (typeof code !== "string" || code === "") {
        throw new RelayProtocolError("bad-status", "Error status has no code");
      }
      const status: RelayStatus = {
        status: "error",
        code,
        message: typeof message === "string" ? message : "",
      };
      if (Array.isArray(versions)) {
        status.versions = versions.filter((v): v is JsonNumber => v instanceof JsonNumber)
          .map((v) => Number(v.source)).filter(Number.isInteger);
      }
      return status;
    }
    default:
      throw new RelayProtocolError("bad-status", "Status has an unknown status member");
  }
}

/**
 * The WebSocket text message acknowledging `count` consumed data bytes (step 4).
 *
 * @example
 * ```ts
 * import { encodeRelayAck } from "./relay.ts";
 * if (encodeRelayAck(65536) !== '{"ack":65536}') throw new Error("Bad ack");
 * ```
 */
export function encodeRelayAck(count: number): string {
  if (!(Number.isInteger(count) && count > 0 && count <= MAX_RELAY_ACK)) {
    throw new RangeError(`Relay ack of ${count} bytes must be an integer from 1 to 2^32-1`);
  }
  return `{"ack":${count}}`;
}

/**
 * Read an acknowledgement text message.
 *
 * @throws {RelayProtocolError} `bad-ack` when it is not one.
 *
 * @example
 * ```ts
 * import { decodeRelayAck } from "./relay.ts";
 * if (decodeRelayAck('{"ack":12}') !== 12) throw new Error("Bad ack");
 * ```
 */
export function decodeRelayAck(text: string): number {
  if (text.length > MAX_RELAY_ACK_BYTES) {
    throw new RelayProtocolError("bad-ack", `Text message of ${text.length} characters`);
  }
  let value: JsonValue;
  try {
    value = parseJson(encoder.encode(text));
  } catch (cause) {
    throw new RelayProtocolError("bad-ack", "Text message is not JSON", { cause });
  }
  const count = isJsonObject(value) ? jsonUnsigned(value.ack, 32) : null;
  if (count === null || count === 0n) {
    throw new RelayProtocolError("bad-ack", 'Text message is not {"ack":N} with N from 1');
  }
  return Number(count);
}
