/**
 * `client.ts`: the peerlink command line for people.
 *
 * @module
 */

import { exchangeCommand } from "./commands/exchange.ts";
import { natCommand } from "./commands/nat.ts";
import { keygenCommand } from "./commands/keygen.ts";
import { pairCommand } from "./commands/pair.ts";
import { receiveCommand } from "./commands/receive.ts";
import { sendCommand } from "./commands/send.ts";
import { listenCommand } from "./commands/listen.ts";
import { dialCommand } from "./commands/dial.ts";
import { chatCommand } from "./commands/chat.ts";
import { type CliIo, EXIT, UsageError } from "./io.ts";

/** A subcommand: runs from its arguments with injected I/O and resolves with the exit code. */
export type Command = (args: readonly string[], io: CliIo) => Promise<number>;

/** The subcommands by name, with a one-line summary. */
export const COMMANDS: Readonly<Record<string, { run: Command; summary: string }>> = Object.freeze({
  exchange: {
    run: exchangeCommand,
    summary: "Exchange contacts with a peer through a server (create or join a room)",
  },
  nat: { run: natCommand, summary: "Report your public addresses and what your NAT does (STUN)" },
  keygen: { run: keygenCommand, summary: "Make an identity (key pair) for pairing by public key" },
  pair: { run: pairCommand, summary: "Connect to a peer by public key through a mediator (pipe)" },
  send: {
    run: sendCommand,
    summary: "Send files and folders directly (prints a code for the receiver)",
  },
  receive: {
    run: receiveCommand,
    summary: "Receive files and folders with the code the sender printed",
  },
  listen: {
    run: listenCommand,
    summary: "Wait for a connection through a broker (netcat-style pipe)",
  },
  dial: { run: dialCommand, summary: "Connect to a receiver by name through a broker (pipe)" },
  chat: { run: chatCommand, summary: "Chat directly over UDP with someone at an introducer" },
});

function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((n) => n.length)) + 2;
  const rows = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}${c.summary}`)
    .join("\n");
  return `peerlink: direct, encrypted connections between two machines, even behind NAT

Usage:
  client.ts <command> [options]      (deno run -A client.ts ...)

Commands:
${rows}

Run "client.ts <command> --help" for a command's options.
Exit codes: 0 success, 1 failure, 2 wrong usage.
`;
}

/**
 * Run the client CLI; resolves with the exit code.
 *
 * @example
 * ```ts
 * import { runClient } from "./main.ts";
 * let out = "";
 * const io = { out: (t: string) => void (out += t), err: () => {}, env: () => undefined, isTerminal: false, signal: new AbortController().signal };
 * if (await runClient(["--help"], io) !== 0 || !out.includes("exchange")) throw new Error(out);
 * ```
 */
export async function runClient(args: readonly string[], io: CliIo): Promise<number> {
  const [name, ...rest] = args;
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    (name === undefined ? io.err : io.out)(usage());
    return name === undefined ? EXIT.usage : EXIT.ok;
  }
  const command = COMMANDS[name];
  if (command === undefined) {
    io.err(`error: unknown command "${name}"\n\n${usage()}`);
    return EXIT.usage;
  }
  try {
    return await command.run(rest, io);
  } catch (error) {
    if (error instanceof UsageError) {
      io.err(`error: ${error.message}\nRun "client.ts ${name} --help" to see its options.\n`);
      return EXIT.usage;
    }
    io.err(`error: ${(error as Error).message ?? String(error)}\n`);
    return EXIT.failed;
  }
}
