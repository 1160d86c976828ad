/**
 * Benchmark: the connection broker (issue 6).
 *
 * 1. **10,000 idle receivers on one broker.** `server.ts --broker-port` runs as its own process
 *    (as an operator runs it, `--log-level warn`); this process opens 10,000 registration
 *    connections over loopback and sends their keep-alives, spread evenly over the interval.
 *    The broker process's RSS (`/proc/PID/status` VmRSS) and CPU time (`/proc/PID/stat` utime +
 *    stime) are read before registering (the empty broker: the baseline) and while keep-alives
 *    flow.
 *
 *    The p2prs interval is 30 s, so 10,000 receivers send 333 keep-alives/s. Measuring that
 *    directly needs minutes per sample, so the benchmark shortens the interval to 3 s (and the
 *    drop timeout to 6.5 s, keeping p2prs's ratio) for 10× the rate, 3,333 keep-alives/s,
 *    measures CPU over three intervals, and scales: CPU at 30 s = CPU of the idle broker + (CPU
 *    at 3 s − CPU of the idle broker) / 10. Keep-alive work is per message (read a frame, answer
 *    one), so it scales linearly with the rate; the memory held does not depend on the interval.
 * 2. **Dial setup time on loopback**: `dialBroker` to a library receiver, from the call to a
 *    greeted direct connection (all twelve steps), against a plain TCP connect on loopback
 *    measured in the same run.
 *
 * @module
 */

import { freePort, waitForPort } from "./process.ts";
import { dialBroker, listenBroker } from "../client/broker.ts";
import { encodeBrokerFrame } from "../protocol/broker.ts";
import { type BenchSection, fmt, machineLine, percentile } from "./report.ts";

const ROOT = new URL("../", import.meta.url).pathname;
/** Linux's USER_HZ: `/proc/PID/stat` counts CPU time in 1/100 s. */
const CLOCK_TICKS_PER_SECOND = 100;

/** Options of the benchmark. */
export interface BrokerBenchOptions {
  /** Idle receivers to register. @default {10000} */
  receivers?: number;
  /** The shortened keep-alive interval, in ms (p2prs: 30000). @default {3000} */
  keepAliveMs?: number;
  /** Keep-alive intervals to measure CPU over. @default {3} */
  intervals?: number;
  /** Dials to time. @default {50} */
  dials?: number;
}

/** What the benchmark measured. */
export interface BrokerBenchResult {
  /** RSS of the empty broker, MB. */
  idleRssMb: number;
  /** RSS with all receivers registered, while keep-alives flow, MB. */
  loadedRssMb: number;
  /** CPU of the empty broker, % of one core. */
  idleCpu: number;
  /** CPU while keep-alives flow at the shortened interval, % of one core. */
  measuredCpu: number;
  /** CPU projected for the 30 s interval, % of one core. */
  projectedCpu: number;
  /** Keep-alives answered per second during the measurement. */
  keepAlivesPerSecond: number;
  /** Registrations per second while registering. */
  registrationsPerSecond: number;
  /** Dial setup times, ms, sorted. */
  dialMs: number[];
  /** Plain loopback TCP connect times, ms, sorted. */
  connectMs: number[];
}

async function rssMb(pid: number): Promise<number> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
  return kb / 1024;
}

async function cpuSeconds(pid: number): Promise<number> {
  const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // After the command name: state is field 3, utime 14 and stime 15 (1-based) of the full line.
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
}

async function cpuPercent(pid: number, ms: number): Promise<number> {
  const before = await cpuSeconds(pid);
  const start = performance.now();
  await new Promise((r) => setTimeout(r, ms));
  const after = await cpuSeconds(pid);
  return ((after - before) / ((performance.now() - start) / 1000)) * 100;
}

/** One idle receiver: a registration connection that reads (and counts) the broker's answers. */
class IdleReceiver {
  conn: Deno.TcpConn;
  acks = 0;
  #buf = new Uint8Array(256);
  constructor(conn: Deno.TcpConn) {
    this.conn = conn;
  }
  static async register(port: number, uid: string): Promise<IdleReceiver> {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    const receiver = new IdleReceiver(conn);
    await receiver.write(encodeBrokerFrame({ type: "register", uid }));
    const n = await conn.read(receiver.#buf);
    const text = n === null ? "" : new TextDecoder().decode(receiver.#buf.subarray(4, n));
    if (!text.includes('"registered"')) throw new Error(`Registration of ${uid} failed: ${text}`);
    receiver.#drain();
    return receiver;
  }
  async write(bytes: Uint8Array): Promise<void> {
    let offset = 0;
    while (offset < bytes.length) offset += await this.conn.write(bytes.subarray(offset));
  }
  async #drain(): Promise<void> {
    try {
      for (;;) {
        const n = await this.conn.read(this.#buf);
        if (n === null) return;
        this.acks++;
      }
    } catch { /* closed */ }
  }
  close(): void {
    try {
      this.conn.close();
    } catch { /* closed */ }
  }
}

/**
 * Run the benchmark; returns the section for RESULTS.md and the figures.
 *
 * @example
 * ```ts ignore
 * const section = await benchBrokerReceivers({ receivers: 1000 });
 * console.log(section.result.loadedRssMb, section.markdown);
 * ```
 */
export async function benchBrokerReceivers(
  options: BrokerBenchOptions = {},
): Promise<BenchSection & { result: BrokerBenchResult }> {
  const count = options.receivers ?? 10_000;
  const keepAliveMs = options.keepAliveMs ?? 3000;
  const intervals = options.intervals ?? 3;
  const dials = options.dials ?? 50;
  const scale = 30_000 / keepAliveMs;
  const port = freePort();
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "server.ts",
      "--host",
      "127.0.0.1",
      "--gday-port",
      "0",
      "--no-stun",
      "--broker-port",
      String(port),
      "--broker-keepalive",
      String(keepAliveMs / 1000),
      "--broker-timeout",
      String((keepAliveMs * 65) / 30 / 1000),
      "--rate-limit",
      "0",
      "--max-connections",
      String(count + 1000),
      "--max-connections-per-ip",
      String(count + 1000),
      "--log-level",
      "warn",
    ],
    cwd: ROOT,
    stdin: "null",
    stdout: "null",
    stderr: "inherit",
  }).spawn();
  const receivers: IdleReceiver[] = [];
  let timer: ReturnType<typeof setInterval> | undefined;
  try {
    await waitForPort(port);
    await new Promise((r) => setTimeout(r, 1000)); // let start-up work settle
    const idleRssMb = await rssMb(child.pid);
    const idleCpu = await cpuPercent(child.pid, 2000);

    // Register, 200 at a time.
    const registerStart = performance.now();
    for (let i = 0; i < count; i += 200) {
      const batch = [];
      for (let j = i; j < Math.min(count, i + 200); j++) {
        batch.push(IdleReceiver.register(port, `receiver-${j}`));
      }
      receivers.push(...(await Promise.all(batch)));
    }
    const registrationsPerSecond = count / ((performance.now() - registerStart) / 1000);

    // Keep-alives spread evenly: every 50 ms, the receivers whose turn it is.
    const tickMs = 50;
    const perTick = Math.ceil(count / (keepAliveMs / tickMs));
    let cursor = 0;
    const keepalive = encodeBrokerFrame({ type: "keepalive" });
    timer = setInterval(() => {
      for (let k = 0; k < perTick; k++) {
        receivers[cursor]?.write(keepalive).catch(() => {});
        cursor = (cursor + 1) % count;
      }
    }, tickMs);
    await new Promise((r) => setTimeout(r, keepAliveMs)); // one interval to reach steady state
    const acksBefore = receivers.reduce((sum, r) => sum + r.acks, 0);
    const started = performance.now();
    const measuredCpu = await cpuPercent(child.pid, keepAliveMs * intervals);
    const acks = receivers.reduce((sum, r) => sum + r.acks, 0) - acksBefore;
    const keepAlivesPerSecond = acks / ((performance.now() - started) / 1000);
    const loadedRssMb = await rssMb(child.pid);
    clearInterval(timer);
    timer = undefined;
    for (const r of receivers) r.close();
    receivers.length = 0;

    // Dial setup time, and a plain TCP connect for scale.
    await using receiver = await listenBroker({ server: `127.0.0.1:${port}`, uid: "bench" });
    const serving = (async () => {
      for await (const conn of receiver) conn.close();
    })().catch(() => {});
    const dialMs: number[] = [];
    for (let i = 0; i < dials + 3; i++) {
      const t = performance.now();
      const conn = await dialBroker({ server: `127.0.0.1:${port}`, uid: "bench" });
      if (i >= 3) dialMs.push(performance.now() - t); // the first three warm up
      conn.close();
    }
    await receiver.close();
    await serving;
    const connectMs: number[] = [];
    {
      using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
      for (let i = 0; i < dials; i++) {
        const t = performance.now();
        const conn = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
        connectMs.push(performance.now() - t);
        conn.close();
        (await listener.accept()).close();
      }
    }
    dialMs.sort((a, b) => a - b);
    connectMs.sort((a, b) => a - b);

    const projectedCpu = idleCpu + Math.max(0, measuredCpu - idleCpu) / scale;
    const result: BrokerBenchResult = {
      idleRssMb,
      loadedRssMb,
      idleCpu,
      measuredCpu,
      projectedCpu,
      keepAlivesPerSecond,
      registrationsPerSecond,
      dialMs,
      connectMs,
    };
    const perReceiverKb = ((loadedRssMb - idleRssMb) * 1024) / count;
    const markdown = `## Connection broker (issue 6)

\`server.ts --broker-port\` in its own process; ${fmt(count)} receivers registered over loopback
by this process, each sending keep-alives spread evenly over the interval. RSS and CPU are the
broker process's (\`/proc\`), against the same broker before any registration (the baseline).

The p2prs keep-alive interval is 30 s (${fmt(count / 30)} keep-alives/s for ${fmt(count)}
receivers). To measure in seconds rather than minutes, the interval is shortened to
${keepAliveMs / 1000} s (drop timeout ${(keepAliveMs * 65) / 30 / 1000} s, p2prs's ratio): ${
      fmt(scale)
    }× the rate. CPU is measured over ${intervals} intervals and scaled back: idle CPU + (measured −
idle) / ${fmt(scale)}; keep-alive work is per message, so it is linear in the rate. Memory does not
depend on the interval.

| figure | value | target |
| --- | ---: | ---: |
| broker RSS, empty (baseline) | ${fmt(idleRssMb, 1)} MB | |
| broker RSS, ${fmt(count)} idle receivers, keep-alives flowing | **${fmt(loadedRssMb, 1)} MB** (+${
      fmt(perReceiverKb, 1)
    } KB per receiver) | < 300 MB |
| broker CPU, empty (baseline) | ${fmt(idleCpu, 2)}% of a core | |
| broker CPU at ${keepAliveMs / 1000} s keep-alives (measured, ${
      fmt(keepAlivesPerSecond)
    } keep-alives/s answered) | ${fmt(measuredCpu, 2)}% of a core | |
| broker CPU at 30 s keep-alives (scaled) | **${fmt(projectedCpu, 2)}% of a core** | < 5% |
| registrations | ${fmt(registrationsPerSecond)} /s | |

Dial setup on loopback (\`dialBroker\` to a library receiver: all twelve steps, the step-6 SYN
refused at once as there is no NAT, then the \`hello\`s), ${dials} dials one after another:

| | p50 ms | p95 ms |
| --- | ---: | ---: |
| dial through the broker | **${fmt(percentile(dialMs, 0.5), 1)}** | ${
      fmt(percentile(dialMs, 0.95), 1)
    } |
| baseline: plain TCP connect on loopback | ${fmt(percentile(connectMs, 0.5), 2)} | ${
      fmt(percentile(connectMs, 0.95), 2)
    } |

${machineLine()}
`;
    return { id: "broker", markdown, result };
  } finally {
    if (timer !== undefined) clearInterval(timer);
    for (const r of receivers) r.close();
    child.kill("SIGTERM");
    await child.status;
  }
}

if (import.meta.main) {
  const section = await benchBrokerReceivers({
    receivers: Number(Deno.args[0] ?? 10_000),
  });
  console.log(section.markdown);
}
