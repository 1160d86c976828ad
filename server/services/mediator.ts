/**
 * The mediator service: pairs peers identified by public keys, on one TCP port, in two modes
 * told apart by the first byte a client sends:
 *
 * - `{` (after optional whitespace): **p2psc mode**, for unmodified p2psc clients (RSA keys,
 *   unframed JSON; see `./mediator_p2psc.ts` and `protocol/p2psc.ts`);
 * - `0x00` (the first byte of a length prefix): **native mode**, peerlink's own (Ed25519 keys,
 *   framed JSON; see `./mediator_native.ts` and `protocol/mediator.ts`).
 *
 * Both modes bound every wait, the number of pending registrations and the message size, and
 * count each registration against the server's per-client rate limit.
 *
 * @module
 */

import {
  DEFAULT_MEDIATOR_PORT,
  formatPublicKeyText,
  MAX_MEDIATOR_MESSAGE_BYTES,
} from "../../protocol/mediator.ts";
import { MAX_P2PSC_MESSAGE_BYTES } from "../../protocol/p2psc.ts";
import { generateIdentityKeyPair, type IdentityKeyPair } from "../../secure/identity_handshake.ts";
import type { ServiceFactory } from "../plugin.ts";
import type { ServiceConnection, ServiceHandler } from "../service.ts";
import { type MediatorRuntime, PrimedReader, within } from "./mediator_common.ts";
import { type NativeRegistration, serveNative } from "./mediator_native.ts";
import { type P2pscModeOptions, type P2pscRegistration, serveP2psc } from "./mediator_p2psc.ts";

export type { P2pscModeOptions };
import { MediatorRegistry, type MediatorStore } from "./mediator_registry.ts";
import { RedisMediatorStore } from "../redis/mediator.ts";

/** How long a registration waits for its peer unless told otherwise: 120 s. */
export const DEFAULT_MEDIATOR_WAIT_MS = 120_000;

/** How long the mediator waits for any one message unless told otherwise: 10 s. */
export const DEFAULT_MEDIATOR_STEP_TIMEOUT_MS = 10_000;

/** Pending registrations held at most (per mode) unless told otherwise. */
export const DEFAULT_MEDIATOR_MAX_PENDING = 10_000;

/**
 * The largest message accepted unless told otherwise: 16 KiB (p2psc's `Advertise` with two
 * 4096-bit keys is about 1.7 KB; native messages are under 400 bytes).
 */
export const DEFAULT_MEDIATOR_MAX_MESSAGE_BYTES: number = Math.max(
  MAX_P2PSC_MESSAGE_BYTES,
  MAX_MEDIATOR_MESSAGE_BYTES,
);

/** Whitespace bytes accepted before the first `{` of a p2psc client. */
const MAX_LEADING_WHITESPACE = 1024;

/** Options for {@linkcode mediatorPlugin}. */
export interface MediatorServiceOptions {
  /** The TCP port (0 lets the OS choose). @default {2312} */
  port?: number;
  /** The mediator's own Ed25519 identity (native mode). @default {a fresh key per start} */
  identity?: IdentityKeyPair;
  /** Which modes to serve. @default {{ p2psc: true, native: true }} */
  modes?: { p2psc?: boolean; native?: boolean };
  /** How long a registration waits for its peer, in ms. @default {120000} */
  waitTimeoutMs?: number;
  /** Longest wait for any one message, in ms. @default {10000} */
  stepTimeoutMs?: number;
  /** Longest wait for the second peer to take its pairing, in ms. @default {5000} */
  handoffTimeoutMs?: number;
  /** How long a paired native peer may keep its connection open, in ms. @default {30000} */
  lingerMs?: number;
  /** Pending registrations held at most, per mode. @default {10000} */
  maxPending?: number;
  /** Largest message accepted, in bytes. @default {16384} */
  maxMessageBytes?: number;
  /** p2psc mode settings (accepted versions and key sizes). */
  p2psc?: P2pscModeOptions;
}

function positive(name: string, value: number): number {
  if (!(Number.isFinite(value) && value > 0)) {
    throw new RangeError(`Mediator ${name} is ${value}, it must be a positive number`);
  }
  return value;
}

/**
 * The mediator as a server plugin: `startServer({ services: [mediatorPlugin({ port: 2312 })] })`.
 *
 * @throws {RangeError} for a bad option, before any listener opens.
 *
 * @example Start a server with a mediator on a free port
 * ```ts
 * import { startServer } from "../server.ts";
 * import { silentLogger } from "../logger.ts";
 * import { mediatorPlugin } from "./mediator.ts";
 * await using server = await startServer({
 *   hostname: "127.0.0.1", gdayPort: null, logger: silentLogger,
 *   services: [mediatorPlugin({ port: 0 })],
 * });
 * if (server.listeners[0]?.service !== "mediator") throw new Error("No mediator listener");
 * ```
 */
export function mediatorPlugin(options: MediatorServiceOptions = {}): ServiceFactory {
  const port = options.port ?? DEFAULT_MEDIATOR_PORT;
  if (!(Number.isInteger(port) && port >= 0 && port <= 65535)) {
    throw new RangeError(`Mediator port is ${port}, it must be an integer from 0 to 65535`);
  }
  const settings = {
    waitTimeoutMs: positive("waitTimeoutMs", options.waitTimeoutMs ?? DEFAULT_MEDIATOR_WAIT_MS),
    stepTimeoutMs: positive(
      "stepTimeoutMs",
      options.stepTimeoutMs ?? DEFAULT_MEDIATOR_STEP_TIMEOUT_MS,
    ),
    handoffTimeoutMs: positive("handoffTimeoutMs", options.handoffTimeoutMs ?? 5000),
    lingerMs: positive("lingerMs", options.lingerMs ?? 30_000),
    maxMessageBytes: positive(
      "maxMessageBytes",
      options.maxMessageBytes ?? DEFAULT_MEDIATOR_MAX_MESSAGE_BYTES,
    ),
  };
  const maxPending = options.maxPending ?? DEFAULT_MEDIATOR_MAX_PENDING;
  new MediatorRegistry({ maxPending }); // validates now
  const modes = { p2psc: options.modes?.p2psc ?? true, native: options.modes?.native ?? true };
  if (!modes.p2psc && !modes.native) {
    throw new RangeError("Mediator has no mode: enable p2psc, native or both");
  }

  return async (ctx) => {
    const identity = options.identity ?? await generateIdentityKeyPair();
    // With Redis (server.ts --redis), waiting registrations are shared by every process.
    const redis = ctx.redis;
    const ttlMs = settings.waitTimeoutMs + settings.stepTimeoutMs;
    const p2pscRegistry: MediatorStore<P2pscRegistration> = redis
      ? new RedisMediatorStore<P2pscRegistration>({ redis, mode: "p2psc", maxPending, ttlMs })
      : new MediatorRegistry<P2pscRegistration>({ maxPending });
    const nativeRegistry: MediatorStore<NativeRegistration> = redis
      ? new RedisMediatorStore<NativeRegistration>({
        redis,
        mode: "native",
        maxPending,
        ttlMs,
        codec: NATIVE_CODEC,
      })
      : new MediatorRegistry<NativeRegistration>({ maxPending });
    if (modes.p2psc) ctx.gauges.add("mediator_waiting", "p2psc", () => p2pscRegistry.size);
    if (modes.native) ctx.gauges.add("mediator_waiting", "native", () => nativeRegistry.size);
    const runtime: MediatorRuntime = {
      logger: ctx.logger,
      counters: ctx.counters,
      rateLimiter: ctx.rateLimiter,
      ...settings,
    };
    if (modes.native) {
      ctx.logger.log("info", "mediator_identity", { key: formatPublicKeyText(identity.publicKey) });
    }
    const handleConnection: ServiceHandler = async (c: ServiceConnection): Promise<void> => {
      const head = await sniff(c, runtime);
      if (head === null) return;
      const source = new PrimedReader(head.bytes, c.conn);
      if (head.mode === "p2psc" && modes.p2psc) {
        await serveP2psc(c, source, runtime, p2pscRegistry, options.p2psc);
      } else if (head.mode === "native" && modes.native) {
        await serveNative(c, source, runtime, nativeRegistry, identity);
      } else {
        ctx.counters.inc("mediator_refused", head.mode);
        ctx.logger.log("info", "mediator_refused", { mode: head.mode, conn: c.id, reason: "off" });
      }
    };
    return {
      name: "mediator",
      listeners: [{ transport: "tcp", port }],
      handleConnection,
      close: () => {
        p2pscRegistry.clear();
        nativeRegistry.clear();
      },
    };
  };
}

/** How a native registration crosses processes (its key as hex). */
const NATIVE_CODEC = {
  encode: (value: NativeRegistration): unknown => ({ ...value, key: value.key.toHex() }),
  decode: (data: unknown): NativeRegistration => {
    const value = data as NativeRegistration & { key: string };
    return { ...value, key: Uint8Array.fromHex(value.key) };
  },
};

/** Read until the first byte that tells the mode; `null` when the client says nothing useful. */
async function sniff(
  c: ServiceConnection,
  rt: MediatorRuntime,
): Promise<{ mode: "p2psc" | "native"; bytes: Uint8Array } | null> {
  const buf = new Uint8Array(MAX_LEADING_WHITESPACE + 1);
  let filled = 0;
  // One deadline for the whole sniff, not one per read: a client trickling whitespace a byte
  // at a time would otherwise hold its connection for 1,024 step timeouts (slowloris).
  const deadline = Date.now() + rt.stepTimeoutMs;
  while (filled < buf.length) {
    let n: number | null;
    try {
      const left = Math.max(1, deadline - Date.now());
      const result = await within(c.conn.read(buf.subarray(filled)), left, c.signal);
      if (!result.ok) {
        if (result.why === "timeout") rt.counters.inc("mediator_refused", "timeout");
        return null;
      }
      n = result.value;
    } catch {
      return null;
    }
    if (n === null) return null;
    for (let i = filled; i < filled + n; i++) {
      const byte = buf[i]!;
      if (byte === 0x20 || byte === 0x09 || byte === 0x0a || byte === 0x0d) continue;
      const bytes = buf.slice(0, filled + n);
      if (byte === 0x7b) return { mode: "p2psc", bytes };
      if (byte === 0x00 && i === 0) return { mode: "native", bytes };
      rt.counters.inc("mediator_refused", "unknown_protocol");
      rt.logger.log("info", "mediator_refused", { conn: c.id, reason: "unknown_protocol" });
      return null;
    }
    filled += n;
  }
  return null;
}
