/**
 * The peerlink client's command line: `deno run -A client.ts --help`.
 *
 * @example
 * ```sh
 * deno run -A client.ts exchange --create --server 127.0.0.1
 * ```
 *
 * @module
 */

import { runClient } from "./cli/main.ts";
import { processIo } from "./cli/io.ts";

if (import.meta.main) {
  let code: number;
  {
    using io = processIo();
    code = await runClient(Deno.args, io);
  }
  Deno.exit(code);
}
