/**
 * `client.ts listen --uid NAME`: register NAME at a connection broker, wait for one connection,
 * and pipe it to stdin/stdout like netcat (`--secret CODE` for an encrypted pipe). Also the pipe
 * helpers `dial` shares.
 *
 * @module
 */

import { listenBroker } from "../../client/broker_receiver.ts";
import type { BrokerConnection } from "../../client/broker_link.ts";
import { BrokerError } from "../../client/broker_errors.ts";
import { parseServerAddress, type ServerAddress } from "../../client/server_address.ts";
import { type BrokerFamily, DEFAULT_BROKER_PORT, isValidBrokerUid } from "../../protocol/broker.ts";
import { formatSocketAddr } from "../../protocol/socket_addr.ts";
import { handshake } from "../../secure/handshake.ts";
import { HandshakeError } from "../../secure/errors.ts";
import { flagHelp, type FlagSpec, parseFlags } from "../flags.ts";
import { type CliIo, EXIT, UsageError } from "../io.ts";

/** The environment variable naming the default broker (`host[:port]`). */
export const BROKER_ENV = "PEERLINK_BROKER";

/** A {@linkcode CliIo} with byte streams for the pipe; without them the process's stdin/stdout are used. */
export interface PipeIo extends CliIo {
  /** Bytes to send to the peer. @default {Deno.stdin.readable} */
  readonly stdin?: ReadableStream<Uint8Array>;
  /** Where the peer's bytes go (never closed by the pipe). @default {Deno.stdout.writable} */
  readonly stdout?: WritableStream<Uint8Array>;
}

/**
 * The flags `listen` and `dial` share: `--server`, `--secret`, `-4`, `-6`, `--verbose`.
 *
 * @example
 * ```ts
 * import { brokerClientFlags } from "./listen.ts";
 * if (!brokerClientFlags().some((f) => f.name === "secret")) throw new Error("No --secret");
 * ```
 */
export function brokerClientFlags(): FlagSpec[] {
  return [
    {
      name: "server",
      type: "string",
      value: "HOST[:PORT]",
      help: `The broker (default: $${BROKER_ENV} or localhost; port ${DEFAULT_BROKER_PORT})`,
    },
    {
      name: "secret",
      type: "string",
      value: "CODE",
      help: "Encrypt the pipe: run the PAKE handshake with this code (both sides give the same)",
    },
    { name: "ipv4", type: "boolean", short: "4", help: "Reach the broker over IPv4 only" },
    { name: "ipv6", type: "boolean", short: "6", help: "Reach the broker over IPv6 only" },
    { name: "verbose", type: "boolean", short: "v", help: "Print every step of the flow" },
  ];
}

/** What the shared flags resolve to. */
export interface BrokerClientChoice {
  /** The broker. */
  server: ServerAddress;
  /** The IP family to use, if limited. */
  family: BrokerFamily | undefined;
  /** The PAKE code, if any. */
  secret: string | undefined;
  /** Print every step. */
  verbose: boolean;
}

/**
 * Resolve the shared flags; bad values raise a `UsageError`.
 *
 * @example
 * ```ts
 * import { brokerClientOptions } from "./listen.ts";
 * const io = { out: () => {}, err: () => {}, env: () => undefined, isTerminal: false, signal: new AbortController().signal };
 * const choice = brokerClientOptions({ server: "198.51.100.10" }, io);
 * if (choice.server.port !== 2314) throw new Error("Bad default port");
 * ```
 */
export function brokerClientOptions(
  values: Record<string, unknown>,
  io: CliIo,
): BrokerClientChoice {
  const text = (values.server as string | undefined) ?? io.env(BROKER_ENV) ?? "localhost";
  let server: ServerAddress;
  try {
    server = parseServerAddress(text, DEFAULT_BROKER_PORT);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  if (values.ipv4 && values.ipv6) throw new UsageError("Give at most one of --ipv4 and --ipv6");
  const secret = values.secret as string | undefined;
  if (secret !== undefined && secret.length === 0) {
    throw new UsageError("--secret needs a non-empty code");
  }
  return {
    server,
    family: values.ipv4 ? "v4" : values.ipv6 ? "v6" : undefined,
    secret,
    verbose: values.verbose === true,
  };
}

/**
 * Pipe a broker connection to stdin/stdout until both directions have ended: stdin's end
 * half-closes the connection, the peer's end finishes stdout. With `secret`, run the PAKE
 * `handshake` first (context `peerlink/broker uid=<uid>`), so the pipe is authenticated and
 * encrypted. Closes the connection in all cases.
 *
 * @throws {WrongCodeError} (on both sides) when the codes differ.
 *
 * @example Pipe a connection's bytes into memory
 * ```ts
 * import { pipeConnection } from "./listen.ts";
 * import { duplexPair } from "../../secure/duplex_pair.ts";
 * const [a, b] = duplexPair();
 * const conn = { ...a, uid: "x", close() {} };
 * let received = "";
 * const io = {
 *   out: () => {}, err: () => {}, env: () => undefined, isTerminal: false, signal: new AbortController().signal,
 *   stdin: ReadableStream.from([new TextEncoder().encode("ping")]),
 *   stdout: new WritableStream<Uint8Array>({ write: (c) => void (received += new TextDecoder().decode(c)) }),
 * };
 * const peer = (async () => {
 *   const text = await new Response(b.readable).text();
 *   const w = b.writable.getWriter();
 *   await w.write(new TextEncoder().encode(text + "-pong"));
 *   await w.close();
 * })();
 * await pipeConnection(conn, io, undefined);
 * await peer;
 * if (received !== "ping-pong") throw new Error(received);
 * ```
 */
export async function pipeConnection(
  conn: Pick<BrokerConnection, "readable" | "writable" | "uid" | "close">,
  io: PipeIo,
  secret: string | undefined,
): Promise<void> {
  let duplex: { readable: ReadableStream<Uint8Array>; writable: WritableStream<Uint8Array> } = conn;
  let secureClose: (() => Promise<void>) | null = null;
  try {
    if (secret !== undefined) {
      const secure = await handshake(conn, new TextEncoder().encode(secret), {
        context: new TextEncoder().encode(`peerlink/broker uid=${conn.uid}`),
        signal: io.signal,
      });
      duplex = secure;
      secureClose = () => secure.close();
      io.err("Authenticated; the pipe is encrypted\n");
    }
    const stdin = io.stdin ?? Deno.stdin.readable;
    const stdout = io.stdout ?? Deno.stdout.writable;
    await Promise.all([
      stdin.pipeTo(duplex.writable, { signal: io.signal }),
      duplex.readable.pipeTo(stdout, { preventClose: true, signal: io.signal }),
    ]);
  } finally {
    await secureClose?.().catch(() => {});
    conn.close();
  }
}

/**
 * Turn a failure of `listen`/`dial` into a message and exit code (1), or rethrow what is not ours.
 *
 * @example
 * ```ts
 * import { reportFailure } from "./listen.ts";
 * import { BrokerError } from "../../client/broker_errors.ts";
 * let err = "";
 * const io = { out: () => {}, err: (t: string) => void (err += t), env: () => undefined, isTerminal: false, signal: new AbortController().signal };
 * if (reportFailure(new BrokerError("closed", "Gone"), io) !== 1 || !err.includes("Gone")) throw new Error(err);
 * ```
 */
export function reportFailure(error: unknown, io: CliIo): number {
  if (io.signal.aborted) {
    io.err("Cancelled\n");
    return EXIT.failed;
  }
  if (
    error instanceof BrokerError || error instanceof HandshakeError ||
    (error instanceof Error &&
      (error.name === "NoDirectPathError" || error.name === "ConnectError"))
  ) {
    io.err(`error: ${error.message}\n`);
    return EXIT.failed;
  }
  throw error;
}

const FLAGS: readonly FlagSpec[] = [
  {
    name: "uid",
    type: "string",
    value: "NAME",
    help: "The name to register (letters, digits, . _ -; up to 64)",
  },
  {
    name: "uid-secret",
    type: "string",
    value: "SECRET",
    help: "Protects the name: registering it again (e.g. after a restart) needs the same secret",
  },
  ...brokerClientFlags(),
  {
    name: "timeout",
    type: "number",
    value: "SECONDS",
    min: 0.001,
    help: "Give up waiting for a connection after this long (default: wait forever)",
  },
];

const USAGE = `Wait for one connection through a connection broker and pipe it to stdin/stdout.

Usage:
  client.ts listen --uid NAME [--server HOST[:PORT]] [--secret CODE] [options]

Registers NAME at the broker and keeps the registration alive (reconnecting if the broker
restarts). When someone runs "client.ts dial NAME", the broker introduces the two sides
(the p2prs twelve-step flow, or a simultaneous open when that cannot work) and the bytes then
flow directly between them. With --secret both sides must give the same code; the pipe is then
authenticated and encrypted. Status goes to stderr.

Options:
`;

/**
 * Run `listen` with its arguments; resolves with the exit code.
 *
 * @example
 * ```ts
 * import { listenCommand } from "./listen.ts";
 * let out = "";
 * const io = { out: (t: string) => void (out += t), err: () => {}, env: () => undefined, isTerminal: false, signal: new AbortController().signal };
 * if (await listenCommand(["--help"], io) !== 0 || !out.includes("--uid NAME")) throw new Error(out);
 * ```
 */
export async function listenCommand(args: readonly string[], io: PipeIo): Promise<number> {
  const { values } = parseFlags(args, FLAGS);
  if (values.help) {
    io.out(USAGE + flagHelp(FLAGS));
    return EXIT.ok;
  }
  const uid = values.uid as string | undefined;
  if (uid === undefined) throw new UsageError("Give the name to register with --uid NAME");
  if (!isValidBrokerUid(uid)) {
    throw new UsageError(
      `"${uid}" is not a valid name: use 1 to 64 letters, digits, ".", "_" or "-", starting ` +
        "with a letter or digit",
    );
  }
  const uidSecret = values["uid-secret"] as string | undefined;
  if (uidSecret !== undefined && uidSecret.length === 0) {
    throw new UsageError("--uid-secret needs a non-empty secret");
  }
  const choice = brokerClientOptions(values, io);
  const timeout = values.timeout as number | undefined;
  const signal = timeout === undefined
    ? io.signal
    : AbortSignal.any([io.signal, AbortSignal.timeout(timeout * 1000)]);
  let conn: BrokerConnection;
  try {
    await using receiver = await listenBroker({
      server: choice.server,
      uid,
      secret: uidSecret,
      family: choice.family,
      signal: io.signal,
      onEvent: (event) => {
        switch (event.kind) {
          case "registered":
            io.err(
              `Registered as ${uid} (public address ${formatSocketAddr(event.addr)}); ` +
                "waiting for a connection...\n",
            );
            break;
          case "disconnected":
            io.err(`Lost the broker: ${event.error.message}\n`);
            break;
          case "reconnecting":
            io.err(`Reconnecting in ${(event.delayMs / 1000).toFixed(1)} s...\n`);
            break;
          case "step":
            if (choice.verbose) io.err(`  [${event.req}] step ${event.step}: ${event.detail}\n`);
            break;
          case "failed":
            io.err(`A connection attempt failed: ${event.error.message}\n`);
            break;
        }
      },
    });
    conn = await receiver.accept({ signal });
  } catch (error) {
    if (!io.signal.aborted && signal.aborted) {
      io.err(`error: no connection within ${timeout} s\n`);
      return EXIT.failed;
    }
    return reportFailure(error, io);
  }
  io.err(
    `Connected to ${formatSocketAddr(conn.remoteAddr)} (via ${conn.via}, request ` +
      `${conn.requestId})\n`,
  );
  try {
    await pipeConnection(conn, io, choice.secret);
  } catch (error) {
    return reportFailure(error, io);
  }
  return EXIT.ok;
}
