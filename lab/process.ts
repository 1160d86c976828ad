/**
 * A long-running child process inside a lab namespace, with a line reader over its stdout.
 *
 * @module
 */

import { LabCommandError, LabProcessError } from "./errors.ts";
import { netnsArgv } from "./netns.ts";

/** Options for `Lab.spawn` and {@linkcode LabProcess.spawn}. */
export interface SpawnOptions {
  /** Extra environment variables (the current environment is inherited). */
  env?: Record<string, string>;
  /** Working directory. @default {Deno.cwd()} */
  cwd?: string;
  /** Give the process a stdin to {@linkcode LabProcess.write} to. @default {false} */
  stdin?: boolean;
  /** Stop the process (as {@linkcode LabProcess.stop} does) when this aborts. */
  signal?: AbortSignal;
}

/** Options for {@linkcode LabProcess.readLine} and {@linkcode LabProcess.waitForLine}. */
export interface WaitOptions {
  /** Give up after this many milliseconds with a `LabProcessError`. @default {10000} */
  timeoutMs?: number;
  /** Give up (rejecting with `signal.reason`) when this aborts. */
  signal?: AbortSignal;
}

/** Options for {@linkcode LabProcess.stop}. */
export interface StopOptions {
  /** How long to wait after SIGTERM before sending SIGKILL, in milliseconds. @default {2000} */
  graceMs?: number;
}

/** Most stderr text kept per process; older text is dropped. */
export const MAX_STDERR_CHARS = 64 * 1024;

/** How long `stop` waits for the pipes after the process exited before closing them. */
const PIPE_GRACE_MS = 1000;

/** How long a wait that saw stdout end gives the process to exit, to report its exit code. */
const EXIT_GRACE_MS = 500;

interface Waiter {
  resolve(line: string | null): void;
  reject(error: unknown): void;
}

/**
 * A child process running in a network namespace. Stdout is split into lines you read with
 * {@linkcode LabProcess.readLine} or {@linkcode LabProcess.waitForLine}; stderr is collected in
 * {@linkcode LabProcess.stderr}. Always {@linkcode LabProcess.stop} it (or `await using` it):
 * that kills it if needed and waits for it and its pipes, so nothing leaks.
 *
 * Signals reach the command itself (`ip netns exec` replaces itself with the command), but not
 * processes the command starts; `Lab.destroy` kills whatever is left in its namespaces.
 *
 * @example Wait for a line from a process (here in the current namespace)
 * ```ts
 * import { LabProcess } from "./process.ts";
 * await using proc = LabProcess.spawn(null, ["sh", "-c", "echo starting; echo ready; sleep 10"]);
 * const line = await proc.waitForLine(/ready/, { timeoutMs: 5000 });
 * if (line !== "ready") throw new Error("Unexpected line");
 * ```
 */
export class LabProcess implements AsyncDisposable {
  /** The namespace it runs in, or `null` for the current one. */
  readonly ns: string | null;
  /** The command line, as given (without the `ip netns exec` part). */
  readonly argv: readonly string[];
  /** Its process id. */
  readonly pid: number;
  /** Resolves when the process has exited and its output pipes are drained. */
  readonly status: Promise<Deno.CommandStatus>;

  #child: Deno.ChildProcess;
  #lines: string[] = [];
  #waiters: Waiter[] = [];
  #eof = false;
  #stderr = "";
  #exit: Deno.CommandStatus | null = null;
  #stdin: WritableStreamDefaultWriter<Uint8Array> | null;
  #onAbort: (() => void) | null = null;
  #signal: AbortSignal | undefined;
  #readers: ReadableStreamDefaultReader<Uint8Array>[] = [];

  private constructor(ns: string | null, argv: readonly string[], options: SpawnOptions) {
    const [program, ...args] = ns === null ? argv : netnsArgv(ns, argv);
    if (program === undefined || argv.length === 0) {
      throw new RangeError("Cannot spawn an empty command: argv is []");
    }
    this.ns = ns;
    this.argv = argv;
    try {
      this.#child = new Deno.Command(program, {
        args,
        env: options.env,
        cwd: options.cwd,
        stdin: options.stdin ? "piped" : "null",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
    } catch (error) {
      const why = error instanceof Deno.errors.NotFound
        ? `'${program}' is not installed or not on PATH`
        : String(error);
      throw new LabCommandError(argv, null, why, { cause: error });
    }
    this.pid = this.#child.pid;
    this.#stdin = options.stdin ? this.#child.stdin.getWriter() : null;
    const pumps = Promise.all([
      this.#pumpStdout(this.#child.stdout),
      this.#pumpStderr(this.#child.stderr),
    ]);
    this.status = this.#child.status.then(async (status) => {
      this.#exit = status;
      await pumps;
      if (this.#signal && this.#onAbort) this.#signal.removeEventListener("abort", this.#onAbort);
      return status;
    });
    if (options.signal) {
      this.#signal = options.signal;
      this.#onAbort = () => void this.stop().catch(() => {});
      if (options.signal.aborted) this.#onAbort();
      else options.signal.addEventListener("abort", this.#onAbort, { once: true });
    }
  }

  /**
   * Start `argv` inside namespace `ns` (or in the current namespace when `ns` is `null`).
   *
   * @example
   * ```ts ignore
   * import { LabProcess } from "./process.ts";
   * await using proc = LabProcess.spawn("pl1-pub", ["sleep", "10"]);
   * console.log(proc.pid);
   * ```
   */
  static spawn(ns: string | null, argv: readonly string[], options: SpawnOptions = {}): LabProcess {
    return new LabProcess(ns, argv, options);
  }

  /** The exit status once the process has exited, else `null`. */
  get exitStatus(): Deno.CommandStatus | null {
    return this.#exit;
  }

  /** Everything it wrote on stderr so far (at most {@linkcode MAX_STDERR_CHARS}, the newest). */
  get stderr(): string {
    return this.#stderr;
  }

  /**
   * The next stdout line not read yet (without its newline), or `null` once stdout has ended.
   *
   * @example
   * ```ts ignore
   * const line = await proc.readLine({ timeoutMs: 1000 });
   * ```
   */
  readLine(options: WaitOptions = {}): Promise<string | null> {
    const { timeoutMs = 10_000, signal } = options;
    const queued = this.#lines.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    if (this.#eof) return Promise.resolve(null);
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise<string | null>((resolve, reject) => {
      const done = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        const index = this.#waiters.indexOf(waiter);
        if (index >= 0) this.#waiters.splice(index, 1);
      };
      const waiter: Waiter = {
        resolve: (line) => {
          done();
          resolve(line);
        },
        reject: (error) => {
          done();
          reject(error);
        },
      };
      const onAbort = (): void => waiter.reject(signal?.reason);
      const timer = setTimeout(() => {
        waiter.reject(
          new LabProcessError(
            `Timed out after ${timeoutMs} ms waiting for a line from \`${this.argv.join(" ")}\`` +
              this.#stderrHint(),
          ),
        );
      }, timeoutMs);
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#waiters.push(waiter);
    });
  }

  /**
   * Read stdout lines until one matches, and return it. Lines before it are consumed.
   * Rejects with a `LabProcessError` if stdout ends or the time runs out first.
   *
   * @example
   * ```ts ignore
   * const line = await proc.waitForLine(/^listening on (\d+)$/, { timeoutMs: 5000 });
   * ```
   */
  async waitForLine(
    match: RegExp | ((line: string) => boolean),
    options: WaitOptions = {},
  ): Promise<string> {
    const { timeoutMs = 10_000, signal } = options;
    const test = typeof match === "function" ? match : (line: string) => match.test(line);
    const until = Date.now() + timeoutMs;
    for (;;) {
      const left = until - Date.now();
      const line = await this.readLine({ timeoutMs: Math.max(0, left), signal }).catch(
        (error) => {
          if (error instanceof LabProcessError) {
            throw new LabProcessError(
              `Timed out after ${timeoutMs} ms waiting for \`${this.argv.join(" ")}\` to print ` +
                `a line matching ${match}` + this.#stderrHint(),
              { cause: error },
            );
          }
          throw error;
        },
      );
      if (line === null) {
        await this.#settle(EXIT_GRACE_MS);
        const how = this.#exit ? `exited with code ${this.#exit.code}` : "closed its stdout";
        throw new LabProcessError(
          `\`${this.argv.join(" ")}\` ${how} before printing a line matching ${match}` +
            this.#stderrHint(),
        );
      }
      if (test(line)) return line;
    }
  }

  /**
   * Write to the process's stdin (spawn it with `stdin: true`).
   *
   * @example
   * ```ts ignore
   * await proc.write("hello\n");
   * await proc.closeStdin();
   * ```
   */
  async write(data: string | Uint8Array): Promise<void> {
    if (!this.#stdin) {
      throw new LabProcessError("Cannot write: spawn the process with { stdin: true }");
    }
    await this.#stdin.write(typeof data === "string" ? new TextEncoder().encode(data) : data);
  }

  /**
   * Close the process's stdin (end of input). Does nothing if it has none or it is closed.
   *
   * @example
   * ```ts ignore
   * await proc.closeStdin();
   * ```
   */
  async closeStdin(): Promise<void> {
    const stdin = this.#stdin;
    this.#stdin = null;
    await stdin?.close().catch(() => {});
  }

  /**
   * Send a signal to the process; does nothing once it has exited.
   *
   * @example
   * ```ts ignore
   * proc.kill("SIGINT");
   * await proc.status;
   * ```
   */
  kill(signo: Deno.Signal = "SIGTERM"): void {
    if (this.#exit) return;
    try {
      this.#child.kill(signo);
    } catch {
      // It exited in the meantime.
    }
  }

  /**
   * Stop the process: SIGTERM, then SIGKILL if it is still running after `graceMs`. Resolves
   * with its exit status once it and its pipes are done. Safe to call more than once.
   *
   * @example
   * ```ts ignore
   * const status = await proc.stop({ graceMs: 500 });
   * console.log(status.code);
   * ```
   */
  async stop(options: StopOptions = {}): Promise<Deno.CommandStatus> {
    const { graceMs = 2000 } = options;
    await this.closeStdin();
    if (!this.#exit) {
      this.kill("SIGTERM");
      await this.#settle(graceMs);
      this.kill("SIGKILL");
    }
    await this.#settle(PIPE_GRACE_MS);
    // Still not drained: something it started holds its pipes open. Stop reading them.
    for (const reader of this.#readers) await reader.cancel().catch(() => {});
    return await this.status;
  }

  /** Same as {@linkcode LabProcess.stop}. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }

  /** Wait up to `ms` for the process to exit and its pipes to drain. */
  async #settle(ms: number): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const elapsed = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, ms);
    });
    await Promise.race([this.status, elapsed]);
    clearTimeout(timer);
  }

  #stderrHint(): string {
    const tail = this.#stderr.trim().split("\n").slice(-5).join("\n");
    return tail === "" ? "" : `; its stderr ends with:\n${tail}`;
  }

  #pushLine(line: string): void {
    const waiter = this.#waiters.shift();
    if (waiter) waiter.resolve(line);
    else this.#lines.push(line);
  }

  async #pumpStdout(stream: ReadableStream<Uint8Array>): Promise<void> {
    const decoder = new TextDecoder();
    let buffer = "";
    const reader = stream.getReader();
    this.#readers.push(reader);
    try {
      for (let read = await reader.read(); !read.done; read = await reader.read()) {
        const chunk = read.value;
        buffer += decoder.decode(chunk, { stream: true });
        let newline;
        while ((newline = buffer.indexOf("\n")) >= 0) {
          this.#pushLine(buffer.slice(0, newline).replace(/\r$/, ""));
          buffer = buffer.slice(newline + 1);
        }
      }
    } catch {
      // The pipe broke; treat it as the end of output.
    }
    buffer += decoder.decode();
    if (buffer !== "") this.#pushLine(buffer);
    this.#eof = true;
    for (const waiter of this.#waiters.splice(0)) waiter.resolve(null);
  }

  async #pumpStderr(stream: ReadableStream<Uint8Array>): Promise<void> {
    const decoder = new TextDecoder();
    const reader = stream.getReader();
    this.#readers.push(reader);
    try {
      for (let read = await reader.read(); !read.done; read = await reader.read()) {
        const chunk = read.value;
        this.#stderr = (this.#stderr + decoder.decode(chunk, { stream: true })).slice(
          -MAX_STDERR_CHARS,
        );
      }
    } catch {
      // The pipe broke; keep what we have.
    }
  }
}
