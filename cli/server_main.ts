/**
 * `server.ts`: run the peerlink server from the command line.
 *
 * @module
 */

import { DEFAULT_GDAY_TCP_PORT, DEFAULT_GDAY_TLS_PORT } from "../protocol/gday.ts";
import { createLogger, LOG_LEVELS, type LogFormat, type LogLevel } from "../server/logger.ts";
import { DEFAULT_LIMITS, startServer } from "../server/server.ts";
import { flagHelp, type FlagSpec, parseFlags } from "./flags.ts";
import { type CliIo, EXIT, UsageError } from "./io.ts";
import { CLI_SERVICES } from "./server_services.ts";
import { configFallback, readConfigFile } from "./config.ts";
import type { RedisConnection } from "../server/redis/connection.ts";

const PORT = { min: 0, max: 65535, value: "PORT" } as const;

/** The core flags of `server.ts` (each service adds its own, see `server_services.ts`). */
export const CORE_FLAGS: readonly FlagSpec[] = [
  {
    name: "config",
    type: "string",
    value: "FILE",
    help:
      "Read settings from a JSON file (keys are flag names); flags and PEERLINK_* variables win",
  },
  { name: "print-config", type: "boolean", help: "Print the effective settings as JSON and exit" },
  {
    name: "host",
    type: "string",
    value: "ADDR",
    default: "::",
    help: "Address to listen on; :: takes IPv6 and IPv4",
  },
  {
    name: "gday-port",
    type: "integer",
    ...PORT,
    default: DEFAULT_GDAY_TCP_PORT,
    help: "gday contact exchange over plain TCP (0: any free port)",
  },
  {
    name: "gday-tls-port",
    type: "integer",
    ...PORT,
    default: DEFAULT_GDAY_TLS_PORT,
    help: "gday contact exchange over TLS; needs --tls-cert and --tls-key",
  },
  { name: "tls-cert", type: "string", value: "FILE", help: "TLS certificate chain (PEM)" },
  { name: "tls-key", type: "string", value: "FILE", help: "TLS private key (PEM)" },
  {
    name: "room-ttl",
    type: "number",
    value: "SECONDS",
    min: 0.001,
    default: DEFAULT_LIMITS.roomTtlMs / 1000,
    help: "A room's lifetime from its creation",
  },
  {
    name: "rate-limit",
    type: "integer",
    value: "N",
    min: 0,
    default: DEFAULT_LIMITS.requestsPerMinute,
    help: "Requests per minute per client IP (IPv6: per /64); 0 = no limit",
  },
  {
    name: "max-rooms",
    type: "integer",
    value: "N",
    min: 1,
    default: DEFAULT_LIMITS.maxRooms,
    help: "Rooms held at once",
  },
  {
    name: "max-connections",
    type: "integer",
    value: "N",
    min: 1,
    default: DEFAULT_LIMITS.maxConnections,
    help: "Open client connections in all",
  },
  {
    name: "max-connections-per-ip",
    type: "integer",
    value: "N",
    min: 1,
    default: DEFAULT_LIMITS.maxConnectionsPerIp,
    help: "Open client connections per client IP (IPv6: per /64)",
  },
  {
    name: "max-frame-bytes",
    type: "integer",
    value: "N",
    min: 64,
    max: 16 * 1024 * 1024,
    default: DEFAULT_LIMITS.maxFrameBytes,
    help: "Largest message accepted",
  },
  {
    name: "idle-timeout",
    type: "number",
    value: "SECONDS",
    min: 0.001,
    default: DEFAULT_LIMITS.idleTimeoutMs / 1000,
    help: "Close a connection that sends nothing for this long",
  },
  {
    name: "redis",
    type: "string",
    value: "URL",
    help:
      "Keep shared state in Redis (redis:// or rediss://) so several server processes act as one",
  },
  {
    name: "redis-prefix",
    type: "string",
    value: "PREFIX",
    default: "peerlink:",
    help: "Prefix of every Redis key and channel (one Redis can serve several clusters)",
  },
  {
    name: "log-format",
    type: "string",
    value: "FORMAT",
    choices: ["text", "json"],
    default: "text",
    help: "Log lines as text or JSON (on stderr)",
  },
  {
    name: "log-level",
    type: "string",
    value: "LEVEL",
    choices: LOG_LEVELS,
    default: "info",
    help: "Least severe lines logged: info, warn or error",
  },
];

/** Every flag of `server.ts`: the core ones, then each service's. */
export const SERVER_FLAGS: readonly FlagSpec[] = [
  ...CORE_FLAGS,
  ...CLI_SERVICES.flatMap((s) => s.flags),
];

const ENV_HELP = `
Every flag can also be set by an environment variable PEERLINK_<FLAG> (PEERLINK_GDAY_PORT=2310;
booleans take true or false: PEERLINK_STUN=false) or in the --config JSON file
({"gday-port": 2310, "stun": false}). Flags win over the environment, which wins over the file.
`;

const USAGE = `peerlink server: contact exchange (gday 0.1.1 compatible) for peers behind NAT

Usage:
  deno run -A server.ts [options]

Examples:
  deno run -A server.ts                                  # gday on [::]:2310
  deno run -A server.ts --tls-cert cert.pem --tls-key key.pem   # also TLS on 2311
  deno run -A server.ts --host 127.0.0.1 --gday-port 0   # a free port, loopback only

Options:
`;

/**
 * Run the server until SIGINT/SIGTERM (`io.signal`); resolves with the exit code.
 *
 * @example Print the help
 * ```ts
 * import { runServer } from "./server_main.ts";
 * let text = "";
 * const io = { out: (t: string) => void (text += t), err: () => {}, env: () => undefined, isTerminal: false, signal: new AbortController().signal };
 * if (await runServer(["--help"], io) !== 0 || !text.includes("--gday-port")) throw new Error("No help");
 * ```
 */
export async function runServer(args: readonly string[], io: CliIo): Promise<number> {
  let values;
  try {
    // Pass 1 finds --config (or PEERLINK_CONFIG); pass 2 reads everything with the fallbacks.
    const first = parseFlags(args, SERVER_FLAGS, false, configFallback(io.env)).values;
    const config = typeof first.config === "string" && !first.help
      ? await readConfigFile(first.config, SERVER_FLAGS)
      : {};
    ({ values } = parseFlags(args, SERVER_FLAGS, false, configFallback(io.env, config)));
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    io.err(`error: ${error.message}\nRun with --help to see every option.\n`);
    return EXIT.usage;
  }
  if (values.help) {
    io.out(USAGE + flagHelp(SERVER_FLAGS) + ENV_HELP);
    return EXIT.ok;
  }
  if (values["print-config"]) {
    const shown = Object.fromEntries(
      SERVER_FLAGS.filter((s) => s.name !== "config" && s.name !== "print-config").map((
        s,
      ) => [s.name, values[s.name] ?? null]),
    );
    if (typeof shown.redis === "string") {
      shown.redis = shown.redis.replace(/^(rediss?:\/\/[^:@/]*:)[^@/]*@/, "$1***@");
    }
    io.out(JSON.stringify(shown, null, 2) + "\n");
    return EXIT.ok;
  }
  const certFile = values["tls-cert"] as string | undefined;
  const keyFile = values["tls-key"] as string | undefined;
  if ((certFile === undefined) !== (keyFile === undefined)) {
    io.err("error: TLS needs both --tls-cert and --tls-key\n");
    return EXIT.usage;
  }
  const logger = createLogger({
    format: values["log-format"] as LogFormat,
    level: values["log-level"] as LogLevel,
    print: (line) => io.err(line + "\n"),
  });
  let tls = null;
  if (certFile !== undefined && keyFile !== undefined) {
    try {
      tls = { cert: await Deno.readTextFile(certFile), key: await Deno.readTextFile(keyFile) };
    } catch (error) {
      io.err(`error: cannot read the TLS certificate or key: ${(error as Error).message}\n`);
      return EXIT.failed;
    }
  }
  let redis: RedisConnection | null = null;
  const redisUrl = values.redis as string | undefined;
  if (redisUrl !== undefined) {
    // Loaded only when asked for, so a server without Redis never loads the client.
    const { connectRedis } = await import("../server/redis/connection.ts");
    try {
      redis = await connectRedis({
        url: redisUrl,
        prefix: values["redis-prefix"] as string,
        logger,
      });
    } catch (error) {
      if (!(error instanceof RangeError)) throw error;
      io.err(`error: --redis: ${error.message}\n`);
      return EXIT.usage;
    }
  }
  let server;
  try {
    const services = [];
    for (const service of CLI_SERVICES) {
      const factory = await service.build(values);
      if (factory !== null) services.push(factory);
    }
    server = await startServer({
      services,
      hostname: values.host as string,
      gdayPort: values["gday-port"] as number,
      gdayTlsPort: values["gday-tls-port"] as number,
      tls,
      logger,
      redis,
      limits: {
        roomTtlMs: (values["room-ttl"] as number) * 1000,
        requestsPerMinute: values["rate-limit"] as number,
        maxRooms: values["max-rooms"] as number,
        maxConnections: values["max-connections"] as number,
        maxConnectionsPerIp: values["max-connections-per-ip"] as number,
        maxFrameBytes: values["max-frame-bytes"] as number,
        idleTimeoutMs: (values["idle-timeout"] as number) * 1000,
      },
    });
  } catch (error) {
    await redis?.close();
    if (error instanceof UsageError) {
      io.err(`error: ${error.message}\n`);
      return EXIT.usage;
    }
    const hint = error instanceof Deno.errors.AddrInUse
      ? " (another program uses the port: pick another with --gday-port)"
      : error instanceof Deno.errors.PermissionDenied
      ? " (ports below 1024 need privileges)"
      : "";
    io.err(`error: cannot start the server: ${(error as Error).message}${hint}\n`);
    return EXIT.failed;
  }
  await new Promise<void>((resolve) => {
    if (io.signal.aborted) return resolve();
    io.signal.addEventListener("abort", () => resolve(), { once: true });
  });
  logger.log("info", "shutting_down", { open_connections: server.openConnections });
  await server.close();
  await redis?.close();
  return EXIT.ok;
}
