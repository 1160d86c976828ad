/**
 * The services `server.ts` can run besides gday, each with its own flags. To add one: write
 * `cli/services/<name>.ts` exporting a {@linkcode CliService} and list it in
 * {@linkcode CLI_SERVICES}.
 *
 * @module
 */

import type { ServiceFactory } from "../server/plugin.ts";
import type { FlagSpec, ParsedFlags } from "./flags.ts";
import { chatCliService } from "./services/chat.ts";
import { stunCliService } from "./services/stun.ts";
import { relayCliService } from "./services/relay.ts";
import { httpCliService } from "./services/http.ts";
import { mediatorCliService } from "./services/mediator.ts";
import { brokerCliService } from "./services/broker.ts";
import { metricsCliService } from "./services/metrics.ts";

/** A service's command-line face: its flags and how they make the service. */
export interface CliService {
  /** The service name, as in its listener lines. */
  readonly name: string;
  /** Its flags (port first), shown in `server.ts --help`. */
  readonly flags: readonly FlagSpec[];
  /**
   * Make the service from the parsed flags (every server flag is in `values`), or `null` when
   * its flags turn it off. Throw a `UsageError` for bad combinations.
   */
  build(values: ParsedFlags["values"]): ServiceFactory | null | Promise<ServiceFactory | null>;
}

/** Every optional service, in the order their listeners start. */
export const CLI_SERVICES: readonly CliService[] = [
  chatCliService,
  stunCliService,
  mediatorCliService,
  relayCliService,
  httpCliService,
  brokerCliService,
  metricsCliService,
];
