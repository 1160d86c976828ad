/**
 * How `send` and `receive` show a transfer: a one-line progress bar on a terminal (bytes,
 * rate, ETA), nothing while not on a terminal, and JSON lines with `--json`.
 *
 * @module
 */

import type { ProgressSnapshot, TransferEvent } from "../transfer/progress.ts";
import type { CliIo } from "./io.ts";

/**
 * A byte count for people, in SI units: `999 B`, `1.50 kB`, `12.3 MB`, `120 GB`.
 *
 * @example
 * ```ts
 * import { formatBytes } from "./progress.ts";
 * if (formatBytes(52_428_800) !== "52.4 MB") throw new Error(formatBytes(52_428_800));
 * ```
 */
export function formatBytes(n: number): string {
  if (!Number.isFinite(n) || n < 1000) return `${Math.max(0, Math.round(n || 0))} B`;
  let value = n;
  let unit = "B";
  for (const u of ["kB", "MB", "GB", "TB", "PB"]) {
    if (value < 1000) break;
    value /= 1000;
    unit = u;
  }
  const text = value < 10 ? value.toFixed(2) : value < 100 ? value.toFixed(1) : value.toFixed(0);
  return `${text} ${unit}`;
}

/**
 * A duration for people: `0:07`, `12:34`, `1:02:03`, or `--:--` when unknown.
 *
 * @example
 * ```ts
 * import { formatDuration } from "./progress.ts";
 * if (formatDuration(3723) !== "1:02:03" || formatDuration(null) !== "--:--") throw new Error();
 * ```
 */
export function formatDuration(seconds: number | null): string {
  if (seconds === null || !Number.isFinite(seconds) || seconds < 0) return "--:--";
  const s = Math.ceil(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const pad = (n: number): string => String(n).padStart(2, "0");
  return h > 0 ? `${h}:${pad(m)}:${pad(s % 60)}` : `${m}:${pad(s % 60)}`;
}

/**
 * One progress line: bar, percentage, bytes, rate and ETA (left out while nothing is measured:
 * rate 0 and ETA unknown) and a label, fitted to `width` columns (the label is cut first).
 *
 * @example
 * ```ts
 * import { renderProgress } from "./progress.ts";
 * const line = renderProgress({ bytes: 25e6, total: 50e6, rate: 5e6, etaSeconds: 5 }, "big.iso", 80);
 * if (!line.includes(" 50%") || !line.includes("5.00 MB/s") || !line.includes("ETA 0:05")) throw new Error(line);
 * if (line.length > 80) throw new Error("Too wide");
 * ```
 */
export function renderProgress(snapshot: ProgressSnapshot, label: string, width = 80): string {
  const { bytes, total, rate, etaSeconds } = snapshot;
  const ratio = total > 0 ? Math.min(1, bytes / total) : 1;
  const barWidth = 20;
  const filled = Math.floor(ratio * barWidth);
  const bar = "[" + "#".repeat(filled) + "-".repeat(barWidth - filled) + "]";
  const measured = rate > 0 || etaSeconds !== null;
  const stats = `${bar} ${String(Math.floor(ratio * 100)).padStart(3)}%  ${formatBytes(bytes)} / ${
    formatBytes(total)
  }${measured ? `  ${formatBytes(rate)}/s  ETA ${formatDuration(etaSeconds)}` : ""}`;
  const room = width - stats.length - 2;
  if (room < 4) return stats.slice(0, width);
  const chars = [...label];
  const shown = chars.length <= room ? label : "…" + chars.slice(chars.length - room + 1).join("");
  return `${stats}  ${shown}`;
}

/** Options for {@linkcode createTransferReporter}. */
export interface ReporterOptions {
  /** Print JSON lines on stdout instead of a bar. */
  json: boolean;
  /** Least time between two bars, in milliseconds. @default {100} */
  barIntervalMs?: number;
  /** Least time between two JSON `progress` lines, in milliseconds. @default {1000} */
  jsonIntervalMs?: number;
  /** The terminal width. @default {80} */
  columns?: number;
}

/** Shows transfer events; call `finish()` before printing anything else. */
export interface TransferReporter {
  /** Show one event. */
  onEvent(event: TransferEvent): void;
  /** End the bar's line (if one is shown). */
  finish(): void;
}

/**
 * Show transfer events as a progress bar on stderr when `io.isTerminal` (quiet otherwise), or
 * as JSON lines on stdout (`{"event":"progress",...}`, throttled, and every other event).
 *
 * @example JSON lines
 * ```ts
 * import { createTransferReporter } from "./progress.ts";
 * let out = "";
 * const io = { out: (t: string) => void (out += t), err: () => {}, env: () => undefined, isTerminal: false, signal: new AbortController().signal };
 * const reporter = createTransferReporter(io, { json: true });
 * reporter.onEvent({ kind: "plan", files: 1, transfers: 1, resumed: 0, total: 5 });
 * if (JSON.parse(out).event !== "plan") throw new Error(out);
 * ```
 */
export function createTransferReporter(io: CliIo, options: ReporterOptions): TransferReporter {
  const { json, barIntervalMs = 100, jsonIntervalMs = 1000, columns = 80 } = options;
  let lastBar = -Infinity;
  let lastJson = -Infinity;
  let barShown = false;
  const bar = (line: string): void => {
    io.err(`\r${line}\x1b[K`);
    barShown = true;
  };
  return {
    onEvent(event) {
      const now = performance.now();
      if (json) {
        if (event.kind === "hashing") return;
        if (event.kind === "progress") {
          const end = event.file.bytes === event.file.total;
          if (!end && now - lastJson < jsonIntervalMs) return;
          lastJson = now;
        }
        const { kind, ...rest } = event;
        io.out(JSON.stringify({ event: kind, ...rest }) + "\n");
        return;
      }
      if (!io.isTerminal) return;
      if (event.kind === "hashing") {
        if (now - lastBar < barIntervalMs && event.bytes < event.total) return;
        lastBar = now;
        bar(
          renderProgress(
            { bytes: event.bytes, total: event.total, rate: 0, etaSeconds: null },
            `hashing ${event.path}`,
            columns,
          ),
        );
      } else if (event.kind === "progress") {
        if (now - lastBar < barIntervalMs && event.file.bytes < event.file.total) return;
        lastBar = now;
        bar(renderProgress(event.overall, event.path, columns));
      }
    },
    finish() {
      if (barShown) io.err("\n");
      barShown = false;
    },
  };
}
