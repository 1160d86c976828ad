/**
 * `server.ts` flags of the relay: `--relay`, `--relay-port`, `--relay-tls-port` and the limits.
 * The relay is off unless `--relay`, `--relay-port` or `--relay-tls-port` is given; with
 * `--http-port` or `--https-port` it is also served as a WebSocket at `GET /relay`.
 *
 * @module
 */

import { DEFAULT_RELAY_PORT, DEFAULT_RELAY_TLS_PORT } from "../../protocol/relay.ts";
import { DEFAULT_RELAY_LIMITS, relayPlugin } from "../../server/services/relay.ts";
import { UsageError } from "../io.ts";
import type { CliService } from "../server_services.ts";
import { httpEnabled, httpRoutesFor } from "./http.ts";

const PORT = { min: 0, max: 65535, value: "PORT" } as const;

/**
 * The relay's command-line face.
 *
 * @example
 * ```ts
 * import { relayCliService } from "./relay.ts";
 * import { parseFlags } from "../flags.ts";
 * if (relayCliService.build(parseFlags(["--no-relay"], relayCliService.flags).values) !== null) {
 *   throw new Error("--no-relay ignored");
 * }
 * const factory = relayCliService.build(parseFlags(["--relay-port", "0"], relayCliService.flags).values);
 * if (typeof factory !== "function") throw new Error("No factory");
 * ```
 */
export const relayCliService: CliService = {
  name: "relay",
  flags: [
    {
      name: "relay",
      type: "boolean",
      default: true,
      help: "Relay for peers with no direct path; --no-relay turns it off",
    },
    {
      name: "relay-port",
      type: "integer",
      ...PORT,
      default: DEFAULT_RELAY_PORT,
      help: "Relay over plain TCP (0: any free port)",
    },
    {
      name: "relay-tls-port",
      type: "integer",
      ...PORT,
      default: DEFAULT_RELAY_TLS_PORT,
      help: "Relay over TLS; only with --tls-cert and --tls-key",
    },
    {
      name: "relay-max-bytes",
      type: "integer",
      value: "BYTES",
      min: 0,
      default: DEFAULT_RELAY_LIMITS.maxCircuitBytes,
      help: "Bytes relayed per circuit, both directions together; 0 = no limit",
    },
    {
      name: "relay-max-duration",
      type: "number",
      value: "SECONDS",
      min: 0,
      default: DEFAULT_RELAY_LIMITS.maxCircuitDurationMs / 1000,
      help: "A relay circuit's lifetime; 0 = no limit",
    },
    {
      name: "relay-rate",
      type: "integer",
      value: "BYTES",
      min: 0,
      default: DEFAULT_RELAY_LIMITS.bytesPerSecond,
      help: "Bytes per second per relay circuit, each direction; 0 = no limit",
    },
    {
      name: "relay-max-circuits-per-ip",
      type: "integer",
      value: "N",
      min: 1,
      default: DEFAULT_RELAY_LIMITS.maxCircuitsPerIp,
      help: "Relay circuits (waiting or open) per client IP (IPv6: per /64)",
    },
    {
      name: "relay-wait-timeout",
      type: "number",
      value: "SECONDS",
      min: 0.001,
      default: DEFAULT_RELAY_LIMITS.waitTimeoutMs / 1000,
      help: "How long the first peer of a relay circuit waits for the second",
    },
  ],
  build(values) {
    if (values.relay === false) return null;
    const port = values["relay-port"] as number;
    const tlsPort = values["relay-tls-port"] as number;
    if (port === tlsPort && port !== 0) {
      throw new UsageError(`--relay-port and --relay-tls-port are both ${port}: give two ports`);
    }
    const websocket = httpEnabled(values);
    const number = (name: string, fallback: number): number =>
      (values[name] as number | undefined) ?? fallback;
    return relayPlugin({
      port,
      tlsPort,
      routes: websocket ? httpRoutesFor(values) : null,
      limits: {
        maxCircuitBytes: number("relay-max-bytes", DEFAULT_RELAY_LIMITS.maxCircuitBytes),
        maxCircuitDurationMs: number(
          "relay-max-duration",
          DEFAULT_RELAY_LIMITS.maxCircuitDurationMs / 1000,
        ) * 1000,
        bytesPerSecond: number("relay-rate", DEFAULT_RELAY_LIMITS.bytesPerSecond),
        maxCircuitsPerIp: number(
          "relay-max-circuits-per-ip",
          DEFAULT_RELAY_LIMITS.maxCircuitsPerIp,
        ),
        waitTimeoutMs: number("relay-wait-timeout", DEFAULT_RELAY_LIMITS.waitTimeoutMs / 1000) *
          1000,
      },
    });
  },
};
