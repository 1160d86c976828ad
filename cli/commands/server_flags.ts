/**
 * The flags every client command shares to reach a server: `--server`, `--tls`, `--ca`,
 * `--insecure`, `--ipv4`, `--ipv6`.
 *
 * @module
 */

import type { Family } from "../../client/exchange.ts";
import {
  formatServerAddress,
  parseServerAddress,
  type ServerAddress,
} from "../../client/server_address.ts";
import { DEFAULT_GDAY_TCP_PORT, DEFAULT_GDAY_TLS_PORT } from "../../protocol/gday.ts";
import type { ClientTlsOptions } from "../../net/tcp.ts";
import type { FlagSpec, ParsedFlags } from "../flags.ts";
import { type CliIo, UsageError } from "../io.ts";

/** The environment variable naming the default server. */
export const SERVER_ENV = "PEERLINK_SERVER";

/**
 * The flag specs.
 *
 * @example
 * ```ts
 * import { serverFlags } from "./server_flags.ts";
 * if (!serverFlags().some((f) => f.name === "server")) throw new Error("No --server");
 * ```
 */
export function serverFlags(): FlagSpec[] {
  return [
    {
      name: "server",
      type: "string",
      multiple: true,
      value: "HOST[:PORT]",
      help: `The server (default: $${SERVER_ENV} or localhost; port 2310, 2311 with --tls); ` +
        "repeat to give its IPv4 and IPv6 addresses",
    },
    { name: "tls", type: "boolean", help: "Connect with TLS" },
    {
      name: "ca",
      type: "string",
      value: "FILE",
      help: "Trust this CA certificate (PEM) too, e.g. a self-signed server's",
    },
    {
      name: "insecure",
      type: "boolean",
      help: "With --tls: accept any certificate (testing only)",
    },
    { name: "ipv4", type: "boolean", short: "4", help: "Use IPv4 only" },
    { name: "ipv6", type: "boolean", short: "6", help: "Use IPv6 only" },
  ];
}

/** What the shared flags resolve to. */
export interface ServerChoice {
  /** Options for the client library. */
  options: { server: ServerAddress[]; tls: ClientTlsOptions | false; families: Family[] };
  /** `host:port` for messages. */
  label: string;
  /** Flags the other person needs to reach the same server (may be empty). */
  hint: string;
}

/**
 * Resolve the shared flags.
 *
 * @example
 * ```ts
 * import { serverOptions } from "./server_flags.ts";
 * const io = { out: () => {}, err: () => {}, env: () => undefined, isTerminal: false, signal: new AbortController().signal };
 * const choice = serverOptions({ server: "example.org", tls: true }, io);
 * if (choice.label !== "example.org:2311") throw new Error(choice.label);
 * ```
 */
export function serverOptions(values: ParsedFlags["values"], io: CliIo): ServerChoice {
  const tlsOn = values.tls === true || values.ca !== undefined || values.insecure === true;
  const given = values.server as string[] | string | undefined;
  const texts = given === undefined || given.length === 0
    ? (io.env(SERVER_ENV) ?? "localhost").split(",")
    : typeof given === "string"
    ? [given]
    : given;
  let server: ServerAddress[];
  try {
    server = texts.map((text) =>
      parseServerAddress(text, tlsOn ? DEFAULT_GDAY_TLS_PORT : DEFAULT_GDAY_TCP_PORT)
    );
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  let tls: ClientTlsOptions | false = false;
  if (tlsOn) {
    tls = { insecure: values.insecure === true };
    if (values.ca !== undefined) {
      try {
        tls.caCerts = [Deno.readTextFileSync(values.ca as string)];
      } catch (error) {
        throw new UsageError(`Cannot read --ca ${values.ca}: ${(error as Error).message}`);
      }
    }
  }
  if (values.ipv4 && values.ipv6) throw new UsageError("Give at most one of --ipv4 and --ipv6");
  const families: Family[] = values.ipv4 ? ["v4"] : values.ipv6 ? ["v6"] : ["v6", "v4"];
  const label = server.map(formatServerAddress).join(", ");
  const hint =
    (given !== undefined ? server.map((s) => ` --server ${formatServerAddress(s)}`).join("") : "") +
    (tlsOn ? " --tls" : "");
  return { options: { server, tls, families }, label, hint };
}
