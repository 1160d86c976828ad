/**
 * Throughput of peerlink's native encrypted stream against raw ChaCha20-Poly1305, measured in
 * the same run:
 *
 * - `rawMBps`: node:crypto ChaCha20-Poly1305 encryption of 64 KiB chunks, one thread, nothing
 *   else (the ceiling for one side of a connection).
 * - `rawRoundTripMBps`: the same chunks encrypted and then decrypted, one thread.
 * - `streamMBps`: the native secure stream end to end (handshake keys, chunking, framing,
 *   backpressure, decryption) through an in-memory `duplexPair()`, both peers on this thread.
 *   Every byte is encrypted and decrypted here, so `ratio = streamMBps / rawMBps` cannot
 *   exceed about 0.5; `workRatio = streamMBps / rawRoundTripMBps` compares equal work and
 *   shows the layer's own overhead.
 * - `twoThreadMBps`: the same stream with the receiving peer on a Worker (a MessagePort pipe that
 *   transfers buffers), as two real peers run on two machines; `twoThreadRatio` compares it
 *   with `rawMBps`. It needs two idle cores to mean much.
 *
 * Run directly (`deno run -A bench/secure_throughput.ts`) to print a markdown table.
 *
 * @example
 * ```ts ignore
 * import { benchSecureThroughput } from "./secure_throughput.ts";
 * const { ratio } = await benchSecureThroughput({ durationMs: 200 });
 * ```
 *
 * @module
 */

import { createCipheriv, createDecipheriv } from "node:crypto";
import { duplexPair } from "../secure/duplex_pair.ts";
import type { SecureConnection } from "../secure/duplex.ts";
import { handshake } from "../secure/handshake.ts";
import type { BenchSection } from "./report.ts";
import { portDuplex } from "./secure_port_duplex.ts";
import { denoConnStreams } from "../net/deno_conn.ts";
import { BENCH_CODE } from "./secure_tcp_peer.ts";
import type { WorkerReply, WorkerRequest } from "./secure_throughput_worker.ts";

export type { BenchSection };

/** Options for {@linkcode benchSecureThroughput}. */
export interface SecureThroughputOptions {
  /** Milliseconds spent on each of the measurements. @default {800} */
  durationMs?: number;
  /** Bytes per write and per raw chunk. @default {65536} */
  chunkBytes?: number;
  /** Also measure with the receiver on a Worker thread. @default {true} */
  twoThreads?: boolean;
}

/** What {@linkcode benchSecureThroughput} measured, in MB/s (10^6 bytes per second). */
export interface SecureThroughputResult {
  /** Raw ChaCha20-Poly1305 encryption, one thread. */
  rawMBps: number;
  /** Raw encryption then decryption of each chunk, one thread. */
  rawRoundTripMBps: number;
  /** Native stream through an in-memory pipe, both peers on one thread. */
  streamMBps: number;
  /** `streamMBps / rawMBps`. */
  ratio: number;
  /** `streamMBps / rawRoundTripMBps`: equal crypto work on both sides of the ratio. */
  workRatio: number;
  /** Native stream with the receiver on a Worker, if measured. */
  twoThreadMBps?: number;
  /** `twoThreadMBps / rawMBps`, if measured. */
  twoThreadRatio?: number;
  /** Native stream over loopback TCP, receiver in another process (as two real peers). */
  tcpMBps?: number;
  /** `tcpMBps / rawMBps` (encryption only: the stream also decrypts, on the same 2 cores). */
  tcpRatio?: number;
  /** `tcpMBps / rawRoundTripMBps`: the headline figure (target ≥ 0.8). */
  tcpWorkRatio?: number;
  /** Plain TCP over loopback between the same two processes, no crypto (the transport's ceiling). */
  rawTcpMBps?: number;
}

const CODE = new TextEncoder().encode("bench-secure-throughput");

function mbps(bytes: number, ms: number): number {
  return bytes / 1e6 / (ms / 1000);
}

function measureRaw(chunk: Uint8Array, durationMs: number, roundTrip: boolean): number {
  const key = crypto.getRandomValues(new Uint8Array(32));
  const nonce = new Uint8Array(12);
  let bytes = 0;
  const start = performance.now();
  while (performance.now() - start < durationMs) {
    const cipher = createCipheriv("chacha20-poly1305", key, nonce, { authTagLength: 16 });
    const sealed = cipher.update(chunk);
    cipher.final();
    const tag = cipher.getAuthTag();
    if (roundTrip) {
      const decipher = createDecipheriv("chacha20-poly1305", key, nonce, { authTagLength: 16 });
      decipher.setAuthTag(tag);
      decipher.update(sealed);
      decipher.final();
    }
    bytes += chunk.length;
  }
  return mbps(bytes, performance.now() - start);
}

async function pump(
  sender: SecureConnection,
  chunk: Uint8Array,
  durationMs: number,
): Promise<number> {
  const writer = sender.writable.getWriter();
  let bytes = 0;
  const start = performance.now();
  while (performance.now() - start < durationMs) {
    await writer.write(chunk);
    bytes += chunk.length;
  }
  await writer.close();
  return bytes;
}

async function measureStream(chunk: Uint8Array, durationMs: number): Promise<number> {
  const [left, right] = duplexPair({ capacity: 1 << 20 });
  const [sender, receiver] = await Promise.all([handshake(left, CODE), handshake(right, CODE)]);
  const start = performance.now();
  const receiving = (async () => {
    let bytes = 0;
    for await (const piece of receiver.readable) bytes += piece.length;
    return bytes;
  })();
  const [sent, received] = await Promise.all([pump(sender, chunk, durationMs), receiving]);
  const ms = performance.now() - start;
  if (sent !== received) throw new Error(`Sent ${sent} bytes but received ${received}`);
  await receiver.writable.close();
  await new Response(sender.readable).arrayBuffer();
  return mbps(received, ms);
}

/**
 * Loopback TCP between two processes: this one encrypts and sends, `secure_tcp_peer.ts`
 * decrypts and counts on the other core. MB/s from the first byte to the receiver's last.
 */
async function measureTcp(chunk: Uint8Array, durationMs: number, raw = false): Promise<number> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL("./secure_tcp_peer.ts", import.meta.url).pathname,
      ...(raw ? ["--raw"] : []),
    ],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let buffered = "";
  const nextLine = async (): Promise<string> => {
    for (;;) {
      const nl = buffered.indexOf("\n");
      if (nl >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        return line;
      }
      const { value, done } = await lines.read();
      if (done) throw new Error("The benchmark peer exited early");
      buffered += value;
    }
  };
  try {
    const port = Number(await nextLine());
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    conn.setNoDelay(true);
    if (raw) {
      const start = performance.now();
      let sent = 0;
      while (performance.now() - start < durationMs) {
        for (let off = 0; off < chunk.length;) off += await conn.write(chunk.subarray(off));
        sent += chunk.length;
      }
      await conn.closeWrite();
      const received = Number(await nextLine());
      const ms = performance.now() - start;
      conn.close();
      if (sent !== received) {
        throw new Error(`Sent ${sent} bytes but the peer received ${received}`);
      }
      return mbps(received, ms);
    }
    const streams = denoConnStreams(conn);
    const sender = await handshake(streams, BENCH_CODE);
    const start = performance.now();
    const sent = await pump(sender, chunk, durationMs);
    const received = Number(await nextLine());
    const ms = performance.now() - start;
    await new Response(sender.readable).arrayBuffer();
    streams.close();
    if (sent !== received) throw new Error(`Sent ${sent} bytes but the peer received ${received}`);
    return mbps(received, ms);
  } finally {
    await lines.cancel().catch(() => {});
    await child.status;
  }
}

async function measureTwoThreads(chunk: Uint8Array, durationMs: number): Promise<number> {
  const worker = new Worker(new URL("./secure_throughput_worker.ts", import.meta.url), {
    type: "module",
  });
  const { port1, port2 } = new MessageChannel();
  try {
    const reply = new Promise<WorkerReply>((resolve, reject) => {
      worker.onmessage = (event: MessageEvent<WorkerReply>) => resolve(event.data);
      worker.onerror = (event) => {
        event.preventDefault();
        reject(new Error(`Benchmark worker failed: ${event.message}`));
      };
    });
    worker.postMessage({ port: port2, code: CODE } satisfies WorkerRequest, [port2]);
    const sender = await handshake(portDuplex(port1), CODE);
    const start = performance.now();
    const sent = await pump(sender, chunk, durationMs);
    const { bytes } = await reply;
    const ms = performance.now() - start;
    if (sent !== bytes) throw new Error(`Sent ${sent} bytes but the worker received ${bytes}`);
    await new Response(sender.readable).arrayBuffer();
    return mbps(bytes, ms);
  } finally {
    port1.close();
    worker.terminate();
  }
}

/**
 * Measure raw and stream throughput in one run (about four times `durationMs`).
 *
 * @throws {RangeError} when `durationMs` or `chunkBytes` is not positive.
 *
 * @example
 * ```ts ignore
 * const result = await benchSecureThroughput({ durationMs: 100, twoThreads: false });
 * if (!(result.streamMBps > 0)) throw new Error("No throughput");
 * ```
 */
export async function benchSecureThroughput(
  options: SecureThroughputOptions = {},
): Promise<SecureThroughputResult> {
  const { durationMs = 800, chunkBytes = 65536, twoThreads = true } = options;
  if (!(durationMs > 0)) throw new RangeError(`durationMs is ${durationMs}, it must be > 0`);
  if (!(chunkBytes > 0)) throw new RangeError(`chunkBytes is ${chunkBytes}, it must be > 0`);
  const chunk = crypto.getRandomValues(new Uint8Array(Math.min(chunkBytes, 65536)));
  const data = new Uint8Array(chunkBytes);
  for (let offset = 0; offset < chunkBytes; offset += chunk.length) {
    data.set(chunk.subarray(0, chunkBytes - offset), offset);
  }
  // Warm up the JIT and the cipher code paths before timing anything.
  measureRaw(data, Math.min(100, durationMs), true);
  await measureStream(data, Math.min(100, durationMs));
  const rawMBps = measureRaw(data, durationMs, false);
  const rawRoundTripMBps = measureRaw(data, durationMs, true);
  const streamMBps = await measureStream(data, durationMs);
  // Application writes of 256 KiB, as file transfer makes them.
  const big = new Uint8Array(256 * 1024);
  for (let offset = 0; offset < big.length; offset += data.length) {
    big.set(data.subarray(0, big.length - offset), offset);
  }
  // Median of three runs: one loopback run on a shared 2-core machine varies a lot.
  const median = (xs: number[]): number => xs.sort((a, b) => a - b)[1]!;
  const tcpMBps = median([
    await measureTcp(big, durationMs * 2),
    await measureTcp(big, durationMs * 2),
    await measureTcp(big, durationMs * 2),
  ]);
  const rawTcpMBps = await measureTcp(big, durationMs, true);
  const result: SecureThroughputResult = {
    rawMBps,
    rawRoundTripMBps,
    streamMBps,
    ratio: streamMBps / rawMBps,
    workRatio: streamMBps / rawRoundTripMBps,
    tcpMBps,
    tcpRatio: tcpMBps / rawMBps,
    tcpWorkRatio: tcpMBps / rawRoundTripMBps,
    rawTcpMBps,
  };
  if (twoThreads) {
    result.twoThreadMBps = await measureTwoThreads(data, durationMs);
    result.twoThreadRatio = result.twoThreadMBps / rawMBps;
  }
  return result;
}

/** The header of {@linkcode formatSecureThroughputRow}'s table. */
export const SECURE_THROUGHPUT_HEADER: string =
  "| raw encrypt MB/s | raw encrypt+decrypt MB/s | plain TCP MB/s | stream over TCP MB/s | " +
  "**stream / raw enc+dec** | stream / raw encrypt | in-memory stream MB/s (1 thread) |\n" +
  "|---:|---:|---:|---:|---:|---:|---:|";

/**
 * One markdown table row for a result.
 *
 * @example
 * ```ts
 * import { formatSecureThroughputRow } from "./secure_throughput.ts";
 * const row = formatSecureThroughputRow({
 *   rawMBps: 1000, rawRoundTripMBps: 500, streamMBps: 450, ratio: 0.45, workRatio: 0.9,
 * });
 * if (!row.startsWith("| 1000 | 500 | – | – | **–** | – | 450 |")) throw new Error(row);
 * ```
 */
export function formatSecureThroughputRow(result: SecureThroughputResult): string {
  const n = (value: number | undefined): string => value === undefined ? "–" : value.toFixed(0);
  const r = (value: number | undefined): string =>
    value === undefined ? "–" : `${(value * 100).toFixed(0)}%`;
  return `| ${n(result.rawMBps)} | ${n(result.rawRoundTripMBps)} | ${n(result.rawTcpMBps)} | ` +
    `${n(result.tcpMBps)} | **${r(result.tcpWorkRatio)}** | ${r(result.tcpRatio)} | ` +
    `${n(result.streamMBps)} |`;
}

/**
 * The benchmark as a `bench/RESULTS.md` section, for `bench/main.ts`.
 *
 * @example
 * ```ts ignore
 * const section = await benchSecureThroughputSection();
 * ```
 */
export async function benchSecureThroughputSection(
  options: SecureThroughputOptions = {},
): Promise<BenchSection> {
  const result = await benchSecureThroughput({ twoThreads: false, ...options });
  return {
    id: "secure-throughput",
    markdown: `## Encrypted stream throughput (issue 4)

The native secure stream (ChaCha20-Poly1305, 64 KiB chunks, 256 KiB application writes)
between two processes over loopback TCP — this one encrypts and sends, the other decrypts, as two
real peers — against the raw cipher (node:crypto) measured in the same run on one core. The
stream figure is the median of three runs.

${SECURE_THROUGHPUT_HEADER}
${formatSecureThroughputRow(result)}

**stream / raw enc+dec** (target ≥ 80%) compares equal cipher work: every byte of the stream is
encrypted by one peer and decrypted by the other, and here both peers share this 2-core machine
(the stream's two processes use both cores, the raw figure one). Against encryption alone
(\`stream / raw encrypt\`) 80% is out of reach on this machine whatever the design: per byte the
two peers spend one encryption, one decryption and the loopback transfer (the plain-TCP column),
and two cores at most give about 2 / (1/enc + 1/dec + 2/tcp) of it. Two peers on two machines
each spend only their own half.

Machine: ${navigator.hardwareConcurrency} cores, Deno ${Deno.version.deno}.
`,
  };
}

if (import.meta.main) {
  const result = await benchSecureThroughput();
  console.log(SECURE_THROUGHPUT_HEADER);
  console.log(formatSecureThroughputRow(result));
}
