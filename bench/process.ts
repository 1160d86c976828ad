/**
 * Small helpers the benchmarks share: a free loopback port, waiting for a listener, and running
 * a server process for the duration of a measurement.
 *
 * @module
 */

import { SERVER_FLAGS } from "../cli/server_main.ts";

const ROOT = new URL("../", import.meta.url).pathname;

/**
 * A TCP port free on loopback right now.
 *
 * @example
 * ```ts
 * import { freePort } from "./process.ts";
 * if (!(freePort() > 0)) throw new Error("No port");
 * ```
 */
export function freePort(): number {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  return listener.addr.port;
}

/**
 * `server.ts` flags that move every service with a fixed default port to a free one (`--<service>-port
 * 0`) and turn STUN off, so a run never fights another program (or a concurrent run) for a port.
 *
 * @example
 * ```ts
 * import { freePortArgs } from "./process.ts";
 * if (!freePortArgs().includes("--no-stun")) throw new Error("STUN stays on");
 * ```
 */
export function freePortArgs(): string[] {
  const args: string[] = [];
  for (const flag of SERVER_FLAGS) {
    if (flag.name === "stun") args.push("--no-stun");
    else if (
      flag.type === "integer" && flag.name.endsWith("-port") && typeof flag.default === "number" &&
      flag.default !== 0 && !flag.name.startsWith("stun")
    ) args.push(`--${flag.name}`, "0");
  }
  return args;
}

/**
 * `server.ts` flags for a load test from one address: no rate limit, connection limits far above
 * the load, and warnings only in the log.
 *
 * @example
 * ```ts
 * import { LOAD_SERVER_ARGS } from "./process.ts";
 * if (!LOAD_SERVER_ARGS.includes("--rate-limit")) throw new Error("unlimited");
 * ```
 */
export const LOAD_SERVER_ARGS: readonly string[] = Object.freeze([
  "--rate-limit",
  "0",
  "--max-connections",
  "100000",
  "--max-connections-per-ip",
  "100000",
  "--log-level",
  "warn",
]);

/**
 * Resolve once something accepts TCP connections on loopback `port` (up to `timeoutMs`).
 *
 * @example
 * ```ts
 * import { waitForPort } from "./process.ts";
 * using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * await waitForPort(listener.addr.port);
 * ```
 */
export async function waitForPort(port: number, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  throw new Error(`Nothing listens on ${port}`);
}

/**
 * Run `deno <args>` from the repository root, wait for `port`, run `fn`, then stop the process.
 *
 * @example
 * ```ts ignore
 * await withProcess(["run", "-A", "server.ts", "--gday-port", String(port)], port, () => measure(port));
 * ```
 */
export async function withProcess<T>(
  args: string[],
  port: number,
  fn: (child: Deno.ChildProcess) => Promise<T>,
): Promise<T> {
  const child = new Deno.Command(Deno.execPath(), {
    args,
    cwd: ROOT,
    stdout: "null",
    stderr: "null",
    stdin: "null",
  })
    .spawn();
  try {
    await waitForPort(port);
    return await fn(child);
  } finally {
    try {
      child.kill("SIGTERM");
    } catch { /* exited */ }
    await child.status;
  }
}
