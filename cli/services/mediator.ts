/**
 * `server.ts` flags of the mediator (p2psc-compatible and native modes on one port). The service
 * is off unless `--mediator-port` is given; peerlink clients dial 2312 by default, p2psc has no
 * default port.
 *
 * @module
 */

import { loadIdentity } from "../../client/identity.ts";
import { DEFAULT_MEDIATOR_PORT } from "../../protocol/mediator.ts";
import {
  DEFAULT_MEDIATOR_MAX_MESSAGE_BYTES,
  DEFAULT_MEDIATOR_MAX_PENDING,
  DEFAULT_MEDIATOR_STEP_TIMEOUT_MS,
  DEFAULT_MEDIATOR_WAIT_MS,
  mediatorPlugin,
} from "../../server/services/mediator.ts";
import type { ServiceFactory } from "../../server/plugin.ts";
import type { ParsedFlags } from "../flags.ts";
import type { CliService } from "../server_services.ts";

async function build(values: ParsedFlags["values"]): Promise<ServiceFactory | null> {
  const port = values["mediator-port"];
  if (port === undefined) return null;
  const keyFile = values["mediator-key"] as string | undefined;
  const modes = (values["mediator-modes"] as string | undefined) ?? "both";
  return mediatorPlugin({
    port: port as number,
    identity: keyFile === undefined ? undefined : await loadIdentity(keyFile),
    modes: { p2psc: modes !== "native", native: modes !== "p2psc" },
    waitTimeoutMs: (values["mediator-wait"] as number) * 1000,
    stepTimeoutMs: (values["mediator-timeout"] as number) * 1000,
    maxPending: values["mediator-max-pending"] as number,
    maxMessageBytes: values["mediator-max-message"] as number,
  });
}

/**
 * The mediator's command-line face: `--mediator-port` (off when absent), `--mediator-key`,
 * `--mediator-modes`, `--mediator-wait`, `--mediator-timeout`, `--mediator-max-pending` and
 * `--mediator-max-message`.
 *
 * @example
 * ```ts
 * import { mediatorCliService } from "./mediator.ts";
 * import { parseFlags } from "../flags.ts";
 * if ((await mediatorCliService.build(parseFlags([], mediatorCliService.flags).values)) !== null) throw new Error("On by default");
 * const on = await mediatorCliService.build(parseFlags(["--mediator-port", "0"], mediatorCliService.flags).values);
 * if (typeof on !== "function") throw new Error("No factory");
 * ```
 */
export const mediatorCliService: CliService = {
  name: "mediator",
  flags: [
    {
      name: "mediator-port",
      type: "integer",
      value: "PORT",
      min: 0,
      max: 65535,
      help:
        `Mediator: pairs peers by public key, p2psc and native clients on one port (peerlink clients use ${DEFAULT_MEDIATOR_PORT}); off unless given (0: any free port)`,
    },
    {
      name: "mediator-key",
      type: "string",
      value: "FILE",
      help:
        "Mediator's identity for native mode (a client.ts keygen file); default: new each start",
    },
    {
      name: "mediator-modes",
      type: "string",
      value: "MODES",
      choices: ["both", "native", "p2psc"],
      default: "both",
      help: "Which mediator modes to serve: both, native or p2psc",
    },
    {
      name: "mediator-wait",
      type: "number",
      value: "SECONDS",
      min: 0.001,
      default: DEFAULT_MEDIATOR_WAIT_MS / 1000,
      help: "How long a mediator registration waits for its peer",
    },
    {
      name: "mediator-timeout",
      type: "number",
      value: "SECONDS",
      min: 0.001,
      default: DEFAULT_MEDIATOR_STEP_TIMEOUT_MS / 1000,
      help: "How long the mediator waits for each message of a client",
    },
    {
      name: "mediator-max-pending",
      type: "integer",
      value: "N",
      min: 1,
      default: DEFAULT_MEDIATOR_MAX_PENDING,
      help: "Mediator registrations waiting at once (per mode)",
    },
    {
      name: "mediator-max-message",
      type: "integer",
      value: "BYTES",
      min: 1024,
      max: 1024 * 1024,
      default: DEFAULT_MEDIATOR_MAX_MESSAGE_BYTES,
      help: "Largest mediator message accepted",
    },
  ],
  build,
};
