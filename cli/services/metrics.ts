/**
 * `server.ts` flag of the health and metrics routes: `--metrics` (on by default). With the HTTP
 * service on (`--http-port` or `--https-port`), `GET /healthz`, `GET /readyz` and
 * `GET /metrics` answer on its ports; `--no-metrics` leaves them out. `--http-port` alone (with
 * `--no-relay`) runs the HTTP service for these routes only.
 *
 * @module
 */

import { metricsPlugin } from "../../server/services/metrics.ts";
import type { CliService } from "../server_services.ts";
import { httpEnabled, httpRoutesFor } from "./http.ts";
import config from "../../deno.json" with { type: "json" };

/**
 * The metrics routes' command-line face.
 *
 * @example
 * ```ts
 * import { metricsCliService } from "./metrics.ts";
 * if (metricsCliService.build({ metrics: true }) !== null) throw new Error("On without an HTTP port");
 * if (metricsCliService.build({ metrics: false, "http-port": 0 }) !== null) throw new Error("Not off");
 * if (typeof metricsCliService.build({ metrics: true, "http-port": 0 }) !== "function") throw new Error("Not on");
 * ```
 */
export const metricsCliService: CliService = {
  name: "metrics",
  flags: [
    {
      name: "metrics",
      type: "boolean",
      default: true,
      help: "Serve /healthz, /readyz and /metrics (Prometheus) on the HTTP(S) ports; " +
        "--no-metrics turns them off",
    },
  ],
  build(values) {
    if (values.metrics === false || !httpEnabled(values)) return null;
    return metricsPlugin({ routes: httpRoutesFor(values), version: config.version });
  },
};
