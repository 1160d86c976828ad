/**
 * `server.ts` flags of the HTTP(S) service: `--http-port` and `--https-port`. The service is off
 * unless one of them is given. Other services add routes to the same table through
 * {@linkcode httpRoutesFor} (the relay adds `GET /relay`; the metrics routes `GET /healthz`,
 * `GET /readyz` and `GET /metrics`).
 *
 * @module
 */

import { httpPlugin, HttpRoutes } from "../../server/services/http.ts";
import type { ParsedFlags } from "../flags.ts";
import { UsageError } from "../io.ts";
import type { CliService } from "../server_services.ts";

const PORT = { min: 0, max: 65535, value: "PORT" } as const;

const ROUTES = new WeakMap<ParsedFlags["values"], HttpRoutes>();

/**
 * The route table of one `server.ts` run: the same object for the same parsed flags, so that
 * services built from them share it.
 *
 * @example
 * ```ts
 * import { httpRoutesFor } from "./http.ts";
 * const values = {};
 * if (httpRoutesFor(values) !== httpRoutesFor(values)) throw new Error("Not shared");
 * if (httpRoutesFor(values) === httpRoutesFor({})) throw new Error("Shared across runs");
 * ```
 */
export function httpRoutesFor(values: ParsedFlags["values"]): HttpRoutes {
  let routes = ROUTES.get(values);
  if (routes === undefined) {
    routes = new HttpRoutes();
    ROUTES.set(values, routes);
  }
  return routes;
}

/**
 * Whether the flags turn the HTTP(S) service on.
 *
 * @example
 * ```ts
 * import { httpEnabled } from "./http.ts";
 * if (httpEnabled({}) || !httpEnabled({ "https-port": 443 })) throw new Error("Wrong answer");
 * ```
 */
export function httpEnabled(values: ParsedFlags["values"]): boolean {
  return values["http-port"] !== undefined || values["https-port"] !== undefined;
}

/**
 * The HTTP(S) service's command-line face.
 *
 * @example
 * ```ts
 * import { httpCliService } from "./http.ts";
 * if ((await httpCliService.build({})) !== null) throw new Error("On without a port");
 * const factory = await httpCliService.build({ host: "127.0.0.1", "http-port": 0 });
 * if (typeof factory !== "function") throw new Error("No factory");
 * ```
 */
export const httpCliService: CliService = {
  name: "http",
  flags: [
    {
      name: "http-port",
      type: "integer",
      ...PORT,
      help:
        "HTTP: /healthz, /readyz, /metrics and the WebSocket relay at /relay; off unless given " +
        "(0: any free port)",
    },
    {
      name: "https-port",
      type: "integer",
      ...PORT,
      help: "HTTPS (the same routes), with --tls-cert and --tls-key; off unless given",
    },
  ],
  async build(values) {
    if (!httpEnabled(values)) return null;
    const port = values["http-port"] as number | undefined;
    const tlsPort = values["https-port"] as number | undefined;
    const certFile = values["tls-cert"] as string | undefined;
    const keyFile = values["tls-key"] as string | undefined;
    if (port !== undefined && port === tlsPort && port !== 0) {
      throw new UsageError(`--http-port and --https-port are both ${port}: give two ports`);
    }
    // Without a certificate the HTTPS port is skipped (with a warning), like --gday-tls-port.
    const tls = tlsPort !== undefined && certFile !== undefined && keyFile !== undefined
      ? { cert: await Deno.readTextFile(certFile), key: await Deno.readTextFile(keyFile) }
      : null;
    return httpPlugin({
      routes: httpRoutesFor(values),
      hostname: String(values.host ?? "::"),
      port: port ?? null,
      tlsPort: tlsPort ?? null,
      tls,
    });
  },
};
