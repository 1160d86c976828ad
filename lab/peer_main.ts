/**
 * A peer program for lab tests and benchmarks: connect with `connectPeer`, optionally move N
 * bytes from the creator to the joiner, and print one JSON object per event on stdout:
 * `{"event":"code","code":...}` (creator), `{"event":"connected","path":...,"ms":...}` (ms from
 * the peer's contact to the authenticated pipe), `{"event":"first-byte","ms":...}` (joiner, ms
 * from the contact), `{"event":"done","bytes":N,"sha256":...}`, or `{"event":"error",...}`.
 *
 * ```sh
 * deno run -A lab/peer_main.ts --server 198.51.100.10 [--code CODE] [--relay 198.51.100.10:2312]
 *   [--disable direct-tcp,...] [--policy auto|direct-only|relay-only] [--bytes N] [-4]
 * ```
 *
 * @module
 */

import { createHash } from "node:crypto";
import { connectPeer, type PathPolicy } from "../client/connect.ts";
import type { ConnectionPath } from "../client/path_stats.ts";
import { relayDialer } from "../client/relay.ts";
import { parseFlags } from "../cli/flags.ts";

/** Fill `size` bytes with a repeating pseudo-random pattern (cheap, hashable). */
function pattern(size: number): Uint8Array {
  const block = new Uint8Array(65536);
  crypto.getRandomValues(block);
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i += block.length) {
    out.set(block.subarray(0, Math.min(block.length, size - i)), i);
  }
  return out;
}

const print = (value: unknown): void => console.log(JSON.stringify(value));

if (import.meta.main) {
  const { values } = parseFlags(Deno.args, [
    { name: "server", type: "string", multiple: true, help: "gday server(s)" },
    { name: "code", type: "string", help: "join with this code" },
    { name: "relay", type: "string", help: "relay host:port" },
    { name: "disable", type: "string", help: "paths to leave out" },
    {
      name: "policy",
      type: "string",
      default: "auto",
      choices: ["auto", "direct-only", "relay-only"],
      help: "policy",
    },
    { name: "bytes", type: "integer", default: 0, min: 0, help: "bytes the creator sends" },
    { name: "ipv4", type: "boolean", short: "4", help: "IPv4 only" },
    { name: "timeout", type: "integer", default: 10000, help: "punch timeout ms" },
  ]);
  let contactsAt = 0;
  try {
    const conn = await connectPeer({
      server: values.server as string[],
      code: values.code as string | undefined,
      families: values.ipv4 ? ["v4"] : undefined,
      policy: values.policy as PathPolicy,
      disable: values.disable
        ? (values.disable as string).split(",") as ConnectionPath[]
        : undefined,
      relay: values.relay ? relayDialer({ server: values.relay as string }) : undefined,
      punchTimeoutMs: values.timeout as number,
      onCode: (code) => print({ event: "code", code }),
      onEvent: (e) => {
        if (e.kind === "contacts") contactsAt = performance.now();
        if (e.kind === "path-failed") console.error(`path ${e.path} failed: ${e.error}`);
      },
    });
    print({
      event: "connected",
      path: conn.path,
      ms: performance.now() - contactsAt,
      remote: conn.remoteAddr,
    });
    const size = values.bytes as number;
    if (conn.isCreator) {
      const writer = conn.writable.getWriter();
      const data = pattern(Math.max(1, size));
      const hash = createHash("sha256").update(data).digest("hex");
      for (let i = 0; i < data.length; i += 1 << 20) {
        await writer.write(data.subarray(i, i + (1 << 20)));
      }
      await writer.close();
      await new Response(conn.readable).arrayBuffer();
      print({ event: "done", bytes: data.length, sha256: hash });
    } else {
      const hash = createHash("sha256");
      let bytes = 0;
      let first = true;
      for await (const chunk of conn.readable) {
        if (first && chunk.length > 0) {
          print({ event: "first-byte", ms: performance.now() - contactsAt });
          first = false;
        }
        hash.update(chunk);
        bytes += chunk.length;
      }
      await conn.writable.close();
      print({ event: "done", bytes, sha256: hash.digest("hex") });
    }
    await conn.close();
  } catch (error) {
    print({ event: "error", name: (error as Error).name, message: (error as Error).message });
  }
  Deno.exit(0);
}
