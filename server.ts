/**
 * The peerlink server's command line: `deno run -A server.ts --help`.
 *
 * @example
 * ```sh
 * deno run -A server.ts --host 127.0.0.1 --gday-port 0
 * ```
 *
 * @module
 */

import { runServer } from "./cli/server_main.ts";
import { processIo } from "./cli/io.ts";

if (import.meta.main) {
  let code: number;
  {
    using io = processIo();
    code = await runServer(Deno.args, io);
  }
  Deno.exit(code);
}
