/**
 * `client.ts dial NAME`: connect to the receiver registered as NAME at a connection broker and
 * pipe the connection to stdin/stdout like netcat (`--secret CODE` for an encrypted pipe).
 *
 * @module
 */

import { dialBroker } from "../../client/broker_sender.ts";
import type { BrokerConnection } from "../../client/broker_link.ts";
import { isValidBrokerUid } from "../../protocol/broker.ts";
import { formatSocketAddr } from "../../protocol/socket_addr.ts";
import { flagHelp, type FlagSpec, parseFlags } from "../flags.ts";
import { EXIT, UsageError } from "../io.ts";
import {
  brokerClientFlags,
  brokerClientOptions,
  pipeConnection,
  type PipeIo,
  reportFailure,
} from "./listen.ts";

const FLAGS: readonly FlagSpec[] = [
  ...brokerClientFlags(),
  {
    name: "timeout",
    type: "number",
    value: "SECONDS",
    min: 0.001,
    default: 30,
    help: "Give up connecting after this long",
  },
];

const USAGE = `Connect to a receiver through a connection broker and pipe stdin/stdout to it.

Usage:
  client.ts dial NAME [--server HOST[:PORT]] [--secret CODE] [options]

NAME is what the receiver registered with "client.ts listen --uid NAME". The broker runs the
p2prs twelve-step flow; when it cannot work (e.g. a NAT that checks TCP sequence numbers),
both sides fall back to a TCP simultaneous open. The status line says which happened. With
--secret both sides must give the same code; the pipe is then authenticated and encrypted.

Options:
`;

/**
 * Run `dial` with its arguments; resolves with the exit code.
 *
 * @example
 * ```ts
 * import { dialCommand } from "./dial.ts";
 * let out = "";
 * const io = { out: (t: string) => void (out += t), err: () => {}, env: () => undefined, isTerminal: false, signal: new AbortController().signal };
 * if (await dialCommand(["--help"], io) !== 0 || !out.includes("dial NAME")) throw new Error(out);
 * ```
 */
export async function dialCommand(args: readonly string[], io: PipeIo): Promise<number> {
  const { values, positionals } = parseFlags(args, FLAGS, true);
  if (values.help) {
    io.out(USAGE + flagHelp(FLAGS));
    return EXIT.ok;
  }
  if (positionals.length !== 1) {
    throw new UsageError(
      positionals.length === 0 ? "Give the receiver's name: dial NAME" : "Give exactly one name",
    );
  }
  const uid = positionals[0]!;
  if (!isValidBrokerUid(uid)) {
    throw new UsageError(
      `"${uid}" is not a valid name: use 1 to 64 letters, digits, ".", "_" or "-", starting ` +
        "with a letter or digit",
    );
  }
  const choice = brokerClientOptions(values, io);
  let conn: BrokerConnection;
  try {
    conn = await dialBroker({
      server: choice.server,
      uid,
      family: choice.family,
      timeoutMs: (values.timeout as number) * 1000,
      signal: io.signal,
      onEvent: (event) => {
        if (event.kind === "step" && choice.verbose) {
          io.err(`  step ${event.step}: ${event.detail}\n`);
        }
      },
    });
  } catch (error) {
    return reportFailure(error, io);
  }
  io.err(
    `Connected to ${uid} at ${formatSocketAddr(conn.remoteAddr)} (via ${conn.via}, request ` +
      `${conn.requestId})\n`,
  );
  try {
    await pipeConnection(conn, io, choice.secret);
  } catch (error) {
    return reportFailure(error, io);
  }
  return EXIT.ok;
}
