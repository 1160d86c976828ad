/**
 * The receiving peer of the loopback-TCP secure-stream benchmark, as its own process (a real
 * peer runs on its own machine): listen on loopback, run the native handshake, read and count
 * the plaintext until the end, print the byte count on stdout, exit.
 *
 * Run: `deno run -A bench/secure_tcp_peer.ts [--raw]` (prints the port on the first line; with
 * `--raw`, plain TCP without handshake or encryption, the baseline).
 *
 * @module
 */

import { denoConnStreams } from "../net/deno_conn.ts";
import { handshake } from "../secure/handshake.ts";

/** The code both sides of the benchmark use. */
export const BENCH_CODE: Uint8Array = new TextEncoder().encode("bench-secure-throughput");

if (import.meta.main) {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  console.log(listener.addr.port);
  const conn = await listener.accept();
  if (Deno.args[0] === "--raw") {
    // The baseline: plain TCP, no handshake, no crypto.
    const buf = new Uint8Array(256 * 1024);
    let bytes = 0;
    for (let n = await conn.read(buf); n !== null; n = await conn.read(buf)) bytes += n;
    console.log(bytes);
    conn.close();
  } else {
    const streams = denoConnStreams(conn);
    const secure = await handshake(streams, BENCH_CODE);
    let bytes = 0;
    for await (const piece of secure.readable) bytes += piece.length;
    await secure.writable.close();
    console.log(bytes);
    streams.close();
  }
}
