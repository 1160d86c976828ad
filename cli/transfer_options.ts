/**
 * What `client.ts send` and `client.ts receive` share: their connection flags, how they turn
 * them into `connectPeer` options, and how they report the connection and failures.
 *
 * @module
 */

import type {
  ConnectionPath,
  ConnectOptions,
  PathPolicy,
  PeerConnection,
} from "../client/connect.ts";
import { relayDialer, type RelayTransport } from "../client/relay.ts";
import { DEFAULT_RELAY_PORT, DEFAULT_RELAY_TLS_PORT } from "../protocol/relay.ts";
import { formatSocketAddr } from "../protocol/socket_addr.ts";
import type { FlagSpec, ParsedFlags } from "./flags.ts";
import { type CliIo, UsageError } from "./io.ts";
import { serverFlags, serverOptions } from "./commands/server_flags.ts";

/** The paths `--path` accepts. */
export const DIRECT_PATHS: readonly ConnectionPath[] = ["direct-tcp", "direct-udp", "relay"];

/**
 * The flags of both commands (server flags, `--gday`, `--path`, `--timeout`, `--json`).
 *
 * @example
 * ```ts
 * import { transferFlags } from "./transfer_options.ts";
 * if (!transferFlags().some((f) => f.name === "gday")) throw new Error("No --gday");
 * ```
 */
export function transferFlags(): FlagSpec[] {
  return [
    ...serverFlags(),
    {
      name: "gday",
      type: "boolean",
      help:
        "Speak gday 0.1.1 (handshake, encryption and file offer) to a gday user; both sides need it",
    },
    {
      name: "path",
      type: "string",
      multiple: true,
      value: "PATH",
      help: `Only try this way to connect (${
        DIRECT_PATHS.join(" or ")
      }; repeat for several; default: all)`,
    },
    {
      name: "relay",
      type: "string",
      value: "HOST[:PORT]|URL",
      help:
        `The relay for when no direct path works (default: the server's host, port ${DEFAULT_RELAY_PORT}, ` +
        `${DEFAULT_RELAY_TLS_PORT} with --tls; ws:// or wss:// URLs go over WebSocket)`,
    },
    { name: "direct-only", type: "boolean", help: "Never use the relay" },
    { name: "relay-only", type: "boolean", help: "Only use the relay (no hole punching)" },
    {
      name: "timeout",
      type: "number",
      value: "SECONDS",
      min: 0.001,
      default: 600,
      help: "Give up waiting for the other side after this long",
    },
    { name: "json", type: "boolean", help: "Print JSON lines (events, then the result)" },
  ];
}

/** What the shared flags resolve to. */
export interface TransferChoice {
  /** Options for `connectPeer` (without `code`, `onCode`, `onEvent`). */
  connect: Pick<
    ConnectOptions,
    "server" | "tls" | "families" | "mode" | "disable" | "rendezvousTimeoutMs" | "relay" | "policy"
  >;
  /** `host:port` of the server, for messages. */
  label: string;
  /** Flags the other side needs to reach the same server, and speak the same mode. */
  hint: string;
  /** `--json` was given. */
  json: boolean;
}

/**
 * Resolve the shared flags.
 *
 * @throws {UsageError} for a bad server address or an unknown `--path`.
 *
 * @example
 * ```ts
 * import { transferOptions } from "./transfer_options.ts";
 * const io = { out: () => {}, err: () => {}, env: () => undefined, isTerminal: false, signal: new AbortController().signal };
 * const choice = transferOptions({ server: ["127.0.0.1:9"], gday: true, path: ["direct-tcp"], timeout: 5 }, io);
 * if (choice.connect.mode !== "gday" || !choice.connect.disable?.includes("direct-udp")) throw new Error();
 * if (choice.hint !== " --server 127.0.0.1:9 --gday") throw new Error(choice.hint);
 * ```
 */
export function transferOptions(values: ParsedFlags["values"], io: CliIo): TransferChoice {
  const server = serverOptions(values, io);
  const paths = (values.path as string[] | undefined) ?? [];
  for (const path of paths) {
    if (!DIRECT_PATHS.includes(path as ConnectionPath)) {
      throw new UsageError(`--path must be one of ${DIRECT_PATHS.join(", ")} (got "${path}")`);
    }
  }
  const gday = values.gday === true;
  if (values["direct-only"] && values["relay-only"]) {
    throw new UsageError("Give at most one of --direct-only and --relay-only");
  }
  const policy: PathPolicy = values["direct-only"]
    ? "direct-only"
    : values["relay-only"]
    ? "relay-only"
    : "auto";
  const tls = server.options.tls;
  const relayText = (values.relay as string | undefined) ??
    `${formatHost(server.options.server[0]!.hostname)}:${
      tls ? DEFAULT_RELAY_TLS_PORT : DEFAULT_RELAY_PORT
    }`;
  const transport: RelayTransport | undefined = /^wss?:\/\//i.test(relayText)
    ? undefined
    : tls
    ? "tls"
    : "tcp";
  return {
    connect: {
      ...server.options,
      mode: gday ? "gday" : "native",
      disable: paths.length === 0 ? [] : DIRECT_PATHS.filter((p) => !paths.includes(p)),
      rendezvousTimeoutMs: (values.timeout as number) * 1000,
      policy,
      relay: gday || policy === "direct-only"
        ? undefined
        : relayDialer({ server: relayText, transport, tls: tls || undefined }),
    },
    label: server.label,
    hint: server.hint + (gday ? " --gday" : "") +
      (values.relay !== undefined ? ` --relay ${values.relay}` : "") +
      (policy !== "auto" ? ` --${policy}` : ""),
    json: values.json === true,
  };
}

function formatHost(hostname: string): string {
  return hostname.includes(":") ? `[${hostname}]` : hostname;
}

/**
 * The line (and JSON) saying how the peers are connected.
 *
 * @example
 * ```ts ignore
 * io.err(connectedText(conn).text);
 * ```
 */
export function connectedText(
  conn: PeerConnection,
): { text: string; json: Record<string, unknown> } {
  const remote = formatSocketAddr(conn.remoteAddr);
  return {
    text: `Connected to ${remote} over ${conn.path} (encrypted, ${conn.mode} mode)\n`,
    json: { event: "connected", path: conn.path, remote, mode: conn.mode },
  };
}

/**
 * An error as one line for people, and as JSON.
 *
 * @example
 * ```ts
 * import { failure } from "./transfer_options.ts";
 * const { text, json } = failure(new RangeError("Bad"));
 * if (text !== "error: Bad\n" || json.error !== "RangeError") throw new Error(text);
 * ```
 */
export function failure(error: unknown): { text: string; json: Record<string, unknown> } {
  const name = error instanceof Error ? error.name : "Error";
  const message = error instanceof Error ? error.message : String(error);
  return {
    text: `error: ${message}\n`,
    json: { event: "error", ok: false, error: name, message },
  };
}
