/**
 * `client.ts chat` run in process with injected I/O: two "terminals" (fake stdin, captured
 * output) chat through a real introducer over loopback.
 */

import assert from "node:assert/strict";
import { chatCommand, type ChatIo, printable } from "../cli/commands/chat.ts";
import { runClient } from "../cli/main.ts";
import { ChatState } from "../server/services/chat.ts";
import { UdpEndpoint } from "../net/udp_endpoint.ts";
import { waitUntil } from "./chat_raw_peer.ts";
import { startIntroducer } from "./chat_helpers.ts";

const encoder = new TextEncoder();

/** A fake terminal: what the user types, what the command printed, Ctrl-C. */
class Terminal {
  out = "";
  err = "";
  #input!: ReadableStreamDefaultController<Uint8Array>;
  #interrupt = new AbortController();
  readonly io: ChatIo;

  constructor(env: Record<string, string> = {}) {
    const stdin = new ReadableStream<Uint8Array>({ start: (c) => void (this.#input = c) });
    this.io = {
      out: (t) => void (this.out += t),
      err: (t) => void (this.err += t),
      env: (name) => env[name],
      isTerminal: false,
      signal: this.#interrupt.signal,
      stdin,
    };
  }

  get screen(): string {
    return this.out + this.err;
  }

  type(line: string): void {
    this.#input.enqueue(encoder.encode(line + "\n"));
  }

  endOfInput(): void {
    this.#input.close();
  }

  ctrlC(): void {
    this.#interrupt.abort(new Error("Interrupted"));
  }

  async waitFor(pattern: RegExp, timeoutMs = 10_000): Promise<void> {
    await waitUntil(() => pattern.test(this.screen), timeoutMs, `${pattern} on:\n${this.screen}`)
      .catch((error) => {
        throw new Error(`${error.message}`);
      });
  }
}

const fast = ["--punch-timeout", "5"];

Deno.test("chat CLI: --help, and wrong usage exits 2 with a reason", async () => {
  const help = new Terminal();
  assert.equal(await chatCommand(["--help"], help.io), 0);
  for (const flag of ["--name NAME", "--to NAME", "--server HOST[:PORT]", "--secret CODE"]) {
    assert.ok(help.out.includes(flag), flag);
  }
  const cases: [string[], RegExp][] = [
    [[], /--name/],
    [["--name", "bad name"], /not a valid name/],
    [["--name", "alice", "--to", "alice"], /yourself/],
    [["--name", "alice", "--server", "a:b:c:d"], /introducer/],
    [["--name", "alice", "--secret", ""], /--secret/],
    [["--name", "alice", "--ping-interval", "10", "--peer-timeout", "5"], /--peer-timeout/],
    [["--name", "alice", "--bogus"], /bogus/],
  ];
  for (const [args, reason] of cases) {
    const terminal = new Terminal();
    assert.equal(await runClient(["chat", ...args], terminal.io), 2, args.join(" "));
    assert.match(terminal.err, reason);
  }
  const top = new Terminal();
  assert.equal(await runClient(["--help"], top.io), 0);
  assert.match(top.out, /chat/);
});

Deno.test("chat CLI: two people chat, plain; /quit says goodbye and both exit 0", async () => {
  const state = new ChatState();
  await using server = await startIntroducer(state);
  const address = `127.0.0.1:${server.listeners[0]!.addr.port}`;
  const bob = new Terminal();
  const alice = new Terminal();
  const bobExit = chatCommand(["--name", "bob", "--server", address, ...fast], bob.io);
  await bob.waitFor(/Registered as bob/);
  assert.match(bob.err, /NOT encrypted \(Peer-Punch compatible\)/);
  assert.match(bob.err, /Waiting for a call.*--to bob --server 127\.0\.0\.1:\d+/);
  bob.type("anyone there?");
  await bob.waitFor(/Not connected yet: that line will be sent once connected/);

  const aliceExit = chatCommand(
    ["--name", "alice", "--to", "bob", "--server", address, ...fast],
    alice.io,
  );
  await alice.waitFor(/Connected to bob at 127\.0\.0\.1:\d+ \(NOT encrypted\)/);
  await bob.waitFor(/Connected to alice at 127\.0\.0\.1:\d+ \(NOT encrypted\)/);
  assert.match(alice.err, /Calling bob\.\.\./);

  // What bob typed before anyone called is sent once connected.
  await alice.waitFor(/\[bob\]> anyone there\?\n/);
  alice.type("hello bob");
  await bob.waitFor(/\[alice\]> hello bob\n/);
  bob.type("hi alice, ça va? \u001b[2J");
  await alice.waitFor(/\[bob\]> hi alice, ça va\? \\x1b\[2J\n/);
  const long = "0123456789".repeat(300);
  alice.type(long);
  await bob.waitFor(new RegExp(`\\[alice\\]> ${long}\n`));

  alice.type("/quit");
  assert.equal(await aliceExit, 0);
  assert.equal(await bobExit, 0);
  assert.match(bob.err, /alice said goodbye/);
  assert.match(alice.err, /\* Said goodbye to bob\n/);
  await waitUntil(() => state.busyPairs === 0, 3000, "the pair released");
});

Deno.test("chat CLI: --secret chats encrypted; Ctrl-C says goodbye and exits 0", async () => {
  await using server = await startIntroducer();
  const address = `127.0.0.1:${server.listeners[0]!.addr.port}`;
  const bob = new Terminal();
  const alice = new Terminal();
  const secret = ["--secret", "42-purple-harbour"];
  const bobExit = chatCommand(["--name", "bob", "--server", address, ...secret, ...fast], bob.io);
  await bob.waitFor(/Registered as bob/);
  assert.match(bob.err, /end-to-end encrypted/);
  const aliceExit = chatCommand(
    ["--name", "alice", "--to", "bob", "--server", address, ...secret, ...fast],
    alice.io,
  );
  await alice.waitFor(/Connected to bob at .* \(encrypted\)/);
  await bob.waitFor(/Connected to alice at .* \(encrypted\)/);
  bob.type("secret hello");
  await alice.waitFor(/\[bob\]> secret hello\n/);
  bob.ctrlC();
  assert.equal(await bobExit, 0);
  assert.equal(await aliceExit, 0);
  assert.match(alice.err, /bob said goodbye/);
});

Deno.test("chat CLI: a wrong code, an unknown name, and end of input", async () => {
  await using server = await startIntroducer();
  const address = `127.0.0.1:${server.listeners[0]!.addr.port}`;
  {
    const bob = new Terminal();
    const alice = new Terminal();
    const bobExit = chatCommand(
      ["--name", "bob", "--server", address, "--secret", "one", ...fast],
      bob.io,
    );
    await bob.waitFor(/Registered as bob/);
    const aliceExit = chatCommand(
      ["--name", "alice", "--to", "bob", "--server", address, "--secret", "two", ...fast],
      alice.io,
    );
    assert.equal(await aliceExit, 1);
    assert.equal(await bobExit, 1);
    assert.match(alice.err, /error: Wrong code/);
    assert.match(bob.err, /error: Wrong code/);
  }
  {
    const carol = new Terminal();
    assert.equal(
      await chatCommand(["--name", "carol", "--to", "nobody", "--server", address], carol.io),
      1,
    );
    assert.match(carol.err, /error: No user "nobody" is registered/);
  }
  {
    const dave = new Terminal();
    const erin = new Terminal();
    const daveExit = chatCommand(["--name", "dave", "--server", address, ...fast], dave.io);
    await dave.waitFor(/Registered as dave/);
    const erinExit = chatCommand(
      ["--name", "erin", "--to", "dave", "--server", address, ...fast],
      erin.io,
    );
    // Piped input: the lines and the end of input come before the chat is open.
    erin.type("last words");
    erin.endOfInput();
    await erin.waitFor(/Connected to dave/);
    assert.equal(await erinExit, 0);
    assert.match(erin.err, /End of input: said goodbye to dave/);
    assert.equal(await daveExit, 0);
    assert.match(dave.out, /\[erin\]> last words/);
    assert.match(dave.err, /erin said goodbye/);
  }
});

Deno.test("chat CLI: an unreachable introducer is retried until the user quits", async () => {
  // A UDP port nobody answers on: bind one and keep it silent.
  await using silent = UdpEndpoint.bind({ hostname: "127.0.0.1" });
  const address = `127.0.0.1:${silent.localAddr.port}`;
  const erin = new Terminal();
  const exit = chatCommand(["--name", "erin", "--server", address], erin.io);
  await erin.waitFor(/No answer from the introducer.*trying again/, 20_000);
  erin.ctrlC();
  assert.equal(await exit, 0);
});

Deno.test("printable: control characters and bidi overrides are shown, not obeyed", () => {
  assert.equal(printable("a\tb"), "a\tb");
  assert.equal(printable("\u0007\r\n\u009b\u202e"), "\\x07\\r\\n\\x9b\\u{202e}");
  assert.equal(printable("naïve 😀"), "naïve 😀");
});
