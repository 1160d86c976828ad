/**
 * `server.ts` flags of the connection broker: `--broker-port` (off unless given),
 * `--broker-keepalive`, `--broker-timeout`, `--broker-step-timeout`, `--broker-max-receivers` and
 * `--broker-max-pending`.
 *
 * @module
 */

import {
  DEFAULT_BROKER_DROP_TIMEOUT_MS,
  DEFAULT_BROKER_KEEPALIVE_MS,
  DEFAULT_BROKER_PORT,
} from "../../protocol/broker.ts";
import {
  brokerPlugin,
  DEFAULT_BROKER_MAX_PENDING,
  DEFAULT_BROKER_MAX_RECEIVERS,
  DEFAULT_BROKER_STEP_TIMEOUT_MS,
} from "../../server/services/broker.ts";
import type { ServiceFactory } from "../../server/plugin.ts";
import type { ParsedFlags } from "../flags.ts";
import { UsageError } from "../io.ts";
import type { CliService } from "../server_services.ts";

function build(values: ParsedFlags["values"]): ServiceFactory | null {
  const port = values["broker-port"];
  if (port === undefined) return null;
  const keepAliveMs = Math.round((values["broker-keepalive"] as number) * 1000);
  const dropTimeoutMs = Math.round((values["broker-timeout"] as number) * 1000);
  if (keepAliveMs >= dropTimeoutMs) {
    throw new UsageError(
      `--broker-keepalive (${keepAliveMs / 1000} s) must be shorter than --broker-timeout ` +
        `(${dropTimeoutMs / 1000} s)`,
    );
  }
  return brokerPlugin({
    port: port as number,
    keepAliveMs,
    dropTimeoutMs,
    stepTimeoutMs: Math.round((values["broker-step-timeout"] as number) * 1000),
    maxReceivers: values["broker-max-receivers"] as number,
    maxPendingPerReceiver: values["broker-max-pending"] as number,
  });
}

/**
 * The broker's command-line face.
 *
 * @example
 * ```ts
 * import { brokerCliService } from "./broker.ts";
 * import { parseFlags } from "../flags.ts";
 * const flags = brokerCliService.flags;
 * if (brokerCliService.build(parseFlags([], flags).values) !== null) throw new Error("On without a port");
 * if (typeof brokerCliService.build(parseFlags(["--broker-port", "0"], flags).values) !== "function") {
 *   throw new Error("Not on");
 * }
 * ```
 */
export const brokerCliService: CliService = {
  name: "broker",
  flags: [
    {
      name: "broker-port",
      type: "integer",
      value: "PORT",
      min: 0,
      max: 65535,
      help:
        `Connection broker (p2prs twelve-step flow) over TCP; off unless given (clients default to ${DEFAULT_BROKER_PORT}; 0: any free port)`,
    },
    {
      name: "broker-keepalive",
      type: "number",
      value: "SECONDS",
      min: 0.001,
      default: DEFAULT_BROKER_KEEPALIVE_MS / 1000,
      help: "Keep-alive interval the broker tells receivers",
    },
    {
      name: "broker-timeout",
      type: "number",
      value: "SECONDS",
      min: 0.001,
      default: DEFAULT_BROKER_DROP_TIMEOUT_MS / 1000,
      help: "Drop a receiver that sends nothing for this long",
    },
    {
      name: "broker-step-timeout",
      type: "number",
      value: "SECONDS",
      min: 0.001,
      default: DEFAULT_BROKER_STEP_TIMEOUT_MS / 1000,
      help: "Give up a connection request when a step takes longer than this",
    },
    {
      name: "broker-max-receivers",
      type: "integer",
      value: "N",
      min: 1,
      default: DEFAULT_BROKER_MAX_RECEIVERS,
      help: "Receivers registered at once (each holds a connection: see --max-connections)",
    },
    {
      name: "broker-max-pending",
      type: "integer",
      value: "N",
      min: 1,
      default: DEFAULT_BROKER_MAX_PENDING,
      help: "Connection requests in progress per receiver before senders get 'busy'",
    },
  ],
  build,
};
