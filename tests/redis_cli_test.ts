/** `server.ts --redis`: flags, environment, the printed configuration and bad URLs. */

import assert from "node:assert/strict";
import { runServer } from "../cli/server_main.ts";
import { spawnServer } from "./_helpers.ts";

function io(env: Record<string, string> = {}) {
  let out = "";
  let err = "";
  return {
    io: {
      out: (t: string) => void (out += t),
      err: (t: string) => void (err += t),
      env: (name: string) => env[name],
      isTerminal: false,
      signal: AbortSignal.abort(),
    },
    out: () => out,
    err: () => err,
  };
}

Deno.test("server.ts --redis is shown by --print-config with the password hidden", async () => {
  const run = io();
  const code = await runServer(
    ["--redis", "redis://user:hunter2@db.example:6379/0", "--print-config"],
    run.io,
  );
  assert.equal(code, 0);
  const config = JSON.parse(run.out());
  assert.equal(config.redis, "redis://user:***@db.example:6379/0");
  assert.equal(config["redis-prefix"], "peerlink:");
  assert.ok(!run.out().includes("hunter2"));
});

Deno.test("server.ts takes PEERLINK_REDIS and PEERLINK_REDIS_PREFIX from the environment", async () => {
  const run = io({ PEERLINK_REDIS: "redis://127.0.0.1:1", PEERLINK_REDIS_PREFIX: "pl2:" });
  assert.equal(await runServer(["--print-config"], run.io), 0);
  const config = JSON.parse(run.out());
  assert.equal(config.redis, "redis://127.0.0.1:1");
  assert.equal(config["redis-prefix"], "pl2:");
});

Deno.test("server.ts --redis with a URL that is not redis:// is a usage error", async () => {
  const run = io();
  assert.equal(
    await runServer(["--redis", "http://127.0.0.1:6379", "--gday-port", "0"], run.io),
    2,
  );
  assert.match(run.err(), /redis:\/\/ or rediss:\/\//);
});

Deno.test("server.ts --redis stops on SIGTERM while Redis is down (exit 0, no hang)", async () => {
  const port = (() => {
    using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    return listener.addr.port;
  })();
  // Nothing listens there: the server starts after its connect wait, not ready, retrying.
  await using server = await spawnServer([
    "--host",
    "127.0.0.1",
    "--gday-port",
    "0",
    "--redis",
    `redis://127.0.0.1:${port}`,
  ]);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const status = await Promise.race([
    server.stop(),
    new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), 10_000))),
  ]);
  clearTimeout(timer);
  if (status === null) server.child.kill("SIGKILL");
  assert.notEqual(status, null, "the server did not exit within 10 s of SIGTERM");
  assert.equal(status!.code, 0);
});
