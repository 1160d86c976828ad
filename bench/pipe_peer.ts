/**
 * The peer side of `bench/pipe_connect.ts`, run inside a lab host's namespace: connect to the
 * other peer `runs` times and print one JSON line per connection with the time from
 * `PeerContact` (the `contacts` event of `connectPeer`) to the authenticated pipe.
 *
 * ```sh
 * deno run -A bench/pipe_peer.ts create RUNS PATH SERVER...   # prints {"code":...} then {"ms":...}
 * deno run -A bench/pipe_peer.ts join RUNS PATH SERVER...     # reads one code per stdin line
 * ```
 *
 * `PATH` is `direct-tcp`, `direct-udp` or `any`; `SERVER` may be repeated (v4 and v6).
 *
 * @module
 */

import { type ConnectionPath, connectPeer } from "../client/connect.ts";

const PATHS: ConnectionPath[] = ["direct-tcp", "direct-udp"];

async function* stdinLines(): AsyncGenerator<string> {
  let buffer = "";
  for await (const chunk of Deno.stdin.readable.pipeThrough(new TextDecoderStream())) {
    buffer += chunk;
    let nl;
    while ((nl = buffer.indexOf("\n")) >= 0) {
      yield buffer.slice(0, nl).trim();
      buffer = buffer.slice(nl + 1);
    }
  }
}

if (import.meta.main) {
  const [role, runsText, path, ...server] = Deno.args;
  const runs = Number(runsText);
  const disable = path === "any" ? [] : PATHS.filter((p) => p !== path);
  const print = (value: unknown): void => console.log(JSON.stringify(value));
  const codes = role === "join" ? stdinLines() : undefined;
  for (let i = 0; i < runs; i++) {
    let contacts = 0;
    const code = codes ? (await codes.next()).value as string : undefined;
    try {
      const conn = await connectPeer({
        server,
        code,
        disable,
        stun: path === "direct-tcp" ? false : undefined,
        onCode: (text) => print({ code: text }),
        onEvent: (event) => {
          if (event.kind === "contacts") contacts = performance.now();
        },
      });
      const ms = performance.now() - contacts;
      print({ run: i, ms, path: conn.path, remote: conn.remoteAddr });
      await conn.close();
    } catch (error) {
      print({ run: i, error: String(error) });
    }
  }
}
