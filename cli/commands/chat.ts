/**
 * `client.ts chat`: a direct UDP chat with someone registered at the same introducer (peerlink's
 * `server.ts --chat-port`, or Peer-Punch's relay). Typed lines go to the peer; the peer's lines
 * are printed as `[name]> text` on standard output; status lines (`* ...`) go to standard error.
 *
 * @module
 */

import { abortable } from "../../async/abortable.ts";
import {
  ChatError,
  type ChatSession,
  type ChatSessionOptions,
  chatWith,
  waitForChat,
} from "../../client/chat.ts";
import {
  createIntroducerClient,
  type IntroducerClient,
  IntroducerError,
  IntroducerTimeoutError,
} from "../../client/introducer.ts";
import { formatServerAddress, parseServerAddress } from "../../client/server_address.ts";
import { DEFAULT_INTRODUCER_KEEPALIVE_MS } from "../../client/introducer.ts";
import {
  DEFAULT_PEER_PUNCH_PORT,
  isValidChatUsername,
  PEER_PUNCH_KEEPALIVE_MS,
} from "../../protocol/peer_punch.ts";
import { formatSocketAddr } from "../../protocol/socket_addr.ts";
import { HandshakeError } from "../../secure/errors.ts";
import { flagHelp, type FlagSpec, parseFlags } from "../flags.ts";
import { type CliIo, EXIT, UsageError } from "../io.ts";
import { SERVER_ENV } from "./server_flags.ts";

/** The I/O of `chat`: a command's I/O plus the typed lines (process stdin by default). */
export interface ChatIo extends CliIo {
  /** What the user types, as bytes (lines end with `\n`). @default {Deno.stdin.readable} */
  readonly stdin?: ReadableStream<Uint8Array>;
}

const FLAGS: readonly FlagSpec[] = [
  { name: "name", type: "string", value: "NAME", help: "Your name at the introducer (required)" },
  {
    name: "to",
    type: "string",
    value: "NAME",
    help: "Call this person; without it, wait to be called",
  },
  {
    name: "server",
    type: "string",
    value: "HOST[:PORT]",
    help:
      `The introducer (default: the host of $${SERVER_ENV}, or localhost; port ${DEFAULT_PEER_PUNCH_PORT})`,
  },
  {
    name: "secret",
    type: "string",
    value: "CODE",
    help: "Encrypt the chat end to end with this code (both sides peerlink, the same code)",
  },
  {
    name: "ping-interval",
    type: "number",
    value: "SECONDS",
    min: 0.01,
    default: PEER_PUNCH_KEEPALIVE_MS / 1000,
    help: "Ping the peer this often",
  },
  {
    name: "peer-timeout",
    type: "number",
    value: "SECONDS",
    min: 0.02,
    default: 65,
    help: "Report the peer lost when no pong came for this long",
  },
  {
    name: "punch-timeout",
    type: "number",
    value: "SECONDS",
    min: 0.01,
    default: 10,
    help: "Give up reaching the peer directly after this long",
  },
  {
    name: "keepalive",
    type: "number",
    value: "SECONDS",
    min: 0.01,
    default: DEFAULT_INTRODUCER_KEEPALIVE_MS / 1000,
    help: "Keep the registration at the introducer alive this often",
  },
  { name: "verbose", short: "v", type: "boolean", help: "Also show keep-alive pongs" },
];

const USAGE = `Chat directly with someone over UDP, through NAT, after an introducer made you meet.

Usage:
  client.ts chat --name NAME [--to NAME] [--server HOST[:PORT]] [--secret CODE]

Both people register a name at the same introducer (server.ts --chat-port, or a Peer-Punch
relay). One waits; the other calls with --to. Then lines go directly between the two machines:
type a line and press Enter to send it; the other side's lines show as "[name]> text".
/quit or Ctrl-C says goodbye and exits; Ctrl-D (end of input) does the same.

Without --secret the chat is NOT encrypted and works with Peer-Punch peers. With --secret CODE
(the same code on both sides, both peerlink) it is end-to-end encrypted and authenticated.

Registering is retried until the introducer acknowledges it (a name another address holds is
never acknowledged until that registration expires).

Exit codes: 0 after /quit, Ctrl-C or the peer's goodbye; 1 on failure (unknown introducer host,
no such user, user busy, no direct path, wrong code, peer lost); 2 on wrong usage.

Options:
`;

/** Requests per round of registering (0.5 + 1 + 2 s), before saying so and trying again. */
const REGISTER_ATTEMPTS = 3;

const IN_CHAT_HELP = "type a line and press Enter to send it; /quit to leave";

/**
 * Make text from the network safe to print on a terminal: control characters (escape
 * sequences included) and bidirectional overrides are shown as escapes, not interpreted.
 *
 * @example
 * ```ts
 * import { printable } from "./chat.ts";
 * if (printable("hi\u001b[2J\n") !== "hi\\x1b[2J\\n") throw new Error(printable("hi\u001b[2J\n"));
 * ```
 */
export function printable(text: string): string {
  return text.replace(
    // deno-lint-ignore no-control-regex
    /[\u0000-\u0008\u000a-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g,
    (c) => {
      if (c === "\n") return "\\n";
      if (c === "\r") return "\\r";
      const code = c.codePointAt(0)!;
      return code < 0x100
        ? `\\x${code.toString(16).padStart(2, "0")}`
        : `\\u{${code.toString(16)}}`;
    },
  );
}

/** Splits text chunks into lines without their `\n` or `\r\n`. */
class LineSplitter {
  #buffer = "";
  /** The complete lines in `chunk` (and before it). */
  push(chunk: string): string[] {
    this.#buffer += chunk;
    const parts = this.#buffer.split("\n");
    this.#buffer = parts.pop()!;
    return parts.map((line) => line.replace(/\r$/, ""));
  }
  /** What is left at the end of input (a last line without a newline). */
  flush(): string[] {
    const rest = this.#buffer;
    this.#buffer = "";
    return rest === "" ? [] : [rest];
  }
}

function chooseServer(values: Record<string, unknown>, io: CliIo): string {
  const given = values.server as string | undefined;
  const text = given ?? io.env(SERVER_ENV) ?? "localhost";
  try {
    const address = parseServerAddress(text, DEFAULT_PEER_PUNCH_PORT);
    // $PEERLINK_SERVER names the gday server: only its host is the introducer's.
    return formatServerAddress(
      given === undefined ? { ...address, port: DEFAULT_PEER_PUNCH_PORT } : address,
    );
  } catch (error) {
    throw new UsageError((error as Error).message.replace("server address", "introducer"));
  }
}

function checkName(flag: string, value: unknown): string | undefined {
  if (value === undefined) return undefined;
  const name = value as string;
  if (!isValidChatUsername(name)) {
    throw new UsageError(
      `${flag} "${name}" is not a valid name: use 1 to 32 letters, digits, "_", "." or "-", ` +
        "starting with a letter or digit",
    );
  }
  return name;
}

/** Why the user left: a line (`/quit`), the end of input, or a signal. */
type Quit = "quit" | "eof" | "signal";

/**
 * Run `chat`; resolves with the exit code (0 when the user or the peer ended the chat, 1 on
 * failure). Wrong usage throws a `UsageError` (exit code 2).
 *
 * @example
 * ```ts
 * import { chatCommand } from "./chat.ts";
 * let out = "";
 * const io = { out: (t: string) => void (out += t), err: () => {}, env: () => undefined, isTerminal: false, signal: new AbortController().signal };
 * if (await chatCommand(["--help"], io) !== 0 || !out.includes("--to NAME")) throw new Error(out);
 * ```
 */
export async function chatCommand(args: readonly string[], io: ChatIo): Promise<number> {
  const { values } = parseFlags(args, FLAGS);
  if (values.help) {
    io.out(USAGE + flagHelp(FLAGS));
    return EXIT.ok;
  }
  const name = checkName("--name", values.name);
  if (name === undefined) throw new UsageError("Give your name with --name NAME");
  const to = checkName("--to", values.to);
  if (to === name) throw new UsageError("--to names yourself: give the other person's name");
  const server = chooseServer(values, io);
  const secret = values.secret as string | undefined;
  if (secret === "") throw new UsageError("--secret needs a code that is not empty");
  const pingIntervalMs = (values["ping-interval"] as number) * 1000;
  const peerTimeoutMs = (values["peer-timeout"] as number) * 1000;
  if (peerTimeoutMs <= pingIntervalMs) {
    throw new UsageError("--peer-timeout must be longer than --ping-interval");
  }
  const verbose = values.verbose === true;
  const status = (text: string): void => io.err(`* ${text}\n`);

  status(
    secret === undefined
      ? "This chat is NOT encrypted (Peer-Punch compatible): anyone on the path can read it. " +
        "Use --secret CODE on both sides to encrypt it."
      : "This chat will be end-to-end encrypted with your --secret code " +
        "(the other side needs peerlink and the same code).",
  );

  // Leaving: /quit, end of input, Ctrl-C / SIGTERM.
  const quitter = new AbortController();
  let quit: Quit | null = null;
  const leave = (why: Quit): void => {
    if (quit !== null) return;
    quit = why;
    quitter.abort(new Error("The user left the chat"));
  };
  const onSignal = (): void => leave("signal");
  if (io.signal.aborted) onSignal();
  else io.signal.addEventListener("abort", onSignal, { once: true });
  const stop = quitter.signal;

  // Typed lines: /quit and /help act at once; other lines queue until the chat is open, so
  // lines typed (or piped) early are sent, in order, once connected. End of input leaves once
  // the queue is sent.
  let session: ChatSession | null = null;
  const opened = Promise.withResolvers<ChatSession>();
  opened.promise.catch(() => {});
  const queue: string[] = [];
  let inputEnded = false;
  let wakeSender = (): void => {};
  const reader = (io.stdin ?? Deno.stdin.readable).pipeThrough(new TextDecoderStream())
    .getReader();
  const cancelInput = (): void => void reader.cancel().catch(() => {});
  stop.addEventListener("abort", cancelInput, { once: true });
  const typing = (async () => {
    const splitter = new LineSplitter();
    try {
      for (;;) {
        const { value, done } = await reader.read();
        for (const line of done ? splitter.flush() : splitter.push(value)) {
          const command = line.trim();
          if (command === "/quit" || command === "/exit") return leave("quit");
          if (command === "/help") status(IN_CHAT_HELP);
          else if (line !== "") {
            if (session === null) {
              status("Not connected yet: that line will be sent once connected");
            }
            queue.push(line);
          }
        }
        if (done) break;
        wakeSender();
      }
    } catch {
      /* the input broke: treat it as its end */
    } finally {
      stop.removeEventListener("abort", cancelInput);
      reader.releaseLock();
    }
    inputEnded = true;
    if (session === null && queue.length === 0) leave("eof");
    wakeSender();
  })();
  stop.addEventListener("abort", () => wakeSender(), { once: true });
  const sending = (async () => {
    let open: ChatSession;
    try {
      open = await abortable(opened.promise, stop);
    } catch {
      return;
    }
    for (;;) {
      for (let line = queue.shift(); line !== undefined; line = queue.shift()) {
        if (open.closed) return;
        try {
          await open.send(line);
        } catch (error) {
          status(`Not sent: ${(error as Error).message}`);
        }
      }
      if (inputEnded) return leave("eof");
      if (stop.aborted || open.closed) return;
      await new Promise<void>((resolve) => (wakeSender = resolve));
    }
  })();
  const input = Promise.all([typing, sending]);

  let client: IntroducerClient | null = null;
  try {
    try {
      client = await createIntroducerClient({
        introducer: server,
        keepAliveMs: (values.keepalive as number) * 1000,
        attempts: REGISTER_ATTEMPTS,
      });
    } catch (error) {
      if (!(error instanceof IntroducerError || error instanceof TypeError)) throw error;
      io.err(`error: ${error.message}\n`);
      return EXIT.failed;
    }
    const introducer = formatSocketAddr(client.introducer);
    status(`Registering as ${name} with the introducer at ${introducer}...`);
    for (;;) {
      try {
        await client.register(name, { signal: stop });
        break;
      } catch (error) {
        if (stop.aborted) return ended(quit, io);
        if (!(error instanceof IntroducerTimeoutError)) throw error;
        status(
          `No answer from the introducer at ${introducer} (unreachable, or the name ${name} ` +
            "is taken); trying again...",
        );
      }
    }
    status(`Registered as ${name}`);

    const options: ChatSessionOptions = {
      secret,
      pingIntervalMs,
      peerTimeoutMs,
      punchTimeoutMs: (values["punch-timeout"] as number) * 1000,
      signal: stop,
    };
    try {
      if (to !== undefined) {
        status(`Calling ${to}...`);
        session = await chatWith(client, to, options);
      } else {
        status(
          `Waiting for a call; the other side runs: client.ts chat --name THEIR_NAME --to ${name}` +
            ` --server ${server}`,
        );
        session = await waitForChat(client, options);
      }
    } catch (error) {
      if (stop.aborted) {
        await client.finish().catch(() => {});
        return ended(quit, io);
      }
      if (
        error instanceof ChatError || error instanceof IntroducerError ||
        error instanceof HandshakeError
      ) {
        io.err(`error: ${error.message}\n`);
        return EXIT.failed;
      }
      throw error;
    }

    opened.resolve(session);
    const peer = printable(session.peer.username);
    status(
      `Connected to ${peer} at ${formatSocketAddr(session.peer.addr)} (${
        session.encrypted ? "encrypted" : "NOT encrypted"
      }); ${IN_CHAT_HELP}`,
    );
    for await (const event of session) {
      switch (event.type) {
        case "message":
          io.out(
            `[${printable(event.from)}]> ${printable(event.text)}${
              event.incomplete ? "  [incomplete: some parts were lost]" : ""
            }\n`,
          );
          break;
        case "pong":
          if (verbose) status(`Pong from ${peer} (${Math.round(event.rttMs)} ms)`);
          break;
        case "goodbye":
          status(`${peer} said goodbye`);
          break;
        case "peer-lost":
          status(
            `Peer lost: no answer from ${peer} for ${Math.round(event.silentMs / 1000)} s`,
          );
          break;
        case "secret-mismatch":
          status(
            `${peer} uses --secret, so the chat must be encrypted: run again with ` +
              "--secret CODE (the same code on both sides)",
          );
          break;
      }
    }
    await session.close();
    switch (session.endReason) {
      case "goodbye":
        return EXIT.ok;
      case "closed":
        return ended(quit, io, peer);
      default:
        return EXIT.failed;
    }
  } finally {
    leave("quit");
    opened.reject(new Error("Not connected"));
    io.signal.removeEventListener("abort", onSignal);
    await session?.close();
    await client?.close();
    await input;
  }
}

function ended(quit: Quit | null, io: CliIo, peer?: string): number {
  // After Ctrl-C a terminal shows "^C" with no newline: start a new line.
  if (quit === "signal" && io.isTerminal) io.err("\n");
  const status = (text: string): void => io.err(`* ${text}\n`);
  const bye = peer === undefined ? "goodbye" : `said goodbye to ${peer}`;
  status(quit === "eof" ? `End of input: ${bye}` : bye[0]!.toUpperCase() + bye.slice(1));
  return EXIT.ok;
}
