/**
 * The server's logger: one line per event, readable text or JSON, printed through an injected
 * function so tests and embedders can capture it. Fields never carry secrets (room codes, PAKE
 * messages, keys): callers log room ids, not codes.
 *
 * @module
 */

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
      if (format === "json") {
        const defined = Object.fromEntries(
          Object.entries(fields).filter(([, v]) => v !== undefined),
        );
        print(JSON.stringify({ time, level, event, ...defined }));
        return;
      }
      const parts = [time, level, event];
      for (const [key, value] of Object.entries(fields)) {
        if (value !== undefined) parts.push(`${key}=${textValue(value)}`);
      }
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
