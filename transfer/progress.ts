/**
 * Progress of a transfer: the {@linkcode TransferEvent}s `sendFiles`, `receiveFiles` and
 * `prepareFiles` report, and the {@linkcode ProgressTracker} that computes bytes, rate and ETA
 * for them (per file and overall) and throttles `progress` events.
 *
 * Bytes count what the receiver holds, so a resumed file starts at its resume offset; the rate
 * counts only bytes moved in this session, averaged over the last few seconds.
 *
 * @example
 * ```ts
 * import { ProgressTracker } from "./progress.ts";
 * let now = 0;
 * const tracker = new ProgressTracker(1000, { now: () => now });
 * tracker.startFile(1000, 0);
 * now = 1000;
 * tracker.advance(500);
 * const overall = tracker.overall();
 * if (overall.bytes !== 500 || overall.rate !== 500 || overall.etaSeconds !== 1) throw new Error(JSON.stringify(overall));
 * ```
 *
 * @module
 */

/** Bytes so far, of how many, how fast, and how long is left. */
export interface ProgressSnapshot {
  /** Bytes done (a resumed file counts its resume offset as done). */
  bytes: number;
  /** Bytes in all. */
  total: number;
  /** Bytes per second moved recently (0 until measured). */
  rate: number;
  /** Seconds left at the current rate, or `null` when unknown. */
  etaSeconds: number | null;
}

/** How a file ended. */
export type FileStatus = "sent" | "received" | "skipped" | "present";

/** What a transfer reports while it runs. */
export type TransferEvent =
  | {
    /** The sender is hashing a file before the offer. */
    kind: "hashing";
    /** The file's transfer path. */
    path: string;
    /** Bytes hashed so far, over all files. */
    bytes: number;
    /** Bytes to hash in all. */
    total: number;
  }
  | {
    /** The offer was answered: what will move. */
    kind: "plan";
    /** Files offered. */
    files: number;
    /** Files whose bytes will move (in part, when resuming). */
    transfers: number;
    /** Bytes the receiver already holds of those files (resume offsets). */
    resumed: number;
    /** Bytes of those files in all. */
    total: number;
  }
  | {
    /** A file's bytes start. */
    kind: "file-start";
    /** Its index in the offer. */
    index: number;
    /** Its transfer path. */
    path: string;
    /** Its size. */
    size: number;
    /** The first byte moved (more than 0 when resuming). */
    offset: number;
  }
  | {
    /** Bytes moved (throttled, and once at the end of each file). */
    kind: "progress";
    /** The current file's index. */
    index: number;
    /** Its transfer path. */
    path: string;
    /** The current file. */
    file: ProgressSnapshot;
    /** All files being moved. */
    overall: ProgressSnapshot;
  }
  | {
    /** A file is finished (or was skipped, or was already there). */
    kind: "file-done";
    /** Its index in the offer. */
    index: number;
    /** Its transfer path. */
    path: string;
    /** How it ended. */
    status: FileStatus;
    /** Its size. */
    size: number;
    /** The first byte moved in this session. */
    offset: number;
    /** Its SHA-256 (hex) when known. */
    sha256: string | null;
  };

/** Options for {@linkcode ProgressTracker}. */
export interface ProgressTrackerOptions {
  /** The clock, in milliseconds. @default {performance.now} */
  now?: () => number;
  /** Least time between two `progress` events. @default {100} */
  intervalMs?: number;
  /** The rate is averaged over about this long. @default {3000} */
  windowMs?: number;
}

interface Sample {
  time: number;
  moved: number;
}

/**
 * Counts bytes, and works out rate and ETA, for one file at a time and for the whole transfer.
 *
 * @example
 * ```ts
 * import { ProgressTracker } from "./progress.ts";
 * let now = 0;
 * const tracker = new ProgressTracker(300, { now: () => now, intervalMs: 100 });
 * tracker.startFile(300, 100);
 * now = 50;
 * if (tracker.advance(10)) throw new Error("Too early for an event");
 * now = 150;
 * if (!tracker.advance(10)) throw new Error("An event is due");
 * if (tracker.file().bytes !== 120) throw new Error("Resume offset not counted");
 * ```
 */
export class ProgressTracker {
  #now: () => number;
  #interval: number;
  #window: number;
  #total: number;
  #bytes = 0;
  #moved = 0;
  #fileSize = 0;
  #fileBytes = 0;
  #samples: Sample[];
  #lastEvent: number;

  /**
   * Track `total` bytes (over all files to move, resume offsets included).
   *
   * @throws {RangeError} when `total` is not a byte count or an option is not positive.
   *
   * @example
   * ```ts
   * import { ProgressTracker } from "./progress.ts";
   * if (new ProgressTracker(10).overall().total !== 10) throw new Error("Bad total");
   * ```
   */
  constructor(total: number, options: ProgressTrackerOptions = {}) {
    const { now = () => performance.now(), intervalMs = 100, windowMs = 3000 } = options;
    if (!Number.isSafeInteger(total) || total < 0) {
      throw new RangeError(`Progress total ${total} is not a byte count`);
    }
    if (!(intervalMs >= 0) || !(windowMs > 0)) {
      throw new RangeError(`Progress intervalMs ${intervalMs} / windowMs ${windowMs} out of range`);
    }
    this.#now = now;
    this.#interval = intervalMs;
    this.#window = windowMs;
    this.#total = total;
    const start = now();
    this.#samples = [{ time: start, moved: 0 }];
    this.#lastEvent = start;
  }

  /**
   * Start a file of `size` bytes at `offset` (its resume offset counts as done).
   *
   * @example
   * ```ts
   * import { ProgressTracker } from "./progress.ts";
   * const tracker = new ProgressTracker(10);
   * tracker.startFile(10, 4);
   * if (tracker.overall().bytes !== 4) throw new Error("Offset not counted");
   * ```
   */
  startFile(size: number, offset: number): void {
    this.#fileSize = size;
    this.#fileBytes = offset;
    this.#bytes += offset;
  }

  /**
   * Count `n` more bytes moved; true when a `progress` event is due (at most one per interval).
   *
   * @example
   * ```ts
   * import { ProgressTracker } from "./progress.ts";
   * const tracker = new ProgressTracker(10, { intervalMs: 0 });
   * tracker.startFile(10, 0);
   * if (!tracker.advance(5)) throw new Error("Expected an event");
   * ```
   */
  advance(n: number): boolean {
    this.#bytes += n;
    this.#fileBytes += n;
    this.#moved += n;
    const time = this.#now();
    const last = this.#samples[this.#samples.length - 1]!;
    if (time - last.time >= Math.min(250, this.#window / 4)) {
      this.#samples.push({ time, moved: this.#moved });
      while (this.#samples.length > 2 && time - this.#samples[1]!.time >= this.#window) {
        this.#samples.shift();
      }
    }
    if (time - this.#lastEvent >= this.#interval) {
      this.#lastEvent = time;
      return true;
    }
    return false;
  }

  /**
   * Bytes per second moved recently.
   *
   * @example
   * ```ts
   * import { ProgressTracker } from "./progress.ts";
   * if (new ProgressTracker(10).rate() !== 0) throw new Error("No rate before any time passed");
   * ```
   */
  rate(): number {
    const time = this.#now();
    const first = this.#samples[0]!;
    const elapsed = time - first.time;
    if (elapsed <= 0) return 0;
    return ((this.#moved - first.moved) * 1000) / elapsed;
  }

  /**
   * The current file's progress.
   *
   * @example
   * ```ts
   * import { ProgressTracker } from "./progress.ts";
   * const tracker = new ProgressTracker(8);
   * tracker.startFile(8, 2);
   * if (tracker.file().total !== 8 || tracker.file().bytes !== 2) throw new Error("Bad file");
   * ```
   */
  file(): ProgressSnapshot {
    return this.#snapshot(this.#fileBytes, this.#fileSize);
  }

  /**
   * The whole transfer's progress.
   *
   * @example
   * ```ts
   * import { ProgressTracker } from "./progress.ts";
   * if (new ProgressTracker(0).overall().etaSeconds !== 0) throw new Error("Nothing left");
   * ```
   */
  overall(): ProgressSnapshot {
    return this.#snapshot(this.#bytes, this.#total);
  }

  #snapshot(bytes: number, total: number): ProgressSnapshot {
    const rate = this.rate();
    const left = Math.max(0, total - bytes);
    const etaSeconds = left === 0 ? 0 : rate > 0 ? left / rate : null;
    return { bytes, total, rate, etaSeconds };
  }
}
