/**
 * The server's logger: one line per event, readable text or JSON, printed through an injected
 * function so tests and embedders can capture it. Fields never carry secrets (room codes, PAKE
 * messages, keys, relay tokens, broker secrets): callers log room ids, not codes.
 *
 * **Request ids.** The server runs each connection (and each HTTP request and chat datagram) in a
 * request scope ({@linkcode withRequestId}); every line logged inside it, including lines logged
 * later by timers and callbacks that scope started, carries the field `request_id`
 * ({@linkcode REQUEST_ID_FIELD}), e.g. `"request_id":"5f0c9a1e-2s"`. Ids are unique per process
 * run: a random process prefix, then a sequence number in base 36. Lines outside any request
 * (listening, shutdown) have none.
 *
 * **Length.** A string field longer than {@linkcode MAX_LOG_FIELD_LENGTH} characters is cut
 * (with `…` and how much was cut), so no client can make the log grow by more than that per line.
 *
 * @module
 */

import { AsyncLocalStorage } from "node:async_hooks";

/** How log lines are written. */
export type LogFormat = "text" | "json";

/** Severity of a log line. */
export type LogLevel = "info" | "warn" | "error";

/** Values a log field may hold. */
export type LogValue = string | number | boolean | null | undefined;

/** A structured logger. */
export interface Logger {
  /**
   * Log an event with fields.
   *
   * @example
   * ```ts
   * import { createLogger } from "./logger.ts";
   * const lines: string[] = [];
   * createLogger({ format: "json", print: (l) => lines.push(l) }).log("info", "ready", { port: 1 });
   * if (!lines[0]!.includes('"event":"ready"')) throw new Error("Not logged");
   * ```
   */
  log(level: LogLevel, event: string, fields?: Record<string, LogValue>): void;
}

/** Options for {@linkcode createLogger}. */
export interface LoggerOptions {
  /** Text (`event key=value ...`) or one JSON object per line. @default {"text"} */
  format?: LogFormat;
  /** Where lines go. @default {console.error} */
  print?: (line: string) => void;
  /** Clock for timestamps. @default {() => new Date()} */
  now?: () => Date;
  /** Drop lines below this severity. @default {"info"} */
  level?: LogLevel;
}

const SEVERITY: Record<LogLevel, number> = { info: 0, warn: 1, error: 2 };

/** The field that carries the request id. */
export const REQUEST_ID_FIELD = "request_id";

/** The longest string field logged as is; longer ones are cut. */
export const MAX_LOG_FIELD_LENGTH = 1024;

const requestScope = new AsyncLocalStorage<string>();
const PROCESS_PREFIX = crypto.getRandomValues(new Uint8Array(4)).toHex();
let requestCount = 0;

/**
 * A new request id, unique in this process run: a random per-process prefix and a sequence
 * number (`"5f0c9a1e-2s"`).
 *
 * @example
 * ```ts
 * import { newRequestId } from "./logger.ts";
 * const a = newRequestId(), b = newRequestId();
 * if (a === b || !/^[0-9a-f]{8}-[0-9a-z]+$/.test(a)) throw new Error("Bad ids");
 * ```
 */
export function newRequestId(): string {
  requestCount++;
  return `${PROCESS_PREFIX}-${requestCount.toString(36)}`;
}

/**
 * Run `fn` in the scope of request `id`: lines logged inside it (and by the timers and promise
 * callbacks it starts) carry `request_id`.
 *
 * @example
 * ```ts
 * import { createLogger, withRequestId } from "./logger.ts";
 * const lines: string[] = [];
 * const logger = createLogger({ format: "json", print: (l) => lines.push(l) });
 * await withRequestId("abc-1", async () => {
 *   await Promise.resolve();
 *   logger.log("info", "handled");
 * });
 * if (JSON.parse(lines[0]!).request_id !== "abc-1") throw new Error("No request id");
 * ```
 */
export function withRequestId<T>(id: string, fn: () => T): T {
  return requestScope.run(id, fn);
}

/**
 * The request id of the scope the caller runs in, if any.
 *
 * @example
 * ```ts
 * import { currentRequestId, withRequestId } from "./logger.ts";
 * if (currentRequestId() !== undefined) throw new Error("Outside any request");
 * if (withRequestId("r-1", () => currentRequestId()) !== "r-1") throw new Error("Not seen");
 * ```
 */
export function currentRequestId(): string | undefined {
  return requestScope.getStore();
}

function bounded(value: LogValue): LogValue {
  if (typeof value !== "string" || value.length <= MAX_LOG_FIELD_LENGTH) return value;
  return `${value.slice(0, MAX_LOG_FIELD_LENGTH)}…(${value.length - MAX_LOG_FIELD_LENGTH} more)`;
}

/** Severities, lowest first. */
export const LOG_LEVELS: readonly LogLevel[] = ["info", "warn", "error"];

function textValue(value: LogValue): string {
  const text = String(value);
  return /^[^\s"=]+$/.test(text) ? text : JSON.stringify(text);
}

/**
 * Make a logger.
 *
 * @example Text lines
 * ```ts
 * import { createLogger } from "./logger.ts";
 * const lines: string[] = [];
 * const logger = createLogger({ print: (l) => lines.push(l), now: () => new Date(0) });
 * logger.log("info", "listening", { service: "gday", addr: "[::]:2310" });
 * if (lines[0] !== "1970-01-01T00:00:00.000Z info listening service=gday addr=[::]:2310") {
 *   throw new Error(lines[0]);
 * }
 * ```
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  const { format = "text", print = (line: string) => console.error(line), now = () => new Date() } =
    options;
  const minimum = SEVERITY[options.level ?? "info"];
  return {
    log(level, event, fields = {}) {
      if (SEVERITY[level] < minimum) return;
      const time = now().toISOString();
      const entries: [string, LogValue][] = [];
      const requestId = fields[REQUEST_ID_FIELD] ?? currentRequestId();
      if (requestId !== undefined) entries.push([REQUEST_ID_FIELD, requestId]);
      for (const [key, value] of Object.entries(fields)) {
        if (value !== undefined && key !== REQUEST_ID_FIELD) entries.push([key, bounded(value)]);
      }
      if (format === "json") {
        print(JSON.stringify({ time, level, event, ...Object.fromEntries(entries) }));
        return;
      }
      const parts = [time, level, event];
      for (const [key, value] of entries) parts.push(`${key}=${textValue(value)}`);
      print(parts.join(" "));
    },
  };
}

/**
 * A logger that drops everything.
 *
 * @example
 * ```ts
 * import { silentLogger } from "./logger.ts";
 * silentLogger.log("info", "nothing");
 * ```
 */
export const silentLogger: Logger = Object.freeze({ log() {} });
