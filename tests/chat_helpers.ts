/** Helpers for the chat tests: an in-process introducer and a wait for its next event. */

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
