/**
 * Health and metrics routes on the HTTP(S) service (`server.ts --http-port`):
 *
 * - `GET /healthz`: `200 ok` while the process serves (liveness: answering is the proof);
 * - `GET /readyz`: runs the server's readiness checks (`listeners`, `redis`, ...) and answers
 *   `200` when every one passes, `503` otherwise, with a JSON report
 *   (`{"ready":true,"checks":[{"name":"listeners","ok":true,"ms":0}]}`);
 * - `GET /metrics`: the Prometheus text format (`text/plain; version=0.0.4`), every
 *   `peerlink_*` family of `../metrics.ts`.
 *
 * The routes answer on every HTTP(S) port the service has, so keep the HTTP port on a private
 * address, or let a reverse proxy keep `/metrics` to itself.
 *
 * @module
 */

import { DEFAULT_READINESS_TIMEOUT_MS } from "../health.ts";
import { collectServerMetrics, type PathStatsRow, PROMETHEUS_CONTENT_TYPE } from "../metrics.ts";
import type { ServiceFactory } from "../plugin.ts";
import type { HttpRoutes } from "./http.ts";

/** The liveness path. */
export const HEALTHZ_PATH = "/healthz";
/** The readiness path. */
export const READYZ_PATH = "/readyz";
/** The Prometheus metrics path. */
export const METRICS_PATH = "/metrics";

/** Options for {@linkcode metricsPlugin}. */
export interface MetricsPluginOptions {
  /** The HTTP service's routes (shared with it, see `httpPlugin`). */
  routes: HttpRoutes;
  /** How long each readiness check may take, in ms. @default {2000} */
  readinessTimeoutMs?: number;
  /**
   * The library's path counters (a `PathStats`) of a program that also connects peers; shown as
   * `peerlink_path_events_total`.
   */
  pathStats?: { snapshot(): readonly PathStatsRow[] };
  /** The version `peerlink_build_info` names. @default {"unknown"} */
  version?: string;
}

const NO_STORE = { "cache-control": "no-store" };

/**
 * The health and metrics routes as a server plugin: it opens no listener, it adds
 * `GET /healthz`, `GET /readyz` and `GET /metrics` to the HTTP service's routes while the server
 * runs.
 *
 * @example Scrape a server's metrics
 * ```ts
 * import { metricsPlugin } from "./metrics.ts";
 * import { HttpRoutes, httpPlugin } from "./http.ts";
 * import { startServer } from "../server.ts";
 * import { silentLogger } from "../logger.ts";
 * const routes = new HttpRoutes();
 * let port = 0;
 * await using server = await startServer({
 *   hostname: "127.0.0.1", gdayPort: 0, logger: silentLogger,
 *   services: [
 *     httpPlugin({ hostname: "127.0.0.1", port: 0, routes, onListening: (l) => (port = l.addr.port) }),
 *     metricsPlugin({ routes }),
 *   ],
 * });
 * const response = await fetch(`http://127.0.0.1:${port}/metrics`);
 * const text = await response.text();
 * if (!response.headers.get("content-type")?.startsWith("text/plain; version=0.0.4")) throw new Error("Bad type");
 * if (!text.includes("# TYPE peerlink_connections_total counter")) throw new Error(text);
 * const ready = await fetch(`http://127.0.0.1:${port}/readyz`);
 * if (ready.status !== 200 || !(await ready.json()).ready) throw new Error("Not ready");
 * ```
 */
export function metricsPlugin(options: MetricsPluginOptions): ServiceFactory {
  const { routes, pathStats, version } = options;
  const timeoutMs = options.readinessTimeoutMs ?? DEFAULT_READINESS_TIMEOUT_MS;
  if (!(Number.isFinite(timeoutMs) && timeoutMs > 0)) {
    throw new RangeError(`Readiness timeout is ${timeoutMs} ms, it must be > 0`);
  }
  return (ctx) => {
    const { counters, gauges, readiness } = ctx;
    const removers = [
      routes.add("GET", HEALTHZ_PATH, () =>
        new Response("ok\n", {
          headers: { "content-type": "text/plain; charset=utf-8", ...NO_STORE },
        })),
      routes.add("GET", READYZ_PATH, async () => {
        const report = await readiness.run({ timeoutMs });
        return new Response(JSON.stringify(report) + "\n", {
          status: report.ready ? 200 : 503,
          headers: { "content-type": "application/json", ...NO_STORE },
        });
      }),
      routes.add("GET", METRICS_PATH, async () => {
        const text = await collectServerMetrics(counters, gauges, { pathStats, version });
        return new Response(text, {
          headers: { "content-type": PROMETHEUS_CONTENT_TYPE, ...NO_STORE },
        });
      }),
    ];
    return {
      name: "metrics",
      listeners: [],
      close: () => {
        for (const remove of removers) remove();
      },
    };
  };
}
