import assert from "node:assert/strict";
import { runServer } from "../cli/server_main.ts";
import type { CliIo } from "../cli/io.ts";

function io(env: Record<string, string> = {}): CliIo & { stdout: string; stderr: string } {
  const state = { stdout: "", stderr: "" };
  return Object.assign(state, {
    out: (t: string) => void (state.stdout += t),
    err: (t: string) => void (state.stderr += t),
    env: (name: string) => env[name],
    isTerminal: false,
    signal: new AbortController().signal,
  });
}

Deno.test("server.ts --print-config shows defaults, then the file, then the environment, then flags", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const file = `${dir}/server.json`;
    await Deno.writeTextFile(
      file,
      JSON.stringify({ "gday-port": 2999, "rate-limit": 5, "stun": false, "log-format": "json" }),
    );
    const defaults = io();
    assert.equal(await runServer(["--print-config"], defaults), 0);
    const d = JSON.parse(defaults.stdout);
    assert.equal(d["gday-port"], 2310);
    assert.equal(d["rate-limit"], 60);

    const fromFile = io();
    assert.equal(await runServer(["--config", file, "--print-config"], fromFile), 0);
    const f = JSON.parse(fromFile.stdout);
    assert.equal(f["gday-port"], 2999);
    assert.equal(f["stun"], false);
    assert.equal(f["log-format"], "json");

    const fromEnv = io({
      PEERLINK_GDAY_PORT: "3111",
      PEERLINK_CONFIG: file,
      PEERLINK_STUN: "true",
    });
    assert.equal(await runServer(["--print-config"], fromEnv), 0);
    const e = JSON.parse(fromEnv.stdout);
    assert.equal(e["gday-port"], 3111, "environment beats the file");
    assert.equal(e["rate-limit"], 5, "the file still applies");
    assert.equal(e["stun"], true);

    const fromFlags = io({ PEERLINK_GDAY_PORT: "3111" });
    assert.equal(
      await runServer(["--config", file, "--gday-port", "4000", "--print-config"], fromFlags),
      0,
    );
    assert.equal(JSON.parse(fromFlags.stdout)["gday-port"], 4000, "flags beat everything");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("server.ts refuses bad config: unknown keys, wrong types, bad environment values", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const bad = async (content: string, env: Record<string, string> = {}): Promise<string> => {
      await Deno.writeTextFile(`${dir}/c.json`, content);
      const out = io(env);
      assert.equal(await runServer(["--config", `${dir}/c.json`, "--print-config"], out), 2);
      return out.stderr;
    };
    assert.match(await bad('{"bogus": 1}'), /unknown setting "bogus"/);
    assert.match(await bad('{"gday-port": "2310"}'), /"gday-port" must be a number/);
    assert.match(await bad("[1, 2]"), /must hold a JSON object/);
    assert.match(await bad("{not json"), /not valid JSON/);
    assert.match(
      await bad("{}", { PEERLINK_GDAY_PORT: "lots" }),
      /--gday-port must be a whole number/,
    );
    assert.match(
      await bad("{}", { PEERLINK_STUN: "maybe" }),
      /PEERLINK_STUN must be true or false/,
    );
    const missing = io();
    assert.equal(await runServer(["--config", `${dir}/none.json`], missing), 2);
    assert.match(missing.stderr, /Cannot read the config file/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
