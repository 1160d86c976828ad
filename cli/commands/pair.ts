/**
 * `client.ts pair`: connect to a peer by public key through a mediator and pipe standard input
 * to the peer and the peer's data to standard output (like `nc`, encrypted end to end). Status
 * lines go to standard error.
 *
 * @module
 */

import { IdentityFileError, loadIdentity, toPublicKey } from "../../client/identity.ts";
import { connect, type MediatorFamily } from "../../client/mediator.ts";
import { relayDialer } from "../../client/relay.ts";
import { parseServerAddress } from "../../client/server_address.ts";
import { DEFAULT_RELAY_PORT } from "../../protocol/relay.ts";
import { MediatorError } from "../../client/mediator_errors.ts";
import { formatPublicKeyText } from "../../protocol/mediator.ts";
import { formatSocketAddr } from "../../protocol/socket_addr.ts";
import { NoCandidatesError, NoDirectPathError } from "../../punch/errors.ts";
import { HandshakeError } from "../../secure/errors.ts";
import { flagHelp, type FlagSpec, parseFlags } from "../flags.ts";
import { type CliIo, EXIT, UsageError } from "../io.ts";
import { DEFAULT_KEY_FILE } from "./keygen.ts";

/** The I/O of `pair`: a command's I/O plus the byte streams to pipe (process stdin/stdout by default). */
export interface PairIo extends CliIo {
  /** Bytes to send to the peer. @default {Deno.stdin.readable} */
  readonly stdin?: ReadableStream<Uint8Array>;
  /** Where the peer's bytes go (not closed at the end). @default {Deno.stdout.writable} */
  readonly stdout?: WritableStream<Uint8Array>;
}

const FLAGS: readonly FlagSpec[] = [
  {
    name: "key",
    type: "string",
    value: "FILE",
    default: DEFAULT_KEY_FILE,
    help: "Your key file (made by client.ts keygen)",
  },
  { name: "peer", type: "string", value: "PUBKEY", help: "Your peer's public key (pk1...)" },
  {
    name: "mediator",
    type: "string",
    value: "HOST[:PORT]",
    help: "The mediator (default: $PEERLINK_MEDIATOR, else localhost; port 2312)",
  },
  {
    name: "mediator-key",
    type: "string",
    value: "PUBKEY",
    help: "Refuse any mediator but the one with this public key",
  },
  {
    name: "relay",
    type: "string",
    value: "HOST[:PORT]|URL",
    help:
      `The relay for when no direct path works (default: the mediator's host, port ${DEFAULT_RELAY_PORT})`,
  },
  { name: "direct-only", type: "boolean", help: "Never use the relay" },
  { name: "relay-only", type: "boolean", help: "Only use the relay (no hole punching)" },
  { name: "ipv4", short: "4", type: "boolean", help: "Reach the mediator over IPv4 only" },
  { name: "ipv6", short: "6", type: "boolean", help: "Reach the mediator over IPv6 only" },
  {
    name: "timeout",
    type: "number",
    value: "SECONDS",
    min: 0.001,
    default: 600,
    help: "Give up waiting for the peer after this long",
  },
  {
    name: "punch-timeout",
    type: "number",
    value: "SECONDS",
    min: 0.001,
    default: 10,
    help: "Give up making the direct connection after this long",
  },
];

/** The host part of a `host[:port]` mediator address, bracketed when IPv6. */
function mediatorHost(mediator: string): string {
  const { hostname } = parseServerAddress(mediator, 2312);
  return hostname.includes(":") ? `[${hostname}]` : hostname;
}

const USAGE = `Connect to a peer by public key through a mediator, and pipe stdin/stdout to it.

Usage:
  client.ts pair --peer PUBKEY [--key FILE] [--mediator HOST[:PORT]] [options]

Both peers run pair naming each other's public key (from client.ts keygen). The mediator pairs
them, they connect directly (through NAT), prove their keys to each other and encrypt
everything: the mediator can neither read nor change the data. What you type (or pipe in) goes
to the peer; what the peer sends is printed. The command ends when both sides have finished.

Options:
`;

async function pump(
  from: ReadableStream<Uint8Array>,
  to: WritableStreamDefaultWriter<Uint8Array>,
  signal: AbortSignal,
): Promise<void> {
  const reader = from.getReader();
  const onAbort = (): void => void reader.cancel(signal.reason).catch(() => {});
  signal.addEventListener("abort", onAbort, { once: true });
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      signal.throwIfAborted();
      await to.write(value);
    }
  } finally {
    signal.removeEventListener("abort", onAbort);
    reader.releaseLock();
  }
}

/**
 * Run `pair`; resolves with the exit code.
 *
 * @example
 * ```ts
 * import { pairCommand } from "./pair.ts";
 * let out = "";
 * const io = { out: (t: string) => void (out += t), err: () => {}, env: () => undefined, isTerminal: false, signal: new AbortController().signal };
 * if (await pairCommand(["--help"], io) !== 0 || !out.includes("--peer PUBKEY")) throw new Error(out);
 * ```
 */
export async function pairCommand(args: readonly string[], io: PairIo): Promise<number> {
  const { values } = parseFlags(args, FLAGS);
  if (values.help) {
    io.out(USAGE + flagHelp(FLAGS));
    return EXIT.ok;
  }
  const peerText = values.peer as string | undefined;
  if (peerText === undefined) throw new UsageError("Give your peer's public key with --peer");
  let peer: Uint8Array, mediatorKey: Uint8Array | undefined;
  try {
    peer = toPublicKey(peerText);
    const pinned = values["mediator-key"] as string | undefined;
    mediatorKey = pinned === undefined ? undefined : toPublicKey(pinned);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  if (values.ipv4 === true && values.ipv6 === true) {
    throw new UsageError("Give at most one of -4 and -6");
  }
  const families: MediatorFamily[] = values.ipv4 === true
    ? ["v4"]
    : values.ipv6 === true
    ? ["v6"]
    : ["v4", "v6"];
  const mediator = (values.mediator as string | undefined) ?? io.env("PEERLINK_MEDIATOR") ??
    "localhost";
  let identity;
  try {
    identity = await loadIdentity(values.key as string);
  } catch (error) {
    if (!(error instanceof IdentityFileError)) throw error;
    io.err(`error: ${error.message}\n`);
    return EXIT.failed;
  }
  if (identity.text === formatPublicKeyText(peer)) {
    throw new UsageError("--peer is your own public key: give your peer's");
  }
  io.err(`You are ${identity.text}\nConnecting to the mediator ${mediator}...\n`);
  let conn;
  try {
    conn = await connect({
      identity,
      peer,
      mediator,
      mediatorKey,
      families,
      waitTimeoutMs: (values.timeout as number) * 1000,
      punchTimeoutMs: (values["punch-timeout"] as number) * 1000,
      relay: values["direct-only"] ? undefined : relayDialer({
        server: (values.relay as string | undefined) ??
          `${mediatorHost(mediator)}:${DEFAULT_RELAY_PORT}`,
      }),
      policy: values["direct-only"] ? "direct-only" : values["relay-only"] ? "relay-only" : "auto",
      signal: io.signal,
      onEvent: (event) => {
        if (event.kind === "registered") io.err("Registered; waiting for your peer...\n");
        if (event.kind === "paired") io.err("Paired; connecting...\n");
      },
    });
  } catch (error) {
    if (io.signal.aborted) {
      io.err("Cancelled\n");
      return EXIT.failed;
    }
    if (
      error instanceof MediatorError || error instanceof NoDirectPathError ||
      error instanceof NoCandidatesError || error instanceof HandshakeError
    ) {
      io.err(`error: ${error.message}\n`);
      return EXIT.failed;
    }
    throw error;
  }
  io.err(
    `Connected to ${formatPublicKeyText(peer)} at ${
      formatSocketAddr(conn.remoteAddr)
    } over ${conn.path}\n`,
  );
  const stdin = io.stdin ?? Deno.stdin.readable;
  const stdout = (io.stdout ?? Deno.stdout.writable).getWriter();
  const stop = new AbortController();
  const signal = AbortSignal.any([io.signal, stop.signal]);
  const fail = (error: unknown): never => {
    stop.abort(error);
    throw error;
  };
  const toPeer = conn.writable.getWriter();
  try {
    await Promise.all([
      pump(stdin, toPeer, signal).then(() => toPeer.close()).catch(fail),
      pump(conn.readable, stdout, signal).catch(fail),
    ]);
    io.err("Done\n");
    return EXIT.ok;
  } catch (error) {
    io.err(
      io.signal.aborted ? "Cancelled\n" : `error: ${(error as Error)?.message ?? String(error)}\n`,
    );
    return EXIT.failed;
  } finally {
    toPeer.releaseLock();
    stdout.releaseLock();
    await conn.close();
  }
}
