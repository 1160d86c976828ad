/**
 * Helpers for the chat tests: an in-process introducer, two users registered with it, and a wait
 * for its next event.
 */

import {
  createIntroducerClient,
  type IntroducerClient,
  type IntroducerClientOptions,
} from "../client/introducer.ts";
import { type ChatEvent, chatPlugin, ChatState } from "../server/services/chat.ts";
import { type PeerlinkServer, startServer } from "../server/server.ts";
import { silentLogger } from "../server/logger.ts";

/** Start the chat introducer (the chat service alone) on a free UDP port of `hostname`. */
export async function startIntroducer(
  state: ChatState = new ChatState(),
  hostname = "127.0.0.1",
  rateLimit = 0,
): Promise<PeerlinkServer> {
  return await startServer({
    hostname,
    gdayPort: null,
    logger: silentLogger,
    services: [chatPlugin({ port: 0, state, rateLimit })],
  });
}

/** An introducer with two clients registered as "alice" and "bob"; disposing closes all three. */
export interface AliceAndBob extends AsyncDisposable {
  state: ChatState;
  server: PeerlinkServer;
  alice: IntroducerClient;
  bob: IntroducerClient;
}

/** Start an introducer and register "alice", then "bob", each with `options`. */
export async function aliceAndBob(
  options: Omit<IntroducerClientOptions, "introducer">,
): Promise<AliceAndBob> {
  await using stack = new AsyncDisposableStack();
  const state = new ChatState();
  const server = stack.use(await startIntroducer(state));
  const introducer = server.listeners[0]!.addr;
  const alice = stack.use(await createIntroducerClient({ introducer, ...options }));
  const bob = stack.use(await createIntroducerClient({ introducer, ...options }));
  await alice.register("alice");
  await bob.register("bob");
  const owned = stack.move();
  return { state, server, alice, bob, [Symbol.asyncDispose]: () => owned.disposeAsync() };
}

/** Resolves with the first event of `state` that matches, from now on; rejects after `timeoutMs`. */
export function nextIntroducerEvent(
  state: ChatState,
  match: (event: ChatEvent) => boolean,
  timeoutMs = 5000,
): Promise<ChatEvent> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      stop();
      reject(new Error("Timed out waiting for an introducer event"));
    }, timeoutMs);
    const stop = state.subscribe((event) => {
      if (!match(event)) return;
      clearTimeout(timer);
      stop();
      resolve(event);
    });
  });
}
