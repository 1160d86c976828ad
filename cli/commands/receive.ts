/**
 * `client.ts receive CODE`: check the code (a typo is caught by its checksum before any network
 * traffic), connect to the sender directly, and receive into `--out` (never overwriting
 * without `--force`; partial files are kept and resumed).
 *
 * @module
 */

import { pause } from "../../async/delay.ts";
import { connectPeer, type PeerConnection } from "../../client/connect.ts";
import { NoSuchRoomError } from "../../client/errors.ts";
import { parsePeerCode, type PeerCode, PeerCodeError } from "../../client/peer_code.ts";
import { receiveFiles } from "../../transfer/receive.ts";
import { flagHelp, type FlagSpec, parseFlags } from "../flags.ts";
import { type CliIo, EXIT, UsageError } from "../io.ts";
import { createTransferReporter, formatBytes } from "../progress.ts";
import { connectedText, failure, transferFlags, transferOptions } from "../transfer_options.ts";

const FLAGS: readonly FlagSpec[] = [
  {
    name: "out",
    type: "string",
    value: "DIR",
    default: ".",
    help: "Save the files in this folder (created if needed)",
  },
  { name: "force", type: "boolean", help: "Overwrite files that already exist" },
  ...transferFlags(),
];

const USAGE = `Receive files and folders from another machine, directly and encrypted.

Usage:
  client.ts receive CODE [--out DIR] [--force] [options]

CODE is what the sender's client.ts send printed (like 0.A3F9C2.7D2E91B4.5); give the same
--server (and --gday) flags it shows. Files arrive under temporary names and get their real
names only once complete and verified (SHA-256). Existing files are never replaced unless
--force is given; the transfer is refused instead. If the connection breaks, run the same
command again: the transfer resumes where it stopped.

Options:
`;

/** How often to look for the sender's room when it is not there (yet). */
const ROOM_RETRIES = 10;
const ROOM_RETRY_MS = 500;

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

/**
 * Run `receive` with its arguments; resolves with the exit code. Wrong usage, including a code
 * with a typo, throws a `UsageError` (exit code 2).
 *
 * @example
 * ```ts
 * import { receiveCommand } from "./receive.ts";
 * const io = { out: () => {}, err: () => {}, env: () => undefined, isTerminal: false, signal: new AbortController().signal };
 * let typo = "";
 * await receiveCommand(["0.A3F9C2.7D2E91B4.6"], io).catch((e) => (typo = e.message));
 * if (!typo.includes("typo")) throw new Error(typo);
 * ```
 */
export async function receiveCommand(args: readonly string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseFlags(args, FLAGS, true);
  if (values.help) {
    io.out(USAGE + flagHelp(FLAGS));
    return EXIT.ok;
  }
  if (positionals.length !== 1) {
    throw new UsageError(
      positionals.length === 0
        ? "Give the CODE the sender printed (like 0.A3F9C2.7D2E91B4.5)"
        : `Give exactly one CODE (got ${positionals.length} arguments)`,
    );
  }
  let code: PeerCode;
  try {
    code = parsePeerCode(positionals[0]!);
  } catch (error) {
    if (error instanceof PeerCodeError) throw new UsageError(error.message);
    throw error;
  }
  const dir = values.out as string;
  try {
    if (!(await Deno.stat(dir)).isDirectory) {
      throw new UsageError(`--out ${dir} is not a folder: choose a folder`);
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  const choice = transferOptions(values, io);
  const { json } = choice;
  const emit = (object: Record<string, unknown>): void => {
    if (json) io.out(JSON.stringify(object) + "\n");
  };
  const reporter = createTransferReporter(io, { json });
  const fail = (error: unknown): number => {
    reporter.finish();
    const reported = io.signal.aborted ? io.signal.reason : error;
    if (json) emit(failure(reported).json);
    else io.err(io.signal.aborted ? "Cancelled\n" : failure(reported).text);
    return EXIT.failed;
  };

  if (!json) io.err(`Connecting through ${choice.label}...\n`);
  let conn: PeerConnection | undefined;
  for (let attempt = 1; conn === undefined; attempt++) {
    try {
      conn = await connectPeer({ ...choice.connect, code, signal: io.signal });
    } catch (error) {
      // The sender may be re-opening its room after a broken connection: look again shortly.
      if (!(error instanceof NoSuchRoomError) || attempt >= ROOM_RETRIES || io.signal.aborted) {
        if (error instanceof NoSuchRoomError) {
          error.message = "The server has no room for this code: check the code and the " +
            "--server flags, and that the sender's client.ts send is still waiting";
        }
        return fail(error);
      }
      await pause(ROOM_RETRY_MS, io.signal);
    }
  }
  try {
    const connected = connectedText(conn);
    if (json) emit(connected.json);
    else io.err(connected.text);
    const result = await receiveFiles(conn, {
      dir,
      mode: conn.mode,
      conflict: values.force === true ? "overwrite" : "fail",
      signal: io.signal,
      onEvent: reporter.onEvent,
    });
    reporter.finish();
    const rate = result.seconds > 0 ? result.bytes / result.seconds : 0;
    if (json) {
      emit({
        event: "done",
        ok: true,
        path: conn.path,
        mode: result.mode,
        dir: result.dir,
        bytes: result.bytes,
        seconds: result.seconds,
        files: result.files,
      });
      return EXIT.ok;
    }
    const received = result.files.filter((f) => f.status === "received");
    if (result.files.length <= 50) {
      for (const file of result.files) {
        const note = file.status === "received"
          ? file.verified
            ? "verified"
            : `sha256 ${file.sha256} (gday sends no hash: compare with the sender)`
          : file.status === "present"
          ? "already there, identical"
          : "skipped";
        io.out(`  ${file.localPath}  ${formatBytes(file.size)}  ${note}\n`);
      }
    }
    const present = result.files.filter((f) => f.status === "present").length;
    io.out(
      `Received ${plural(received.length, "file")} (${formatBytes(result.bytes)}) in ${
        result.seconds.toFixed(1)
      } s (${formatBytes(rate)}/s) over ${conn.path} into ${dir}` +
        (present > 0 ? `; ${present} already there` : "") +
        (result.mode === "native" ? "; every SHA-256 matched\n" : "\n"),
    );
    return EXIT.ok;
  } catch (error) {
    return fail(error);
  } finally {
    await conn.close();
  }
}
