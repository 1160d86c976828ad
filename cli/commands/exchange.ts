/**
 * `client.ts exchange`: create or join a room on a gday server and print both contacts.
 *
 * @module
 */

import { exchangeContacts } from "../../client/exchange.ts";
import { formatRoomCode, parseRoomCode } from "../../client/room_code.ts";
import { ExchangeError } from "../../client/errors.ts";
import { flagHelp, type FlagSpec, parseFlags } from "../flags.ts";
import { type CliIo, EXIT, UsageError } from "../io.ts";
import { fullContactJson, fullContactLines } from "../format.ts";
import { serverFlags, serverOptions } from "./server_flags.ts";

const FLAGS: readonly FlagSpec[] = [
  { name: "create", type: "boolean", help: "Create a new room (prints its code)" },
  { name: "join", type: "string", value: "CODE", help: "Join the room with this code" },
  {
    name: "code",
    type: "string",
    value: "CODE",
    help: "With --create: use this room code instead of a random one",
  },
  ...serverFlags(),
  {
    name: "timeout",
    type: "number",
    value: "SECONDS",
    min: 0.001,
    default: 600,
    help: "Give up waiting for the peer after this long",
  },
  { name: "json", type: "boolean", help: "Print the result as one JSON object" },
];

const USAGE = `Exchange contacts (public and private addresses) with a peer through a gday server.

Usage:
  client.ts exchange --create [--code CODE] [options]
  client.ts exchange --join CODE [options]

One person creates a room and reads its code to the other, who joins it. Each then sees the
other's addresses, ready for hole punching.

Options:
`;

/**
 * Run `exchange` with its arguments; resolves with the exit code. Wrong usage throws a
 * `UsageError` (the CLI's entry turns it into exit code 2).
 *
 * @example
 * ```ts
 * import { exchangeCommand } from "./exchange.ts";
 * let out = "";
 * const io = { out: (t: string) => void (out += t), err: () => {}, env: () => undefined, isTerminal: false, signal: new AbortController().signal };
 * if (await exchangeCommand(["--help"], io) !== 0 || !out.includes("--join CODE")) throw new Error(out);
 * ```
 */
export async function exchangeCommand(args: readonly string[], io: CliIo): Promise<number> {
  const { values } = parseFlags(args, FLAGS);
  if (values.help) {
    io.out(USAGE + flagHelp(FLAGS));
    return EXIT.ok;
  }
  const create = values.create === true;
  const joinText = values.join as string | undefined;
  if (create === (joinText !== undefined)) {
    throw new UsageError("Give exactly one of --create or --join CODE");
  }
  const codeText = (joinText ?? values.code) as string | undefined;
  let roomCode: bigint | undefined;
  if (codeText !== undefined) {
    const parsed = parseRoomCode(codeText);
    if (parsed === null) {
      throw new UsageError(
        `"${codeText}" is not a room code: use digits (dashes and spaces are ignored)`,
      );
    }
    roomCode = parsed;
  }
  const server = serverOptions(values, io);
  const json = values.json === true;
  if (!json) io.err(`Connecting to ${server.label}...\n`);
  try {
    using result = await exchangeContacts({
      ...server.options,
      create,
      roomCode,
      timeoutMs: (values.timeout as number) * 1000,
      signal: io.signal,
      onRoom: (code) => {
        if (json) return;
        if (create) {
          io.err(`Room code: ${formatRoomCode(code)}\n`);
          io.err(
            `On the other machine run:  client.ts exchange --join ${
              formatRoomCode(code)
            }${server.hint}\n`,
          );
        }
        io.err("Waiting for the peer...\n");
      },
    });
    if (json) {
      io.out(
        JSON.stringify({
          room: formatRoomCode(result.roomCode),
          roomCode: result.roomCode.toString(),
          creator: result.isCreator,
          own: fullContactJson(result.own),
          peer: fullContactJson(result.peer),
        }) + "\n",
      );
    } else {
      io.out(`Room ${formatRoomCode(result.roomCode)}\n`);
      io.out(fullContactLines("You ", result.own));
      io.out(fullContactLines("Peer", result.peer));
    }
    return EXIT.ok;
  } catch (error) {
    if (io.signal.aborted) {
      io.err("Cancelled\n");
      return EXIT.failed;
    }
    if (!(error instanceof ExchangeError)) throw error;
    io.err(`error: ${error.message}\n`);
    return EXIT.failed;
  }
}
