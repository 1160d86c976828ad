/**
 * Test helpers of the mediator tests: `server.ts` arguments that move every listening service
 * but the ones under test to free ports (other services may be on by default with fixed ports,
 * which concurrent test runs would fight over).
 */

export { freePortArgs } from "../bench/process.ts";
import type { ServerProcess } from "./_helpers.ts";

/** The mediator's port from a `server.ts` child's JSON log (waits for its listening line). */
export async function mediatorPortOf(proc: ServerProcess): Promise<number> {
  const isLine = (l: string): boolean =>
    l.includes('"event":"listening"') && l.includes('"service":"mediator"');
  const line = proc.log.lines.find(isLine) ?? await proc.log.waitFor(isLine, 20_000);
  const addr = JSON.parse(line).addr as string;
  return Number(addr.slice(addr.lastIndexOf(":") + 1));
}
