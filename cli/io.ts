/**
 * What a command may touch of the outside world, injected so tests run commands in memory.
 *
 * @module
 */

/** Input and output of a command. */
export interface CliIo {
  /** Write text to standard output (no newline added). */
  out(text: string): void;
  /** Write text to standard error (no newline added). */
  err(text: string): void;
  /** Environment variables. */
  env(name: string): string | undefined;
  /** Is standard error a terminal (progress bars, colours)? */
  readonly isTerminal: boolean;
  /** Aborts on Ctrl-C / SIGTERM. */
  readonly signal: AbortSignal;
}

/** Exit codes of every command: success, failure, wrong usage. */
export const EXIT = Object.freeze({ ok: 0, failed: 1, usage: 2 });

/** Wrong command-line usage; the message says what to change. Exits with code 2. */
export class UsageError extends Error {
  /**
   * Make the error.
   *
   * @example
   * ```ts
   * import { UsageError } from "./io.ts";
   * if (new UsageError("Missing --join").name !== "UsageError") throw new Error("Bad name");
   * ```
   */
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/**
 * The real process I/O: stdout, stderr, `Deno.env`, and a signal that aborts on SIGINT/SIGTERM.
 * Call `dispose()` when the command is over to remove the signal listeners.
 *
 * @example
 * ```ts ignore
 * import { processIo } from "./io.ts";
 * using io = processIo();
 * io.out("hello\n");
 * ```
 */
export function processIo(): CliIo & Disposable {
  const encoder = new TextEncoder();
  const controller = new AbortController();
  const onSignal = (): void => controller.abort(new Error("Interrupted"));
  const signals: Deno.Signal[] = Deno.build.os === "windows" ? ["SIGINT"] : ["SIGINT", "SIGTERM"];
  for (const s of signals) Deno.addSignalListener(s, onSignal);
  return {
    out: (text) => void Deno.stdout.writeSync(encoder.encode(text)),
    err: (text) => void Deno.stderr.writeSync(encoder.encode(text)),
    env: (name) => Deno.env.get(name),
    isTerminal: Deno.stderr.isTerminal(),
    signal: controller.signal,
    [Symbol.dispose]() {
      for (const s of signals) Deno.removeSignalListener(s, onSignal);
    },
  };
}
