/**
 * Entry point of `deno task lab`: runs {@linkcode runLabCli} with `Deno.args`, the console, and a
 * signal that aborts on Ctrl-C (SIGINT) or SIGTERM, so an interrupted `up` removes what it built.
 *
 * @example
 * ```sh
 * sudo deno task lab up cone symmetric
 * sudo deno task lab status
 * sudo deno task lab down
 * ```
 *
 * @module
 */

import { runLabCli } from "./cli.ts";

if (import.meta.main) {
  const controller = new AbortController();
  const interrupt = (): void => controller.abort(new Error("Interrupted"));
  const signals: Deno.Signal[] = ["SIGINT", "SIGTERM"];
  for (const signal of signals) Deno.addSignalListener(signal, interrupt);
  let code: number;
  try {
    code = await runLabCli(Deno.args, {
      stdout: (line) => console.log(line),
      stderr: (line) => console.error(line),
      signal: controller.signal,
    });
  } finally {
    for (const signal of signals) Deno.removeSignalListener(signal, interrupt);
  }
  Deno.exit(code);
}
