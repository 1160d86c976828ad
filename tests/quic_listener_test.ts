/**
 * `net/quic.ts` under a crowd: Deno 2.9's QUIC panics when a packet arrives for a connection
 * attempt left in a stopped listener's queue. Each scenario runs in a child process so such a
 * panic fails the test instead of killing the runner.
 */

import assert from "node:assert/strict";

async function runScenario(mode: string): Promise<Record<string, unknown>> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL("./quic_listener_peer.ts", import.meta.url).pathname, mode],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stdout = new TextDecoder().decode(output.stdout).trim();
  const stderr = new TextDecoder().decode(output.stderr);
  assert.equal(output.code, 0, `the ${mode} scenario's process failed:\n${stderr}`);
  assert.doesNotMatch(stderr, /panicked/);
  return JSON.parse(stdout.split("\n").at(-1)!);
}

Deno.test("quicAccept serves the first joiner, refuses a second one, and the runtime survives", async () => {
  const result = await runScenario("two-joiners");
  assert.equal(result.fulfilled, 1);
  assert.deepEqual(result.first, 1);
  assert.deepEqual(result.echoed, 2);
  const refused = result.refused as string[];
  assert.equal(refused.length, 1);
  assert.match(refused[0]!, /refuse/);
});

Deno.test("quicAccept cancelled during a joiner's handshake rejects with the reason; the runtime survives", async () => {
  const result = await runScenario("cancel");
  assert.equal(result.acceptError, "cancelled by the test");
});
