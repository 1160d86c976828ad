/**
 * `server.ts` flags of the UDP chat introducer (Peer-Punch compatible). The service is off unless
 * `--chat-port` is given; Peer-Punch peers expect port 8080.
 *
 * @module
 */

import { DEFAULT_PEER_PUNCH_PORT } from "../../protocol/peer_punch.ts";
import {
  chatPlugin,
  DEFAULT_CHAT_BUSY_TIMEOUT_MS,
  DEFAULT_CHAT_IDLE_TIMEOUT_MS,
  DEFAULT_CHAT_MAX_USERS,
  DEFAULT_CHAT_RATE_LIMIT,
} from "../../server/services/chat.ts";
import type { CliService } from "../server_services.ts";

/**
 * The chat introducer's command-line face: `--chat-port` (off when absent), `--chat-idle-timeout`,
 * `--chat-busy-timeout`, `--chat-rate-limit` and `--chat-max-users`.
 *
 * @example
 * ```ts
 * import { chatCliService } from "./chat.ts";
 * if (chatCliService.build({}) !== null) throw new Error("On without --chat-port");
 * const factory = chatCliService.build({
 *   "chat-port": 0, "chat-idle-timeout": 120, "chat-busy-timeout": 600,
 *   "chat-rate-limit": 600, "chat-max-users": 1000,
 * });
 * if (typeof factory !== "function") throw new Error("No factory");
 * ```
 */
export const chatCliService: CliService = {
  name: "chat",
  flags: [
    {
      name: "chat-port",
      type: "integer",
      value: "PORT",
      min: 0,
      max: 65535,
      help:
        `UDP chat introducer (Peer-Punch compatible; its peers use ${DEFAULT_PEER_PUNCH_PORT}); off unless given (0: any free port)`,
    },
    {
      name: "chat-idle-timeout",
      type: "number",
      value: "SECONDS",
      min: 0.001,
      default: DEFAULT_CHAT_IDLE_TIMEOUT_MS / 1000,
      help: "Forget a chat user that sends nothing for this long",
    },
    {
      name: "chat-busy-timeout",
      type: "number",
      value: "SECONDS",
      min: 0.001,
      default: DEFAULT_CHAT_BUSY_TIMEOUT_MS / 1000,
      help: "Make two introduced chat users available again after this long",
    },
    {
      name: "chat-rate-limit",
      type: "integer",
      value: "N",
      min: 0,
      default: DEFAULT_CHAT_RATE_LIMIT,
      help: "Chat datagrams per minute per client IP (IPv6: per /64); 0 = no limit",
    },
    {
      name: "chat-max-users",
      type: "integer",
      value: "N",
      min: 1,
      default: DEFAULT_CHAT_MAX_USERS,
      help: "Chat users registered at once",
    },
  ],
  build(values) {
    const port = values["chat-port"];
    if (port === undefined) return null;
    const seconds = (name: string, fallbackMs: number): number =>
      values[name] === undefined ? fallbackMs : (values[name] as number) * 1000;
    return chatPlugin({
      port: port as number,
      idleTimeoutMs: seconds("chat-idle-timeout", DEFAULT_CHAT_IDLE_TIMEOUT_MS),
      busyTimeoutMs: seconds("chat-busy-timeout", DEFAULT_CHAT_BUSY_TIMEOUT_MS),
      rateLimit: (values["chat-rate-limit"] as number | undefined) ?? DEFAULT_CHAT_RATE_LIMIT,
      maxUsers: (values["chat-max-users"] as number | undefined) ?? DEFAULT_CHAT_MAX_USERS,
    });
  },
};
