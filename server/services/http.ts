/**
 * The server's HTTP(S) service: a small route table on a plain-HTTP port and an HTTPS port,
 * served with `Deno.serve`. Other services add their routes to a shared {@linkcode HttpRoutes}
 * (the relay adds `GET /relay`, a WebSocket; later work adds `/healthz`, `/readyz`, `/metrics`).
 *
 * Unlike the TCP and UDP services, this one opens its own listeners (the server's listeners hand
 * out raw sockets, and `Deno.serve` needs its own): it listens when the server starts it, logs
 * one `listening` line per port (`service: "http"`, `transport: "http"` or `"https"`), and shuts
 * them down gracefully when the server stops (open WebSockets are closed).
 *
 * Unknown paths get 404, known paths with another method 405 (with `Allow`), and a handler that
 * throws 500; each answer is counted as `http_requests{<status>}`.
 *
 * @example Serve one route on a free port
 * ```ts
 * import { HttpRoutes, httpPlugin } from "./http.ts";
 * import { startServer } from "../server.ts";
 * import { silentLogger } from "../logger.ts";
 * const routes = new HttpRoutes();
 * routes.add("GET", "/hello", () => new Response("hi"));
 * let port = 0;
 * await using server = await startServer({
 *   hostname: "127.0.0.1", gdayPort: null, logger: silentLogger,
 *   services: [httpPlugin({ hostname: "127.0.0.1", port: 0, routes, onListening: (l) => (port = l.addr.port) })],
 * });
 * const response = await fetch(`http://127.0.0.1:${port}/hello`);
 * if ((await response.text()) !== "hi") throw new Error("Wrong answer");
 * ```
 *
 * @module
 */

import { formatSocketAddr, type SocketAddr, toSocketAddr } from "../../protocol/socket_addr.ts";
import { newRequestId, withRequestId } from "../logger.ts";
import type { ServiceFactory } from "../plugin.ts";
import type { TlsOptions } from "../server.ts";

/** What a route handler knows about a request besides the request itself. */
export interface HttpRequestInfo {
  /** The client's address as observed (IPv4-mapped addresses turned into IPv4). */
  readonly remote: SocketAddr;
  /** `"http"` or `"https"`: the port the request came in on. */
  readonly transport: "http" | "https";
  /** Aborts when the server shuts down. */
  readonly signal: AbortSignal;
}

/** Answers a request. */
export type HttpHandler = (
  request: Request,
  info: HttpRequestInfo,
) => Response | Promise<Response>;

/** One HTTP(S) listening socket. */
export interface HttpListener {
  /** Always `"http"`. */
  service: "http";
  /** `"http"` or `"https"`. */
  transport: "http" | "https";
  /** The bound address (with the real port when 0 was asked for). */
  addr: SocketAddr;
}

/**
 * Routes by exact path and method. Services add theirs while the server starts (or at any time:
 * lookups happen per request).
 *
 * @example
 * ```ts
 * import { HttpRoutes } from "./http.ts";
 * const routes = new HttpRoutes();
 * const remove = routes.add("GET", "/healthz", () => new Response("ok"));
 * const info = { remote: { family: "v4" as const, ip: "127.0.0.1", port: 1 }, transport: "http" as const, signal: new AbortController().signal };
 * if ((await routes.handle(new Request("http://x/healthz"), info)).status !== 200) throw new Error("Not found");
 * if ((await routes.handle(new Request("http://x/healthz", { method: "POST" }), info)).status !== 405) throw new Error("Not 405");
 * remove();
 * if ((await routes.handle(new Request("http://x/healthz"), info)).status !== 404) throw new Error("Not removed");
 * ```
 */
export class HttpRoutes {
  #routes = new Map<string, Map<string, HttpHandler>>();

  /**
   * Add a route; returns a function that removes it.
   *
   * @throws {RangeError} when the path does not start with `/` or the route exists.
   *
   * @example
   * ```ts
   * import { HttpRoutes } from "./http.ts";
   * const routes = new HttpRoutes();
   * routes.add("GET", "/a", () => new Response());
   * let taken = false;
   * try { routes.add("get", "/a", () => new Response()); } catch { taken = true; }
   * if (!taken) throw new Error("Duplicate route accepted");
   * ```
   */
  add(method: string, path: string, handler: HttpHandler): () => void {
    if (!path.startsWith("/")) throw new RangeError(`Route path "${path}" must start with /`);
    const verb = method.toUpperCase();
    const methods = this.#routes.get(path) ?? new Map<string, HttpHandler>();
    if (methods.has(verb)) throw new RangeError(`Route ${verb} ${path} already exists`);
    methods.set(verb, handler);
    this.#routes.set(path, methods);
    return () => {
      if (methods.get(verb) !== handler) return;
      methods.delete(verb);
      if (methods.size === 0 && this.#routes.get(path) === methods) this.#routes.delete(path);
    };
  }

  /**
   * Whether a route exists.
   *
   * @example
   * ```ts
   * import { HttpRoutes } from "./http.ts";
   * const routes = new HttpRoutes();
   * routes.add("GET", "/a", () => new Response());
   * if (!routes.has("get", "/a") || routes.has("POST", "/a")) throw new Error("Wrong lookup");
   * ```
   */
  has(method: string, path: string): boolean {
    return this.#routes.get(path)?.has(method.toUpperCase()) ?? false;
  }

  /**
   * Answer a request: the route's handler, or 404 / 405. A handler that throws is not caught
   * here (the service turns it into a 500).
   *
   * @example
   * ```ts
   * import { HttpRoutes } from "./http.ts";
   * const info = { remote: { family: "v4" as const, ip: "127.0.0.1", port: 1 }, transport: "http" as const, signal: new AbortController().signal };
   * const response = await new HttpRoutes().handle(new Request("http://x/nothing"), info);
   * if (response.status !== 404) throw new Error("Expected 404");
   * ```
   */
  async handle(request: Request, info: HttpRequestInfo): Promise<Response> {
    const path = new URL(request.url).pathname;
    const methods = this.#routes.get(path);
    if (methods === undefined) return new Response("Not found\n", { status: 404 });
    const handler = methods.get(request.method.toUpperCase());
    if (handler === undefined) {
      return new Response("Method not allowed\n", {
        status: 405,
        headers: { allow: [...methods.keys()].join(", ") },
      });
    }
    return await handler(request, info);
  }
}

/** Options for {@linkcode httpPlugin}. */
export interface HttpServiceOptions {
  /** The routes to serve (shared with the services that add to it). */
  routes: HttpRoutes;
  /**
   * The address to listen on; `"::"` takes IPv6 and IPv4 (falls back to `"0.0.0.0"` without
   * IPv6). Use the server's own `hostname`.
   * @default {"::"}
   */
  hostname?: string;
  /** The plain-HTTP port (0 lets the OS choose); `null` turns it off. @default {null} */
  port?: number | null;
  /**
   * The HTTPS port (0 lets the OS choose); `null` turns it off. Without `tls` it is skipped (a
   * warning is logged), as the server skips its own TLS listeners without a certificate.
   * @default {null}
   */
  tlsPort?: number | null;
  /** Certificate and key for HTTPS. */
  tls?: TlsOptions | null;
  /** Told about each listener once it is bound (e.g. to learn a port chosen by the OS). */
  onListening?: (listener: HttpListener) => void;
}

function checkPort(name: string, port: number | null): void {
  if (port === null) return;
  if (!(Number.isInteger(port) && port >= 0 && port <= 65535)) {
    throw new RangeError(`HTTP ${name} is ${port}, it must be an integer from 0 to 65535`);
  }
}

/**
 * The HTTP(S) service as a server plugin. It has no listeners of the server's kind; it opens its
 * own `Deno.serve` listeners when the server starts it.
 *
 * @throws {RangeError} for a bad port.
 *
 * @example
 * ```ts
 * import { HttpRoutes, httpPlugin } from "./http.ts";
 * const factory = httpPlugin({ routes: new HttpRoutes(), port: 0 });
 * if (typeof factory !== "function") throw new Error("No factory");
 * ```
 */
export function httpPlugin(options: HttpServiceOptions): ServiceFactory {
  const { routes, onListening } = options;
  const hostname = options.hostname ?? "::";
  const port = options.port ?? null;
  const tlsPort = options.tlsPort ?? null;
  const tls = options.tls ?? null;
  checkPort("port", port);
  checkPort("tlsPort", tlsPort);

  return (ctx) => {
    const { logger, counters, signal } = ctx;
    const servers: Deno.HttpServer<Deno.NetAddr>[] = [];
    const announced: HttpListener[] = [];
    // The listening lines go out after the server's own (which it logs once every service has
    // started), so that the first line is still the server's first listener.
    const announce = setTimeout(() => {
      for (const listener of announced) {
        logger.log("info", "listening", {
          service: "http",
          transport: listener.transport,
          addr: formatSocketAddr(listener.addr),
        });
      }
    }, 0);

    const serve = (listenPort: number, secure: boolean): void => {
      const transport = secure ? "https" : "http";
      const handleRequest = async (
        request: Request,
        info: Deno.ServeHandlerInfo<Deno.NetAddr>,
      ): Promise<Response> => {
        const remote = toSocketAddr(info.remoteAddr.hostname, info.remoteAddr.port) ??
          { family: "v4" as const, ip: "0.0.0.0", port: 0 };
        let path: string;
        try {
          path = new URL(request.url).pathname;
        } catch {
          // A Host header that makes no URL: the client's mistake (found by the fuzz suite;
          // it used to escape as a 500 logged at error level).
          counters.inc("http_requests", "400");
          return new Response("Bad request\n", { status: 400 });
        }
        let response: Response;
        try {
          response = await routes.handle(request, { remote, transport, signal });
        } catch (error) {
          logger.log("error", "http_handler_failed", { path, error: String(error) });
          response = new Response("Internal server error\n", { status: 500 });
        }
        counters.inc("http_requests", String(response.status));
        return response;
      };
      // Each request is a request scope: its log lines (and a relay WebSocket's) share an id.
      const handler = (
        request: Request,
        info: Deno.ServeHandlerInfo<Deno.NetAddr>,
      ): Promise<Response> => withRequestId(newRequestId(), () => handleRequest(request, info));
      const open = (host: string): Deno.HttpServer<Deno.NetAddr> =>
        Deno.serve({
          hostname: host,
          port: listenPort,
          ...(secure && tls ? { cert: tls.cert, key: tls.key } : {}),
          onListen: () => {},
          onError: (error) => {
            logger.log("error", "http_failed", { error: String(error) });
            return new Response("Internal server error\n", { status: 500 });
          },
        }, handler);
      let server: Deno.HttpServer<Deno.NetAddr>;
      try {
        server = open(hostname);
      } catch (error) {
        if (hostname !== "::" || error instanceof Deno.errors.AddrInUse) throw error;
        server = open("0.0.0.0");
      }
      servers.push(server);
      const listener: HttpListener = {
        service: "http",
        transport,
        addr: toSocketAddr(server.addr.hostname, server.addr.port)!,
      };
      announced.push(listener);
      onListening?.(listener);
    };

    const close = async (): Promise<void> => {
      clearTimeout(announce);
      await Promise.allSettled(servers.map((server) => server.shutdown()));
    };

    try {
      if (port !== null) serve(port, false);
      if (tlsPort !== null && tls !== null) serve(tlsPort, true);
      if (tlsPort !== null && tls === null) {
        // As the server does with its own TLS listeners.
        logger.log("warn", "listener_skipped", {
          service: "http",
          transport: "https",
          reason: "no certificate (--tls-cert, --tls-key)",
        });
      }
    } catch (error) {
      // Nothing else will close what did open.
      void close();
      throw error;
    }
    return { name: "http", listeners: [], close };
  };
}
