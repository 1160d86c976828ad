/**
 * The p2psc-compatible mediator (spec: p2psc.md §1.6 "Mediator side", §5), for unmodified p2psc
 * clients:
 *
 * 1. Read `Advertise`. A version older than supported gets `AdvertiseAbort`
 *    (`"Required protocol version: N"`), a newer one `AdvertiseRetry` (at most
 *    {@linkcode P2PSC_MAX_ADVERTISE_RETRIES} times, as p2psc clients allow). Keys must be
 *    PKCS#1 RSA PEM (an SPKI `BEGIN PUBLIC KEY` gets `AdvertiseAbort` naming the problem).
 * 2. Send `AdvertiseChallenge`: a fresh CSPRNG nonce (printable ASCII) encrypted to `our_key`
 *    with RSAES-PKCS1-v1_5. Read `AdvertiseResponse` and compare it in constant time; a wrong
 *    answer gets `AdvertiseAbort` and a close (p2psc's test mediator does not check at all).
 * 3. Register the key (by fingerprint). If the key it names is already waiting for it, this
 *    party is the **Peer**: it gets `PeerDisconnect{port}` (its source port as seen), and the
 *    mediator shuts its side down for writing right after, before the Peer closes (§5 "Close
 *    order": otherwise the Peer's `bind()` of that port fails). When the Peer's close arrives
 *    (proof it read the message), the waiting **Client** gets `PeerIdentification{version,
 *    ip, port}` of the Peer. Otherwise this party waits as the Client.
 *
 * Unlike p2psc's test mediator, every wait has a timeout (a registration waits at most
 * `waitTimeoutMs`, then gets `AdvertiseAbort`), pending registrations and message sizes are
 * bounded, matching needs both sides to name each other, and a key registering again replaces
 * its earlier registration. Each message is sent in one write, and the stream is parsed object
 * by object, whatever the read boundaries.
 *
 * @module
 */

import { timingSafeEqual } from "node:crypto";
import { JsonObjectReader } from "../../framing/json_stream.ts";
import { writeAll } from "../../net/write.ts";
import {
  type AdvertiseMsg,
  checkP2pscVersion,
  decodeP2pscMessage,
  encodeP2pscMessage,
  encryptP2pscNonce,
  P2PSC_MAX_ADVERTISE_RETRIES,
  type P2pscMessage,
  type P2pscPublicKey,
  type P2pscVersionRange,
  parseP2pscPublicKey,
  randomP2pscNonce,
} from "../../protocol/p2psc.ts";
import type { ByteReader } from "../../framing/chunk_source.ts";
import type { ServiceConnection } from "../service.ts";
import {
  logKey,
  type MediatorRuntime,
  messageReads,
  type ReadResult as CommonReadResult,
  within,
} from "./mediator_common.ts";
import type { MediatorStore } from "./mediator_registry.ts";
import { StateUnavailableError } from "../state_errors.ts";

/** What a p2psc registration leaves for its peer. */
export interface P2pscRegistration {
  /** The connection id, for logs. */
  conn: number;
  /** The observed IPv4 address. */
  ip: string;
  /** The observed source port. */
  port: number;
  /** The advertised protocol version. */
  version: number;
}

/** Options of the p2psc mode. */
export interface P2pscModeOptions {
  /** The protocol versions accepted. @default {{ min: 0, max: 0 }} */
  versions?: P2pscVersionRange;
  /** Smallest RSA key accepted, in bits. @default {2048} */
  minKeyBits?: number;
  /** Largest RSA key accepted, in bits. @default {4096} */
  maxKeyBits?: number;
}

const encoder = new TextEncoder();

/** The answer when the shared state (Redis) cannot be reached ("try again later"). */
const UNAVAILABLE_TEXT = "The mediator's shared state is unavailable; try again in a moment";

type ReadResult = CommonReadResult<P2pscMessage>;

function sameText(a: string, b: string): boolean {
  const x = encoder.encode(a), y = encoder.encode(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * Serve one p2psc client on `c`, reading from `source` (which replays the bytes already read).
 *
 * @example
 * ```ts ignore
 * await serveP2psc(connection, new PrimedReader(head, connection.conn), runtime, registry);
 * ```
 */
export async function serveP2psc(
  c: ServiceConnection,
  source: ByteReader,
  rt: MediatorRuntime,
  registry: MediatorStore<P2pscRegistration>,
  options: P2pscModeOptions = {},
): Promise<void> {
  const { logger, counters } = rt;
  const reader = new JsonObjectReader(source, { maxObjectBytes: rt.maxMessageBytes });
  const { readNext, take } = messageReads(() => reader.read(), decodeP2pscMessage);
  const count = (event: string): void => counters.inc("mediator_p2psc", event);
  const send = (msg: P2pscMessage): Promise<void> => writeAll(c.conn, encodeP2pscMessage(msg));
  const abort = async (reason: string, event: string): Promise<void> => {
    count(event);
    logger.log("info", "mediator_refused", { mode: "p2psc", conn: c.id, reason: event });
    await send({ type: "AdvertiseAbort", reason }).catch(() => {});
  };
  /** Read the next message within the step timeout; `null` when the connection is over. */
  const expect = async (name: P2pscMessage["type"]): Promise<P2pscMessage | null> => {
    const result = await within(take(), rt.stepTimeoutMs, c.signal);
    if (!result.ok) {
      if (result.why === "timeout") {
        await abort(`No ${name} within ${rt.stepTimeoutMs} ms`, "timeout");
      }
      return null;
    }
    const r = result.value;
    if (r.kind === "end") return null;
    if (r.kind === "error") {
      await abort(
        `Invalid message: ${(r.error as Error)?.message ?? String(r.error)}`,
        "bad_message",
      );
      return null;
    }
    if (r.msg.type !== name) {
      await abort(`Expected ${name}, got ${r.msg.type}`, "bad_message");
      return null;
    }
    return r.msg;
  };

  try {
    if (c.remote.family !== "v4") {
      await abort("p2psc works over IPv4 only: connect to the mediator's IPv4 address", "ipv6");
      return;
    }
    // Step 1: Advertise, with version checks.
    let advertise: AdvertiseMsg | null = null;
    for (let retries = 0; advertise === null; retries++) {
      const msg = await expect("Advertise");
      if (msg === null) return;
      count("advertise");
      if (!rt.rateLimiter.take(c.remote.ip, 1)) {
        await abort("Too many requests from your address; try again in a minute", "rate_limited");
        return;
      }
      const m = msg as AdvertiseMsg;
      const verdict = checkP2pscVersion(m.version, options.versions);
      if (verdict.kind === "abort") return await abort(verdict.reason, "version");
      if (verdict.kind === "retry") {
        if (retries >= P2PSC_MAX_ADVERTISE_RETRIES) return await abort(verdict.reason, "version");
        count("retry");
        await send({ type: "AdvertiseRetry", reason: verdict.reason });
        continue;
      }
      advertise = m;
    }
    const keyOptions = { minBits: options.minKeyBits, maxBits: options.maxKeyBits };
    let ours: P2pscPublicKey, theirs: P2pscPublicKey;
    try {
      ours = parseP2pscPublicKey(advertise.ourKey, keyOptions);
    } catch (error) {
      return await abort(`our_key: ${(error as Error).message}`, "bad_key");
    }
    try {
      theirs = parseP2pscPublicKey(advertise.theirKey, keyOptions);
    } catch (error) {
      return await abort(`their_key: ${(error as Error).message}`, "bad_key");
    }
    if (ours.fingerprint === theirs.fingerprint) {
      return await abort("our_key and their_key are the same key", "bad_key");
    }

    // Step 2: the challenge (fresh nonce per connection, so an old answer never fits).
    const nonce = randomP2pscNonce();
    await send({ type: "AdvertiseChallenge", encryptedNonce: encryptP2pscNonce(ours.key, nonce) });
    const response = await expect("AdvertiseResponse");
    if (response === null) return;
    if (response.type !== "AdvertiseResponse" || !sameText(response.nonce, nonce)) {
      return await abort(
        "Wrong answer to the challenge: the private key does not match our_key",
        "bad_answer",
      );
    }
    count("registered");
    const me: P2pscRegistration = {
      conn: c.id,
      ip: c.remote.ip,
      port: c.remote.port,
      version: advertise.version,
    };
    logger.log("info", "mediator_registered", {
      mode: "p2psc",
      conn: c.id,
      key: logKey(ours.fingerprint),
      wants: logKey(theirs.fingerprint),
    });

    // Step 3: pair, or wait as the Client.
    let result;
    try {
      result = await registry.register(ours.fingerprint, theirs.fingerprint, me);
    } catch (error) {
      if (!(error instanceof StateUnavailableError)) throw error;
      return await abort(UNAVAILABLE_TEXT, "unavailable");
    }
    if (result.kind === "full") {
      return await abort("The mediator is full; try again later", "busy");
    }
    if (result.kind === "matched") {
      // This party is the Peer: PeerDisconnect, then our FIN before theirs (§5 close order).
      let ok = false;
      try {
        await send({ type: "PeerDisconnect", port: c.remote.port });
        await c.conn.closeWrite().catch(() => {});
        // The Peer closes its mediator socket once it has read PeerDisconnect: its end of
        // stream (or a reset) is the proof of receipt the spec asks for (§1.6.4).
        const closed = await within(
          take().then((r) => r.kind !== "msg"),
          rt.handoffTimeoutMs,
          c.signal,
        );
        ok = closed.ok && closed.value;
      } catch {
        ok = false;
      }
      result.settle(ok);
      count(ok ? "paired" : "handoff_failed");
      logger.log("info", ok ? "mediator_paired" : "mediator_handoff_failed", {
        mode: "p2psc",
        client: result.peer.conn,
        peer: c.id,
      });
      return;
    }

    // The Client: wait for the Peer while watching this connection.
    const watch = readNext().then((r) => ({ kind: "left" as const, r }));
    const waited = await within(
      Promise.race([result.outcome, watch]),
      rt.waitTimeoutMs,
      c.signal,
    );
    let outcome;
    if (waited.ok && waited.value.kind !== "left") {
      outcome = waited.value;
    } else if (await registry.cancel(ours.fingerprint, result.ticket)) {
      if (!waited.ok && waited.why === "timeout") {
        await abort(
          `No peer registered with the key you asked for within ${
            Math.round(rt.waitTimeoutMs / 1000)
          } s; ask your peer to connect`,
          "wait_timeout",
        );
      } else if (waited.ok) {
        count("left");
        logger.log("info", "mediator_left", { mode: "p2psc", conn: c.id });
      }
      return;
    } else if (!waited.ok && waited.why === "shutdown") {
      return;
    } else {
      outcome = await result.outcome; // Paired in the same instant: go on.
    }
    if (outcome.kind === "closed") return;
    if (outcome.kind === "unavailable") return await abort(UNAVAILABLE_TEXT, "unavailable");
    if (outcome.kind === "replaced") {
      return await abort(
        "Replaced: the same key registered again on another connection",
        "replaced",
      );
    }
    const handed = await within(outcome.handoff, rt.handoffTimeoutMs + 1000, c.signal);
    if (!handed.ok || !handed.value) return; // The spec: any failure closes both.
    await send({
      type: "PeerIdentification",
      version: outcome.peer.version,
      ip: outcome.peer.ip,
      port: outcome.peer.port,
    });
  } catch (error) {
    logger.log("info", "connection_error", {
      service: "mediator",
      conn: c.id,
      error: (error as Error)?.message ?? String(error),
    });
  } finally {
    await reader.cancel().catch(() => {});
  }
}
