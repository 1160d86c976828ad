/**
 * `client.ts chat` in two real terminals, driven as a person would: tmux sessions (`new-session
 * -d`), typing (`send-keys`) and reading the screens (`capture-pane`). The introducer runs in
 * this process (the chat service of `server.ts`) on loopback. Skipped when tmux is missing.
 */

import assert from "node:assert/strict";
import { ChatState } from "../server/services/chat.ts";
import { startIntroducer } from "./chat_helpers.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const decoder = new TextDecoder();

async function tmuxMissing(): Promise<string | null> {
  try {
    const out = await new Deno.Command("tmux", { args: ["-V"], stdout: "null", stderr: "null" })
      .output();
    return out.success ? null : "tmux -V failed";
  } catch {
    return "tmux is not installed";
  }
}

/** A private tmux server (its own socket), removed by dispose. */
class Tmux implements AsyncDisposable {
  readonly socket = `peerlink-chat-test-${crypto.randomUUID().slice(0, 8)}`;

  async run(...args: string[]): Promise<string> {
    const out = await new Deno.Command("tmux", {
      args: ["-L", this.socket, "-f", "/dev/null", ...args],
      stdout: "piped",
      stderr: "piped",
      env: { TERM: "xterm-256color" },
    }).output();
    if (!out.success) {
      throw new Error(`tmux ${args.join(" ")} failed: ${decoder.decode(out.stderr)}`);
    }
    return decoder.decode(out.stdout);
  }

  /**
   * Open a terminal named `name` running `client.ts chat ...args`. When the program ends the
   * shell prints its exit status and keeps the terminal open for reading.
   */
  async open(name: string, args: string[]): Promise<Terminal> {
    const quote = (a: string): string => `'${a.replaceAll("'", "'\\''")}'`;
    const chat = [Deno.execPath(), "run", "-A", `${ROOT}client.ts`, "chat", ...args].map(quote)
      .join(" ");
    const shell = `${chat}; echo "[exited with status $?]"; exec sleep 3600`;
    await this.run("new-session", "-d", "-s", name, "-x", "160", "-y", "50", "-c", ROOT, shell);
    return new Terminal(this, name);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.run("kill-server").catch(() => {});
  }
}

/** One tmux window: type into it, read its screen. */
class Terminal {
  constructor(readonly tmux: Tmux, readonly name: string) {}

  /** Type `text` and press Enter. */
  async type(text: string): Promise<void> {
    await this.tmux.run("send-keys", "-t", this.name, "-l", text);
    await this.tmux.run("send-keys", "-t", this.name, "Enter");
  }

  async ctrlC(): Promise<void> {
    await this.tmux.run("send-keys", "-t", this.name, "C-c");
  }

  /** What the screen shows now (with scrollback), trailing blank lines removed. */
  async screen(): Promise<string> {
    const text = await this.tmux.run("capture-pane", "-p", "-J", "-t", this.name, "-S", "-200");
    return text.replace(/\n+$/, "\n");
  }

  /** Wait until the screen matches `pattern`; returns the screen. */
  async waitFor(pattern: RegExp, timeoutMs = 30_000): Promise<string> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const screen = await this.screen();
      if (pattern.test(screen)) return screen;
      if (Date.now() > until) {
        throw new Error(`Timed out waiting for ${pattern} on ${this.name}'s screen:\n${screen}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** The exit status once the program has ended. */
  async exitStatus(timeoutMs = 15_000): Promise<number> {
    const screen = await this.waitFor(/\[exited with status \d+\]/, timeoutMs);
    return Number(/\[exited with status (\d+)\]/.exec(screen)![1]);
  }
}

/** Lines of a screen, for exact checks. */
const lines = (screen: string): string[] => screen.split("\n").map((l) => l.trimEnd());

Deno.test("chat in tmux: two people chat; /quit says goodbye; both screens show it all", async () => {
  const missing = await tmuxMissing();
  if (missing !== null) {
    console.log(`SKIPPED: ${missing}; install tmux to drive client.ts chat in real terminals`);
    return;
  }
  const state = new ChatState();
  await using server = await startIntroducer(state);
  const address = `127.0.0.1:${server.listeners[0]!.addr.port}`;
  await using tmux = new Tmux();

  const bob = await tmux.open("bob", ["--name", "bob", "--server", address]);
  await bob.waitFor(/\* Registered as bob/);
  const alice = await tmux.open("alice", ["--name", "alice", "--to", "bob", "--server", address]);
  const aliceScreen = await alice.waitFor(
    /\* Connected to bob at 127\.0\.0\.1:\d+ \(NOT encrypted\)/,
  );
  assert.match(aliceScreen, /\* This chat is NOT encrypted \(Peer-Punch compatible\)/);
  assert.match(aliceScreen, /\* Calling bob\.\.\./);
  await bob.waitFor(/\* Connected to alice at 127\.0\.0\.1:\d+ \(NOT encrypted\)/);

  await alice.type("hello bob, it is alice");
  await bob.waitFor(/^\[alice\]> hello bob, it is alice$/m);
  await bob.type("hi alice! ünïcödé ✓");
  await alice.waitFor(/^\[bob\]> hi alice! ünïcödé ✓$/m);
  await alice.type("/quit");
  assert.equal(await alice.exitStatus(), 0);
  assert.equal(await bob.exitStatus(), 0);

  const bobLines = lines(await bob.screen());
  const aliceLines = lines(await alice.screen());
  // Bob's screen, in order: status, the line he got, the line he typed (echoed), the goodbye.
  const order = (screen: string[], ...patterns: RegExp[]): void => {
    let at = 0;
    for (const pattern of patterns) {
      const found = screen.findIndex((line, i) => i >= at && pattern.test(line));
      assert.ok(found >= 0, `${pattern} after line ${at} in:\n${screen.join("\n")}`);
      at = found + 1;
    }
  };
  order(
    bobLines,
    /^\* This chat is NOT encrypted/,
    /^\* Registered as bob$/,
    /^\* Waiting for a call/,
    /^\* Connected to alice at /,
    /^\[alice\]> hello bob, it is alice$/,
    /^hi alice! ünïcödé ✓$/,
    /^\* alice said goodbye$/,
  );
  order(
    aliceLines,
    /^\* Registered as alice$/,
    /^\* Calling bob\.\.\.$/,
    /^\* Connected to bob at /,
    /^hello bob, it is alice$/,
    /^\[bob\]> hi alice! ünïcödé ✓$/,
    /^\/quit$/,
    /^\* Said goodbye to bob$/,
  );
  assert.equal(state.busyPairs, 0);
});

Deno.test("chat in tmux: an encrypted chat; Ctrl-C says goodbye", async () => {
  const missing = await tmuxMissing();
  if (missing !== null) {
    console.log(`SKIPPED: ${missing}; install tmux to drive client.ts chat in real terminals`);
    return;
  }
  const state = new ChatState();
  await using server = await startIntroducer(state);
  const address = `127.0.0.1:${server.listeners[0]!.addr.port}`;
  await using tmux = new Tmux();
  const secret = ["--secret", "3-velvet-lantern"];
  const bob = await tmux.open("bob", ["--name", "bob", "--server", address, ...secret]);
  await bob.waitFor(/\* Registered as bob/);
  const alice = await tmux.open("alice", [
    "--name",
    "alice",
    "--to",
    "bob",
    "--server",
    address,
    ...secret,
  ]);
  const aliceScreen = await alice.waitFor(/\* Connected to bob at .* \(encrypted\)/);
  assert.match(aliceScreen, /end-to-end encrypted/);
  await bob.waitFor(/\* Connected to alice at .* \(encrypted\)/);
  await bob.type("only you can read this");
  await alice.waitFor(/^\[bob\]> only you can read this$/m);
  await bob.ctrlC();
  assert.equal(await bob.exitStatus(), 0);
  await alice.waitFor(/^\* bob said goodbye$/m);
  assert.equal(await alice.exitStatus(), 0);
  // The terminal echoes ^C; the status line comes on the next line.
  assert.match(await bob.screen(), /^\^C\n\* Said goodbye to alice$/m);
});
