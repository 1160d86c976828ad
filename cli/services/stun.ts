/**
 * `server.ts` flags of the STUN service: `--no-stun`, `--stun-port`, `--stun-alt-port`,
 * `--stun-alt-host` and `--stun-rate-limit`.
 *
 * @module
 */

import { DEFAULT_STUN_ALT_PORT, DEFAULT_STUN_PORT } from "../../protocol/stun.ts";
import { parseIpv4, parseIpv6 } from "../../protocol/socket_addr.ts";
import type { ServiceFactory } from "../../server/plugin.ts";
import { DEFAULT_STUN_REQUESTS_PER_MINUTE, stunPlugin } from "../../server/services/stun.ts";
import type { ParsedFlags } from "../flags.ts";
import { UsageError } from "../io.ts";
import type { CliService } from "../server_services.ts";

const PORT = { min: 0, max: 65535, value: "PORT" } as const;

function family(ip: string): "v4" | "v6" | null {
  return parseIpv4(ip) !== null ? "v4" : parseIpv6(ip) !== null ? "v6" : null;
}

function build(values: ParsedFlags["values"]): ServiceFactory | null {
  if (values.stun === false) return null;
  const port = values["stun-port"] as number;
  const altPort = values["stun-alt-port"] as number;
  const altHost = (values["stun-alt-host"] as string | undefined) ?? null;
  if (port === altPort && port !== 0) {
    throw new UsageError(`--stun-port and --stun-alt-port are both ${port}: give two ports`);
  }
  if (altHost !== null) {
    const host = String(values.host ?? "::");
    const altFamily = family(altHost);
    if (altFamily === null || altHost === "::" || altHost === "0.0.0.0") {
      throw new UsageError(
        `--stun-alt-host must be one IP address of this machine (got "${altHost}")`,
      );
    }
    if (family(host) !== altFamily || host === "::" || host === "0.0.0.0" || host === altHost) {
      throw new UsageError(
        `--stun-alt-host needs --host set to another address of this machine, of the same IP ` +
          `family (got --host ${host})`,
      );
    }
    if (port === 0 || altPort === 0) {
      throw new UsageError("--stun-alt-host needs fixed ports: --stun-port and --stun-alt-port");
    }
  }
  return stunPlugin({
    port,
    altPort,
    altHost,
    requestsPerMinute: values["stun-rate-limit"] as number,
  });
}

/**
 * The STUN service's command-line face.
 *
 * @example
 * ```ts
 * import { stunCliService } from "./stun.ts";
 * import { parseFlags } from "../flags.ts";
 * const flags = [{ name: "host", type: "string", help: "", default: "::" } as const, ...stunCliService.flags];
 * if (stunCliService.build(parseFlags(["--no-stun"], flags).values) !== null) throw new Error("Not off");
 * if (stunCliService.build(parseFlags([], flags).values) === null) throw new Error("Not on");
 * ```
 */
export const stunCliService: CliService = {
  name: "stun",
  flags: [
    {
      name: "stun",
      type: "boolean",
      default: true,
      help: "Answer STUN (NAT reports, public addresses); --no-stun turns it off",
    },
    {
      name: "stun-port",
      type: "integer",
      ...PORT,
      default: DEFAULT_STUN_PORT,
      help: "STUN over UDP (0: any free port)",
    },
    {
      name: "stun-alt-port",
      type: "integer",
      ...PORT,
      default: DEFAULT_STUN_ALT_PORT,
      help: "Second STUN port, answers change-port requests (0: any free port)",
    },
    {
      name: "stun-alt-host",
      type: "string",
      value: "ADDR",
      help: "Second IP of this machine, answers change-IP requests; needs --host ADDR, fixed ports",
    },
    {
      name: "stun-rate-limit",
      type: "integer",
      value: "N",
      min: 0,
      default: DEFAULT_STUN_REQUESTS_PER_MINUTE,
      help: "STUN requests per minute per client IP (IPv6: per /64); 0 = no limit",
    },
  ],
  build,
};
