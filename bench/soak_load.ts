/**
 * The soak: `server.ts` as its own process (as an operator runs it) under 1,000 concurrent
 * clients of four kinds for a while, its memory and open file descriptors sampled from
 * `/metrics` throughout. Shared by the hardening test (`tests/hardening_test.ts`) and the
 * benchmark (`bench/soak_server.ts`).
 *
 * The clients (defaults):
 * - 600 gday clients, as 300 pairs looping over complete exchanges (the creator's connection:
 *   CreateRoom, SendAddr, then 0.2–0.8 s later the joiner's: SendAddr, then DoneSending on both
 *   and both PeerContacts) with 0.2–0.8 s between exchanges;
 * - 200 broker receivers, registered for the whole run, each sending a keep-alive every 2 s;
 * - 100 STUN clients, each sending a Binding request every second;
 * - 100 relay clients, as 50 pairs looping over circuits (pair, 4 KiB each way, close).
 *
 * @module
 */

import { pause } from "../async/delay.ts";
import { LengthPrefixedDecoder } from "../framing/length_prefixed.ts";
import { decodeBrokerMessage, encodeBrokerFrame } from "../protocol/broker.ts";
import { encodeStunMessage, STUN_METHOD_BINDING } from "../protocol/stun.ts";
import { relayConnect } from "../client/relay.ts";
import { LOAD_SERVER_ARGS } from "./process.ts";

const ROOT = new URL("../", import.meta.url).pathname;

/**
 * A port that was free a moment ago (the OS picks it; a tiny race remains, so callers retry).
 *
 * @example
 * ```ts
 * import { freePort } from "./soak_load.ts";
 * if (!(freePort("tcp") > 0 && freePort("udp") > 0)) throw new Error("No port");
 * ```
 */
export function freePort(transport: "tcp" | "udp"): number {
  if (transport === "tcp") {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (listener.addr as Deno.NetAddr).port;
    listener.close();
    return port;
  }
  const socket = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const port = (socket.addr as Deno.NetAddr).port;
  socket.close();
  return port;
}

/**
 * Scrape `/metrics` into `name{labels}` → value.
 *
 * @example
 * ```ts ignore
 * const samples = await scrapeMetrics(9100);
 * console.log(samples.get("peerlink_process_resident_memory_bytes"));
 * ```
 */
export async function scrapeMetrics(httpPort: number): Promise<Map<string, number>> {
  const response = await fetch(`http://127.0.0.1:${httpPort}/metrics`, {
    signal: AbortSignal.timeout(10_000),
  });
  const text = await response.text();
  if (response.status !== 200) throw new Error(`/metrics answered ${response.status}: ${text}`);
  const samples = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const space = line.lastIndexOf(" ");
    samples.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return samples;
}

/** The sum of every sample of a family (all label sets). */
export function familySum(samples: Map<string, number>, family: string): number {
  let total = 0;
  for (const [key, value] of samples) {
    if (key === family || key.startsWith(`${family}{`)) total += value;
  }
  return total;
}

/** A `server.ts` child process. */
export interface PeerlinkProcess extends AsyncDisposable {
  /** The process. */
  readonly child: Deno.ChildProcess;
  /** Its HTTP port (`/metrics`, `/readyz`). */
  readonly httpPort: number;
  /** The last log lines (at most 2,000). */
  readonly lines: string[];
  /** Log lines that are not JSON, or are at level `error` (a crash prints such lines). */
  readonly problems: string[];
  /** Log lines seen in all. */
  readonly lineCount: number;
  /** Whether the process is still running. */
  readonly alive: boolean;
  /** SIGTERM, then wait for the exit (SIGKILL after 10 s). */
  stop(): Promise<Deno.CommandStatus>;
}

const MAX_KEPT_LINES = 2_000;

/**
 * Start `deno run -A server.ts --log-format json <args>` and wait until `GET /readyz` on
 * `httpPort` answers 200 (the args must turn the HTTP service on at that port). Its log is
 * drained all along (a full pipe would stall the server).
 *
 * @example
 * ```ts ignore
 * await using server = await startPeerlinkProcess(["--http-port", "9100", "--no-relay"], 9100);
 * ```
 */
export async function startPeerlinkProcess(
  args: readonly string[],
  httpPort: number,
  timeoutMs = 30_000,
): Promise<PeerlinkProcess> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${ROOT}server.ts`, "--log-format", "json", ...args],
    cwd: ROOT,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const lines: string[] = [];
  const problems: string[] = [];
  let lineCount = 0;
  let alive = true;
  const status = child.status.then((s) => {
    alive = false;
    return s;
  });
  const drained = (async () => {
    let rest = "";
    for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) {
      rest += chunk;
      let nl: number;
      while ((nl = rest.indexOf("\n")) >= 0) {
        const line = rest.slice(0, nl);
        rest = rest.slice(nl + 1);
        if (line === "") continue;
        lineCount++;
        lines.push(line);
        if (lines.length > MAX_KEPT_LINES) lines.shift();
        let level: unknown;
        try {
          level = JSON.parse(line).level;
        } catch {
          level = "not-json";
        }
        if (level === "error" || level === "not-json") problems.push(line);
      }
    }
    if (rest !== "") problems.push(rest);
  })();
  const stop = async (): Promise<Deno.CommandStatus> => {
    if (alive) {
      try {
        child.kill("SIGTERM");
      } catch { /* exited */ }
      const killer = setTimeout(() => {
        try {
          child.kill("SIGKILL");
        } catch { /* exited */ }
      }, 10_000);
      try {
        await status;
      } finally {
        clearTimeout(killer);
      }
    }
    await drained;
    return await status;
  };
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (!alive) {
      await drained;
      throw new Error(`server.ts exited before it was ready:\n${lines.join("\n")}`);
    }
    try {
      const response = await fetch(`http://127.0.0.1:${httpPort}/readyz`, {
        signal: AbortSignal.timeout(2000),
      });
      await response.body?.cancel();
      if (response.status === 200) break;
    } catch { /* not yet */ }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`server.ts was not ready within ${timeoutMs} ms:\n${lines.join("\n")}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    child,
    httpPort,
    lines,
    problems,
    get lineCount() {
      return lineCount;
    },
    get alive() {
      return alive;
    },
    stop,
    [Symbol.asyncDispose]: async () => void (await stop()),
  };
}

/** The soak server's ports. */
export interface SoakPorts {
  /** gday, TCP. */
  gday: number;
  /** Broker, TCP. */
  broker: number;
  /** STUN, UDP (and `stun + 1`'s free neighbour as its second port). */
  stun: number;
  /** Second STUN port, UDP. */
  stunAlt: number;
  /** Relay, TCP. */
  relay: number;
  /** HTTP (`/metrics`). */
  http: number;
}

/** How many clients of each kind. */
export interface SoakClients {
  /** gday clients (two per pair). @default {600} */
  gday: number;
  /** Broker receivers. @default {200} */
  broker: number;
  /** STUN clients. @default {100} */
  stun: number;
  /** Relay clients (two per pair). @default {100} */
  relay: number;
}

/** 1,000 clients: 600 gday, 200 broker, 100 STUN, 100 relay. */
export const DEFAULT_SOAK_CLIENTS: Readonly<SoakClients> = Object.freeze({
  gday: 600,
  broker: 200,
  stun: 100,
  relay: 100,
});

/**
 * Start a `server.ts` on fresh ports: pick one free port per name in `transports`, build the
 * arguments from them, and start again with new ports (up to three times) when another program
 * took one of them in the meantime ("Address already in use"). `httpPortOf` names the port the
 * readiness probe uses.
 *
 * @example
 * ```ts ignore
 * const { server, ports } = await startPeerlinkOnFreePorts(
 *   { gday: "tcp", http: "tcp" },
 *   (p) => ["--gday-port", String(p.gday), "--http-port", String(p.http)],
 *   "http",
 * );
 * await server.stop();
 * ```
 */
export async function startPeerlinkOnFreePorts<K extends string>(
  transports: Readonly<Record<K, "tcp" | "udp">>,
  args: (ports: Readonly<Record<K, number>>) => string[],
  httpPortOf: NoInfer<K>,
): Promise<{ server: PeerlinkProcess; ports: Record<K, number> }> {
  for (let attempt = 1;; attempt++) {
    const ports = {} as Record<K, number>;
    for (const name of Object.keys(transports) as K[]) ports[name] = freePort(transports[name]);
    try {
      const server = await startPeerlinkProcess(args(ports), ports[httpPortOf]);
      return { server, ports };
    } catch (error) {
      const clash = error instanceof Error && error.message.includes("Address already in use");
      if (!clash || attempt >= 3) throw error;
    }
  }
}

/**
 * Start a `server.ts` for the soak on fresh ports: gday, broker, STUN, relay and HTTP, limits
 * raised for 1,000 clients from one address, `--log-level warn`. Retries on a port clash.
 *
 * @example
 * ```ts ignore
 * const { server, ports } = await startSoakServer();
 * await server.stop();
 * ```
 */
export async function startSoakServer(
  extraArgs: readonly string[] = [],
): Promise<{ server: PeerlinkProcess; ports: SoakPorts }> {
  return await startPeerlinkOnFreePorts(
    { gday: "tcp", broker: "tcp", stun: "udp", stunAlt: "udp", relay: "tcp", http: "tcp" },
    (ports) => [
      "--host",
      "127.0.0.1",
      "--gday-port",
      String(ports.gday),
      "--broker-port",
      String(ports.broker),
      "--broker-keepalive",
      "2",
      "--broker-timeout",
      "6",
      "--stun-port",
      String(ports.stun),
      "--stun-alt-port",
      String(ports.stunAlt),
      "--stun-rate-limit",
      "0",
      "--relay-port",
      String(ports.relay),
      "--relay-max-circuits-per-ip",
      "100000",
      "--http-port",
      String(ports.http),
      ...LOAD_SERVER_ARGS,
      ...extraArgs,
    ],
    "http",
  );
}

/** One `/metrics` sample during the soak. */
export interface SoakSample {
  /** Milliseconds since the load started (negative before it). */
  atMs: number;
  /** Resident set size, bytes. */
  rssBytes: number;
  /** V8 heap used, bytes. */
  heapUsedBytes: number;
  /** Open file descriptors. */
  openFds: number;
  /** Client connections open (all services). */
  connectionsOpen: number;
  /** gday requests served so far. */
  gdayRequests: number;
  /** Connections accepted so far (all services). */
  connections: number;
}

function toSample(samples: Map<string, number>, atMs: number): SoakSample {
  return {
    atMs,
    rssBytes: samples.get("peerlink_process_resident_memory_bytes") ?? NaN,
    heapUsedBytes: samples.get("peerlink_process_heap_used_bytes") ?? NaN,
    openFds: samples.get("peerlink_process_open_fds") ?? NaN,
    connectionsOpen: familySum(samples, "peerlink_connections_open"),
    gdayRequests: familySum(samples, "peerlink_gday_requests_total"),
    connections: familySum(samples, "peerlink_connections_total"),
  };
}

/** Options for {@linkcode runSoak}. */
export interface SoakOptions {
  /** How long the clients run, in ms. @default {60000} */
  durationMs?: number;
  /** Clients of each kind. @default {DEFAULT_SOAK_CLIENTS} */
  clients?: Partial<SoakClients>;
  /** How often to scrape `/metrics`, in ms. @default {2000} */
  sampleEveryMs?: number;
  /** Told about each sample (progress). */
  onSample?: (sample: SoakSample) => void;
}

/** What a soak measured. */
export interface SoakResult {
  /** Before any client: the baseline. */
  start: SoakSample;
  /** While the clients ran, in order. */
  samples: SoakSample[];
  /** After the clients stopped and their connections closed. */
  end: SoakSample;
  /** The clients that ran, by kind. */
  clients: SoakClients;
  /** How long the clients ran, in ms. */
  durationMs: number;
  /** Operations completed, by kind (`gday` exchanges, `broker` keep-alives, `stun` answers, `relay` circuits). */
  ops: Record<keyof SoakClients, number>;
  /** Operations that failed, by kind. */
  failures: Record<keyof SoakClients, number>;
  /** Requests the clients completed per second, all kinds (an exchange counts its 5 gday requests). */
  requestsPerSecond: number;
  /** gday requests the server counted per second while the clients ran. */
  serverGdayRequestsPerSecond: number;
  /** Connections the server accepted per second while the clients ran. */
  serverConnectionsPerSecond: number;
}

/** A think time in [min, max) ms. */
function think(min: number, max: number): number {
  return min + Math.random() * (max - min);
}

const encoder = new TextEncoder();

function gdayFrame(json: string): Uint8Array {
  const body = encoder.encode(json);
  const out = new Uint8Array(4 + body.length);
  new DataView(out.buffer).setUint32(0, body.length);
  out.set(body, 4);
  return out;
}

/** A gday connection: write frames, read replies. */
class GdayConn {
  #conn: Deno.TcpConn;
  #decoder = new LengthPrefixedDecoder();
  #buf = new Uint8Array(4096);
  constructor(conn: Deno.TcpConn) {
    this.#conn = conn;
  }
  async request(json: string, replies = 1): Promise<string> {
    const bytes = gdayFrame(json);
    let off = 0;
    while (off < bytes.length) off += await this.#conn.write(bytes.subarray(off));
    let last = "";
    for (let i = 0; i < replies; i++) {
      for (;;) {
        const frame = this.#decoder.next();
        if (frame !== undefined) {
          last = new TextDecoder().decode(frame);
          break;
        }
        const n = await this.#conn.read(this.#buf);
        if (n === null) throw new Error("The server closed the connection");
        this.#decoder.push(this.#buf.slice(0, n));
      }
    }
    return last;
  }
  close(): void {
    try {
      this.#conn.close();
    } catch { /* closed */ }
  }
}

/**
 * One exchange as people make it: the creator makes the room and waits a moment (reading the
 * code out) before the joiner comes; both hold their connections until the PeerContacts.
 */
async function soakExchange(port: number, code: bigint): Promise<void> {
  const creator = new GdayConn(await Deno.connect({ hostname: "127.0.0.1", port }));
  let joiner: GdayConn | null = null;
  try {
    const expect = (got: string, prefix: string): void => {
      if (!got.startsWith(prefix)) throw new Error(`Expected ${prefix}, got ${got}`);
    };
    expect(await creator.request(`{"CreateRoom":{"room_code":${code}}}`), '"RoomCreated"');
    const send = (creatorSide: boolean) =>
      `{"SendAddr":{"room_code":${code},"is_creator":${creatorSide},"private_addr":"10.0.0.1:4000"}}`;
    const done = (creatorSide: boolean) =>
      `{"DoneSending":{"room_code":${code},"is_creator":${creatorSide}}}`;
    expect(await creator.request(send(true)), '"ReceivedAddr"');
    await new Promise((r) => setTimeout(r, think(200, 800)));
    joiner = new GdayConn(await Deno.connect({ hostname: "127.0.0.1", port }));
    expect(await joiner.request(send(false)), '"ReceivedAddr"');
    const [a, b] = await Promise.all([
      creator.request(done(true), 2),
      joiner.request(done(false), 2),
    ]);
    expect(a, '{"PeerContact"');
    expect(b, '{"PeerContact"');
  } finally {
    creator.close();
    joiner?.close();
  }
}

/** A broker receiver: register, then a keep-alive every `everyMs` until aborted. */
async function brokerReceiver(
  port: number,
  uid: string,
  everyMs: number,
  signal: AbortSignal,
  count: (ok: boolean) => void,
): Promise<void> {
  while (!signal.aborted) {
    let conn: Deno.TcpConn;
    try {
      conn = await Deno.connect({ hostname: "127.0.0.1", port });
    } catch {
      count(false);
      await pause(500, signal);
      continue;
    }
    const decoder = new LengthPrefixedDecoder({ maxFrameBytes: 4096 });
    const buf = new Uint8Array(2048);
    const onAbort = (): void => {
      try {
        conn.close();
      } catch { /* closed */ }
    };
    signal.addEventListener("abort", onAbort, { once: true });
    const next = async (): Promise<string | null> => {
      for (;;) {
        const frame = decoder.next();
        if (frame !== undefined) return decodeBrokerMessage(frame).type;
        const n = await conn.read(buf);
        if (n === null) return null;
        decoder.push(buf.slice(0, n));
      }
    };
    const write = async (bytes: Uint8Array): Promise<void> => {
      let off = 0;
      while (off < bytes.length) off += await conn.write(bytes.subarray(off));
    };
    try {
      await write(encodeBrokerFrame({ type: "register", uid }));
      if ((await next()) !== "registered") throw new Error("Not registered");
      // Spread the keep-alives over the interval.
      await pause(Math.random() * everyMs, signal);
      while (!signal.aborted) {
        await write(encodeBrokerFrame({ type: "keepalive" }));
        if ((await next()) !== "keepalive_ack") throw new Error("No keep-alive ack");
        count(true);
        await pause(everyMs, signal);
      }
    } catch {
      if (!signal.aborted) count(false);
    } finally {
      signal.removeEventListener("abort", onAbort);
      onAbort();
    }
  }
}

/** A STUN client: a Binding request every `everyMs`, answers counted. */
async function stunClient(
  port: number,
  everyMs: number,
  signal: AbortSignal,
  count: (ok: boolean) => void,
): Promise<void> {
  const socket = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  let outstanding = 0;
  const reader = (async () => {
    for (;;) {
      try {
        await socket.receive();
      } catch {
        return;
      }
      if (outstanding > 0) outstanding--;
      count(true);
    }
  })();
  try {
    await pause(Math.random() * everyMs, signal);
    while (!signal.aborted) {
      // A request still unanswered at the next one is a failure (a lost datagram).
      if (outstanding > 0) {
        count(false);
        outstanding = 0;
      }
      const request = encodeStunMessage({
        class: "request",
        method: STUN_METHOD_BINDING,
        transactionId: crypto.getRandomValues(new Uint8Array(12)),
        attributes: [],
      });
      outstanding++;
      await socket.send(request, { transport: "udp", hostname: "127.0.0.1", port }).catch(
        () => {},
      );
      await pause(everyMs, signal);
    }
  } finally {
    socket.close();
    await reader;
  }
}

/** A relay pair: circuits of 4 KiB each way, with a think time between. */
async function relayPair(
  port: number,
  signal: AbortSignal,
  count: (ok: boolean) => void,
): Promise<void> {
  const payload = crypto.getRandomValues(new Uint8Array(4096));
  await pause(Math.random() * 1000, signal);
  while (!signal.aborted) {
    const token = crypto.getRandomValues(new Uint8Array(32));
    const server = `127.0.0.1:${port}`;
    const opened = await Promise.allSettled([
      relayConnect({ server, token, timeoutMs: 10_000 }),
      relayConnect({ server, token, timeoutMs: 10_000 }),
    ]);
    const conns = opened.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []));
    try {
      if (conns.length !== 2) throw new Error("No circuit");
      const [a, b] = conns as [typeof conns[0], typeof conns[0]];
      const echo = async (from: typeof a, to: typeof a): Promise<void> => {
        const writer = to.writable.getWriter();
        await writer.write(payload);
        await writer.close();
        const got = new Uint8Array(await new Response(from.readable).arrayBuffer());
        if (got.length !== payload.length) throw new Error("Short circuit");
      };
      await Promise.all([echo(a, b), echo(b, a)]);
      count(true);
    } catch {
      if (!signal.aborted) count(false);
    } finally {
      for (const conn of conns) conn.close();
    }
    await pause(think(500, 1500), signal);
  }
}

/**
 * Run the soak's clients against `ports` for `durationMs`, sampling `/metrics` before, during
 * and after; resolves once every client has stopped and the server's connections are closed.
 *
 * @example
 * ```ts ignore
 * const { server, ports } = await startSoakServer();
 * const result = await runSoak(ports, { durationMs: 60_000 });
 * console.log(result.start.openFds, result.end.openFds, result.requestsPerSecond);
 * await server.stop();
 * ```
 */
export async function runSoak(ports: SoakPorts, options: SoakOptions = {}): Promise<SoakResult> {
  const durationMs = options.durationMs ?? 60_000;
  const everyMs = options.sampleEveryMs ?? 2000;
  const clients: SoakClients = { ...DEFAULT_SOAK_CLIENTS, ...options.clients };
  const ops = { gday: 0, broker: 0, stun: 0, relay: 0 };
  const failures = { gday: 0, broker: 0, stun: 0, relay: 0 };
  const counter = (kind: keyof SoakClients) => (ok: boolean): void => {
    if (ok) ops[kind]++;
    else failures[kind]++;
  };

  const start = toSample(await scrapeMetrics(ports.http), 0);
  const stop = new AbortController();
  const begun = performance.now();
  const samples: SoakSample[] = [];
  const sampler = (async () => {
    while (!stop.signal.aborted) {
      await pause(everyMs, stop.signal);
      if (stop.signal.aborted) break;
      try {
        const sample = toSample(await scrapeMetrics(ports.http), performance.now() - begun);
        samples.push(sample);
        options.onSample?.(sample);
      } catch { /* a scrape that timed out under load: skip it */ }
    }
  })();

  const tasks: Promise<void>[] = [];
  for (let pair = 0; pair < Math.floor(clients.gday / 2); pair++) {
    const count = counter("gday");
    tasks.push((async () => {
      await pause(Math.random() * 1000, stop.signal);
      for (let i = 0; !stop.signal.aborted; i++) {
        try {
          await soakExchange(ports.gday, BigInt(pair) * 1_000_000n + BigInt(i) + 1n);
          count(true);
        } catch {
          if (!stop.signal.aborted) count(false);
        }
        await pause(think(200, 800), stop.signal);
      }
    })());
  }
  for (let i = 0; i < clients.broker; i++) {
    tasks.push(brokerReceiver(ports.broker, `soak-${i}`, 2000, stop.signal, counter("broker")));
  }
  for (let i = 0; i < clients.stun; i++) {
    tasks.push(stunClient(ports.stun, 1000, stop.signal, counter("stun")));
  }
  for (let i = 0; i < Math.floor(clients.relay / 2); i++) {
    tasks.push(relayPair(ports.relay, stop.signal, counter("relay")));
  }

  await pause(durationMs);
  const last = samples.at(-1);
  stop.abort();
  await Promise.all(tasks);
  await sampler;
  const ran = performance.now() - begun;

  // Let the server see every close, then take the end sample.
  const settleBy = Date.now() + 15_000;
  let endSamples = await scrapeMetrics(ports.http);
  while (familySum(endSamples, "peerlink_connections_open") > 0 && Date.now() < settleBy) {
    await new Promise((r) => setTimeout(r, 200));
    endSamples = await scrapeMetrics(ports.http);
  }
  await new Promise((r) => setTimeout(r, 1000));
  const end = toSample(await scrapeMetrics(ports.http), performance.now() - begun);
  const seconds = durationMs / 1000;
  const requests = ops.gday * 5 + ops.broker + ops.stun + ops.relay;
  return {
    start,
    samples,
    end,
    clients,
    durationMs: ran,
    ops,
    failures,
    requestsPerSecond: requests / seconds,
    serverGdayRequestsPerSecond: last === undefined
      ? NaN
      : (last.gdayRequests - start.gdayRequests) / (last.atMs / 1000),
    serverConnectionsPerSecond: last === undefined
      ? NaN
      : (last.connections - start.connections) / (last.atMs / 1000),
  };
}
