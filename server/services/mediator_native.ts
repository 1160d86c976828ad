/**
 * peerlink's native mediator mode (spec: `protocol/mediator.ts`): read `hello`, answer with a
 * signed `challenge`, check the peer's signature over the registration transcript, then pair it
 * with the peer it named once that peer names it too. Both get `paired` with the other's
 * observed public address and reported private address, and keep the connection open while
 * they punch (at most `lingerMs`), as gday clients keep theirs.
 *
 * @module
 */

import { FrameReader } from "../../framing/length_prefixed.ts";
import type { ByteReader } from "../../framing/chunk_source.ts";
import { writeAll } from "../../net/write.ts";
import {
  decodeMediatorClientMsg,
  encodeMediatorServerFrame,
  formatPublicKeyText,
  MEDIATOR_NONCE_BYTES,
  MEDIATOR_PROTOCOL_VERSION,
  type MediatorClientMsg,
  type MediatorErrorCode,
  type MediatorHelloMsg,
  mediatorProofBytes,
  type MediatorServerMsg,
  MediatorVersionError,
  registrationBytes,
} from "../../protocol/mediator.ts";
import type { SocketAddr } from "../../protocol/socket_addr.ts";
import {
  type IdentityKeyPair,
  signEd25519,
  verifyEd25519,
} from "../../secure/identity_handshake.ts";
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

/** What a native registration leaves for its peer. */
export interface NativeRegistration {
  /** The connection id, for logs. */
  conn: number;
  /** The registered key. */
  key: Uint8Array;
  /** The address the mediator saw. */
  publicAddr: SocketAddr;
  /** The address the peer reported. */
  privateAddr: SocketAddr | null;
}

/** The answer when the shared state (Redis) cannot be reached: `busy`, "try again later". */
const UNAVAILABLE_TEXT = "The mediator's shared state is unavailable; register again in a moment";

type ReadResult = CommonReadResult<MediatorClientMsg>;

/**
 * Serve one native-mode peer on `c`, reading from `source` (which replays the bytes already
 * read), proving the mediator's identity with `identity`.
 *
 * @example
 * ```ts ignore
 * await serveNative(connection, new PrimedReader(head, connection.conn), runtime, registry, identity);
 * ```
 */
export async function serveNative(
  c: ServiceConnection,
  source: ByteReader,
  rt: MediatorRuntime,
  registry: MediatorStore<NativeRegistration>,
  identity: IdentityKeyPair,
): Promise<void> {
  const { logger, counters } = rt;
  const reader = new FrameReader(source, { maxFrameBytes: rt.maxMessageBytes });
  const { readNext, take } = messageReads(() => reader.read(), decodeMediatorClientMsg);
  const count = (event: string): void => counters.inc("mediator_native", event);
  const send = (msg: MediatorServerMsg): Promise<void> =>
    writeAll(c.conn, encodeMediatorServerFrame(msg));
  const refuse = async (
    code: MediatorErrorCode,
    message: string,
    event: string = code,
  ): Promise<void> => {
    count(event);
    logger.log("info", "mediator_refused", { mode: "native", conn: c.id, reason: event });
    await send({ type: "error", code, message }).catch(() => {});
  };
  const expect = async <K extends MediatorClientMsg["type"]>(
    type: K,
  ): Promise<Extract<MediatorClientMsg, { type: K }> | null> => {
    const result = await within(take(), rt.stepTimeoutMs, c.signal);
    if (!result.ok) {
      if (result.why === "timeout") {
        await refuse("timeout", `No ${type} message within ${rt.stepTimeoutMs} ms`, "step_timeout");
      } else await refuse("shutdown", "The mediator is shutting down");
      return null;
    }
    const r = result.value;
    if (r.kind === "end") return null;
    if (r.kind === "error") {
      if (r.error instanceof MediatorVersionError) {
        await refuse(
          "version",
          `This mediator speaks protocol version ${MEDIATOR_PROTOCOL_VERSION}, you asked for ` +
            `${r.error.version}; run the same peerlink version`,
        );
      } else {
        await refuse("bad_message", `Invalid message: ${(r.error as Error)?.message}`);
      }
      return null;
    }
    if (r.msg.type !== type) {
      await refuse("bad_message", `Expected ${type}, got ${r.msg.type}`);
      return null;
    }
    return r.msg as Extract<MediatorClientMsg, { type: K }>;
  };
  /** After `paired`: keep the connection while the peer punches, until it closes. */
  const linger = async (): Promise<void> => {
    await within(take(), rt.lingerMs, c.signal).catch(() => {});
  };

  try {
    const hello: MediatorHelloMsg | null = await expect("hello");
    if (hello === null) return;
    count("hello");
    if (!rt.rateLimiter.take(c.remote.ip, 1)) {
      return await refuse(
        "rate_limited",
        "Too many requests from your address; try again in a minute",
      );
    }
    const own = hello.key.toHex();
    const wants = hello.peer.toHex();
    if (own === wants) {
      return await refuse("bad_message", "You named your own key as the peer's", "self");
    }
    const transcript = {
      mediatorKey: identity.publicKey,
      mediatorNonce: crypto.getRandomValues(new Uint8Array(MEDIATOR_NONCE_BYTES)),
      clientNonce: hello.nonce,
      key: hello.key,
      peer: hello.peer,
      privateAddr: hello.privateAddr,
    };
    await send({
      type: "challenge",
      version: MEDIATOR_PROTOCOL_VERSION,
      mediatorKey: identity.publicKey,
      nonce: transcript.mediatorNonce,
      signature: await signEd25519(identity.privateKey, mediatorProofBytes(transcript)),
    });
    const register = await expect("register");
    if (register === null) return;
    if (!(await verifyEd25519(hello.key, register.signature, registrationBytes(transcript)))) {
      return await refuse(
        "bad_signature",
        "The registration signature does not verify: the private key does not match the key " +
          "you sent, or the answer was not made for this session",
      );
    }
    count("registered");
    logger.log("info", "mediator_registered", {
      mode: "native",
      conn: c.id,
      key: logKey(own),
      wants: logKey(wants),
    });
    const me: NativeRegistration = {
      conn: c.id,
      key: hello.key,
      publicAddr: c.remote,
      privateAddr: hello.privateAddr,
    };
    const paired = (peer: NativeRegistration): MediatorServerMsg => ({
      type: "paired",
      peer: peer.key,
      publicAddr: peer.publicAddr,
      privateAddr: peer.privateAddr,
      observed: c.remote,
    });

    let result;
    try {
      result = await registry.register(own, wants, me);
    } catch (error) {
      if (!(error instanceof StateUnavailableError)) throw error;
      return await refuse("busy", UNAVAILABLE_TEXT, "unavailable");
    }
    if (result.kind === "full") {
      return await refuse("busy", "The mediator is full; try again later");
    }
    if (result.kind === "matched") {
      let ok = false;
      try {
        await send(paired(result.peer));
        ok = true;
      } finally {
        result.settle(ok);
      }
      count("paired");
      logger.log("info", "mediator_paired", {
        mode: "native",
        first: result.peer.conn,
        second: c.id,
      });
      return await linger();
    }

    await send({ type: "registered", waitMs: rt.waitTimeoutMs });
    const watch = readNext().then((r) => ({ kind: "left" as const, r }));
    const waited = await within(
      Promise.race([result.outcome, watch]),
      rt.waitTimeoutMs,
      c.signal,
    );
    let outcome;
    if (waited.ok && waited.value.kind !== "left") {
      outcome = waited.value;
    } else if (await registry.cancel(own, result.ticket)) {
      if (!waited.ok && waited.why === "timeout") {
        await refuse(
          "timeout",
          `Your peer ${formatPublicKeyText(hello.peer)} did not register within ${
            Math.round(rt.waitTimeoutMs / 1000)
          } s: check that they run pair with your key and this mediator`,
          "wait_timeout",
        );
      } else if (!waited.ok) {
        await refuse("shutdown", "The mediator is shutting down");
      } else {
        count("left");
        logger.log("info", "mediator_left", { mode: "native", conn: c.id });
      }
      return;
    } else if (!waited.ok && waited.why === "shutdown") {
      return;
    } else {
      outcome = await result.outcome; // Paired in the same instant: go on.
    }
    if (outcome.kind === "closed") return;
    if (outcome.kind === "unavailable") {
      return await refuse("busy", UNAVAILABLE_TEXT, "unavailable");
    }
    if (outcome.kind === "replaced") {
      return await refuse(
        "replaced",
        "The same key registered again on another connection; this one is closed",
      );
    }
    const handed = await within(outcome.handoff, rt.handoffTimeoutMs, c.signal);
    if (!handed.ok || !handed.value) return;
    await send(paired(outcome.peer));
    await linger();
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
