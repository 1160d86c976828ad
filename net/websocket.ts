/**
 * A WebSocket as a {@linkcode Duplex} of bytes, with backpressure both ways.
 *
 * - **Writes** are split into binary messages of at most `maxMessageBytes` and wait while the
 *   socket's `bufferedAmount` is above `highWaterMark` (the WebSocket API has no drain event, so
 *   a waiting write polls it, from 1 ms up to 32 ms).
 * - **Reads** cannot be paused: the WebSocket API delivers every message as it arrives. With
 *   `window` (credit mode, the relay protocol's step 4 in `protocol/relay.ts`) each side keeps at
 *   most `window` bytes sent and not yet acknowledged, and acknowledges what its reader consumed
 *   with a text message `{"ack":N}`, so neither side ever holds more than `window` unread bytes.
 *   Without it, unread messages queue without bound: use it whenever the peer speaks it.
 * - **Half-close** (`halfClose`): closing the writable sends an empty binary message, and an
 *   empty binary message from the peer ends the readable; the socket is closed (code 1000) once
 *   both directions have ended. Without it, closing the writable closes the socket.
 *
 * A socket that closes before the peer ended its direction (in half-close mode), or with a code
 * other than 1000 and 1005, makes the readable fail with {@linkcode WebSocketClosedError}.
 *
 * @example Two ends of a WebSocket over loopback
 * ```ts
 * import { connectWebSocket, websocketDuplex } from "./websocket.ts";
 * const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
 *   const { socket, response } = Deno.upgradeWebSocket(request);
 *   socket.onopen = () => {
 *     const echo = websocketDuplex(socket, { halfClose: true });
 *     echo.readable.pipeTo(echo.writable).catch(() => {});
 *   };
 *   return response;
 * });
 * const ws = await connectWebSocket(`ws://127.0.0.1:${server.addr.port}/`);
 * const conn = websocketDuplex(ws, { halfClose: true });
 * const writer = conn.writable.getWriter();
 * await writer.write(new TextEncoder().encode("echo"));
 * await writer.close();
 * if ((await new Response(conn.readable).text()) !== "echo") throw new Error("No echo");
 * await conn.closed;
 * await server.shutdown();
 * ```
 *
 * @module
 */

import type { Duplex } from "./duplex.ts";
import { ConnectError } from "./errors.ts";
import { decodeRelayAck, encodeRelayAck, MAX_RELAY_ACK } from "../protocol/relay.ts";

/** The default `bufferedAmount` above which writes wait: 1 MiB. */
export const DEFAULT_WS_HIGH_WATER_MARK = 1024 * 1024;
/** The default largest binary message sent: 64 KiB. */
export const DEFAULT_WS_MAX_MESSAGE_BYTES = 64 * 1024;
/** Close code when a writable is aborted or the readable gives up (application range). */
export const WS_ABORT_CODE = 4000;

/** Options for {@linkcode websocketDuplex}. */
export interface WebSocketDuplexOptions {
  /** Writes wait while `bufferedAmount` is above this many bytes. @default {1048576} */
  highWaterMark?: number;
  /** Writes are split into binary messages of at most this many bytes. @default {65536} */
  maxMessageBytes?: number;
  /** End a direction with an empty binary message instead of closing the socket. @default {false} */
  halfClose?: boolean;
  /**
   * Credit-based flow control: at most this many bytes sent and not yet acknowledged (both
   * sides must use it, with the same window). 0 turns it off. @default {0}
   */
  window?: number;
}

/** A WebSocket as a byte stream. */
export interface WebSocketDuplex extends Duplex {
  /** The socket underneath. */
  readonly socket: WebSocket;
  /** Resolves once the socket has closed (never rejects). */
  readonly closed: Promise<WebSocketCloseInfo>;
  /** Close the socket at once (both directions); `code` 1000 or 3000–4999. */
  close(code?: number, reason?: string): void;
}

/** How a WebSocket closed. */
export interface WebSocketCloseInfo {
  /** The close code (1005 when the peer gave none, 1006 when the connection dropped). */
  code: number;
  /** The close reason. */
  reason: string;
}

/** The WebSocket closed before its stream ended normally. */
export class WebSocketClosedError extends Error {
  /** The close code. */
  readonly code: number;
  /** The close reason. */
  readonly reason: string;
  /**
   * Make the error.
   *
   * @example
   * ```ts
   * import { WebSocketClosedError } from "./websocket.ts";
   * const error = new WebSocketClosedError(4001, "limit");
   * if (error.code !== 4001 || !error.message.includes("limit")) throw new Error("Bad error");
   * ```
   */
  constructor(code: number, reason: string, options?: ErrorOptions) {
    super(
      `The WebSocket closed (code ${code}${reason ? `, ${reason}` : ""}) before the stream ended`,
      options,
    );
    this.name = "WebSocketClosedError";
    this.code = code;
    this.reason = reason;
  }
}

function positive(name: string, value: number, zero = false): number {
  if (!(Number.isInteger(value) && (zero ? value >= 0 : value > 0))) {
    throw new RangeError(`WebSocket ${name} is ${value}, it must be an integer >= ${zero ? 0 : 1}`);
  }
  return value;
}

function closeSocket(ws: WebSocket, code: number, reason = ""): void {
  if (ws.readyState === WebSocket.CLOSING || ws.readyState === WebSocket.CLOSED) return;
  try {
    ws.close(code, reason);
  } catch {
    try {
      ws.close();
    } catch { /* already closing */ }
  }
}

/**
 * Wrap an open WebSocket as a byte stream. The adapter takes the socket over: it sets
 * `binaryType` to `"arraybuffer"` and listens to every message from now on.
 *
 * @throws {TypeError} when the socket is not open. {@linkcode RangeError} for bad options.
 *
 * @example Credit mode: a window of 8 bytes still moves 64 bytes
 * ```ts
 * import { connectWebSocket, websocketDuplex } from "./websocket.ts";
 * const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
 *   const { socket, response } = Deno.upgradeWebSocket(request);
 *   socket.onopen = () => {
 *     const echo = websocketDuplex(socket, { halfClose: true, window: 8 });
 *     echo.readable.pipeTo(echo.writable).catch(() => {});
 *   };
 *   return response;
 * });
 * const conn = websocketDuplex(await connectWebSocket(`ws://127.0.0.1:${server.addr.port}/`), {
 *   halfClose: true,
 *   window: 8,
 * });
 * const writer = conn.writable.getWriter();
 * const reading = new Response(conn.readable).bytes();
 * await writer.write(new Uint8Array(64).fill(7));
 * await writer.close();
 * if ((await reading).length !== 64) throw new Error("Lost bytes");
 * await server.shutdown();
 * ```
 */
export function websocketDuplex(
  ws: WebSocket,
  options: WebSocketDuplexOptions = {},
): WebSocketDuplex {
  const highWaterMark = positive(
    "highWaterMark",
    options.highWaterMark ?? DEFAULT_WS_HIGH_WATER_MARK,
  );
  const window = positive("window", options.window ?? 0, true);
  if (window > MAX_RELAY_ACK) throw new RangeError(`WebSocket window ${window} exceeds 2^32-1`);
  const halfClose = options.halfClose ?? false;
  let maxMessage = positive(
    "maxMessageBytes",
    options.maxMessageBytes ?? DEFAULT_WS_MAX_MESSAGE_BYTES,
  );
  // In credit mode a message is at most a quarter of the window, so that acknowledgements in
  // quarter-window batches can never leave both sides waiting (see protocol/relay.ts, step 4).
  if (window > 0) maxMessage = Math.max(1, Math.min(maxMessage, Math.floor(window / 4)));
  const ackEvery = window > 0 ? Math.max(1, Math.floor(window / 4)) : Infinity;
  if (ws.readyState !== WebSocket.OPEN) throw new TypeError("The WebSocket is not open");
  ws.binaryType = "arraybuffer";

  const queue: Uint8Array[] = [];
  let peerEnded = false; // the peer ended its direction (empty message)
  let ownEnded = false; // we ended ours
  let failure: Error | null = null;
  let closedInfo: WebSocketCloseInfo | null = null;
  let receivedUnacked = 0; // bytes received and not acknowledged by us
  let consumedUnacked = 0; // of those, bytes our reader has taken
  let sentUnacked = 0; // bytes we sent that the peer has not acknowledged
  let wakeReader: (() => void) | null = null;
  let wakeWriter: (() => void) | null = null;
  let resolveClosed!: (info: WebSocketCloseInfo) => void;
  const closed = new Promise<WebSocketCloseInfo>((r) => (resolveClosed = r));

  const notifyReader = (): void => {
    const wake = wakeReader;
    wakeReader = null;
    wake?.();
  };
  const notifyWriter = (): void => {
    const wake = wakeWriter;
    wakeWriter = null;
    wake?.();
  };
  const fail = (error: Error, code: number, reason: string): void => {
    failure ??= error;
    closeSocket(ws, code, reason);
    notifyReader();
    notifyWriter();
  };
  const maybeFinish = (): void => {
    if (halfClose && peerEnded && ownEnded && queue.length === 0) closeSocket(ws, 1000);
  };

  const onMessage = (event: MessageEvent): void => {
    if (failure !== null) return;
    const data = event.data;
    if (typeof data === "string") {
      if (window === 0) {
        return fail(new TypeError("Unexpected text message on a byte stream"), 4003, "protocol");
      }
      let count: number;
      try {
        count = decodeRelayAck(data);
      } catch (error) {
        return fail(error as Error, 4003, "protocol");
      }
      if (count > sentUnacked) {
        return fail(new RangeError("The peer acknowledged bytes never sent"), 4003, "protocol");
      }
      sentUnacked -= count;
      notifyWriter();
      return;
    }
    const bytes = new Uint8Array(data as ArrayBuffer);
    if (bytes.length === 0 && halfClose) {
      peerEnded = true;
      notifyReader();
      maybeFinish();
      return;
    }
    if (peerEnded) {
      return fail(new RangeError("Data after the end of the stream"), 4003, "protocol");
    }
    if (bytes.length === 0) return;
    receivedUnacked += bytes.length;
    if (window > 0 && receivedUnacked > window) {
      return fail(
        new RangeError(`The peer sent ${receivedUnacked} unacknowledged bytes (window ${window})`),
        4003,
        "protocol",
      );
    }
    queue.push(bytes);
    notifyReader();
  };
  const onClose = (event: CloseEvent): void => {
    closedInfo = { code: event.code, reason: event.reason };
    const normal = event.code === 1000 || event.code === 1005;
    if (!peerEnded && (halfClose || !normal)) {
      failure ??= new WebSocketClosedError(event.code, event.reason);
    }
    if (!halfClose) peerEnded = true;
    ws.removeEventListener("message", onMessage);
    ws.removeEventListener("close", onClose);
    notifyReader();
    notifyWriter();
    resolveClosed(closedInfo);
  };
  ws.addEventListener("message", onMessage);
  ws.addEventListener("close", onClose);

  const consumed = (n: number): void => {
    if (window === 0) {
      receivedUnacked -= n;
      return;
    }
    consumedUnacked += n;
    if (consumedUnacked < ackEvery || ws.readyState !== WebSocket.OPEN) return;
    ws.send(encodeRelayAck(consumedUnacked));
    receivedUnacked -= consumedUnacked;
    consumedUnacked = 0;
  };

  const readable = new ReadableStream<Uint8Array>({
    async pull(controller) {
      while (queue.length === 0 && !peerEnded && failure === null && closedInfo === null) {
        await new Promise<void>((resolve) => (wakeReader = resolve));
      }
      const chunk = queue.shift();
      if (chunk !== undefined) {
        controller.enqueue(chunk);
        consumed(chunk.length);
        maybeFinish();
      } else if (failure !== null) {
        controller.error(failure);
      } else {
        controller.close();
        maybeFinish();
      }
    },
    cancel() {
      queue.length = 0;
      closeSocket(ws, peerEnded ? 1000 : WS_ABORT_CODE, peerEnded ? "" : "cancelled");
    },
  }, { highWaterMark: 0 });

  /** Wait until `n` more bytes may be sent; throws once the socket is closing. */
  const waitToSend = async (n: number): Promise<void> => {
    let pollMs = 1;
    for (;;) {
      if (failure !== null) throw failure;
      if (ws.readyState !== WebSocket.OPEN) {
        throw new WebSocketClosedError(closedInfo?.code ?? 1006, closedInfo?.reason ?? "");
      }
      if (window > 0 && sentUnacked + n > window) {
        await new Promise<void>((resolve) => (wakeWriter = resolve));
        continue;
      }
      if (ws.bufferedAmount <= highWaterMark) return;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          wakeWriter = null;
          resolve();
        }, pollMs);
        wakeWriter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      pollMs = Math.min(pollMs * 2, 32);
    }
  };

  const writable = new WritableStream<Uint8Array>({
    async write(chunk) {
      for (let offset = 0; offset < chunk.length; offset += maxMessage) {
        const piece = chunk.subarray(offset, offset + maxMessage);
        await waitToSend(piece.length);
        ws.send(piece);
        sentUnacked += window > 0 ? piece.length : 0;
      }
    },
    close() {
      if (failure !== null) throw failure;
      if (!halfClose) {
        closeSocket(ws, 1000);
        return;
      }
      if (ws.readyState !== WebSocket.OPEN) {
        throw new WebSocketClosedError(closedInfo?.code ?? 1006, closedInfo?.reason ?? "");
      }
      ws.send(new Uint8Array(0));
      ownEnded = true;
      maybeFinish();
    },
    abort() {
      closeSocket(ws, WS_ABORT_CODE, "aborted");
    },
  });

  return {
    socket: ws,
    readable,
    writable,
    closed,
    close: (code = 1000, reason = "") => closeSocket(ws, code, reason),
  };
}

/** Options for {@linkcode connectWebSocket}. */
export interface WebSocketConnectOptions {
  /** Extra trusted CA certificates (PEM) for `wss:`, e.g. a test server's self-signed one. */
  caCerts?: string[];
  /** Give up when this aborts (rejects with its reason). */
  signal?: AbortSignal;
  /** Give up after this many milliseconds. @default {10000} */
  timeoutMs?: number;
}

/**
 * Open a WebSocket and wait until it is open.
 *
 * @throws {ConnectError} when it cannot be opened in time; `signal.reason` when aborted.
 *
 * @example A closed port fails with a ConnectError
 * ```ts
 * import { connectWebSocket } from "./websocket.ts";
 * import { ConnectError } from "./errors.ts";
 * const port = (() => { using l = Deno.listen({ hostname: "127.0.0.1", port: 0 }); return l.addr.port; })();
 * const error = await connectWebSocket(`ws://127.0.0.1:${port}/`).catch((e) => e);
 * if (!(error instanceof ConnectError)) throw new Error("Expected ConnectError");
 * ```
 */
export function connectWebSocket(
  url: string | URL,
  options: WebSocketConnectOptions = {},
): Promise<WebSocket> {
  const { signal, timeoutMs = 10_000, caCerts } = options;
  const target = String(url);
  if (signal?.aborted) return Promise.reject(signal.reason);
  const client = caCerts && caCerts.length > 0 ? Deno.createHttpClient({ caCerts }) : undefined;
  let ws: WebSocket;
  try {
    ws = new WebSocket(url, client ? { client } : {});
  } catch (error) {
    client?.close();
    return Promise.reject(new ConnectError(target, (error as Error).message, { cause: error }));
  }
  ws.binaryType = "arraybuffer";
  return new Promise<WebSocket>((resolve, reject) => {
    const timer = setTimeout(
      () => fail(new ConnectError(target, `timed out after ${timeoutMs} ms`)),
      timeoutMs,
    );
    const onAbort = (): void => fail(signal!.reason);
    signal?.addEventListener("abort", onAbort, { once: true });
    const cleanup = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      ws.removeEventListener("open", onOpen);
      ws.removeEventListener("error", onError);
      ws.removeEventListener("close", onClose);
    };
    // The HTTP client may only go once the socket has closed.
    let clientClosed = false;
    const closeClient = (): void => {
      if (clientClosed || !client) return;
      clientClosed = true;
      client.close();
    };
    const fail = (error: unknown): void => {
      cleanup();
      ws.addEventListener("close", closeClient, { once: true });
      closeSocket(ws, 1000);
      if (ws.readyState === WebSocket.CLOSED) closeClient();
      reject(error);
    };
    const onOpen = (): void => {
      cleanup();
      ws.addEventListener("close", closeClient, { once: true });
      resolve(ws);
    };
    const onError = (event: Event): void => {
      const message = (event as ErrorEvent).message || "connection failed";
      fail(new ConnectError(target, message.replace(/^NetworkError: /, "")));
    };
    const onClose = (event: CloseEvent): void => {
      fail(new ConnectError(target, `closed during the handshake (code ${event.code})`));
    };
    ws.addEventListener("open", onOpen);
    ws.addEventListener("error", onError);
    ws.addEventListener("close", onClose);
  });
}
