/**
 * Run a command to completion and collect its output: the one place the lab starts short-lived
 * subprocesses (`ip`, `nft`, `sysctl` and commands run with `Lab.exec`).
 *
 * @module
 */

import { LabCommandError, LabProcessError } from "./errors.ts";

/** What a finished command did. */
export interface CommandResult {
  /** Exit code (128 + signal number when a signal ended it). */
  readonly code: number;
  /** `true` when the exit code is 0. */
  readonly success: boolean;
  /** The signal that ended it, or `null`. */
  readonly signal: Deno.Signal | null;
  /** Everything it wrote on stdout, decoded as UTF-8. */
  readonly stdout: string;
  /** Everything it wrote on stderr, decoded as UTF-8. */
  readonly stderr: string;
}

/** Options for {@linkcode runCommand}. */
export interface RunOptions {
  /** Text written to the command's stdin, which is then closed. @default {undefined} (no stdin) */
  stdin?: string;
  /** Kill the command (SIGTERM) and reject with `signal.reason` when this aborts. */
  signal?: AbortSignal;
  /** Kill the command and reject with a `LabProcessError` after this many milliseconds. */
  timeoutMs?: number;
  /** Throw a `LabCommandError` when the command exits non-zero. @default {false} */
  check?: boolean;
  /** Extra environment variables (the current environment is inherited). */
  env?: Record<string, string>;
  /** Working directory. @default {Deno.cwd()} */
  cwd?: string;
}

/**
 * Run `argv` (program first) and collect its exit status and output.
 * The child is always awaited, so nothing leaks even when the signal aborts.
 *
 * @example Run a command
 * ```ts
 * import { runCommand } from "./command.ts";
 * const result = await runCommand(["echo", "hello"]);
 * if (result.stdout !== "hello\n" || !result.success) throw new Error("Unexpected output");
 * ```
 */
export async function runCommand(
  argv: readonly string[],
  options: RunOptions = {},
): Promise<CommandResult> {
  const [program, ...args] = argv;
  if (program === undefined) throw new RangeError("Cannot run an empty command: argv is []");
  const { timeoutMs } = options;
  if (timeoutMs !== undefined && !(timeoutMs >= 0)) {
    throw new RangeError(`Cannot run a command: timeoutMs is ${timeoutMs}, it must be at least 0`);
  }
  options.signal?.throwIfAborted();
  const timeout = new AbortController();
  const timer = timeoutMs === undefined ? undefined : setTimeout(() => {
    timeout.abort(
      new LabProcessError(`Command \`${argv.join(" ")}\` timed out after ${timeoutMs} ms`),
    );
  }, timeoutMs);
  const signal = options.signal
    ? AbortSignal.any([options.signal, timeout.signal])
    : timeout.signal;
  try {
    let child: Deno.ChildProcess;
    try {
      child = new Deno.Command(program, {
        args,
        stdin: options.stdin === undefined ? "null" : "piped",
        stdout: "piped",
        stderr: "piped",
        signal,
        env: options.env,
        cwd: options.cwd,
      }).spawn();
    } catch (error) {
      const why = error instanceof Deno.errors.NotFound
        ? `'${program}' is not installed or not on PATH`
        : String(error);
      throw new LabCommandError(argv, null, why, { cause: error });
    }
    if (options.stdin !== undefined) {
      const writer = child.stdin.getWriter();
      try {
        await writer.write(new TextEncoder().encode(options.stdin));
        await writer.close();
      } catch {
        // The command exited without reading all of its input; its status tells the story.
      }
    }
    const output = await child.output();
    if (signal.aborted) throw signal.reason;
    const result: CommandResult = {
      code: output.code,
      success: output.success,
      signal: output.signal,
      stdout: new TextDecoder().decode(output.stdout),
      stderr: new TextDecoder().decode(output.stderr),
    };
    if (options.check && !result.success) {
      throw new LabCommandError(argv, result.code, result.stderr || result.stdout);
    }
    return result;
  } finally {
    clearTimeout(timer);
  }
}
