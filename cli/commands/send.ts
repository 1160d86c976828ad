/**
 * `client.ts send FILE|DIR...`: hash the files, print a code and the command for the other
 * side, wait for the receiver, connect directly and send. If the receiver's connection breaks
 * mid-transfer, the sender keeps the room open under the same code, so running the same
 * `receive` command again resumes.
 *
 * @module
 */

import { connectPeer, type PeerConnection } from "../../client/connect.ts";
import { ConnectionLostError, TransferError, TransferTimeoutError } from "../../transfer/errors.ts";
import { type PreparedFiles, prepareFiles } from "../../transfer/source.ts";
import { sendFiles } from "../../transfer/send.ts";
import { flagHelp, parseFlags } from "../flags.ts";
import { type CliIo, EXIT, UsageError } from "../io.ts";
import { createTransferReporter, formatBytes } from "../progress.ts";
import { connectedText, failure, transferFlags, transferOptions } from "../transfer_options.ts";

const FLAGS = transferFlags();

const USAGE = `Send files and folders to another machine, directly and encrypted.

Usage:
  client.ts send FILE|DIR... [options]

Prints a code and the command the receiver runs (client.ts receive CODE ...), waits for them,
connects directly (through NAT) and sends. Folders keep their structure; symbolic links inside
folders are not followed (they are listed and left out). The receiver checks every file's
SHA-256 and confirms. If the connection breaks, this command waits for the receiver to come back
with the same code and the transfer resumes. With --gday, the other side may be gday 0.1.1
(it has no hashes, so nothing is verified and nothing is confirmed).

Options:
`;

/** Sessions (the first and reconnections) before the sender gives up. */
const MAX_SESSIONS = 20;

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

/**
 * Run `send` with its arguments; resolves with the exit code. Wrong usage throws a
 * `UsageError` (exit code 2).
 *
 * @example
 * ```ts
 * import { sendCommand } from "./send.ts";
 * let out = "";
 * const io = { out: (t: string) => void (out += t), err: () => {}, env: () => undefined, isTerminal: false, signal: new AbortController().signal };
 * if (await sendCommand(["--help"], io) !== 0 || !out.includes("FILE|DIR...")) throw new Error(out);
 * ```
 */
export async function sendCommand(args: readonly string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseFlags(args, FLAGS, true);
  if (values.help) {
    io.out(USAGE + flagHelp(FLAGS));
    return EXIT.ok;
  }
  if (positionals.length === 0) throw new UsageError("Give at least one FILE or DIR to send");
  for (const path of positionals) {
    try {
      await Deno.stat(path);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) {
        throw new UsageError(`"${path}" does not exist: check the name`);
      }
      throw new UsageError(`Cannot use "${path}": ${(error as Error).message}`);
    }
  }
  const choice = transferOptions(values, io);
  const { json } = choice;
  const emit = (object: Record<string, unknown>): void => {
    if (json) io.out(JSON.stringify(object) + "\n");
  };
  const reporter = createTransferReporter(io, { json });
  const fail = (error: unknown): number => {
    reporter.finish();
    if (io.signal.aborted) {
      if (json) emit(failure(io.signal.reason).json);
      else io.err("Cancelled\n");
      return EXIT.failed;
    }
    if (json) emit(failure(error).json);
    else io.err(failure(error).text);
    return EXIT.failed;
  };

  let prepared: PreparedFiles;
  try {
    prepared = await prepareFiles(positionals, {
      hash: true,
      signal: io.signal,
      onEvent: reporter.onEvent,
    });
  } catch (error) {
    if (error instanceof TransferError || io.signal.aborted) return fail(error);
    throw error;
  }
  reporter.finish();
  const { files, skipped, totalBytes } = prepared;
  if (skipped.length > 0) {
    if (json) emit({ event: "skipped", items: skipped });
    else {
      io.err(
        `Left out ${plural(skipped.length, "symbolic link or special file")}: ${
          skipped.slice(0, 5).map((s) => s.localPath).join(", ")
        }${skipped.length > 5 ? ", ..." : ""}\n`,
      );
    }
  }
  if (!json) io.err(`Sending ${plural(files.length, "file")} (${formatBytes(totalBytes)})\n`);

  let code: string | undefined;
  for (let session = 1;; session++) {
    let conn: PeerConnection;
    try {
      conn = await connectPeer({
        ...choice.connect,
        code,
        create: code !== undefined,
        signal: io.signal,
        onCode: (text) => {
          const command = `client.ts receive ${text}${choice.hint}`;
          if (code === undefined) {
            code = text;
            emit({ event: "code", code: text, command });
            if (!json) {
              io.err(`Code: ${text}\nOn the other machine run:\n  ${command}\n`);
            }
          }
          if (!json) io.err("Waiting for the receiver...\n");
        },
      });
    } catch (error) {
      return fail(error);
    }
    try {
      const connected = connectedText(conn);
      if (json) emit(connected.json);
      else io.err(connected.text);
      const result = await sendFiles(conn, files, {
        mode: conn.mode,
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
          confirmed: result.confirmed,
          bytes: result.bytes,
          seconds: result.seconds,
          files: result.files,
        });
      } else {
        const present = result.files.filter((f) => f.status === "present").length;
        const skippedByPeer = result.files.filter((f) => f.status === "skipped").length;
        io.out(
          `Sent ${plural(result.files.filter((f) => f.status === "sent").length, "file")} (${
            formatBytes(result.bytes)
          }) in ${result.seconds.toFixed(1)} s (${formatBytes(rate)}/s) over ${conn.path}` +
            (present > 0 ? `; ${present} already there` : "") +
            (skippedByPeer > 0 ? `; ${skippedByPeer} declined` : "") +
            (result.confirmed
              ? "; the receiver verified and saved every file\n"
              : "; gday does not confirm: ask the receiver whether everything arrived\n"),
        );
      }
      return EXIT.ok;
    } catch (error) {
      const retry = (error instanceof ConnectionLostError ||
        error instanceof TransferTimeoutError) && !io.signal.aborted && session < MAX_SESSIONS;
      if (!retry) return fail(error);
      reporter.finish();
      if (json) emit({ ...failure(error).json, event: "interrupted", retrying: true });
      else {
        io.err(
          `${failure(error).text}Keeping the code ${code}: run the same receive command again ` +
            "to resume.\n",
        );
      }
    } finally {
      await conn.close();
    }
  }
}
